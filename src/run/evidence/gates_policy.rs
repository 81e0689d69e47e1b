//! The policy gates: budget, protected paths and secrets in the changed files.

use std::path::Path;

use super::gates::{
    Budget, Gate, GateInputs, NO_SECRETS_IN_DIFF, PROTECTED_PATHS, WITHIN_BUDGET, gate,
};
use super::secrets;

pub fn within_budget(budget: Budget) -> Gate {
    let spent = format!("spent ${:.4} of ${:.2}", budget.spent_usd, budget.max_usd);
    if budget.exhausted {
        gate(
            WITHIN_BUDGET,
            false,
            format!("budget exhausted: {spent}; the run was cut short"),
        )
    } else if budget.spent_usd > budget.max_usd {
        gate(WITHIN_BUDGET, false, format!("over budget: {spent}"))
    } else {
        gate(WITHIN_BUDGET, true, spent)
    }
}

pub fn protected_paths(touched: &[String]) -> Gate {
    if touched.is_empty() {
        gate(PROTECTED_PATHS, true, "no protected path changed")
    } else {
        gate(
            PROTECTED_PATHS,
            false,
            format!("protected paths changed: {}", touched.join(", ")),
        )
    }
}

pub fn no_secrets(root: &Path, inputs: &GateInputs) -> Gate {
    let scan = secrets::scan(root, inputs.changed_paths, inputs.known_secrets);
    let unscanned = if scan.unscanned.is_empty() {
        String::new()
    } else {
        format!("; not scanned: {}", scan.unscanned.join(", "))
    };
    if scan.findings.is_empty() {
        let n = inputs.changed_paths.len();
        gate(
            NO_SECRETS_IN_DIFF,
            true,
            format!("no secret found in {n} changed files{unscanned}"),
        )
    } else {
        let found: Vec<String> = scan
            .findings
            .iter()
            .map(|f| format!("{} line {}: {}", f.path, f.line, f.what))
            .collect();
        gate(
            NO_SECRETS_IN_DIFF,
            false,
            format!("{}{unscanned}", found.join("; ")),
        )
    }
}
