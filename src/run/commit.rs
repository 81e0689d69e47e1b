//! The run's one commit: everything the agent and the evidence wrote, as the bot, with a message that
//! names the target, the iteration and the gates' verdict (and the caller's trailer, e.g. the job).
//!
//! Invariant: the commit is made only after the evidence is written and protected paths are restored.

use super::{Plan, finish};
use crate::workspace::{BOT_NAME, CommitOutcome, CommitRequest};

pub(super) fn commit(
    plan: &Plan<'_>,
    iteration: u32,
    written: &finish::Written,
) -> Result<Option<git2::Oid>, String> {
    let verdict = if written.gates.passed {
        "All quality gates passed.".to_owned()
    } else {
        let failed: Vec<&str> = written
            .gates
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| g.name.as_str())
            .collect();
        format!("Quality gates failed: {}.", failed.join(", "))
    };
    let mut body = format!("{}\n\n{verdict}\nEvidence: {}/", plan.title, written.dir);
    if let Some(trailer) = &plan.trailer {
        body.push_str("\n\n");
        body.push_str(trailer);
    }
    let outcome = plan
        .workspace
        .commit_all(&CommitRequest {
            subject: plan.subject.clone(),
            iteration,
            body: &body,
            email: plan.email,
        })
        .map_err(|e| format!("committing as {BOT_NAME}: {e}"))?;
    Ok(match outcome {
        CommitOutcome::Committed(id) => Some(id),
        CommitOutcome::NoChanges => None,
    })
}
