//! Audit replay: a run recorded against the scripted provider is replayed from its `llm.jsonl` by a
//! gateway that has no provider and no key: the same answers, the same totals, and a clear refusal where
//! the replay diverges.

use std::path::{Path, PathBuf};

use metagpt_bot::run::gateway::{
    CallRecord, CostReport, Gateway, GatewayConfig, Recording, RunBudget, RunHandle, RunOptions,
    UpstreamConfig, install_crypto_provider, read_jsonl,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::harness::{Harness, KEY, call, request, unit_prices};
use crate::support::scripted_llm::Reply;

pub(crate) fn options(ledger: PathBuf, max_cost_usd: f64) -> RunOptions {
    RunOptions {
        budget: RunBudget { max_cost_usd },
        ledger_path: Some(ledger),
        cache: None,
    }
}

/// A design request with different content: a call the recording never saw.
fn unrecorded() -> Value {
    let mut body = request(false);
    body["messages"][1]["content"] = json!(
        "## context\nsomething else\n## format example\n[CONTENT]{\"Implementation approach\": \"\"}[/CONTENT]"
    );
    body
}

/// Records `bodies` answered by `replies` into `dir/llm.jsonl`; returns the answers and the ledger.
pub(crate) async fn record(
    dir: &Path,
    replies: Vec<Reply>,
    bodies: &[Value],
) -> (Vec<(u16, String)>, Vec<CallRecord>, String) {
    let h = Harness::with(|config| config.prices = unit_prices()).await;
    for reply in replies {
        h.llm.push(reply);
    }
    let run = h
        .gateway
        .open_run(options(dir.join("llm.jsonl"), 10.0))
        .unwrap();
    let token = run.token().expose_secret().to_owned();
    let mut answers = Vec::new();
    for body in bodies {
        answers.push(h.call(&run, body).await);
    }
    (answers, run.close(), token)
}

/// A gateway with no provider at all, as `metagpt-bot run --replay` starts it.
pub(crate) async fn offline_gateway() -> Gateway {
    install_crypto_provider();
    let mut config = GatewayConfig::new(UpstreamConfig::offline());
    config.prices = unit_prices();
    Gateway::start(config).await.unwrap()
}

pub(crate) async fn replay_all(
    gateway: &Gateway,
    run: &RunHandle,
    bodies: &[Value],
) -> Vec<(u16, String)> {
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for body in bodies {
        answers.push(call(&http, gateway, run, body).await);
    }
    answers
}

#[tokio::test]
async fn a_recorded_run_replays_offline_with_the_same_answers_and_totals() {
    let dir = tempfile::tempdir().unwrap();
    let bodies = [request(false), request(false), request(true), unrecorded()];
    let replies = vec![
        Reply::chat("first answer", 10, 1),
        Reply::chat("second answer to the same question", 10, 2),
        Reply::chat("a streamed answer", 20, 3),
        Reply::error(400, "max_tokens is too large"),
    ];
    let (recorded_answers, recorded, _) = record(dir.path(), replies, &bodies).await;
    // The scripted provider is gone now (the harness was dropped); the replay has no key.

    let gateway = offline_gateway().await;
    let recording = Recording::load(&dir.path().join("llm.jsonl")).unwrap();
    let run = gateway
        .open_replay(options(dir.path().join("replay.jsonl"), 10.0), recording)
        .unwrap();
    let replayed_answers = replay_all(&gateway, &run, &bodies).await;

    assert_eq!(
        replayed_answers, recorded_answers,
        "every call gets its recorded answer, repeats in recorded order, the stream and the provider's 400 too"
    );
    let ledger = run.ledger();
    assert!(ledger.iter().all(|r| r.replayed && r.attempts == 0));
    let total = |records: &[CallRecord]| CostReport::build(1, records, None).total;
    assert_eq!(total(&ledger), total(&recorded));
    assert!(total(&ledger).cost_usd > 0.0);
    assert_eq!(run.divergence(), None);
    assert_eq!(
        read_jsonl(&dir.path().join("replay.jsonl")).unwrap(),
        ledger,
        "the replay writes its own ledger"
    );
}

#[tokio::test]
async fn a_call_the_recording_does_not_hold_is_refused_with_where_the_run_diverged() {
    let dir = tempfile::tempdir().unwrap();
    let replies = vec![Reply::chat("first answer", 10, 1)];
    record(dir.path(), replies, &[request(false)]).await;

    let gateway = offline_gateway().await;
    let recording = Recording::load(&dir.path().join("llm.jsonl")).unwrap();
    let run = gateway
        .open_replay(options(dir.path().join("replay.jsonl"), 10.0), recording)
        .unwrap();
    let answers = replay_all(
        &gateway,
        &run,
        &[request(false), unrecorded(), request(false)],
    )
    .await;

    assert_eq!(answers[0].0, 200);
    for (n, (status, body)) in answers.iter().enumerate().skip(1) {
        assert_eq!(*status, 400, "{body}");
        let message = serde_json::from_str::<Value>(body).unwrap()["error"]["message"].clone();
        let message = message.as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "not in the recording: the run diverged at call {}, step design",
                n + 1
            )),
            "{message}"
        );
    }
    assert!(answers[2].1.contains("sent this request only 1 time(s)"));
    let divergence = run.divergence().expect("the run remembers its divergence");
    assert!(
        divergence.contains("diverged at call 2, step design"),
        "{divergence}"
    );
    let ledger = run.ledger();
    assert_eq!(ledger.len(), 3, "refusals are on the replay's ledger");
    assert_eq!(ledger[1].status, 400);
}

#[tokio::test]
async fn recorded_answers_are_redacted_and_replayed_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let github_token = "ghp_0123456789abcdefghijklmnopqrstuv";
    let content = format!("use {github_token} and {KEY}");
    let replies = vec![Reply::chat(&content, 5, 5)];
    let (answers, recorded, run_token) = record(dir.path(), replies, &[request(false)]).await;

    let file = std::fs::read_to_string(dir.path().join("llm.jsonl")).unwrap();
    for secret in [KEY, github_token, run_token.as_str()] {
        assert!(
            !file.contains(secret),
            "{secret} leaked into llm.jsonl: {file}"
        );
    }
    assert!(
        answers[0].1.contains(github_token),
        "the live answer is the provider's"
    );
    let response = recorded[0].response.as_ref().expect("the answer is kept");
    assert!(response.altered && response.body.contains("[REDACTED]"));

    let gateway = offline_gateway().await;
    let recording = Recording::load(&dir.path().join("llm.jsonl")).unwrap();
    let run = gateway
        .open_replay(options(dir.path().join("replay.jsonl"), 10.0), recording)
        .unwrap();
    let replayed = replay_all(&gateway, &run, &[request(false)]).await;
    assert_eq!(replayed[0], (200, response.body.clone()));
}

#[tokio::test]
async fn a_ledger_without_answers_is_refused_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (_, recorded, _) =
        record(dir.path(), vec![Reply::chat("a", 1, 1)], &[request(false)]).await;
    let old = dir.path().join("old.jsonl");
    let lines: Vec<String> = recorded
        .into_iter()
        .map(|record| {
            let record = CallRecord {
                response: None,
                ..record
            };
            serde_json::to_string(&record).unwrap()
        })
        .collect();
    std::fs::write(&old, lines.join("\n")).unwrap();

    let error = Recording::load(&old).unwrap_err().to_string();
    assert!(
        error.contains("call 1 (design) has no recorded answer")
            && error.contains("record the run again"),
        "{error}"
    );
}
