//! Resource limits of one run's processes (`AGENT_MEMORY_MB`, `AGENT_MAX_PROCESSES`, `AGENT_CPU_SECS`):
//! [`apply`] puts them on a `Command` before it is spawned (the agent, and the project's setup and suite),
//! and the [`Limited`] it returns says whether a limit was hit, and ends what is left of the run. A run's
//! cgroup itself is `cgroup.rs`.
//!
//! Invariants:
//! - The mechanism is chosen once per process ([`mechanism`]) and named by `doctor`:
//!   1. a cgroup v2 of the bot's own (delegated: `memory` and `pids` can be enabled for its children):
//!      every run gets a child cgroup with `memory.max` (and `memory.swap.max` 0), `pids.max`, which the
//!      child joins before it execs, so everything it starts is counted, sandboxed or not, whatever
//!      process group or session it makes. `memory.events` (`oom_kill`) and `pids.events` (`max`) say
//!      which limit was hit; the run is ended as soon as one is, and the cgroup is emptied and removed
//!      when the run ends;
//!   2. the same with the cgroup v1 `memory` and `pids` hierarchies, where the bot may create cgroups in
//!      them (root on a v1 or hybrid host) and there is no delegated v2 (`memory.limit_in_bytes`,
//!      `pids.max`; `memory.oom_control`'s `oom_kill` and `pids.events`);
//!   3. otherwise rlimits set in the child before exec: `RLIMIT_DATA` (its heap and private mappings, per
//!      process), `RLIMIT_NPROC` (per *user*: every process and thread of the uid counts, so it is set to
//!      the limit plus what the user already runs at spawn; concurrent runs of the same uid share it; the
//!      kernel does not enforce it for root, so a root bot without a uid of its own for the agent has no
//!      process limit here).
//! - CPU time is `RLIMIT_CPU` in every mechanism (a cgroup caps a rate, not seconds): per process,
//!   SIGXCPU at the limit, SIGKILL [`CPU_GRACE`] later.
//! - What each mechanism can tell ([`Limited::verdict`]): cgroup counters are certain and cover every
//!   process of the run; with rlimits the bot sees only its child's end (killed by SIGXCPU, also as
//!   `bwrap`'s or a shell's exit code 128 + 24) and the output it printed (`MemoryError`, `Cannot allocate
//!   memory`, a fork that failed with "Resource temporarily unavailable"), which it reads only when the
//!   run failed. A limit hit deep in a process whose output the agent did not print is then a failed run
//!   without the limit named.
//! - With a cgroup, a run whose cgroup counted a hit has hit the limit, whatever its first process did
//!   afterwards (MetaGPT may carry on after a test of QA's was killed): it is stopped and fails.
//! - A cgroup that cannot be made for one run falls back to rlimits for that run, with a warning; nothing
//!   here stops a run from starting.
//! - The code run between fork and exec only makes async-signal-safe system calls (`write` to a file
//!   opened beforehand, `setrlimit`) and allocates nothing.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::Duration;

use rustix::process::{Resource, Rlimit};

use super::cgroup::{Counted, Parent, RunCgroup, cgroup_v1, cgroup_v2};
use crate::config::ResourceLimits;

/// Seconds between `SIGXCPU` (the soft CPU limit) and `SIGKILL` (the hard one).
pub const CPU_GRACE: u64 = 5;

/// How often a run's cgroup counters are read while it runs.
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// How the limits are enforced on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// Run cgroups are made in this cgroup v2 directory.
    CgroupV2(PathBuf),
    /// Run cgroups are made in these cgroup v1 directories.
    CgroupV1 { memory: PathBuf, pids: PathBuf },
    /// rlimits only; why no cgroup can be used.
    Rlimits(String),
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mechanism::CgroupV2(dir) => write!(
                f,
                "a cgroup v2 per run under {} (memory.max, pids.max; all of the run's processes together), \
                 RLIMIT_CPU per process",
                dir.display()
            ),
            Mechanism::CgroupV1 { memory, pids } => write!(
                f,
                "a cgroup v1 per run under {} and {} (memory.limit_in_bytes, pids.max; all of the run's \
                 processes together), RLIMIT_CPU per process",
                memory.display(),
                pids.display()
            ),
            Mechanism::Rlimits(why) => write!(
                f,
                "rlimits (RLIMIT_DATA per process, RLIMIT_NPROC per user{}, RLIMIT_CPU per process): {why}",
                if rustix::process::getuid().is_root() {
                    ", which the kernel does not enforce for root"
                } else {
                    ""
                }
            ),
        }
    }
}

