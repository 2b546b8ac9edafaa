//! `conf::load` on real files: the shipped samples, Debian- and OpenWrt-style set-ups, and
//! errors that name the file and line.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use smolpptp::conf::{self, Backend};
use smolpptp::limits::MAX_SESSIONS;
use smolpptp::settings::{AddressRule, MppePolicy, Secrets, Stateful};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("smolpptp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name)
}

#[test]
fn shipped_samples_load_cleanly() {
    let dir = TempDir::new("samples");
    // Point chap-secrets at the sample; everything else as shipped.
    let text = std::fs::read_to_string(sample("pptpd.conf")).unwrap();
    let secrets = sample("chap-secrets");
    let text = text.replace(
        "chap-secrets /etc/ppp/chap-secrets",
        &format!("chap-secrets {}", secrets.display()),
    );
    let conf_path = dir.write("pptpd.conf", &text);
    let c = conf::load(&conf_path, Some(&sample("options.pptpd"))).unwrap();
    let s = &c.settings;
    assert_eq!(s.connections, 32.min(MAX_SESSIONS));
    assert_eq!(s.local.get(0), Some(ip("10.23.0.1")));
    assert_eq!(s.remote.get(0), Some(ip("10.23.0.10")));
    assert_eq!(s.ppp.name.as_str(), "pptpd");
    assert_eq!(s.ppp.mppe, MppePolicy::default());
    assert_eq!((s.ppp.mtu, s.ppp.mru), (1400, 1400));
    assert_eq!((s.ppp.lcp_echo_interval, s.ppp.lcp_echo_failure), (30, 4));
    let d = &c.daemon;
    assert_eq!(d.backend, Backend::Tun);
    assert!(d.firewall && d.forwarding);
    assert_eq!(d.chap_secrets, secrets);
    assert_eq!(
        d.options_file.as_deref(),
        Some(sample("options.pptpd").as_path())
    );
    // The only possible warning is about the sample's file mode in the checkout.
    for w in &c.warnings {
        assert!(w.message.contains("world and/or group"), "{w}");
    }

    let mut store = c.chap_secrets().unwrap();
    let peer = ip("198.51.100.7");
    let alice = store.lookup(b"alice", b"pptpd", peer).unwrap();
    assert_eq!(&alice.password[..], b"correct horse");
    assert_eq!(alice.address, AddressRule::Pool);
    assert!(store.lookup(b"alice", b"other", peer).is_none());
    let bob = store.lookup(b"bob", b"pptpd", peer).unwrap();
    assert_eq!(bob.address, AddressRule::Fixed(ip("10.23.0.200")));
    let carol = store.lookup(b"ACME\\carol", b"pptpd", peer).unwrap();
    assert_eq!(&carol.password[..], b"carol#1");
    assert_eq!(
        store.lookup(b"mallory", b"pptpd", peer).unwrap().address,
        AddressRule::Deny
    );
}

#[test]
fn debian_style_setup() {
    let dir = TempDir::new("debian");
    let options = dir.write(
        "pptpd-options",
        "name pptpd\nrefuse-pap\nrefuse-chap\nrefuse-mschap\nrequire-mschap-v2\n\
         require-mppe-128\nproxyarp\nnodefaultroute\nlock\nnobsdcomp\nnovj\nnovjccomp\nnologfd\n",
    );
    let secrets = dir.write("chap-secrets", "u pptpd p *\n");
    let conf_path = dir.write(
        "pptpd.conf",
        &format!(
            "option {}\nlogwtmp\nchap-secrets {}\n",
            options.display(),
            secrets.display()
        ),
    );
    let c = conf::load(&conf_path, None).unwrap();
    // pptpd's compiled-in pools.
    assert_eq!(c.settings.local.get(0), Some(ip("192.168.0.1")));
    assert_eq!(c.settings.remote.get(0), Some(ip("192.168.1.1")));
    assert_eq!(c.settings.connections, 100.min(MAX_SESSIONS));
    assert!(c.daemon.proxyarp);
    // Our own rules are on unless switched off; forwarding changes routing, so it is not.
    assert!(c.daemon.firewall && !c.daemon.forwarding);
    let messages: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert!(c.daemon.logwtmp, "logwtmp turns on wtmp records");
    assert!(
        !messages.iter().any(|m| m.contains("logwtmp")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m.contains("no remoteip")));
}

