//! Resilience: a run whose lease cannot be kept stops, and a pull request GitHub will not reopen gives
//! way to a new one.

use std::path::Path;
use std::time::Duration;

use metagpt_bot::queue::JobState;
use sqlx::Connection as _;

use crate::support::bot::{BRANCH, Bot, FULL_NAME, alice};
use crate::support::fake_github::Fault;
use crate::support::poll_until;

/// Whether a process started from `python` (the stand-in agent's interpreter) is alive. A killed one
/// that is not reaped yet has an empty command line, so it counts as gone.
pub(super) fn agent_alive(python: &Path) -> bool {
    let needle = python.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|raw| String::from_utf8_lossy(&raw).contains(&needle))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_heartbeats_cannot_reach_the_database_stops_and_pushes_nothing() {
    let bot = Bot::start().await;
    // The agent's first LLM call never answers (the stand-in itself gives up only after 60 s).
    bot.hold_the_next_run();
    let job = bot.label().await;
    bot.wait_for_llm_call().await;
    let python = bot.fixture.python.clone();
    assert!(agent_alive(&python), "the agent is at work");

    // Another connection holds SQLite's write lock: every heartbeat waits, then fails. With a 3 s
    // lease the worker must give the run up well before the stand-in's own 60 s timeout.
    let mut lock = sqlx::SqliteConnection::connect(bot.database_url())
        .await
        .expect("a second connection");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .expect("the write lock");
    // A process's end sends no signal the test could wait on: /proc is polled.
    poll_until(
        "the agent's end after the lease ran out",
        Duration::from_secs(40),
        || !agent_alive(&python),
    )
    .await;
    assert!(bot.branch_head().is_none(), "nothing pushed");
    assert!(bot.pulls().is_empty());
    let progress = bot.progress_until(|_| true).await;
    assert!(!progress.contains("**Done**"), "{progress}");

    // Once the database is back, the job's lease has expired and it runs again to the end.
    sqlx::query("ROLLBACK")
        .execute(&mut lock)
        .await
        .expect("release the lock");
    lock.close().await.expect("close");
    let info = bot.wait_for(job, JobState::Done).await;
    assert_eq!(info.attempts, 2, "{:?}", info.last_error);
    assert!(bot.branch_head().is_some());
    assert_eq!(bot.pulls().len(), 1);
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pull_request_github_will_not_reopen_gives_way_to_a_new_one() {
    let bot = Bot::start().await;
    let first = bot.label().await;
    bot.wait_for(first, JobState::Done).await;
    let old = {
        let mut state = bot.github.state();
        let pull = state
            .repo_mut(FULL_NAME)
            .pulls
            .values_mut()
            .next()
            .expect("the first run's PR");
        pull.state = "closed".into();
        pull.number
    };
    // What GitHub answers when the PR's branch was deleted and pushed again since it was closed.
    let refusal =
        "state cannot be changed. The metagpt/issue-5 branch was force-pushed or recreated.";
    bot.github
        .inject(
            "PATCH",
            &format!("/repos/octo/shop/pulls/{old}"),
            Fault::status(422, refusal),
            None,
        )
        .await;

    let second = bot.comment(alice(), "/metagpt once more").await;
    let outcome = bot.wait_for(second, JobState::Done).await.outcome.unwrap();
    let new = outcome["pr_number"].as_u64().expect("a PR number");
    assert_ne!(new, old, "{outcome}");

    let pulls = bot.github.state().repo_mut(FULL_NAME).pulls.clone();
    assert_eq!(pulls.len(), 2, "{pulls:#?}");
    assert_eq!(pulls[&old].state, "closed", "the refused PR stays closed");
    let fresh = &pulls[&new];
    assert_eq!(
        (fresh.state.as_str(), fresh.head_ref.as_str()),
        ("open", BRANCH)
    );
    let body = fresh.body.clone().unwrap_or_default();
    assert!(body.contains("Closes #5"), "{body}");
    assert!(body.contains("<!-- metagpt-bot:issue=5 -->"), "{body}");
    let progress = bot.progress_until(|b| b.contains("**Done**")).await;
    assert!(progress.contains(&format!("#{new}")), "{progress}");
    bot.finish().await;
}
