//! The project's own environment for one run: a virtual environment of the run's own, prepared by the
//! repository's `setup` commands before the agent starts, in which the project's test suite is listed
//! before the run and run after it ([`suite`]), and in which MetaGPT's QA runs its tests.
//!
//! Invariants:
//! - Setup runs with the network and without any secret: the environment is emptied and only `PATH`
//!   (the venv's `bin` first), `HOME` (the run's own), the locale, the package index and proxy settings
//!   and the package caches (so a second run installs from cache) are passed. It runs in the work tree,
//!   before any LLM call, each command bounded by [`SETUP_LIMIT`]; a failing command ends the run before
//!   anything is spent, quoting the command and the end of its output. When the bot is root it runs as
//!   the agent's own user ([`EnvRequest::run_as`], the venv, its `HOME` and the work tree handed to it for
//!   the setup), so the repository's code it runs cannot read the bot's own 0600 files. It is not in a
//!   sandbox: it needs the network, and it reaches what that user may.
//! - Every command (venv, setup, the suite's listing and run) runs under the run's resource limits
//!   (`run::agent::apply_limits`); a limit hit stops it and is named: a failed setup, a failed suite.
//! - The venv is never MetaGPT's: it is created from the project interpreter (`PROJECT_PYTHON`,
//!   default `python3`) in the run's private directory, and removed with it.
//! - Without `setup` in the settings, the commands are derived from the repository's files
//!   ([`default_setup`]): its requirements files, an editable install of a packaged project (with its
//!   test extras), and pytest, which lists and runs the suite.
//! - A repository without a test suite (nothing [`suite::detect`] finds and no `project_tests`) and
//!   without `setup` gets no environment at all: nothing is installed and the project gates say why.

pub mod suite;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::ResourceLimits;
use crate::run::agent::{Exceeded, Handover, RunAs, apply_limits, kill_group, unreachable};
use crate::workspace::SourceLayout;
pub use suite::{Suite, SuiteRun, TestIds};

/// How long one setup command may take.
pub const SETUP_LIMIT: Duration = Duration::from_secs(900);

/// Lines of output quoted when a command fails.
const TAIL_LINES: usize = 20;

/// Environment variables setup may see: locale, package index and proxies, caches. Never a secret of
/// the bot's.
const PASSED: [&str; 16] = [
    "LANG",
    "LC_ALL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_CERT",
    "UV_INDEX_URL",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CACHE_DIR",
    "UV_CACHE_DIR",
];

/// What [`prepare`] needs.
pub struct EnvRequest<'a> {
    pub root: &'a Path,
    pub layout: &'a SourceLayout,
    /// `setup` from the settings; `None` derives the commands.
    pub setup: Option<&'a [String]>,
    /// `project_tests` from the settings.
    pub project_tests: Option<&'a str>,
    /// The interpreter the venv is made from.
    pub base_python: &'a Path,
    /// The run's private directory; the venv and the setup's `HOME` go there.
    pub dir: &'a Path,
    /// What each setup command and the suite may use (the agent's limits).
    pub limits: ResourceLimits,
    /// The agent's own user when the bot is root (`AGENT_UID`): the setup runs as it too (it runs the
    /// repository's code — `setup.py`, build backends — which then cannot read the bot's 0600 files).
    pub run_as: Option<RunAs>,
}

/// The run's prepared environment.
#[derive(Debug, Clone)]
pub struct ProjectEnv {
    pub venv: PathBuf,
    /// The venv's interpreter: MetaGPT's QA and the project's suite run with it.
    pub python: PathBuf,
    /// The commands setup ran, in order.
    pub setup: Vec<String>,
    /// The project's suite, when it has one.
    pub suite: Option<Suite>,
    /// What the suite may use (`EnvRequest::limits`).
    pub limits: ResourceLimits,
}

/// Why the environment could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("cannot create the run's virtual environment with {python}: {detail}")]
    Venv { python: String, detail: String },
    #[error("the setup command `{command}` failed ({how}); its last lines:\n{tail}")]
    Setup {
        command: String,
        how: String,
        tail: String,
    },
    #[error("the run was cancelled during setup")]
    Cancelled,
}

