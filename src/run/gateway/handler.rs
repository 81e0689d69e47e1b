//! `POST /v1/chat/completions`, the gateway's one route: authenticate the run, enforce its budget,
//! forward (whole or streamed through as server-sent events), or answer without the provider (from the
//! retry cache or an audit recording); every call ends as one ledger record (`call.rs`).
//!
//! Invariants:
//! - Nothing is forwarded without a live run token and an unspent budget. A run that replays is
//!   answered from its cache first, without a budget check, since a cached answer costs nothing; a run
//!   replaying an audit recording is checked against its budget and then answered from the recording
//!   only, never forwarded.
//! - The agent's body goes upstream byte for byte unless the gateway must ask a streaming upstream for
//!   usage (then it is re-serialised with `stream_options.include_usage` added).
//! - The upstream's answer comes back with its status, content type and bytes unchanged, except that
//!   the provider key or the run token, should an answer ever echo them, are redacted. Streamed events
//!   are forwarded in order as they arrive; the only event ever dropped is the usage-only chunk the
//!   gateway itself asked for, so the agent sees the stream it requested. The run's call lock is held
//!   until a stream ends, and a stream the agent abandons is still recorded (but not stored for replay).
//! - A cached answer is free (no tokens, no cost); a recorded answer keeps the recorded status, body,
//!   usage and cost, and a recorded failure is answered with its recorded status and redacted message in
//!   OpenAI's error shape. A recorded answer given to a request that differed from the recorded one in
//!   volatile parts only is marked `normalised`, with what was folded. Both are recorded as `replayed`,
//!   with the answer the agent received, so a replayed run's `llm.jsonl` can be replayed again.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::{OwnedMutexGuard, mpsc};

use super::cache::Cached;
use super::call::{Call, Outcome, Source};
use super::config::PriceTable;
use super::error::GatewayError;
use super::ledger::{CallRecord, RecordedResponse, Usage};
use super::recording::{Asked, Replayer};
use super::run::Registry;
use super::upstream::{Failed, Sent, Upstream};

pub(crate) struct App {
    pub registry: Arc<Registry>,
    pub upstream: Upstream,
    pub prices: PriceTable,
}

pub(crate) async fn chat_completions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(app, &headers, body).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(%error, "LLM call refused");
            error.into_response()
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

async fn handle(app: Arc<App>, headers: &HeaderMap, body: Bytes) -> Result<Response, GatewayError> {
    let token = bearer(headers).ok_or(GatewayError::Unauthorized)?;
    let run = app
        .registry
        .lookup(token)
        .ok_or(GatewayError::Unauthorized)?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| GatewayError::BadRequest(format!("the body is not JSON: {e}")))?;
    if !request.is_object() {
        return Err(GatewayError::BadRequest(
            "the body must be a JSON object".to_owned(),
        ));
    }
    let guard = run.call_lock.clone().lock_owned().await;
    let call = Call::begin(run.clone(), app.upstream.provider(), &body, &request);
    if let Some(replayer) = run.recording.as_ref() {
        run.check_budget()?;
        return from_recording(&app, call, replayer);
    }
    if let Some((entry, bytes)) = call.cached() {
        return Ok(from_cache(&app, call, entry, bytes));
    }
    run.check_budget()?;
    let (upstream_body, strip_usage) = upstream_body(&app.upstream, request, body, call.stream);
    let sent = match app.upstream.send(&call.model, upstream_body).await {
        Ok(sent) => sent,
        Err(Failed { error, attempts }) => {
            let error = error.redacted(&secrets(&app, &call));
            let outcome = Outcome::failed(&error, attempts);
            call.finish(&app.prices, app.upstream.key(), outcome);
            return Err(error);
        }
    };
    if call.stream && sent.response.status().is_success() {
        return Ok(forward(app, call, sent, strip_usage, guard));
    }
    Ok(whole(&app, call, sent).await)
}

/// The provider key and the run token: what must never leave in a record or an answer.
fn secrets<'a>(app: &'a App, call: &'a Call) -> [&'a str; 2] {
    [app.upstream.key(), call.run.token.expose_secret()]
}

