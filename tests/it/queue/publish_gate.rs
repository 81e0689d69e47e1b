//! The publish gate against `/metagpt stop` and `cancel`: an acknowledged stop wins over a late push, a
//! push past its gate wins over a later stop, and never both, however they race; a retried stop reports
//! what its first attempt did.

use std::collections::HashMap;
use std::sync::Arc;

use metagpt_bot::queue::{Heartbeat, Job, JobError, JobState, PublishGate, Queue, StopReport};
use tokio::sync::Barrier;

use super::control::enqueue_stop;
use super::{LONG_LEASE, connect, enqueue, repo, state_of};

async fn claim(queue: &Queue, worker: &str) -> Job {
    queue
        .claim(worker, LONG_LEASE)
        .await
        .expect("claim")
        .expect("a runnable job")
}

async fn stop(queue: &Queue, issue: u64, stop_job: i64) -> StopReport {
    queue
        .stop_issue(repo().id, issue, stop_job)
        .await
        .expect("apply the stop")
}

async fn gate(queue: &Queue, job: &Job) -> PublishGate {
    queue.begin_publish(job).await.expect("publish gate")
}

/// (publishing, cancel_requested, stopped_by) of a job as stored.
async fn flags(queue: &Queue, job_id: i64) -> (bool, bool, Option<i64>) {
    let info = queue.job(job_id).await.expect("read").expect("job exists");
    (info.publishing, info.cancel_requested, info.stopped_by)
}

pub async fn a_stop_after_the_gate_is_too_late_and_flags_nothing(url: &str) {
    let queue = connect(url).await;
    let run = enqueue(&queue, "g-run", 5).await;
    let job = claim(&queue, "w").await;
    let stop_job = enqueue_stop(&queue, "g-stop", 5).await;

    assert_eq!(gate(&queue, &job).await, PublishGate::Proceed);
    let report = stop(&queue, 5, stop_job).await;
    assert_eq!(
        report,
        StopReport {
            cancelled_queued: 0,
            running_job: None,
            too_late: Some(run),
        }
    );
    assert!(report.is_empty(), "a run past its gate was not stopped");
    assert_eq!(flags(&queue, run).await, (true, false, Some(stop_job)));
    assert_eq!(
        queue.heartbeat(&job, LONG_LEASE).await.expect("heartbeat"),
        Heartbeat::Extended,
        "the stop flagged a run past its gate"
    );
    assert_eq!(
        gate(&queue, &job).await,
        PublishGate::Proceed,
        "asking the gate again changes nothing"
    );
    queue
        .complete(&job, &serde_json::json!({"published": true}))
        .await
        .expect("the run publishes and ends done");
    assert_eq!(state_of(&queue, run).await, JobState::Done);
    assert_eq!(
        stop(&queue, 5, stop_job).await,
        report,
        "the retried stop reports otherwise"
    );
}

pub async fn a_gate_after_the_stop_says_stopped(url: &str) {
    let queue = connect(url).await;
    let run = enqueue(&queue, "s-run", 5).await;
    let job = claim(&queue, "w").await;
    let stop_job = enqueue_stop(&queue, "s-stop", 5).await;

    let report = stop(&queue, 5, stop_job).await;
    assert_eq!(
        report,
        StopReport {
            cancelled_queued: 0,
            running_job: Some(run),
            too_late: None,
        }
    );
    assert_eq!(gate(&queue, &job).await, PublishGate::Stopped);
    assert_eq!(flags(&queue, run).await, (false, true, Some(stop_job)));
    assert_eq!(
        queue.heartbeat(&job, LONG_LEASE).await.expect("heartbeat"),
        Heartbeat::CancelRequested
    );
    queue
        .finish_cancelled(&job)
        .await
        .expect("finish cancelled");
    assert_eq!(state_of(&queue, run).await, JobState::Cancelled);
}