/// Prepares the run's environment, or `None` when the repository has no test suite and no `setup`.
pub async fn prepare(
    request: &EnvRequest<'_>,
    cancel: &CancellationToken,
) -> Result<Option<ProjectEnv>, ProjectError> {
    let suite = suite::detect(request.root, request.layout, request.project_tests);
    if suite.is_none() && request.setup.is_none() {
        return Ok(None);
    }
    let venv = request.dir.join("project-venv");
    let home = request.dir.join("project-home");
    let venv_error = |detail: String| ProjectError::Venv {
        python: request.base_python.display().to_string(),
        detail,
    };
    for dir in [&home, &venv] {
        std::fs::create_dir_all(dir).map_err(|e| venv_error(e.to_string()))?;
    }
    let real = real_python(request.base_python).await;
    // As the agent's own user, the venv, the setup's HOME and the work tree (an editable install writes
    // there) are handed to it until the setup ends.
    let _handover = match request.run_as {
        Some(run_as) => {
            let writable = [venv.clone(), home.clone(), request.root.to_path_buf()];
            let mut needed: Vec<&Path> = writable.iter().map(PathBuf::as_path).collect();
            needed.push(&real);
            if let Some((path, dir)) = unreachable(run_as, &needed) {
                return Err(venv_error(format!(
                    "the setup runs as the agent's user (uid {}, AGENT_UID) and cannot reach {}: {} is \
                     not searchable by it (set PROJECT_PYTHON to an interpreter it can run, or \
                     AGENT_UID=0)",
                    run_as.uid,
                    path.display(),
                    dir.display()
                )));
            }
            Some(Handover::give(run_as, &writable).map_err(|e| venv_error(e.to_string()))?)
        }
        None => None,
    };
    let as_user = Bounds {
        limits: request.limits,
        run_as: request.run_as,
    };
    create_venv(&real, request.base_python, &venv, &home, as_user, cancel).await?;
    let python = venv.join("bin/python");
    let commands = match request.setup {
        Some(commands) => commands.to_vec(),
        None => default_setup(request.root),
    };
    for command in &commands {
        run_setup(command, request.root, &venv, &home, as_user, cancel).await?;
    }
    Ok(Some(ProjectEnv {
        venv,
        python,
        setup: commands,
        suite,
        limits: request.limits,
    }))
}

/// The setup commands a repository without `setup` gets: its requirements files, an editable install
/// (with the test extras) of a packaged project, and pytest.
pub fn default_setup(root: &Path) -> Vec<String> {
    let mut commands = Vec::new();
    for file in [
        "requirements.txt",
        "requirements-dev.txt",
        "requirements-test.txt",
        "test-requirements.txt",
        "dev-requirements.txt",
        "dev.requirements.txt",
    ] {
        if root.join(file).is_file() {
            commands.push(format!("python -m pip install -r {file}"));
        }
    }
    if root.join("pyproject.toml").is_file() || root.join("setup.py").is_file() {
        let extras = test_extras(root);
        let target = if extras.is_empty() {
            ".".to_owned()
        } else {
            format!("'.[{}]'", extras.join(","))
        };
        commands.push(format!("python -m pip install -e {target}"));
    }
    commands.push("python -m pip install pytest".to_owned());
    commands
}

