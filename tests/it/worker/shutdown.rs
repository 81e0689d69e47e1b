//! Shutdown: a running job may finish within the grace period; one that outlives it is released.

use std::sync::atomic::Ordering;
use std::time::Duration;

use metagpt_bot::jobs::worker;
use metagpt_bot::queue::JobState;

use super::harness::{Script, Scripted, enqueue, options, setup, wait_for_state};

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
