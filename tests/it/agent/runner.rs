//! The agent runner against a stand-in interpreter (`StandIn::Recorder`): results,
//! errors, the time limit and cancellation as a caller of `agent::run` sees them.

use super::fixture;

use std::path::PathBuf;
use std::time::Duration;

use crate::support::poll;
use fixture::{Fixture, is_dead};
use metagpt_bot::config::SandboxMode;
use metagpt_bot::domain::Flow;
use metagpt_bot::run::agent::{AgentError, MetagptCost, run};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_successful_run_reports_flow_rounds_cost_and_trace() {
    let fx = Fixture::new();
    let request = fx.request("add a feature");
    let trace = request.trace_path.clone();
    let outcome = run(request, CancellationToken::new()).await.expect("ok");
    assert_eq!(outcome.flow, Flow::RequirementForBug);
    assert_eq!((outcome.rounds, outcome.idle), (7, true));
    assert_eq!(
        outcome.metagpt_cost,
        MetagptCost {
            prompt_tokens: 100,
            completion_tokens: 50,
            total_cost: 0.25
        }
    );
    assert_eq!(outcome.trace_path, trace);
    let line = std::fs::read_to_string(&trace).expect("trace written");
    let record: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(record["role"], "Human");
    assert!(
        outcome.log_tail.iter().any(|l| l == "done"),
        "{:?}",
        outcome.log_tail
    );

    let job: serde_json::Value = serde_json::from_str(&fx.dump("job.json")).expect("job json");
    assert_eq!(job["kind"], "requirement");
    assert_eq!(job["n_round"], 20);
    assert_eq!(job["idea"], "add a feature");
    assert_eq!(job["project_path"], fx.repo.display().to_string());
}

#[tokio::test]
async fn a_metagpt_error_is_a_failure_with_its_message_and_log() {
    let fx = Fixture::new();
    let err = run(fx.request("FAKE_ERROR"), CancellationToken::new())
        .await
        .expect_err("fails");
    let text = err.to_string();
    let AgentError::Failed {
        message,
        flow,
        rounds,
        metagpt_cost,
        ..
    } = err
    else {
        panic!("expected Failed, got {text}");
    };
    assert_eq!(message, "RetryError: the LLM answered 500");
    assert_eq!((flow, rounds), (Some(Flow::Requirement), 2));
    assert_eq!(metagpt_cost.prompt_tokens, 10);
    assert!(
        text.contains("MetaGPT failed in the requirement flow in round 2: RetryError"),
        "{text}"
    );
    assert!(
        text.contains("MetaGPT failed\n") || text.ends_with("MetaGPT failed"),
        "log tail missing: {text}"
    );
}

#[tokio::test]
async fn a_crash_without_result_is_a_clear_error_with_the_log_tail() {
    let fx = Fixture::new();
    let err = run(fx.request("FAKE_CRASH"), CancellationToken::new())
        .await
        .expect_err("fails");
    assert!(matches!(err, AgentError::Crashed { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(
        text.contains("ModuleNotFoundError: No module named 'metagpt'"),
        "{text}"
    );
}

#[tokio::test]
async fn the_time_limit_stops_the_run() {
    let fx = Fixture::new();
    let mut request = fx.request("FAKE_SLEEP");
    request.timeout = Duration::from_secs(2);
    // Host pids: the sandboxed variant is in agent/sandbox.rs.
    request.options.sandbox = SandboxMode::Off;
    let err = run(request, CancellationToken::new())
        .await
        .expect_err("times out");
    assert!(matches!(err, AgentError::TimedOut { .. }), "{err}");
    assert!(
        err.to_string().contains("ran out of time after 2s"),
        "{err}"
    );
    for pid in ["child.pid", "grandchild.pid"] {
        if let Ok(pid) = std::fs::read_to_string(fx.dump_path(pid)) {
            assert!(
                poll(Duration::from_secs(10), || is_dead(&pid)).await,
                "{pid} survived"
            );
        }
    }
}

#[tokio::test]
async fn cancellation_kills_the_whole_process_group() {
    let fx = Fixture::new();
    let cancel = CancellationToken::new();
    let mut request = fx.request("FAKE_SLEEP");
    // Host pids: the sandboxed variant is in agent/sandbox.rs.
    request.options.sandbox = SandboxMode::Off;
    let task = tokio::spawn(run(request, cancel.clone()));
    let started = fx.dump_path("child.pid");
    assert!(
        poll(Duration::from_secs(30), || started.exists()).await,
        "the fake never started"
    );
    let child = fx.dump("child.pid");
    let grandchild = fx.dump("grandchild.pid");
    assert!(!is_dead(&grandchild));
    cancel.cancel();
    let err = task.await.expect("join").expect_err("cancelled");
    assert!(matches!(err, AgentError::Cancelled { .. }), "{err}");
    assert!(
        err.log_tail().iter().any(|l| l == "sleeping"),
        "{:?}",
        err.log_tail()
    );
    assert!(
        poll(Duration::from_secs(10), || is_dead(&child)).await,
        "child survived"
    );
    assert!(
        poll(Duration::from_secs(10), || is_dead(&grandchild)).await,
        "grandchild survived"
    );
}

#[tokio::test]
async fn a_missing_interpreter_says_to_set_metagpt_python() {
    let fx = Fixture::new();
    let mut request = fx.request("x");
    request.python = PathBuf::from("/nonexistent/venv/bin/python");
    let err = run(request, CancellationToken::new())
        .await
        .expect_err("missing");
    assert!(err.to_string().contains("set METAGPT_PYTHON"), "{err}");
}

#[tokio::test]
async fn a_source_dir_outside_the_repository_is_refused() {
    let fx = Fixture::new();
    let mut request = fx.request("x");
    request.source_dir = Some(PathBuf::from("../elsewhere"));
    let err = run(request, CancellationToken::new())
        .await
        .expect_err("refused");
    assert!(matches!(err, AgentError::BadSourceDir { .. }), "{err}");
    assert!(!fx.dump_path("env").exists(), "nothing may start");
}
