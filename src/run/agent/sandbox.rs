//! Whether the agent runs inside bubblewrap: the `AGENT_SANDBOX` policy (`auto`, `bwrap`, `off`) and the
//! one probe of `bwrap` it rests on.
//!
//! Invariants:
//! - `bwrap` is looked up on the bot's `PATH` and tried once per process, with the namespaces every run
//!   uses ([`super::bwrap::NAMESPACES`]); every later decision reuses that answer, so `doctor`, the
//!   settings check and the runs agree.
//! - A network of its own is tried apart, once per process, the first time a run could have one
//!   ([`own_network`]): where `bwrap` cannot set one up (some container runtimes and AppArmor profiles
//!   refuse it), runs keep the filesystem sandbox on the host's network, with one warning per process,
//!   rather than losing the sandbox altogether.
//! - `off` never probes and never sandboxes; `bwrap` never runs an agent unsandboxed: without a working
//!   `bwrap` it is refused with [`FIX`]; `auto` uses `bwrap` when it works and otherwise runs unsandboxed,
//!   warning once per process (not once per run).
//! - The probe is bounded in time ([`PROBE_LIMIT`]) and runs with an empty environment.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long the probe of `bwrap` may take.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// What to do when `bwrap` cannot be used.
pub const FIX: &str = "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) so that `bwrap` \
     is on the bot's PATH; in a container, let it create namespaces (see the README's Docker section), \
     or set AGENT_SANDBOX=off to run the agent unsandboxed";

/// The `AGENT_SANDBOX` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// `bwrap` when it is installed and works, else unsandboxed with one warning.
    #[default]
    Auto,
    /// `bwrap` or no run at all.
    Bwrap,
    /// Never sandbox.
    Off,
}

impl fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SandboxMode::Auto => "auto",
            SandboxMode::Bwrap => "bwrap",
            SandboxMode::Off => "off",
        })
    }
}

/// What a run will use under a [`SandboxMode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxChoice {
    /// The agent runs inside this `bwrap`.
    Bwrap(PathBuf),
    /// The agent runs as the bot's user, with the whole filesystem visible; the reason.
    Unsandboxed(String),
}

/// Decides what a run uses under `mode`, probing `bwrap` once. `Err` (only for `bwrap`) says why the
/// sandbox cannot be used; the fix is [`FIX`].
pub fn choose(mode: SandboxMode) -> Result<SandboxChoice, String> {
    match mode {
        SandboxMode::Off => Ok(SandboxChoice::Unsandboxed(
            "AGENT_SANDBOX is off".to_owned(),
        )),
        SandboxMode::Auto => Ok(match probe() {
            Ok(bwrap) => SandboxChoice::Bwrap(bwrap.clone()),
            Err(why) => SandboxChoice::Unsandboxed(why.clone()),
        }),
        SandboxMode::Bwrap => probe().clone().map(SandboxChoice::Bwrap),
    }
}

/// [`choose`] for a run: the `bwrap` to use, or `None` to run unsandboxed; warns (once per process)
/// when `auto` falls back to running unsandboxed.
pub fn select(mode: SandboxMode) -> Result<Option<PathBuf>, String> {
    match choose(mode)? {
        SandboxChoice::Bwrap(bwrap) => Ok(Some(bwrap)),
        SandboxChoice::Unsandboxed(why) => {
            if mode == SandboxMode::Auto {
                static WARNED: Once = Once::new();
                WARNED.call_once(|| {
                    tracing::warn!(
                        "the agent runs WITHOUT a sandbox (AGENT_SANDBOX=auto): {why}; the code it writes and \
                         runs can read everything the bot's user can. To fix: {FIX}"
                    );
                });
            }
            Ok(None)
        }
    }
}

/// The process-wide answer: the working `bwrap`, or why there is none.
fn probe() -> &'static Result<PathBuf, String> {
    static PROBE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let bwrap = find_on_path(std::env::var_os("PATH"))
            .ok_or_else(|| "`bwrap` (bubblewrap) was not found on PATH".to_owned())?;
        try_bwrap(&bwrap, &[])?;
        Ok(bwrap)
    })
}

/// Whether a run in `bwrap` may have a network of its own (`--unshare-net`); tried once per process, and
/// warns once when it may not.
pub(crate) fn own_network(bwrap: &Path) -> bool {
    match network(bwrap) {
        Ok(()) => true,
        Err(why) => {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "the agent's sandbox shares the host's network: a network namespace of its own failed \
                     ({why}); the code it writes and runs can reach the host's local services and whatever \
                     the host can. To fix: {NETWORK_FIX}"
                );
            });
            false
        }
    }
}

/// What to do when `bwrap` cannot give the sandbox a network of its own.
pub const NETWORK_FIX: &str = "let bwrap create network namespaces (in a container, the options the \
     README's Docker section gives for the sandbox itself)";

/// The process-wide answer to "may a sandbox in `bwrap` have a network of its own?", or why not.
pub fn network(bwrap: &Path) -> &'static Result<(), String> {
    static NETWORK: OnceLock<Result<(), String>> = OnceLock::new();
    NETWORK.get_or_init(|| try_bwrap(bwrap, &[super::bwrap::NEW_NETWORK]))
}

/// The first executable `bwrap` in the directories of `path`.
fn find_on_path(path: Option<OsString>) -> Option<PathBuf> {
    std::env::split_paths(&path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| super::process::is_executable(candidate))
}

/// Runs `true` inside `bwrap` with a run's namespaces and `extra` flags; `Err` quotes bwrap's own
/// complaint.
fn try_bwrap(bwrap: &Path, extra: &[&str]) -> Result<(), String> {
    let mut child = std::process::Command::new(bwrap)
        .args(["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"])
        .args(["--tmpfs", "/tmp"])
        .args(super::bwrap::NAMESPACES)
        .args(extra)
        .args(["--", "true"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{} cannot be started: {e}", bwrap.display()))?;
    let deadline = Instant::now() + PROBE_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not finish a trial run within {PROBE_LIMIT:?}",
                    bwrap.display()
                ));
            }
            Err(e) => return Err(format!("{} could not be waited for: {e}", bwrap.display())),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut complaint = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use std::io::Read;
        let _ = stderr.read_to_string(&mut complaint);
    }
    Err(format!(
        "{} is installed but cannot create the sandbox ({status}): {}",
        bwrap.display(),
        complaint.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bwrap_is_found_only_in_absolute_path_entries_that_hold_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bwrap = dir.path().join("bwrap");
        std::fs::write(&bwrap, "#!/bin/sh\n").expect("write");
        let empty = tempfile::tempdir().expect("tempdir");
        let path = std::env::join_paths([empty.path(), dir.path()]).expect("join");
        assert_eq!(find_on_path(Some(path.clone())), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bwrap, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(find_on_path(Some(path)), Some(bwrap));
        assert_eq!(find_on_path(Some("relative:".into())), None);
        assert_eq!(find_on_path(None), None);
    }

    #[test]
    fn off_never_sandboxes() {
        assert!(matches!(
            choose(SandboxMode::Off),
            Ok(SandboxChoice::Unsandboxed(_))
        ));
        assert_eq!(select(SandboxMode::Off), Ok(None));
    }
}
