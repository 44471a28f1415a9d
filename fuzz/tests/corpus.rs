//! Every seed through its target, without libFuzzer: `corpus/<target>/` (generated seeds and
//! the reproducers of fixed findings) and the repository's own files that `seed-dirs` lists.
//! So every `cargo test` builds and runs the targets.

use std::path::{Path, PathBuf};

/// The files under `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_seed_passes_its_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz.parent().expect("the repository");
    let listed = std::fs::read_to_string(fuzz.join("seed-dirs")).expect("seed-dirs reads");
    for (name, target) in daned_fuzz::TARGETS {
        let own = fuzz.join("corpus").join(name);
        let mut seeds = files(&own);
        assert!(!seeds.is_empty(), "{} has no seed", own.display());
        for line in listed.lines().filter(|l| !l.starts_with('#')) {
            if let Some((t, dir)) = line.split_once(char::is_whitespace)
                && t == name
            {
                seeds.extend(files(&repo.join(dir.trim())));
            }
        }
        for seed in seeds {
            let data = std::fs::read(&seed).expect("a seed reads");
            // A panic is preceded by the target and seed that caused it.
            eprintln!("{name}: {}", seed.display());
            target(&data);
        }
    }
}
