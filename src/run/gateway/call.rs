//! One agent call from admission to its ledger record: labels, timing, pricing, metrics.
//!
//! Invariants: a call is recorded exactly once, when it ends (for streams: when the stream ends); its cost
//! is the provider's reported usage priced by the table, 0 when usage is missing or the model unpriced
//! or the answer was replayed from the cache; an answer replayed from an audit recording keeps the
//! recorded usage and cost, so a replayed ledger has the recording's totals. Replayed calls count no
//! tokens or cost in the provider metrics, since the provider was not called.

use crate::telemetry::{
    LLM_CALLS_TOTAL, LLM_COMPLETION_TOKENS_TOTAL, LLM_COST_MICRO_USD_TOTAL, LLM_ERRORS_TOTAL,
    LLM_LATENCY_SECONDS, LLM_PROMPT_TOKENS_TOTAL,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cache::Cached;
use super::classify::{Labels, classify};
use super::config::PriceTable;
use super::error::GatewayError;
use super::ledger::{CallRecord, Fold, RecordedResponse, ReplayMatch, Usage};
use super::recording::normalise;
use super::run::RunState;
use crate::redact::redact;

pub(crate) struct Call {
    pub run: Arc<RunState>,
    pub labels: Labels,
    pub model: String,
    pub provider: String,
    pub stream: bool,
    pub request_hash: String,
    /// The hash of the request with its volatile parts folded, when it had any (see `recording::normalise`).
    pub normalised_hash: Option<String>,
    /// Which volatile parts were folded into `normalised_hash`.
    pub folded: Vec<Fold>,
    cache_key: Option<String>,
    ts: String,
    started: Instant,
}

/// Where a call's answer came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Source {
    Provider,
    /// The retry cache: free.
    Cache,
    /// An audit recording: the recorded cost, priced or not, and how the call was matched to it.
    Recording {
        cost_usd: f64,
        priced: bool,
        matched: ReplayMatch,
    },
}

/// How a call ended.
pub(crate) struct Outcome {
    pub status: u16,
    pub usage: Option<Usage>,
    pub attempts: u32,
    pub error: Option<String>,
    pub source: Source,
    /// The answer the agent received, redacted, for the ledger.
    pub response: Option<RecordedResponse>,
}

impl Outcome {
    /// An answer the provider gave (successful or not).
    pub(crate) fn answered(
        status: u16,
        usage: Option<Usage>,
        attempts: u32,
        error: Option<String>,
    ) -> Self {
        Self {
            status,
            usage,
            attempts,
            error,
            source: Source::Provider,
            response: None,
        }
    }

    /// The same outcome, keeping the answer the agent received.
    pub(crate) fn with_response(mut self, response: RecordedResponse) -> Self {
        self.response = Some(response);
        self
    }

    /// A call that got no usable answer: the agent is told `error`.
    pub(crate) fn failed(error: &GatewayError, attempts: u32) -> Self {
        Self::answered(
            error.status().as_u16(),
            None,
            attempts,
            Some(error.to_string()),
        )
    }
}

impl Call {
    pub(crate) fn begin(run: Arc<RunState>, provider: &str, body: &[u8], request: &Value) -> Self {
        let request_hash = hex::encode(Sha256::digest(body));
        let normalised = normalise(body).filter(|n| !n.folded.is_empty());
        Self {
            normalised_hash: normalised.as_ref().map(|n| n.hash()),
            folded: normalised.map(|n| n.folded).unwrap_or_default(),
            labels: classify(request),
            model: request
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            provider: provider.to_owned(),
            stream: request
                .get("stream")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            cache_key: run.cache.as_ref().map(|c| c.next_key(&request_hash)),
            request_hash,
            ts: chrono::Utc::now().to_rfc3339(),
            started: Instant::now(),
            run,
        }
    }

    /// The stored answer to this call, when the run replays and has one.
    pub(crate) fn cached(&self) -> Option<(Cached, Vec<u8>)> {
        let entry = self.run.cache.as_ref()?.load(self.cache_key.as_ref()?)?;
        let body = entry.body()?;
        Some((entry, body))
    }

