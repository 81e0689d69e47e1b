//! Waiting for a job to reach a state, through the queue's own read API.
//!
//! The queue sends no signal when a job changes state (the workers write the database, nothing else), so
//! this is the one place that polls a database: every 20 ms, under a deadline, failing the test with the
//! job's state and last error.

use std::time::{Duration, Instant};

use metagpt_bot::queue::{JobInfo, JobState, Queue, QueueOptions};

/// Polls `queue` until job `job` is in `state`.
pub async fn wait_for_job(queue: &Queue, job: i64, state: JobState, deadline: Duration) -> JobInfo {
    let start = Instant::now();
    loop {
        let info = queue
            .job(job)
            .await
            .expect("read the job")
            .expect("job exists");
        if info.state == state {
            return info;
        }
        assert!(
            start.elapsed() < deadline,
            "job {job} is {:?} ({:?}), expected {state:?}",
            info.state,
            info.last_error
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_for_job`] on the database of a running `serve`, through a second connection (as an operator
/// would look), closed afterwards.
pub async fn wait_for_job_at(
    database_url: &str,
    job: i64,
    state: JobState,
    deadline: Duration,
) -> JobInfo {
    let queue = Queue::connect(database_url, QueueOptions::default())
        .await
        .expect("the queue database");
    let info = wait_for_job(&queue, job, state, deadline).await;
    queue.close().await;
    info
}

/// Polls the database of a running `serve` until no job is queued or running (every one has ended: done,
/// failed or cancelled).
pub async fn wait_idle_at(database_url: &str, deadline: Duration) {
    let queue = Queue::connect(database_url, QueueOptions::default())
        .await
        .expect("the queue database");
    let start = Instant::now();
    loop {
        let depth = queue.depth().await.expect("read the queue's depth");
        let busy: i64 = depth
            .iter()
            .filter(|(state, _)| matches!(state, JobState::Queued | JobState::Running))
            .map(|(_, count)| count)
            .sum();
        if busy == 0 {
            break;
        }
        assert!(
            start.elapsed() < deadline,
            "{busy} jobs still queued or running: {depth:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    queue.close().await;
}
