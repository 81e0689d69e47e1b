//! Workers: per-issue exclusivity across processes, lease expiry, release, and exactly-once claims.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metagpt_bot::queue::{Heartbeat, JobState, LeaseLost, Recorded};

use super::{LONG_LEASE, connect, count_in, enqueue, eventually, record_run, state_of};

pub async fn two_workers_never_run_the_same_issue_at_once(url: &str) {
    let (left, right) = (connect(url).await, connect(url).await);
    let first = enqueue(&left, "a-1", 1).await;
    let second = enqueue(&left, "a-2", 1).await;
    let other_issue = enqueue(&right, "b-1", 2).await;
    let third = record_run(&left, "a-3", 1).await;
    assert!(
        matches!(
            third,
            Recorded::Stored {
                queued_behind: 2,
                ..
            }
        ),
        "a third trigger waits behind two: {third:?}"
    );

    let running = left
        .claim("left", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(running.id, first);
    // The other worker skips issue 1 (its next job waits) and runs issue 2 in parallel.
    let parallel = right
        .claim("right", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(parallel.id, other_issue);
    assert!(
        right
            .claim("right", LONG_LEASE)
            .await
            .expect("claim")
            .is_none(),
        "issue 1 ran twice at once"
    );
    assert!(
        left.claim("left", LONG_LEASE)
            .await
            .expect("claim")
            .is_none(),
        "issue 1 ran twice at once"
    );

    left.complete(&running, &serde_json::json!({}))
        .await
        .expect("complete");
    let next = right
        .claim("right", LONG_LEASE)
        .await
        .expect("claim")
        .expect("issue 1 continues");
    assert_eq!(
        next.id, second,
        "jobs of one issue run in the order they arrived"
    );
}

pub async fn killed_workers_job_is_taken_again_and_its_late_complete_refused(url: &str) {
    let (dying, survivor) = (connect(url).await, connect(url).await);
    let orphan = enqueue(&dying, "k-1", 1).await;
    let healthy = enqueue(&dying, "k-2", 2).await;
    let lost = dying
        .claim("dying", Duration::from_millis(1))
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(lost.id, orphan);
    let kept = dying
        .claim("dying", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(kept.id, healthy);

    // The worker dies: no heartbeat, no complete. Its short lease runs out and the job goes back.
    eventually("the expired lease to be re-queued", || async {
        (survivor.requeue_expired().await.expect("requeue") > 0).then_some(())
    })
    .await;
    assert_eq!(state_of(&survivor, orphan).await, JobState::Queued);
    assert_eq!(
        state_of(&survivor, healthy).await,
        JobState::Running,
        "a live lease was taken away"
    );

    let retaken = survivor
        .claim("survivor", LONG_LEASE)
        .await
        .expect("claim")
        .expect("the orphan again");
    assert_eq!((retaken.id, retaken.attempts), (orphan, 2));
    assert_ne!(retaken.lease_token, lost.lease_token);

    // The old worker wakes up late: everything it tries is refused and changes nothing.
    let late = dying
        .complete(&lost, &serde_json::json!({"stale": true}))
        .await
        .expect_err("late complete");
    assert!(
        late.downcast_ref::<LeaseLost>().is_some(),
        "unexpected error: {late:#}"
    );
    assert_eq!(
        dying.heartbeat(&lost, LONG_LEASE).await.expect("heartbeat"),
        Heartbeat::Lost
    );
    assert!(
        dying
            .fail(&lost, &metagpt_bot::queue::JobError::Permanent("x".into()))
            .await
            .is_err()
    );
    assert!(dying.release(&lost).await.is_err());
    assert_eq!(state_of(&survivor, orphan).await, JobState::Running);

    assert_eq!(
        survivor
            .heartbeat(&retaken, LONG_LEASE)
            .await
            .expect("heartbeat"),
        Heartbeat::Extended
    );
    survivor
        .complete(&retaken, &serde_json::json!({"pr": 12}))
        .await
        .expect("complete");
    let job = survivor.job(orphan).await.expect("read").expect("job");
    assert_eq!(
        (job.state, job.outcome),
        (JobState::Done, Some(serde_json::json!({"pr": 12})))
    );
}

pub async fn released_job_is_queued_again_without_counting_the_attempt(url: &str) {
    let queue = connect(url).await;
    let id = enqueue(&queue, "r-1", 1).await;
    let job = queue
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(job.attempts, 1);
    queue.release(&job).await.expect("release");
    assert_eq!(state_of(&queue, id).await, JobState::Queued);
    let again = queue
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("released job runs again");
    assert_eq!((again.id, again.attempts), (id, 1));
}

pub async fn eight_workers_claim_each_of_two_thousand_jobs_exactly_once(url: &str) {
    const JOBS: usize = 2000;
    const ISSUES: usize = 100;
    let queues = [connect(url).await, connect(url).await];
    let records: Vec<_> = (0..JOBS)
        .map(|n| {
            let queue = queues[n % 2].clone();
            tokio::spawn(async move {
                enqueue(&queue, &format!("drain-{n}"), (n % ISSUES) as u64).await
            })
        })
        .collect();
    for record in records {
        record.await.expect("record task");
    }

    let claimed = Arc::new(Mutex::new(HashSet::new()));
    let running_issues = Arc::new(Mutex::new(HashSet::new()));
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let queue = queues[worker % 2].clone();
            let (claimed, running_issues) = (claimed.clone(), running_issues.clone());
            tokio::spawn(async move {
                let name = format!("worker-{worker}");
                eventually("all jobs to be drained", || async {
                    let Some(job) = queue.claim(&name, LONG_LEASE).await.expect("claim") else {
                        return (claimed.lock().expect("lock").len() == JOBS).then_some(());
                    };
                    assert!(
                        claimed.lock().expect("lock").insert(job.id),
                        "job {} claimed twice",
                        job.id
                    );
                    let issue = job.trigger.issue_number;
                    assert!(
                        running_issues.lock().expect("lock").insert(issue),
                        "issue {issue} ran twice at once"
                    );
                    tokio::task::yield_now().await; // the "run": let other workers claim meanwhile
                    running_issues.lock().expect("lock").remove(&issue);
                    queue
                        .complete(&job, &serde_json::json!({}))
                        .await
                        .expect("complete");
                    None
                })
                .await;
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    assert_eq!(claimed.lock().expect("lock").len(), JOBS);
    assert_eq!(count_in(&queues[0], JobState::Done).await, JOBS as i64);
}
