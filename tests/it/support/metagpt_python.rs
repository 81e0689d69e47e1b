//! Finds the interpreter with MetaGPT 0.8.2 for the tests that run the real package.
//!
//! `METAGPT_PYTHON`, else `.venv-metagpt/bin/python` (what `scripts/install-metagpt.sh` creates). Absent:
//! the test is skipped with the reason printed, except under CI, where a missing install is a failure.

use std::path::{Path, PathBuf};

pub fn metagpt_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("METAGPT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-metagpt/bin/python"));
    if candidate.exists() {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but there is no MetaGPT interpreter at {}: run scripts/install-metagpt.sh",
        candidate.display()
    );
    println!(
        "skipped: no MetaGPT interpreter (set METAGPT_PYTHON or run scripts/install-metagpt.sh)"
    );
    None
}
