//! The packaging in `packaging/`: the OpenWrt init script's file generation (run under fake
//! OpenWrt shell libraries by `tests/packaging/initscript_test.sh`, which also feeds the
//! files to `smolpptpd check`; here the same files are loaded with the library and their
//! values checked), the SysV script (`tests/packaging/sysv_test.sh`) and the systemd unit
//! (`systemd-analyze verify`). A test whose tool is missing says so and passes.

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smolpptp::conf;
use smolpptp::settings::{AddressRule, MppePolicy, Secrets, Stateful};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SMOLPPTPD: &str = env!("CARGO_BIN_EXE_smolpptpd");

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("smolpptp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cmd`; None (after saying why) when its program is not installed.
fn run(cmd: &mut Command) -> Option<Output> {
    match cmd.output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            eprintln!("skipped: {:?} is not installed", cmd.get_program());
            None
        }
        Err(e) => panic!("{cmd:?}: {e}"),
    }
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// The files the init script generated in one case's fake root, loaded as the daemon would.
fn load_generated(root: &Path, case: &str) -> conf::LoadedConfig {
    let dir = root.join(case).join("var/etc/smolpptpd");
    conf::load(&dir.join("pptpd.conf"), Some(&dir.join("options.pptpd")))
        .unwrap_or_else(|e| panic!("{case}: {e}"))
}

#[test]
fn openwrt_init_script_generates_files_the_daemon_reads() {
    let work = TempDir::new("initscript");
    let Some(out) = run(Command::new("sh")
        .arg(Path::new(ROOT).join("tests/packaging/initscript_test.sh"))
        .arg(SMOLPPTPD)
        .env("SMOLPPTP_KEEP", &work.0))
    else {
        return;
    };
    assert_success(&out, "tests/packaging/initscript_test.sh");
    let peer = ip("203.0.113.9");

    // The package as shipped, enabled.
    let c = load_generated(&work.0, "shipped-enabled");
    let s = &c.settings;
    assert_eq!(s.local.get(0), Some(ip("192.168.0.1")));
    assert_eq!(s.remote.len(), 11);
    assert_eq!(s.remote.get(0), Some(ip("192.168.0.20")));
    assert_eq!(s.remote.get(10), Some(ip("192.168.0.30")));
    assert_eq!(s.connections, 11);
    assert_eq!(s.ppp.name.as_str(), "pptp-server");
    assert_eq!(
        s.ppp.mppe,
        MppePolicy::default(),
        "MPPE-128 stateless required"
    );
    assert_eq!(s.ppp.dns, [None, None]);
    assert!(c.daemon.firewall && c.daemon.forwarding);
    let mut secrets = c.chap_secrets().unwrap();
    let user = secrets.lookup(b"youruser", b"pptp-server", peer).unwrap();
    assert_eq!(&user.password[..], b"yourpass");
    assert_eq!(user.address, AddressRule::Pool);

    // pptpd's files and UCI verbatim; a password that needs quoting; a fixed address.
    let c = load_generated(&work.0, "from-pptpd");
    assert_eq!(c.settings.local.get(0), Some(ip("192.168.0.1")));
    assert_eq!(c.settings.remote.len(), 11);
    assert_eq!(c.settings.ppp.mtu, 1482);
    assert_eq!(c.settings.ppp.mppe, MppePolicy::default());
    let mut secrets = c.chap_secrets().unwrap();
    let warrior = secrets
        .lookup(b"road warrior", b"pptp-server", peer)
        .unwrap();
    assert_eq!(&warrior.password[..], br#"a "quoted" pa\ss#1"#);
    assert_eq!(warrior.address, AddressRule::Fixed(ip("192.168.0.40")));
    assert!(secrets.lookup(b"youruser", b"pptp-server", peer).is_some());
    assert!(secrets
        .lookup(b"nopassword", b"pptp-server", peer)
        .is_none());

    // smolpptpd's own UCI options; UCI's localip beats /etc/pptpd.conf's.
    let c = load_generated(&work.0, "own-options");
    let s = &c.settings;
    assert_eq!(s.local.get(0), Some(ip("10.9.0.1")));
    assert_eq!(s.connections, 5);
    assert_eq!(s.ppp.dns, [Some(ip("10.9.0.1")), Some(ip("9.9.9.9"))]);
    assert!(s.ppp.mppe.required);
    assert!(s.ppp.mppe.allow_128 && !s.ppp.mppe.allow_40 && !s.ppp.mppe.allow_56);
    assert_eq!(
        s.ppp.mppe.stateful,
        Stateful::Allow,
        "no 'stateless' in the list"
    );
    assert!(!c.daemon.firewall && !c.daemon.forwarding);
    assert_eq!(c.daemon.listen, Some(ip("127.0.0.1")));
    let mut secrets = c.chap_secrets().unwrap();
    assert_eq!(
        &secrets
            .lookup(b"alice", b"pptp-server", peer)
            .unwrap()
            .password[..],
        b"s3cret"
    );
    assert_eq!(
        &secrets
            .lookup(b"bob", b"pptp-server", peer)
            .unwrap()
            .password[..],
        b"b0b pass",
        "the admin's /etc/ppp/chap-secrets is appended"
    );
}

#[test]
fn sysv_script_starts_reloads_and_stops_a_daemon() {
    let Some(out) =
        run(Command::new("sh").arg(Path::new(ROOT).join("tests/packaging/sysv_test.sh")))
    else {
        return;
    };
    assert_success(&out, "tests/packaging/sysv_test.sh");
}

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(Path::new(ROOT).join("packaging/systemd/smolpptpd.service"))
        .unwrap();
    assert!(unit.contains("\nCapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW\n"));
    assert!(unit.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"));
    assert!(unit.contains("\nExecStart=/usr/sbin/smolpptpd --fg $DAEMON_OPTS\n"));
    // verify wants the ExecStart binary to exist: point it at the one just built.
    let work = TempDir::new("systemd");
    let copy = work.0.join("smolpptpd.service");
    std::fs::write(&copy, unit.replace("/usr/sbin/smolpptpd", SMOLPPTPD)).unwrap();
    let Some(out) = run(Command::new("systemd-analyze").arg("verify").arg(&copy)) else {
        return;
    };
    assert_success(&out, "systemd-analyze verify");
    // Unknown keys and bad values are only warnings: there must be none.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify said:\n{said}"
    );
}
