//! Who may stop, what a stop ends, and where a stop is refused.

use std::time::Duration;

use metagpt_bot::queue::{JobState, Queue, QueueOptions};
use serde_json::json;

use crate::support::bot::{BRANCH, Bot, FULL_NAME, ISSUE, REPO_ID, alice, reader};
use crate::support::fake_github::User;

/// Labels issue #5 and waits until its run is under way (its agent waiting on its first LLM call, which
/// never answers); returns the run's job id.
async fn running_run(bot: &Bot) -> i64 {
    bot.hold_the_next_run();
    let run = bot.label().await;
    bot.wait_for_llm_call().await;
    run
}

/// `who` comments `/metagpt stop` (on the issue, or on pull request `pull`); returns the stop's job and
/// the comment's id.
async fn stop_from(bot: &Bot, who: User, pull: Option<u64>) -> (i64, u64) {
    let event = bot.comment_event(who, "/metagpt stop", pull);
    let (status, answer) = bot.deliver_answer("issue_comment", &event).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["action"], "stop");
    let job = answer["job_id"].as_i64().expect("stop job id");
    (job, event["comment"]["id"].as_u64().expect("comment id"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_users_stop_is_refused_and_the_run_goes_on() {
    let bot = Bot::start().await;
    let run = running_run(&bot).await;
    let (stop, comment) = stop_from(&bot, reader(), None).await;

    let done = bot.wait_for(stop, JobState::Done).await;
    let refusal = "@rita asked for `/metagpt stop` but has read permission on octo/shop; only users \
        with write, maintain or admin permission can stop a run. Nothing was stopped.";
    assert_eq!(bot.replies_on(ISSUE), [refusal]);
    assert_eq!(
        done.outcome,
        Some(json!({"stopped": false, "refused": refusal}))
    );
    assert!(
        bot.comment_reactions(comment).is_empty(),
        "a refused stop got a reaction"
    );
    let info = bot.job(run).await;
    assert_eq!(
        (info.state, info.cancel_requested),
        (JobState::Running, false),
        "a read-only user stopped the run"
    );
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_stop_cancels_the_running_run_and_a_second_one_has_nothing_to_stop() {
    let bot = Bot::start().await;
    let run = running_run(&bot).await;
    let (stop, comment) = stop_from(&bot, alice(), None).await;

    let done = bot.wait_for(stop, JobState::Done).await;
    assert_eq!(
        done.outcome,
        Some(
            json!({"stopped": true, "issue": ISSUE, "cancelled_queued": 0, "running_signalled": true, "too_late": false})
        )
    );
    let cancelled = bot.wait_for(run, JobState::Cancelled).await;
    assert_eq!(cancelled.outcome, None);
    assert_eq!(bot.comment_reactions(comment), ["+1"]);
    assert!(
        bot.replies_on(ISSUE).is_empty(),
        "{:?}",
        bot.replies_on(ISSUE)
    );

    let (again, _) = stop_from(&bot, alice(), None).await;
    bot.wait_for(again, JobState::Done).await;
    assert_eq!(
        bot.replies_on(ISSUE),
        ["@alice nothing to stop: no run of #5 is queued or running."]
    );
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_stop_on_the_bots_pull_request_cancels_the_issues_run() {
    let bot = Bot::start().await;
    let marker = "<!-- metagpt-bot:issue=5 -->";
    let ours = bot.add_pull(BRANCH, FULL_NAME, alice(), marker);
    let theirs = bot.add_pull("feature", "someone/shop", alice(), marker);
    let run = running_run(&bot).await;

    let (elsewhere, _) = stop_from(&bot, alice(), Some(theirs)).await;
    bot.wait_for(elsewhere, JobState::Done).await;
    let replies = bot.replies_on(theirs);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].contains("works on the bot's own pull requests"),
        "{replies:?}"
    );
    assert_eq!(bot.job(run).await.state, JobState::Running);

    let (stop, _) = stop_from(&bot, alice(), Some(ours)).await;
    bot.wait_for(stop, JobState::Done).await;
    bot.wait_for(run, JobState::Cancelled).await;
    assert!(bot.replies_on(ours).is_empty());
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_applied_right_before_the_push_wins_even_from_another_replica() {
    let mut bot = Bot::world().await;
    // Leases as long as production's default: no heartbeat (every 20 s) tells the run of the stop, and
    // nothing cuts the run short while GitHub answers slowly; only the publish gate can stop it.
    bot.set("JOB_LEASE_SECS", "60");
    bot.boot().await;
    // The run's last word before its push (the progress comment's "pushing" edit) is answered 5 s late.
    let pushing = "pushing and opening the pull request";
    bot.answer_slowly("PATCH", "", pushing, Duration::from_secs(5));
    let run = bot.label().await;
    bot.progress_until(|b| b.contains(pushing)).await;

    // A stop applied now, as another replica's control loop applies it: straight to the queue, with no
    // wake-up of this process's run and before any heartbeat could tell it.
    let queue = Queue::connect(bot.database_url(), QueueOptions::default())
        .await
        .expect("the queue database");
    let report = queue
        .stop_issue(REPO_ID, ISSUE, i64::MAX)
        .await
        .expect("the stop");
    queue.close().await;
    assert_eq!(report.running_job, Some(run), "{report:?}");

    bot.wait_for(run, JobState::Cancelled).await;
    assert!(bot.branch_head().is_none(), "nothing pushed");
    assert!(bot.pulls().is_empty(), "no pull request");
    let progress = bot.progress_until(|b| b.contains("**Stopped**")).await;
    assert!(!progress.contains("**Done**"), "{progress}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_after_the_push_says_it_came_too_late_instead_of_a_thumbs_up() {
    let bot = Bot::start().await;
    // The run has pushed; its pull request's creation is answered 5 s late.
    bot.answer_slowly("POST", "/repos/octo/shop/pulls", "", Duration::from_secs(5));
    let run = bot.label().await;
    bot.until("the pull request's creation", || {
        bot.asked("POST", "/repos/octo/shop/pulls")
    })
    .await;
    let head = bot.branch_head().expect("the push happened");

    let (stop, comment) = stop_from(&bot, alice(), None).await;
    let done = bot.wait_for(stop, JobState::Done).await;
    let outcome = done.outcome.expect("outcome");
    assert_eq!(outcome["stopped"], false, "{outcome}");
    assert_eq!(outcome["too_late"], true, "{outcome}");
    let replies = bot.replies_on(ISSUE);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(
        replies[0].starts_with("@alice too late to stop"),
        "{replies:#?}"
    );
    assert!(bot.comment_reactions(comment).is_empty(), "no 👍");

    // The run goes on to its pull request: a stop after the point of no return changes nothing.
    bot.wait_for(run, JobState::Done).await;
    assert_eq!(bot.branch_head(), Some(head));
    assert_eq!(bot.pulls().len(), 1);
    bot.progress_until(|b| b.contains("**Done**")).await;
    bot.finish().await;
}
