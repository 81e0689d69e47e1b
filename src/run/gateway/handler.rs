//! `POST /v1/chat/completions`: authenticate the run, enforce its budget, forward, record.
//!
//! Invariants: nothing is forwarded without a live run token and an unspent budget; the agent's body goes
//! upstream byte for byte unless the gateway must ask a streaming upstream for usage (then it is
//! re-serialised with `stream_options.include_usage` added); the upstream's answer comes back with its
//! status, content type and bytes unchanged, except that the provider key or the run token, should an
//! answer ever echo them, are redacted. A run that replays is answered from its cache first, without
//! a budget check, since a replayed answer costs nothing. A run replaying an audit recording is checked
//! against its budget and then answered from the recording only (`replayed.rs`), never forwarded.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::call::{Call, Outcome};
use super::error::GatewayError;
use super::ledger::RecordedResponse;
use super::price::PriceTable;
use super::replayed;
use super::run::Registry;
use super::stream;
use super::upstream::{Failed, Sent, Upstream};
use super::usage::Usage;

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
        return replayed::from_recording(&app, call, replayer);
    }
    if let Some((entry, bytes)) = call.cached() {
        return Ok(replayed::from_cache(&app, call, entry, bytes));
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
        return Ok(stream::forward(app, call, sent, strip_usage, guard));
    }
    Ok(whole(&app, call, sent).await)
}

/// The provider key and the run token: what must never leave in a record or an answer.
pub(crate) fn secrets<'a>(app: &'a App, call: &'a Call) -> [&'a str; 2] {
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

pub(crate) fn respond(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Body,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

/// `bytes` with any of `secrets` replaced; unchanged (same bytes) when none occurs.
pub(crate) fn scrub(bytes: Bytes, secrets: &[&str]) -> Bytes {
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
