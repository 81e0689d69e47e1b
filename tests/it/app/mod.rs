//! The App on GitHub, scenario by scenario (rust-lang/bors style): signed webhooks into the real `serve`,
//! the real octocrab client against the stateful fake GitHub (which fails the test on any request no
//! route expects), a real git server, and the fast stand-in agent through the bot's LLM gateway.
//! The scenarios live in app/: first runs, iterations, guards (who may ask, stops, queues),
//! resilience (lost leases, PRs GitHub won't reopen) and unreadable settings files.

use crate::support::bot as world;
use crate::support::fake_github;
use crate::support::scripted_llm;
use crate::support::webhook;

mod first_run;
mod guards;
mod iterations;
pub(crate) mod labels;
mod resilience;
mod serve;
mod settings_file;

use world::{FULL_NAME, ISSUE, World};

const BRANCH: &str = "metagpt/issue-5";

pub(crate) fn bot_comments(world: &World) -> Vec<String> {
    world
        .github
        .state()
        .comments_on(FULL_NAME, ISSUE)
        .into_iter()
        .filter(|c| c.user.login.ends_with("[bot]"))
        .map(|c| c.body)
        .collect()
}

/// Polls (bounded) until the issue's progress comment satisfies `want`.
async fn progress_until(world: &World, want: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        let progress = bot_comments(world)
            .into_iter()
            .find(|c| c.starts_with("<!-- metagpt-bot:progress -->"));
        if let Some(body) = progress.filter(|b| want(b)) {
            return body;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "progress comment never matched: {:#?}",
            bot_comments(world)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