pub async fn a_retried_stop_gets_the_report_of_its_first_attempt(url: &str) {
    let queue = connect(url).await;
    let running = enqueue(&queue, "r-run-1", 5).await;
    let job = claim(&queue, "w").await;
    let queued = [
        enqueue(&queue, "r-run-2", 5).await,
        enqueue(&queue, "r-run-3", 5).await,
    ];
    let stop_job = enqueue_stop(&queue, "r-stop", 5).await;
    let first = stop(&queue, 5, stop_job).await;
    assert_eq!(
        first,
        StopReport {
            cancelled_queued: 2,
            running_job: Some(running),
            too_late: None,
        }
    );

    // The run worker ends its job; the stop's worker failed after applying it, and its retry applies the
    // stop again: same report, although nothing is left queued or running.
    queue
        .finish_cancelled(&job)
        .await
        .expect("finish cancelled");
    assert_eq!(stop(&queue, 5, stop_job).await, first);
    for id in queued.into_iter().chain([running]) {
        assert_eq!(state_of(&queue, id).await, JobState::Cancelled);
        assert_eq!(flags(&queue, id).await.2, Some(stop_job));
    }

    // What a stop remembers is its own: a later stop of the same issue has nothing to stop.
    let later = enqueue_stop(&queue, "r-stop-later", 5).await;
    assert_eq!(stop(&queue, 5, later).await, StopReport::default());
}

pub async fn a_gate_whose_lease_was_lost_lets_nothing_through(url: &str) {
    let queue = connect(url).await;
    let run = enqueue(&queue, "l-run", 5).await;
    let gone = claim(&queue, "first").await;
    queue.release(&gone).await.expect("release");
    let holder = claim(&queue, "second").await;
    assert_eq!(holder.id, run);

    assert_eq!(gate(&queue, &gone).await, PublishGate::LeaseLost);
    assert!(!flags(&queue, run).await.0, "a lost lease opened the gate");
    assert_eq!(gate(&queue, &holder).await, PublishGate::Proceed);
    queue
        .complete(&holder, &serde_json::json!({}))
        .await
        .expect("complete");
    assert_eq!(gate(&queue, &holder).await, PublishGate::LeaseLost);
}

pub async fn cancel_never_flags_a_job_past_its_gate(url: &str) {
    let queue = connect(url).await;
    let published = enqueue(&queue, "c-run-1", 5).await;
    let job = claim(&queue, "w").await;
    assert_eq!(gate(&queue, &job).await, PublishGate::Proceed);
    queue.cancel(published).await.expect("cancel");
    assert_eq!(flags(&queue, published).await, (true, false, None));
    assert_eq!(state_of(&queue, published).await, JobState::Running);
    assert_eq!(
        queue.heartbeat(&job, LONG_LEASE).await.expect("heartbeat"),
        Heartbeat::Extended
    );
    queue
        .complete(&job, &serde_json::json!({}))
        .await
        .expect("complete");

    // Before the gate, a cancel wins: the gate says stopped.
    let cancelled = enqueue(&queue, "c-run-2", 6).await;
    let job = claim(&queue, "w").await;
    assert_eq!(job.id, cancelled);
    queue.cancel(cancelled).await.expect("cancel");
    assert_eq!(gate(&queue, &job).await, PublishGate::Stopped);
    queue
        .finish_cancelled(&job)
        .await
        .expect("finish cancelled");
}

pub async fn a_job_queued_again_passes_the_gate_anew(url: &str) {
    let queue = connect(url).await;
    let run = enqueue(&queue, "a-run", 5).await;
    let job = claim(&queue, "w").await;
    assert_eq!(gate(&queue, &job).await, PublishGate::Proceed);
    let state = queue
        .fail(&job, &JobError::Transient("the push timed out".into()))
        .await
        .expect("fail");
    assert_eq!(state, JobState::Queued);
    assert!(!flags(&queue, run).await.0, "a queued job is publishing");

    // Its gate passed on an attempt that failed: a stop now cancels it.
    let stop_job = enqueue_stop(&queue, "a-stop", 5).await;
    assert_eq!(
        stop(&queue, 5, stop_job).await,
        StopReport {
            cancelled_queued: 1,
            running_job: None,
            too_late: None,
        }
    );
    assert_eq!(state_of(&queue, run).await, JobState::Cancelled);
}

