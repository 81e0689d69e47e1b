//! The announcer: turns "a run was queued behind another" events from intake into at most one refresh of
//! an issue's "N more requests wait" note per [`INTERVAL`], off the request path.
//!
//! Invariants:
//! - Intake never waits for it: the hook only tries to put the trigger in a bounded channel, and a full
//!   channel drops it (the running run refreshes the note at its next edit anyway).
//! - A burst of triggers for one issue costs GitHub one refresh, not one per trigger: triggers arriving
//!   within [`INTERVAL`] of the issue's last refresh wait and are coalesced into the next one. The count is
//!   read from the queue when the refresh happens, so coalescing loses no request.
//! - A coalesced group keeps up to [`MAX_SENDERS`] distinct senders; the note is refreshed when the first
//!   of them passes the permission check (see `queued`), so an unauthorised sender's request alone never
//!   changes the issue.
//! - One refresh at a time, each bounded by [`TIMEOUT`]. After a refresh fails (GitHub unreachable or
//!   refusing), refreshes pause for [`PAUSE`]: groups falling due meanwhile are dropped, not retried, so
//!   an outage costs no stream of doomed token mints (each one an RSA signature).
//! - The task ends when intake drops the hook.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::time::DelayQueue;

use super::queued::{Announced, announce};
use crate::domain::Trigger;
use crate::github::GitHubApp;
use crate::http::QueuedHook;
use crate::queue::Queue;

/// Shortest time between two refreshes of one issue's note.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Triggers waiting for the announcer before the hook drops new ones.
const CHANNEL: usize = 1024;
/// Distinct senders kept per coalesced group.
const MAX_SENDERS: usize = 8;
/// Longest one refresh (permission check, comment lookup, edit) may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long refreshes pause after one failed.
pub const PAUSE: Duration = Duration::from_secs(30);

/// (repository id, issue number).
type IssueKey = (u64, u64);

/// Starts the announcer on the current runtime; returns the hook intake calls.
pub fn start(github: Arc<GitHubApp>, queue: Queue) -> QueuedHook {
    let (sender, receiver) = mpsc::channel(CHANNEL);
    tokio::spawn(run(github, queue, receiver));
    Arc::new(move |trigger: Trigger, _ahead: i64| {
        if sender.try_send(trigger).is_err() {
            tracing::debug!("the announcer is busy; the queued note waits for the run's next edit");
        }
    })
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
    github: &GitHubApp,
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
