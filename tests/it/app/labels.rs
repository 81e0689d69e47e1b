//! The repository's own trigger label: `.github/metagpt.yml`'s `trigger_label` and `bugfix_labels`,
//! honoured by the App after the webhook was answered (a label check), while labels that mean nothing to
//! the bot leave nothing on GitHub.

use metagpt_bot::queue::JobState;

use crate::support::bot::Bot;

/// Labels issue #5 with `label` (it then carries `labels`), waits for the label check, and returns the
/// run job it enqueued (if any).
async fn check(bot: &Bot, label: &str, labels: &[&str]) -> Option<i64> {
    let job = bot.label_as(label, labels).await;
    let outcome = bot.wait_for(job, JobState::Done).await.outcome.unwrap();
    outcome["run_job_id"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_trigger_label_runs_and_the_default_one_does_nothing_there() {
    let bot = Bot::start().await;
    bot.set_settings("trigger_label: ai\n");

    // `metagpt` is not this repository's trigger: the run ends before anything visible.
    let default = bot.label_as("metagpt", &["metagpt"]).await;
    let outcome = bot.wait_for(default, JobState::Done).await.outcome.unwrap();
    let skipped = outcome["skipped"].as_str().unwrap_or_default();
    assert!(skipped.contains("`trigger_label: ai`"), "{outcome}");
    assert_eq!(bot.writes(), Vec::<String>::new());
    assert!(bot.issue_reactions().is_empty());
    assert!(bot.comments().is_empty());
    assert_eq!(bot.llm_calls(), 0, "nothing was spent");

    // `AI` is (labels compare case-insensitively): one run, one pull request.
    let run = check(&bot, "AI", &["metagpt", "AI"])
        .await
        .expect("the check enqueued a run");
    let info = bot.wait_for(run, JobState::Done).await;
    assert_eq!(info.outcome.unwrap()["gates_passed"], true);
    let body = bot.pr().body.unwrap_or_default();
    assert!(body.contains("Closes #5"), "{body}");
    assert_eq!(bot.issue_reactions(), ["eyes"], "the run acknowledged");
    assert!(bot.comments()[0].contains("**Done**"));
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_bug_labels_make_the_run_a_bugfix() {
    let bot = Bot::start().await;
    bot.set_settings("trigger_label: ai\nbugfix_labels: [defect]\n");
    let run = check(&bot, "ai", &["defect", "ai"])
        .await
        .expect("the check enqueued a run");
    bot.wait_for(run, JobState::Done).await;

    assert!(bot.branch_head().is_some(), "pushed");
    assert!(
        bot.branch_file("docs/bugfix.txt").is_some(),
        "a bugfix run writes docs/bugfix.txt"
    );
    let body = bot.pulls()[0].body.clone().unwrap_or_default();
    assert!(body.contains("Fixes #5"), "{body}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrelated_label_is_checked_quietly_and_leaves_nothing_on_github() {
    let bot = Bot::start().await;
    let event = bot.labeled_event_with("documentation", &["documentation"]);
    let (status, answer) = bot.deliver_answer("issues", &event).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["outcome"], "accepted", "{answer}");
    assert_eq!(answer["action"], "label", "{answer}");
    assert_eq!(answer["queued_behind"], 0, "{answer}");
    let job = answer["job_id"].as_i64().expect("the check's job id");

    let info = bot.wait_for(job, JobState::Done).await;
    let outcome = info.outcome.unwrap();
    assert_eq!(outcome["started"], false, "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not the trigger label `metagpt`"),
        "{outcome}"
    );
    assert_eq!(info.action, "label");
    assert_eq!(bot.writes(), Vec::<String>::new());
    assert!(bot.issue_reactions().is_empty());
    assert!(bot.comments().is_empty());
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_check_with_an_invalid_settings_file_stays_quiet() {
    let bot = Bot::start().await;
    bot.set_settings("trigger_label: ai\nn_rounds: 3\n");
    let job = bot.label_as("ai", &["ai"]).await;
    let outcome = bot.wait_for(job, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["started"], false, "{outcome}");
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("line 2, column 1"), "{outcome}");
    assert_eq!(bot.writes(), Vec::<String>::new());
    assert!(bot.comments().is_empty());
    bot.finish().await;
}
