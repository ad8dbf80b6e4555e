//! Helpers shared by the unit tests (compiled only for tests).

use std::path::{Path, PathBuf};

/// The shared capture corpus, as `tests/common` finds it: fails under `CI`
/// when missing, otherwise skips with a message.
pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("FLOWTAP_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    if dir.join("expected").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("corpus not found at {} (set FLOWTAP_CORPUS)", dir.display());
    }
    eprintln!("skipped: corpus not found at {}", dir.display());
    None
}
