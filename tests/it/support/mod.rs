//! What the integration tests share: the fakes (GitHub, git server, scripted LLM, MetaGPT's SOP script),
//! the App harness [`bot::Bot`], webhook payloads, the interpreters, the real projects (`projects`), and
//! where the fixtures on disk are.

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub mod action_job;
pub mod bot;
pub mod browser;
pub mod fake_github;
pub mod fixture;
pub mod git_server;
pub mod interpreter;
pub mod jobs;
pub mod projects;
pub mod scripted_llm;
pub mod sop_llm;
pub mod webhook;

/// `tests/fixtures/<relative>`: every non-Rust fixture (recorded webhooks, a recorded MetaGPT run, the
/// throwaway App keys, the stand-in interpreters) lives there. The fake GitHub's `include_str!` of the
/// keys is the one other place that names it.
pub fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// Polls `check` every 50 ms until it holds or `deadline` passes; whether it held. Only for what sends
/// no signal (a process's end, a file a child process writes): for GitHub and the LLM, wait on their
/// `changes()` (`Bot::until`); for a job, [`jobs::wait_for_job`].
pub async fn poll(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

/// [`poll`], failing the test saying `what` did not happen within `deadline`.
pub async fn poll_until(what: &str, deadline: Duration, check: impl FnMut() -> bool) {
    assert!(
        poll(deadline, check).await,
        "{what} did not happen within {deadline:?}"
    );
}
