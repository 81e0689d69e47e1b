//! Streaming pass-through: upstream SSE events go to the agent as they arrive; the call is recorded when
//! the stream ends.
//!
//! Invariants: events are forwarded in order with their bytes unchanged (provider key and run token
//! redacted should they ever appear); the only event ever dropped is the usage-only chunk the gateway
//! itself asked for (`stream_options.include_usage` added because the agent did not ask), so the agent sees
//! the stream it requested. Usage is taken from that chunk. The run's call lock is held until the stream
//! ends, and a stream the agent abandons is still recorded (but not stored for replay).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::{OwnedMutexGuard, mpsc};

use super::call::{Call, Outcome};
use super::handler::{App, scrub, secrets};
use super::ledger::RecordedResponse;
use super::sse::{Splitter, inspect};
use super::upstream::Sent;
use super::usage::Usage;

pub(crate) fn forward(
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
