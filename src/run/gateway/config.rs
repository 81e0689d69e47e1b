//! Gateway configuration: where the upstream is, how to reach it, how long to wait and how often to retry.
//!
//! Invariants: the provider key lives only here, as a `SecretString`, and is read only by `upstream.rs`
//! when it builds the upstream request. Nothing in this module reads the process environment: prices and
//! keys are passed in by the caller (the `run` command reads `LLM_*` variables and settings).

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::price::PriceTable;

/// The dialect of the upstream provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamKind {
    /// OpenAI or an OpenAI-compatible server (Groq, OpenRouter, DeepSeek, vLLM, Ollama's `/v1`):
    /// `POST {base_url}/chat/completions` with `Authorization: Bearer <key>`.
    OpenAi,
    /// Azure OpenAI: `POST {base_url}/openai/deployments/{model}/chat/completions?api-version=…` with an
    /// `api-key` header; the request's `model` names the deployment.
    Azure { api_version: String },
}

/// The provider the gateway forwards to.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub kind: UpstreamKind,
    /// For OpenAI-type upstreams the API root including `/v1` (e.g. `https://api.openai.com/v1`);
    /// for Azure the resource endpoint (e.g. `https://my-resource.openai.azure.com`).
    pub base_url: Url,
    pub api_key: SecretString,
    /// A short provider label for metrics and the ledger (e.g. `openai`, `deepseek`, `azure`).
    pub provider: String,
    /// Ask a streaming upstream for a final usage chunk (`stream_options.include_usage`). On by default;
    /// turn it off for OpenAI-compatible servers that reject unknown fields.
    pub stream_usage: bool,
}

impl UpstreamConfig {
    /// An OpenAI-type upstream with streaming usage requested.
    pub fn openai(base_url: Url, api_key: SecretString, provider: impl Into<String>) -> Self {
        Self {
            kind: UpstreamKind::OpenAi,
            base_url,
            api_key,
            provider: provider.into(),
            stream_usage: true,
        }
    }

    /// No provider: for a gateway that only replays audit recordings (`Gateway::open_replay`). It
    /// points at a closed port on 127.0.0.1 with an empty key, so a live run opened on it by mistake
    /// fails at once as "LLM provider unavailable" and no key exists to leak.
    pub fn offline() -> Self {
        let nowhere = Url::parse("http://127.0.0.1:9/v1").expect("a constant, valid URL");
        Self::openai(nowhere, SecretString::from(String::new()), "offline")
    }

    /// An Azure OpenAI upstream.
    pub fn azure(base_url: Url, api_key: SecretString, api_version: impl Into<String>) -> Self {
        Self {
            kind: UpstreamKind::Azure {
                api_version: api_version.into(),
            },
            base_url,
            api_key,
            provider: "azure".to_owned(),
            stream_usage: true,
        }
    }
}

/// Bounded retries with exponential backoff on 429, 5xx and connection failures.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total attempts including the first (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further attempt.
    pub initial_backoff: Duration,
    /// Upper bound for any single wait, including one asked for by `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1), honouring `Retry-After` up to the cap.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        retry_after.unwrap_or(exponential).min(self.max_backoff)
    }
}

/// Everything `Gateway::start` needs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub upstream: UpstreamConfig,
    pub retry: RetryPolicy,
    pub prices: PriceTable,
    /// Time to establish a connection to the upstream.
    pub connect_timeout: Duration,
    /// Time for one whole upstream attempt, streaming body included.
    pub request_timeout: Duration,
    /// Largest request body an agent may send.
    pub max_body_bytes: usize,
}

impl GatewayConfig {
    /// Defaults: 4 attempts, 10 s connect, 10 min per attempt, 32 MiB bodies, the built-in price table.
    pub fn new(upstream: UpstreamConfig) -> Self {
        Self {
            upstream,
            retry: RetryPolicy::default(),
            prices: PriceTable::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}
