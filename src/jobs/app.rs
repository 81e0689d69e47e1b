//! The App's job handler: one queued trigger, as the installation it came through.
//!
//! Invariants:
//! - A trigger without an installation cannot be served by the App: that job fails permanently, with a
//!   reason that says so, instead of retrying.
//! - GitHub failures keep GitHub's own classification: transient ones (network, 5xx, rate limits) are
//!   retried by the queue with backoff; permanent ones (404, revoked access) fail at once with the reason.
//! - The job's id is its idempotence key across attempts (`app-<id>`), so a retried job never commits
//!   the same run twice.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::flow::{JobKey, handle};
use super::{Context, Failure, Session, installation_of};
use crate::github::GitHubApp;
use crate::jobs::worker::Handler;
use crate::queue::{Job, JobError};

/// The App's pipeline: shares one [`GitHubApp`] (and so one token cache per installation) across jobs.
pub struct Pipeline {
    github: Arc<GitHubApp>,
    context: Arc<Context>,
}

impl Pipeline {
    pub fn new(github: Arc<GitHubApp>, context: Arc<Context>) -> Self {
        Self { github, context }
    }

    async fn run(
        &self,
        job: &Job,
        cancel: CancellationToken,
    ) -> Result<serde_json::Value, JobError> {
        let trigger = &job.trigger;
        let installation = installation_of(trigger, "the delivery", "label the issue again")?;
        let session = Session::app(self.github.clone(), installation)
            .await
            .map_err(|e| JobError::from(Failure::github(e)))?;
        let key = JobKey {
            key: format!("app-{}", job.id),
            attempt: job.attempts,
        };
        handle(&self.context, &session, trigger, &key, cancel)
            .await
            .map_err(JobError::from)
    }
}

impl Handler for Pipeline {
    fn handle<'a>(
        &'a self,
        job: &'a Job,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<serde_json::Value, JobError>> {
        Box::pin(self.run(job, cancel))
    }
}
