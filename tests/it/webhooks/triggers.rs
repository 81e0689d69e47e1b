//! Scenario tests: signed `@octokit/webhooks-examples` payloads through the real router and a real SQLite
//! queue. Accepted triggers must be persisted before the answer (seen through a second connection).
//! Ignored deliveries are in `ignored.rs`.

use crate::support::webhook;

use axum::http::StatusCode;
use futures_util::FutureExt;
use metagpt_bot::domain::{ControlRequest, Kind, RepoRef, Request, RunRequest, Trigger};
use metagpt_bot::queue::DeliveryOutcome;
use webhook::{Harness, comment, delivery_id, labeled, on_pull_request};

fn hello_world() -> RepoRef {
    RepoRef {
        id: 186853002,
        owner: "Codertocat".to_owned(),
        name: "Hello-World".to_owned(),
    }
}

#[tokio::test]
async fn trigger_label_enqueues_a_persisted_requirement_run() {
    let harness = Harness::new().await;
    let delivery = delivery_id();
    // A local worker waiting for work (registered before the delivery, as workers do before claiming).
    let waiting_worker = harness.state.job_notify.notified();
    let answer = harness
        .deliver_as("issues", &delivery, &labeled("metagpt", &["metagpt"]))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.json()["outcome"], "accepted");
    let job_id = answer.json()["job_id"]
        .as_i64()
        .expect("job id in the answer");

    let job = harness
        .claim_persisted()
        .await
        .expect("the job is in the database");
    assert_eq!(job.id, job_id);
    let expected = Trigger {
        delivery_id: delivery.clone(),
        installation_id: Some(42),
        repo: hello_world(),
        issue_number: 1,
        is_pull_request: false,
        work_issue: None,
        sender_id: 21031067,
        sender_login: "Codertocat".to_owned(),
        request: Request::Run(RunRequest::Labeled {
            kind: Kind::Requirement,
            label: Some("metagpt".to_owned()),
        }),
    };
    assert_eq!(job.trigger, expected);
    let stored = harness
        .state
        .queue
        .delivery(&delivery)
        .await
        .unwrap()
        .expect("delivery recorded");
    assert_eq!(stored.outcome, DeliveryOutcome::Accepted);
    assert_eq!(stored.action.as_deref(), Some("labeled"));
    assert!(
        waiting_worker.now_or_never().is_some(),
        "local workers are woken"
    );
}

#[tokio::test]
async fn trigger_label_on_an_issue_with_a_bug_label_is_a_bugfix_in_any_case() {
    let harness = Harness::new().await;
    let answer = harness
        .deliver("issues", &labeled("MetaGPT", &["Bug", "MetaGPT"]))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    let job = harness.claim_persisted().await.expect("job persisted");
    assert_eq!(
        job.trigger.request,
        Request::Run(RunRequest::Labeled {
            kind: Kind::Bugfix,
            label: Some("MetaGPT".to_owned())
        })
    );
}

