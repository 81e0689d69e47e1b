//! What a label check needs from the queue when a stop races it: the issue's later stops with their
//! senders, and the cancellation of one job (queued: cancelled; running: told through its heartbeat;
//! finished, or a control job: left alone).

use metagpt_bot::domain::{ControlRequest, Request};
use metagpt_bot::queue::{DeliveryOutcome, Heartbeat, JobState};

use super::{LONG_LEASE, connect, delivery, enqueue, state_of, trigger};

pub async fn later_stops_come_with_their_senders_and_one_job_can_be_cancelled(url: &str) {
    let queue = connect(url).await;
    let check = enqueue(&queue, "c-check", 8).await;
    for (id, issue) in [("c-stop-1", 8), ("c-stop-elsewhere", 9), ("c-stop-2", 8)] {
        queue
            .record(
                delivery(id, DeliveryOutcome::Accepted),
                Some(trigger(
                    id,
                    issue,
                    Request::Control(ControlRequest::Stop { comment_id: 5 }),
                )),
            )
            .await
            .expect("record stop");
    }
    let stops = queue
        .stops_after(super::repo().id, 8, check)
        .await
        .expect("stops");
    let names: Vec<&str> = stops.iter().map(|(_, t)| t.delivery_id.as_str()).collect();
    assert_eq!(
        names,
        ["c-stop-1", "c-stop-2"],
        "this issue's, oldest first"
    );
    assert!(stops.iter().all(|(id, _)| *id > check));
    // A control job is never cancelled: a stop stays queued for its own worker.
    queue.cancel(stops[0].0).await.expect("cancel");
    assert_eq!(state_of(&queue, stops[0].0).await, JobState::Queued);
    assert!(
        queue
            .stops_after(super::repo().id, 8, stops[1].0)
            .await
            .expect("stops")
            .is_empty()
    );

    // Queued: cancelled at once. Running: asked to stop. Done: untouched.
    let queued = enqueue(&queue, "c-queued", 10).await;
    queue.cancel(queued).await.expect("cancel");
    assert_eq!(state_of(&queue, queued).await, JobState::Cancelled);

    let running_id = enqueue(&queue, "c-running", 11).await;
    let running = loop {
        let job = queue
            .claim("w", LONG_LEASE)
            .await
            .expect("claim")
            .expect("a job");
        if job.id == running_id {
            break job;
        }
        queue
            .complete(&job, &serde_json::json!({}))
            .await
            .expect("complete");
    };
    queue.cancel(running_id).await.expect("cancel");
    assert_eq!(
        queue
            .heartbeat(&running, LONG_LEASE)
            .await
            .expect("heartbeat"),
        Heartbeat::CancelRequested
    );
    queue.finish_cancelled(&running).await.expect("finish");
    assert_eq!(state_of(&queue, running_id).await, JobState::Cancelled);

    let done_id = enqueue(&queue, "c-done", 12).await;
    let done = queue
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(done.id, done_id);
    queue
        .complete(&done, &serde_json::json!({}))
        .await
        .expect("complete");
    queue.cancel(done_id).await.expect("cancel");
    assert_eq!(state_of(&queue, done_id).await, JobState::Done);
}
