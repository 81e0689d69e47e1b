//! The workers' test bench: a real SQLite queue in a temporary folder, a scripted run handler, a stop
//! handler that applies every stop, and bounded waits for a job's state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use metagpt_bot::domain::{Kind, RepoRef, Request, RunRequest, Trigger};
use metagpt_bot::jobs::worker::{Handler, WorkerOptions};
use metagpt_bot::queue::{
    DeliveryOutcome, DeliveryRecord, JobError, JobState, Queue, QueueOptions, Recorded,
};
use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::support::jobs::wait_for_job;

const DEADLINE: Duration = Duration::from_secs(20);

/// What the scripted handler does with each job.
#[derive(Clone, Copy)]
pub enum Script {
    /// Waits until cancelled, then returns Ok (the worker must still record `cancelled`).
    WaitForCancel,
    /// Fails transiently this many times, then succeeds.
    FailTransiently(u32),
    /// Waits for a permit from the test, then succeeds.
    WaitForPermit,
    /// Never finishes on its own.
    Hang,
}

pub struct Scripted {
    script: Script,
    pub calls: AtomicU32,
    pub started: Notify,
    pub permits: Semaphore,
}

impl Scripted {
    pub fn new(script: Script) -> Arc<Self> {
        Arc::new(Self {
            script,
            calls: AtomicU32::new(0),
            started: Notify::new(),
            permits: Semaphore::new(0),
        })
    }
}

impl Handler for Scripted {
    fn handle<'a>(
        &'a self,
        job: &'a metagpt_bot::queue::Job,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<serde_json::Value, JobError>> {
        Box::pin(async move {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            self.started.notify_one();
            match self.script {
                Script::WaitForCancel => {
                    cancel.cancelled().await;
                    Ok(json!({"saw": "cancel"}))
                }
                Script::FailTransiently(n) if call <= n => Err(JobError::Transient(format!(
                    "GitHub answered 502 (call {call})"
                ))),
                Script::FailTransiently(_) => Ok(json!({"calls": call, "job": job.id})),
                Script::WaitForPermit => {
                    let _permit = self.permits.acquire().await.expect("semaphore open");
                    Ok(json!({"finished": true}))
                }
                Script::Hang => std::future::pending().await,
            }
        })
    }
}

pub fn trigger(delivery: &str, issue: u64, request: Request) -> Trigger {
    Trigger {
        delivery_id: delivery.into(),
        installation_id: Some(1),
        repo: RepoRef {
            id: 42,
            owner: "octo".into(),
            name: "repo".into(),
        },
        issue_number: issue,
        is_pull_request: false,
        work_issue: None,
        sender_id: 7,
        sender_login: "maintainer".into(),
        request,
    }
}

pub async fn record(queue: &Queue, trigger: Trigger) -> Recorded {
    let delivery = DeliveryRecord {
        delivery_id: trigger.delivery_id.clone(),
        event: "issues".into(),
        action: Some("labeled".into()),
        outcome: DeliveryOutcome::Accepted,
    };
    queue
        .record(delivery, Some(trigger))
        .await
        .expect("recorded")
}

pub async fn enqueue(queue: &Queue, delivery: &str, issue: u64) -> i64 {
    match record(
        queue,
        trigger(
            delivery,
            issue,
            Request::Run(RunRequest::Labeled {
                kind: Kind::Requirement,
                label: None,
            }),
        ),
    )
    .await
    {
        Recorded::Stored {
            job_id: Some(id), ..
        } => id,
        other => panic!("expected a stored job, got {other:?}"),
    }
}

/// Waits (bounded) until job `job` is in `state`.
pub async fn wait_for_state(
    queue: &Queue,
    job: i64,
    state: JobState,
) -> metagpt_bot::queue::JobInfo {
    wait_for_job(queue, job, state, DEADLINE).await
}

pub struct Setup {
    _dir: tempfile::TempDir,
    pub queue: Queue,
    pub wake: Arc<Notify>,
}

pub async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/q.db", dir.path().display());
    let options = QueueOptions {
        max_attempts: 5,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
    };
    let queue = Queue::connect(&url, options).await.unwrap();
    Setup {
        _dir: dir,
        queue,
        wake: Arc::new(Notify::new()),
    }
}

pub fn options(lease: Duration, grace: Duration) -> WorkerOptions {
    WorkerOptions {
        workers: 1,
        lease,
        poll_interval: Duration::from_millis(20),
        grace,
        owner: "test".into(),
    }
}

/// Applies every stop it is given, as the real stop handler does once the sender may stop runs.
pub struct ApplyStop {
    pub queue: Queue,
}

impl Handler for ApplyStop {
    fn handle<'a>(
        &'a self,
        job: &'a metagpt_bot::queue::Job,
        _cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<serde_json::Value, JobError>> {
        Box::pin(async move {
            let trigger = &job.trigger;
            let report = self
                .queue
                .stop_issue(trigger.repo.id, trigger.issue_number, job.id)
                .await
                .map_err(|e| JobError::Transient(e.to_string()))?;
            Ok(json!({"running_signalled": report.running_job.is_some()}))
        })
    }
}
