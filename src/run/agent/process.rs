//! The agent subprocess: an allow-listed environment, its own process group, a wall-clock limit and
//! cancellation, its output pumped into the log.
//!
//! Invariants: the environment is built from nothing (`env_clear`) with only the variables of
//! [`allowed_env`]; the child leads a new process group and the whole group is killed on timeout, on
//! cancellation, when the run is dropped, and after a normal exit (stray grandchildren of QA's test
//! runs do not outlive the run).
//! - With a [`Sandbox`] the child is `bwrap … -- <python> <args>` under the same environment and group;
//!   the agent inside cannot outlive it (`--die-with-parent`, its own PID namespace), so killing the
//!   group still ends every process of the run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::BufReader;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::bwrap::{self, Sandbox};
use super::output::{Sink, Tail, pump};

/// How long the output pumps may drain after the process group was killed.
const DRAIN: Duration = Duration::from_secs(5);

/// What to start and where.
pub(crate) struct Spec<'a> {
    pub python: &'a Path,
    pub args: Vec<OsString>,
    pub cwd: &'a Path,
    pub home: &'a Path,
    pub project_root: &'a Path,
    pub run_id: &'a str,
    pub secret: &'a str,
    /// Run inside this sandbox; `None` runs the interpreter directly.
    pub sandbox: Option<Sandbox>,
}

/// How the process ended.
pub(crate) enum End {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
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
        if let Some(pgid) = self.0.filter(|&p| p > 1) {
            // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
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
    let mut command = match &spec.sandbox {
        Some(sandbox) => {
            let mut command = Command::new(&sandbox.bwrap);
            command
                .args(bwrap::args(sandbox, spec.cwd))
                .arg("--")
                .arg(spec.python);
            command
        }
        None => Command::new(spec.python),
    };
    command
        .args(&spec.args)
        .current_dir(spec.cwd)
        .env_clear()
        .envs(allowed_env(&spec))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
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
    };
    group.kill();
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
    Ok((end, tail.lines()))
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
