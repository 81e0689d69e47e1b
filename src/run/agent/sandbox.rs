//! The agent's sandbox: which one a run gets under the `AGENT_SANDBOX` policy (`auto`, `bwrap`,
//! `landlock`, `off`) and the probes it rests on, and the command line of a sandboxed run: `bwrap …`
//! (which parts of the host the agent sees, and how) or the bot's own Landlock launcher (`confine.rs`).
//!
//! Invariants:
//! - Each sandbox is tried once per process, the way runs use it, and every later decision reuses that
//!   answer, so `doctor`, the settings check and the runs agree: `bwrap` (looked up on the bot's `PATH`)
//!   runs `true` with the namespaces every run uses ([`NAMESPACES`]); the launcher ([`launcher`])
//!   confines itself with an empty [`Policy`] and runs `true`. Probes are bounded in time
//!   ([`PROBE_LIMIT`]) and run with an empty environment.
//! - `auto` picks the strongest that works, `bwrap` > `landlock` > none, and logs which once per process
//!   (a warning when it is none, naming why each failed); `bwrap` and `landlock` force one and refuse
//!   every run with [`Unusable::fix`] when it does not work; `off` never probes and never sandboxes.
//! - A network of its own is tried apart, once per process, the first time a run in `bwrap` could have
//!   one ([`own_network`]): where `bwrap` cannot set one up (some container runtimes and AppArmor
//!   profiles refuse it), runs keep the filesystem sandbox on the host's network, with one warning per
//!   process, rather than losing the sandbox altogether.
//! - Allow-list, in both sandboxes: nothing of the host's filesystem is reachable unless listed here.
//!   Read-only: the system ([`SYSTEM`]: `/usr`, `/etc`, `/bin`, `/sbin`, `/lib*`) and the interpreter's
//!   trees ([`interpreter_trees`]: its venv, `sys.prefix`, and the install the venv was made from,
//!   `sys.base_prefix`). Read-write: only what the run is given in [`Sandbox::writable`] (its repository,
//!   its private directory with `HOME`, the trace files). The App's key, settings, database and other
//!   issues' work trees are therefore absent (bwrap) or denied (Landlock), not merely unreadable.
//! - In `bwrap`: a fresh `/proc` of the agent's own PID namespace (no `/proc/<pid>/environ` of the bot),
//!   a minimal `/dev` and an empty `/tmp`. Mounts are applied shallow-first, so a nested listed path
//!   shows on top of its parent's mount; the filesystem root `/` is never bound. The PID, IPC and UTS
//!   namespaces are new. Given the gateway's Unix socket ([`Sandbox::gateway_socket`]), the network
//!   namespace is new too (a loopback of its own and nothing else) and the socket, mounted read-only, is
//!   the one way out; without it the network is shared. The sandbox dies with its parent
//!   (`--die-with-parent`) and the agent gets a new session.
//! - In `landlock` (`confine.rs`): no `/proc`, `/sys` or host `/tmp` at all (`TMPDIR` is the run's own),
//!   TCP only to the gateway's port ([`Sandbox::gateway_port`]), sockets only Unix and TCP, no ptrace of
//!   anything outside, no new namespaces, no leaving the run's process group.

use crate::config::SandboxMode;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use super::confine::{self, Policy};
use super::process::is_executable;
use super::run_as::RunAs;

pub(crate) use super::confine::SYSTEM;

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
                 gateway's port (on any address), no UDP or raw sockets, no ptrace, signals or new \
                 namespaces; still reachable: Unix sockets by path that its user may write (e.g. a \
                 Docker socket)"
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

