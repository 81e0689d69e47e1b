//! The announcer: turns "a run was queued behind another" events from intake into at most one refresh of
//! the issue's "N more requests wait" note (on its progress comment) per [`INTERVAL`], off the request
//! path.
//!
//! Invariants:
//! - Intake never waits for it: intake only tries to put the trigger in a bounded channel ([`start`]
//!   hands out its sender), and a full channel drops it (the running run refreshes the note at its next
//!   edit anyway).
//! - The count is read from the queue (queued run jobs of the issue), never kept in memory, so every
//!   refresh shows the current number and a note disappears when the line is empty.
//! - Only a sender who may run the bot is announced: a comment trigger's sender is checked first, with
//!   the run's own check (`authorise::weak_sender`), so a read-only user's `/metagpt …` never makes the
//!   bot edit the issue (their job is refused with a reply when its turn comes). Only the App's own
//!   progress comment is edited, never one another bot planted with the marker.
//! - A burst of triggers for one issue costs GitHub one refresh, not one per trigger: triggers arriving
//!   within [`INTERVAL`] of the issue's last refresh wait and are coalesced into the next one. The count is
//!   read from the queue when the refresh happens, so coalescing loses no request.
//! - A coalesced group keeps up to [`MAX_SENDERS`] distinct senders; the note is refreshed when the first
//!   of them passes the permission check, so an unauthorised sender's request alone never changes the
//!   issue.
//! - One refresh at a time, each bounded by [`TIMEOUT`]. After a refresh fails (GitHub unreachable or
//!   refusing), refreshes pause for [`PAUSE`]: groups falling due meanwhile are dropped, not retried, so
//!   an outage costs no stream of doomed token mints (each one an RSA signature).
//! - The task ends when intake drops the sender.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::time::DelayQueue;

use super::{authorise, voice};
use crate::domain::Trigger;
use crate::github::{GitHubApp, GitHubError, Repo};
use crate::marks;
use crate::queue::Queue;

/// Shortest time between two refreshes of one issue's note.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Triggers waiting for the announcer before intake drops new ones.
const CHANNEL: usize = 1024;
/// Distinct senders kept per coalesced group.
const MAX_SENDERS: usize = 8;
/// Longest one refresh (permission check, comment lookup, edit) may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long refreshes pause after one failed.
pub const PAUSE: Duration = Duration::from_secs(30);

/// (repository id, issue number).
type IssueKey = (u64, u64);

/// Starts the announcer on the current runtime; returns the sender intake puts queued triggers in.
pub fn start(github: Arc<GitHubApp>, queue: Queue) -> mpsc::Sender<Trigger> {
    let (sender, receiver) = mpsc::channel(CHANNEL);
    tokio::spawn(run(github, queue, receiver));
    sender
}

async fn run(github: Arc<GitHubApp>, queue: Queue, mut receiver: mpsc::Receiver<Trigger>) {
    let mut groups = Groups::default();
    let mut paused_until: Option<Instant> = None;
    loop {
        tokio::select! {
            trigger = receiver.recv() => match trigger {
                Some(trigger) => groups.add(trigger),
                None => break,
            },
            Some(expired) = std::future::poll_fn(|cx| groups.due.poll_expired(cx)) => {
                let key = expired.into_inner();
                let senders = groups.take(key);
                if paused_until.is_some_and(|until| Instant::now() < until) {
                    tracing::debug!(issue = key.1, "GitHub failed recently; the queued note waits");
                    continue;
                }
                if refresh_group(&github, &queue, key, senders).await == Announced::Failed {
                    paused_until = Some(Instant::now() + PAUSE);
                }
            }
        }
    }
}

/// Refreshes the note for the first sender of the group who may run the bot.
async fn refresh_group(
    github: &Arc<GitHubApp>,
    queue: &Queue,
    key: IssueKey,
    senders: Vec<Trigger>,
) -> Announced {
    let mut last = Announced::Done;
    for trigger in senders {
        last = match tokio::time::timeout(TIMEOUT, announce(github, queue, &trigger)).await {
            Ok(announced) => announced,
            Err(_) => {
                tracing::warn!(issue = key.1, "announcing a queued run timed out");
                Announced::Failed
            }
        };
        if last != Announced::SenderMayNot {
            break;
        }
    }
    last
}

/// Triggers waiting for their issue's next refresh, and when each issue was last refreshed.
#[derive(Default)]
struct Groups {
    waiting: HashMap<IssueKey, Vec<Trigger>>,
    due: DelayQueue<IssueKey>,
    last: HashMap<IssueKey, Instant>,
}

impl Groups {
    fn add(&mut self, trigger: Trigger) {
        let key = (trigger.repo.id, trigger.work_issue());
        let wait = self
            .last
            .get(&key)
            .map_or(Duration::ZERO, |at| INTERVAL.saturating_sub(at.elapsed()));
        let group = self.waiting.entry(key).or_insert_with(|| {
            self.due.insert(key, wait);
            Vec::new()
        });
        let new_sender = group.iter().all(|t| t.sender_id != trigger.sender_id);
        if new_sender && group.len() < MAX_SENDERS {
            group.push(trigger);
        }
    }

    /// The group of `key`, now due; records the refresh and forgets refreshes older than the interval.
    fn take(&mut self, key: IssueKey) -> Vec<Trigger> {
        let now = Instant::now();
        self.last.retain(|_, at| now.duration_since(*at) < INTERVAL);
        self.last.insert(key, now);
        self.waiting.remove(&key).unwrap_or_default()
    }
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
pub async fn announce(github: &Arc<GitHubApp>, queue: &Queue, trigger: &Trigger) -> Announced {
    try_announce(github, queue, trigger)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(issue = trigger.work_issue(), %error, "could not announce a queued run");
            Announced::Failed
        })
}

async fn try_announce(
    github: &Arc<GitHubApp>,
    queue: &Queue,
    trigger: &Trigger,
) -> Result<Announced, GitHubError> {
    let Some(installation) = trigger.installation_id else {
        return Ok(Announced::Done);
    };
    let (owner, name) = (&trigger.repo.owner, &trigger.repo.name);
    let repo = Repo::for_installation(github.clone(), installation, owner, name).await?;
    if let Some(permission) = authorise::weak_sender(&repo, trigger).await? {
        tracing::info!(
            issue = trigger.work_issue(), sender = %trigger.sender_login, %permission,
            "not announcing a request its sender may not make"
        );
        return Ok(Announced::SenderMayNot);
    }
    refresh(&repo, queue, trigger).await?;
    Ok(Announced::Done)
}

/// Rewrites the note of the issue's progress comment, if there is one (the running run creates it
/// otherwise, with the note).
async fn refresh(repo: &Repo, queue: &Queue, trigger: &Trigger) -> Result<(), GitHubError> {
    let (repo_id, issue) = (trigger.repo.id, trigger.work_issue());
    let Some(comment) = repo.find_own_comment(issue, marks::PROGRESS).await? else {
        return Ok(());
    };
    let waiting = match queue.waiting(repo_id, issue).await {
        Ok(waiting) => waiting,
        Err(error) => {
            tracing::warn!(%error, "cannot count queued runs");
            return Ok(());
        }
    };
    let body = voice::with_queued_note(&comment.body, waiting);
    if body != comment.body {
        repo.update_comment(comment.id, &body).await?;
    }
    Ok(())
}
