//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// The shared capture corpus: `$FLOWTAP_CORPUS`, else `../shared/corpus`
/// beside the repository. Missing, it fails the test when `CI` is set (a
/// skipped corpus test would be no test) and is skipped with a message
/// otherwise.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("FLOWTAP_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    if dir.join("expected").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "corpus not found at {} (set FLOWTAP_CORPUS); required when CI is set",
            dir.display()
        );
    }
    eprintln!("skipped: corpus not found at {}", dir.display());
    None
}