/// [`choose`] for a run: the sandbox to use, or `None` to run unsandboxed; under `auto`, logs once per
/// process which it is (a warning when none, or when bubblewrap gave way to Landlock).
pub fn select(mode: SandboxMode, run_as: Option<RunAs>) -> Result<Option<Sandboxed>, Unusable> {
    let choice = choose(mode, run_as)?;
    if mode == SandboxMode::Auto {
        static SAID: Once = Once::new();
        SAID.call_once(|| match &choice {
            SandboxChoice::Sandboxed(Sandboxed::Bwrap(bwrap)) => tracing::info!(
                "the agent runs in bubblewrap ({}, AGENT_SANDBOX=auto)",
                bwrap.display()
            ),
            SandboxChoice::Sandboxed(landlock) => tracing::warn!(
                "the agent runs under Landlock and seccomp (AGENT_SANDBOX=auto), as bubblewrap cannot \
                 run here ({}): {}. For the stronger sandbox: {FIX}",
                probe_bwrap(run_as).err().unwrap_or_default(),
                landlock.lets_through()
            ),
            SandboxChoice::Unsandboxed(why) => tracing::warn!(
                "the agent runs WITHOUT a sandbox (AGENT_SANDBOX=auto): {why}; the code it writes and \
                 runs can reach {UNSANDBOXED_LETS_THROUGH}. To fix: {FIX}; or: {LANDLOCK_FIX}. To run \
                 unsandboxed on purpose, without this warning: AGENT_SANDBOX=off"
            ),
        });
    }
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

// ---- the bwrap command line ----

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

/// A run's sandbox: which one, and what the run may reach beyond the system.
pub(crate) struct Sandbox {
    pub kind: Sandboxed,
    pub read_only: Vec<PathBuf>,
    pub writable: Vec<PathBuf>,
    /// In `bwrap`, the gateway's Unix socket: when set, the sandbox gets its own network and this socket.
    pub gateway_socket: Option<PathBuf>,
    /// Under Landlock, the gateway's TCP port, the one it may connect to.
    pub gateway_port: Option<u16>,
    /// Under Landlock, the run's `TMPDIR` (writable; the host's `/tmp` is out of reach).
    pub tmpdir: Option<PathBuf>,
}

impl Sandbox {
    /// The sandbox of a run of `python` that may write `writable` and nothing else.
    pub fn for_run(kind: Sandboxed, python: &Path, writable: Vec<PathBuf>) -> Sandbox {
        Sandbox {
            kind,
            read_only: interpreter_trees(python),
            writable,
            gateway_socket: None,
            gateway_port: None,
            tmpdir: None,
        }
    }

    /// The command that runs `program` in this sandbox, in `cwd`: `bwrap <args> -- <program>` or
    /// `<launcher> confine --policy <json> -- <program>`.
    pub fn command(&self, cwd: &Path, program: &Path) -> tokio::process::Command {
        let (runner, args) = match &self.kind {
            Sandboxed::Bwrap(bwrap) => {
                let mut args = args(self, cwd);
                args.push("--".into());
                (bwrap, args)
            }
            Sandboxed::Landlock(launcher) => (launcher, self.policy().args()),
        };
        let mut command = tokio::process::Command::new(runner);
        command.args(args).arg(program);
        command
    }

    /// The launcher's policy for this sandbox.
    pub fn policy(&self) -> Policy {
        Policy {
            read_only: self.read_only.clone(),
            writable: self.writable.clone(),
            connect_tcp: self.gateway_port,
            tmpdir: self.tmpdir.clone(),
        }
    }
}

/// The arguments to `bwrap` before `-- <program> <args>`: mounts, namespaces, working directory.
pub(crate) fn args(sandbox: &Sandbox, cwd: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        .map(OsString::from)
        .into();
    let mut binds: Vec<(&str, &Path)> = Vec::new();
    for dir in SYSTEM.iter().map(Path::new) {
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(dir) {
                    out.extend(["--symlink".into(), target.into(), dir.into()]);
                }
            }
            Ok(_) => binds.push(("--ro-bind", dir)),
            Err(_) => {}
        }
    }
    binds.extend(sandbox.read_only.iter().map(|p| ("--ro-bind", p.as_path())));
    binds.extend(sandbox.writable.iter().map(|p| ("--bind", p.as_path())));
    // Read-only: `connect` works through it, a `chmod` from inside does not reach the host's socket.
    binds.extend(
        sandbox
            .gateway_socket
            .iter()
            .map(|p| ("--ro-bind", p.as_path())),
    );
    binds.retain(|(_, path)| path.is_absolute() && path.parent().is_some());
    // Shallow first, so nested paths are mounted on top; stable, so a writable path wins a tie.
    binds.sort_by_key(|(_, path)| path.components().count());
    for (flag, path) in binds {
        out.extend([flag.into(), path.into(), path.into()]);
    }
    out.extend(NAMESPACES.iter().map(OsString::from));
    if sandbox.gateway_socket.is_some() {
        out.push(NEW_NETWORK.into());
    }
    out.extend(["--chdir".into(), cwd.into()]);
    out
}

