//! The run's resource limits (`AGENT_MEMORY_MB`, `AGENT_MAX_PROCESSES`, `AGENT_CPU_SECS`) against a
//! stand-in interpreter that runs away (`StandIn::Hostile`, `tests/fixtures/interpreters/hostile_python`):
//! a fork bomb, a memory hog (itself, and in a child process as QA runs a test) and an endless loop each
//! end the run with an error that names the limit and its setting, in the sandbox the run would get
//! here (`AGENT_SANDBOX=auto`).
//!
//! Each stand-in stops by itself at a bound (400 processes, 1 GiB) and then exits 0, so a limit that does
//! not work fails the test without hurting the host. The process limit needs a cgroup, or a bot that is
//! not root (the kernel does not enforce `RLIMIT_NPROC` for root): without either, the fork bomb test is
//! skipped with the reason printed.

use super::fixture::Fixture;

use std::time::Duration;

use crate::support::interpreter::{self, StandIn};
use metagpt_bot::config::ResourceLimits;
use metagpt_bot::run::agent::{AgentError, AgentRun, Hit, LimitMechanism, limit_mechanism, run};
use tokio_util::sync::CancellationToken;

const LIMITS: ResourceLimits = ResourceLimits {
    memory_mb: 128,
    processes: 32,
    cpu_secs: 2,
};

fn hostile(fx: &Fixture, idea: &str) -> AgentRun {
    interpreter::install(fx.root.path(), StandIn::Hostile);
    let mut request = fx.request(idea);
    request.options.limits = LIMITS;
    request.timeout = Duration::from_secs(300);
    request
}

/// Runs `idea` and returns the limit it hit and the error's text.
async fn hit(idea: &str) -> (Hit, String) {
    let fx = Fixture::new();
    let err = run(hostile(&fx, idea), CancellationToken::new())
        .await
        .expect_err("a run that runs away fails");
    let text = err.to_string();
    match err {
        AgentError::LimitExceeded { exceeded, .. } => (exceeded.hit, text),
        other => panic!("expected a limit, got: {other}"),
    }
}

#[tokio::test]
async fn a_fork_bomb_ends_the_run_with_the_process_limit_named() {
    let mechanism = limit_mechanism();
    if matches!(mechanism, LimitMechanism::Rlimits(_)) && is_root() {
        println!("skipped: no process limit here (root, and {mechanism})");
        return;
    }
    let (hit, text) = hit("FORK_BOMB").await;
    assert_eq!(hit, Hit::Processes, "{text}");
    assert!(
        text.starts_with("the run's code and tests ran more than 32 processes at once and were stopped (AGENT_MAX_PROCESSES=32;"),
        "{text}"
    );
    assert!(
        text.contains("the operator can raise AGENT_MAX_PROCESSES"),
        "{text}"
    );
    assert!(!text.contains("no process limit"), "{text}");
}

#[tokio::test]
async fn a_memory_hog_ends_the_run_with_the_memory_limit_named() {
    let (hit, text) = hit("MEMORY_HOG").await;
    assert_eq!(hit, Hit::Memory, "{text}");
    assert!(
        text.starts_with("the run's code and tests used more than 128 MiB of memory and were stopped (AGENT_MEMORY_MB=128;"),
        "{text}"
    );
    assert!(!text.contains("no memory limit"), "{text}");
}

#[tokio::test]
async fn a_memory_hog_in_a_test_process_ends_the_run_with_the_memory_limit_named() {
    let (hit, text) = hit("CHILD_HOG").await;
    assert_eq!(hit, Hit::Memory, "{text}");
    assert!(!text.contains("no memory limit"), "{text}");
}

#[tokio::test]
async fn an_endless_loop_ends_the_run_with_the_cpu_limit_named() {
    let (hit, text) = hit("ENDLESS_LOOP").await;
    assert_eq!(hit, Hit::Cpu, "{text}");
    assert!(
        text.starts_with("the run's code and tests used more than 2 s of CPU in one process and were stopped (AGENT_CPU_SECS=2; a process was killed by SIGXCPU)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_run_within_its_limits_succeeds() {
    let fx = Fixture::new();
    let mut request = fx.request("add a feature");
    request.options.limits = LIMITS;
    run(request, CancellationToken::new())
        .await
        .expect("the recording stand-in fits in 128 MiB, 32 processes and 2 s of CPU");
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}
