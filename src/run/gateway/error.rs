//! Errors the gateway itself returns to agents, shaped like OpenAI's so agent SDKs surface the message.
//!
//! Invariants: every refusal is `{"error":{"message","type","code"}}` with a status that tells an SDK what
//! to do (401 re-authenticate, 402 stop, 400 fix the request or, in an audit replay, a call the recording
//! does not hold, 502/503/504 the provider failed); messages
//! never contain a key or token.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::redact::redact;

#[derive(Debug, Clone, PartialEq)]
pub enum GatewayError {
    /// Missing, unknown or closed run token.
    Unauthorized,
    /// The body is not a JSON object.
    BadRequest(String),
    /// The run's budget is spent.
    BudgetExhausted { spent_usd: f64, max_usd: f64 },
    /// The upstream kept failing (429/5xx/connection) after every attempt.
    UpstreamUnavailable { attempts: u32, detail: String },
    /// The upstream did not answer in time.
    UpstreamTimeout { attempts: u32 },
    /// An audit replay got a call its recording does not hold: the run diverged from the recorded one.
    NotRecorded {
        /// The replay's call number (1-based).
        call: u64,
        /// The step of the refused call, as `llm.jsonl` names it.
        step: String,
        detail: String,
    },
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::BadRequest(_) | GatewayError::NotRecorded { .. } => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::BudgetExhausted { .. } => StatusCode::PAYMENT_REQUIRED,
            GatewayError::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn kind_and_code(&self) -> (&'static str, &'static str) {
        match self {
            GatewayError::Unauthorized => ("invalid_request_error", "invalid_api_key"),
            GatewayError::BadRequest(_) => ("invalid_request_error", "invalid_request"),
            GatewayError::BudgetExhausted { .. } => ("insufficient_quota", "budget_exhausted"),
            GatewayError::UpstreamUnavailable { .. } => ("api_error", "upstream_unavailable"),
            GatewayError::UpstreamTimeout { .. } => ("api_error", "upstream_timeout"),
            GatewayError::NotRecorded { .. } => ("invalid_request_error", "not_in_recording"),
        }
    }
}

impl GatewayError {
    /// The same error with `secrets` (and credential-shaped words) removed from its free text.
    pub(crate) fn redacted(self, secrets: &[&str]) -> Self {
        match self {
            GatewayError::UpstreamUnavailable { attempts, detail } => {
                GatewayError::UpstreamUnavailable {
                    attempts,
                    detail: redact(&detail, secrets),
                }
            }
            GatewayError::BadRequest(why) => GatewayError::BadRequest(redact(&why, secrets)),
            other => other,
        }
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GatewayError::Unauthorized => {
                write!(
                    f,
                    "invalid or expired run token: this gateway serves only the run that opened it"
                )
            }
            GatewayError::BadRequest(why) => write!(f, "invalid request: {why}"),
            GatewayError::BudgetExhausted { spent_usd, max_usd } => {
                write!(
                    f,
                    "budget exhausted: spent ${spent_usd:.4} of ${max_usd:.4}"
                )
            }
            GatewayError::UpstreamUnavailable { attempts, detail } => {
                write!(
                    f,
                    "LLM provider unavailable after {attempts} attempt(s): {detail}"
                )
            }
            GatewayError::UpstreamTimeout { attempts } => {
                write!(
                    f,
                    "LLM provider did not answer in time after {attempts} attempt(s)"
                )
            }
            GatewayError::NotRecorded { call, step, detail } => write!(
                f,
                "not in the recording: the run diverged at call {call}, step {step} ({detail}); \
                 an audit replay answers only the recorded requests, in their recorded order"
            ),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (kind, code) = self.kind_and_code();
        let body = json!({"error": {"message": self.to_string(), "type": kind, "code": code, "param": null}});
        (self.status(), Json(body)).into_response()
    }
}
