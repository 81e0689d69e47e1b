//! Token usage as the provider reports it (`usage.prompt_tokens`, `usage.completion_tokens`).
//!
//! Invariants: usage is taken only from the provider's `usage` object; a missing or malformed one is
//! `None`, never guessed.

use serde_json::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    /// The `usage` of a chat completion or of a streamed chunk.
    pub fn from_response(body: &Value) -> Option<Usage> {
        let usage = body.get("usage")?;
        Some(Usage {
            prompt_tokens: usage.get("prompt_tokens")?.as_u64()?,
            completion_tokens: usage
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }
}
