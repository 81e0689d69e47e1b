//! Audit replay of calls that quote a test run: a request that differs from the recorded one only in
//! the test timing and the temporary directory is answered from the recording and flagged `normalised`;
//! one that differs in what the tests said, or asks another model, still diverges.

use metagpt_bot::run::gateway::{Fold, Recording, ReplayMatch};
use serde_json::{Value, json};

use super::audit::{offline_gateway, options, record, replay_all};
use super::harness::request;
use crate::support::scripted_llm::Reply;

/// MetaGPT's test-run summary prompt quoting a failing unittest run of `file`, as a real run sends it.
fn summary(file: &str, tmp: &str, seconds: &str, assertion: &str) -> Value {
    let output = format!(
        "F\n======\nTraceback (most recent call last):\n  File \"{tmp}/seed/tests/{file}\", line 12, in test_subtract\n    \
         self.assertEqual(subtract(5, 3), -2)\nAssertionError: {assertion}\n------\nRan 2 tests in {seconds}s\n\nFAILED (failures=1)\n"
    );
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a QaEngineer, named Edward, your goal is write comprehensive and robust tests."},
            {"role": "user", "content": format!(
                "Role: You are a senior development and qa engineer, your role is summarize the code running result.\n\
                 ## Test File Name\n{file}\n## Running Output\nstandard errors: \n```text\n{output}```\n## Status:\n")}
        ],
        "max_tokens": 4096,
        "temperature": 0.0
    })
}

fn recorded_run() -> (Vec<Value>, Vec<Reply>) {
    let bodies = vec![
        request(false),
        summary("test_calc.py", "/tmp/.tmpmQpIG4", "0.001", "2 != -2"),
        summary("test_main.py", "/tmp/.tmpmQpIG4", "0.002", "'5 2' != '5 3'"),
    ];
    let replies = vec![
        Reply::chat("the design", 10, 1),
        Reply::chat("## Status:\nFAIL test_calc", 20, 2),
        Reply::chat("## Status:\nFAIL test_main", 30, 3),
    ];
    (bodies, replies)
}

#[tokio::test]
async fn a_test_run_differing_only_in_its_timing_and_temp_dir_is_answered_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let (bodies, replies) = recorded_run();
    let (recorded_answers, recorded, _) = record(dir.path(), replies, &bodies).await;

    let gateway = offline_gateway().await;
    let recording = Recording::load(&dir.path().join("llm.jsonl")).unwrap();
    let run = gateway
        .open_replay(options(dir.path().join("replay.jsonl"), 10.0), recording)
        .unwrap();
    // QA summarises the files in another order this time, in another temporary directory, slower.
    let replay = [
        request(false),
        summary("test_main.py", "/tmp/.tmp2BghVf", "0.017", "'5 2' != '5 3'"),
        summary("test_calc.py", "/tmp/.tmp2BghVf", "0.006", "2 != -2"),
    ];
    let answers = replay_all(&gateway, &run, &replay).await;

    assert_eq!(answers[0], recorded_answers[0]);
    assert_eq!(
        answers[1], recorded_answers[2],
        "test_main's summary gets test_main's answer"
    );
    assert_eq!(answers[2], recorded_answers[1]);
    assert_eq!(run.divergence(), None);
    let ledger = run.ledger();
    assert_eq!(ledger[0].replay, Some(ReplayMatch::Exact));
    assert!(ledger[0].tolerated.is_empty());
    for record in &ledger[1..] {
        assert_eq!(record.replay, Some(ReplayMatch::Normalised));
        assert_eq!(record.tolerated, vec![Fold::TestDuration, Fold::TempDir]);
    }
    let line = std::fs::read_to_string(dir.path().join("replay.jsonl")).unwrap();
    assert!(
        line.contains(r#""replay":"normalised","tolerated":["test_duration","temp_dir"]"#),
        "{line}"
    );
    let cost = |records: &[metagpt_bot::run::gateway::CallRecord]| {
        records.iter().map(|r| r.cost_usd).collect::<Vec<_>>()
    };
    let mut expected = cost(&recorded);
    expected.swap(1, 2);
    assert_eq!(
        cost(&ledger),
        expected,
        "each recorded call answered once, with its cost"
    );
}

#[tokio::test]
async fn a_test_run_that_says_something_else_or_asks_another_model_still_diverges() {
    let dir = tempfile::tempdir().unwrap();
    let (bodies, replies) = recorded_run();
    record(dir.path(), replies, &bodies).await;

    let other_model = {
        let mut body = summary("test_calc.py", "/tmp/.tmp2BghVf", "0.006", "2 != -2");
        body["model"] = json!("gpt-4o");
        body
    };
    let cases = [
        summary("test_calc.py", "/tmp/.tmp2BghVf", "0.006", "2 != -3"),
        summary("test_calc.py", "/tmp/.tmp2BghVf", "0.006", "2 != -2")
            .to_string()
            .replace("Ran 2 tests", "Ran 3 tests")
            .parse()
            .unwrap(),
        other_model,
    ];
    for body in cases {
        let gateway = offline_gateway().await;
        let recording = Recording::load(&dir.path().join("llm.jsonl")).unwrap();
        let run = gateway
            .open_replay(options(dir.path().join("replay.jsonl"), 10.0), recording)
            .unwrap();
        let answers = replay_all(&gateway, &run, &[request(false), body]).await;
        assert_eq!(answers[0].0, 200);
        assert_eq!(answers[1].0, 400, "{}", answers[1].1);
        assert!(
            answers[1].1.contains(
                "not in the recording: the run diverged at call 2, step summarize_run (no recorded call sent this request"
            ),
            "{}",
            answers[1].1
        );
        assert_eq!(run.ledger()[1].replay, None);
    }
}
