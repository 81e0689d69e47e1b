//! The command line of a sandboxed run: `bwrap …` with the mounts and namespaces of the run, or the
//! bot's own launcher with the run's Landlock [`Policy`] (`confine.rs`). What a run may reach is listed in
//! one place ([`Sandbox`]), whichever sandbox enforces it.
//!
//! Invariants:
//! - Allow-list: nothing of the host's filesystem is reachable unless listed. Read-only: the system
//!   ([`SYSTEM`]) and the interpreters' trees ([`interpreter_trees`]); read-write: [`Sandbox::writable`].
//! - In `bwrap`, mounts are applied shallow-first, so a nested listed path shows on top of its parent's
//!   mount (a read-only venv under `/tmp` stays visible; a repository under a read-only tree stays
//!   writable); the filesystem root `/` is never bound, whatever the interpreter's layout. The PID, IPC
//!   and UTS namespaces are new ([`NAMESPACES`]); given the gateway's socket, the network namespace too.
//! - Under Landlock, the gateway's TCP port is the one address it may connect to, and `TMPDIR` is the
//!   run's own.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::confine::{Policy, SYSTEM, in_system};
use super::run_as::RunAs;
use super::sandbox::{NAMESPACES, NEW_NETWORK, Sandboxed, own_network};

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

#[cfg(test)]
mod tests {
    use super::*;

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
