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
//!
//! - A delivery is authentic when `X-Hub-Signature-256` is `sha256=<hex>` and the hex is the HMAC-SHA256 of
//!   the raw body under any one of the configured secrets (several during a rotation).
//! - The comparison is constant-time (`Mac::verify_slice`); the secrets and the body never reach a log or
//!   an error message.
//! - A delivery signed only with SHA-1 (`X-Hub-Signature`) is refused: SHA-1 HMAC is legacy and GitHub
//!   always sends the SHA-256 header too.
//! - With no secret configured every delivery is refused (fail closed).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::AppState;
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

// ---- the signature ----

pub const SIGNATURE_256_HEADER: &str = "x-hub-signature-256";
pub const SIGNATURE_SHA1_HEADER: &str = "x-hub-signature";

/// Why a delivery's signature was refused. The text goes to logs and to the 401 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no webhook secret is configured (set WEBHOOK_SECRET)")]
    NoSecretConfigured,
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("only a SHA-1 X-Hub-Signature was sent; X-Hub-Signature-256 is required")]
    Sha1Only,
    #[error("X-Hub-Signature-256 is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body under any configured webhook secret")]
    Mismatch,
}

/// Checks the delivery's `X-Hub-Signature-256` against `body` under each of `secrets`.
pub fn verify_signature(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let Some(header) = headers.get(SIGNATURE_256_HEADER) else {
        return Err(if headers.contains_key(SIGNATURE_SHA1_HEADER) {
            SignatureError::Sha1Only
        } else {
            SignatureError::Missing
        });
    };
    let signature = header
        .as_bytes()
        .strip_prefix(b"sha256=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .filter(|bytes| bytes.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let matches = secrets.iter().any(|secret| {
        Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .map(|mac| mac.chain_update(body).verify_slice(&signature).is_ok())
            .unwrap_or(false)
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `sha256=<hex>` of `body` under `secret`: what GitHub sends. For tests, benches and tools.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map(|mac| mac.chain_update(body).finalize());
    match mac {
        Ok(output) => format!("sha256={}", hex::encode(output.into_bytes())),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const GITHUB_DOCS_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_DOCS_PAYLOAD: &[u8] = b"Hello, World!";
    const GITHUB_DOCS_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            name,
            HeaderValue::from_str(value).expect("test header value"),
        );
        headers
    }

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values
            .iter()
            .map(|v| SecretString::from(v.to_string()))
            .collect()
    }

    #[test]
    fn github_documented_test_vector_verifies() {
        assert_eq!(
            sign(GITHUB_DOCS_SECRET, GITHUB_DOCS_PAYLOAD),
            GITHUB_DOCS_SIGNATURE
        );
        let headers = headers(SIGNATURE_256_HEADER, GITHUB_DOCS_SIGNATURE);
        assert_eq!(
            verify_signature(
                &headers,
                GITHUB_DOCS_PAYLOAD,
                &secrets(&[GITHUB_DOCS_SECRET])
            ),
            Ok(())
        );
        assert_eq!(
            verify_signature(&headers, b"Hello, World?", &secrets(&[GITHUB_DOCS_SECRET])),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_rotated_secret_may_match() {
        let headers = headers(SIGNATURE_256_HEADER, GITHUB_DOCS_SIGNATURE);
        let rotated = secrets(&["new secret", GITHUB_DOCS_SECRET]);
        assert_eq!(
            verify_signature(&headers, GITHUB_DOCS_PAYLOAD, &rotated),
            Ok(())
        );
        assert_eq!(
            verify_signature(&headers, GITHUB_DOCS_PAYLOAD, &secrets(&["new secret"])),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refusals_say_why() {
        let body = GITHUB_DOCS_PAYLOAD;
        let ours = secrets(&[GITHUB_DOCS_SECRET]);
        assert_eq!(
            verify_signature(&HeaderMap::new(), body, &ours),
            Err(SignatureError::Missing)
        );
        let sha1 = headers(SIGNATURE_SHA1_HEADER, "sha1=0123");
        assert_eq!(
            verify_signature(&sha1, body, &ours),
            Err(SignatureError::Sha1Only)
        );
        for bad in [
            "757107ea",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=zz",
            "sha256=abcd",
        ] {
            let headers = headers(SIGNATURE_256_HEADER, bad);
            assert_eq!(
                verify_signature(&headers, body, &ours),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        let good = headers(SIGNATURE_256_HEADER, GITHUB_DOCS_SIGNATURE);
        assert_eq!(
            verify_signature(&good, body, &[]),
            Err(SignatureError::NoSecretConfigured)
        );
    }
}