/// Many stops race many gates, each pair on an issue of its own, from two connections (on Postgres, two
/// pools; on SQLite, sqlx's pool beside itself): in every pair exactly one side wins, and the report, the
/// gate's answer and the stored flags agree on which.
pub async fn racing_stops_and_gates_never_both_win(url: &str) {
    const ROUNDS: u64 = 4;
    const ISSUES: u64 = 16;
    let (gates, stops) = (connect(url).await, connect(url).await);
    let mut wins = HashMap::from([("gate", 0), ("stop", 0)]);
    for round in 0..ROUNDS {
        let issues = (round * ISSUES + 100)..((round + 1) * ISSUES + 100);
        for issue in issues.clone() {
            enqueue(&gates, &format!("race-run-{issue}"), issue).await;
        }
        let mut pairs = Vec::new();
        for _ in issues.clone() {
            let job = claim(&gates, "racer").await;
            let issue = job.trigger.issue_number;
            let stop_job = enqueue_stop(&stops, &format!("race-stop-{issue}"), issue).await;
            pairs.push((job, stop_job));
        }
        let mut races = Vec::new();
        for (index, (job, stop_job)) in pairs.into_iter().enumerate() {
            let start = Arc::new(Barrier::new(2));
            let (gate_queue, gate_start, gate_job) = (gates.clone(), start.clone(), job.clone());
            let gate_side = async move {
                gate_start.wait().await;
                gate(&gate_queue, &gate_job).await
            };
            let (stop_queue, stop_start, issue) = (stops.clone(), start, job.trigger.issue_number);
            let stop_side = async move {
                stop_start.wait().await;
                stop(&stop_queue, issue, stop_job).await
            };
            // Half the pairs spawn the gate first, half the stop.
            let (gate_task, stop_task) = if index % 2 == 0 {
                let gate_task = tokio::spawn(gate_side);
                (gate_task, tokio::spawn(stop_side))
            } else {
                let stop_task = tokio::spawn(stop_side);
                (tokio::spawn(gate_side), stop_task)
            };
            races.push((job, stop_job, gate_task, stop_task));
        }
        for (job, stop_job, gate_task, stop_task) in races {
            let (answer, report) = (
                gate_task.await.expect("gate task"),
                stop_task.await.expect("stop task"),
            );
            let stored = flags(&gates, job.id).await;
            match answer {
                PublishGate::Proceed => {
                    *wins.get_mut("gate").expect("counter") += 1;
                    assert_eq!(
                        (report.running_job, report.too_late),
                        (None, Some(job.id)),
                        "the gate won, but the stop says otherwise"
                    );
                    assert_eq!(stored, (true, false, Some(stop_job)));
                    end_as_worker(&gates, &job, true).await;
                }
                PublishGate::Stopped => {
                    *wins.get_mut("stop").expect("counter") += 1;
                    assert_eq!(
                        (report.running_job, report.too_late),
                        (Some(job.id), None),
                        "the stop won, but its report says otherwise"
                    );
                    assert_eq!(stored, (false, true, Some(stop_job)));
                    end_as_worker(&gates, &job, false).await;
                }
                PublishGate::LeaseLost => panic!("job {} lost a lease nobody took", job.id),
            }
            assert_eq!(report.cancelled_queued, 0);
        }
    }
    eprintln!("racing stops and gates: {wins:?}");
    assert_eq!(wins.values().sum::<u64>(), ROUNDS * ISSUES);
}

/// Ends a raced job as its worker would: published and done, or cancelled.
async fn end_as_worker(queue: &Queue, job: &Job, published: bool) {
    if published {
        queue
            .complete(job, &serde_json::json!({}))
            .await
            .expect("complete");
    } else {
        queue.finish_cancelled(job).await.expect("finish cancelled");
    }
}
