//! Names the commit pgfleet is built from, for `--version` (`0.1.0 (8d5c715 2026-11-30)`,
//! with `-modified` when the work tree had changes). Outside a git checkout (a crate
//! tarball) it says so rather than failing the build.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = match git(&["log", "-1", "--format=%h %cs"]) {
        Some(commit) => {
            let modified = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
            format!("{commit}{}", if modified { " modified" } else { "" })
        }
        None => "commit unknown".to_string(),
    };
    println!("cargo:rustc-env=PGFLEET_COMMIT={commit}");
    // Built again when HEAD moves (a commit, a checkout) or the index changes; a
    // worktree's git dir is found by git itself.
    for path in ["HEAD", "index", "packed-refs"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(file) = git(&["rev-parse", "--git-path", &reference])
    {
        println!("cargo:rerun-if-changed={file}");
    }
    // An edit not yet staged makes the tree modified too.
    for path in ["build.rs", "Cargo.toml", "src"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
