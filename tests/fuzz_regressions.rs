//! Replays every fuzz seed and every input that ever crashed a fuzz target through the
//! same checks the targets run (`fuzz/checks/`), without libFuzzer, so `cargo test` keeps
//! catching them. Inputs live in `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`;
//! `scripts/fuzz.sh` copies new crashes into the latter.

#[path = "../fuzz/checks/mod.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file());
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut count = 0;
    for &(target, check) in checks::TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{} fails {target}", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn regressions_pass() {
    replay("regressions");
}

#[test]
fn seed_files_pass() {
    replay("seeds");
}

#[test]
fn generated_seeds_pass() {
    for (target, data) in checks::seeds() {
        let (_, check) = checks::TARGETS.iter().find(|(t, _)| *t == target).unwrap();
        check(&data);
    }
}

/// Every target directory named under `fuzz/regressions/` or `fuzz/seeds/` is a target
/// this test knows, so no regression is silently skipped.
#[test]
fn no_unknown_target_directories() {
    for kind in ["regressions", "seeds"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                checks::TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{kind}/{name} is not a fuzz target"
            );
        }
    }
}

/// `cargo test --test fuzz_regressions -- --ignored write_seeds` rewrites `fuzz/seeds/`
/// from `checks::seeds()`.
#[test]
#[ignore]
fn write_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("seeds");
    let _ = std::fs::remove_dir_all(&root);
    let mut numbers = std::collections::HashMap::new();
    for (target, data) in checks::seeds() {
        let n = numbers.entry(target).or_insert(0);
        *n += 1;
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{n:02}")), data).unwrap();
    }
}
