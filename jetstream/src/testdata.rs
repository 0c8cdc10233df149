//! Access to the NATS project's reference data (`shared/nats-data/`) for conformance tests.
//! The data is not part of this repository: tests that need it print a notice and pass when
//! it is absent.

use std::path::PathBuf;

/// The shared directory: `$NATRIX_SHARED_DIR`, `../shared` beside the repository, or
/// `/work/shared`.
pub fn shared_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("NATRIX_SHARED_DIR") {
        candidates.push(PathBuf::from(dir));
    }
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(repo_root) = crate_dir.parent() {
        candidates.push(repo_root.join("../shared"));
    }
    candidates.push(PathBuf::from("/work/shared"));
    candidates
        .into_iter()
        .find(|dir| dir.join("nats-data").is_dir())
}

/// The text of `relative` under the shared directory, or `None` (with a notice) when the
/// reference data is absent.
pub fn read(relative: &str) -> Option<String> {
    let Some(dir) = shared_dir() else {
        eprintln!("notice: shared reference data not found; skipping the check against {relative}");
        return None;
    };
    match std::fs::read_to_string(dir.join(relative)) {
        Ok(text) => Some(text),
        Err(error) => {
            eprintln!("notice: cannot read {relative} ({error}); skipping the check");
            None
        }
    }
}
