//! One run's cgroup ([`RunCgroup`]: made with its limits, joined by the child before exec, its counters
//! read, emptied and removed when dropped) and the bot's own cgroups it is made in ([`cgroup_v2`],
//! [`cgroup_v1`]), for `limits.rs`.
//!
//! Invariants: a run's cgroup is a child of the bot's own cgroup, named `metagpt-run-<pid>-<n>`; it is
//! removed when dropped (its processes killed first, removal retried while they exit); the bot only ever
//! moves itself (into a `metagpt-bot` leaf of its own cgroup v2, so that controllers can be enabled for
//! its children) and its children (into their run's cgroup).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::ResourceLimits;

/// Where a run's cgroup is made: the bot's own cgroup v2, or its cgroups in the v1 `memory` and `pids`
/// hierarchies.
pub(super) enum Parent<'a> {
    V2(&'a Path),
    V1 { memory: &'a Path, pids: &'a Path },
}

/// What a run's cgroup counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counted {
    /// A process was killed at the memory limit (`oom_kill`).
    OomKill,
    /// A fork was refused at the process limit (`pids.events` `max`).
    PidsMax,
}

/// One run's cgroup: its directories (one for v2, memory and pids for v1) and their `cgroup.procs`,
/// open for the child to join.
pub(super) struct RunCgroup {
    v2: bool,
    pub(super) dirs: Vec<PathBuf>,
    pub(super) procs: Vec<OwnedFd>,
}

impl RunCgroup {
    pub(super) fn create(parent: Parent<'_>, limits: ResourceLimits) -> std::io::Result<RunCgroup> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "metagpt-run-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let bytes = limits.memory_mb.saturating_mul(1 << 20).to_string();
        let pids = limits.processes.to_string();
        let (v2, dirs) = match parent {
            Parent::V2(parent) => (true, vec![parent.join(&name)]),
            Parent::V1 { memory, pids } => (false, vec![memory.join(&name), pids.join(&name)]),
        };
        let mut cgroup = RunCgroup {
            v2,
            dirs: Vec::new(),
            procs: Vec::new(),
        };
        for dir in &dirs {
            std::fs::create_dir(dir)?;
            cgroup.dirs.push(dir.clone());
        }
        let (memory_dir, pids_dir) = (&dirs[0], dirs.last().unwrap_or(&dirs[0]));
        if limits.memory_mb > 0 {
            if v2 {
                write(memory_dir, "memory.max", &bytes)?;
                let _ = write(memory_dir, "memory.swap.max", "0");
            } else {
                write(memory_dir, "memory.limit_in_bytes", &bytes)?;
                let _ = write(memory_dir, "memory.memsw.limit_in_bytes", &bytes);
            }
        }
        if limits.processes > 0 {
            write(pids_dir, "pids.max", &pids)?;
        }
        for dir in &dirs {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))?;
            cgroup.procs.push(file.into());
        }
        Ok(cgroup)
    }

    /// The limit its counters say was hit.
    pub(super) fn counted(&self) -> Option<Counted> {
        let memory = if self.v2 {
            counter(&self.dirs[0].join("memory.events"), "oom_kill")
        } else {
            counter(&self.dirs[0].join("memory.oom_control"), "oom_kill")
        };
        let pids = counter(&self.dirs[self.dirs.len() - 1].join("pids.events"), "max");
        if memory > 0 {
            Some(Counted::OomKill)
        } else if pids > 0 {
            Some(Counted::PidsMax)
        } else {
            None
        }
    }

    /// SIGKILL to every process in it, until it is empty (a fork bomb forks while it is being killed).
    pub(super) fn kill(&self) {
        if self.v2 && write(&self.dirs[0], "cgroup.kill", "1").is_ok() {
            return;
        }
        for _ in 0..100 {
            let mut any = false;
            for dir in &self.dirs {
                let pids = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                    any = true;
                    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                }
            }
            if !any {
                return;
            }
        }
    }
}

impl Drop for RunCgroup {
    /// Empties and removes the cgroup; killed processes leave it as they exit, so removal is retried
    /// briefly.
    fn drop(&mut self) {
        self.procs.clear();
        self.kill();
        for dir in self.dirs.iter().rev() {
            let mut tries = 0;
            while let Err(e) = std::fs::remove_dir(dir) {
                tries += 1;
                if e.kind() == std::io::ErrorKind::NotFound {
                    break;
                }
                if tries == 50 {
                    tracing::warn!(cgroup = %dir.display(), "cannot remove a run's cgroup: {e}");
                    break;
                }
                self.kill();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn write(dir: &Path, file: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(file), value)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.join(file).display())))
}

/// The value of `key` in a flat-keyed cgroup file (`oom_kill 1`), 0 when absent.
pub(super) fn counter(file: &Path, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}

/// The bot's own cgroup v2, made able to hold run cgroups with `memory` and `pids`: where the bot is
/// alone in it (a delegated cgroup), it first moves itself into a leaf `metagpt-bot` beside the runs
/// (cgroup v2 allows no process in a cgroup whose children have controllers).
pub(super) fn cgroup_v2() -> Result<PathBuf, String> {
    let own =
        std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("no cgroups: {e}"))?;
    let path = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("no cgroup v2")?;
    let mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(Path::new)
        .find(|m| m.join("cgroup.controllers").is_file())
        .ok_or("no cgroup v2 mounted")?;
    let dir = mount.join(path.trim().trim_start_matches('/'));
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    if !(has("memory") && has("pids")) {
        return Err(format!(
            "cgroup v2 {} does not offer the memory and pids controllers (not delegated)",
            dir.display()
        ));
    }
    let enable = || write(&dir, "cgroup.subtree_control", "+memory +pids");
    if enable().is_err() {
        let leaf = dir.join("metagpt-bot");
        let _ = std::fs::create_dir(&leaf);
        write(&leaf, "cgroup.procs", "0")
            .and_then(|()| enable())
            .map_err(|e| {
                format!(
                    "cgroup v2 {} is not delegated to the bot: {e}",
                    dir.display()
                )
            })?;
    }
    probe(&dir).map(|()| dir)
}

/// The bot's own cgroups in the v1 `memory` and `pids` hierarchies, when it may make cgroups there.
pub(super) fn cgroup_v1() -> Result<(PathBuf, PathBuf), String> {
    let own =
        std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("no cgroups: {e}"))?;
    let dir = |controller: &str| -> Result<PathBuf, String> {
        let path = own
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ':');
                Some((parts.nth(1)?, parts.next()?))
            })
            .find(|(names, _)| names.split(',').any(|n| n == controller))
            .map(|(_, path)| path.trim().trim_start_matches('/').to_owned())
            .ok_or_else(|| format!("no cgroup v1 {controller} hierarchy"))?;
        let mount = Path::new("/sys/fs/cgroup").join(controller);
        let dir = if path.is_empty() {
            mount
        } else {
            mount.join(path)
        };
        probe(&dir).map(|()| dir)
    };
    Ok((dir("memory")?, dir("pids")?))
}

/// Whether a cgroup can be made (and removed) in `dir`.
fn probe(dir: &Path) -> Result<(), String> {
    let test = dir.join(format!("metagpt-probe-{}", std::process::id()));
    std::fs::create_dir(&test)
        .map_err(|e| format!("cannot make a cgroup in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_dir(&test);
    Ok(())
}
