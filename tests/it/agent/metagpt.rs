//! Smoke test of the wrapper with the real MetaGPT 0.8.2: team construction and the first LLM call on a
//! tiny repository, against a scripted LLM that answers 500 to everything. The run must end in a clear
//! error status (not MetaGPT's exit 0), and MetaGPT must not have made its "Archive" commit.
//!
//! Skipped, with the reason printed, when neither `METAGPT_PYTHON` nor `.venv-metagpt/bin/python` exists
//! (`scripts/install-metagpt.sh` installs it).

use crate::support::scripted_llm;

use crate::support::interpreter::metagpt_python;
use crate::support::sop_llm::seed::{commit_messages, seed_repository};
use std::path::PathBuf;
use std::time::Duration;

use metagpt_bot::domain::Flow;
use metagpt_bot::domain::Kind;
use metagpt_bot::run::agent::{AgentError, AgentOptions, AgentRun, run};
use scripted_llm::{Reply, ScriptedLlm};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_failing_llm_ends_in_a_clear_error_and_no_archive_commit() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::error(500, "scripted outage"));
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = seed_repository(dir.path());
    let trace_path = dir.path().join("trace.jsonl");
    let request = AgentRun {
        run_id: "smoke".into(),
        python: python.clone(),
        repo: repo.clone(),
        idea: "Add a subtract function".into(),
        kind: Kind::Requirement,
        options: AgentOptions {
            n_round: 5,
            run_tests: false,
            agent_uid: crate::support::interpreter::agent_uid_for(&python),
            ..AgentOptions::default()
        },
        gateway_url: llm.base_url().to_string(),
        gateway_socket: None,
        token: SecretString::from("mgb-smoke-token-0123456789"),
        model: "gpt-4o-mini".into(),
        price: None,
        source_dir: None,
        spec_dir: String::new(),
        tests_dir: "tests".into(),
        import_roots: vec![String::new(), "seed".into()],
        project_python: None,
        trace_path: trace_path.clone(),
        timeout: Duration::from_secs(600),
    };
    let err = run(request, CancellationToken::new())
        .await
        .expect_err("a failing LLM fails the run");
    let text = err.to_string();
    println!("{text}");
    let AgentError::Failed { message, flow, .. } = err else {
        panic!("expected MetaGPT's error to be reported, got: {text}");
    };
    assert_eq!(flow, Some(Flow::Requirement));
    assert!(
        message.contains("scripted outage") || message.contains("500"),
        "{message}"
    );
    assert!(!llm.requests().is_empty(), "MetaGPT never called the LLM");
    assert_eq!(
        commit_messages(&repo),
        vec!["seed".to_owned()],
        "MetaGPT committed"
    );

    let trace = std::fs::read_to_string(&trace_path).expect("trace");
    let first: serde_json::Value =
        serde_json::from_str(trace.lines().next().expect("a line")).expect("json");
    assert_eq!(first["content"], "Add a subtract function");
    assert!(
        first["cause_by"]
            .as_str()
            .unwrap_or_default()
            .ends_with("UserRequirement"),
        "{first}"
    );
}

#[tokio::test]
async fn a_bug_report_on_a_repository_without_docs_takes_the_requirement_flow_in_its_source_dir() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::error(500, "scripted outage"));
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = seed_repository(dir.path());
    std::fs::rename(repo.join("seed"), repo.join("src")).expect("move the code to src/");
    let request = AgentRun {
        run_id: "smoke-bug".into(),
        python: python.clone(),
        repo: repo.clone(),
        idea: "add() returns the wrong sign".into(),
        kind: Kind::Bugfix,
        options: AgentOptions {
            n_round: 5,
            run_tests: false,
            agent_uid: crate::support::interpreter::agent_uid_for(&python),
            ..AgentOptions::default()
        },
        gateway_url: llm.base_url().to_string(),
        gateway_socket: None,
        token: SecretString::from("mgb-smoke-token-0123456789"),
        model: "gpt-4o-mini".into(),
        price: None,
        source_dir: Some(PathBuf::from("src")),
        spec_dir: String::new(),
        tests_dir: "tests".into(),
        import_roots: vec![String::new(), "src".into()],
        project_python: None,
        trace_path: dir.path().join("trace.jsonl"),
        timeout: Duration::from_secs(600),
    };
    let err = run(request, CancellationToken::new())
        .await
        .expect_err("a failing LLM fails the run");
    let text = err.to_string();
    let AgentError::Failed { flow, rounds, .. } = err else {
        panic!("expected MetaGPT's error to be reported, got: {text}");
    };
    assert_eq!(flow, Some(Flow::RequirementForBug), "{text}");
    assert_eq!(rounds, 1, "{text}");
    assert!(
        text.contains("in the requirement_for_bug flow in round 1"),
        "{text}"
    );
    let first = llm
        .requests()
        .into_iter()
        .next()
        .expect("MetaGPT called the LLM");
    let prompt = first.body["messages"].to_string();
    assert!(
        !prompt.contains("issue_type"),
        "the label decides, not an LLM call: {prompt}"
    );
    assert_eq!(
        commit_messages(&repo),
        vec!["seed".to_owned()],
        "MetaGPT committed"
    );
}