#[tokio::test]
async fn another_label_is_stored_as_a_label_check_that_no_run_worker_takes() {
    let harness = Harness::new().await;
    let delivery = delivery_id();
    let answer = harness
        .deliver_as(
            "issues",
            &delivery,
            &labeled("documentation", &["documentation"]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.json()["outcome"], "accepted");
    assert_eq!(answer.json()["action"], "label");
    assert_eq!(answer.json()["queued_behind"], 0);
    let job_id = answer.json()["job_id"]
        .as_i64()
        .expect("the check's job id");
    assert!(
        harness.claim_persisted().await.is_none(),
        "a run worker never takes a label check"
    );
    let check = harness
        .reopen()
        .await
        .claim_control("control", std::time::Duration::from_secs(60))
        .await
        .expect("claim")
        .expect("the control loop takes it");
    assert_eq!(check.id, job_id);
    assert_eq!(
        check.trigger.request,
        Request::Control(ControlRequest::LabelCheck {
            label: "documentation".to_owned()
        })
    );
    assert_eq!(check.trigger.issue_number, 1);
    assert_eq!(check.trigger.installation_id, Some(42));
}

#[tokio::test]
async fn a_delivery_without_installation_still_triggers() {
    let harness = Harness::new().await;
    let mut payload = labeled("metagpt", &["metagpt"]);
    payload.as_object_mut().unwrap().remove("installation");
    assert_eq!(
        harness.deliver("issues", &payload).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        harness
            .claim_persisted()
            .await
            .expect("job")
            .trigger
            .installation_id,
        None
    );
}

#[tokio::test]
async fn redelivery_of_an_accepted_trigger_enqueues_nothing_new() {
    let harness = Harness::new().await;
    let delivery = delivery_id();
    let payload = labeled("metagpt", &["metagpt"]);
    let first = harness.deliver_as("issues", &delivery, &payload).await;
    let second = harness.deliver_as("issues", &delivery, &payload).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.json()["outcome"], "duplicate");
    assert_eq!(second.json()["job_id"], first.json()["job_id"]);
}

#[tokio::test]
async fn comment_commands_on_issues_and_pull_requests_are_persisted() {
    let harness = Harness::new().await;
    let body = "Thanks!\n/metagpt use a dark theme\nand larger fonts";
    let answer = harness.deliver("issue_comment", &comment(body)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    let job = harness
        .claim_persisted()
        .await
        .expect("iterate job persisted");
    let feedback = "use a dark theme\nand larger fonts".to_owned();
    assert_eq!(
        job.trigger.request,
        Request::Run(RunRequest::Iterate {
            feedback,
            comment_id: 492700400
        })
    );
    assert!(!job.trigger.is_pull_request);
    assert_eq!(
        job.trigger.installation_id,
        Some(1),
        "the fixture's own installation"
    );

    let other = Harness::new().await;
    let answer = other
        .deliver("issue_comment", &on_pull_request(comment("/metagpt RETRY")))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    let job = other.claim_persisted().await.expect("retry job persisted");
    assert_eq!(
        job.trigger.request,
        Request::Run(RunRequest::Retry {
            comment_id: 492700400
        })
    );
    assert!(job.trigger.is_pull_request);
    assert_eq!(
        (job.trigger.sender_id, job.trigger.sender_login.as_str()),
        (21031067, "Codertocat")
    );
}

#[tokio::test]
async fn stop_is_stored_as_a_control_job_and_cancels_nothing_before_a_permission_check() {
    let harness = Harness::new().await;
    let run = harness
        .deliver("issues", &labeled("metagpt", &["metagpt"]))
        .await;
    assert_eq!(run.status, StatusCode::ACCEPTED);
    let delivery = delivery_id();
    let answer = harness
        .deliver_as("issue_comment", &delivery, &comment("/metagpt stop"))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.json()["action"], "stop");
    assert_eq!(answer.json()["queued_behind"], 0);
    let stop_id = answer.json()["job_id"].as_i64().expect("the stop's job id");
    let stored = harness
        .state
        .queue
        .delivery(&delivery)
        .await
        .unwrap()
        .expect("delivery recorded");
    assert_eq!(
        (stored.outcome, stored.job_id),
        (DeliveryOutcome::Accepted, Some(stop_id))
    );

    // Anyone can comment; the run is untouched until the stop's worker checked who asked.
    let queued = harness
        .claim_persisted()
        .await
        .expect("the run is still queued");
    assert_eq!(queued.trigger.request.name(), "run");
    let control = harness
        .reopen()
        .await
        .claim_control("test-control", std::time::Duration::from_secs(60))
        .await
        .expect("claim control")
        .expect("the stop is persisted");
    assert_eq!(control.id, stop_id);
    assert_eq!(
        control.trigger.request,
        Request::Control(ControlRequest::Stop {
            comment_id: 492700400
        })
    );
}
