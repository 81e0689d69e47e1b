//! Label checks (another label than the default trigger label, action `label`) from the queue's point of
//! view: control jobs like `/metagpt stop`, so they run beside an issue's running run, are never counted
//! as waiting, and never hold a run back.

use metagpt_bot::domain::{ControlRequest, Request};
use metagpt_bot::queue::{DeliveryOutcome, JobState, Queue, Recorded};

use super::{LONG_LEASE, connect, delivery, enqueue, repo, state_of, trigger};

/// Records an accepted label check on `issue` and returns its job id.
async fn enqueue_check(queue: &Queue, delivery_id: &str, issue: u64) -> i64 {
    let check = Request::Control(ControlRequest::LabelCheck { label: "ai".into() });
    let recorded = queue
        .record(
            delivery(delivery_id, DeliveryOutcome::Accepted),
            Some(trigger(delivery_id, issue, check)),
        )
        .await
        .expect("record a label check");
    match recorded {
        Recorded::Stored {
            job_id: Some(id), ..
        } => id,
        other => panic!("expected a stored label check, got {other:?}"),
    }
}

pub async fn a_label_check_never_waits_behind_a_running_run(url: &str) {
    let queue = connect(url).await;
    let running = enqueue(&queue, "l-run-1", 5).await;
    let run = queue
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("the run");
    assert_eq!(run.id, running);
    let waiting_run = enqueue(&queue, "l-run-2", 5).await;
    let check = enqueue_check(&queue, "l-check", 5).await;

    assert_eq!(
        queue.waiting(repo().id, 5).await.expect("waiting"),
        1,
        "only the queued run waits; the label check is not counted"
    );
    assert!(
        queue
            .claim("w2", LONG_LEASE)
            .await
            .expect("claim")
            .is_none(),
        "a run worker takes neither the waiting run nor the label check"
    );
    let control = queue
        .claim_control("control", LONG_LEASE)
        .await
        .expect("claim control")
        .expect("the check is claimable while the issue's run is running");
    assert_eq!(control.id, check);
    assert_eq!(state_of(&queue, running).await, JobState::Running);

    // What the check's worker does when the label is the repository's trigger label: one run, once.
    let run_of_check = "label-check-run";
    let first = enqueue(&queue, run_of_check, 5).await;
    let again = queue
        .record(
            delivery(run_of_check, DeliveryOutcome::Accepted),
            Some(trigger(run_of_check, 5, super::run_action())),
        )
        .await
        .expect("record again");
    assert_eq!(
        again,
        Recorded::Duplicate {
            job_id: Some(first)
        }
    );
    queue
        .complete(&control, &serde_json::json!({"started": true}))
        .await
        .expect("the check ends like any job");
    assert_eq!(state_of(&queue, check).await, JobState::Done);
    assert_eq!(queue.waiting(repo().id, 5).await.expect("waiting"), 2);
    assert_eq!(state_of(&queue, waiting_run).await, JobState::Queued);
}

pub async fn runs_never_wait_behind_a_queued_label_check(url: &str) {
    let queue = connect(url).await;
    let check = enqueue_check(&queue, "q-check", 6).await;
    let run = enqueue(&queue, "q-run", 6).await;
    let claimed = queue
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("the run is not held back by the older, queued label check");
    assert_eq!(claimed.id, run);
    assert_eq!(state_of(&queue, check).await, JobState::Queued);
    // A stop of the issue leaves label checks alone, like every control job.
    let report = queue
        .stop_issue(repo().id, 6, i64::MAX)
        .await
        .expect("stop");
    assert_eq!(report.running_job, Some(run));
    assert_eq!(state_of(&queue, check).await, JobState::Queued);
}