/// A program run on the agent's work after it (the project's own tests, which execute code the agent
/// wrote).
pub struct Offline<'a> {
    /// The interpreter whose trees it reads.
    pub python: &'a Path,
    /// Run in `cwd`.
    pub program: &'a Path,
    pub cwd: &'a Path,
    /// Readable beyond the system and `python`'s trees.
    pub read_only: Vec<PathBuf>,
    pub writable: Vec<PathBuf>,
    /// Its `TMPDIR` under Landlock (inside `writable`); `bwrap` gives it an empty `/tmp` of its own.
    pub tmp: &'a Path,
}

/// `offline.program` inside `sandboxed` without the network (in `bwrap`: where it can make a network of
/// its own, else on the host's, as an agent run is; under Landlock: no TCP at all), reaching what
/// [`Offline`] lists and nothing else. Given `run_as`, it runs as that user, who must own
/// `offline.writable` (`Handover`).
pub fn offline_command(
    sandboxed: Sandboxed,
    run_as: Option<RunAs>,
    offline: Offline<'_>,
) -> tokio::process::Command {
    let Offline {
        python,
        program,
        cwd,
        read_only,
        writable,
        tmp,
    } = offline;
    let mut sandbox = Sandbox::for_run(sandboxed, python, writable);
    sandbox.read_only.extend(read_only);
    sandbox.tmpdir = Some(tmp.to_path_buf());
    let mut command = match &sandbox.kind {
        Sandboxed::Bwrap(bwrap) => {
            let mut args = args(&sandbox, cwd);
            if own_network(bwrap, run_as) {
                let at = args.len() - 2;
                args.insert(at, NEW_NETWORK.into());
            }
            let mut command = tokio::process::Command::new(bwrap);
            command.args(args).arg("--");
            command
        }
        Sandboxed::Landlock(launcher) => {
            let mut command = tokio::process::Command::new(launcher);
            command.args(sandbox.policy().args());
            command
        }
    };
    command.arg(program);
    if let Some(run_as) = run_as {
        command.uid(run_as.uid).gid(run_as.gid);
    }
    command
}

