//! Queue scenarios written once and run on both backends: `sqlite.rs` and `postgres.rs` each
//! call [`scenarios!`] with a function that makes a fresh, empty database and returns its URL.
//!
//! Helpers here build deliveries and triggers, connect with small leases and backoffs, and poll a
//! condition with a deadline (never a sleep).

pub mod bursts;
pub mod cancel;
pub mod control;
pub mod deliveries;
pub mod failures;
pub mod label_checks;
pub mod publish_gate;
pub mod workers;

mod postgres;
mod sqlite;

use std::future::Future;
use std::time::{Duration, Instant};

use metagpt_bot::domain::{Kind, RepoRef, Request, RunRequest, Trigger};
use metagpt_bot::queue::{
    DeliveryOutcome, DeliveryRecord, JobState, Queue, QueueOptions, Recorded,
};

/// A fresh database for one test; `keep` holds whatever must live as long as it (a temporary folder).
pub struct TestDb {
    pub url: String,
    #[allow(dead_code)] // held for its drop, never read
    pub keep: Option<Box<dyn std::any::Any + Send>>,
}

/// Generates one `#[tokio::test]` per scenario, each on a fresh database from `$fresh` (an async fn
/// returning `Option<TestDb>`; `None` skips the test).
macro_rules! scenarios {
    ($fresh:path) => {
        crate::queue::scenarios!(@each $fresh;
            deliveries::recorded_delivery_is_readable_from_a_new_connection,
            deliveries::redelivered_success_is_a_duplicate_and_redelivered_failure_runs_again,
            deliveries::thousand_concurrent_records_lose_nothing,
            bursts::a_delivery_sent_many_times_at_once_is_stored_once,
            workers::two_workers_never_run_the_same_issue_at_once,
            workers::killed_workers_job_is_taken_again_and_its_late_complete_refused,
            workers::released_job_is_queued_again_without_counting_the_attempt,
            workers::eight_workers_claim_each_of_two_thousand_jobs_exactly_once,
            failures::transient_failure_backs_off_then_fails_after_max_attempts,
            failures::permanent_failure_fails_at_once_with_its_reason,
            control::a_stop_is_a_control_job_claimed_beside_the_running_run_and_applied_on_demand,
            control::run_jobs_never_wait_behind_a_control_job,
            cancel::later_stops_come_with_their_senders_and_one_job_can_be_cancelled,
            control::a_stop_leaves_runs_recorded_after_it_alone,
            label_checks::a_label_check_never_waits_behind_a_running_run,
            label_checks::runs_never_wait_behind_a_queued_label_check,
            publish_gate::a_stop_after_the_gate_is_too_late_and_flags_nothing,
            publish_gate::a_gate_after_the_stop_says_stopped,
            publish_gate::a_retried_stop_gets_the_report_of_its_first_attempt,
            publish_gate::a_gate_whose_lease_was_lost_lets_nothing_through,
            publish_gate::cancel_never_flags_a_job_past_its_gate,
            publish_gate::a_job_queued_again_passes_the_gate_anew,
            publish_gate::racing_stops_and_gates_never_both_win,
        );
    };
    (@each $fresh:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(db) = $fresh().await {
                    crate::queue::$module::$name(&db.url).await;
                }
            }
        )*
    };
}
pub(crate) use scenarios;

/// Options with backoffs small enough for tests.
pub fn fast_options() -> QueueOptions {
    QueueOptions {
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
    }
}

pub async fn connect(url: &str) -> Queue {
    connect_with(url, fast_options()).await
}

pub async fn connect_with(url: &str, options: QueueOptions) -> Queue {
    Queue::connect(url, options)
        .await
        .expect("connect to the test database")
}

pub const LONG_LEASE: Duration = Duration::from_secs(3600);

pub fn repo() -> RepoRef {
    RepoRef {
        id: 4242,
        owner: "octo".into(),
        name: "app".into(),
    }
}

pub fn trigger(delivery_id: &str, issue: u64, request: Request) -> Trigger {
    Trigger {
        delivery_id: delivery_id.into(),
        installation_id: Some(7),
        repo: repo(),
        issue_number: issue,
        is_pull_request: false,
        work_issue: None,
        sender_id: 1001,
        sender_login: "alice".into(),
        request,
    }
}

pub fn run_action() -> Request {
    Request::Run(RunRequest::Labeled {
        kind: Kind::Requirement,
        label: None,
    })
}

pub fn delivery(delivery_id: &str, outcome: DeliveryOutcome) -> DeliveryRecord {
    DeliveryRecord {
        delivery_id: delivery_id.into(),
        event: "issues".into(),
        action: Some("labeled".into()),
        outcome,
    }
}

/// Records an accepted `run` delivery for `issue`.
pub async fn record_run(queue: &Queue, delivery_id: &str, issue: u64) -> Recorded {
    queue
        .record(
            delivery(delivery_id, DeliveryOutcome::Accepted),
            Some(trigger(delivery_id, issue, run_action())),
        )
        .await
        .expect("record")
}

/// Records an accepted `run` delivery for `issue` and returns its job id.
pub async fn enqueue(queue: &Queue, delivery_id: &str, issue: u64) -> i64 {
    match record_run(queue, delivery_id, issue).await {
        Recorded::Stored {
            job_id: Some(job_id),
            ..
        } => job_id,
        other => panic!("expected a stored job for {delivery_id}, got {other:?}"),
    }
}

pub async fn state_of(queue: &Queue, job_id: i64) -> JobState {
    queue
        .job(job_id)
        .await
        .expect("read job")
        .expect("job exists")
        .state
}

pub async fn count_in(queue: &Queue, wanted: JobState) -> i64 {
    let depth = queue.depth().await.expect("depth");
    depth
        .into_iter()
        .find(|(state, _)| *state == wanted)
        .map_or(0, |(_, count)| count)
}

/// Polls `attempt` until it yields `Some`, for at most two minutes (generous: a loaded CI machine
/// drains 2,000 jobs with two fsyncs each within it; the deadline only bounds a failing test).
pub async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::task::yield_now().await;
    }
}
