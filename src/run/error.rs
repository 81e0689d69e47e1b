//! Why a run reached no verdict ([`RunError`]), typed by what a caller does about it: a cancelled run
//! is reported as stopped, an agent failure as the run's failure, a git failure keeps the workspace
//! error (transient or permanent) it came from.
//!
//! Invariants:
//! - Every message is for a person and carries no secret: the provider key and the run token are
//!   redacted from the agent's and the gateway's free text when the error is made, and every message is
//!   redacted of credential shapes (which include every run token) when it is shown.
//! - An error after money was spent says how much, against the budget: "spent $x of $y. Nothing was
//!   committed." (nothing is, when a run fails: the work tree is left as the agent wrote it). An agent
//!   failure also says how far MetaGPT got ([`SoFar`]): its last step, and the calls and tokens paid for.

use std::fmt;

use crate::redact::redact;
use crate::run::agent::AgentError;
use crate::run::evidence::{Budget, EvidenceError};
use crate::workspace::WorkspaceError;

#[derive(Debug)]
pub enum RunError {
    /// The run was cancelled (`/metagpt stop`, a lost lease, Ctrl-C) before its verdict; `detail` says
    /// what was under way.
    Cancelled {
        detail: String,
        spent: Option<Budget>,
    },
    /// MetaGPT did not succeed: it failed (an answer it could not use, the budget refused a call, the
    /// provider kept failing), ran out of time, crashed or could not be started; or the run's code hit
    /// a resource limit (in MetaGPT's step, or in the project's suite after it).
    Agent {
        error: AgentError,
        spent: Budget,
        /// Boxed: it would make every `Result<_, RunError>` larger.
        so_far: Box<SoFar>,
    },
    /// The LLM gateway could not start or open the run; nothing was spent.
    Gateway { detail: String },
    /// The run's private temporary directory could not be made; nothing was spent.
    Scratch(std::io::Error),
    /// The project's own environment could not be prepared (the repository's `setup` failed); nothing
    /// was spent.
    Setup { detail: String },
    /// The evidence could not be gathered, rendered or written.
    Evidence { error: EvidenceError, spent: Budget },
    /// A git or work-tree operation failed: writing the issue text, restoring protected paths, reading
    /// the diff, committing.
    Git {
        error: WorkspaceError,
        spent: Option<Budget>,
    },
}

/// How far MetaGPT got before it failed: the step of the last message in its trace, and the calls
/// the gateway forwarded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoFar {
    pub last_step: Option<String>,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl fmt::Display for SoFar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = self.last_step.as_deref().map_or_else(
            || "no step finished".to_owned(),
            |step| format!("the last step finished was {step}"),
        );
        write!(
            f,
            "Before it failed, {step}; {} LLM call(s), {} prompt and {} completion tokens.",
            self.calls, self.prompt_tokens, self.completion_tokens
        )
    }
}

impl RunError {
    /// What the run had spent, in USD (0 when it failed before its first LLM call).
    pub fn spent_usd(&self) -> f64 {
        self.spent().map_or(0.0, |b| b.spent_usd)
    }

    /// What the run had spent against its budget, when it got as far as the agent.
    pub fn spent(&self) -> Option<Budget> {
        match self {
            RunError::Cancelled { spent, .. } | RunError::Git { spent, .. } => *spent,
            RunError::Agent { spent, .. } | RunError::Evidence { spent, .. } => Some(*spent),
            RunError::Gateway { .. } | RunError::Scratch(_) | RunError::Setup { .. } => None,
        }
    }

    /// The same failure as a cancellation: a run that was cancelled while it failed was stopped.
    pub(crate) fn cancelled(self) -> RunError {
        match self {
            RunError::Cancelled { .. } => self,
            other => RunError::Cancelled {
                spent: other.spent(),
                detail: other.reason(),
            },
        }
    }

