//! `ChapSecrets` on real files: re-read at every lookup, pppd's precedence and syntax,
//! indirect secrets, size limits, and no panic on any file content.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use smolpptp::conf::ChapSecrets;
use smolpptp::rand::{Random, XorShift};
use smolpptp::settings::{AddressRule, Secrets};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("smolpptp-cs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, text: &[u8]) -> PathBuf {
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

const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn password(store: &mut ChapSecrets, client: &str, server: &str) -> Option<String> {
    store
        .lookup(client.as_bytes(), server.as_bytes(), PEER)
        .map(|s| String::from_utf8(s.password.to_vec()).unwrap())
}

#[test]
fn edits_apply_to_the_next_lookup() {
    let dir = TempDir::new("reread");
    let path = dir.write("chap-secrets", b"alice pptpd old *\n");
    let mut store = ChapSecrets::new(&path, false).unwrap();
    assert_eq!(
        password(&mut store, "alice", "pptpd").as_deref(),
        Some("old")
    );
    assert_eq!(password(&mut store, "bob", "pptpd"), None);

    std::fs::write(&path, b"alice pptpd new *\nbob * added 10.1.2.3\n").unwrap();
    assert_eq!(
        password(&mut store, "alice", "pptpd").as_deref(),
        Some("new")
    );
    let bob = store.lookup(b"bob", b"pptpd", PEER).unwrap();
    assert_eq!(bob.address, AddressRule::Fixed(Ipv4Addr::new(10, 1, 2, 3)));

    // A shorter file after a longer one: nothing of the old content may leak through.
    std::fs::write(&path, b"bob * x *\n").unwrap();
    assert_eq!(password(&mut store, "alice", "pptpd"), None);

    std::fs::remove_file(&path).unwrap();
    assert_eq!(password(&mut store, "bob", "pptpd"), None);
    std::fs::write(&path, b"bob * back *\n").unwrap();
    assert_eq!(
        password(&mut store, "bob", "pptpd").as_deref(),
        Some("back")
    );
}

#[test]
fn wildcard_precedence_from_a_file() {
    let dir = TempDir::new("wild");
    let path = dir.write(
        "chap-secrets",
        b"* * both-wild *\n* pptpd server-only *\nalice * client-only *\n\
          alice pptpd exact *\nalice pptpd exact-later *\n",
    );
    let mut store = ChapSecrets::new(&path, false).unwrap();
    assert_eq!(
        password(&mut store, "alice", "pptpd").as_deref(),
        Some("exact")
    );
    assert_eq!(
        password(&mut store, "alice", "vpn").as_deref(),
        Some("client-only")
    );
    assert_eq!(
        password(&mut store, "eve", "pptpd").as_deref(),
        Some("server-only")
    );
    assert_eq!(
        password(&mut store, "eve", "vpn").as_deref(),
        Some("both-wild")
    );
}

#[test]
fn pppd_syntax_from_a_file() {
    let dir = TempDir::new("syntax");
    let path = dir.write(
        "chap-secrets",
        b"# comment line\n\
          \"DOM\\\\user\"\t*\t\"s p a c e\"\t* # trailing comment\n\
          tab * C@saVa\\t *\n\
          octal * \\101\\x42 *\n\
          'multi\n\
          line' * ml *\n\
          cont * con\\\n\
          tinued *\n",
    );
    let mut store = ChapSecrets::new(&path, false).unwrap();
    assert_eq!(
        password(&mut store, "DOM\\user", "s").as_deref(),
        Some("s p a c e")
    );
    assert_eq!(
        password(&mut store, "tab", "s").as_deref(),
        Some("C@saVa\t")
    );
    assert_eq!(password(&mut store, "octal", "s").as_deref(), Some("AB"));
    assert_eq!(
        password(&mut store, "multi\nline", "s").as_deref(),
        Some("ml")
    );
    assert_eq!(
        password(&mut store, "cont", "s").as_deref(),
        Some("continued")
    );
}

#[test]
fn strip_domain() {
    let dir = TempDir::new("strip");
    let path = dir.write("chap-secrets", b"user * pw *\n");
    let mut plain = ChapSecrets::new(&path, false).unwrap();
    assert_eq!(password(&mut plain, "DOMAIN\\user", "s"), None);
    let mut strip = ChapSecrets::new(&path, true).unwrap();
    assert_eq!(
        password(&mut strip, "DOMAIN\\user", "s").as_deref(),
        Some("pw")
    );
    assert_eq!(
        password(&mut strip, "A\\B\\user", "s").as_deref(),
        Some("pw")
    );
}

#[test]
fn indirect_secret_file() {
    let dir = TempDir::new("indirect");
    let secret_file = dir.write("u.secret", b"  # leading comment\n\"from file\" ignored\n");
    let text = format!(
        "u * @{} *\nv * @{}/missing *\nv * plain *\n",
        secret_file.display(),
        dir.0.display()
    );
    let path = dir.write("chap-secrets", text.as_bytes());
    let mut store = ChapSecrets::new(&path, false).unwrap();
    assert_eq!(password(&mut store, "u", "s").as_deref(), Some("from file"));
    assert_eq!(password(&mut store, "v", "s").as_deref(), Some("plain"));
}

#[test]
fn size_limit() {
    let dir = TempDir::new("size");
    let mut text = b"u * p *\n".to_vec();
    text.resize(4096, b'\n');
    let path = dir.write("chap-secrets", &text);
    // Exactly full is fine.
    let mut store = ChapSecrets::with_capacity(&path, false, 4096).unwrap();
    assert_eq!(password(&mut store, "u", "s").as_deref(), Some("p"));
    assert!(store.check().is_ok());
    // One byte more is refused at lookup time and at the start-up check.
    text.push(b'\n');
    std::fs::write(&path, &text).unwrap();
    assert_eq!(password(&mut store, "u", "s"), None);
    let e = store.check().unwrap_err();
    assert!(e.message.contains("4097 bytes"), "{e}");
}

#[test]
fn random_files_never_panic() {
    let dir = TempDir::new("fuzz");
    let path = dir.0.join("chap-secrets");
    let mut store = ChapSecrets::with_capacity(&path, true, 512).unwrap();
    let mut rng = XorShift(0xf11e);
    let alphabet = b"u*s \t\n\\\"'#@/-!10.";
    for round in 0..300 {
        let len = (rng.next_u32() % 700) as usize;
        let mut text = vec![0u8; len];
        rng.fill_bytes(&mut text);
        if round % 2 == 0 {
            for b in &mut text {
                *b = alphabet[*b as usize % alphabet.len()];
            }
        }
        std::fs::write(&path, &text).unwrap();
        let _ = store.lookup(b"u", b"s", PEER);
        let _ = store.lookup(b"x\\u", b"*", PEER);
        let _ = store.check();
    }
}
