//! Finds the linters `scripts/install-test-deps.sh` installs under `.tools/venv/bin` (or on PATH).
//! Absent: the test is skipped with the reason printed, except under CI, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn linter(name: &str) -> Option<PathBuf> {
    let local = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/venv/bin")
        .join(name);
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    let found = Some(local).filter(|p| p.is_file()).or(on_path);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {name} is not installed: run scripts/install-test-deps.sh"
        );
        println!("skipped: {name} is not installed (run scripts/install-test-deps.sh)");
    }
    found
}

/// Runs a linter from the repository root; fails the test with its report when it finds anything.
pub fn lint(linter: &Path, args: &[&str]) {
    let output = Command::new(linter)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", linter.display()));
    assert!(
        output.status.success(),
        "{} {args:?} found problems:\n{}{}",
        linter.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
