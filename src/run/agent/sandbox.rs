//! Which sandbox a run gets under the `AGENT_SANDBOX` policy (`auto`, `bwrap`, `landlock`, `off`), the
//! probes that decision rests on, and what each sandbox lets through (`sandboxed.rs` builds the command
//! line of a sandboxed run, `confine.rs` is the Landlock launcher).
//!
//! Invariants:
//! - Each sandbox is tried once per process and agent user, the way runs use it, and every later decision
//!   reuses that answer, so `doctor`, the settings check and the runs agree: `bwrap` (looked up on the
//!   bot's `PATH`) runs `true` with the namespaces every run uses ([`NAMESPACES`]); the launcher
//!   ([`launcher`]) confines itself with an empty [`Policy`] and runs `true`. Probes are bounded in time
//!   ([`PROBE_LIMIT`]), run with an empty environment, and as the agent's own user when it has one.
//! - `auto` picks the strongest that works, `bwrap` > `landlock` > none; which one runs get, and as
//!   which user, is logged once per process (a warning when `auto` found none, naming why each failed); `bwrap` and `landlock` force one and refuse
//!   every run with [`Unusable::fix`] when it does not work; `off` never probes and never sandboxes.
//! - A network of its own is tried apart, once per process and user, the first time a run in `bwrap`
//!   could have one ([`own_network`]): where `bwrap` cannot set one up (some container runtimes and
//!   AppArmor profiles refuse it), runs keep the filesystem sandbox on the host's network, with one
//!   warning per process, rather than losing the sandbox altogether.
//! - In `bwrap` the agent has a fresh `/proc` of its own PID namespace (no `/proc/<pid>/environ` of the
//!   bot), a minimal `/dev`, an empty `/tmp`, new PID, IPC and UTS namespaces, and dies with its parent
//!   (`--die-with-parent`) in a new session. Under Landlock (`confine.rs`) it has no `/proc`, `/sys` or
//!   host `/tmp` at all, TCP only to the gateway's port, sockets only Unix and TCP, no ptrace of anything
//!   outside, no new namespaces, no leaving the run's process group. [`Sandboxed::lets_through`] says
//!   what each still lets through, for `doctor`.

use crate::config::SandboxMode;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use super::confine::Policy;
use super::process::is_executable;
use super::run_as::RunAs;

/// The namespace and lifetime flags of every sandbox (also used by the probe).
pub(crate) const NAMESPACES: &[&str] = &[
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
];

/// The flag that gives the sandbox a network of its own (the probe tries it too).
pub(crate) const NEW_NETWORK: &str = "--unshare-net";

/// How long a probe may take.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// What to do when `bwrap` cannot be used.
pub const FIX: &str = "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) so that `bwrap` \
     is on the bot's PATH; in a container, let it create namespaces (see the README's Docker section), \
     or set AGENT_SANDBOX=auto to fall back to Landlock where bwrap cannot run";

/// What to do when the Landlock launcher cannot confine the agent.
pub const LANDLOCK_FIX: &str = "run the bot on Linux 6.7 or later with Landlock enabled (`landlock` in \
     /sys/kernel/security/lsm, else boot with lsm=landlock,…), and in a container allow the \
     landlock_* and seccomp syscalls (Docker's default profile does); or set AGENT_SANDBOX=bwrap where \
     bubblewrap works";

/// What `off` (or `auto` finding nothing) leaves the agent.
pub const NONE_FIX: &str = "set AGENT_SANDBOX=auto to confine the agent with bubblewrap, or with \
     Landlock and seccomp where bubblewrap cannot run";

/// A sandbox a run can be confined by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandboxed {
    /// Inside this `bwrap`.
    Bwrap(PathBuf),
    /// Through this launcher (the bot's own binary, `confine`): Landlock and seccomp.
    Landlock(PathBuf),
}

