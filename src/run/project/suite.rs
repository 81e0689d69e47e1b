//! The repository's own test suite: which command runs it, the test ids it collects before and after a
//! run (gate `existing_tests_kept`), and its result after the run (gate `project_tests_pass`).
//!
//! Invariants:
//! - Detection ([`detect`]): `project_tests` from the settings wins; otherwise pytest over the
//!   project's test files at the root (`test.py`, `tests.py`, `test_*.py`, `*_test.py`) and its test
//!   folder (`SourceLayout::tests_dir`), which also holds the run's new tests. pytest runs unittest
//!   suites too, so one runner lists and runs both. Nothing found is no suite.
//! - Ids are listed by the runner itself (`--collect-only -q`), never guessed from file text; a
//!   configured command that is not pytest has no ids, and the gate says so.
//! - The suite is listed and run in the sandbox when there is one (listing imports the test modules;
//!   after the run, the code is the agent's), without the network, with the project's venv read-only and the work tree writable,
//!   bounded by [`SUITE_LIMIT`]; its environment is the setup's (no secret) with the import roots on
//!   `PYTHONPATH`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Ended, ProjectEnv, bounded, tail};
use crate::run::agent::Exceeded;
use crate::run::agent::{Handover, Isolation, Offline, RunAs, unreachable};
use crate::workspace::SourceLayout;

/// How long the suite may run.
pub const SUITE_LIMIT: Duration = Duration::from_secs(900);

/// The test ids a runner collected, sorted.
pub type TestIds = BTreeSet<String>;

/// How the project's suite is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suite {
    /// `python -m pytest` over these paths (relative to the root); those missing at a call are left out.
    Pytest { paths: Vec<String> },
    /// The repository's `project_tests` command, run by `sh -c`.
    Command(String),
}

/// One run of the suite.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteRun {
    pub command: String,
    pub passed: bool,
    /// The runner's summary line (e.g. `42 passed, 1 failed in 0.31s`), or how it ended.
    pub summary: String,
    /// The end of its output.
    pub tail: String,
    /// The tests pytest reported failing or erroring (`-rfE`: its `FAILED <id>` and `ERROR <id>` lines);
    /// `None` where the runner does not say (a `project_tests` command other than the detected pytest,
    /// or a run that did not finish).
    pub failed: Option<TestIds>,
    /// The resource limit it hit, if it was stopped at one.
    pub limit: Option<Exceeded>,
}

/// The suite of the tree at `root`, if it has one.
pub fn detect(root: &Path, layout: &SourceLayout, configured: Option<&str>) -> Option<Suite> {
    if let Some(command) = configured {
        return Some(Suite::Command(command.to_owned()));
    }
    let mut paths: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| is_test_file(name))
        .collect();
    paths.sort();
    if has_tests(&root.join(&layout.tests_dir)) || !paths.is_empty() {
        paths.push(layout.tests_dir.clone());
        return Some(Suite::Pytest { paths });
    }
    None
}

/// `test.py`, `tests.py`, `test_*.py` or `*_test.py`.
pub fn is_test_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".py") else {
        return false;
    };
    matches!(stem, "test" | "tests") || stem.starts_with("test_") || stem.ends_with("_test")
}

fn has_tests(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| match e.file_type() {
        Ok(t) if t.is_file() => e.file_name().to_str().is_some_and(is_test_file),
        Ok(t) if t.is_dir() => has_tests(&e.path()),
        _ => false,
    })
}

impl Suite {
    /// The shell command that runs the suite (`collect`: only lists its ids), for the tree at `root`.
    pub fn command(&self, root: &Path, collect: bool) -> Option<String> {
        let list = if collect {
            " --color=no --collect-only -q"
        } else {
            " --color=no -q -rfE"
        };
        match self {
            Suite::Pytest { paths } => {
                let present: Vec<&str> = paths
                    .iter()
                    .filter(|p| root.join(p).exists())
                    .map(String::as_str)
                    .collect();
                Some(format!(
                    "python -m pytest -p no:cacheprovider{list} {}",
                    present.join(" ")
                ))
            }
            Suite::Command(command) if collect => command
                .contains("pytest")
                .then(|| format!("{command} -p no:cacheprovider{list}")),
            Suite::Command(command) => Some(command.clone()),
        }
    }

