//! Who may stop, what a stop ends, and where a stop is refused.

use metagpt_bot::queue::JobState;
use serde_json::json;

use super::scenario::{ISSUE, REPO, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_users_stop_is_refused_and_the_run_goes_on() {
    let s = Scenario::start().await;
    let run = s.running_run().await;
    let stop = s.stop_from(&s.reader, None).await;

    let done = s.wait_for(stop, JobState::Done).await;
    let refusal = "@mallory asked for `/metagpt stop` but has read permission on \
        Codertocat/Hello-World; only users with write, maintain or admin permission can stop a run. \
        Nothing was stopped.";
    assert_eq!(s.replies_on(ISSUE).await, [refusal]);
    assert_eq!(
        done.outcome,
        Some(json!({"stopped": false, "refused": refusal}))
    );
    assert!(
        s.reactions().await.is_empty(),
        "a refused stop got a reaction"
    );
    let info = s.job(run).await;
    assert_eq!(
        (info.state, info.cancel_requested),
        (JobState::Running, false),
        "a read-only user stopped the run"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_stop_cancels_the_running_run_and_a_second_one_has_nothing_to_stop() {
    let s = Scenario::start().await;
    let run = s.running_run().await;
    let stop = s.stop_from(&s.writer, None).await;

    let done = s.wait_for(stop, JobState::Done).await;
    assert_eq!(
        done.outcome,
        Some(
            json!({"stopped": true, "issue": ISSUE, "cancelled_queued": 0, "running_signalled": true})
        )
    );
    let cancelled = s.wait_for(run, JobState::Cancelled).await;
    assert_eq!(cancelled.outcome, None);
    assert_eq!(s.reactions().await, [json!("+1")]);
    assert!(
        s.replies_on(ISSUE).await.is_empty(),
        "{:?}",
        s.replies_on(ISSUE).await
    );

    let again = s.stop_from(&s.writer, None).await;
    s.wait_for(again, JobState::Done).await;
    assert_eq!(
        s.replies_on(ISSUE).await,
        ["@alice nothing to stop: no run of #1 is queued or running."]
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_stop_on_the_bots_pull_request_cancels_the_issues_run() {
    let s = Scenario::start().await;
    s.add_pull(9, "metagpt/issue-1", REPO);
    s.add_pull(10, "feature", "someone/Hello-World");
    let run = s.running_run().await;

    let elsewhere = s.stop_from(&s.writer, Some(10)).await;
    s.wait_for(elsewhere, JobState::Done).await;
    let replies = s.replies_on(10).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].contains("works on the bot's own pull requests"),
        "{replies:?}"
    );
    assert_eq!(s.job(run).await.state, JobState::Running);

    let stop = s.stop_from(&s.writer, Some(9)).await;
    s.wait_for(stop, JobState::Done).await;
    s.wait_for(run, JobState::Cancelled).await;
    assert!(s.replies_on(9).await.is_empty());
    s.finish().await;
}