/// The trees a venv's interpreter reads, as `sys.prefix` and `sys.base_prefix` would name them, found
/// without running it: the venv (the directory above `bin/` holding `pyvenv.cfg`), the install its
/// `pyvenv.cfg` names (`home = <prefix>/bin`), and the install the interpreter's real path lies in. Trees
/// inside the system ones and `/` itself are left out.
pub(crate) fn interpreter_trees(python: &Path) -> Vec<PathBuf> {
    let mut trees = Vec::new();
    let venv = above_bin(python);
    if let Some(venv) = &venv
        && venv.join("pyvenv.cfg").is_file()
    {
        trees.push(venv.clone());
        if let Some(home) = pyvenv_home(&venv.join("pyvenv.cfg")) {
            trees.extend(home.parent().map(Path::to_path_buf));
        }
    }
    if let Ok(real) = python.canonicalize() {
        trees.extend(above_bin(&real));
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for tree in trees {
        for path in [tree.clone(), tree.canonicalize().unwrap_or(tree)] {
            if path.parent().is_some() && !confine::in_system(&path) && !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// `<prefix>` for `<prefix>/bin/<program>` (or the program's directory when it is not in a `bin/`).
fn above_bin(program: &Path) -> Option<PathBuf> {
    let dir = program.parent()?;
    let prefix = if dir.file_name().is_some_and(|n| n == "bin") {
        dir.parent()?
    } else {
        dir
    };
    Some(prefix.to_path_buf())
}

/// The `home` key of a `pyvenv.cfg`.
fn pyvenv_home(cfg: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(cfg).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "home").then(|| PathBuf::from(value.trim()))
    })
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

    #[test]
    fn a_venv_yields_itself_and_its_base_install_never_the_root() {
        let root = tempfile::tempdir().expect("tempdir");
        let base = root.path().join("pyenv/3.11");
        std::fs::create_dir_all(base.join("bin")).expect("base");
        std::fs::write(base.join("bin/python3.11"), "").expect("python");
        let venv = root.path().join("venv");
        std::fs::create_dir_all(venv.join("bin")).expect("venv");
        let home = format!("home = {}\n", base.join("bin").display());
        std::fs::write(venv.join("pyvenv.cfg"), home).expect("cfg");
        std::os::unix::fs::symlink(base.join("bin/python3.11"), venv.join("bin/python"))
            .expect("link");
        let trees = interpreter_trees(&venv.join("bin/python"));
        let real = |p: &Path| p.canonicalize().expect("exists");
        assert!(trees.contains(&venv), "{trees:?}");
        assert!(trees.contains(&real(&base)), "{trees:?}");
        assert!(interpreter_trees(Path::new("/usr/bin/python3")).is_empty());
        assert!(!interpreter_trees(Path::new("/python")).contains(&PathBuf::from("/")));
    }

    #[test]
    fn nested_writable_paths_are_mounted_over_their_parents() {
        let mut mounts = Sandbox::for_run(
            Sandboxed::Bwrap("/usr/bin/bwrap".into()),
            Path::new("/usr/bin/python3"),
            vec!["/srv/bot/work/repo".into(), "/".into()],
        );
        mounts.read_only = vec!["/srv/bot".into()];
        let args: Vec<String> = args(&mounts, Path::new("/srv/bot/work/repo"))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = |s: &str| args.iter().position(|a| a == s).expect(s);
        assert!(at("/tmp") < at("/srv/bot"));
        assert!(at("/srv/bot") < at("/srv/bot/work/repo"));
        assert_eq!(args[at("/srv/bot/work/repo") - 1], "--bind");
        assert!(!args.iter().any(|a| a == "/"), "the root is never bound");
        assert!(args.ends_with(&["--chdir".into(), "/srv/bot/work/repo".into()]));
        assert!(
            !args.iter().any(|a| a == NEW_NETWORK),
            "no socket, shared network"
        );
    }

    #[test]
    fn a_gateway_socket_brings_a_network_of_its_own_and_is_mounted_read_only() {
        let mut sandbox = Sandbox::for_run(
            Sandboxed::Bwrap("/usr/bin/bwrap".into()),
            Path::new("/usr/bin/python3"),
            vec!["/srv/bot/work/repo".into()],
        );
        sandbox.gateway_socket = Some("/tmp/metagpt-gateway-x/gateway.sock".into());
        let args: Vec<String> = args(&sandbox, Path::new("/srv/bot/work/repo"))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.iter().any(|a| a == NEW_NETWORK), "{args:?}");
        let at = args
            .iter()
            .position(|a| a == "/tmp/metagpt-gateway-x/gateway.sock")
            .expect("the socket is mounted");
        assert_eq!(args[at - 1], "--ro-bind", "{args:?}");
    }
}
