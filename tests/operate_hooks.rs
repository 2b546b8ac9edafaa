//! The hook runner as the daemon uses it: forked, fed fixed-size requests, running temporary
//! ip-pre-up/ip-up/ip-down scripts that write down their arguments and environment.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use smolpptp::linux::hooks::{HookConfig, HookEvent, HookRunner};

/// The tests take turns. The daemon forks its runner while it is single-threaded; two tests
/// forking runners at once from this harness's threads hand each runner a copy of the other
/// test's end of its socket pair, so neither runner sees its end close and both wait out the
/// 10 s timeout (seen once in CI).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn event(up: bool, call_id: u16, user: &str, remote: Ipv4Addr) -> HookEvent {
    let mut u = heapless::String::new();
    u.push_str(user).unwrap();
    HookEvent {
        up,
        call_id,
        user: u,
        local: Ipv4Addr::new(10, 9, 0, 1),
        remote,
        peer: Ipv4Addr::new(192, 0, 2, 100),
        connect_secs: 61,
        bytes_sent: 4242,
        bytes_received: 1717,
    }
}

/// `KEY=value` lines of a dump, as a lookup.
fn value<'a>(dump: &'a str, key: &str) -> Option<&'a str> {
    dump.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

#[test]
fn runner_gives_scripts_pppd_arguments_environment_and_order() {
    let _turn = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("smolpptp-hooks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    // Each script records "$0 $*" and its environment; ip-up is slow so that ip-down has to
    // wait for it. `order` shows the sequence per session.
    let dump = format!(
        "n=$(basename \"$0\")-$PPTP_CALL_ID\n\
         {{ echo \"ARGS=$*\"; echo \"ARGC=$#\"; echo \"UMASK=$(umask)\"; echo \"CWD=$(pwd)\"; env; }} > {d}/$n.out"
    );
    script(
        &dir,
        "ip-pre-up",
        &format!("echo pre-up-$PPTP_CALL_ID >> {d}/order\n{dump}"),
    );
    script(
        &dir,
        "ip-up",
        &format!(
            "echo up-start-$PPTP_CALL_ID >> {d}/order\n{dump}\nsleep 0.4\necho up-end-$PPTP_CALL_ID >> {d}/order"
        ),
    );
    script(
        &dir,
        "ip-down",
        &format!("echo down-$PPTP_CALL_ID >> {d}/order\n{dump}"),
    );

    let config = HookConfig {
        ip_pre_up: dir.join("ip-pre-up"),
        ip_up: dir.join("ip-up"),
        ip_down: dir.join("ip-down"),
        ifname: "smolpptp0".into(),
        noipparam: false,
    };
    let mut runner = HookRunner::spawn(config).unwrap();
    let a = Ipv4Addr::new(10, 9, 0, 2);
    runner.request(&event(true, 7, "tomc", a));
    // Sent right away: the runner must hold it back until ip-up is done.
    runner.request(&event(false, 7, "tomc", a));
    assert!(
        runner.finish(Duration::from_secs(10)),
        "runner did not exit"
    );

    let order = std::fs::read_to_string(dir.join("order")).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["pre-up-7", "up-start-7", "up-end-7", "down-7"]
    );

    let up = std::fs::read_to_string(dir.join("ip-up-7.out")).unwrap();
    assert_eq!(
        value(&up, "ARGS"),
        Some("smolpptp0 pptp7 115200 10.9.0.1 10.9.0.2 192.0.2.100")
    );
    assert_eq!(value(&up, "ARGC"), Some("6"));
    assert_eq!(value(&up, "UMASK"), Some("0077"));
    assert_eq!(value(&up, "CWD"), Some("/"));
    for (key, want) in [
        ("IFNAME", "smolpptp0"),
        ("DEVICE", "pptp7"),
        ("SPEED", "115200"),
        ("PEERNAME", "tomc"),
        ("IPLOCAL", "10.9.0.1"),
        ("IPREMOTE", "10.9.0.2"),
        ("IPPARAM", "192.0.2.100"),
        ("REMOTENUMBER", "192.0.2.100"),
        ("PPP_IFACE", "smolpptp0"),
        ("PPP_TTY", "pptp7"),
        ("PPP_SPEED", "115200"),
        ("PPP_LOCAL", "10.9.0.1"),
        ("PPP_REMOTE", "10.9.0.2"),
        ("PPP_IPPARAM", "192.0.2.100"),
        ("PPP_TTYNAME", "pptp7"),
        ("PPPD_PID", &std::process::id().to_string()),
    ] {
        assert_eq!(value(&up, key), Some(want), "{key} in ip-up");
    }
    assert_eq!(value(&up, "CONNECT_TIME"), None);
    // Nothing of the test's own environment leaks into the scripts.
    assert_eq!(value(&up, "CARGO_PKG_NAME"), None);
    let pre_up = std::fs::read_to_string(dir.join("ip-pre-up-7.out")).unwrap();
    assert_eq!(value(&pre_up, "ARGS"), value(&up, "ARGS"));

    let down = std::fs::read_to_string(dir.join("ip-down-7.out")).unwrap();
    assert_eq!(value(&down, "ARGS"), value(&up, "ARGS"));
    assert_eq!(value(&down, "CONNECT_TIME"), Some("61"));
    assert_eq!(value(&down, "BYTES_SENT"), Some("4242"));
    assert_eq!(value(&down, "BYTES_RCVD"), Some("1717"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_scripts_are_skipped_and_sessions_run_in_parallel() {
    let _turn = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("smolpptp-hooks2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    // Only ip-up exists (and a non-executable ip-down, which pppd would skip too).
    script(
        &dir,
        "ip-up",
        &format!(
            "echo start-$PPTP_CALL_ID >> {d}/order\nsleep 0.5\necho end-$PPTP_CALL_ID >> {d}/order"
        ),
    );
    std::fs::write(dir.join("ip-down"), "#!/bin/sh\necho down >> order\n").unwrap();
    let config = HookConfig {
        ip_pre_up: dir.join("ip-pre-up"),
        ip_up: dir.join("ip-up"),
        ip_down: dir.join("ip-down"),
        ifname: "smolpptp0".into(),
        noipparam: true,
    };
    let mut runner = HookRunner::spawn(config).unwrap();
    let start = std::time::Instant::now();
    runner.request(&event(true, 1, "a", Ipv4Addr::new(10, 9, 0, 2)));
    runner.request(&event(true, 2, "b", Ipv4Addr::new(10, 9, 0, 3)));
    runner.request(&event(false, 1, "a", Ipv4Addr::new(10, 9, 0, 2)));
    assert!(runner.finish(Duration::from_secs(10)));
    let took = start.elapsed();
    let order = std::fs::read_to_string(dir.join("order")).unwrap();
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        &lines[..2].iter().filter(|l| l.starts_with("start")).count(),
        &2
    );
    assert!(
        took < Duration::from_millis(950),
        "sessions ran one after another: {took:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
