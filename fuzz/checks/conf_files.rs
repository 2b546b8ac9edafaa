//! The three configuration formats on arbitrary bytes (the first byte picks): pptpd.conf,
//! the pppd options file, chap-secrets (lookup and lint). None may panic; every error and
//! warning must format; parsing is deterministic.
//!
//! Nothing here touches files the input names: host names resolve through a fake
//! resolver, options files that include others (`file`) are skipped, and `@/path`
//! indirect secrets go to a closure.

use super::Input;
use smolpptp::conf::tokenizer::{Words, MAX_WORD_LEN};
use smolpptp::conf::{chap_secrets, ppp_options, pptpd_conf, ChapSecrets};
use smolpptp::settings::Secrets;
use std::net::Ipv4Addr;
use std::path::Path;

pub fn run(data: &[u8]) {
    super::init_logging();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => pptpd_conf_file(rest),
        1 => options_file(rest),
        _ => chap_secrets_file(rest),
    }
}

/// Host names of 1..=8 bytes resolve (to an address derived from the name), others not.
fn fake_resolve(name: &str) -> Option<Ipv4Addr> {
    (1..=8).contains(&name.len()).then(|| {
        let b = name.as_bytes();
        Ipv4Addr::new(10, b[0], b[b.len() - 1], b.len() as u8)
    })
}

fn pptpd_conf_file(text: &[u8]) {
    let path = Path::new("/etc/pptpd.conf");
    let first = pptpd_conf::parse(path, text, &mut fake_resolve);
    match &first {
        Ok(conf) => {
            for w in &conf.warnings {
                let _ = w.to_string();
            }
            let _ = format!("{conf:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let second = pptpd_conf::parse(path, text, &mut fake_resolve);
    assert_eq!(
        first.map_err(|e| e.to_string()),
        second.map_err(|e| e.to_string())
    );
}

fn options_file(text: &[u8]) {
    // `file` includes read from disk: skip inputs that have the word anywhere.
    let mut words = Words::new(text);
    let mut word = [0u8; MAX_WORD_LEN];
    while let Some(w) = words.next_word(&mut word) {
        if &word[..w.len] == b"file" {
            return;
        }
    }
    let path = Path::new("/etc/ppp/options.pptpd");
    let first = ppp_options::parse(path, text);
    match &first {
        Ok(options) => {
            for w in &options.warnings {
                let _ = w.to_string();
            }
            let _ = format!("{options:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let second = ppp_options::parse(path, text);
    assert_eq!(
        first.map_err(|e| e.to_string()),
        second.map_err(|e| e.to_string())
    );
}

fn chap_secrets_file(data: &[u8]) {
    let mut input = Input::new(data);
    let n = usize::from(input.u8() % 32);
    let client = input.bytes(n).to_vec();
    let n = usize::from(input.u8() % 32);
    let server = input.bytes(n).to_vec();
    let text = input.rest();

    let mut indirect_calls = 0;
    let found = chap_secrets::find_secret(text, &client, &server, &mut |path: &[u8]| {
        assert!(path.starts_with(b"/"), "indirect path without /");
        indirect_calls += 1;
        let mut secret = heapless::Vec::new();
        let _ = secret.extend_from_slice(b"indirect");
        Some(secret)
    });
    let _ = format!("{found:?}");

    // The file-backed store: lint (check) and a lookup, through a private temp file.
    thread_local! {
        static FILE: std::path::PathBuf = std::env::temp_dir()
            .join(format!("smolpptp-fuzz-chap-secrets-{}", std::process::id()));
    }
    FILE.with(|file| {
        // No `@/path` indirection: the lookup would read whatever file the input names.
        if text.contains(&b'@') {
            return;
        }
        std::fs::write(file, text).expect("temp file");
        let mut store = ChapSecrets::with_capacity(file, client.first() == Some(&b'x'), 4096)
            .expect("path without NUL");
        match store.check() {
            Ok(warnings) => {
                for w in warnings {
                    let _ = w.to_string();
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        let looked_up = store.lookup(&client, &server, Ipv4Addr::new(192, 0, 2, 7));
        if text.len() <= 4096 && client.first() != Some(&b'x') {
            assert_eq!(looked_up, found, "file lookup and find_secret disagree");
        }
    });
}

pub fn seeds() -> Vec<Vec<u8>> {
    let with = |selector: u8, bytes: &[u8]| [&[selector][..], bytes].concat();
    let mut chap = vec![2u8, 4];
    chap.extend_from_slice(b"tomc");
    chap.push(0);
    chap.extend_from_slice(b"# client server secret IP\ntomc pptpd \"lab pass\" *\n\"bob\" * bobpw 10.0.0.9 !10.0.0.1\n");
    vec![
        with(
            0,
            b"option /etc/ppp/options.pptpd\nlogwtmp\nlocalip 192.168.0.1\nremoteip 192.168.0.234-238,192.168.0.245\nconnections 10\nstimeout 10\nlisten 0.0.0.0\n",
        ),
        with(0, b"localip 10.0.0.1-3\nremoteip 10.0.1.0/28\nbackend raw\nfirewall on\naddress 10.9.0.1/24\n"),
        with(
            1,
            b"name pptpd\nrefuse-pap\nrefuse-chap\nrefuse-mschap\nrequire-mschap-v2\nrequire-mppe-128\nms-dns 10.0.0.1\nproxyarp\nlock\nnobsdcomp\nnovj\nnovjccomp\nnologfd\nmtu 1400\n",
        ),
        chap,
    ]
}
