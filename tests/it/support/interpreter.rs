//! The Python interpreters the tests give the agent: four stand-ins from `tests/fixtures/interpreters/`,
//! each installed as `<root>/venv/bin/python` (a venv's layout, as the bot expects of `METAGPT_PYTHON`),
//! and the real interpreter with MetaGPT 0.8.2 for the end-to-end tests.
//!
//! The real one is `METAGPT_PYTHON`, else `.venv-metagpt/bin/python` (what `scripts/install-metagpt.sh`
//! creates). Absent: the test is skipped with the reason printed, except under CI, where a missing install
//! is a failure.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A stand-in for MetaGPT's interpreter (`python <wrapper.py> <job.json>`).
#[derive(Debug, Clone, Copy)]
pub enum StandIn {
    /// `standin_python`: a fast MetaGPT that calls the bot's gateway three times and writes what a
    /// requirement run writes (the App, Action and local-run tests).
    Team,
    /// `fake_python`: records what it was given (environment, argv, config) and behaves as the idea asks
    /// (`FAKE_SLEEP`, `FAKE_CRASH`, `FAKE_ERROR`).
    Recorder,
    /// `probe_python`: looks at its surroundings from inside the sandbox.
    Probe,
    /// `hostile_python`: runs away as the idea asks (`FORK_BOMB`, `MEMORY_HOG`, `ENDLESS_LOOP`,
    /// `CHILD_HOG`), each bounded so that a missing limit fails the test and spares the host.
    Hostile,
    /// `thief_python`: looks for the bot's secrets in every process's environment and prints them.
    Thief,
}

impl StandIn {
    fn file(self) -> &'static str {
        match self {
            StandIn::Team => "standin_python",
            StandIn::Recorder => "fake_python",
            StandIn::Probe => "probe_python",
            StandIn::Hostile => "hostile_python",
            StandIn::Thief => "thief_python",
        }
    }
}

/// Installs `stand_in` as `<root>/venv/bin/python` and returns that path.
pub fn install(root: &Path, stand_in: StandIn) -> PathBuf {
    let bin = root.join("venv/bin");
    std::fs::create_dir_all(&bin).expect("venv/bin");
    let python = bin.join("python");
    let source = super::fixture_path(&format!("interpreters/{}", stand_in.file()));
    std::fs::copy(&source, &python).unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    python
}

/// The interpreter with MetaGPT 0.8.2, or `None` (the caller returns: the test is skipped).
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

/// The `AGENT_UID` for runs of `python` (and of the project's default interpreter, `python3` on
/// `PATH`): the bot's default, unless this process is root and that user cannot reach one of them (an
/// interpreter installed under `/root`, as pyenv does on a developer's machine), where the agent keeps
/// root (0) and the test says so. The tests of the agent's own user run stand-ins it can reach
/// (`agent/sandbox.rs`).
pub fn agent_uid_for(python: &Path) -> u32 {
    use metagpt_bot::run::agent::{DEFAULT_AGENT_UID, RunAs};
    let Some(agent) = RunAs::for_this_bot(DEFAULT_AGENT_UID) else {
        return DEFAULT_AGENT_UID;
    };
    let project = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("python3"))
        .find(|p| p.is_file());
    for interpreter in std::iter::once(python.to_path_buf()).chain(project) {
        if !agent.reaches(&interpreter) {
            println!(
                "the agent keeps root: uid {} cannot reach {}",
                agent.uid,
                interpreter.display()
            );
            return 0;
        }
    }
    DEFAULT_AGENT_UID
}
