//! Waiting for a job of a running `serve` to reach a state, through the queue's own read API on the
//! same database (a second connection, as an operator would look).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use metagpt_bot::queue::{JobInfo, JobState, Queue, QueueOptions};

/// Polls (bounded by `deadline`) until job `job` is in `state`; fails the test with the job's state and
/// last error otherwise.
pub async fn wait_for_job(
    database_url: &str,
    job: i64,
    state: JobState,
    deadline: Duration,
) -> JobInfo {
    let queue = Queue::connect(database_url, QueueOptions::default())
        .await
        .expect("the queue database");
    let start = Instant::now();
    loop {
        let info = queue
            .job(job)
            .await
            .expect("read the job")
            .expect("job exists");
        if info.state == state {
            queue.close().await;
            return info;
        }
        assert!(
            start.elapsed() < deadline,
            "job {job} is {:?} ({:?}), expected {state:?}",
            info.state,
            info.last_error
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
