//! `metagpt-bot doctor`: checks settings, credentials, database, the GitHub App as GitHub has it
//! (`github.rs`), the LLM provider (`llm.rs`), the MetaGPT interpreter, the agent's sandbox and its
//! resource limits, and prints every problem with its fix.
//!
//! Invariants:
//! - Every check runs, even after one failed, so the operator sees all problems at once.
//! - Each check is bounded in time (network and subprocess checks time out) and never prints a secret.
//! - `ready()` is false iff a check failed, and a check fails when a run would fail because of it (a
//!   missing or refused LLM key, an unpriced model, an App without a permission or event the bot needs,
//!   no MetaGPT interpreter); warnings (what an operator should know) do not fail it.

use std::time::Duration;

use secrecy::ExposeSecret;

use crate::config::SandboxMode;
use crate::config::{Settings, redact_url};
use crate::queue::{Queue, QueueOptions};
use crate::run::agent::{
    LimitMechanism, SANDBOX_FIX, SANDBOX_LANDLOCK_FIX, SANDBOX_NONE_FIX, SandboxChoice, Sandboxed,
    UNSANDBOXED_LETS_THROUGH,
};

mod github;
mod llm;

const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub what: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(what: impl Into<String>) -> Self {
        Self {
            status: Status::Ok,
            what: what.into(),
            fix: None,
        }
    }
    fn fail(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }
    fn warn(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status: Status::Warn,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }
}

/// All checks, in the order they ran.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for check in &self.checks {
            let tag = match check.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            writeln!(f, "{tag}  {}", check.what)?;
            if let Some(fix) = &check.fix {
                writeln!(f, "      fix: {fix}")?;
            }
        }
        let verdict = if self.ready() { "ready" } else { "not ready" };
        write!(
            f,
            "{verdict}: {} checks, {} failed",
            self.checks.len(),
            self.checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .count()
        )
    }
}

/// Runs every check.
pub async fn run(settings: &Settings) -> Report {
    let mut report = Report::default();
    let problems = settings.problems();
    if problems.is_empty() {
        report.checks.push(Check::ok(
            "App settings complete (APP_ID, private key, WEBHOOK_SECRET)",
        ));
    }
    report
        .checks
        .extend(problems.into_iter().map(|p| Check::fail(p.what, p.fix)));
    report.checks.push(check_database(settings).await);
    report.checks.extend(github::check(settings).await);
    report.checks.extend(llm::check(settings).await);
    report.checks.push(check_metagpt(settings).await);
    report.checks.push(check_sandbox(settings));
    report.checks.push(check_limits(settings));
    report
}

/// What one run's processes may use (`AGENT_MEMORY_MB`, `AGENT_MAX_PROCESSES`, `AGENT_CPU_SECS`,
/// `RUN_TIMEOUT_SECS`) and by which mechanism; a warning where a limit is off or cannot be enforced.
fn check_limits(settings: &Settings) -> Check {
    let limits = settings.agent_limits;
    let mechanism = crate::run::agent::limit_mechanism();
    let value = |n: u64, text: String| if n == 0 { "none".to_owned() } else { text };
    let what = format!(
        "run limits: memory {}, processes {}, CPU {} per process, wall {} s; by {mechanism}",
        value(limits.memory_mb, format!("{} MiB", limits.memory_mb)),
        value(limits.processes, limits.processes.to_string()),
        value(limits.cpu_secs, format!("{} s", limits.cpu_secs)),
        settings.run_timeout.as_secs(),
    );
    let off: Vec<&str> = [
        (limits.memory_mb, "AGENT_MEMORY_MB"),
        (limits.processes, "AGENT_MAX_PROCESSES"),
        (limits.cpu_secs, "AGENT_CPU_SECS"),
    ]
    .into_iter()
    .filter(|(n, _)| *n == 0)
    .map(|(_, name)| name)
    .collect();
    // A root bot's agent runs as AGENT_UID, whose processes RLIMIT_NPROC counts; kept root, it binds nothing.
    let unenforced = matches!(mechanism, LimitMechanism::Rlimits(_))
        && limits.processes > 0
        && rustix::process::getuid().is_root()
        && settings.agent_uid == 0;
    if !off.is_empty() {
        Check::warn(
            format!("{what}; {} = 0: no limit", off.join(", ")),
            "set a limit (unset, the defaults are 2048 MiB, 512 processes, 1800 s) so that one runaway \
             test cannot take the host down",
        )
    } else if unenforced {
        Check::warn(
            format!(
                "{what}; no process limit: the bot runs as root, which RLIMIT_NPROC does not bind"
            ),
            LIMITS_FIX,
        )
    } else {
        Check::ok(what)
    }
}

/// How to give the bot a cgroup it may use.
const LIMITS_FIX: &str = "give the bot a cgroup v2 of its own with the memory and pids controllers \
     (systemd: Delegate=yes in its unit; Docker: a writable cgroup, e.g. --cgroupns=private with \
     /sys/fs/cgroup mounted rw, or --privileged), or run it as a user other than root";

