//! Turns the chosen board file (boards/<board>.toml) into `limits.rs` in OUT_DIR,
//! the way smoltcp's build.rs turns its config into constants. Any limit can be
//! overridden with an environment variable SMOLPPTP_<NAME> (upper case).
use std::{env, fs, path::Path};

/// (name in the board file, constant name, type, lower bound)
const LIMITS: &[(&str, &str, &str, u64)] = &[
    ("max_sessions", "MAX_SESSIONS", "usize", 1),
    (
        "max_control_connections",
        "MAX_CONTROL_CONNECTIONS",
        "usize",
        1,
    ),
    ("tcp_rx_buffer", "TCP_RX_BUFFER", "usize", 256),
    ("tcp_tx_buffer", "TCP_TX_BUFFER", "usize", 256),
    ("gre_rx_packets", "GRE_RX_PACKETS", "usize", 1),
    ("gre_rx_buffer", "GRE_RX_BUFFER", "usize", 1600),
    ("gre_tx_packets", "GRE_TX_PACKETS", "usize", 1),
    ("gre_tx_buffer", "GRE_TX_BUFFER", "usize", 1600),
    ("device_mtu", "DEVICE_MTU", "usize", 576),
    ("reorder_slots", "REORDER_SLOTS", "usize", 1),
    ("control_queue", "CONTROL_QUEUE", "usize", 2),
    ("source_table", "SOURCE_TABLE", "usize", 1),
];

fn main() {
    let board = env::var("SMOLPPTP_BOARD").unwrap_or_else(|_| "host".into());
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap();
    let path = Path::new(&manifest)
        .join("boards")
        .join(format!("{board}.toml"));
    println!("cargo:rerun-if-env-changed=SMOLPPTP_BOARD");
    println!("cargo:rerun-if-changed={}", path.display());
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("board file {}: {e}", path.display()));

    let mut out =
        format!("/// The board these limits come from.\npub const BOARD: &str = {board:?};\n");
    let mut target = String::new();
    for (key, konst, ty, min) in LIMITS {
        let env_name = format!("SMOLPPTP_{konst}");
        println!("cargo:rerun-if-env-changed={env_name}");
        let value = match env::var(&env_name) {
            Ok(v) => v,
            Err(_) => {
                lookup(&text, key).unwrap_or_else(|| panic!("{}: missing `{key}`", path.display()))
            }
        };
        let n: u64 = value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{key} = {value:?} is not a number"));
        assert!(n >= *min, "{key} = {n} is below the minimum {min}");
        out.push_str(&format!("pub const {konst}: {ty} = {n};\n"));
    }
    if let Some(t) = lookup(&text, "target") {
        target = t.trim_matches('"').to_string();
    }
    out.push_str(&format!(
        "/// The target triple the board is built for.\npub const TARGET: &str = {target:?};\n"
    ));
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("limits.rs");
    fs::write(dest, out).unwrap();
}

/// `key = value` lines; `#` starts a comment.
fn lookup(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}