    /// What went wrong, without what was spent.
    fn reason(&self) -> String {
        match self {
            RunError::Cancelled { detail, .. } | RunError::Gateway { detail } => detail.clone(),
            RunError::Setup { detail } => format!(
                "the project's environment could not be prepared before MetaGPT started: {detail}. Fix \
                 the repository's `setup` in {} (or its requirements) and try again",
                crate::marks::SETTINGS_PATH
            ),
            RunError::Agent { error, .. } => error.to_string(),
            RunError::Scratch(error) => {
                format!("cannot create a private temporary directory: {error}")
            }
            RunError::Evidence { error, .. } => error.to_string(),
            RunError::Git { error, .. } => error.to_string(),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.reason();
        if let RunError::Agent { so_far, .. } = self {
            text.push_str(&format!("\n{so_far}"));
        }
        if let Some(spent) = self.spent() {
            text.push_str(&format!(
                "\nspent ${:.4} of ${:.2}. Nothing was committed.",
                spent.spent_usd, spent.max_usd
            ));
        }
        f.write_str(&redact(&text, &[]))
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Agent { error, .. } => Some(error),
            RunError::Scratch(error) => Some(error),
            RunError::Evidence { error, .. } => Some(error),
            RunError::Git { error, .. } => Some(error),
            RunError::Cancelled { .. } | RunError::Gateway { .. } | RunError::Setup { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(spent_usd: f64) -> Budget {
        Budget {
            spent_usd,
            max_usd: 3.0,
            exhausted: false,
        }
    }

    #[test]
    fn a_failure_after_the_agent_says_what_was_spent_and_that_nothing_was_committed() {
        let error = RunError::Agent {
            error: AgentError::Crashed {
                how: "exited (signal 9) without writing its result".into(),
                log_tail: vec!["Killed".into()],
            },
            spent: budget(0.0123),
            so_far: Box::new(SoFar {
                last_step: Some("Bob: WriteDesign".into()),
                calls: 3,
                prompt_tokens: 4000,
                completion_tokens: 1200,
            }),
        };
        let text = error.to_string();
        assert!(
            text.starts_with("the MetaGPT wrapper exited (signal 9)"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nBefore it failed, the last step finished was Bob: WriteDesign; 3 LLM call(s), 4000 \
                 prompt and 1200 completion tokens.\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("\nspent $0.0123 of $3.00. Nothing was committed."),
            "{text}"
        );
        assert_eq!(error.spent_usd(), 0.0123);
        let gateway = RunError::Gateway {
            detail: "binding the LLM gateway on 127.0.0.1: address in use".into(),
        };
        assert!(!gateway.to_string().contains("spent"), "{gateway}");
        assert_eq!(gateway.spent_usd(), 0.0);
    }

    #[test]
    fn credential_shapes_never_reach_the_message_and_known_secrets_are_redacted_when_made() {
        let token = "mgb-0123456789abcdef0123456789abcdef";
        let key = "provider-key-without-a-known-shape";
        let error = RunError::Agent {
            error: AgentError::Failed {
                message: format!("openai said: bad key {key} for {token}"),
                flow: None,
                rounds: 2,
                metagpt_cost: Default::default(),
                log_tail: vec![format!("Authorization: Bearer {token}")],
            }
            .redacted(&[key, token]),
            spent: budget(0.5),
            so_far: Box::default(),
        };
        let text = error.to_string();
        assert!(!text.contains(token) && !text.contains(key), "{text}");
        let shaped = RunError::Git {
            error: WorkspaceError::UnsafePath {
                path: format!("notes/{token}.txt"),
                reason: "a symlink".into(),
            },
            spent: None,
        };
        assert!(!shaped.to_string().contains(token), "{shaped}");
    }

    #[test]
    fn a_failure_while_cancelled_is_a_cancellation_with_the_same_reason_and_spending() {
        let failed = RunError::Evidence {
            error: EvidenceError::Json {
                path: "docs/prd/x.json".into(),
                message: "expected value".into(),
            },
            spent: budget(1.0),
        };
        let reason = failed.to_string();
        let stopped = failed.cancelled();
        assert!(matches!(stopped, RunError::Cancelled { .. }));
        assert_eq!(stopped.to_string(), reason);
        assert_eq!(stopped.spent_usd(), 1.0);
    }
}
