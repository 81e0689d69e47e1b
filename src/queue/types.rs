//! The queue's vocabulary: job states, delivery records and outcomes, what `record` answers, a claimed job,
//! how a job ends, and the tunables. Plain data; stored names are the lowercase names given here.

use std::time::Duration;

use crate::domain::Trigger;

/// Lifecycle of a job. Stored as these lowercase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    /// The name stored in the `state` column (and used as a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The inverse of [`JobState::as_str`].
    pub fn parse(name: &str) -> Option<JobState> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// What happened to one webhook delivery; recorded for every delivery the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A trigger was persisted (a run job enqueued, or for `stop` a control job that applies it later).
    Accepted,
    /// Correctly signed but nothing to do (other event, other label, no command, the bot's own comment…).
    Ignored { reason: String },
    /// Refused (bad signature, malformed payload): recorded for the operator, no job.
    Rejected { reason: String },
}

/// One delivery as the server saw it.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub outcome: DeliveryOutcome,
}

/// The most run jobs ahead that `queued_behind` of [`Recorded::Stored`] counts: the count is read at every
/// intake, and an issue's queue can grow without bound while its run runs, so counting stops here (the
/// progress comment's "N more requests wait" note is counted in full, when it is refreshed).
pub const QUEUED_BEHIND_MAX: i64 = 10;

/// The answer to [`super::Queue::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored; `job_id` is set when a job was enqueued. `queued_behind` counts run jobs of the same issue
    /// that are queued or running ahead of it, up to [`QUEUED_BEHIND_MAX`] (always 0 for a control job:
    /// it waits behind nothing).
    Stored {
        job_id: Option<i64>,
        queued_behind: i64,
    },
    /// The same delivery id was already accepted and its job did not fail: nothing new was enqueued.
    Duplicate { job_id: Option<i64> },
}

/// A job as a worker sees it after claiming it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub trigger: Trigger,
    pub attempts: i32,
    pub lease_token: String,
}

/// How a worker ends a job.
#[derive(Debug, Clone)]
pub enum JobError {
    /// May succeed later (network, 5xx, rate limit): retried with exponential backoff up to `max_attempts`.
    Transient(String),
    /// Will not succeed by retrying (404, bad config): failed at once, the reason kept.
    Permanent(String),
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// Lease extended.
    Extended,
    /// A `/metagpt stop` was applied: the worker must stop and call [`super::Queue::finish_cancelled`].
    CancelRequested,
    /// The lease was lost (expired and taken by another worker, or released): stop without writing.
    Lost,
}

/// Tunables; defaults are what `serve` uses.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub max_attempts: i32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
        }
    }
}