/// The body to send upstream, and whether the usage-only chunk was asked for by the gateway (not the agent).
fn upstream_body(
    upstream: &Upstream,
    mut request: Value,
    body: Bytes,
    stream: bool,
) -> (Bytes, bool) {
    let asked = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    if !stream || asked || !upstream.stream_usage() {
        return (body, false);
    }
    match request
        .get_mut("stream_options")
        .and_then(Value::as_object_mut)
    {
        Some(options) => {
            options.insert("include_usage".to_owned(), Value::Bool(true));
        }
        None => {
            request["stream_options"] = json!({"include_usage": true});
        }
    }
    match serde_json::to_vec(&request) {
        Ok(bytes) => (Bytes::from(bytes), true),
        Err(_) => (body, false),
    }
}

/// A non-streaming answer (or a refused stream): read it whole, record it, pass it back.
async fn whole(app: &App, call: Call, sent: Sent) -> Response {
    let Sent { response, attempts } = sent;
    let status = response.status();
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => {
            let error = if e.is_timeout() {
                GatewayError::UpstreamTimeout { attempts }
            } else {
                GatewayError::UpstreamUnavailable {
                    attempts,
                    detail: format!("reading the answer: {e}"),
                }
            }
            .redacted(&secrets(app, &call));
            let outcome = Outcome::failed(&error, attempts);
            call.finish(&app.prices, app.upstream.key(), outcome);
            return error.into_response();
        }
    };
    let secrets = secrets(app, &call);
    let bytes = scrub(bytes, &secrets);
    let usage = status
        .is_success()
        .then(|| serde_json::from_slice::<Value>(&bytes).ok())
        .flatten()
        .and_then(|v| Usage::from_response(&v));
    let error = (!status.is_success()).then(|| {
        let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
        format!("provider answered {status}: {text}")
    });
    let content_type_text = content_type.as_ref().and_then(|v| v.to_str().ok());
    if status.is_success() {
        call.store(status.as_u16(), content_type_text, &bytes);
    }
    let response = RecordedResponse::new(content_type_text, &bytes, &secrets);
    let outcome =
        Outcome::answered(status.as_u16(), usage, attempts, error).with_response(response);
    call.finish(&app.prices, app.upstream.key(), outcome);
    respond(status, content_type, Body::from(bytes))
}

fn respond(status: StatusCode, content_type: Option<HeaderValue>, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

/// `bytes` with any of `secrets` replaced; unchanged (same bytes) when none occurs.
fn scrub(bytes: Bytes, secrets: &[&str]) -> Bytes {
    let occurs = |s: &str| !s.is_empty() && bytes.windows(s.len()).any(|w| w == s.as_bytes());
    if !secrets.iter().any(|s| occurs(s)) {
        return bytes;
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, crate::redact::MARK);
    }
    Bytes::from(text)
}

/// Any other path: an OpenAI-style 404.
pub(crate) async fn not_found() -> Response {
    let message = "this gateway serves only POST /v1/chat/completions";
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "code": "not_found"}});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

// ---- answers served without calling the provider: the retry cache, an audit recording ----