/// Which sandbox the agent will run in (`AGENT_SANDBOX`), why, and what it lets through.
fn check_sandbox(settings: &Settings) -> Check {
    let mode = settings.agent_sandbox;
    let run_as = crate::run::agent::RunAs::for_this_bot(settings.agent_uid);
    match &crate::run::agent::choose_sandbox(mode, run_as) {
        Ok(SandboxChoice::Sandboxed(sandbox @ Sandboxed::Bwrap(bwrap))) => {
            match crate::run::agent::sandbox_network(bwrap, run_as) {
                Ok(()) => Check::ok(format!(
                    "agent sandbox: bubblewrap ({} works; AGENT_SANDBOX={mode}), with a network of its \
                     own that reaches only the LLM gateway: {}",
                    bwrap.display(),
                    sandbox.lets_through()
                )),
                Err(why) => Check::warn(
                    format!(
                        "agent sandbox: bubblewrap ({} works; AGENT_SANDBOX={mode}) on the host's network: \
                         a network namespace of its own failed ({why}), so the agent can reach the \
                         host's local services and whatever the host can",
                        bwrap.display()
                    ),
                    crate::run::agent::SANDBOX_NETWORK_FIX,
                ),
            }
        }
        Ok(SandboxChoice::Sandboxed(sandbox @ Sandboxed::Landlock(_)))
            if mode == SandboxMode::Auto =>
        {
            Check::warn(
                format!(
                    "agent sandbox: Landlock and seccomp (AGENT_SANDBOX=auto; bubblewrap cannot run here): {}",
                    sandbox.lets_through()
                ),
                SANDBOX_FIX,
            )
        }
        Ok(SandboxChoice::Sandboxed(sandbox)) => Check::ok(format!(
            "agent sandbox: Landlock and seccomp (AGENT_SANDBOX={mode}): {}",
            sandbox.lets_through()
        )),
        Ok(SandboxChoice::Unsandboxed(why)) if mode == SandboxMode::Off => Check::warn(
            format!(
                "agent sandbox: none, the agent runs unsandboxed ({why}) and can reach {UNSANDBOXED_LETS_THROUGH}"
            ),
            SANDBOX_NONE_FIX,
        ),
        Ok(SandboxChoice::Unsandboxed(why)) => Check::warn(
            format!(
                "agent sandbox: none, the agent runs unsandboxed (AGENT_SANDBOX={mode}): {why}; it can \
                 reach {UNSANDBOXED_LETS_THROUGH}"
            ),
            format!("{SANDBOX_FIX}; or: {SANDBOX_LANDLOCK_FIX}"),
        ),
        Err(unusable) => Check::fail(
            format!(
                "agent sandbox: AGENT_SANDBOX={} but {unusable}; runs are refused",
                unusable.mode
            ),
            unusable.fix(),
        ),
    }
}

async fn check_database(settings: &Settings) -> Check {
    let url = settings.database_url.expose_secret();
    let shown = redact_url(url);
    let result = tokio::time::timeout(CHECK_TIMEOUT, async {
        let queue = Queue::connect(url, QueueOptions::default()).await?;
        queue.ping().await
    })
    .await;
    match result {
        Ok(Ok(())) => Check::ok(format!("database {shown} reachable, migrations applied")),
        Ok(Err(e)) => Check::fail(
            format!("database {shown} cannot be used: {e:#}"),
            "set DATABASE_URL to sqlite://PATH (the folder must be writable) or postgres://USER:PASSWORD@HOST:PORT/DB of a running server",
        ),
        Err(_) => Check::fail(
            format!("database {shown} did not answer within {CHECK_TIMEOUT:?}"),
            "check that the database server is running and reachable from this host (firewall, port)",
        ),
    }
}

async fn check_metagpt(settings: &Settings) -> Check {
    let Some(python) = &settings.metagpt_python else {
        return Check::fail(
            "METAGPT_PYTHON is not set: runs need an interpreter with metagpt 0.8.2 installed",
            "run scripts/install-metagpt.sh and set METAGPT_PYTHON to the interpreter it prints",
        );
    };
    let probe = tokio::process::Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('metagpt'))",
        ])
        .env_clear()
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(out)) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if version == "0.8.2" {
                Check::ok(format!(
                    "MetaGPT {version} installed for {}",
                    python.display()
                ))
            } else {
                Check::fail(
                    format!(
                        "{} has metagpt {version}; the bot is built for 0.8.2",
                        python.display()
                    ),
                    "run scripts/install-metagpt.sh to create an environment with metagpt 0.8.2",
                )
            }
        }
        Ok(Ok(out)) => Check::fail(
            format!(
                "{} has no metagpt package: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            ),
            "run scripts/install-metagpt.sh and set METAGPT_PYTHON to the interpreter it prints",
        ),
        Ok(Err(e)) => Check::fail(
            format!("METAGPT_PYTHON {} cannot be started: {e}", python.display()),
            "set METAGPT_PYTHON to the path of a Python 3.11 interpreter (e.g. .venv/bin/python)",
        ),
        Err(_) => Check::fail(
            format!(
                "METAGPT_PYTHON {} did not answer within {CHECK_TIMEOUT:?}",
                python.display()
            ),
            "check that the interpreter starts (try it by hand)",
        ),
    }
}
