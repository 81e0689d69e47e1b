//! The agent subprocess: an allow-listed environment, its own process group, a wall-clock limit and
//! cancellation, its output pumped into the log.
//!
//! Invariants: the environment is built from nothing (`env_clear`) with only the variables of
//! [`allowed_env`]; the child leads a new process group and the whole group is killed on timeout, on
//! cancellation, when the run is dropped, and after a normal exit (stray grandchildren of QA's test
//! runs do not outlive the run).
//! - Its resource limits (`limits.rs`) are put on it right before the spawn; a limit hit while it runs
//!   ends it as the time limit does, and one seen in how it ended is [`End::Limit`] too.
//! - In a sandbox the child is `bwrap … -- <python> <args>` (`sandbox.rs`) under the same environment
//!   and group; the agent inside cannot outlive it (`--die-with-parent`, its own PID namespace), so
//!   killing the group still ends every process of the run.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::limits::{self, Exceeded};
use crate::config::ResourceLimits;
use crate::redact::redact;

/// How long the output pumps may drain after the process group was killed.
const DRAIN: Duration = Duration::from_secs(5);

/// What to start and where.
pub(crate) struct Spec<'a> {
    /// The program: the interpreter itself, or `bwrap … -- <python>` for a sandboxed run.
    pub command: Command,
    /// The interpreter (its `bin` directory goes first on `PATH`).
    pub python: &'a Path,
    pub args: Vec<OsString>,
    pub cwd: &'a Path,
    pub home: &'a Path,
    pub project_root: &'a Path,
    pub run_id: &'a str,
    pub secret: &'a str,
    /// What the process and everything it starts may use (`limits.rs`).
    pub limits: ResourceLimits,
    /// The user the process runs as when not the bot's (`RLIMIT_NPROC` counts that user's processes).
    pub uid: Option<u32>,
}

/// How the process ended.
pub(crate) enum End {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
    /// A resource limit was hit (seen while it ran, or in how it ended); the run was stopped.
    Limit(Exceeded),
}

/// The whole environment of the child.
pub(crate) fn allowed_env(spec: &Spec<'_>) -> Vec<(&'static str, OsString)> {
    let mut path = OsString::new();
    if let Some(bin) = spec.python.parent().filter(|p| !p.as_os_str().is_empty()) {
        path.push(bin.as_os_str());
        path.push(":");
    }
    path.push("/usr/local/bin:/usr/bin:/bin");
    vec![
        ("PATH", path),
        ("HOME", spec.home.into()),
        ("METAGPT_PROJECT_ROOT", spec.project_root.into()),
        ("LANG", "C.UTF-8".into()),
        ("LC_ALL", "C.UTF-8".into()),
        ("PYTHONUNBUFFERED", "1".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ("TZ", "UTC".into()),
    ]
}

/// Kills the child's process group when dropped (the group id is the child's pid).
struct GroupKill(Option<i32>);

impl GroupKill {
    fn kill(&self) {
        kill_group(self.0);
    }
}

/// SIGKILL to the process group `pgid` (a child started as the leader of its own group).
pub(crate) fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid.filter(|&p| p > 1) {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the process to its end, its time limit or cancellation; returns how it ended and its output's
/// tail.
pub(crate) async fn run(
    spec: Spec<'_>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> std::io::Result<(End, Vec<String>)> {
    let mut spec = spec;
    let envs = allowed_env(&spec);
    let command = &mut spec.command;
    command
        .args(&spec.args)
        .current_dir(spec.cwd)
        .env_clear()
        .envs(envs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The resource limits: the one hook of `limits.rs` in the spawn path (before any other `pre_exec`).
    let limited = limits::apply(command, spec.limits, spec.uid);
    let mut child = command.spawn()?;
    let group = GroupKill(child.id().and_then(|id| i32::try_from(id).ok()));
    let tail = Tail::default();
    let sink = |stream| Sink {
        run_id: spec.run_id.to_owned(),
        stream,
        secret: spec.secret.to_owned(),
        tail: tail.clone(),
    };
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(BufReader::new(out), sink("stdout"))));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(BufReader::new(err), sink("stderr"))));
    }
    let end = tokio::select! {
        status = child.wait() => End::Exited(status?),
        () = tokio::time::sleep(timeout) => End::TimedOut,
        () = cancel.cancelled() => End::Cancelled,
        exceeded = limited.exceeded() => End::Limit(exceeded),
    };
    group.kill();
    limited.kill();
    if !matches!(end, End::Exited(_)) {
        // Reap the leader; SIGKILL cannot be ignored, so this returns promptly.
        let _ = child.wait().await;
    }
    let aborts: Vec<_> = pumps.iter().map(|p| p.abort_handle()).collect();
    let drain = futures_util::future::join_all(pumps);
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        aborts.iter().for_each(|a| a.abort());
        tracing::warn!(target: "metagpt", run_id = %spec.run_id, "the agent's output did not close after it ended; a process left its group");
    }
    let lines = tail.lines();
    let end = match end {
        End::Exited(status) => match limited.verdict(Some(status), &lines) {
            Some(exceeded) => End::Limit(exceeded),
            None => End::Exited(status),
        },
        other => other,
    };
    Ok((end, lines))
}

/// Whether `python` names an executable file.
pub(crate) fn is_executable(python: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(python).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The interpreter as given, made absolute against the current directory (the child runs elsewhere).
pub(crate) fn absolute(python: &Path) -> PathBuf {
    std::path::absolute(python).unwrap_or_else(|_| python.to_path_buf())
}

// ---- output: line by line into the log, a bounded tail kept for error messages ----
// Memory is bounded whatever the child prints (a line is cut at [`MAX_LINE`] bytes, the tail keeps
// [`TAIL_LINES`] lines); every line is redacted (the run's token and credential-shaped words) before it is
// logged or kept; invalid UTF-8 is replaced, never an error.

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
