//! How run jobs run: transient failures are retried, and one issue's triggers run one after another.

use std::sync::atomic::Ordering;
use std::time::Duration;

use metagpt_bot::jobs::worker;
use metagpt_bot::queue::JobState;
use serde_json::json;

use super::harness::{Script, Scripted, enqueue, options, setup, wait_for_state};

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
