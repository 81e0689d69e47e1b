//! The `bwrap` command line of a sandboxed run: which parts of the host the agent sees, and how.
//!
//! Invariants:
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
//! - The filesystem root `/` is never bound, whatever the interpreter's layout.
//! - The PID, IPC and UTS namespaces are new. Given the gateway's Unix socket
//!   ([`Sandbox::gateway_socket`]), the network namespace is new too (`--unshare-net`: a loopback of its
//!   own and nothing else, so neither the host's 127.0.0.1 services nor any other address is reachable)
//!   and the socket, mounted read-only, is the one way out; without it the network is shared.
//! - The sandbox dies with its parent (`--die-with-parent`: killing the bot's child, `bwrap`, ends every
//!   process inside) and the agent gets a new session, away from the bot's terminal.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

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