impl Sandboxed {
    /// The `AGENT_SANDBOX` value that forces this sandbox.
    pub fn mode(&self) -> SandboxMode {
        match self {
            Sandboxed::Bwrap(_) => SandboxMode::Bwrap,
            Sandboxed::Landlock(_) => SandboxMode::Landlock,
        }
    }

    /// What the agent can still reach in this sandbox, for a person deciding whether it is enough.
    pub fn lets_through(&self) -> &'static str {
        match self {
            Sandboxed::Bwrap(_) => {
                "the agent sees the system, its interpreters, its work tree and private HOME; no other \
                 process, no key, database or other work tree"
            }
            Sandboxed::Landlock(_) => {
                "the agent reads the system and its interpreters and writes only its work tree, private \
                 HOME and TMPDIR; no /proc, no key, database or other work tree; TCP only to the LLM \
                 gateway's port (on any address), no UDP or raw sockets, no ptrace or new namespaces, \
                 no signals to other processes (Linux 6.12+); still reachable: Unix sockets by path \
                 that its user may write (e.g. a Docker socket)"
            }
        }
    }
}

/// What a run will use under a [`SandboxMode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxChoice {
    Sandboxed(Sandboxed),
    /// The agent runs with the whole filesystem visible to its user; the reason.
    Unsandboxed(String),
}

/// What the agent can reach without a sandbox.
pub const UNSANDBOXED_LETS_THROUGH: &str = "everything the agent's user can: the bot's files, \
     /proc of the bot's processes when it runs as the bot's user, every address of the network";

/// Why a forced sandbox cannot be used here, quoting its own complaint when it ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct Unusable {
    /// The sandbox that was asked for (`bwrap` or `landlock`).
    pub mode: SandboxMode,
    pub why: String,
}

impl Unusable {
    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self.mode {
            SandboxMode::Landlock => LANDLOCK_FIX,
            _ => FIX,
        }
    }
}

/// Decides what a run of an agent running as `run_as` (`None`: as the bot) uses under `mode`, probing
/// each sandbox at most once per user. `Err` (only when `mode` forces a sandbox) says why it cannot be
/// used.
pub fn choose(mode: SandboxMode, run_as: Option<RunAs>) -> Result<SandboxChoice, Unusable> {
    let forced = |probe: Result<Sandboxed, String>| {
        probe
            .map(SandboxChoice::Sandboxed)
            .map_err(|why| Unusable { mode, why })
    };
    match mode {
        SandboxMode::Off => Ok(SandboxChoice::Unsandboxed(
            "AGENT_SANDBOX is off".to_owned(),
        )),
        SandboxMode::Bwrap => forced(probe_bwrap(run_as)),
        SandboxMode::Landlock => forced(probe_landlock(run_as)),
        SandboxMode::Auto => Ok(match probe_bwrap(run_as) {
            Ok(bwrap) => SandboxChoice::Sandboxed(bwrap),
            Err(bwrap) => match probe_landlock(run_as) {
                Ok(landlock) => SandboxChoice::Sandboxed(landlock),
                Err(landlock) => {
                    SandboxChoice::Unsandboxed(format!("bubblewrap: {bwrap}; Landlock: {landlock}"))
                }
            },
        }),
    }
}

