//! A `/metagpt stop` sent while a label check waits: it wins over the check when its sender may stop runs
//! (the check then enqueues nothing, or cancels the run it just enqueued), and changes nothing when they
//! may not (the stop job refuses it, the run goes on).

use metagpt_bot::queue::JobState;
use serde_json::json;

use crate::support::bot::{Bot, FULL_NAME, ISSUE, alice, reader};
use crate::support::fake_github::{Fault, User};

/// Labels issue #5 `ai` (the repository's trigger label) while GitHub fails the check's first read of
/// the issue, then `sender` comments `/metagpt stop` while the check waits for its retry; returns the
/// check's job id.
async fn stop_while_the_check_waits(bot: &Bot, sender: User) -> i64 {
    bot.set_settings("trigger_label: ai\n");
    let issue_path = format!("/repos/{FULL_NAME}/issues/{ISSUE}");
    let outage = Fault::status(502, "Server Error");
    bot.github.inject("GET", &issue_path, outage, Some(1)).await;
    let check = bot.label_as("ai", &["ai"]).await;
    let failed_once = || {
        let requests = bot.requests();
        requests
            .iter()
            .any(|r| r.path == issue_path && r.status == 502)
    };
    bot.until("the check's first attempt", failed_once).await;
    bot.comment(sender, "/metagpt stop").await;
    check
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_after_the_label_wins_over_a_label_check_that_had_to_wait() {
    let bot = Bot::start().await;
    let check = stop_while_the_check_waits(&bot, alice()).await;

    // The stop is applied before the retried check, and would not cancel a run recorded after it:
    // the check must start nothing.
    let outcome = bot.wait_for(check, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["started"], json!(false), "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("/metagpt stop"),
        "{outcome}"
    );
    assert_eq!(bot.llm_calls(), 0, "no run");
    assert!(bot.pulls().is_empty());
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_from_a_read_only_user_does_not_cancel_the_labels_run() {
    let bot = Bot::start().await;
    let check = stop_while_the_check_waits(&bot, reader()).await;

    let outcome = bot.wait_for(check, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["started"], json!(true), "{outcome}");
    let run = outcome["run_job_id"].as_i64().expect("a run job");
    let info = bot.wait_for(run, JobState::Done).await;
    assert_eq!(info.outcome.unwrap()["gates_passed"], true);
    assert_eq!(bot.pulls().len(), 1);
    let refusal = || {
        bot.comments()
            .iter()
            .any(|c| c.contains("@rita") && c.contains("read permission"))
    };
    bot.until("the stop's refusal", refusal).await;
    bot.finish().await;
}
