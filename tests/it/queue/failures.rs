//! Ending jobs badly: transient retries with backoff and permanent failures (`/metagpt stop` is in
//! `control.rs`).

use std::time::Duration;

use metagpt_bot::queue::{JobError, JobState, QueueOptions};

use super::{LONG_LEASE, connect, connect_with, enqueue, eventually, fast_options};

pub async fn transient_failure_backs_off_then_fails_after_max_attempts(url: &str) {
    // A real backoff keeps the job out of reach until it has passed.
    let hour = Duration::from_secs(3600);
    let slow = connect_with(
        url,
        QueueOptions {
            backoff_base: hour,
            backoff_max: hour,
            ..fast_options()
        },
    )
    .await;
    let parked = enqueue(&slow, "t-slow", 9).await;
    let job = slow
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    let state = slow
        .fail(&job, &JobError::Transient("GitHub answered 502".into()))
        .await
        .expect("fail");
    assert_eq!(state, JobState::Queued);
    let stored = slow.job(parked).await.expect("read").expect("job");
    assert!(
        stored.run_after_ms >= stored.updated_at_ms + 30 * 60 * 1000,
        "retry not delayed: {stored:?}"
    );
    assert_eq!(stored.last_error.as_deref(), Some("GitHub answered 502"));
    assert!(
        slow.claim("w", LONG_LEASE).await.expect("claim").is_none(),
        "claimed before its backoff passed"
    );

    // With tiny backoffs (max_attempts = 3) the job is retried twice, then fails with its last reason.
    let queue = connect(url).await;
    let id = enqueue(&queue, "t-fast", 1).await;
    for attempt in 1..=3 {
        let job = eventually("the retry to become runnable", || async {
            queue
                .claim("w", LONG_LEASE)
                .await
                .expect("claim")
                .filter(|job| job.id == id)
        })
        .await;
        assert_eq!(job.attempts, attempt);
        let error = JobError::Transient(format!("timeout on attempt {attempt}"));
        let expected = if attempt < 3 {
            JobState::Queued
        } else {
            JobState::Failed
        };
        assert_eq!(queue.fail(&job, &error).await.expect("fail"), expected);
    }
    let failed = queue.job(id).await.expect("read").expect("job");
    assert_eq!((failed.state, failed.attempts), (JobState::Failed, 3));
    assert_eq!(failed.last_error.as_deref(), Some("timeout on attempt 3"));
}

pub async fn permanent_failure_fails_at_once_with_its_reason(url: &str) {
    let queue = connect(url).await;
    let id = enqueue(&queue, "p-1", 1).await;
    let job = queue
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    let reason = "repository octo/app not found (404): is the App still installed?";
    assert_eq!(
        queue
            .fail(&job, &JobError::Permanent(reason.into()))
            .await
            .expect("fail"),
        JobState::Failed
    );
    let failed = queue.job(id).await.expect("read").expect("job");
    assert_eq!(
        (failed.state, failed.attempts, failed.last_error.as_deref()),
        (JobState::Failed, 1, Some(reason))
    );
    assert!(
        queue.claim("w", LONG_LEASE).await.expect("claim").is_none(),
        "a failed job ran again"
    );
}
