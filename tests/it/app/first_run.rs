//! First runs: a labelled issue becomes exactly one pull request with its evidence, whatever GitHub
//! or the process does in between.

use metagpt_bot::queue::JobState;

use crate::support::bot::{BRANCH, Bot};
use crate::support::fake_github::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_issue_gets_exactly_one_pull_request_with_its_evidence() {
    let bot = Bot::start().await;
    let job = bot.label().await;
    let info = bot.wait_for(job, JobState::Done).await;
    let outcome = info.outcome.expect("outcome");
    assert_eq!(outcome["gates_passed"], true, "{outcome}");

    assert!(bot.branch_head().is_some(), "the branch was pushed");
    let pull = bot.pr();
    let body = pull.body.clone().unwrap_or_default();
    assert!(body.contains("Closes #5"), "{body}");
    assert!(body.contains("<!-- metagpt-bot:issue=5 -->"), "{body}");
    assert!(body.contains(".metagpt/runs/5/1/cost.json"), "{body}");
    assert_eq!(pull.head_ref, BRANCH);
    assert!(!pull.draft, "all gates passed: ready for review");

    for file in [
        "trace.jsonl",
        "llm.jsonl",
        "cost.json",
        "gates.json",
        "summary.md",
    ] {
        let path = format!(".metagpt/runs/5/1/{file}");
        assert!(bot.branch_file(&path).is_some(), "{path} committed");
    }
    assert!(bot.branch_file("docs/requirement.txt").is_some());

    let checks = bot.check_runs();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].name, "MetaGPT quality gates");
    assert_eq!(checks[0].conclusion.as_deref(), Some("success"));

    let comments = bot.comments();
    assert_eq!(comments.len(), 1, "one progress comment: {comments:#?}");
    assert!(comments[0].starts_with("<!-- metagpt-bot:progress -->"));
    assert!(comments[0].contains("**Done**"), "{}", comments[0]);
    assert!(comments[0].contains(&format!("#{}", pull.number)));
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_labels_in_a_row_give_one_pull_request() {
    let bot = Bot::start().await;
    let first = bot.label().await;
    let second = bot.label().await;
    bot.wait_idle().await;
    assert_eq!(bot.job(first).await.state, JobState::Done);
    assert_eq!(bot.job(second).await.state, JobState::Done);
    assert_eq!(bot.pulls().len(), 1);
    assert_eq!(bot.comments().len(), 1, "one progress comment, edited");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_push_and_pull_request_still_ends_with_one_pull_request() {
    let bot = Bot::start().await;
    // The first attempt pushes, then GitHub fails the PR creation: the job is retried later.
    bot.github
        .inject(
            "POST",
            "/repos/octo/shop/pulls",
            Fault::status(502, "Server Error"),
            Some(1),
        )
        .await;
    let job = bot.label().await;
    let info = bot.wait_for(job, JobState::Done).await;
    assert_eq!(info.attempts, 2, "{:?}", info.last_error);
    assert_eq!(bot.pulls().len(), 1);
    assert_eq!(
        bot.llm_calls(),
        3,
        "the retry published the pushed run without running (and paying for) MetaGPT again"
    );
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_token_too_short_lived_for_git_is_refreshed() {
    let bot = Bot::start().await;
    // The first token has 5 minutes left: fine for API calls, too short to promise a clone and push.
    bot.github
        .state()
        .queue_token_lifetimes(&[chrono::Duration::minutes(5)]);
    let job = bot.label().await;
    bot.wait_for(job, JobState::Done).await;
    let minted = bot.github.minted_tokens();
    assert!(minted.len() >= 2, "a fresh token was minted: {minted:#?}");
    assert!(bot.branch_head().is_some());
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_repository_config_is_reported_on_the_issue_with_line_and_column() {
    let bot = Bot::start().await;
    bot.set_settings("max_cost_usd: 2\nn_rounds: 3\n");
    let job = bot.label().await;
    let info = bot.wait_for(job, JobState::Failed).await;
    assert_eq!(info.attempts, 1, "the repository's mistake is not retried");
    let comments = bot.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let progress = &comments[0];
    assert!(progress.contains("**Failed**"), "{progress}");
    assert!(progress.contains("line 2, column 1"), "{progress}");
    assert!(progress.contains("n_round"), "{progress}");
    assert!(progress.contains("`/metagpt retry`"), "{progress}");
    assert_eq!(bot.llm_calls(), 0, "nothing was spent");
    assert!(bot.branch_head().is_none());
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_gates_give_a_draft_pull_request_a_failing_check_and_no_protected_change() {
    let bot = Bot::start().await;
    // The stand-in agent also writes .github/workflows/ci.yml when the request says so.
    bot.set_issue_body("The shop needs a feature. TOUCH_WORKFLOW");
    let job = bot.label().await;
    let outcome = bot.wait_for(job, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["gates_passed"], false, "{outcome}");

    assert!(bot.pr().draft, "a PR whose gates fail stays a draft");
    let checks = bot.check_runs();
    assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
    assert!(
        bot.branch_file(".github/workflows/ci.yml").is_none(),
        "the protected path was not pushed"
    );
    let progress = &bot.comments()[0];
    assert!(progress.contains("protected_paths"), "{progress}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_model_without_a_known_price_is_refused_before_any_call() {
    let bot = Bot::start().await;
    bot.set_settings("llm_model: house-model-unpriced\n");
    let job = bot.label().await;
    bot.wait_for(job, JobState::Failed).await;
    let progress = &bot.comments()[0];
    assert!(progress.contains("house-model-unpriced"), "{progress}");
    assert!(progress.contains("no known price"), "{progress}");
    assert_eq!(bot.llm_calls(), 0, "nothing was spent");
    bot.finish().await;
}
