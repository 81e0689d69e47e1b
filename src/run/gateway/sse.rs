//! Server-sent events from a streaming upstream: split into whole events, read usage, spot the usage-only
//! chunk.
//!
//! Invariants: event bytes are passed on exactly as received (the splitter never rewrites them); an event
//! ends at a blank line (`\n\n` or `\r\n\r\n`); a trailing partial event is returned by `finish`.

use serde_json::Value;

use super::usage::Usage;

#[derive(Debug, Default)]
pub(crate) struct Splitter {
    buf: Vec<u8>,
}

impl Splitter {
    /// Adds bytes and returns the events they complete, each with its terminating blank line.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = event_end(&self.buf) {
            events.push(self.buf.drain(..end).collect());
        }
        events
    }

    /// Whatever is left once the upstream closed.
    pub(crate) fn finish(self) -> Option<Vec<u8>> {
        (!self.buf.is_empty()).then_some(self.buf)
    }
}

fn event_end(buf: &[u8]) -> Option<usize> {
    let find = |pat: &[u8]| {
        buf.windows(pat.len())
            .position(|w| w == pat)
            .map(|i| i + pat.len())
    };
    match (find(b"\n\n"), find(b"\r\n\r\n")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the gateway needs to know about one event.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct EventInfo {
    pub usage: Option<Usage>,
    /// A chunk with usage and no choices: the one `stream_options.include_usage` adds.
    pub usage_only: bool,
}

pub(crate) fn inspect(event: &[u8]) -> EventInfo {
    let text = String::from_utf8_lossy(event);
    let data: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    let Ok(value) = serde_json::from_str::<Value>(&data.join("\n")) else {
        return EventInfo::default();
    };
    let usage = Usage::from_response(&value);
    let no_choices = value
        .get("choices")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    EventInfo {
        usage_only: usage.is_some() && no_choices,
        usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole_and_unchanged() {
        let mut splitter = Splitter::default();
        assert!(splitter.push(b"data: {\"a\"").is_empty());
        let events = splitter.push(b":1}\n\ndata: [DONE]\r\n\r\ndata: x");
        assert_eq!(
            events,
            vec![
                b"data: {\"a\":1}\n\n".to_vec(),
                b"data: [DONE]\r\n\r\n".to_vec()
            ]
        );
        assert_eq!(splitter.finish(), Some(b"data: x".to_vec()));
    }

    #[test]
    fn the_usage_only_chunk_is_recognised() {
        let info = inspect(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
        );
        assert_eq!(
            info.usage,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 4
            })
        );
        assert!(info.usage_only);
        let info = inspect(b"data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n");
        assert_eq!(info, EventInfo::default());
    }
}
