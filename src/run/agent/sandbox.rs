//! The agent's sandbox: whether it runs inside bubblewrap (the `AGENT_SANDBOX` policy `auto`, `bwrap`,
//! `off`, and the one probe of `bwrap` it rests on), and the `bwrap` command line of a sandboxed run
//! (which parts of the host the agent sees, and how).
//!
//! Invariants:
//! - `bwrap` is looked up on the bot's `PATH` and tried once per process, with the namespaces every run
//!   uses ([`NAMESPACES`]); every later decision reuses that answer, so `doctor`, the settings check and
//!   the runs agree. The probe is bounded in time ([`PROBE_LIMIT`]) and runs with an empty environment.
//! - A network of its own is tried apart, once per process, the first time a run could have one
//!   ([`own_network`]): where `bwrap` cannot set one up (some container runtimes and AppArmor profiles
//!   refuse it), runs keep the filesystem sandbox on the host's network, with one warning per process,
//!   rather than losing the sandbox altogether.
//! - `off` never probes and never sandboxes; `bwrap` never runs an agent unsandboxed: without a working
//!   `bwrap` it is refused with [`FIX`]; `auto` uses `bwrap` when it works and otherwise runs unsandboxed,
//!   warning once per process (not once per run).
//! - Allow-list: nothing of the host's filesystem is visible unless listed here. Read-only: the system
//!   ([`SYSTEM`]: `/usr`, `/etc`, `/bin`, `/sbin`, `/lib*`, the top-level symlinks of a merged `/usr` kept
//!   as symlinks) and the interpreter's trees ([`interpreter_trees`]: its venv, `sys.prefix`, and the
//!   install the venv was made from, `sys.base_prefix`). Read-write: only what the run is given in
//!   [`Sandbox::writable`] (its repository, its private directory with `HOME`, the trace files). Fresh
//!   `/proc` (of the agent's own PID namespace, so no `/proc/<pid>/environ` of the bot), a minimal
//!   `/dev` and an empty `/tmp`. The App's key, settings, database and other issues' work trees are
//!   therefore absent, not merely unreadable.
//! - Mounts are applied shallow-first, so a nested listed path shows on top of its parent's mount (a
//!   read-only venv under `/tmp` stays visible; a repository under a read-only tree stays writable).
//!   The filesystem root `/` is never bound, whatever the interpreter's layout.
//! - The PID, IPC and UTS namespaces are new. Given the gateway's Unix socket
//!   ([`Sandbox::gateway_socket`]), the network namespace is new too (`--unshare-net`: a loopback of its
//!   own and nothing else, so neither the host's 127.0.0.1 services nor any other address is reachable)
//!   and the socket, mounted read-only, is the one way out; without it the network is shared.
//! - The sandbox dies with its parent (`--die-with-parent`: killing the bot's child, `bwrap`, ends every
//!   process inside) and the agent gets a new session, away from the bot's terminal.

use crate::config::SandboxMode;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use super::process::is_executable;

/// How long the probe of `bwrap` may take.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// What to do when `bwrap` cannot be used.
pub const FIX: &str = "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) so that `bwrap` \
     is on the bot's PATH; in a container, let it create namespaces (see the README's Docker section), \
     or set AGENT_SANDBOX=off to run the agent unsandboxed";

/// What a run will use under a [`SandboxMode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxChoice {
    /// The agent runs inside this `bwrap`.
    Bwrap(PathBuf),
    /// The agent runs as the bot's user, with the whole filesystem visible; the reason.
    Unsandboxed(String),
}

/// Why `bwrap` cannot be used here, quoting its own complaint when it ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

/// Decides what a run uses under `mode`, probing `bwrap` once. `Err` (only for `bwrap`) says why the
/// sandbox cannot be used; the fix is [`FIX`].
pub fn choose(mode: SandboxMode) -> Result<SandboxChoice, Unusable> {
    match mode {
        SandboxMode::Off => Ok(SandboxChoice::Unsandboxed(
            "AGENT_SANDBOX is off".to_owned(),
        )),
        SandboxMode::Auto => Ok(match probe() {
            Ok(bwrap) => SandboxChoice::Bwrap(bwrap.clone()),
            Err(why) => SandboxChoice::Unsandboxed(why.clone()),
        }),
        SandboxMode::Bwrap => probe().clone().map(SandboxChoice::Bwrap).map_err(Unusable),
    }
}

