//! A run whose code runs away, in the App: the agent (a stand-in that spins on the CPU,
//! `StandIn::Hostile`) hits `AGENT_CPU_SECS`; the issue's progress comment says which limit and how to
//! raise it, nothing is pushed, and `serve` answers a webhook delivered while the run spins.

use std::time::Duration;

use metagpt_bot::queue::JobState;

use super::resilience::agent_alive;
use crate::support::bot::Bot;
use crate::support::interpreter::{self, StandIn};
use crate::support::poll_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_spins_fails_on_the_issue_naming_the_cpu_limit_and_pushes_nothing() {
    let mut bot = Bot::world().await;
    interpreter::install(bot.fixture.root.path(), StandIn::Hostile);
    bot.set("AGENT_CPU_SECS", "3");
    bot.boot().await;
    bot.set_issue_body("ENDLESS_LOOP in a test");
    let job = bot.label().await;
    let python = bot.fixture.python.clone();
    poll_until("the agent at work", Duration::from_secs(60), || {
        agent_alive(&python)
    })
    .await;
    let star = serde_json::json!({
        "action": "created",
        "starred_at": "2026-01-01T00:00:00Z",
        "repository": bot.labeled_event()["repository"].clone(),
        "sender": bot.labeled_event()["sender"].clone(),
    });
    let (status, _) = bot.deliver_answer("star", &star).await;
    assert!(
        (200..300).contains(&status),
        "answered while a run spins: {status}"
    );

    let info = bot.wait_for(job, JobState::Failed).await;
    assert_eq!(info.attempts, 1, "a runaway run is not retried");
    let progress = bot.progress_until(|b| b.contains("**Failed**")).await;
    assert!(
        progress.contains("the run's code and tests used more than 3 s of CPU in one process and were stopped (AGENT_CPU_SECS=3; a process was killed by SIGXCPU)"),
        "{progress}"
    );
    assert!(
        progress.contains("the operator can raise AGENT_CPU_SECS"),
        "{progress}"
    );
    assert!(bot.branch_head().is_none(), "nothing pushed");
    assert!(bot.pulls().is_empty());
    assert_eq!(bot.llm_calls(), 0);
    bot.finish().await;
}
