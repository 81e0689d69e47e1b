//! `trace.jsonl` (CONTRACT.md): one published agent message per line, `{"ts","role","sent_from",
//! "send_to","cause_by","content"}`. Lenient: unknown keys are ignored and `send_to` may be a string or a
//! list (MetaGPT keeps a set). A line that is not such an object is an error naming its line number.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::artifacts::parse_json;
use super::error::{EvidenceError, io};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    #[serde(default)]
    pub ts: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub sent_from: String,
    #[serde(default)]
    pub send_to: Value,
    #[serde(default)]
    pub cause_by: String,
    #[serde(default)]
    pub content: String,
}

pub fn read_trace(path: &Path) -> Result<Vec<TraceEntry>, EvidenceError> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| parse_json(&format!("{} line {}", path.display(), n + 1), line))
        .collect()
}