/// [`choose`] for a run: the `bwrap` to use, or `None` to run unsandboxed; warns (once per process)
/// when `auto` falls back to running unsandboxed.
pub fn select(mode: SandboxMode) -> Result<Option<PathBuf>, Unusable> {
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
pub fn network(bwrap: &Path) -> &'static Result<(), Unusable> {
    static NETWORK: OnceLock<Result<(), Unusable>> = OnceLock::new();
    NETWORK.get_or_init(|| try_bwrap(bwrap, &[NEW_NETWORK]).map_err(Unusable))
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
fn try_bwrap(bwrap: &Path, extra: &[&str]) -> Result<(), String> {
    let mut child = std::process::Command::new(bwrap)
        .args(["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"])
        .args(["--tmpfs", "/tmp"])
        .args(NAMESPACES)
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

// ---- the bwrap command line ----

/// The namespace and lifetime flags of every sandbox (also used by the probe).
pub(crate) const NAMESPACES: &[&str] = &[
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
];

/// The system trees every program needs, read-only when they exist.
const SYSTEM: &[&str] = &[
    "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The flag that gives the sandbox a network of its own (the probe tries it too).
pub(crate) const NEW_NETWORK: &str = "--unshare-net";

/// A run's sandbox: the `bwrap` to use and what the run may see beyond the system.
pub(crate) struct Sandbox {
    pub bwrap: PathBuf,
    pub read_only: Vec<PathBuf>,
    pub writable: Vec<PathBuf>,
    /// The gateway's Unix socket: when set, the sandbox gets its own network and this socket.
    pub gateway_socket: Option<PathBuf>,
}

impl Sandbox {
    /// The sandbox of a run of `python` that may write `writable` and nothing else.
    pub fn for_run(bwrap: PathBuf, python: &Path, writable: Vec<PathBuf>) -> Sandbox {
        Sandbox {
            bwrap,
            read_only: interpreter_trees(python),
            writable,
            gateway_socket: None,
        }
    }

    /// The command that runs `python` in this sandbox, in `cwd`: `bwrap <args> -- <python>`.
    pub fn command(&self, cwd: &Path, python: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.bwrap);
        command.args(args(self, cwd)).arg("--").arg(python);
        command
    }

    /// The same sandbox with a network of its own and `socket` as its way to the gateway.
    pub fn with_gateway_socket(self, socket: Option<PathBuf>) -> Sandbox {
        Sandbox {
            gateway_socket: socket,
            ..self
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

/// `program` (run in `cwd`) inside a sandbox without the network (where `bwrap` can make a network of
/// its own; else on the host's, as an agent run is): the system, `python`'s trees and `read_only`
/// read-only, `writable` writable, nothing else. For the project's own tests after a run, which execute
/// code the agent wrote.
pub fn offline_command(
    bwrap: PathBuf,
    python: &Path,
    program: &Path,
    cwd: &Path,
    read_only: Vec<PathBuf>,
    writable: Vec<PathBuf>,
) -> tokio::process::Command {
    let mut sandbox = Sandbox::for_run(bwrap, python, writable);
    sandbox.read_only.extend(read_only);
    let mut args = args(&sandbox, cwd);
    if own_network(&sandbox.bwrap) {
        let at = args.len() - 2;
        args.insert(at, NEW_NETWORK.into());
    }
    let mut command = tokio::process::Command::new(&sandbox.bwrap);
    command.args(args).arg("--").arg(program);
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
            if path.parent().is_some() && !in_system(&path) && !out.contains(&path) {
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

fn in_system(path: &Path) -> bool {
    let plain = path
        .components()
        .all(|c| !matches!(c, Component::ParentDir));
    plain && SYSTEM.iter().any(|dir| path.starts_with(dir))
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
            choose(SandboxMode::Off),
            Ok(SandboxChoice::Unsandboxed(_))
        ));
        assert_eq!(select(SandboxMode::Off), Ok(None));
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
        let mounts = Sandbox {
            bwrap: "/usr/bin/bwrap".into(),
            read_only: vec!["/srv/bot".into()],
            writable: vec!["/srv/bot/work/repo".into(), "/".into()],
            gateway_socket: None,
        };
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
        let sandbox = Sandbox {
            bwrap: "/usr/bin/bwrap".into(),
            read_only: Vec::new(),
            writable: vec!["/srv/bot/work/repo".into()],
            gateway_socket: None,
        }
        .with_gateway_socket(Some("/tmp/metagpt-gateway-x/gateway.sock".into()));
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
