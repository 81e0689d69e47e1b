//! Why an agent run did not succeed, each with what to do about it.
//!
//! Invariant: every variant that follows a started process carries the tail of its output, so the error
//! a user reads is enough to see what MetaGPT was doing when it stopped.

use std::path::PathBuf;
use std::time::Duration;

use super::limits::Exceeded;
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
         is not searchable by it; nothing was run. To fix: keep WORK_DIR and the interpreters under \
         directories others may enter (`chmod o+x {}` allows entering, not listing), or set AGENT_UID=0 \
         to run the agent as root",
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

    /// The agent, or code and tests it ran, hit a resource limit; the run was stopped.
    #[error(
        "the run's code and tests {} and were stopped ({}). Look in the output below for a test that \
         loops, forks or allocates without end; if the project really needs more, the operator can raise \
         {}\n{}",
        exceeded.what(),
        exceeded.how(),
        exceeded.setting(),
        tail(log_tail)
    )]
    LimitExceeded {
        exceeded: Exceeded,
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
            AgentError::LimitExceeded {
                mut exceeded,
                log_tail,
            } => {
                if let super::limits::Detected::Output(line) = exceeded.detected {
                    exceeded.detected = super::limits::Detected::Output(text(line));
                }
                AgentError::LimitExceeded {
                    exceeded,
                    log_tail: lines(log_tail),
                }
            }
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
            | AgentError::LimitExceeded { log_tail, .. }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResourceLimits;
    use crate::run::agent::limits::{Detected, Hit};

    #[test]
    fn a_limit_hit_names_the_limit_its_setting_and_how_it_was_seen() {
        let error = |hit, detected| AgentError::LimitExceeded {
            exceeded: Exceeded {
                hit,
                limits: ResourceLimits::default(),
                detected,
            },
            log_tail: vec!["hostile stand-in".into()],
        };
        let text = [
            error(Hit::Memory, Detected::Cgroup),
            error(
                Hit::Processes,
                Detected::Output(
                    "BlockingIOError: [Errno 11] Resource temporarily unavailable".into(),
                ),
            ),
            error(Hit::Cpu, Detected::Signal("SIGXCPU")),
        ]
        .map(|e| e.to_string())
        .join("\n\n");
        insta::assert_snapshot!("limit_exceeded", text);
    }

    use crate::config::SandboxMode;

    #[test]
    fn a_missing_forced_sandbox_says_why_and_what_to_do() {
        let bwrap = AgentError::SandboxUnavailable {
            unusable: super::super::sandbox::Unusable {
                mode: SandboxMode::Bwrap,
                why: "`bwrap` (bubblewrap) was not found on PATH".into(),
            },
        };
        insta::assert_snapshot!("sandbox_unavailable_bwrap", bwrap.to_string());
        let landlock = AgentError::SandboxUnavailable {
            unusable: super::super::sandbox::Unusable {
                mode: SandboxMode::Landlock,
                why: "the Landlock launcher cannot create the sandbox (exit status: 126): \
                      metagpt-bot confine: Landlock cannot confine the agent here: the kernel offers \
                      Landlock ABI 3, and the agent's sandbox needs ABI 4 (Linux 6.7) for its TCP rules \
                      (nothing was executed)"
                    .into(),
            },
        };
        insta::assert_snapshot!("sandbox_unavailable_landlock", landlock.to_string());
    }

    #[test]
    fn an_agent_user_that_cannot_reach_its_interpreter_is_told_which_directory_stops_it() {
        let error = AgentError::AgentUserCannotReach {
            uid: 65534,
            path: "/root/.pyenv/versions/3.11.7/bin/python3.11".into(),
            dir: "/root".into(),
        };
        insta::assert_snapshot!("agent_user_cannot_reach", error.to_string());
    }
}
