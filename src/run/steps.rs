//! The run's current SOP step, for the progress comment: read from the tail of the agent's
//! `trace.jsonl` while MetaGPT works.
//!
//! Invariants: the watcher only reads the trace (never the repository), polls at most every
//! [`POLL`], reports a step only when it changes, and stops when the run ends (its task is aborted).
//! A step is `<who>: <action>` from the last message (`sent_from` or `role`, and the last segment of
//! `cause_by`), shortened, so nothing long or multi-line reaches GitHub.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::run::evidence::TraceEntry;

/// How often the trace is looked at.
pub const POLL: Duration = Duration::from_secs(2);
const MAX_STEP_CHARS: usize = 80;

/// Sends each new step to `steps` until aborted.
pub async fn watch(trace: PathBuf, steps: watch::Sender<Option<String>>) {
    let mut seen = 0u64;
    loop {
        tokio::time::sleep(POLL).await;
        let Ok(meta) = tokio::fs::metadata(&trace).await else {
            continue;
        };
        if meta.len() == seen {
            continue;
        }
        seen = meta.len();
        let Ok(text) = tokio::fs::read_to_string(&trace).await else {
            continue;
        };
        if let Some(step) = last_step(&text) {
            steps.send_if_modified(|current| {
                let changed = current.as_deref() != Some(step.as_str());
                *current = Some(step);
                changed
            });
        }
    }
}

/// The step of the last well-formed trace line.
pub fn last_step(trace: &str) -> Option<String> {
    let entry: TraceEntry = trace
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())?;
    let who = if entry.sent_from.trim().is_empty() {
        entry.role.trim()
    } else {
        entry.sent_from.trim()
    };
    let who = who.rsplit('.').next().unwrap_or(who);
    let action = entry.cause_by.rsplit('.').next().unwrap_or_default().trim();
    let step = match (who.is_empty(), action.is_empty()) {
        (true, true) => return None,
        (false, true) => who.to_owned(),
        (true, false) => action.to_owned(),
        (false, false) => format!("{who}: {action}"),
    };
    let step: String = step
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_STEP_CHARS)
        .collect();
    Some(step)
}

#[cfg(test)]
mod tests {
    use super::last_step;

    #[test]
    fn the_step_is_the_last_messages_sender_and_action() {
        let trace = concat!(
            r#"{"role":"Alice","sent_from":"metagpt.roles.product_manager.ProductManager","cause_by":"metagpt.actions.write_prd.WritePRD","content":"x"}"#,
            "\n",
            r#"{"role":"Bob","sent_from":"","cause_by":"metagpt.actions.design_api.WriteDesign","content":"y"}"#,
            "\n",
            "not json\n"
        );
        assert_eq!(last_step(trace).as_deref(), Some("Bob: WriteDesign"));
        let first = trace.lines().next().unwrap();
        assert_eq!(
            last_step(first).as_deref(),
            Some("ProductManager: WritePRD")
        );
        assert_eq!(last_step("garbage\n"), None);
    }
}
