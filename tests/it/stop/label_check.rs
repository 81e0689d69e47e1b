//! A `/metagpt stop` sent while a label check waits: it wins over the check when its sender may stop runs
//! (the check then enqueues nothing, or cancels the run it just enqueued), and changes nothing when they
//! may not (the stop job refuses it, the run goes on).

use std::time::Duration;

use metagpt_bot::queue::JobState;
use serde_json::json;

use crate::app::bot_comments;
use crate::app::labels::{labeled, set_settings};
use crate::support::bot::{FULL_NAME, ISSUE, World, alice, eventually, reader};
use crate::support::fake_github::{self, User};

/// Delivers the label `ai` (the repository's trigger label) while GitHub fails the check's first read
/// of the issue, then a `/metagpt stop` from `sender` while the check waits for its retry; returns the
/// check's job id.
async fn stop_while_the_check_waits(world: &World, sender: User) -> i64 {
    set_settings(world, "trigger_label: ai\n");
    let issue_path = format!("/repos/{FULL_NAME}/issues/{ISSUE}");
    let outage = fake_github::Fault::status(502, "Server Error");
    world
        .github
        .inject("GET", &issue_path, outage, Some(1))
        .await;
    let check = world
        .deliver("issues", &labeled(world, "ai", &["ai"]))
        .await
        .expect("a check job");
    let failed_once = || {
        let requests = world.github.requests();
        requests
            .iter()
            .any(|r| r.path == issue_path && r.status == 502)
    };
    eventually(
        "the check's first attempt",
        Duration::from_secs(60),
        failed_once,
    )
    .await;
    let stop = world.comment(sender, "/metagpt stop", None);
    world
        .deliver("issue_comment", &stop)
        .await
        .expect("a stop job");
    check
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_after_the_label_wins_over_a_label_check_that_had_to_wait() {
    let world = World::start().await;
    let check = stop_while_the_check_waits(&world, alice()).await;

    // The stop is applied before the retried check, and would not cancel a run recorded after it:
    // the check must start nothing.
    let outcome = world.wait_for(check, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["started"], json!(false), "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("/metagpt stop"),
        "{outcome}"
    );
    assert!(world.llm.requests().is_empty(), "no run");
    assert!(world.github.state().pulls_of(FULL_NAME).is_empty());
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_from_a_read_only_user_does_not_cancel_the_labels_run() {
    let world = World::start().await;
    let check = stop_while_the_check_waits(&world, reader()).await;

    let outcome = world.wait_for(check, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["started"], json!(true), "{outcome}");
    let run = outcome["run_job_id"].as_i64().expect("a run job");
    let info = world.wait_for(run, JobState::Done).await;
    assert_eq!(info.outcome.unwrap()["gates_passed"], true);
    assert_eq!(world.github.state().pulls_of(FULL_NAME).len(), 1);
    let refusal = || {
        bot_comments(&world)
            .iter()
            .any(|c| c.contains("@rita") && c.contains("read permission"))
    };
    eventually("the stop's refusal", Duration::from_secs(60), refusal).await;
    world.github.assert_no_unexpected();
}