#[test]
fn openwrt_style_setup_with_override_and_appended_lines() {
    let dir = TempDir::new("openwrt");
    let options = dir.write(
        "options.pptpd",
        "auth\nname \"pptp-server\"\nlcp-echo-failure 3\nlcp-echo-interval 60\n\
         default-asyncmap\nmtu 1482\nmru 1482\nnobsdcomp\nnodeflate\nrequire-mschap-v2\n\
         refuse-chap\nrefuse-mschap\nrefuse-eap\nrefuse-pap\nmppe required,no40,no56,stateless\n",
    );
    let secrets = dir.write("chap-secrets", "\"u\" pptp-server \"p\" 10.0.0.5\n");
    // The init script appends localip/remoteip/logwtmp; an earlier line of the admin's wins.
    let conf_path = dir.write(
        "pptpd.conf",
        &format!(
            "speed 115200\nstimeout 10\nchap-secrets {}\nremoteip 10.0.0.100-101\n\
             localip  192.168.0.1\nremoteip  192.168.0.20-30\nlogwtmp\n",
            secrets.display()
        ),
    );
    let c = conf::load(&conf_path, Some(&options)).unwrap();
    assert_eq!(c.settings.remote.get(0), Some(ip("10.0.0.100")));
    assert_eq!(c.settings.connections, 2);
    assert_eq!(c.settings.ppp.name.as_str(), "pptp-server");
    assert_eq!(c.settings.ppp.mppe.stateful, Stateful::Refuse);
    assert!(c.settings.ppp.mppe.required && !c.settings.ppp.mppe.allow_40);
    let mut store = c.chap_secrets().unwrap();
    let s = store.lookup(b"u", b"pptp-server", ip("1.2.3.4")).unwrap();
    assert_eq!(s.address, AddressRule::Fixed(ip("10.0.0.5")));
}

#[test]
fn errors_name_file_and_line() {
    let dir = TempDir::new("errors");
    let options = dir.write(
        "options.pptpd",
        "name pptpd\nrequire-mschap-v2\n\n# fine so far\nfoo\n",
    );
    let conf_path = dir.write(
        "pptpd.conf",
        &format!("option {}\nlocalip 10.0.0.1\n", options.display()),
    );
    let e = conf::load(&conf_path, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:5: unknown option 'foo'", options.display())
    );

    let conf_path = dir.write("bad.conf", "localip 10.0.0.1\nremoteip 10.0.0.9-2\n");
    let e = conf::load(&conf_path, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2: Bad remote IP range: 10.0.0.9-2", conf_path.display())
    );

    let n = MAX_SESSIONS + 36;
    let conf_path = dir.write("big.conf", &format!("# x\nconnections {n}\n"));
    let e = conf::load(&conf_path, None).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains(&format!("connections {n}")));
    assert!(e.message.contains(&format!("({MAX_SESSIONS})")));

    let conf_path = dir.write("missing.conf", "option /nonexistent/options\n");
    let e = conf::load(&conf_path, None).unwrap_err();
    assert_eq!(e.path, PathBuf::from("/nonexistent/options"));
    assert!(e.message.contains("not readable"));

    let e = conf::load(&dir.0.join("nope.conf"), None).unwrap_err();
    assert!(e.message.contains("not readable"));
}

#[test]
fn missing_name_falls_back_to_the_host_name() {
    let dir = TempDir::new("noname");
    let options = dir.write("options", "require-mschap-v2\n");
    let conf_path = dir.write("pptpd.conf", "localip 10.0.0.1\nremoteip 10.0.0.2\n");
    let c = conf::load(&conf_path, Some(&options)).unwrap();
    assert!(c
        .warnings
        .iter()
        .any(|w| w.message.starts_with("no 'name' option")));
    assert!(!c.settings.ppp.name.is_empty());
}

#[test]
fn chap_secrets_warnings_at_load() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("perm");
    let secrets = dir.write("chap-secrets", "u * p *\nshort line\n");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let conf_path = dir.write(
        "pptpd.conf",
        &format!(
            "localip 10.0.0.1\nremoteip 10.0.0.2\nchap-secrets {}\n",
            secrets.display()
        ),
    );
    let c = conf::load(&conf_path, None).unwrap();
    let msgs: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        msgs.iter().any(|m| m.contains("world and/or group access")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m
        == &format!(
            "{}:2: entry ignored: needs at least client, server and secret",
            secrets.display()
        )));

    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = conf::load(&conf_path, None).unwrap();
    assert!(!c.warnings.iter().any(|w| w.message.contains("world")));

    std::fs::remove_file(&secrets).unwrap();
    let c = conf::load(&conf_path, None).unwrap();
    assert!(c
        .warnings
        .iter()
        .any(|w| w.message.starts_with("Can't open chap secret file")));
}

#[test]
fn embedded_default_runs_without_files() {
    let c = conf::embedded_default();
    assert_eq!(c.settings.ppp.mppe, MppePolicy::default());
    assert!(c.settings.ppp.auth.allow_mschap_v2);
    assert_eq!(
        c.daemon.chap_secrets,
        PathBuf::from("/etc/ppp/chap-secrets")
    );
    assert_eq!(c.settings.remote.len(), c.settings.connections);
    assert!(c.warnings.is_empty());
}