/// [`choose`] for a run: the sandbox to use, or `None` to run unsandboxed. Says once per process which
/// it is and as which user the agent runs: a warning when `auto` found none or fell back to Landlock.
pub fn select(mode: SandboxMode, run_as: Option<RunAs>) -> Result<Option<Sandboxed>, Unusable> {
    let choice = choose(mode, run_as)?;
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        let user = match run_as {
            Some(run_as) => format!("as uid {} (AGENT_UID; the bot is root)", run_as.uid),
            None => "as the bot's user".to_owned(),
        };
        match (&choice, mode) {
            (SandboxChoice::Sandboxed(Sandboxed::Bwrap(bwrap)), _) => tracing::info!(
                "the agent runs in bubblewrap ({}, AGENT_SANDBOX={mode}) {user}",
                bwrap.display()
            ),
            (SandboxChoice::Sandboxed(landlock), SandboxMode::Auto) => tracing::warn!(
                "the agent runs under Landlock and seccomp (AGENT_SANDBOX=auto) {user}, as bubblewrap \
                 cannot run here ({}): {}. For the stronger sandbox: {FIX}",
                probe_bwrap(run_as).err().unwrap_or_default(),
                landlock.lets_through()
            ),
            (SandboxChoice::Sandboxed(landlock), _) => tracing::info!(
                "the agent runs under Landlock and seccomp (AGENT_SANDBOX={mode}) {user}: {}",
                landlock.lets_through()
            ),
            (SandboxChoice::Unsandboxed(why), SandboxMode::Auto) => tracing::warn!(
                "the agent runs WITHOUT a sandbox (AGENT_SANDBOX=auto) {user}: {why}; the code it writes \
                 and runs can reach {UNSANDBOXED_LETS_THROUGH}. To fix: {FIX}; or: {LANDLOCK_FIX}. To run \
                 unsandboxed on purpose, without this warning: AGENT_SANDBOX=off"
            ),
            (SandboxChoice::Unsandboxed(_), _) => tracing::info!(
                "the agent runs unsandboxed (AGENT_SANDBOX={mode}) {user}: it can reach \
                 {UNSANDBOXED_LETS_THROUGH}"
            ),
        }
    });
    Ok(match choice {
        SandboxChoice::Sandboxed(sandboxed) => Some(sandboxed),
        SandboxChoice::Unsandboxed(_) => None,
    })
}

/// Answers kept for the life of the process, one per agent user.
type Answers<T> = Mutex<Vec<(Option<RunAs>, T)>>;

/// `answers`' answer for `run_as`, found by `find` the first time it is asked.
fn once_per_user<T: Clone>(
    answers: &Answers<T>,
    run_as: Option<RunAs>,
    find: impl FnOnce() -> T,
) -> T {
    let mut answers = answers.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, answer)) = answers.iter().find(|(user, _)| *user == run_as) {
        return answer.clone();
    }
    let answer = find();
    answers.push((run_as, answer.clone()));
    answer
}

/// The answer for bubblewrap, run as `run_as`: the working `bwrap`, or why there is none.
fn probe_bwrap(run_as: Option<RunAs>) -> Result<Sandboxed, String> {
    static ANSWERS: Answers<Result<Sandboxed, String>> = Mutex::new(Vec::new());
    once_per_user(&ANSWERS, run_as, || {
        let bwrap = find_on_path(std::env::var_os("PATH"))
            .ok_or_else(|| "`bwrap` (bubblewrap) was not found on PATH".to_owned())?;
        try_bwrap(&bwrap, &[], run_as)?;
        Ok(Sandboxed::Bwrap(bwrap))
    })
}

/// The answer for Landlock, run as `run_as`: the launcher that confined itself and ran `true`, or why
/// not.
fn probe_landlock(run_as: Option<RunAs>) -> Result<Sandboxed, String> {
    static ANSWERS: Answers<Result<Sandboxed, String>> = Mutex::new(Vec::new());
    once_per_user(&ANSWERS, run_as, || {
        let launcher = launcher()?;
        let truth = ["/usr/bin/true", "/bin/true"]
            .into_iter()
            .find(|p| is_executable(Path::new(p)))
            .ok_or_else(|| "no `true` in /usr/bin or /bin to try the launcher with".to_owned())?;
        let mut command = std::process::Command::new(&launcher);
        command.args(Policy::default().args()).arg(truth);
        trial(command, "the Landlock launcher", run_as)?;
        Ok(Sandboxed::Landlock(launcher))
    })
}

