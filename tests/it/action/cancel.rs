//! A workflow job cancelled while MetaGPT works (the runner sends SIGINT, then SIGTERM, then kills the
//! container): `metagpt-bot action` kills the agent, pushes nothing, edits the progress comment to say the
//! job was cancelled, and exits 1 with `gates-passed=false`, well inside the runner's grace period.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::support::action_job::{ActionJob, Finished};
use crate::support::bot::Bot;

/// How long the test waits for the binary to exit after the signal before failing (the runner's grace
/// period is 7.5 s after SIGINT; this bound only keeps a broken build from hanging the suite).
const EXIT_BOUND: Duration = Duration::from_secs(60);

async fn cancelled_by(signal: i32) {
    let bot = Bot::world().await;
    bot.hold_the_next_run();
    let job = bot.action_job("issues", &bot.labeled_event());
    let child = job.spawn();
    bot.wait_for_llm_call().await;
    bot.progress_until(|b| b.contains("**Running**")).await;

    // SAFETY: kill(2) on the child's pid, which it keeps until we wait for it.
    let sent = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
    let finished = tokio::task::block_in_place(|| exit_within(&job, child));

    assert_eq!(finished.code, Some(1), "{finished:#?}");
    assert!(
        finished.outputs.contains("gates-passed=false\n"),
        "{finished:#?}"
    );
    let progress = bot.progress().expect("the progress comment");
    assert!(
        progress.contains("⏹️ **Cancelled**") && progress.contains("Nothing was pushed"),
        "{progress}"
    );
    assert!(bot.branch_head().is_none(), "nothing pushed");
    let agents = processes_running(&bot.fixture.python.display().to_string());
    assert!(agents.is_empty(), "the agent outlived the job: {agents:?}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_with_sigterm_stops_the_agent_and_says_so_on_the_issue() {
    cancelled_by(libc::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_with_sigint_stops_the_agent_and_says_so_on_the_issue() {
    cancelled_by(libc::SIGINT).await;
}

/// Waits (under [`EXIT_BOUND`]) for `child` to exit; kills it and fails the test past the bound.
fn exit_within(job: &ActionJob, mut child: Child) -> Finished {
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > EXIT_BOUND {
            let _ = child.kill();
            panic!("metagpt-bot action still running {EXIT_BOUND:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    job.finish(child)
}

/// Command lines of live processes that mention `needle`.
fn processes_running(needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|line| line.contains(needle))
        .collect()
}