    /// The ids the suite collects on the tree at `root` (in the sandbox when given: collecting imports the
    /// test modules, which runs their code); `None` when they cannot be listed (a command other than
    /// pytest, or a collection that failed).
    pub async fn collect(
        &self,
        env: &ProjectEnv,
        root: &Path,
        layout: &SourceLayout,
        isolation: &Isolation,
        cancel: &CancellationToken,
    ) -> Option<TestIds> {
        let command = self.command(root, true)?;
        let ended = run(env, root, layout, &command, isolation, cancel)
            .await
            .ok()?;
        match ended {
            Ended::Exited(0, output) => Some(ids(&output)),
            Ended::Exited(code, output) => {
                let output = tail(&output);
                tracing::warn!(code, %output, "the project's tests could not be collected");
                None
            }
            _ => None,
        }
    }

    /// Runs the suite on the tree at `root` (in the sandbox when given).
    pub async fn run(
        &self,
        env: &ProjectEnv,
        root: &Path,
        layout: &SourceLayout,
        isolation: &Isolation,
        cancel: &CancellationToken,
    ) -> SuiteRun {
        let command = self.command(root, false).unwrap_or_default();
        let ended = run(env, root, layout, &command, isolation, cancel).await;
        let pytest = matches!(self, Suite::Pytest { .. });
        let limit = match &ended {
            Ok(Ended::Limit(exceeded, _)) => Some(exceeded.clone()),
            _ => None,
        };
        let (passed, summary, tail, failed) = match ended {
            Ok(Ended::Exited(code, output)) => (
                code == 0,
                summary(&output, code),
                output.clone(),
                pytest.then(|| failed(&output)),
            ),
            Ok(Ended::TimedOut(output)) => (
                false,
                format!("still running after {} s; stopped", SUITE_LIMIT.as_secs()),
                output,
                None,
            ),
            Ok(Ended::Cancelled) => (false, "cancelled".to_owned(), String::new(), None),
            Ok(Ended::Limit(exceeded, output)) => (
                false,
                format!(
                    "stopped: the project's tests {} ({})",
                    exceeded.what(),
                    exceeded.how()
                ),
                output,
                None,
            ),
            Err(e) => (false, format!("could not start: {e}"), String::new(), None),
        };
        SuiteRun {
            command,
            passed,
            summary,
            tail,
            failed,
            limit,
        }
    }
}

/// Runs `command` with `sh -c` in the project's environment, in the sandbox when given.
async fn run(
    env: &ProjectEnv,
    root: &Path,
    layout: &SourceLayout,
    command: &str,
    isolation: &Isolation,
    cancel: &CancellationToken,
) -> std::io::Result<Ended> {
    let home = env.venv.with_file_name("project-home");
    let sh = Path::new("/bin/sh");
    let tmp = home.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let writable = vec![root.to_path_buf(), home.clone()];
    // As the agent's own user (the bot is root), the suite owns the tree and its HOME while it runs.
    let _handover = match isolation.run_as {
        Some(run_as) => Some(hand_over(run_as, &writable, &env.python)?),
        None => None,
    };
    let mut process = match isolation.sandbox.clone() {
        Some(sandbox) => crate::run::agent::offline_command(
            sandbox,
            isolation.run_as,
            Offline {
                python: &env.python,
                program: sh,
                cwd: root,
                read_only: vec![env.venv.clone()],
                writable,
                tmp: &tmp,
            },
        ),
        None => {
            let mut process = tokio::process::Command::new(sh);
            if let Some(run_as) = isolation.run_as {
                process.uid(run_as.uid).gid(run_as.gid);
            }
            process
        }
    };
    process.arg("-c").arg(command).current_dir(root);
    let roots: Vec<String> = layout
        .import_roots
        .iter()
        .map(|r| root.join(r).display().to_string())
        .collect();
    let extra = [("PYTHONPATH", roots.join(":"))];
    let limits = (SUITE_LIMIT, env.limits, isolation.run_as.map(|r| r.uid));
    bounded(process, &home, Some(&env.venv), &extra, limits, cancel).await
}

/// Gives `writable` to the agent's user once it can reach it and `python`.
fn hand_over(run_as: RunAs, writable: &[PathBuf], python: &Path) -> std::io::Result<Handover> {
    let mut needed: Vec<&Path> = writable.iter().map(PathBuf::as_path).collect();
    needed.push(python);
    if let Some((path, dir)) = unreachable(run_as, &needed) {
        return Err(std::io::Error::other(format!(
            "the suite runs as the agent's user (uid {}) and cannot reach {}: {} is not searchable by it",
            run_as.uid,
            path.display(),
            dir.display()
        )));
    }
    Handover::give(run_as, writable)
}

/// The ids of a `pytest --collect-only -q` listing: its `path::name` lines.
pub fn ids(output: &str) -> TestIds {
    output
        .lines()
        .map(str::trim)
        .filter(|line| {
            line.split_once("::")
                .is_some_and(|(file, _)| !file.is_empty() && !file.contains(' '))
        })
        .map(str::to_owned)
        .collect()
}

