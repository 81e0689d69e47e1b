//! Recording deliveries: durability before the answer, redelivery rules, no loss under concurrency.

use std::collections::{BTreeMap, BTreeSet};

use metagpt_bot::queue::{DeliveryOutcome, JobState, QUEUED_BEHIND_MAX, Recorded};

use super::{
    LONG_LEASE, connect, count_in, delivery, enqueue, record_run, run_action, state_of, trigger,
};

pub async fn recorded_delivery_is_readable_from_a_new_connection(url: &str) {
    let server = connect(url).await;
    let accepted = server
        .record(
            delivery("d-accepted", DeliveryOutcome::Accepted),
            Some(trigger("d-accepted", 1, run_action())),
        )
        .await
        .expect("record accepted");
    let Recorded::Stored {
        job_id: Some(job_id),
        queued_behind: 0,
    } = accepted
    else {
        panic!("expected a stored job first in line, got {accepted:?}");
    };
    let ignored = DeliveryOutcome::Ignored {
        reason: "label `docs` is not the trigger label".into(),
    };
    let answer = server
        .record(delivery("d-ignored", ignored.clone()), None)
        .await
        .expect("record ignored");
    assert_eq!(
        answer,
        Recorded::Stored {
            job_id: None,
            queued_behind: 0
        }
    );
    let rejected = DeliveryOutcome::Rejected {
        reason: "payload: missing field `issue`".into(),
    };
    server
        .record(delivery("d-rejected", rejected.clone()), None)
        .await
        .expect("record rejected");

    // Another process (a new pool) sees everything at once: it was committed before the answer.
    let other = connect(url).await;
    let stored = other
        .delivery("d-accepted")
        .await
        .expect("read")
        .expect("accepted delivery stored");
    assert_eq!(
        (stored.event.as_str(), stored.action.as_deref()),
        ("issues", Some("labeled"))
    );
    assert_eq!(
        (stored.outcome, stored.job_id),
        (DeliveryOutcome::Accepted, Some(job_id))
    );
    let stored = other
        .delivery("d-ignored")
        .await
        .expect("read")
        .expect("ignored delivery stored");
    assert_eq!((stored.outcome, stored.job_id), (ignored, None));
    let stored = other
        .delivery("d-rejected")
        .await
        .expect("read")
        .expect("rejected delivery stored");
    assert_eq!(stored.outcome, rejected);
    let job = other
        .job(job_id)
        .await
        .expect("read job")
        .expect("job stored");
    assert_eq!(
        (job.state, job.attempts, job.action.as_str()),
        (JobState::Queued, 0, "run")
    );
    assert_eq!(
        (job.repo_full_name.as_str(), job.issue_number),
        ("octo/app", 1)
    );
    let stored_trigger: metagpt_bot::domain::Trigger =
        serde_json::from_str(&job.trigger_json).expect("trigger JSON");
    assert_eq!(stored_trigger, trigger("d-accepted", 1, run_action()));
    assert!(other.delivery("never-sent").await.expect("read").is_none());
    other.ping().await.expect("ping");
}

pub async fn redelivered_success_is_a_duplicate_and_redelivered_failure_runs_again(url: &str) {
    let queue = connect(url).await;
    let redeliver = |id: &'static str, issue| record_run(&queue, id, issue);

    // A delivery whose job is queued, running or done is never enqueued twice.
    let first = enqueue(&queue, "d-ok", 1).await;
    assert_eq!(
        redeliver("d-ok", 1).await,
        Recorded::Duplicate {
            job_id: Some(first)
        }
    );
    let job = queue
        .claim("w1", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(job.id, first);
    assert_eq!(
        redeliver("d-ok", 1).await,
        Recorded::Duplicate {
            job_id: Some(first)
        }
    );
    queue
        .complete(&job, &serde_json::json!({"ok": true}))
        .await
        .expect("complete");
    assert_eq!(
        redeliver("d-ok", 1).await,
        Recorded::Duplicate {
            job_id: Some(first)
        }
    );
    assert!(
        queue
            .claim("w1", LONG_LEASE)
            .await
            .expect("claim")
            .is_none(),
        "a done delivery ran again"
    );

    // A delivery whose job failed runs again, and the delivery points at the new job.
    let failed = enqueue(&queue, "d-fail", 2).await;
    let job = queue
        .claim("w1", LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    let permanent = metagpt_bot::queue::JobError::Permanent("issue not found".into());
    assert_eq!(
        queue.fail(&job, &permanent).await.expect("fail"),
        JobState::Failed
    );
    let Recorded::Stored {
        job_id: Some(again),
        queued_behind: 0,
    } = redeliver("d-fail", 2).await
    else {
        panic!("a redelivered failure must be enqueued again");
    };
    assert_ne!(again, failed);
    assert_eq!(
        queue
            .delivery("d-fail")
            .await
            .expect("read")
            .expect("stored")
            .job_id,
        Some(again)
    );
    assert_eq!(state_of(&queue, again).await, JobState::Queued);
    assert_eq!(
        redeliver("d-fail", 2).await,
        Recorded::Duplicate {
            job_id: Some(again)
        }
    );

    // An ignored delivery stays ignored.
    let ignored = || {
        delivery(
            "d-ignored",
            DeliveryOutcome::Ignored {
                reason: "other label".into(),
            },
        )
    };
    queue.record(ignored(), None).await.expect("record");
    assert_eq!(
        queue.record(ignored(), None).await.expect("redeliver"),
        Recorded::Duplicate { job_id: None }
    );
    assert_eq!(
        count_in(&queue, JobState::Queued).await,
        1,
        "only the re-run of the failed delivery is queued"
    );
}

pub async fn thousand_concurrent_records_lose_nothing(url: &str) {
    const DELIVERIES: u64 = 1000;
    const ISSUES: u64 = 50;
    let queue = connect(url).await;
    let tasks: Vec<_> = (0..DELIVERIES)
        .map(|n| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let id = format!("burst-{n}");
                let issue = n % ISSUES;
                let answer = queue
                    .record(
                        delivery(&id, DeliveryOutcome::Accepted),
                        Some(trigger(&id, issue, run_action())),
                    )
                    .await
                    .expect("record");
                (id, issue, answer)
            })
        })
        .collect();
    let mut job_ids = BTreeSet::new();
    let mut behind_by_issue: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    let mut answers = Vec::new();
    for task in tasks {
        let (id, issue, answer) = task.await.expect("task");
        let Recorded::Stored {
            job_id: Some(job_id),
            queued_behind,
        } = answer
        else {
            panic!("{id}: expected a stored job, got {answer:?}");
        };
        assert!(job_ids.insert(job_id), "job id {job_id} handed out twice");
        behind_by_issue
            .entry(issue)
            .or_default()
            .push(queued_behind);
        answers.push((id, job_id));
    }

    let other = connect(url).await;
    assert_eq!(count_in(&other, JobState::Queued).await, DELIVERIES as i64);
    for (id, job_id) in answers {
        let stored = other
            .delivery(&id)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("{id} was lost"));
        assert_eq!(stored.job_id, Some(job_id), "{id} points at the wrong job");
    }
    // Within each issue the new jobs lined up one behind the other; the count stops at its cap.
    let per_issue = (DELIVERIES / ISSUES) as i64;
    assert!(per_issue > QUEUED_BEHIND_MAX, "the burst reaches the cap");
    let expected: Vec<i64> = (0..per_issue).map(|n| n.min(QUEUED_BEHIND_MAX)).collect();
    for (issue, mut behind) in behind_by_issue {
        behind.sort_unstable();
        assert_eq!(behind, expected, "issue {issue}: queue positions");
    }
}
