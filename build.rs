//! Stamps the binary with the git commit it is built from, as the Go server's build does
//! (`/varz` `git_commit`, the `Git:` start-up line): the first 7 hex digits of `HEAD`, or
//! nothing when the source is not a git checkout.

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    // Rebuild when HEAD moves: its file, and the branch it points to (or the packed refs). A
    // path that does not exist would make cargo rerun this script, and rebuild, every time.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
    for path in watched.into_iter().flatten() {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let short: String = commit.chars().take(7).collect();
    println!("cargo:rustc-env=NATRIX_GIT_COMMIT={short}");
}
