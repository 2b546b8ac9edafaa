//! `smolpptpd status` and `smolpptpd kick` against the real daemon in the namespace lab: a
//! client session shows up in the table and in JSON, and `kick` ends it in order (LCP
//! Terminate-Request, then Call-Disconnect-Notify). Needs root; elsewhere it says why and
//! passes.

mod common;
mod support;

use std::process::Command;
use std::time::Duration;

use common::netns::{skip_reason, write_config, Backend, Lab, DAEMON, PASSWORD, POOL_FIRST, USER};
use support::client::{ClientConfig, State};

fn smolpptpd(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(DAEMON).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_shows_the_session_and_kick_ends_it() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping status/kick: {why}");
        return;
    }
    let mut lab = Lab::new("operate");
    let socket = lab.dir.path("control.sock");
    let socket_arg = socket.to_str().unwrap().to_string();
    let conf = write_config(
        &lab.dir,
        Backend::Tun,
        &format!("control-socket {socket_arg}\n"),
        "",
    );
    lab.start_daemon(&conf);
    let mut c = lab.connect(ClientConfig::new(USER, PASSWORD), 0x6101);
    c.run_until(Duration::from_secs(20), |c| {
        c.client.is_up() || c.client.is_finished()
    });
    assert_eq!(*c.client.state(), State::Up, "{:?}", c.client.failure());

    // The -c path finds the socket through pptpd.conf's control-socket.
    let (ok, text, err) = smolpptpd(&["status", "-c", conf.to_str().unwrap()]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("USER"));
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], USER);
    assert_eq!(row[2], POOL_FIRST.to_string());
    assert!(lines[1].ends_with("up       128-bit stateless"), "{text}");

    let (ok, json, err) = smolpptpd(&["status", "--json", "-s", &socket_arg]);
    assert!(ok, "{err}");
    assert!(json.starts_with("{\"time\":"), "{json}");
    assert!(
        json.contains(&format!(
            "\"user\":\"{USER}\",\"client\":\"{}\",\"address\":\"{POOL_FIRST}\"",
            row[1]
        )),
        "{json}"
    );
    assert!(
        json.contains("\"mppe\":{\"bits\":128,\"stateless\":true}"),
        "{json}"
    );

    let (ok, _, err) = smolpptpd(&["kick", "-s", &socket_arg, "nobody"]);
    assert!(!ok && err.contains("no session matches nobody"), "{err}");
    let (ok, out, err) = smolpptpd(&["kick", "-s", &socket_arg, &POOL_FIRST.to_string()]);
    assert!(ok, "{err}");
    assert_eq!(out, "disconnecting 1 session(s)\n");
    c.run_until(Duration::from_secs(15), |c| c.client.is_finished());
    assert_eq!(*c.client.state(), State::Closed);
    assert_eq!(
        c.client.disconnect_reason(),
        Some("LCP Terminate-Request: Administrative disconnect")
    );

    let (ok, text, _) = smolpptpd(&["status", "-s", &socket_arg]);
    assert!(ok);
    assert_eq!(text, "no sessions\n");
    lab.assert_daemon_running("after the kick");
    let log = lab.daemon().log();
    assert!(log.contains("at the administrator's request"), "{log}");
    assert!(log.contains("Connect time 0.0 minutes."), "{log}");

    lab.daemon().signal(libc::SIGTERM);
    assert!(lab.daemon().wait_exit(Duration::from_secs(8)).is_some());
    assert!(!socket.exists(), "the socket file is removed at exit");
}
