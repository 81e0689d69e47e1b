//! The progress comment's "waiting behind" note: when runs of an issue queue behind the one under way,
//! its progress comment says how many, as soon as they are accepted and at every later edit.
//!
//! Invariants:
//! - The note is the comment's last part, after [`marks::QUEUED`]; replacing it never touches the status
//!   above it, so intake can refresh it without knowing the running job's state.
//! - The count is read from the queue (queued run jobs of the issue), never kept in memory, so every
//!   edit shows the current number and a note disappears when the line is empty.
//! - Only a sender who may run the bot is announced: a comment trigger's sender is checked first, with
//!   the pipeline's own check ([`weak_sender`]), so a read-only user's `/metagpt …` never makes the bot
//!   edit the issue (their job is refused with a reply when its turn comes). Only the App's own progress
//!   comment is edited, never one another bot planted with the marker.
//! - Announcing is best effort and runs after the webhook was answered, through the `announcer`, which
//!   rate-limits it per issue: it never delays or fails intake.

use octocrab::Octocrab;

use super::target::weak_sender;
use crate::domain::Trigger;
use crate::github::{GitHubApp, GitHubError, OwnAuthor, find_comment, update_comment};
use crate::marks;
use crate::queue::Queue;

/// `body` with its note replaced by one for `waiting` queued runs (removed when none).
pub fn with_note(body: &str, waiting: i64) -> String {
    let status = body
        .find(marks::QUEUED)
        .map_or(body, |at| &body[..at])
        .trim_end();
    if waiting <= 0 {
        return format!("{status}\n");
    }
    let runs = if waiting == 1 {
        "1 more request for this issue waits".to_owned()
    } else {
        format!("{waiting} more requests for this issue wait")
    };
    format!(
        "{status}\n\n{}\n⏳ {runs} behind this run and starts when it has finished.\n",
        marks::QUEUED
    )
}

/// How one announcement went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// The note is current (or the issue has no progress comment yet).
    Done,
    /// The sender may not run the bot: nothing was changed (the announcer tries the group's next sender).
    SenderMayNot,
    /// GitHub could not be reached or refused; logged.
    Failed,
}

/// Refreshes the note of `trigger`'s issue after `trigger` was queued behind another run.
pub async fn announce(github: &GitHubApp, queue: &Queue, trigger: &Trigger) -> Announced {
    try_announce(github, queue, trigger)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(issue = trigger.work_issue(), %error, "could not announce a queued run");
            Announced::Failed
        })
}

async fn try_announce(
    github: &GitHubApp,
    queue: &Queue,
    trigger: &Trigger,
) -> Result<Announced, GitHubError> {
    let Some(installation) = trigger.installation_id else {
        return Ok(Announced::Done);
    };
    let client = github.installation(installation).await?;
    if let Some(permission) = weak_sender(&client, trigger).await? {
        tracing::info!(
            issue = trigger.work_issue(), sender = %trigger.sender_login, %permission,
            "not announcing a request its sender may not make"
        );
        return Ok(Announced::SenderMayNot);
    }
    refresh(&client, queue, trigger, &OwnAuthor::App(github.app_id())).await?;
    Ok(Announced::Done)
}

/// Rewrites the note of the issue's progress comment, if there is one (the running run creates it
/// otherwise, with the note).
async fn refresh(
    client: &Octocrab,
    queue: &Queue,
    trigger: &Trigger,
    we: &OwnAuthor,
) -> Result<(), GitHubError> {
    let (owner, name) = (trigger.repo.owner.as_str(), trigger.repo.name.as_str());
    let (repo_id, issue) = (trigger.repo.id, trigger.work_issue());
    let Some(comment) = find_comment(client, owner, name, issue, marks::PROGRESS, we).await? else {
        return Ok(());
    };
    let waiting = match queue.waiting(repo_id, issue).await {
        Ok(waiting) => waiting,
        Err(error) => {
            tracing::warn!(%error, "cannot count queued runs");
            return Ok(());
        }
    };
    let body = with_note(&comment.body, waiting);
    if body != comment.body {
        update_comment(client, owner, name, comment.id, &body).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_follows_the_status_and_is_replaced_or_removed() {
        let status = "<!-- metagpt-bot:progress -->\nRunning.\n";
        let one = with_note(status, 1);
        assert!(one.starts_with(status.trim_end()));
        assert!(one.contains("1 more request for this issue waits behind this run"));
        let two = with_note(&one, 2);
        assert!(two.contains("2 more requests for this issue wait"));
        assert_eq!(two.matches(marks::QUEUED).count(), 1);
        assert_eq!(with_note(&two, 0), status);
    }
}