/// The mechanism of this process, probed once.
pub fn mechanism() -> &'static Mechanism {
    static PROBE: OnceLock<Mechanism> = OnceLock::new();
    PROBE.get_or_init(|| {
        let v2 = match cgroup_v2() {
            Ok(dir) => return Mechanism::CgroupV2(dir),
            Err(why) => why,
        };
        match cgroup_v1() {
            Ok((memory, pids)) => Mechanism::CgroupV1 { memory, pids },
            Err(v1) => Mechanism::Rlimits(format!("{v2}; {v1}")),
        }
    })
}

/// Which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Memory,
    Processes,
    Cpu,
}

/// How the bot knows a limit was hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// The run's cgroup counted it (certain).
    Cgroup,
    /// A process of the run was killed by this signal.
    Signal(&'static str),
    /// The run's output says so (this line).
    Output(String),
}

/// A limit the run's processes hit, with the limits they had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub hit: Hit,
    pub limits: ResourceLimits,
    pub detected: Detected,
}

impl Exceeded {
    /// The setting that sets the limit hit.
    pub fn setting(&self) -> &'static str {
        match self.hit {
            Hit::Memory => "AGENT_MEMORY_MB",
            Hit::Processes => "AGENT_MAX_PROCESSES",
            Hit::Cpu => "AGENT_CPU_SECS",
        }
    }

    /// What was used: "used more than 2 GiB of memory".
    pub fn what(&self) -> String {
        match self.hit {
            Hit::Memory => format!("used more than {} of memory", size(self.limits.memory_mb)),
            Hit::Processes => format!("ran more than {} processes at once", self.limits.processes),
            Hit::Cpu => format!(
                "used more than {} s of CPU in one process",
                self.limits.cpu_secs
            ),
        }
    }

    /// How it was seen, for the message.
    pub fn how(&self) -> String {
        let value = match self.hit {
            Hit::Memory => self.limits.memory_mb,
            Hit::Processes => self.limits.processes,
            Hit::Cpu => self.limits.cpu_secs,
        };
        let seen = match &self.detected {
            Detected::Cgroup => "counted by the run's cgroup".to_owned(),
            Detected::Signal(signal) => format!("a process was killed by {signal}"),
            Detected::Output(line) => format!("the output says `{}`", line.trim()),
        };
        format!("{}={value}; {seen}", self.setting())
    }
}

/// `2048` MiB as "2 GiB", `300` as "300 MiB".
fn size(mb: u64) -> String {
    if mb >= 1024 && mb.is_multiple_of(1024) {
        format!("{} GiB", mb / 1024)
    } else {
        format!("{mb} MiB")
    }
}

/// The limits put on one spawned command: its cgroup, if it has one (emptied and removed when dropped).
pub(crate) struct Limited {
    limits: ResourceLimits,
    cgroup: Option<RunCgroup>,
}

/// Puts `limits` on `command`, to be spawned next: makes the run's cgroup (when the mechanism has one)
/// and has the child join it and set its rlimits before exec. Must come before any other `pre_exec`
/// that changes the child's user (the cgroup is joined with the bot's rights).
/// `uid`, when given, is the user the child will run as (the agent's own user when the bot is root,
/// `run_as.rs`): `RLIMIT_NPROC` then counts that user's processes, not the bot's.
pub(crate) fn apply(
    command: &mut tokio::process::Command,
    limits: ResourceLimits,
    uid: Option<u32>,
) -> Limited {
    apply_with(command, limits, mechanism(), uid)
}