    /// Stores a successful answer, as the agent received it, for replay.
    pub(crate) fn store(&self, status: u16, content_type: Option<&str>, body: &[u8]) {
        if let (Some(cache), Some(key)) = (&self.run.cache, &self.cache_key) {
            cache.store(
                key,
                &Cached::new(status, content_type.map(str::to_owned), body),
            );
        }
    }

    /// Prices, records and counts the call; the provider `key` and the run token are redacted from the
    /// error text.
    pub(crate) fn finish(self, prices: &PriceTable, key: &str, outcome: Outcome) {
        let error = outcome
            .error
            .map(|e| redact(&e, &[key, self.run.token.expose_secret()]));
        let latency = self.started.elapsed();
        let price = prices.price(&self.model);
        let usage = outcome.usage.unwrap_or_default();
        let (cost_usd, priced) = match outcome.source {
            Source::Recording {
                cost_usd, priced, ..
            } => (cost_usd, priced),
            Source::Provider | Source::Cache => (
                price.map_or(0.0, |p| {
                    p.cost_usd(usage.prompt_tokens, usage.completion_tokens)
                }),
                price.is_some(),
            ),
        };
        let ok = error.is_none() && (200..300).contains(&outcome.status);
        let paid = if outcome.source == Source::Provider {
            ((usage.prompt_tokens, usage.completion_tokens), cost_usd)
        } else {
            ((0, 0), 0.0)
        };
        let replay = match outcome.source {
            Source::Recording { matched, .. } => Some(matched),
            Source::Provider | Source::Cache => None,
        };
        let tolerated = match replay {
            Some(ReplayMatch::Normalised) => self.folded,
            _ => Vec::new(),
        };
        record_call(&self.provider, &self.model, ok, paid.0, paid.1, latency);
        self.run.record(CallRecord {
            seq: 0,
            ts: self.ts,
            role: self.labels.role,
            step: self.labels.step,
            model: self.model,
            provider: self.provider,
            stream: self.stream,
            status: outcome.status,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            usage_reported: outcome.usage.is_some(),
            cost_usd,
            priced,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            attempts: outcome.attempts,
            request_hash: self.request_hash,
            normalised_hash: self.normalised_hash,
            replayed: outcome.source != Source::Provider,
            replay,
            tolerated,
            error,
            response: outcome.response,
        });
    }
}

/// Records one finished call.
fn record_call(
    provider: &str,
    model: &str,
    ok: bool,
    tokens: (u64, u64),
    cost_usd: f64,
    latency: Duration,
) {
    let labels = [
        ("provider", provider.to_owned()),
        ("model", model.to_owned()),
    ];
    metrics::counter!(LLM_CALLS_TOTAL, &labels).increment(1);
    if !ok {
        metrics::counter!(LLM_ERRORS_TOTAL, &labels).increment(1);
    }
    metrics::counter!(LLM_PROMPT_TOKENS_TOTAL, &labels).increment(tokens.0);
    metrics::counter!(LLM_COMPLETION_TOKENS_TOTAL, &labels).increment(tokens.1);
    metrics::counter!(LLM_COST_MICRO_USD_TOTAL, &labels).increment((cost_usd * 1e6).round() as u64);
    metrics::histogram!(LLM_LATENCY_SECONDS, &labels).record(latency.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    #[test]
    fn a_failed_call_counts_as_a_call_and_an_error_with_its_tokens_and_cost() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let latency = Duration::from_millis(120);
        metrics::with_local_recorder(&recorder, || {
            record_call("openai", "gpt-4o", true, (100, 20), 0.0005, latency);
            record_call("openai", "gpt-4o", false, (0, 0), 0.0, latency);
        });
        let text = recorder.handle().render();
        let labels = "{provider=\"openai\",model=\"gpt-4o\"}";
        for line in [
            format!("{LLM_CALLS_TOTAL}{labels} 2"),
            format!("{LLM_ERRORS_TOTAL}{labels} 1"),
            format!("{LLM_PROMPT_TOKENS_TOTAL}{labels} 100"),
            format!("{LLM_COMPLETION_TOKENS_TOTAL}{labels} 20"),
            format!("{LLM_COST_MICRO_USD_TOTAL}{labels} 500"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
