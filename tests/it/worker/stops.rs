//! A stop reaches a busy run through the control loop, which no run worker can block.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use metagpt_bot::domain::{ControlRequest, Request};
use metagpt_bot::jobs::worker;
use metagpt_bot::queue::{JobState, Recorded};
use serde_json::json;

use super::harness::{
    ApplyStop, Script, Scripted, enqueue, options, record, setup, trigger, wait_for_state,
};

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
    let stop = match record(
        &s.queue,
        trigger(
            "d-2",
            5,
            Request::Control(ControlRequest::Stop { comment_id: 9 }),
        ),
    )
    .await
    {
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
