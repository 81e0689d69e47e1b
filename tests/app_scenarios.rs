//! The App on GitHub, scenario by scenario (rust-lang/bors style): signed webhooks into the real `serve`,
//! the real octocrab client against the stateful fake GitHub (which fails the test on any request no
//! route expects), a real git server, and the fast stand-in agent through the bot's LLM gateway.
//! The scenarios live in tests/app/: first runs, iterations, guards (who may ask, stops, queues),
//! resilience (lost leases, PRs GitHub won't reopen) and unreadable settings files.

#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "run/fixture.rs"]
mod fixture;
#[path = "support/git_server.rs"]
mod git_server;
#[path = "support/jobs.rs"]
mod jobs;
#[path = "support/scripted_llm.rs"]
mod scripted_llm;
#[path = "support/webhook.rs"]
mod webhook;
#[path = "app/world.rs"]
mod world;

#[path = "app/first_run.rs"]
mod first_run;
#[path = "app/guards.rs"]
mod guards;
#[path = "app/iterations.rs"]
mod iterations;
#[path = "app/label_stops.rs"]
mod label_stops;
#[path = "app/labels.rs"]
mod labels;
#[path = "app/resilience.rs"]
mod resilience;
#[path = "app/settings_file.rs"]
mod settings_file;

use world::{FULL_NAME, ISSUE, World};

const BRANCH: &str = "metagpt/issue-5";

fn bot_comments(world: &World) -> Vec<String> {
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
