//! `/metagpt stop` from the queue's point of view: recorded as a control job (nothing cancelled at
//! intake), claimable beside the issue's running run, applied by `stop_issue`, and never in a run's way.

use metagpt_bot::domain::{ControlRequest, Request};
use metagpt_bot::queue::{DeliveryOutcome, Heartbeat, JobState, Queue, Recorded, StopReport};

use super::{LONG_LEASE, connect, delivery, enqueue, record_run, repo, state_of, trigger};

const STOP: Request = Request::Control(ControlRequest::Stop { comment_id: 77 });

/// Records an accepted `/metagpt stop` on `issue`.
async fn record_stop(queue: &Queue, delivery_id: &str, issue: u64) -> Recorded {
    queue
        .record(
            delivery(delivery_id, DeliveryOutcome::Accepted),
            Some(trigger(delivery_id, issue, STOP)),
        )
        .await
        .expect("record stop")
}

/// Records a stop and returns its control job's id (it waits behind nothing).
pub async fn enqueue_stop(queue: &Queue, delivery_id: &str, issue: u64) -> i64 {
    match record_stop(queue, delivery_id, issue).await {
        Recorded::Stored {
            job_id: Some(id),
            queued_behind: 0,
        } => id,
        other => panic!("expected a control job waiting behind nothing, got {other:?}"),
    }
}

pub async fn a_stop_is_a_control_job_claimed_beside_the_running_run_and_applied_on_demand(
    url: &str,
) {
    let queue = connect(url).await;
    let running = enqueue(&queue, "s-1", 5).await;
    let run = queue
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(run.id, running);
    let waiting = [
        enqueue(&queue, "s-2", 5).await,
        enqueue(&queue, "s-3", 5).await,
    ];
    let elsewhere = enqueue(&queue, "s-other", 6).await;

    // Intake only stores the stop: nothing is cancelled before someone checked who asked.
    let stop = enqueue_stop(&queue, "s-stop", 5).await;
    let stored = queue
        .delivery("s-stop")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        (stored.outcome, stored.job_id),
        (DeliveryOutcome::Accepted, Some(stop))
    );
    assert_eq!(
        queue.job(stop).await.expect("read").expect("job").action,
        "stop"
    );
    for id in waiting {
        assert_eq!(state_of(&queue, id).await, JobState::Queued);
    }
    assert_eq!(
        queue.heartbeat(&run, LONG_LEASE).await.expect("heartbeat"),
        Heartbeat::Extended,
        "the running run was flagged at intake"
    );

    // A run worker never gets the stop; the control claim gets it while issue 5's run is running.
    let next_run = queue
        .claim("w2", LONG_LEASE)
        .await
        .expect("claim")
        .expect("issue 6 is runnable");
    assert_eq!(next_run.id, elsewhere);
    assert!(
        queue
            .claim("w3", LONG_LEASE)
            .await
            .expect("claim")
            .is_none()
    );
    let control = queue
        .claim_control("control", LONG_LEASE)
        .await
        .expect("claim control")
        .expect("the stop is claimable beside the running run");
    assert_eq!((control.id, &control.trigger.request), (stop, &STOP));
    assert!(
        queue
            .claim_control("control", LONG_LEASE)
            .await
            .expect("claim control")
            .is_none(),
        "a control job was claimed twice"
    );

    // Applied: queued runs of the issue cancelled, the running one flagged, other issues untouched.
    let report = queue.stop_issue(repo().id, 5, stop).await.expect("stop");
    assert_eq!(
        report,
        StopReport {
            cancelled_queued: 2,
            running_job: Some(running),
            too_late: None,
        }
    );
    for id in waiting {
        assert_eq!(state_of(&queue, id).await, JobState::Cancelled);
    }
    assert_eq!(state_of(&queue, elsewhere).await, JobState::Running);
    assert_eq!(
        queue.heartbeat(&run, LONG_LEASE).await.expect("heartbeat"),
        Heartbeat::CancelRequested
    );
    queue
        .finish_cancelled(&run)
        .await
        .expect("finish cancelled");
    assert_eq!(state_of(&queue, running).await, JobState::Cancelled);
    queue
        .complete(&control, &serde_json::json!({"stopped": true}))
        .await
        .expect("the control job ends like any job");
    assert_eq!(state_of(&queue, stop).await, JobState::Done);

    // Applying it again (a retried control job) does nothing more and reports the same; a redelivery of
    // the stop is a duplicate.
    assert_eq!(
        queue
            .stop_issue(repo().id, 5, stop)
            .await
            .expect("stop again"),
        report
    );
    for id in waiting.into_iter().chain([running]) {
        assert_eq!(state_of(&queue, id).await, JobState::Cancelled);
    }
    assert_eq!(state_of(&queue, elsewhere).await, JobState::Running);
    assert_eq!(
        record_stop(&queue, "s-stop", 5).await,
        Recorded::Duplicate { job_id: Some(stop) }
    );
}

pub async fn run_jobs_never_wait_behind_a_control_job(url: &str) {
    let queue = connect(url).await;
    let stop = enqueue_stop(&queue, "c-stop", 5).await;
    let control = queue
        .claim_control("control", LONG_LEASE)
        .await
        .expect("claim control")
        .expect("the stop");
    assert_eq!(control.id, stop);

    // A run recorded after a stop (queued or running) has nothing ahead of it and runs at once.
    let first = match record_run(&queue, "c-run-1", 5).await {
        Recorded::Stored {
            job_id: Some(id),
            queued_behind: 0,
        } => id,
        other => panic!("a control job was counted ahead of a run: {other:?}"),
    };
    let run = queue
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("the run is not blocked by the running stop");
    assert_eq!(run.id, first);

    // Recorded together (one group-commit batch or two), a run counts only the runs ahead of it.
    let (second_stop, second_run) = tokio::join!(
        record_stop(&queue, "c-stop-2", 5),
        record_run(&queue, "c-run-2", 5)
    );
    assert!(
        matches!(
            second_stop,
            Recorded::Stored {
                job_id: Some(_),
                queued_behind: 0
            }
        ),
        "{second_stop:?}"
    );
    assert!(
        matches!(
            second_run,
            Recorded::Stored {
                job_id: Some(_),
                queued_behind: 1
            }
        ),
        "only the running run is ahead: {second_run:?}"
    );
    queue
        .complete(&control, &serde_json::json!({}))
        .await
        .expect("complete the stop");
    queue
        .complete(&run, &serde_json::json!({}))
        .await
        .expect("complete the run");
}

pub async fn a_stop_leaves_runs_recorded_after_it_alone(url: &str) {
    let queue = connect(url).await;
    let before = enqueue(&queue, "a-run-1", 5).await;
    let stop = enqueue_stop(&queue, "a-stop", 5).await;
    let after = enqueue(&queue, "a-run-2", 5).await;
    let report = queue.stop_issue(repo().id, 5, stop).await.expect("stop");
    assert_eq!(
        report,
        StopReport {
            cancelled_queued: 1,
            running_job: None,
            too_late: None,
        }
    );
    assert_eq!(state_of(&queue, before).await, JobState::Cancelled);
    assert_eq!(
        state_of(&queue, after).await,
        JobState::Queued,
        "a trigger sent after the stop was cancelled by it"
    );
    assert_eq!(
        state_of(&queue, stop).await,
        JobState::Queued,
        "a stop cancelled a control job"
    );
}
