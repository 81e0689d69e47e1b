//! Guards: who may ask, what the bot ignores (its own comments, another bot's planted marker), and what a
//! stop or a queued run looks like.

use metagpt_bot::marks::{PROGRESS as PROGRESS_MARKER, QUEUED as QUEUED_MARKER};
use metagpt_bot::queue::JobState;
use serde_json::json;

use crate::support::bot::{BRANCH, Bot, FULL_NAME, ISSUE, alice, reader};
use crate::support::fake_github::{self, LoggedRequest, User};
use crate::support::webhook;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_is_refused_and_nothing_runs() {
    let bot = Bot::start().await;
    let comment = bot.comment_event(reader(), "/metagpt rewrite everything", None);
    let job = bot.deliver("issue_comment", &comment).await.unwrap();
    let info = bot.wait_for(job, JobState::Done).await;
    assert!(info.outcome.unwrap()["refused"].is_string());
    assert!(bot.branch_head().is_none(), "nothing pushed");
    assert_eq!(bot.llm_calls(), 0, "no LLM call");
    let comments = bot.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].contains("@rita") && comments[0].contains("read permission"));

    // The same comment handled again (a retried job; here a second delivery of it) is not answered twice.
    let again = bot.deliver("issue_comment", &comment).await.unwrap();
    assert_ne!(again, job);
    bot.wait_for(again, JobState::Done).await;
    let comments = bot.comments();
    assert_eq!(comments.len(), 1, "answered once: {comments:#?}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_own_comment_starts_nothing() {
    let bot = Bot::start().await;
    let own = User::new("metagpt-bot-test[bot]", 990);
    let mut comment = bot.comment_event(own, "/metagpt run again, says the bot", None);
    webhook::set(
        &mut comment,
        "/comment/performed_via_github_app",
        json!({ "id": fake_github::TEST_APP_ID, "slug": fake_github::TEST_APP_SLUG }),
    );
    assert_eq!(bot.deliver("issue_comment", &comment).await, None, "no job");
    assert_eq!(
        bot.comments().len(),
        1,
        "only the bot's own comment, no answer"
    );
    assert_eq!(bot.llm_calls(), 0);
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_asked_during_a_run_is_announced_and_a_stop_ends_both_pushing_nothing() {
    let bot = Bot::start().await;
    // The first LLM call never answers: the first run stays under way until it is stopped.
    bot.hold_the_next_run();
    let first = bot.label().await;
    bot.progress_until(|b| b.contains("**Running**")).await;
    bot.wait_for_llm_call().await;

    let second = bot.label().await;
    bot.progress_until(|b| b.contains("1 more request for this issue waits behind this run"))
        .await;

    // A burst behind it is announced once, coalesced, with the final count: not one lookup per request.
    let before = comment_lookups(&bot);
    let mut burst = Vec::new();
    for _ in 0..4 {
        burst.push(bot.label().await);
    }
    bot.progress_until(|b| b.contains("5 more requests for this issue wait behind this run"))
        .await;
    let burst_lookups = comment_lookups(&bot) - before;
    assert!(
        burst_lookups <= 2,
        "{burst_lookups} comment lookups for a burst of 4"
    );

    bot.comment(alice(), "/metagpt stop").await;
    // A stop ends the running run (its agent is killed) and cancels the one waiting behind it.
    let stopped = bot.wait_for(first, JobState::Cancelled).await;
    assert_eq!(stopped.attempts, 1);
    for job in std::iter::once(second).chain(burst) {
        bot.wait_for(job, JobState::Cancelled).await;
    }
    let body = bot.progress_until(|b| b.contains("**Stopped**")).await;
    assert!(body.contains("Nothing was pushed"), "{body}");
    assert!(bot.branch_head().is_none(), "nothing pushed");
    assert!(bot.pulls().is_empty());
    bot.finish().await;
}

/// How many times the issue's comments were listed (each progress-comment lookup lists them).
fn comment_lookups(bot: &Bot) -> usize {
    let path = format!("/repos/{FULL_NAME}/issues/{ISSUE}/comments");
    let listed = |r: &LoggedRequest| r.method == "GET" && r.path.starts_with(&path);
    bot.requests().iter().filter(|r| listed(r)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_on_a_pull_request_from_a_fork_is_refused() {
    let bot = Bot::start().await;
    let mallory = User::new("mallory", 66);
    let number = bot.add_pull(
        BRANCH,
        "mallory/shop",
        mallory,
        "<!-- metagpt-bot:issue=5 -->",
    );
    let job = bot.comment_on_pr(number, alice(), "/metagpt go").await;
    let outcome = bot.wait_for(job, JobState::Done).await.outcome.unwrap();
    assert!(
        outcome["refused"]
            .as_str()
            .is_some_and(|r| r.contains("mallory/shop")),
        "{outcome}"
    );
    assert_eq!(bot.llm_calls(), 0, "the fork's code never ran");
    assert!(bot.branch_head().is_none());
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_marker_planted_by_another_bot_is_left_alone() {
    let bot = Bot::start().await;
    const SQUATTER: u64 = 777;
    let planted = {
        let mut state = bot.github.state();
        state.add_app(fake_github::App::granted(
            SQUATTER,
            "squatter",
            "Another App on the repository",
            "",
        ));
        let body = format!("{PROGRESS_MARKER}\nI am the progress comment now.");
        state.add_app_comment(FULL_NAME, ISSUE, SQUATTER, &body)
    };
    let job = bot.label().await;
    bot.wait_for(job, JobState::Done).await;

    let comments = bot.github.state().comments_on(FULL_NAME, ISSUE);
    let kept = comments.iter().find(|c| c.id == planted.id).unwrap();
    assert_eq!(
        kept.body, planted.body,
        "another bot's comment is never edited"
    );
    let ours: Vec<&str> = comments
        .iter()
        .filter(|c| c.user.login == "metagpt-bot-test[bot]")
        .map(|c| c.body.as_str())
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "a progress comment of our own: {comments:#?}"
    );
    assert!(ours[0].starts_with(PROGRESS_MARKER) && ours[0].contains("**Done**"));
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_users_request_during_a_run_is_not_announced() {
    let bot = Bot::start().await;
    bot.hold_the_next_run();
    let first = bot.label().await;
    bot.progress_until(|b| b.contains("**Running**")).await;
    bot.wait_for_llm_call().await;
    let listings = || {
        bot.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/repos/octo/shop/issues/5/comments")
            .count()
    };
    let listed_before = listings();

    let queued = bot.comment(reader(), "/metagpt rewrite everything").await;
    // The announcer asks for rita's permission first, and stops there.
    bot.until("the announcer's permission check", || {
        bot.requests()
            .iter()
            .any(|r| r.path == "/repos/octo/shop/collaborators/rita/permission" && r.status == 200)
    })
    .await;
    assert_eq!(
        listings(),
        listed_before,
        "no look for the progress comment"
    );
    let body = bot.progress().expect("the progress comment");
    assert!(!body.contains(QUEUED_MARKER), "{body}");

    bot.comment(alice(), "/metagpt stop").await;
    bot.wait_for(first, JobState::Cancelled).await;
    bot.wait_for(queued, JobState::Cancelled).await;
    let body = bot.progress_until(|b| b.contains("**Stopped**")).await;
    assert!(!body.contains(QUEUED_MARKER), "{body}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_without_performed_via_github_app_still_find_the_bots_own_progress_comment() {
    let bot = Bot::start().await;
    let first = bot.label().await;
    bot.wait_for(first, JobState::Done).await;
    // GitHub documents `performed_via_github_app` as nullable: from now on its listings leave it out,
    // and another App's bot has planted the progress marker.
    const SQUATTER: u64 = 778;
    let planted = {
        let mut state = bot.github.state();
        state.listings_without_app = true;
        state.add_app(fake_github::App::granted(
            SQUATTER,
            "squatter",
            "Another App on the repository",
            "",
        ));
        let body = format!("{PROGRESS_MARKER}\nI am the progress comment now.");
        state.add_app_comment(FULL_NAME, ISSUE, SQUATTER, &body)
    };

    let second = bot.comment(alice(), "/metagpt add a pause button").await;
    bot.wait_for(second, JobState::Done).await;

    let comments = bot.github.state().comments_on(FULL_NAME, ISSUE);
    let kept = comments.iter().find(|c| c.id == planted.id).unwrap();
    assert_eq!(
        kept.body, planted.body,
        "another bot's comment is never edited"
    );
    let progress: Vec<&str> = comments
        .iter()
        .filter(|c| c.user.login == "metagpt-bot-test[bot]" && c.body.starts_with(PROGRESS_MARKER))
        .map(|c| c.body.as_str())
        .collect();
    assert_eq!(
        progress.len(),
        1,
        "one progress comment, edited: {progress:#?}"
    );
    assert!(
        progress[0].contains("**Done**") && progress[0].contains("iteration 2"),
        "{}",
        progress[0]
    );
    bot.finish().await;
}
