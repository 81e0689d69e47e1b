//! A crashed attempt's retry publishes what the first attempt pushed, with the same pull request body a
//! normal publish writes: `Closes #5`, the issue marker, the whole PR template — wherever the first
//! attempt ended after its push (the PR's creation, reading it back, the check run).

use metagpt_bot::marks;
use metagpt_bot::queue::JobState;

use crate::support::bot::{Bot, ISSUE};
use crate::support::fake_github::Fault;

/// The first attempt ends at `method path` (GitHub answers 502 once, so the queue retries the job);
/// checks what the retry published.
async fn retried_after_a_failure_at(method: &str, path: &str) {
    let bot = Bot::start().await;
    bot.github
        .inject(method, path, Fault::status(502, "Server Error"), Some(1))
        .await;
    let job = bot.label().await;
    let info = bot.wait_for(job, JobState::Done).await;
    assert_eq!(info.attempts, 2, "{:?}", info.last_error);
    assert_eq!(bot.llm_calls(), 3, "the retry ran nothing again");
    assert_eq!(bot.pulls().len(), 1, "one pull request");
    let body = bot.pr().body.unwrap_or_default();
    assert!(
        body.contains("Closes #5 · MetaGPT **requirement** run"),
        "{body}"
    );
    assert_eq!(marks::marked_issue(&body), Some(ISSUE), "{body}");
    for heading in [
        "### What was asked",
        "### Code changes per task",
        "### Quality gates",
    ] {
        assert!(body.contains(heading), "the whole PR template: {body}");
    }
    assert!(
        !body.contains("# MetaGPT run issue"),
        "not the summary: {body}"
    );
    assert_eq!(body.matches(marks::SECTION_START).count(), 1, "{body}");
    assert!(body.contains(".metagpt/runs/5/1/report.json"), "{body}");
    assert_eq!(
        bot.check_runs().len(),
        1,
        "one check run on the pushed head"
    );
    let progress = bot.progress_until(|b| b.contains("**Done**")).await;
    assert!(progress.contains("iteration 1"), "{progress}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_push_publishes_the_same_body() {
    retried_after_a_failure_at("POST", "/repos/octo/shop/pulls").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_pull_request_was_created_keeps_closes_and_the_marker() {
    // GitHub numbers pull requests with issues: issue #5 is the last one, the PR is #6.
    retried_after_a_failure_at("GET", "/repos/octo/shop/pulls/6").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_before_the_check_run_keeps_closes_and_the_marker() {
    retried_after_a_failure_at("POST", "/repos/octo/shop/check-runs").await;
}
