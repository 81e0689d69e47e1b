//! The child's stdout and stderr, line by line into the log as they arrive, with a bounded tail kept
//! for error messages.
//!
//! Invariants: memory is bounded whatever the child prints (a line is cut at [`MAX_LINE`] bytes, the
//! tail keeps [`TAIL_LINES`] lines); every line is redacted (the run's token and credential-shaped words)
//! before it is logged or kept; invalid UTF-8 is replaced, never an error.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::redact::redact;

/// Longest line kept, in bytes; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 8 * 1024;
/// Lines kept for the error message.
pub const TAIL_LINES: usize = 40;

/// The last lines of both streams, in arrival order.
#[derive(Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn lines(&self) -> Vec<String> {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect()
    }
}

/// Where lines go: the log, with the run id and stream name, and the tail.
pub(crate) struct Sink {
    pub run_id: String,
    pub stream: &'static str,
    pub secret: String,
    pub tail: Tail,
}

impl Sink {
    fn emit(&self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let line = redact(text.trim_end_matches(['\n', '\r']), &[self.secret.as_str()]);
        tracing::info!(target: "metagpt", run_id = %self.run_id, stream = self.stream, "{line}");
        self.tail.push(line);
    }
}

/// Reads `reader` to its end, emitting each line (also an unterminated last one).
pub(crate) async fn pump(mut reader: impl AsyncBufRead + Unpin, sink: Sink) {
    let mut line = Vec::new();
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) => break,
            Ok(buf) => buf,
            Err(e) => {
                tracing::warn!(target: "metagpt", run_id = %sink.run_id, stream = sink.stream, "cannot read the agent's output: {e}");
                break;
            }
        };
        let (chunk, newline) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        reader.consume(used);
        if newline {
            sink.emit(&line);
            line.clear();
        }
    }
    if !line.is_empty() {
        sink.emit(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(tail: &Tail) -> Sink {
        Sink {
            run_id: "r1".into(),
            stream: "stdout",
            secret: "mgb-secret-token-123".into(),
            tail: tail.clone(),
        }
    }

    #[tokio::test]
    async fn lines_are_cut_redacted_and_bounded() {
        let long = "x".repeat(MAX_LINE * 3);
        let mut input = format!("key mgb-secret-token-123 used\n{long}\n");
        for i in 0..TAIL_LINES {
            input.push_str(&format!("line {i}\n"));
        }
        input.push_str("last without newline");
        let tail = Tail::default();
        pump(input.as_bytes(), sink(&tail)).await;
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("last without newline")
        );
        assert_eq!(lines[0], "line 1");

        let tail = Tail::default();
        pump(
            format!("key mgb-secret-token-123 used\n{long}\n").as_bytes(),
            sink(&tail),
        )
        .await;
        let lines = tail.lines();
        assert_eq!(lines[0], "key [REDACTED] used");
        assert_eq!(lines[1].len(), MAX_LINE);
    }
}
