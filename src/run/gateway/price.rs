//! Prices in USD per million tokens, with defaults for well-known models and one optional override.
//!
//! Invariants: a model is priced by its exact name, else by the longest known name it starts with (so
//! dated snapshots such as `gpt-4o-2024-08-06` price as `gpt-4o`, and `gpt-4o-mini-…` as `gpt-4o-mini`).
//! An override (`LLM_PRICE_PROMPT` / `LLM_PRICE_COMPLETION`, passed in by the caller) applies to every
//! model. An unknown model costs 0 and is reported as unpriced, so callers can refuse to run unbudgeted.

use std::collections::BTreeMap;

/// The price of one model, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub prompt_per_million: f64,
    pub completion_per_million: f64,
}

impl Price {
    pub fn cost_usd(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.prompt_per_million
            + completion_tokens as f64 * self.completion_per_million)
            / 1_000_000.0
    }
}

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
