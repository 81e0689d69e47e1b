//! Answers served without calling the provider: from the retry cache, or from an audit recording.
//!
//! Invariants: a cached answer is free (no tokens, no cost); a recorded answer keeps the recorded status,
//! body, usage and cost, and a recorded failure (a call the gateway itself failed) is answered with its
//! recorded status and redacted message in OpenAI's error shape. A recorded answer given to a request that
//! differed from the recorded one in volatile parts only is marked `normalised`, with what was folded. Both are recorded as `replayed`, with
//! the answer the agent received, so a replayed run's `llm.jsonl` can be replayed again.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::cache::Cached;
use super::call::{Call, Outcome, Source};
use super::error::GatewayError;
use super::handler::{App, respond, secrets};
use super::ledger::{CallRecord, RecordedResponse};
use super::recording::{Asked, Replayer};
use super::usage::Usage;

/// An answer from the retry cache: free, recorded as replayed.
pub(crate) fn from_cache(app: &App, call: Call, entry: Cached, bytes: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::OK);
    let content_type = entry.content_type.as_deref();
    let response = RecordedResponse::new(content_type, &bytes, &secrets(app, &call));
    let content_type = content_type.and_then(|v| HeaderValue::from_str(v).ok());
    let outcome = Outcome {
        status: status.as_u16(),
        usage: None,
        attempts: 0,
        error: None,
        source: Source::Cache,
        response: Some(response),
    };
    call.finish(&app.prices, app.upstream.key(), outcome);
    respond(status, content_type, Body::from(bytes))
}

/// The recorded answer to this call of an audit replay, or the divergence (recorded, and remembered by
/// the run) when the recording does not hold it.
pub(crate) fn from_recording(
    app: &App,
    call: Call,
    replayer: &Replayer,
) -> Result<Response, GatewayError> {
    let seq = call.run.next_seq();
    let asked = Asked {
        request_hash: &call.request_hash,
        normalised_hash: call.normalised_hash.as_deref(),
        step: call.labels.step,
        model: &call.model,
    };
    let (record, matched) = match replayer.next(&asked, seq) {
        Ok((record, matched)) => (record.clone(), matched),
        Err(error) => {
            let message = error.to_string();
            call.run.diverged(&message);
            let outcome = Outcome::failed(&error, 0);
            call.finish(&app.prices, app.upstream.key(), outcome);
            return Err(error);
        }
    };
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
    let (content_type, body) = match &record.response {
        Some(response) => (response.content_type.clone(), response.body.clone()),
        None => (Some("application/json".to_owned()), failure_body(&record)),
    };
    let outcome = Outcome {
        status: status.as_u16(),
        usage: record.usage_reported.then_some(Usage {
            prompt_tokens: record.prompt_tokens,
            completion_tokens: record.completion_tokens,
        }),
        attempts: 0,
        error: record.error.clone(),
        source: Source::Recording {
            cost_usd: record.cost_usd,
            priced: record.priced,
            matched,
        },
        response: record.response,
    };
    call.finish(&app.prices, app.upstream.key(), outcome);
    let content_type = content_type.and_then(|v| HeaderValue::from_str(&v).ok());
    Ok(respond(status, content_type, Body::from(body)))
}

/// OpenAI's error shape around a recorded failure's message.
fn failure_body(record: &CallRecord) -> String {
    let message = record
        .error
        .as_deref()
        .unwrap_or("the recorded call failed");
    let body = json!({"error": {"message": message, "type": "api_error", "code": "replayed_failure", "param": null}});
    body.to_string()
}