fn apply_with(
    command: &mut tokio::process::Command,
    limits: ResourceLimits,
    mechanism: &Mechanism,
    uid: Option<u32>,
) -> Limited {
    let made = match mechanism {
        Mechanism::Rlimits(_) => None,
        Mechanism::CgroupV2(dir) => Some(RunCgroup::create(Parent::V2(dir), limits)),
        Mechanism::CgroupV1 { memory, pids } => {
            Some(RunCgroup::create(Parent::V1 { memory, pids }, limits))
        }
    };
    let cgroup = match made {
        None => None,
        Some(Ok(cgroup)) => Some(cgroup),
        Some(Err(e)) => {
            tracing::warn!(
                "cannot make a cgroup for a run ({e}); its limits are rlimits, which do not cover all of \
                 its processes together"
            );
            None
        }
    };
    let mut procs = [-1i32; 2];
    if let Some(cgroup) = &cgroup {
        for (slot, fd) in procs.iter_mut().zip(&cgroup.procs) {
            *slot = fd.as_raw_fd();
        }
    }
    let rlimits = cgroup.is_none();
    let data = (rlimits && limits.memory_mb > 0).then(|| limits.memory_mb.saturating_mul(1 << 20));
    let nproc = (rlimits && limits.processes > 0)
        .then(|| limits.processes + user_tasks(uid.unwrap_or(rustix::process::getuid().as_raw())));
    let cpu = (limits.cpu_secs > 0).then_some(limits.cpu_secs);
    // SAFETY: the closure runs in the child between fork and exec; it only calls write(2) on descriptors
    // the `Limited` keeps open until after the spawn, and setrlimit(2): async-signal-safe, no allocation.
    unsafe {
        command.pre_exec(move || {
            for fd in procs {
                if fd >= 0 {
                    rustix::io::write(BorrowedFd::borrow_raw(fd), b"0")?;
                }
            }
            let limit = |resource, soft: u64, hard: u64| {
                rustix::process::setrlimit(
                    resource,
                    Rlimit {
                        current: Some(soft),
                        maximum: Some(hard),
                    },
                )
            };
            if let Some(bytes) = data {
                limit(Resource::Data, bytes, bytes)?;
            }
            if let Some(n) = nproc {
                limit(Resource::Nproc, n, n)?;
            }
            if let Some(secs) = cpu {
                limit(Resource::Cpu, secs, secs + CPU_GRACE)?;
            }
            Ok(())
        });
    }
    Limited { limits, cgroup }
}

impl Limited {
    /// Resolves when the run's cgroup counts a limit hit; never without a cgroup.
    pub async fn exceeded(&self) -> Exceeded {
        let Some(cgroup) = &self.cgroup else {
            return std::future::pending().await;
        };
        let mut every = tokio::time::interval(WATCH_EVERY);
        loop {
            every.tick().await;
            if let Some(counted) = cgroup.counted() {
                return self.exceeded_by(hit(counted), Detected::Cgroup);
            }
        }
    }

    /// Whether the run hit a limit, once it ended (`status`: how its first process ended, if it did).
    /// The cgroup's counters answer when there is one; otherwise a failed run's status and output.
    pub fn verdict(&self, status: Option<ExitStatus>, output: &[String]) -> Option<Exceeded> {
        if let Some(counted) = self.cgroup.as_ref().and_then(RunCgroup::counted) {
            return Some(self.exceeded_by(hit(counted), Detected::Cgroup));
        }
        if status.is_some_and(|s| s.success()) {
            return None;
        }
        if let Some(status) = status
            && self.limits.cpu_secs > 0
            && killed_by_sigxcpu(status)
        {
            return Some(self.exceeded_by(Hit::Cpu, Detected::Signal("SIGXCPU")));
        }
        if self.cgroup.is_some() {
            return None;
        }
        output.iter().rev().find_map(|line| {
            let hit = said(line)?;
            let set = match hit {
                Hit::Memory => self.limits.memory_mb,
                Hit::Processes => self.limits.processes,
                Hit::Cpu => self.limits.cpu_secs,
            };
            (set > 0).then(|| self.exceeded_by(hit, Detected::Output(line.clone())))
        })
    }

    /// Kills every process left in the run's cgroup (the process group is the caller's to kill).
    pub fn kill(&self) {
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill();
        }
    }

    fn exceeded_by(&self, hit: Hit, detected: Detected) -> Exceeded {
        Exceeded {
            hit,
            limits: self.limits,
            detected,
        }
    }
}

/// The limit a cgroup counter stands for.
fn hit(counted: Counted) -> Hit {
    match counted {
        Counted::OomKill => Hit::Memory,
        Counted::PidsMax => Hit::Processes,
    }
}

/// Whether `status` is a death by SIGXCPU, directly or as the 128 + 24 of `bwrap` or a shell.
fn killed_by_sigxcpu(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(libc::SIGXCPU) || status.code() == Some(128 + libc::SIGXCPU)
}

/// The limit a line of output says was hit: Python's and the shells' words for an allocation or a fork
/// refused by an rlimit, or a process killed at its CPU limit.
fn said(line: &str) -> Option<Hit> {
    // Python's exception as its traceback ends it (not the word in a test's name or message).
    const MEMORY: [&str; 2] = ["Cannot allocate memory", "std::bad_alloc"];
    const PROCESSES: [&str; 3] = [
        "BlockingIOError: [Errno 11] Resource temporarily unavailable",
        "fork: Resource temporarily unavailable",
        "fork: retry: Resource temporarily unavailable",
    ];
    const CPU: [&str; 2] = ["CPU time limit exceeded", "Cputime limit exceeded"];
    let line = line.trim_start();
    if line == "MemoryError"
        || line.starts_with("MemoryError:")
        || MEMORY.iter().any(|w| line.contains(w))
    {
        Some(Hit::Memory)
    } else if PROCESSES.iter().any(|w| line.contains(w)) || line.contains("Cannot fork") {
        Some(Hit::Processes)
    } else if CPU.iter().any(|w| line.contains(w)) {
        Some(Hit::Cpu)
    } else {
        None
    }
}

