//! The agent's own user when the bot runs as root (the Action's container, a root Docker): the agent,
//! in every sandbox mode, runs as `AGENT_UID` (uid and gid; default [`DEFAULT_UID`], `nobody`), so the
//! kernel itself closes the bot's `/proc/<pid>/*` and every file the bot keeps to itself (mode 0600 or
//! 0700, owned by root).
//!
//! Invariants:
//! - [`RunAs::for_bot`] drops only when this process's effective uid is 0 and `AGENT_UID` is not 0;
//!   a bot that is not root runs the agent as itself (its sandbox is what protects it then).
//! - [`Handover::give`] makes the agent the owner of what it must write (its work tree, private
//!   directory and trace files), recording every entry's owner first; dropping the [`Handover`] gives
//!   every entry back (new ones to the bot), so git and the evidence steps find the tree as the bot left
//!   it. Symbolic links are never followed. A regular file with more than one hard link is not given
//!   (a link planted in the tree to a file elsewhere must not hand that file over).
//! - [`unreachable`] says which path the agent's user could not reach, before anything is started:
//!   every directory above what the agent is given must be searchable by it.

use std::os::unix::fs::{MetadataExt, lchown};
use std::path::{Path, PathBuf};

/// `nobody`/`nogroup` on Debian and Ubuntu, and the overflow id of user namespaces.
pub const DEFAULT_UID: u32 = crate::config::DEFAULT_AGENT_UID;

/// The user and group the agent runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// The agent's user for a bot whose effective uid is `bot_uid`: `agent_uid` (as uid and gid) when
    /// the bot is root, else none (the agent runs as the bot).
    pub fn for_bot(bot_uid: u32, agent_uid: u32) -> Option<RunAs> {
        (bot_uid == 0 && agent_uid != 0).then_some(RunAs {
            uid: agent_uid,
            gid: agent_uid,
        })
    }

    /// Whether this user can reach `path` and, when it is a link, what it points to (every directory
    /// above them searchable).
    pub fn reaches(self, path: &Path) -> bool {
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        unreachable(self, &[path, &real]).is_none()
    }

    /// [`RunAs::for_bot`] for this process.
    pub fn for_this_bot(agent_uid: u32) -> Option<RunAs> {
        // SAFETY: geteuid(2) takes no arguments and cannot fail.
        RunAs::for_bot(unsafe { libc::geteuid() }, agent_uid)
    }
}

/// What [`close_secret_file`] did to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// The agent's user could not read it anyway (or it does not exist).
    AlreadyClosed,
    /// It could, and now cannot: its mode (and owner, when the agent's user owned it) changed, as said.
    Closed(String),
}

/// Makes the bot's secret file `path` (the App's key, the database) unreadable to `run_as`, as the bot
/// keeps its secrets: owned by the bot, no access for group or others. The bot has read the key by
/// then, so nothing it needs is lost. `Err`: it stays readable (a read-only mount), with the reason.
pub fn close_secret_file(run_as: RunAs, path: &Path) -> std::io::Result<Closing> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Closing::AlreadyClosed),
        Err(e) => return Err(e),
    };
    if !readable(run_as, &meta) || unreachable(run_as, &[path]).is_some() {
        return Ok(Closing::AlreadyClosed);
    }
    let mut done = Vec::new();
    if meta.uid() == run_as.uid || meta.gid() == run_as.gid {
        // SAFETY: geteuid(2) and getegid(2) take no arguments and cannot fail.
        let bot = unsafe { (libc::geteuid(), libc::getegid()) };
        std::os::unix::fs::chown(path, Some(bot.0), Some(bot.1))?;
        done.push(format!(
            "owner {}:{} → {}:{}",
            meta.uid(),
            meta.gid(),
            bot.0,
            bot.1
        ));
    }
    let mode = meta.mode() & 0o7777;
    let closed = mode & !0o077;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(closed))?;
    done.push(format!("mode {mode:04o} → {closed:04o}"));
    Ok(Closing::Closed(done.join(", ")))
}

fn readable(run_as: RunAs, meta: &std::fs::Metadata) -> bool {
    let mode = meta.mode();
    if meta.uid() == run_as.uid {
        mode & 0o400 != 0
    } else if meta.gid() == run_as.gid {
        mode & 0o040 != 0
    } else {
        mode & 0o004 != 0
    }
}

/// Who owned what before the agent was given it.
pub(crate) struct Handover {
    roots: Vec<PathBuf>,
    before: std::collections::HashMap<PathBuf, (u32, u32)>,
    bot: (u32, u32),
}

impl Handover {
    /// Gives `roots` (files, or directories with everything below) to `run_as`.
    pub fn give(run_as: RunAs, roots: &[PathBuf]) -> std::io::Result<Handover> {
        // SAFETY: geteuid(2) and getegid(2) take no arguments and cannot fail.
        let bot = unsafe { (libc::geteuid(), libc::getegid()) };
        let mut handover = Handover {
            roots: roots.to_vec(),
            before: std::collections::HashMap::new(),
            bot,
        };
        for root in roots {
            walk(root, &mut |path, meta| {
                handover
                    .before
                    .insert(path.to_path_buf(), (meta.uid(), meta.gid()));
                if meta.is_file() && meta.nlink() > 1 {
                    return Ok(());
                }
                lchown(path, Some(run_as.uid), Some(run_as.gid))
            })?;
        }
        Ok(handover)
    }
}

