//! `cost.json` (CONTRACT.md "Evidence formats") built from ledger records.
//!
//! Invariants: totals are exact sums of the records; `by_role` has one entry per (role, model), sorted by
//! role then model; `cumulative` is this iteration's total plus the cumulative total of the previous
//! iteration's `cost.json` (so it covers every iteration of the issue).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ledger::CallRecord;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

impl Totals {
    fn add(&mut self, record: &CallRecord) {
        self.calls += 1;
        self.prompt_tokens += record.prompt_tokens;
        self.completion_tokens += record.completion_tokens;
        self.cost_usd += record.cost_usd;
    }

    fn plus(&self, other: &Totals) -> Totals {
        Totals {
            calls: self.calls + other.calls,
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            cost_usd: self.cost_usd + other.cost_usd,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleCost {
    pub role: String,
    pub model: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    pub currency: String,
    pub iteration: u32,
    pub total: Totals,
    pub by_role: Vec<RoleCost>,
    pub cumulative: Totals,
}

impl CostReport {
    /// The report for iteration `iteration` from its records and the previous iteration's report.
    pub fn build(iteration: u32, records: &[CallRecord], previous: Option<&CostReport>) -> Self {
        let mut total = Totals::default();
        let mut groups: BTreeMap<(String, String), Totals> = BTreeMap::new();
        for record in records {
            total.add(record);
            groups
                .entry((record.role.clone(), record.model.clone()))
                .or_default()
                .add(record);
        }
        let by_role = groups
            .into_iter()
            .map(|((role, model), totals)| RoleCost {
                role,
                model,
                totals,
            })
            .collect();
        let cumulative = previous.map_or_else(|| total.clone(), |p| p.cumulative.plus(&total));
        Self {
            currency: "USD".to_owned(),
            iteration,
            total,
            by_role,
            cumulative,
        }
    }
}