/// Processes and threads of `uid` now (what `RLIMIT_NPROC` counts).
fn user_tasks(uid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter_map(|status| {
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            (field("Uid:")? == u64::from(uid)).then(|| field("Threads:").unwrap_or(1))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::agent::cgroup::counter;
    use std::os::unix::process::ExitStatusExt;

    const LIMITS: ResourceLimits = ResourceLimits {
        memory_mb: 2048,
        processes: 64,
        cpu_secs: 30,
    };

    fn rlimited() -> Limited {
        Limited {
            limits: LIMITS,
            cgroup: None,
        }
    }

    #[test]
    fn what_was_hit_is_said_in_the_units_of_its_setting() {
        let hit = |hit| Exceeded {
            hit,
            limits: LIMITS,
            detected: Detected::Cgroup,
        };
        assert_eq!(hit(Hit::Memory).what(), "used more than 2 GiB of memory");
        assert_eq!(
            hit(Hit::Processes).what(),
            "ran more than 64 processes at once"
        );
        assert_eq!(
            hit(Hit::Cpu).what(),
            "used more than 30 s of CPU in one process"
        );
        assert_eq!(
            hit(Hit::Memory).how(),
            "AGENT_MEMORY_MB=2048; counted by the run's cgroup"
        );
        assert_eq!(size(300), "300 MiB");
    }

    #[test]
    fn with_rlimits_a_failed_runs_signal_and_output_tell_the_limit() {
        let limited = rlimited();
        let failed = ExitStatus::from_raw(1 << 8);
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let xcpu = ExitStatus::from_raw(libc::SIGXCPU);
        assert_eq!(
            limited.verdict(Some(xcpu), &[]).map(|e| e.hit),
            Some(Hit::Cpu)
        );
        let bwrap_xcpu = ExitStatus::from_raw((128 + libc::SIGXCPU) << 8);
        assert_eq!(
            limited.verdict(Some(bwrap_xcpu), &[]).map(|e| e.detected),
            Some(Detected::Signal("SIGXCPU"))
        );
        let oom = lines(&["Traceback (most recent call last):", "MemoryError"]);
        assert_eq!(
            limited.verdict(Some(failed), &oom).map(|e| e.hit),
            Some(Hit::Memory)
        );
        let fork = lines(&["BlockingIOError: [Errno 11] Resource temporarily unavailable"]);
        assert_eq!(
            limited.verdict(Some(failed), &fork).map(|e| e.hit),
            Some(Hit::Processes)
        );
        // A run that succeeded hit nothing, whatever it printed; an ordinary failure names no limit.
        assert_eq!(limited.verdict(Some(ExitStatus::from_raw(0)), &oom), None);
        assert_eq!(
            limited.verdict(Some(failed), &lines(&["AssertionError"])),
            None
        );
        let quoted = lines(&["FAILED tests/test_x.py::test_raises_MemoryError - AssertionError"]);
        assert_eq!(limited.verdict(Some(failed), &quoted), None);
        // A limit that is not set is never named.
        let unlimited = Limited {
            limits: ResourceLimits::NONE,
            cgroup: None,
        };
        assert_eq!(unlimited.verdict(Some(failed), &oom), None);
    }

    #[test]
    fn cgroup_counters_are_read_from_flat_keyed_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.events");
        std::fs::write(&file, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(counter(&file, "oom_kill"), 1);
        assert_eq!(counter(&file, "max"), 12);
        assert_eq!(counter(&file, "absent"), 0);
        assert_eq!(counter(&dir.path().join("missing"), "max"), 0);
    }

    /// `python3 -c code` under `limits` by `mechanism` (as `uid` when given), and how it ended.
    async fn python(
        code: &str,
        limits: ResourceLimits,
        mechanism: &Mechanism,
        uid: Option<u32>,
    ) -> (Option<Exceeded>, String) {
        let (exceeded, text, cgroup) = python_in(code, limits, mechanism, uid).await;
        for dir in cgroup {
            assert!(
                !dir.exists(),
                "the run's cgroup {} is removed",
                dir.display()
            );
        }
        (exceeded, text)
    }

    /// [`python`], and the directories of its cgroup (removed by now).
    async fn python_in(
        code: &str,
        limits: ResourceLimits,
        mechanism: &Mechanism,
        uid: Option<u32>,
    ) -> (Option<Exceeded>, String, Vec<PathBuf>) {
        let mut command = tokio::process::Command::new("/usr/bin/python3");
        command
            .args(["-c", code])
            .current_dir("/")
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let limited = apply_with(&mut command, limits, mechanism, uid);
        if let Some(uid) = uid {
            // SAFETY: setgid(2)/setuid(2) between fork and exec, after the limits, as a launcher would.
            unsafe {
                command.pre_exec(move || {
                    if libc::setgid(uid) != 0 || libc::setuid(uid) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("python3 starts");
        let group = child.id().map(|p| p as i32);
        let mut stderr = child.stderr.take().expect("piped");
        let read = tokio::spawn(async move {
            let mut text = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
            text
        });
        let status = child.wait().await.expect("python3 ends");
        // The sleeping children of a fork bomb hold the pipe open until they are killed.
        crate::run::agent::kill_group(group);
        limited.kill();
        let text = read.await.expect("read");
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let verdict = limited.verdict(Some(status), &lines);
        let dirs = limited
            .cgroup
            .as_ref()
            .map(|c| c.dirs.clone())
            .unwrap_or_default();
        for dir in &dirs {
            assert!(
                dir.is_dir(),
                "the run's cgroup {} exists while it runs",
                dir.display()
            );
        }
        drop(limited);
        (verdict, text, dirs)
    }

    const HOG: &str =
        "chunks = []\nfor _ in range(64): chunks.append('x' * (16 << 20))\nprint('no limit')";
    const BOMB: &str = "import os, time\nfor _ in range(400):\n    if os.fork() == 0:\n        time.sleep(60)\n        os._exit(0)\nprint('no limit')";
    const SMALL: ResourceLimits = ResourceLimits {
        memory_mb: 128,
        processes: 16,
        cpu_secs: 1,
    };

    #[tokio::test]
    async fn rlimits_refuse_memory_past_the_limit_and_the_output_says_so() {
        let rlimits = Mechanism::Rlimits("test".into());
        let (exceeded, text) = python(HOG, SMALL, &rlimits, None).await;
        assert_eq!(exceeded.map(|e| e.hit), Some(Hit::Memory), "{text}");
        assert!(text.contains("MemoryError"), "{text}");
    }

    #[tokio::test]
    async fn rlimits_stop_an_endless_loop_at_its_cpu_seconds() {
        let rlimits = Mechanism::Rlimits("test".into());
        let (exceeded, text) = python("while True: pass", SMALL, &rlimits, None).await;
        let exceeded = exceeded.expect("a limit");
        assert_eq!(
            (exceeded.hit, exceeded.detected),
            (Hit::Cpu, Detected::Signal("SIGXCPU")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn rlimits_refuse_forks_past_the_limit_for_a_user_of_its_own() {
        // RLIMIT_NPROC is not enforced for root: as root the fork bomb runs as `nobody`, as the agent
        // would under a uid of its own; otherwise as the test's own user, whose processes count too.
        let nobody = rustix::process::getuid().is_root().then_some(65534);
        let rlimits = Mechanism::Rlimits("test".into());
        let (exceeded, text) = python(BOMB, SMALL, &rlimits, nobody).await;
        assert_eq!(exceeded.map(|e| e.hit), Some(Hit::Processes), "{text}");
    }

    #[tokio::test]
    async fn a_cgroup_counts_what_all_of_the_runs_processes_use() {
        let mechanism = mechanism();
        if matches!(mechanism, Mechanism::Rlimits(_)) {
            println!("skipped: no cgroup the bot may use here ({mechanism})");
            return;
        }
        let (exceeded, text) = python(HOG, SMALL, mechanism, None).await;
        let exceeded = exceeded.expect("a limit");
        assert_eq!(
            (exceeded.hit, exceeded.detected),
            (Hit::Memory, Detected::Cgroup),
            "{text}"
        );
        let (exceeded, text) = python(BOMB, SMALL, mechanism, None).await;
        let exceeded = exceeded.expect("a limit");
        assert_eq!(
            (exceeded.hit, exceeded.detected),
            (Hit::Processes, Detected::Cgroup),
            "{text}"
        );
    }

    #[test]
    fn the_mechanism_is_named_with_what_it_covers() {
        let text = mechanism().to_string();
        assert!(
            text.contains("RLIMIT_CPU per process"),
            "every mechanism limits CPU seconds per process: {text}"
        );
    }
}
