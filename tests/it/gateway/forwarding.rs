//! Pass-through is faithful and usage is counted exactly from the provider's `usage`.

use metagpt_bot::run::gateway::{Step, UpstreamConfig};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::harness::{Harness, KEY, request};
use crate::support::scripted_llm::{Reply, sse_body, sse_content};

#[tokio::test]
async fn a_non_streaming_answer_comes_back_byte_for_byte_and_its_usage_is_recorded() {
    let h = Harness::start().await;
    h.llm.push(Reply::chat(
        "{\"Implementation approach\": \"flask\"}",
        1234,
        567,
    ));
    let run = h.run(10.0);

    let (status, body) = h.call(&run, &request(false)).await;

    assert_eq!(status, 200);
    let seen = h.llm.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        body.as_bytes(),
        &seen[0].answered[..],
        "the agent gets the upstream's bytes"
    );
    assert_eq!(
        seen[0].body,
        request(false),
        "the upstream gets the agent's request"
    );
    assert_eq!(seen[0].uri, "/v1/chat/completions");
    let auth = seen[0]
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    assert_eq!(auth, Some(format!("Bearer {KEY}").as_str()));
    let token = run.token().expose_secret();
    let leaked = seen[0]
        .headers
        .values()
        .any(|v| v.to_str().is_ok_and(|v| v.contains(token)));
    assert!(!leaked, "the run token is not forwarded");

    let ledger = run.ledger();
    assert_eq!(ledger.len(), 1);
    let record = &ledger[0];
    assert_eq!(
        (record.prompt_tokens, record.completion_tokens),
        (1234, 567)
    );
    assert!(record.usage_reported && record.priced);
    // gpt-4o-mini: $0.15 / $0.60 per million.
    let expected = (1234.0 * 0.15 + 567.0 * 0.60) / 1e6;
    assert!(
        (record.cost_usd - expected).abs() < 1e-12,
        "{} != {expected}",
        record.cost_usd
    );
    assert_eq!(
        (record.role.as_str(), record.step),
        ("Architect", Step::Design)
    );
    assert_eq!(
        (record.status, record.attempts, record.model.as_str()),
        (200, 1, "gpt-4o-mini")
    );
}

#[tokio::test]
async fn a_stream_is_passed_through_and_usage_comes_from_the_chunk_the_gateway_asked_for() {
    let h = Harness::start().await;
    let content = "```python\nprint('héllo, wörld')\n```\n";
    h.llm.push(Reply::chat(content, 321, 45));
    let run = h.run(10.0);

    let (status, body) = h.call(&run, &request(true)).await;

    assert_eq!(status, 200);
    let seen = h.llm.requests();
    assert_eq!(
        seen[0].body["stream_options"]["include_usage"],
        Value::Bool(true)
    );
    assert_eq!(sse_content(&body), content);
    // The agent did not ask for usage, so it gets the stream without the usage-only chunk.
    assert_eq!(body, sse_body("gpt-4o-mini", content, None));
    let record = &run.ledger()[0];
    assert_eq!((record.prompt_tokens, record.completion_tokens), (321, 45));
    assert!(record.stream && record.usage_reported);
}

#[tokio::test]
async fn a_stream_whose_agent_asked_for_usage_is_passed_through_unchanged() {
    let h = Harness::start().await;
    h.llm.push(Reply::chat("done", 10, 2));
    let run = h.run(10.0);
    let mut body = request(true);
    body["stream_options"] = serde_json::json!({"include_usage": true});

    let (status, answer) = h.call(&run, &body).await;

    assert_eq!(status, 200);
    let seen = h.llm.requests();
    assert_eq!(
        seen[0].raw,
        serde_json::to_vec(&body).unwrap(),
        "the body is forwarded as sent"
    );
    assert_eq!(answer.as_bytes(), &seen[0].answered[..]);
    assert_eq!(answer, sse_body("gpt-4o-mini", "done", Some((10, 2))));
    assert_eq!(run.ledger()[0].prompt_tokens, 10);
}

#[tokio::test]
async fn azure_calls_go_to_the_deployment_path_with_an_api_key_header() {
    let h = Harness::with(|config| {
        let llm_root = config.upstream.base_url.join("/").unwrap();
        config.upstream = UpstreamConfig::azure(llm_root, SecretString::from(KEY), "2024-06-01");
    })
    .await;
    h.llm.push(Reply::chat("ok", 1, 1));
    let run = h.run(10.0);

    let (status, _) = h.call(&run, &request(false)).await;

    assert_eq!(status, 200);
    let seen = &h.llm.requests()[0];
    assert_eq!(
        seen.uri,
        "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-06-01"
    );
    assert_eq!(
        seen.headers.get("api-key").and_then(|v| v.to_str().ok()),
        Some(KEY)
    );
    assert!(seen.headers.get("authorization").is_none());
}
