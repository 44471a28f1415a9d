//! Records the git commit the binary is built from, for `daned --version`.
//!
//! `DANED_GIT_COMMIT` in the environment wins (a packager building from a tarball can set it);
//! otherwise `git rev-parse` in the source tree; outside a git checkout (a release tarball, a
//! crate from a registry) the version says so instead of failing the build.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=DANED_GIT_COMMIT");
    let commit = match std::env::var("DANED_GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => Some(commit.trim().to_owned()),
        _ => git_commit(),
    };
    let text = match &commit {
        Some(commit) => format!("commit {commit}"),
        None => "commit unknown: not built from a git checkout".to_owned(),
    };
    println!("cargo::rustc-env=DANED_COMMIT={text}");
    // The bare id, for `daned_build_info{commit}`.
    println!(
        "cargo::rustc-env=DANED_COMMIT_ID={}",
        commit.as_deref().unwrap_or("unknown")
    );
}

/// The checked-out commit (12 hex digits, `-dirty` when the tree has changes), asking cargo to
/// run this again when HEAD moves.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    for file in ["HEAD", "logs/HEAD", "index"] {
        if let Some(path) = git(&["rev-parse", "--git-path", file])
            && Path::new(&path).exists()
        {
            println!("cargo::rerun-if-changed={path}");
        }
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}
