//! Workers over a real SQLite queue with a scripted handler: what an operator sees when a job is stopped
//! (through the control loop),
//! fails for a while, or is running when the process shuts down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use metagpt_bot::queue::{
    DeliveryOutcome, DeliveryRecord, JobError, JobState, Queue, QueueOptions, Recorded,
};
use metagpt_bot::trigger::{Action, Kind, RepoRef, Trigger};
use metagpt_bot::worker::{self, ControlHandler, Handler, WorkerOptions};
use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(20);

/// What the scripted handler does with each job.
#[derive(Clone, Copy)]
enum Script {
    /// Waits until cancelled, then returns Ok (the worker must still record `cancelled`).
    WaitForCancel,
    /// Fails transiently this many times, then succeeds.
    FailTransiently(u32),
    /// Waits for a permit from the test, then succeeds.
    WaitForPermit,
    /// Never finishes on its own.
    Hang,
}

struct Scripted {
    script: Script,
    calls: AtomicU32,
    started: Notify,
    permits: Semaphore,
}

impl Scripted {
    fn new(script: Script) -> Arc<Self> {
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

fn trigger(delivery: &str, issue: u64, action: Action) -> Trigger {
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
        action,
    }
}

async fn record(queue: &Queue, trigger: Trigger) -> Recorded {
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

async fn enqueue(queue: &Queue, delivery: &str, issue: u64) -> i64 {
    match record(
        queue,
        trigger(
            delivery,
            issue,
            Action::Run {
                kind: Kind::Requirement,
                label: None,
            },
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

async fn wait_for_state(queue: &Queue, job: i64, state: JobState) -> metagpt_bot::queue::JobInfo {
    let start = Instant::now();
    loop {
        let info = queue.job(job).await.expect("read job").expect("job exists");
        if info.state == state {
            return info;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "job {job} stayed {:?}, expected {state:?}",
            info.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    queue: Queue,
    wake: Arc<Notify>,
}

async fn setup() -> Setup {
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

fn options(lease: Duration, grace: Duration) -> WorkerOptions {
    WorkerOptions {
        workers: 1,
        lease,
        poll_interval: Duration::from_millis(20),
        grace,
        owner: "test".into(),
    }
}

/// Applies every stop it is given, as the real stop handler does once the sender may stop runs.
struct ApplyStop {
    queue: Queue,
}

impl ControlHandler for ApplyStop {
    fn handle<'a>(
        &'a self,
        job: &'a metagpt_bot::queue::Job,
    ) -> BoxFuture<'a, Result<serde_json::Value, JobError>> {
        Box::pin(async move {
            let trigger = &job.trigger;
            let report = self
                .queue
                .stop_issue(trigger.repo.id, trigger.issue_number, job.id)
                .await
                .map_err(|e| JobError::Transient(e.to_string()))?;
            Ok(json!({"running_signalled": report.running_signalled}))
        })
    }
}

#[tokio::test]
async fn a_stop_is_applied_by_the_control_loop_while_every_run_worker_is_busy() {
    let s = setup().await;
    let handler = Scripted::new(Script::WaitForCancel);
    let job = enqueue(&s.queue, "d-1", 5).await;
    let mut workers = worker::spawn(
        s.queue.clone(),
        handler.clone(),
        s.wake.clone(),
        options(Duration::from_millis(300), Duration::from_secs(5)),
    );
    let control = Arc::new(ApplyStop {
        queue: s.queue.clone(),
    });
    workers.spawn_control(s.queue.clone(), control, s.wake.clone());
    handler.started.notified().await;
    let stop = match record(&s.queue, trigger("d-2", 5, Action::Stop { comment_id: 9 })).await {
        Recorded::Stored {
            job_id: Some(id),
            queued_behind: 0,
        } => id,
        other => panic!("expected the stop stored as a control job, got {other:?}"),
    };
    s.wake.notify_waiters();
    let applied = wait_for_state(&s.queue, stop, JobState::Done).await;
    assert_eq!(applied.outcome, Some(json!({"running_signalled": true})));
    let info = wait_for_state(&s.queue, job, JobState::Cancelled).await;
    assert_eq!(
        info.outcome, None,
        "a cancelled job records no outcome even if the handler returned one"
    );
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
    workers.shutdown().await;
}

#[tokio::test]
async fn transient_failures_are_retried_until_the_job_succeeds() {
    let s = setup().await;
    let handler = Scripted::new(Script::FailTransiently(2));
    let job = enqueue(&s.queue, "d-1", 5).await;
    let workers = worker::spawn(
        s.queue.clone(),
        handler.clone(),
        s.wake.clone(),
        options(Duration::from_secs(5), Duration::from_secs(5)),
    );
    let info = wait_for_state(&s.queue, job, JobState::Done).await;
    assert_eq!(info.attempts, 3);
    assert_eq!(info.outcome, Some(json!({"calls": 3, "job": job})));
    workers.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_a_running_job_finish_within_the_grace_period() {
    let s = setup().await;
    let handler = Scripted::new(Script::WaitForPermit);
    let job = enqueue(&s.queue, "d-1", 5).await;
    let workers = worker::spawn(
        s.queue.clone(),
        handler.clone(),
        s.wake.clone(),
        options(Duration::from_secs(5), Duration::from_secs(30)),
    );
    handler.started.notified().await;
    workers.stop_claiming();
    let shutdown = tokio::spawn(workers.shutdown());
    let second = enqueue(&s.queue, "d-2", 6).await;
    s.wake.notify_waiters();
    handler.permits.add_permits(1);
    shutdown.await.unwrap();
    wait_for_state(&s.queue, job, JobState::Done).await;
    let info = s.queue.job(second).await.unwrap().unwrap();
    assert_eq!(
        info.state,
        JobState::Queued,
        "a draining worker must not claim new jobs"
    );
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn shutdown_releases_a_job_that_outlives_the_grace_period() {
    let s = setup().await;
    let handler = Scripted::new(Script::Hang);
    let job = enqueue(&s.queue, "d-1", 5).await;
    let workers = worker::spawn(
        s.queue.clone(),
        handler.clone(),
        s.wake.clone(),
        options(Duration::from_secs(5), Duration::from_millis(50)),
    );
    handler.started.notified().await;
    workers.shutdown().await;
    let info = s.queue.job(job).await.unwrap().unwrap();
    assert_eq!(
        info.state,
        JobState::Queued,
        "released for another process to take"
    );
    let again = s
        .queue
        .claim("other", Duration::from_secs(5))
        .await
        .unwrap()
        .expect("claimable at once");
    assert_eq!(again.id, job);
    assert_eq!(again.attempts, 1, "a released attempt does not count");
}

#[tokio::test]
async fn triggers_for_one_issue_run_one_after_another() {
    let s = setup().await;
    let handler = Scripted::new(Script::WaitForPermit);
    let first = enqueue(&s.queue, "d-1", 5).await;
    let second = enqueue(&s.queue, "d-2", 5).await;
    let mut opts = options(Duration::from_secs(5), Duration::from_secs(5));
    opts.workers = 2;
    let workers = worker::spawn(s.queue.clone(), handler.clone(), s.wake.clone(), opts);
    handler.started.notified().await;
    assert_eq!(
        s.queue.job(second).await.unwrap().unwrap().state,
        JobState::Queued
    );
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        1,
        "the second trigger waits behind the first"
    );
    handler.permits.add_permits(2);
    wait_for_state(&s.queue, first, JobState::Done).await;
    wait_for_state(&s.queue, second, JobState::Done).await;
    workers.shutdown().await;
}
