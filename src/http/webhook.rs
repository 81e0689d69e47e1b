//! The webhook extractor: turns a `POST $WEBHOOK_PATH` request into a verified, typed [`Delivery`], or a
//! [`WebhookRejection`] that says which status to answer and why.
//!
//! Invariants:
//! - The body is read once, capped at [`MAX_BODY_BYTES`] (413 above); nothing is parsed before the
//!   signature over the raw bytes is verified (401 otherwise).
//! - After verification: a missing `X-GitHub-Event` or `X-GitHub-Delivery` header, or a handled event whose
//!   payload does not parse, is a 400 whose reason names the JSON path of the failure.
//! - Header values that reach logs, metrics labels or the database are bounded and printable: an id or
//!   event name that is not is treated as absent, so a forged request cannot write arbitrary text.
//! - Extraction never panics, whatever the request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::signature::verify_signature;
use crate::http::payloads::{WebhookEvent, parse_event};

/// GitHub caps payloads at 25 MiB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

pub const EVENT_HEADER: &str = "x-github-event";
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// A correctly signed delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-GitHub-Delivery`.
    pub id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`, when it has one.
    pub action: Option<String>,
    /// `None` for an event the bot does not handle.
    pub payload: Option<WebhookEvent>,
}

/// A request that is not an acceptable delivery.
#[derive(Debug, Clone)]
pub struct WebhookRejection {
    pub status: StatusCode,
    /// Whether the signature was verified before the request was refused (a 400 after verification).
    pub verified: bool,
    /// Present when the request carried a well-formed `X-GitHub-Delivery`: then it is recorded.
    pub delivery_id: Option<String>,
    pub event: Option<String>,
    pub action: Option<String>,
    pub reason: String,
}

/// Used only when a handler takes [`Delivery`] directly; the intake handler takes the `Result` to record
/// the rejection first.
impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({"outcome": "rejected", "reason": self.reason})),
        )
            .into_response()
    }
}

impl FromRequest<AppState> for Delivery {
    type Rejection = WebhookRejection;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // The headers are taken, not cloned: reading the body needs only the body and its limit.
        let (mut parts, body) = request.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let request = Request::from_parts(parts, body);
        let delivery_id = bounded_header(&headers, DELIVERY_HEADER);
        let event = bounded_header(&headers, EVENT_HEADER);
        let reject = |status: StatusCode, reason: String| WebhookRejection {
            status,
            verified: false,
            delivery_id: delivery_id.clone(),
            event: event.clone(),
            action: None,
            reason,
        };

        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    format!("body larger than {MAX_BODY_BYTES} bytes")
                } else {
                    format!("could not read the body: {}", rejection.body_text())
                };
                reject(status, reason)
            })?;
        verify_signature(&headers, &body, &state.config.webhook_secrets)
            .map_err(|error| reject(StatusCode::UNAUTHORIZED, error.to_string()))?;
        // From here on the request is authentic: refusals are malformed deliveries from GitHub.
        let reject = |status, reason| WebhookRejection {
            verified: true,
            ..reject(status, reason)
        };

        let Some(event_name) = event.clone() else {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                format!("missing or malformed {EVENT_HEADER} header"),
            ));
        };
        let Some(id) = delivery_id.clone() else {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                format!("missing or malformed {DELIVERY_HEADER} header"),
            ));
        };
        match parse_event(&event_name, &body) {
            Ok(Some(payload)) => Ok(Delivery {
                id,
                event: event_name,
                action: payload.action().map(bounded),
                payload: Some(payload),
            }),
            Ok(None) => Ok(Delivery {
                id,
                event: event_name,
                action: peek_action(&body),
                payload: None,
            }),
            Err(error) => Err(WebhookRejection {
                action: peek_action(&body),
                verified: true,
                ..reject(StatusCode::BAD_REQUEST, error.to_string())
            }),
        }
    }
}

const MAX_HEADER_CHARS: usize = 100;

/// A header value that is short, non-empty, printable ASCII; `None` otherwise.
fn bounded_header(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    let printable = value.bytes().all(|b| b.is_ascii_graphic());
    (printable && !value.is_empty() && value.len() <= MAX_HEADER_CHARS).then(|| value.to_owned())
}

fn bounded(action: &str) -> String {
    action.chars().take(MAX_HEADER_CHARS).collect()
}

/// The top-level `action` of any JSON object body, if it is a string.
fn peek_action(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ActionOnly {
        action: Option<String>,
    }
    let action = serde_json::from_slice::<ActionOnly>(body).ok()?.action?;
    Some(bounded(&action))
}
