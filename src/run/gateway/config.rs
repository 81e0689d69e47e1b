//! Gateway configuration: where the upstream is, how to reach it, how long to wait, how often to retry,
//! and the prices in USD per million tokens.
//!
//! Invariants:
//! - The provider key lives only here, as a `SecretString`, and is read only by `upstream.rs` when it
//!   builds the upstream request. Nothing in this module reads the process environment: prices and keys
//!   are passed in by the caller (the `run` command reads `LLM_*` variables and settings).
//! - A model is priced by its exact name, else by the longest known name it starts with (so dated
//!   snapshots such as `gpt-4o-2024-08-06` price as `gpt-4o`, and `gpt-4o-mini-…` as `gpt-4o-mini`). An
//!   override (`LLM_PRICE_PROMPT` / `LLM_PRICE_COMPLETION`, passed in by the caller) applies to every
//!   model. An unknown model costs 0 and is reported as unpriced, so callers can refuse to run
//!   unbudgeted.

use crate::domain::Price;
use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

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

// ---- prices, USD per million tokens: built-in defaults and one optional override ----

/// Defaults as published by the providers (list prices, USD per million tokens).
const DEFAULTS: &[(&str, f64, f64)] = &[
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4-turbo", 10.00, 30.00),
    ("gpt-4", 30.00, 60.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("o3-mini", 1.10, 4.40),
    ("deepseek-chat", 0.27, 1.10),
    ("deepseek-reasoner", 0.55, 2.19),
];

#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    models: BTreeMap<String, Price>,
    overriding: Option<Price>,
}

impl Default for PriceTable {
    fn default() -> Self {
        let models = DEFAULTS
            .iter()
            .map(|&(name, prompt, completion)| {
                let price = Price {
                    prompt_per_million: prompt,
                    completion_per_million: completion,
                };
                (name.to_owned(), price)
            })
            .collect();
        Self {
            models,
            overriding: None,
        }
    }
}

impl PriceTable {
    /// The table without the operator's one-price-for-all override (built-in and per-model prices only).
    pub fn without_override(mut self) -> Self {
        self.overriding = None;
        self
    }

    /// One price for every model (from `LLM_PRICE_PROMPT` / `LLM_PRICE_COMPLETION`).
    pub fn with_override(mut self, price: Price) -> Self {
        self.overriding = Some(price);
        self
    }

    /// Adds or replaces the price of one model.
    pub fn with_model(mut self, model: impl Into<String>, price: Price) -> Self {
        self.models.insert(model.into(), price);
        self
    }

    /// The price of `model`, or `None` when it is unknown and no override is set.
    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(price) = self.overriding {
            return Some(price);
        }
        let model = model.trim().to_ascii_lowercase();
        let model = model.rsplit('/').next().unwrap_or(&model); // `openai/gpt-4o` on OpenRouter
        self.models.get(model).copied().or_else(|| {
            self.models
                .iter()
                .filter(|(name, _)| model.starts_with(&format!("{name}-")))
                .max_by_key(|(name, _)| name.len())
                .map(|(_, price)| *price)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_snapshots_price_as_their_family_and_unknown_models_are_unpriced() {
        let table = PriceTable::default();
        assert_eq!(table.price("gpt-4o-2024-08-06"), table.price("gpt-4o"));
        assert_eq!(
            table.price("gpt-4o-mini-2024-07-18"),
            table.price("gpt-4o-mini")
        );
        assert_ne!(table.price("gpt-4o-mini"), table.price("gpt-4o"));
        assert_eq!(table.price("openai/gpt-4o"), table.price("gpt-4o"));
        assert_eq!(table.price("llama3"), None);
        let one = Price {
            prompt_per_million: 1.0,
            completion_per_million: 2.0,
        };
        assert_eq!(table.with_override(one).price("llama3"), Some(one));
    }

    #[test]
    fn cost_is_tokens_times_price_per_million() {
        let price = Price {
            prompt_per_million: 2.5,
            completion_per_million: 10.0,
        };
        assert!((price.cost_usd(1_000_000, 100_000) - 3.5).abs() < 1e-12);
    }
}