impl Drop for Handover {
    fn drop(&mut self) {
        for root in &self.roots {
            let restored = walk(root, &mut |path, meta| {
                // A file with another name elsewhere (a hard link the agent planted to a file outside
                // the tree) is left as it is, as `give` leaves it: its owner is not this run's to set.
                if !meta.is_dir() && meta.nlink() > 1 {
                    return Ok(());
                }
                let (uid, gid) = self.before.get(path).copied().unwrap_or(self.bot);
                if (meta.uid(), meta.gid()) == (uid, gid) {
                    return Ok(());
                }
                lchown(path, Some(uid), Some(gid))
            });
            if let Err(e) = restored {
                tracing::warn!(
                    "cannot give {} back to the bot after the agent's run: {e}",
                    root.display()
                );
            }
        }
    }
}

/// Calls `visit` on `root` and everything below it (directories before their entries), never following
/// a symbolic link; a missing `root` is nothing to visit.
fn walk(
    root: &Path,
    visit: &mut dyn FnMut(&Path, &std::fs::Metadata) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    visit(root, &meta)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(root)? {
            walk(&entry?.path(), visit)?;
        }
    }
    Ok(())
}

/// The first of `paths` that `run_as` cannot reach, with the directory that stops it: every directory
/// above a path must be searchable by the agent's user (as owner, group or other).
pub(crate) fn unreachable(run_as: RunAs, paths: &[&Path]) -> Option<(PathBuf, PathBuf)> {
    for path in paths {
        for dir in path.ancestors().skip(1) {
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            if !searchable(run_as, &meta) {
                return Some((path.to_path_buf(), dir.to_path_buf()));
            }
        }
    }
    None
}

fn searchable(run_as: RunAs, meta: &std::fs::Metadata) -> bool {
    let mode = meta.mode();
    if meta.uid() == run_as.uid {
        mode & 0o100 != 0
    } else if meta.gid() == run_as.gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_root_bot_drops_and_agent_uid_0_keeps_root() {
        assert_eq!(
            RunAs::for_bot(0, DEFAULT_UID),
            Some(RunAs {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(RunAs::for_bot(1000, DEFAULT_UID), None);
        assert_eq!(RunAs::for_bot(0, 0), None);
    }

    #[test]
    fn a_directory_closed_to_others_stops_the_agent_above_its_path() {
        let root = tempfile::tempdir().expect("tempdir");
        let closed = root.path().join("closed");
        let tree = closed.join("work/tree");
        std::fs::create_dir_all(&tree).expect("dirs");
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let agent = RunAs {
            uid: 4242_4242,
            gid: 4242_4242,
        };
        assert_eq!(
            unreachable(agent, &[root.path(), tree.as_path()]),
            Some((tree.clone(), closed.clone()))
        );
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        assert_eq!(unreachable(agent, &[tree.as_path()]), None);
    }

    #[test]
    fn a_secret_file_the_agent_could_read_is_closed_to_it_once() {
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: changing owners needs root");
            return;
        }
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let agent = RunAs {
            uid: 4242_4242,
            gid: 4242_4242,
        };
        let key = root.path().join("app.pem");
        std::fs::write(&key, "-----BEGIN RSA PRIVATE KEY-----").expect("key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let closing = close_secret_file(agent, &key).expect("closes");
        assert_eq!(closing, Closing::Closed("mode 0644 → 0600".into()));
        assert_eq!(std::fs::metadata(&key).expect("meta").mode() & 0o777, 0o600);
        assert_eq!(
            close_secret_file(agent, &key).expect("once"),
            Closing::AlreadyClosed
        );

        lchown(&key, Some(agent.uid), Some(agent.gid)).expect("the agent's");
        assert!(
            matches!(close_secret_file(agent, &key), Ok(Closing::Closed(how)) if how.starts_with("owner"))
        );
        assert_eq!(std::fs::metadata(&key).expect("meta").uid(), 0);
        let missing = root.path().join("none.db");
        assert_eq!(
            close_secret_file(agent, &missing).expect("nothing"),
            Closing::AlreadyClosed
        );
    }

    #[test]
    fn a_handover_gives_the_tree_and_takes_it_back_with_what_was_added() {
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: changing owners needs root");
            return;
        }
        let root = tempfile::tempdir().expect("tempdir");
        let tree = root.path().join("tree");
        std::fs::create_dir_all(tree.join("src")).expect("dirs");
        std::fs::write(tree.join("src/a.py"), "a").expect("file");
        let outside = root.path().join("outside");
        std::fs::write(&outside, "secret").expect("outside");
        std::fs::hard_link(&outside, tree.join("planted")).expect("link");
        std::os::unix::fs::symlink(&outside, tree.join("link")).expect("symlink");
        lchown(tree.join("src/a.py"), Some(1234), Some(1234)).expect("a human's file");
        let agent = RunAs {
            uid: 4242_4242,
            gid: 4242_4242,
        };
        let owner = |p: &Path| {
            let meta = std::fs::symlink_metadata(p).expect("meta");
            (meta.uid(), meta.gid())
        };
        let handover = Handover::give(agent, std::slice::from_ref(&tree)).expect("give");
        assert_eq!(owner(&tree), (agent.uid, agent.gid));
        assert_eq!(owner(&tree.join("src/a.py")), (agent.uid, agent.gid));
        assert_eq!(owner(&outside), (0, 0), "a hard link is not followed out");
        assert_eq!(owner(&tree.join("link")), (agent.uid, agent.gid));
        std::fs::write(tree.join("src/new.py"), "n").expect("the agent adds a file");
        lchown(tree.join("src/new.py"), Some(agent.uid), Some(agent.gid)).expect("as the agent");
        drop(handover);
        assert_eq!(owner(&tree), (0, 0));
        assert_eq!(
            owner(&tree.join("src/a.py")),
            (1234, 1234),
            "given back as it was"
        );
        assert_eq!(
            owner(&tree.join("src/new.py")),
            (0, 0),
            "new files go to the bot"
        );
        assert_eq!(owner(&outside), (0, 0));
    }
}