/// The ids of pytest's short test summary (`-rfE`): `FAILED <id> - <why>` and `ERROR <id> - <why>`
/// (an `ERROR` of a module that failed to import names the file).
pub fn failed(output: &str) -> TestIds {
    output
        .lines()
        .filter_map(|line| {
            line.strip_prefix("FAILED ")
                .or_else(|| line.strip_prefix("ERROR "))
        })
        .map(|rest| rest.split(" - ").next().unwrap_or(rest).trim().to_owned())
        .filter(|id| !id.is_empty())
        .collect()
}

/// pytest's last `=== … ===` line, or the exit code.
fn summary(output: &str, code: i32) -> String {
    output
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| {
            l.contains(" passed")
                || l.contains(" failed")
                || l.contains(" error")
                || l.contains("no tests ran")
        })
        .map(|l| l.trim_matches('=').trim().to_owned())
        .unwrap_or_else(|| format!("exit {code}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Found;

    fn layout(tests_dir: &str) -> SourceLayout {
        SourceLayout {
            source_dir: "pkg".into(),
            spec_dir: ".metagpt".into(),
            tests_dir: tests_dir.into(),
            import_roots: vec![String::new()],
            found: Found::Detected,
        }
    }

    #[test]
    fn the_suite_is_the_test_folder_and_the_root_test_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(detect(root, &layout("tests"), None), None);
        std::fs::write(root.join("test.py"), "").unwrap();
        std::fs::write(root.join("setup.py"), "").unwrap();
        let suite = detect(root, &layout("tests"), None).unwrap();
        assert_eq!(
            suite,
            Suite::Pytest {
                paths: vec!["test.py".into(), "tests".into()]
            }
        );
        assert_eq!(
            suite.command(root, true).unwrap(),
            "python -m pytest -p no:cacheprovider --color=no --collect-only -q test.py"
        );
        std::fs::create_dir_all(root.join("tests")).unwrap();
        assert_eq!(
            suite.command(root, false).unwrap(),
            "python -m pytest -p no:cacheprovider --color=no -q -rfE test.py tests"
        );
        let configured = detect(root, &layout("tests"), Some("make test")).unwrap();
        assert_eq!(configured.command(root, true), None);
    }

    #[tokio::test]
    async fn a_suite_that_hits_a_limit_fails_with_the_limit_in_its_summary() {
        let dir = tempfile::tempdir().unwrap();
        let env = ProjectEnv {
            venv: dir.path().join("project-venv"),
            python: PathBuf::from("/usr/bin/python3"),
            setup: Vec::new(),
            suite: None,
            limits: crate::config::ResourceLimits {
                cpu_secs: 1,
                ..Default::default()
            },
        };
        let suite = Suite::Command("/usr/bin/python3 -c 'while True: pass'".into());
        let run = suite
            .run(
                &env,
                dir.path(),
                &layout("tests"),
                &crate::run::agent::Isolation::default(),
                &CancellationToken::new(),
            )
            .await;
        assert!(!run.passed);
        assert_eq!(run.limit.map(|l| l.hit), Some(crate::run::agent::Hit::Cpu));
        assert!(
            run.summary.starts_with(
                "stopped: the project's tests used more than 1 s of CPU in one process (AGENT_CPU_SECS=1; "
            ),
            "{}",
            run.summary
        );
    }

    #[test]
    fn ids_and_summaries_are_read_from_pytests_output() {
        let listing = "tests/test_a.py::test_one\ntests/test_a.py::T::test_two[1-2]\n\n2 tests collected in 0.01s\n";
        assert_eq!(
            ids(listing).into_iter().collect::<Vec<_>>(),
            [
                "tests/test_a.py::T::test_two[1-2]",
                "tests/test_a.py::test_one"
            ]
        );
        assert_eq!(
            summary("x\n===== 1 failed, 41 passed in 0.31s =====\n", 1),
            "1 failed, 41 passed in 0.31s"
        );
        assert_eq!(summary("boom\n", 2), "exit 2");
        let short = "=== short test summary info ===\nFAILED tests/test_a.py::T::test_two[1-2] - AssertionError: 3 != 4\nERROR tests/test_b.py - ImportError: no module named x\nFAILED tests/test_a.py::test_one\n=== 2 failed, 1 error in 0.1s ===\n";
        assert_eq!(
            failed(short).into_iter().collect::<Vec<_>>(),
            [
                "tests/test_a.py::T::test_two[1-2]",
                "tests/test_a.py::test_one",
                "tests/test_b.py"
            ]
        );
    }
}
