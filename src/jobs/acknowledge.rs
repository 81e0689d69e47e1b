//! How a trigger shows on GitHub once the pipeline takes it: a 👀 on what started it, and a few words
//! naming it in the progress comment.
//!
//! Invariant: acknowledging is best effort (a failed reaction is logged, never fails the run), and it
//! happens only after [`super::label::gate`] let the run through.

use super::session::Session;
use crate::domain::{Action, Trigger};
use crate::github::{ReactionTarget, add_reaction};

/// A 👀 on the trigger (the labelled issue, or the comment). Best effort.
pub async fn acknowledge(session: &Session, trigger: &Trigger) {
    let target = match &trigger.action {
        Action::Run { .. } | Action::Label { .. } => ReactionTarget::Issue(trigger.issue_number),
        Action::Iterate { comment_id, .. }
        | Action::Retry { comment_id }
        | Action::Stop { comment_id } => ReactionTarget::Comment(*comment_id),
    };
    let (owner, name) = (&trigger.repo.owner, &trigger.repo.name);
    if let Err(error) = add_reaction(session.client(), owner, name, target, "eyes").await {
        tracing::warn!(%error, "could not react to the trigger");
    }
}

/// A few words for the progress comment.
pub fn describe(trigger: &Trigger) -> String {
    match &trigger.action {
        Action::Run { .. } => format!("run for @{}'s label", trigger.sender_login),
        Action::Iterate { .. } => format!("iteration asked by @{}", trigger.sender_login),
        Action::Retry { .. } => format!("retry asked by @{}", trigger.sender_login),
        Action::Stop { .. } => format!("stop asked by @{}", trigger.sender_login),
        Action::Label { .. } => format!("label check for @{}'s label", trigger.sender_login),
    }
}