/// The binary that holds the `confine` launcher: the one named by [`use_launcher`], else this
/// executable (the bot's own).
pub fn launcher() -> Result<PathBuf, String> {
    match LAUNCHER.get() {
        Some(path) => Ok(path.clone()),
        None => std::env::current_exe()
            .map_err(|e| format!("the bot's own executable cannot be found ({e})")),
    }
}

static LAUNCHER: OnceLock<PathBuf> = OnceLock::new();

/// Names the `metagpt-bot` binary whose `confine` subcommand confines the agent, for a process that is
/// not that binary (a test harness); must come before the first sandbox decision. `false` when one was
/// already named.
pub fn use_launcher(path: PathBuf) -> bool {
    LAUNCHER.set(path).is_ok()
}

/// Whether a run in `bwrap` may have a network of its own (`--unshare-net`); tried once per process and
/// user, and warns once when it may not.
pub(crate) fn own_network(bwrap: &Path, run_as: Option<RunAs>) -> bool {
    match network(bwrap, run_as) {
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

/// The answer to "may a sandbox in `bwrap`, run as `run_as`, have a network of its own?", or why not.
pub fn network(bwrap: &Path, run_as: Option<RunAs>) -> Result<(), Unusable> {
    static ANSWERS: Answers<Result<(), Unusable>> = Mutex::new(Vec::new());
    once_per_user(&ANSWERS, run_as, || {
        try_bwrap(bwrap, &[NEW_NETWORK], run_as).map_err(|why| Unusable {
            mode: SandboxMode::Bwrap,
            why,
        })
    })
}

/// The first executable `bwrap` in the directories of `path`.
fn find_on_path(path: Option<OsString>) -> Option<PathBuf> {
    std::env::split_paths(&path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| is_executable(candidate))
}

/// Runs `true` inside `bwrap` with a run's namespaces and `extra` flags; `Err` quotes bwrap's own
/// complaint.
fn try_bwrap(bwrap: &Path, extra: &[&str], run_as: Option<RunAs>) -> Result<(), String> {
    let mut command = std::process::Command::new(bwrap);
    command
        .args(["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"])
        .args(["--tmpfs", "/tmp"])
        .args(NAMESPACES)
        .args(extra)
        .args(["--", "true"]);
    trial(command, &bwrap.display().to_string(), run_as)
}

/// Runs `command` (named `what` in complaints) as `run_as` with an empty environment, within
/// [`PROBE_LIMIT`]; `Err` quotes its own complaint when it failed.
fn trial(
    mut command: std::process::Command,
    what: &str,
    run_as: Option<RunAs>,
) -> Result<(), String> {
    if let Some(run_as) = run_as {
        use std::os::unix::process::CommandExt;
        command.uid(run_as.uid).gid(run_as.gid);
    }
    let mut child = command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what} cannot be started: {e}"))?;
    let deadline = Instant::now() + PROBE_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what} did not finish a trial run within {PROBE_LIMIT:?}"
                ));
            }
            Err(e) => return Err(format!("{what} could not be waited for: {e}")),
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
        "{what} cannot create the sandbox ({status}): {}",
        complaint.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn bwrap_is_found_only_in_absolute_path_entries_that_hold_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bwrap = dir.path().join("bwrap");
        std::fs::write(&bwrap, "#!/bin/sh\n").expect("write");
        let empty = tempfile::tempdir().expect("tempdir");
        let path = std::env::join_paths([empty.path(), dir.path()]).expect("join");
        assert_eq!(find_on_path(Some(path.clone())), None, "not executable");
        std::fs::set_permissions(&bwrap, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(find_on_path(Some(path)), Some(bwrap));
        assert_eq!(find_on_path(Some("relative:".into())), None);
        assert_eq!(find_on_path(None), None);
    }

    #[test]
    fn off_never_sandboxes() {
        assert!(matches!(
            choose(SandboxMode::Off, None),
            Ok(SandboxChoice::Unsandboxed(_))
        ));
        assert_eq!(select(SandboxMode::Off, None), Ok(None));
    }
}
