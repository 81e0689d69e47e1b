//! One job, start to finish: the only module that knows the order of a run's steps.
//!
//! Today the pipeline proves the foundation end to end: it reaches GitHub as the App's installation,
//! reads the issue the trigger names and records what it found as the job's outcome. The MetaGPT run,
//! evidence and pull request steps plug in here, behind the same [`Handler`] entry point.
//!
//! Invariants:
//! - A trigger without an installation cannot be served by the App: that job fails permanently, with a
//!   reason that says so, instead of retrying.
//! - GitHub failures keep GitHub's own classification: transient ones (network, 5xx, rate limits) are
//!   retried by the queue with backoff; permanent ones (404, revoked access) fail at once with the reason.
//! - A cancelled job stops at the next step boundary and writes nothing.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::github::{GitHubApp, GitHubError, get_issue};
use crate::queue::{Job, JobError};
use crate::worker::Handler;

/// The App's pipeline: shares one [`GitHubApp`] (and so one token cache per installation) across jobs.
pub struct Pipeline {
    github: Arc<GitHubApp>,
}

impl Pipeline {
    pub fn new(github: Arc<GitHubApp>) -> Self {
        Self { github }
    }

    async fn run(
        &self,
        job: &Job,
        cancel: CancellationToken,
    ) -> Result<serde_json::Value, JobError> {
        let trigger = &job.trigger;
        let installation = trigger.installation_id.ok_or_else(|| {
            JobError::Permanent(format!(
                "the delivery for {}#{} names no App installation; install the App on the repository and label the issue again",
                trigger.repo.full_name(),
                trigger.issue_number
            ))
        })?;
        let client = self
            .github
            .installation(installation)
            .await
            .map_err(classify)?;
        if cancel.is_cancelled() {
            return Err(JobError::Permanent("cancelled".into()));
        }
        let issue = get_issue(
            &client,
            &trigger.repo.owner,
            &trigger.repo.name,
            trigger.issue_number,
        )
        .await
        .map_err(classify)?;
        Ok(json!({
            "action": trigger.action.name(),
            "issue": {
                "number": issue.number,
                "title": issue.title,
                "state": issue.state,
                "labels": issue.labels,
            },
        }))
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

fn classify(error: GitHubError) -> JobError {
    if error.is_transient() {
        JobError::Transient(error.to_string())
    } else {
        JobError::Permanent(error.to_string())
    }
}
