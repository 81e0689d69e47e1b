//! Metric names and recording for gateway calls, labelled by provider and model.
//!
//! Invariants: one place records a finished call; labels are the provider label from the configuration and
//! the model the agent asked for (bounded by what the run's configuration allows).

use std::time::Duration;

pub const CALLS: &str = "metagpt_bot_llm_calls_total";
pub const ERRORS: &str = "metagpt_bot_llm_errors_total";
pub const PROMPT_TOKENS: &str = "metagpt_bot_llm_prompt_tokens_total";
pub const COMPLETION_TOKENS: &str = "metagpt_bot_llm_completion_tokens_total";
pub const COST_MICRO_USD: &str = "metagpt_bot_llm_cost_micro_usd_total";
pub const LATENCY_SECONDS: &str = "metagpt_bot_llm_latency_seconds";

/// Records one finished call.
pub fn record_call(
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
    metrics::counter!(CALLS, &labels).increment(1);
    if !ok {
        metrics::counter!(ERRORS, &labels).increment(1);
    }
    metrics::counter!(PROMPT_TOKENS, &labels).increment(tokens.0);
    metrics::counter!(COMPLETION_TOKENS, &labels).increment(tokens.1);
    metrics::counter!(COST_MICRO_USD, &labels).increment((cost_usd * 1e6).round() as u64);
    metrics::histogram!(LATENCY_SECONDS, &labels).record(latency.as_secs_f64());
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
            format!("{CALLS}{labels} 2"),
            format!("{ERRORS}{labels} 1"),
            format!("{PROMPT_TOKENS}{labels} 100"),
            format!("{COMPLETION_TOKENS}{labels} 20"),
            format!("{COST_MICRO_USD}{labels} 500"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
