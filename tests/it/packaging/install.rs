//! `scripts/install-metagpt.sh` both ways a fresh machine may take: with uv (on PATH or fetched from PyPI
//! into `<venv>-uv`) and with its pip fallback (`METAGPT_INSTALLER=pip`). Each venv must have MetaGPT
//! 0.8.2 and the pytest QA needs, and the script's last line must be its interpreter (what CI and the
//! Dockerfile use as `METAGPT_PYTHON`). Needs the package index; a run takes a minute or two with the
//! machine's caches warm (the figures, cold and warm: `bench/install_metagpt.sh`).

use std::path::Path;
use std::process::Command;

/// Runs the script for `venv` with `installer`; what it said on stderr and the venv's MetaGPT and pytest
/// versions.
fn install(venv: &Path, installer: &str) -> (String, String) {
    let output =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-metagpt.sh"))
            .arg(venv)
            .env("METAGPT_INSTALLER", installer)
            .output()
            .expect("the install script starts");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{installer}: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let python = stdout.lines().last().unwrap_or_default().to_owned();
    assert_eq!(
        python,
        venv.join("bin/python").display().to_string(),
        "{stdout}"
    );
    let versions = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('metagpt'), m.version('pytest'))",
        ])
        .output()
        .expect("the venv's interpreter starts");
    let versions = String::from_utf8_lossy(&versions.stdout).trim().to_owned();
    (stderr, versions)
}

#[test]
fn the_install_script_installs_metagpt_with_uv_and_with_its_pip_fallback() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (installer, said) in [("uv", "with uv "), ("pip", "with pip (")] {
        let venv = dir.path().join(format!("venv-{installer}"));
        let (stderr, versions) = install(&venv, installer);
        assert!(stderr.contains(said), "{installer}: {stderr}");
        assert_eq!(versions, "0.8.2 8.3.5", "{installer}");
    }
    // A second run on a venv that has it is a no-op that still prints the interpreter.
    let (stderr, versions) = install(&dir.path().join("venv-uv"), "uv");
    assert!(stderr.contains("already installed"), "{stderr}");
    assert_eq!(versions, "0.8.2 8.3.5");
}
