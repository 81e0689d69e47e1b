//! The control loop's handler: each control action (see [`crate::marks::CONTROL_ACTIONS`]) to its own
//! handler, `/metagpt stop` to [`StopHandler`] and a label check to [`LabelCheck`].
//!
//! Invariant: a job of any other action fails permanently with the reason, never runs a pipeline (the
//! control claim only hands out control actions, so that would be a bug).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Notify;

use super::{LabelCheck, StopHandler};
use crate::domain::Action;
use crate::github::GitHubApp;
use crate::jobs::worker::ControlHandler;
use crate::queue::{Job, JobError, Queue};

/// Every control job of the App.
pub struct ControlJobs {
    stop: StopHandler,
    label: LabelCheck,
}

impl ControlJobs {
    /// `wake` is the run workers' signal: a label check that enqueues a run rings it.
    pub fn new(github: Arc<GitHubApp>, queue: Queue, wake: Arc<Notify>) -> Self {
        Self {
            stop: StopHandler::new(github.clone(), queue.clone()),
            label: LabelCheck::new(github, queue, wake),
        }
    }
}

impl ControlHandler for ControlJobs {
    fn handle<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<Value, JobError>> {
        match job.trigger.action {
            Action::Stop { .. } => self.stop.handle(job),
            Action::Label { .. } => self.label.handle(job),
            Action::Run { .. } | Action::Iterate { .. } | Action::Retry { .. } => {
                let reason = format!(
                    "job {} is a `{}` job, a run, but was claimed as a control job",
                    job.id,
                    job.trigger.action.name()
                );
                Box::pin(async move { Err(JobError::Permanent(reason)) })
            }
        }
    }
}