/// The optional-dependency groups of `pyproject.toml` meant for tests.
fn test_extras(root: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(root.join("pyproject.toml")) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let groups = doc
        .get("project")
        .and_then(|p| p.get("optional-dependencies"))
        .and_then(toml::Value::as_table);
    groups
        .map(|groups| {
            groups
                .keys()
                .filter(|k| matches!(k.as_str(), "test" | "tests" | "testing"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// What a setup process may use, and as whom it runs.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    limits: ResourceLimits,
    run_as: Option<RunAs>,
}

impl Bounds {
    /// `command` as the agent's own user, when there is one.
    fn apply(&self, command: &mut tokio::process::Command) -> Option<u32> {
        let run_as = self.run_as?;
        command.uid(run_as.uid).gid(run_as.gid);
        Some(run_as.uid)
    }
}

/// The interpreter `base` stands for: a launcher such as pyenv's shim needs the bot's environment to
/// find it; the venv is then made by that interpreter itself, in the emptied environment.
async fn real_python(base: &Path) -> PathBuf {
    tokio::process::Command::new(base)
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(Stdio::null())
        .output()
        .await
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| base.to_path_buf())
}

async fn create_venv(
    real: &Path,
    base: &Path,
    venv: &Path,
    home: &Path,
    bounds: Bounds,
    cancel: &CancellationToken,
) -> Result<(), ProjectError> {
    let mut command = tokio::process::Command::new(real);
    command.arg("-m").arg("venv").arg(venv);
    let uid = bounds.apply(&mut command);
    let limits = bounds.limits;
    let failed = |detail: String| ProjectError::Venv {
        python: base.display().to_string(),
        detail,
    };
    let limit = Duration::from_secs(300);
    match bounded(command, home, None, &[], (limit, limits, uid), cancel).await {
        Ok(Ended::Exited(0, _)) => Ok(()),
        Ok(Ended::Exited(code, output)) => Err(failed(format!("exit {code}: {}", tail(&output)))),
        Ok(Ended::Limit(exceeded, output)) => Err(failed(format!(
            "it {} and was stopped ({}): {}",
            exceeded.what(),
            exceeded.how(),
            tail(&output)
        ))),
        Ok(Ended::TimedOut(_)) => Err(failed("timed out".into())),
        Ok(Ended::Cancelled) => Err(ProjectError::Cancelled),
        Err(e) => Err(failed(e.to_string())),
    }
}

async fn run_setup(
    command: &str,
    root: &Path,
    venv: &Path,
    home: &Path,
    bounds: Bounds,
    cancel: &CancellationToken,
) -> Result<(), ProjectError> {
    let mut shell = tokio::process::Command::new("/bin/sh");
    shell.arg("-c").arg(command).current_dir(root);
    let uid = bounds.apply(&mut shell);
    let limits = bounds.limits;
    tracing::info!(command, "project setup");
    let failed = |how: String, tail: String| ProjectError::Setup {
        command: command.to_owned(),
        how,
        tail,
    };
    match bounded(
        shell,
        home,
        Some(venv),
        &[],
        (SETUP_LIMIT, limits, uid),
        cancel,
    )
    .await
    {
        Ok(Ended::Exited(0, _)) => Ok(()),
        Ok(Ended::Exited(code, output)) => Err(failed(format!("exit {code}"), tail(&output))),
        Ok(Ended::Limit(exceeded, output)) => Err(failed(
            format!(
                "it {} and was stopped; {}; raise it if the project needs more",
                exceeded.what(),
                exceeded.how()
            ),
            tail(&output),
        )),
        Ok(Ended::TimedOut(tail)) => Err(failed(
            format!("still running after {} s", SETUP_LIMIT.as_secs()),
            tail,
        )),
        Ok(Ended::Cancelled) => Err(ProjectError::Cancelled),
        Err(e) => Err(failed("could not start".into(), e.to_string())),
    }
}

/// How a bounded command ended, with its output (stdout, then stderr).
pub(crate) enum Ended {
    Exited(i32, String),
    TimedOut(String),
    Cancelled,
    /// A resource limit was hit; the whole command was stopped.
    Limit(Exceeded, String),
}

/// Runs `command` with the emptied environment of this module (the venv first on `PATH` when given),
/// under the run's resource limits, killing its process group on time-out, cancel or a limit hit.
pub(crate) async fn bounded(
    mut command: tokio::process::Command,
    home: &Path,
    venv: Option<&Path>,
    extra: &[(&str, String)],
    (limit, limits, uid): (Duration, ResourceLimits, Option<u32>),
    cancel: &CancellationToken,
) -> std::io::Result<Ended> {
    command.env_clear();
    for (name, value) in extra {
        command.env(name, value);
    }
    let mut path = String::new();
    if let Some(venv) = venv {
        path.push_str(&format!("{}:", venv.join("bin").display()));
        command.env("VIRTUAL_ENV", venv);
    }
    path.push_str("/usr/local/bin:/usr/bin:/bin");
    command
        .env("PATH", path)
        .env("HOME", home)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PY_COLORS", "0")
        .env("NO_COLOR", "1");
    for name in PASSED {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    if std::env::var_os("PIP_CACHE_DIR").is_none()
        && let Some(cache) = user_cache()
    {
        command.env("XDG_CACHE_HOME", cache);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let limited = apply_limits(&mut command, limits, uid);
    let child = command.spawn()?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let output = child.wait_with_output();
    let ended = tokio::select! {
        out = output => {
            let out = out?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let lines: Vec<String> = tail(&text).lines().map(str::to_owned).collect();
            match limited.verdict(Some(out.status), &lines) {
                Some(exceeded) => Ended::Limit(exceeded, text),
                None => Ended::Exited(out.status.code().unwrap_or(-1), text),
            }
        }
        () = tokio::time::sleep(limit) => Ended::TimedOut(String::new()),
        () = cancel.cancelled() => Ended::Cancelled,
        exceeded = limited.exceeded() => Ended::Limit(exceeded, String::new()),
    };
    // Whatever the leader did, the rest of its group goes too: a process it left behind (detached from
    // the pipes, still running the project's code) must not outlive the command, nor race the hand-back
    // of the work tree to the bot.
    kill_group(pid);
    limited.kill();
    Ok(ended)
}

/// The bot's own package cache (so setup installs from it on the next run).
fn user_cache() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
}

/// The last [`TAIL_LINES`] lines of `text`.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_is_derived_from_the_repositorys_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(default_setup(root), ["python -m pip install pytest"]);
        std::fs::write(root.join("requirements.txt"), "x\n").unwrap();
        std::fs::write(
            root.join("pyproject.toml"),
            "[project]\nname = \"p\"\n[project.optional-dependencies]\ntesting = [\"pytest\"]\ndocs = [\"x\"]\n",
        )
        .unwrap();
        assert_eq!(
            default_setup(root),
            [
                "python -m pip install -r requirements.txt",
                "python -m pip install -e '.[testing]'",
                "python -m pip install pytest"
            ]
        );
    }
}
