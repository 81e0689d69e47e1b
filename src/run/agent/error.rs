//! Why an agent run did not succeed, each with what to do about it.
//!
//! Invariant: every variant that follows a started process carries the tail of its output, so the error
//! a user reads is enough to see what MetaGPT was doing when it stopped.

use std::path::PathBuf;
use std::time::Duration;

use super::private::MetagptCost;
use crate::domain::Flow;
use crate::redact::redact;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "MetaGPT's Python interpreter {} is missing or not executable: set METAGPT_PYTHON to the python of a \
         venv with metagpt 0.8.2 (scripts/install-metagpt.sh installs one and prints its path)",
        python.display()
    )]
    InterpreterMissing { python: PathBuf },

    #[error("the repository {} is not a directory", repo.display())]
    RepositoryMissing { repo: PathBuf },

    #[error(
        "source_dir {} must be a relative path inside the repository (no `..`)",
        source_dir.display()
    )]
    BadSourceDir { source_dir: PathBuf },

    #[error(
        "the agent must run in its sandbox (AGENT_SANDBOX={}) but {}; nothing was run. To fix: {}",
        unusable.mode,
        unusable.why,
        unusable.fix()
    )]
    SandboxUnavailable { unusable: super::sandbox::Unusable },

    #[error(
        "the agent runs as its own user (uid {uid}, AGENT_UID; the bot is root) and cannot reach {}: {} \
         is not searchable by it; nothing was run. To fix: `chmod o+x {}` (search only, no listing), \
         or keep WORK_DIR and the interpreters under directories others may enter",
        path.display(),
        dir.display(),
        dir.display()
    )]
    AgentUserCannotReach {
        uid: u32,
        path: PathBuf,
        dir: PathBuf,
    },

    #[error("cannot prepare the agent's private directory: {0}")]
    Setup(#[source] std::io::Error),

    #[error("cannot start {}: {source}", python.display())]
    Spawn {
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "MetaGPT ran out of time after {}s and was stopped; raise the time limit or lower n_round\n{}",
        after.as_secs(),
        tail(log_tail)
    )]
    TimedOut {
        after: Duration,
        log_tail: Vec<String>,
    },

    #[error("the MetaGPT run was cancelled and stopped\n{}", tail(log_tail))]
    Cancelled { log_tail: Vec<String> },

    /// The wrapper reported MetaGPT's own error (bad LLM output, budget, repository layout...).
    #[error(
        "MetaGPT failed{}{}: {message}\n{}",
        flow.map(|f| format!(" in the {} flow", f.as_str())).unwrap_or_default(),
        round_of(*rounds),
        tail(log_tail)
    )]
    Failed {
        message: String,
        flow: Option<Flow>,
        rounds: u32,
        metagpt_cost: MetagptCost,
        log_tail: Vec<String>,
    },

    /// The process ended without a usable result (crash, import error, killed by a signal...).
    #[error(
        "the MetaGPT wrapper {how}; check the interpreter and the log below\n{}",
        tail(log_tail)
    )]
    Crashed { how: String, log_tail: Vec<String> },
}

impl AgentError {
    /// The same error with `secrets` and credential-shaped words redacted from its free text (MetaGPT's
    /// message, the reason, the output's tail).
    pub fn redacted(self, secrets: &[&str]) -> Self {
        let text = |text: String| redact(&text, secrets);
        let lines = |lines: Vec<String>| lines.into_iter().map(text).collect();
        match self {
            AgentError::SandboxUnavailable { unusable } => AgentError::SandboxUnavailable {
                unusable: super::sandbox::Unusable {
                    why: text(unusable.why),
                    ..unusable
                },
            },
            AgentError::TimedOut { after, log_tail } => AgentError::TimedOut {
                after,
                log_tail: lines(log_tail),
            },
            AgentError::Cancelled { log_tail } => AgentError::Cancelled {
                log_tail: lines(log_tail),
            },
            AgentError::Failed {
                message,
                flow,
                rounds,
                metagpt_cost,
                log_tail,
            } => AgentError::Failed {
                message: text(message),
                flow,
                rounds,
                metagpt_cost,
                log_tail: lines(log_tail),
            },
            AgentError::Crashed { how, log_tail } => AgentError::Crashed {
                how: text(how),
                log_tail: lines(log_tail),
            },
            other => other,
        }
    }

    /// The last lines the agent printed, when it ran at all.
    pub fn log_tail(&self) -> &[String] {
        match self {
            AgentError::TimedOut { log_tail, .. }
            | AgentError::Cancelled { log_tail }
            | AgentError::Failed { log_tail, .. }
            | AgentError::Crashed { log_tail, .. } => log_tail,
            _ => &[],
        }
    }
}

fn round_of(rounds: u32) -> String {
    match rounds {
        0 => " before its first round".to_owned(),
        n => format!(" in round {n}"),
    }
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        return "(no output)".to_owned();
    }
    format!("last output:\n{}", lines.join("\n"))
}
