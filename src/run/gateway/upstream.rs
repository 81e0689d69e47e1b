//! Forwarding to the provider with reqwest: the only place the provider key is exposed, as a header.
//!
//! Invariants: the key is added to the upstream request and nowhere else (error details are redacted);
//! 429, 5xx, connection failures and time-outs are retried up to `RetryPolicy::max_attempts`, waiting as
//! `Retry-After` / `retry-after-ms` ask (capped) or with exponential backoff; any other status is final
//! and goes back to the agent as is. Redirects are not followed, so the key cannot travel elsewhere.

use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use url::Url;

use super::config::{GatewayConfig, RetryPolicy, UpstreamConfig, UpstreamKind};
use super::error::GatewayError;
use crate::redact::redact;

pub(crate) struct Upstream {
    client: reqwest::Client,
    config: UpstreamConfig,
    retry: RetryPolicy,
}

/// A final (non-retried) upstream response.
pub(crate) struct Sent {
    pub response: Response,
    pub attempts: u32,
}

/// Why the upstream could not be used, with the attempts spent.
pub(crate) struct Failed {
    pub error: GatewayError,
    pub attempts: u32,
}

impl Upstream {
    pub(crate) fn new(config: &GatewayConfig) -> anyhow::Result<Self> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client for the LLM provider")?;
        Ok(Self {
            client,
            config: config.upstream.clone(),
            retry: config.retry.clone(),
        })
    }

    pub(crate) fn provider(&self) -> &str {
        &self.config.provider
    }

    pub(crate) fn key(&self) -> &str {
        self.config.api_key.expose_secret()
    }

    /// Whether to ask a streaming upstream for its usage chunk.
    pub(crate) fn stream_usage(&self) -> bool {
        self.config.stream_usage
    }

    fn url(&self, model: &str) -> Result<Url, GatewayError> {
        let base = self.config.base_url.as_str().trim_end_matches('/');
        let url = match &self.config.kind {
            UpstreamKind::OpenAi => format!("{base}/chat/completions"),
            UpstreamKind::Azure { api_version } => {
                let deployment: String =
                    url::form_urlencoded::byte_serialize(model.as_bytes()).collect();
                let version: String =
                    url::form_urlencoded::byte_serialize(api_version.as_bytes()).collect();
                format!(
                    "{base}/openai/deployments/{deployment}/chat/completions?api-version={version}"
                )
            }
        };
        Url::parse(&url).map_err(|e| {
            GatewayError::BadRequest(format!("model {model:?} gives no valid URL: {e}"))
        })
    }

    fn headers(&self) -> Result<HeaderMap, GatewayError> {
        let unusable = || GatewayError::UpstreamUnavailable {
            attempts: 0,
            detail: "the configured provider key is not a valid HTTP header value".to_owned(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let (name, value) = match self.config.kind {
            UpstreamKind::OpenAi => (AUTHORIZATION, format!("Bearer {}", self.key())),
            UpstreamKind::Azure { .. } => (
                reqwest::header::HeaderName::from_static("api-key"),
                self.key().to_owned(),
            ),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| unusable())?;
        value.set_sensitive(true);
        headers.insert(name, value);
        Ok(headers)
    }

    /// Sends `body` for `model`, retrying as the policy allows.
    pub(crate) async fn send(&self, model: &str, body: Bytes) -> Result<Sent, Failed> {
        let fail = |error| Failed { error, attempts: 0 };
        let url = self.url(model).map_err(fail)?;
        let headers = self.headers().map_err(fail)?;
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .client
                .post(url.clone())
                .headers(headers.clone())
                .body(body.clone())
                .send()
                .await;
            let (error, retry_after) = match sent {
                Ok(response) if retryable(response.status()) => {
                    let retry_after = retry_after(response.headers());
                    (
                        self.unavailable(attempt, describe(response).await),
                        retry_after,
                    )
                }
                Ok(response) => {
                    return Ok(Sent {
                        response,
                        attempts: attempt,
                    });
                }
                Err(e) if e.is_timeout() => {
                    (GatewayError::UpstreamTimeout { attempts: attempt }, None)
                }
                Err(e) => (
                    self.unavailable(attempt, format!("could not reach the provider: {e}")),
                    None,
                ),
            };
            if attempt >= max_attempts {
                return Err(Failed {
                    error,
                    attempts: attempt,
                });
            }
            let delay = self.retry.delay(attempt, retry_after);
            tracing::warn!(attempt, ?delay, %error, "LLM provider call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    fn unavailable(&self, attempts: u32, detail: String) -> GatewayError {
        GatewayError::UpstreamUnavailable {
            attempts,
            detail: redact(&detail, &[self.key()]),
        }
    }
}

/// Installs ring as the process's rustls crypto provider, unless one is installed already.
///
/// reqwest is built with `rustls-no-provider` (to avoid building aws-lc), so every process must call this
/// before it builds any `reqwest::Client`, or the build panics. `Gateway::start` calls it; so should
/// `main` and any test that builds a client first.
pub fn install_crypto_provider() {
    // An error only means that a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The status and the start of the body of a failed answer.
async fn describe(response: Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let snippet: String = body.chars().take(300).collect();
    format!("last answer {status}: {snippet}")
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds; an HTTP date falls back to backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let valid =
        |secs: f64| (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    number("retry-after-ms")
        .and_then(|ms| valid(ms / 1000.0))
        .or_else(|| number("retry-after").and_then(valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_milliseconds_and_dates_fall_back_to_backoff() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        let both = headers(&[("retry-after", "2"), ("retry-after-ms", "150")]);
        assert_eq!(retry_after(&both), Some(Duration::from_millis(150)));
        let date = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&date), None);
    }

    #[test]
    fn waits_grow_exponentially_follow_retry_after_and_stay_under_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        };
        assert_eq!(policy.delay(1, None), Duration::from_secs(1));
        assert_eq!(policy.delay(3, None), Duration::from_secs(4));
        assert_eq!(policy.delay(4, None), Duration::from_secs(5));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }
}