/// An answer from the retry cache: free, recorded as replayed.
fn from_cache(app: &App, call: Call, entry: Cached, bytes: Vec<u8>) -> Response {
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
fn from_recording(app: &App, call: Call, replayer: &Replayer) -> Result<Response, GatewayError> {
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

// ---- streaming pass-through: events go to the agent as they arrive; the call is recorded when the stream ends ----

fn forward(
    app: Arc<App>,
    call: Call,
    sent: Sent,
    strip_usage: bool,
    guard: OwnedMutexGuard<()>,
) -> Response {
    let Sent { response, attempts } = sent;
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("text/event-stream"));
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let agent_content_type = content_type.clone();
    tokio::spawn(async move {
        let _guard = guard;
        let (usage, error, sent) = pump(&app, &call, response, strip_usage, &tx).await;
        let response =
            RecordedResponse::new(content_type.to_str().ok(), &sent, &secrets(&app, &call));
        let outcome =
            Outcome::answered(status.as_u16(), usage, attempts, error).with_response(response);
        call.finish(&app.prices, app.upstream.key(), outcome);
        drop(tx); // the agent's stream ends only once the call is on the ledger
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, agent_content_type);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Copies events until the upstream ends; returns the usage seen, why it stopped early if it did, and the
/// bytes the agent was sent.
async fn pump(
    app: &App,
    call: &Call,
    response: reqwest::Response,
    strip_usage: bool,
    tx: &mpsc::Sender<Bytes>,
) -> (Option<Usage>, Option<String>, Vec<u8>) {
    let secrets = secrets(app, call);
    let mut upstream = response.bytes_stream();
    let mut splitter = Splitter::default();
    let mut usage = None;
    let mut sent = Vec::new();
    while let Some(chunk) = upstream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                let why = format!("the provider's stream broke off: {e}");
                return (usage, Some(why), sent);
            }
        };
        for event in splitter.push(&chunk) {
            let info = inspect(&event);
            usage = info.usage.or(usage);
            if strip_usage && info.usage_only {
                continue;
            }
            let event = scrub(Bytes::from(event), &secrets);
            sent.extend_from_slice(&event);
            if tx.send(event).await.is_err() {
                let why = "the agent closed the stream early".to_owned();
                return (usage, Some(why), sent);
            }
        }
    }
    if let Some(rest) = splitter.finish() {
        let rest = scrub(Bytes::from(rest), &secrets);
        sent.extend_from_slice(&rest);
        let _ = tx.send(rest).await;
    }
    call.store(200, Some("text/event-stream"), &sent);
    (usage, None, sent)
}

// ---- server-sent events: split into whole events, read usage, spot the usage-only chunk ----
// Event bytes are passed on exactly as received (the splitter never rewrites them); an event ends at a
// blank line (`\n\n` or `\r\n\r\n`); a trailing partial event is returned by `finish`.

#[derive(Debug, Default)]
struct Splitter {
    buf: Vec<u8>,
}

impl Splitter {
    /// Adds bytes and returns the events they complete, each with its terminating blank line.
    fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = event_end(&self.buf) {
            events.push(self.buf.drain(..end).collect());
        }
        events
    }

    /// Whatever is left once the upstream closed.
    fn finish(self) -> Option<Vec<u8>> {
        (!self.buf.is_empty()).then_some(self.buf)
    }
}

fn event_end(buf: &[u8]) -> Option<usize> {
    let find = |pat: &[u8]| {
        buf.windows(pat.len())
            .position(|w| w == pat)
            .map(|i| i + pat.len())
    };
    match (find(b"\n\n"), find(b"\r\n\r\n")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the gateway needs to know about one event.
#[derive(Debug, Default, PartialEq)]
struct EventInfo {
    pub usage: Option<Usage>,
    /// A chunk with usage and no choices: the one `stream_options.include_usage` adds.
    pub usage_only: bool,
}

fn inspect(event: &[u8]) -> EventInfo {
    let text = String::from_utf8_lossy(event);
    let data: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    let Ok(value) = serde_json::from_str::<Value>(&data.join("\n")) else {
        return EventInfo::default();
    };
    let usage = Usage::from_response(&value);
    let no_choices = value
        .get("choices")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    EventInfo {
        usage_only: usage.is_some() && no_choices,
        usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole_and_unchanged() {
        let mut splitter = Splitter::default();
        assert!(splitter.push(b"data: {\"a\"").is_empty());
        let events = splitter.push(b":1}\n\ndata: [DONE]\r\n\r\ndata: x");
        assert_eq!(
            events,
            vec![
                b"data: {\"a\":1}\n\n".to_vec(),
                b"data: [DONE]\r\n\r\n".to_vec()
            ]
        );
        assert_eq!(splitter.finish(), Some(b"data: x".to_vec()));
    }

    #[test]
    fn the_usage_only_chunk_is_recognised() {
        let info = inspect(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
        );
        assert_eq!(
            info.usage,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 4
            })
        );
        assert!(info.usage_only);
        let info = inspect(b"data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n");
        assert_eq!(info, EventInfo::default());
    }
}
