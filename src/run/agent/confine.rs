//! The Landlock launcher: `metagpt-bot confine --policy <json> -- <program> <args>` confines itself
//! with Landlock and seccomp as [`Policy`] says, then executes the program, which inherits both. The bot
//! starts the agent (and the project's suite) through it when `AGENT_SANDBOX` is `landlock` (or `auto`
//! finds no working `bwrap`), as OpenAI codex's `linux-sandbox` does: a fresh single-threaded process of
//! the bot's own binary, so nothing unsafe runs between `fork` and `exec` of the multi-threaded bot.
//!
//! Invariants:
//! - Nothing is executed unless every restriction below is in force: any failure ends the launcher
//!   with [`EXIT_UNCONFINED`] and a message on stderr, never with the program run less confined.
//! - Filesystem (Landlock, required): the program may read and execute [`Policy::read_only`], the
//!   system ([`SYSTEM`]) and a few character devices ([`DEVICES`]), read and write
//!   [`Policy::writable`], and nothing else: no `/proc`, `/sys`, `/tmp`, `/home`, key, database or
//!   other work tree. Landlock also denies it `ptrace` and `/proc/<pid>/environ|mem` of every process
//!   outside its domain (the bot, other runs) even where `/proc` is reachable.
//! - Network (Landlock ABI 4, required): TCP `connect` only to [`Policy::connect_tcp`] (the gateway's
//!   port; none when absent), no TCP `bind`. Where the kernel offers it (ABI 6), abstract Unix sockets and
//!   signals are scoped to the program's own domain.
//! - seccomp ([`filter`]): no `ptrace`, `process_vm_readv/writev`, new namespaces (`unshare`, `setns`,
//!   `clone` with a namespace flag; `clone3` answers ENOSYS so libc falls back to `clone`), mounts,
//!   keyrings, `bpf`, `perf_event_open`, `io_uring`, `userfaultfd`, module loading, `setsid`/`setpgid`
//!   (leaving the run's process group would survive its kill), and the calls only a privileged user
//!   could make (reboot, swap, host name, clocks, port I/O, kernel log); sockets only `AF_UNIX` and TCP
//!   (`AF_INET`/`AF_INET6` streams, which Landlock limits as above); on x86_64 none of the x32 ABI's
//!   calls. Denied calls fail with EPERM (ENOSYS for `clone3` and x32).
//!   `no_new_privs` is set, so no set-uid program regains what was dropped.
//! - `TMPDIR` is [`Policy::tmpdir`] when given (the host's `/tmp` is out of reach).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use serde::{Deserialize, Serialize};

/// The hidden subcommand of the bot's binary that runs the launcher.
pub const SUBCOMMAND: &str = "confine";

/// The launcher's exit status when it could not confine itself (nothing was executed).
pub const EXIT_UNCONFINED: u8 = 126;

/// The system trees every program needs, readable and executable when they exist.
pub(crate) const SYSTEM: &[&str] = &[
    "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Character devices a program may read and write.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// The newest Landlock ABI whose rights are asked for (best effort above the required ones).
const ABI_WANTED: ABI = ABI::V6;

/// What the confined program may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Readable and executable, beyond the system.
    pub read_only: Vec<PathBuf>,
    /// Readable, writable and executable.
    pub writable: Vec<PathBuf>,
    /// The one TCP port it may connect to (the LLM gateway's).
    pub connect_tcp: Option<u16>,
    /// Its `TMPDIR`, writable too.
    pub tmpdir: Option<PathBuf>,
}

impl Policy {
    /// The launcher's arguments before the program: `confine --policy <json> --`.
    pub fn args(&self) -> Vec<OsString> {
        let json = serde_json::to_string(self).expect("a policy always serialises");
        vec![
            SUBCOMMAND.into(),
            "--policy".into(),
            json.into(),
            "--".into(),
        ]
    }
}

/// Why the launcher could not confine itself.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("the policy does not parse: {0}")]
    Policy(#[from] serde_json::Error),
    #[error("Landlock cannot confine the agent here: {0}")]
    Landlock(String),
    #[error("seccomp cannot confine the agent here: {0}")]
    Seccomp(String),
    #[error("nothing to run after `--`")]
    NoProgram,
    #[error("cannot execute {}: {source}", program.display())]
    Exec {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The launcher: confines this process as `policy` (JSON) says and executes `argv`; returns only on
/// failure.
pub fn main(policy: &str, argv: &[OsString]) -> ConfineError {
    let policy: Policy = match serde_json::from_str(policy) {
        Ok(policy) => policy,
        Err(e) => return e.into(),
    };
    let Some((program, args)) = argv.split_first() else {
        return ConfineError::NoProgram;
    };
    if let Err(e) = restrict(&policy) {
        return e;
    }
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(program);
    command.args(args);
    if let Some(tmp) = &policy.tmpdir {
        command.env("TMPDIR", tmp);
    }
    ConfineError::Exec {
        program: program.into(),
        source: command.exec(),
    }
}

/// Applies Landlock, then seccomp, to this (single-threaded) process.
pub fn restrict(policy: &Policy) -> Result<(), ConfineError> {
    landlock(policy)?;
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| ConfineError::Seccomp(e.to_string()))?;
    for program in filter(arch)? {
        seccompiler::apply_filter(&program).map_err(|e| ConfineError::Seccomp(e.to_string()))?;
    }
    Ok(())
}

/// What the running kernel offers, in words: its Landlock ABI, or why there is none.
fn kernel_landlock() -> String {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns the ABI
    // version (or fails); it reads and writes no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    match std::io::Error::last_os_error().raw_os_error() {
        _ if abi > 0 => format!("the kernel offers Landlock ABI {abi}"),
        Some(libc::EOPNOTSUPP) => {
            "the kernel has Landlock but it is not enabled (`landlock` is not among its LSMs)"
                .to_owned()
        }
        _ => {
            "the kernel offers no Landlock (not built in, or its system calls are filtered out, as \
              by an old container seccomp profile)"
                .to_owned()
        }
    }
}

fn landlock(policy: &Policy) -> Result<(), ConfineError> {
    let fail = |e: &dyn std::fmt::Display| ConfineError::Landlock(e.to_string());
    let required = |e: &dyn std::fmt::Display| {
        ConfineError::Landlock(format!(
            "{}, and the agent's sandbox needs ABI 4 (Linux 6.7) for its TCP rules ({e})",
            kernel_landlock()
        ))
    };
    let read = AccessFs::from_read(ABI_WANTED);
    let all = AccessFs::from_all(ABI_WANTED);
    let device = AccessFs::from_file(ABI_WANTED) & !AccessFs::Execute;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .map_err(|e| required(&e))?
        .handle_access(AccessNet::from_all(ABI::V4))
        .map_err(|e| required(&e))?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(|e| fail(&e))?
        .scope(Scope::from_all(ABI_WANTED))
        .map_err(|e| fail(&e))?
        .create()
        .map_err(|e| fail(&e))?;
    let system = SYSTEM.iter().map(PathBuf::from);
    let listed = [
        (
            system.chain(policy.read_only.iter().cloned()).collect(),
            read,
        ),
        (DEVICES.iter().map(PathBuf::from).collect(), device),
        (
            policy
                .writable
                .iter()
                .chain(&policy.tmpdir)
                .cloned()
                .collect(),
            all,
        ),
    ];
    for (paths, access) in listed {
        let paths: Vec<PathBuf> = paths;
        for path in paths {
            // A path that does not exist (or this user cannot reach) grants nothing.
            let Ok(fd) = PathFd::new(&path) else { continue };
            let access = if path.is_dir() {
                access
            } else {
                access & AccessFs::from_file(ABI_WANTED)
            };
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|e| fail(&e))?;
        }
    }
    if let Some(port) = policy.connect_tcp {
        ruleset = ruleset
            .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
            .map_err(|e| fail(&e))?;
    }
    let status = ruleset
        .no_new_privs(true)
        .restrict_self()
        .map_err(|e| fail(&e))?;
    if status.ruleset == landlock::RulesetStatus::NotEnforced || !status.no_new_privs {
        return Err(fail(&"the kernel did not enforce the ruleset"));
    }
    Ok(())
}

/// Syscalls denied outright (EPERM).
fn denied() -> Vec<i64> {
    vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
        libc::SYS_fsconfig,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_kexec_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_setsid,
        libc::SYS_setpgid,
        // What only a privileged user could do (the agent may be root where the bot is and `AGENT_UID=0`).
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_syslog,
        libc::SYS_vhangup,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_iopl,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_ioperm,
    ]
}

/// The `clone` flags that make a namespace.
const NAMESPACE_FLAGS: &[i32] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    0x80, // CLONE_NEWTIME
];

/// The seccomp programs, in the order they are installed: the denials (EPERM), then `clone3` (ENOSYS),
/// then, on x86_64, the x32 ABI ([`no_x32`]).
/// The syscall numbers are this build's (`libc`), so `arch` must be the one it runs on.
pub(crate) fn filter(arch: TargetArch) -> Result<Vec<seccompiler::BpfProgram>, ConfineError> {
    let fail = |e: seccompiler::BackendError| ConfineError::Seccomp(e.to_string());
    let arg = |index, op, value: i64| {
        SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value as u64).map_err(fail)
    };
    let rule = |conditions| SeccompRule::new(conditions).map_err(fail);
    let mut rules: std::collections::BTreeMap<i64, Vec<SeccompRule>> =
        denied().into_iter().map(|nr| (nr, Vec::new())).collect();
    let mut clone = Vec::new();
    for &flag in NAMESPACE_FLAGS {
        let flag = i64::from(flag);
        clone.push(rule(vec![arg(
            0,
            SeccompCmpOp::MaskedEq(flag as u64),
            flag,
        )?])?);
    }
    rules.insert(libc::SYS_clone, clone);
    let (unix, inet, inet6) = (
        i64::from(libc::AF_UNIX),
        i64::from(libc::AF_INET),
        i64::from(libc::AF_INET6),
    );
    let mut socket = vec![rule(vec![
        arg(0, SeccompCmpOp::Ne, unix)?,
        arg(0, SeccompCmpOp::Ne, inet)?,
        arg(0, SeccompCmpOp::Ne, inet6)?,
    ])?];
    // The socket type is the low four bits (SOCK_NONBLOCK and SOCK_CLOEXEC lie above).
    for family in [inet, inet6] {
        for kind in (0..16).filter(|&k| k != i64::from(libc::SOCK_STREAM)) {
            socket.push(rule(vec![
                arg(0, SeccompCmpOp::Eq, family)?,
                arg(1, SeccompCmpOp::MaskedEq(0xf), kind)?,
            ])?);
        }
    }
    rules.insert(libc::SYS_socket, socket);
    let eperm = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(fail)?;
    let enosys = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(fail)?;
    let mut programs: Vec<seccompiler::BpfProgram> = [eperm, enosys]
        .into_iter()
        .map(|f| seccompiler::BpfProgram::try_from(f).map_err(fail))
        .collect::<Result<_, _>>()?;
    if arch == TargetArch::x86_64 {
        programs.push(no_x32());
    }
    Ok(programs)
}

/// On x86_64, the x32 ABI's calls (numbers with bit 30 set, where the kernel offers that ABI) answer
/// ENOSYS: they share x86_64's audit architecture but not its numbers, so the rules above, written for
/// x86_64's numbers, would not see them. (Calls of another architecture, i386's `int 0x80`, are killed
/// by the other programs' architecture check.) Four instructions, which seccompiler cannot express: it
/// matches numbers, not ranges.
fn no_x32() -> seccompiler::BpfProgram {
    use seccompiler::sock_filter;
    const LOAD_NR: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS: seccomp_data.nr, at offset 0
    const JUMP_GE: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
    const RETURN: u16 = 0x06; // BPF_RET | BPF_K
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        op(LOAD_NR, 0, 0, 0),
        op(JUMP_GE, 0, 1, X32_SYSCALL_BIT),
        op(RETURN, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        op(RETURN, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Whether `path` is one of the system trees (or inside one).
pub(crate) fn in_system(path: &Path) -> bool {
    let plain = path
        .components()
        .all(|c| !matches!(c, std::path::Component::ParentDir));
    plain && SYSTEM.iter().any(|dir| path.starts_with(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_round_trips_through_the_launchers_arguments() {
        let policy = Policy {
            read_only: vec!["/opt/venv".into()],
            writable: vec!["/srv/work/o/r/issue-1/r".into()],
            connect_tcp: Some(41234),
            tmpdir: Some("/tmp/metagpt-run-x/tmp".into()),
        };
        let args = policy.args();
        assert_eq!(args[0], SUBCOMMAND);
        assert_eq!(args[1], "--policy");
        assert_eq!(args[3], "--");
        let json = args[2].to_str().expect("utf-8");
        assert_eq!(
            serde_json::from_str::<Policy>(json).expect("parses"),
            policy
        );
    }

    #[test]
    fn the_seccomp_programs_build_for_this_architecture() {
        let arch = TargetArch::try_from(std::env::consts::ARCH).expect("a supported architecture");
        let programs = filter(arch).expect("builds");
        assert_eq!(
            programs.len(),
            if arch == TargetArch::x86_64 { 3 } else { 2 }
        );
        assert!(programs.iter().all(|p| !p.is_empty()));
    }

    #[test]
    fn a_bad_policy_or_no_program_is_refused_before_anything_runs() {
        assert!(matches!(main("{", &[]), ConfineError::Policy(_)));
        assert!(matches!(main("{}", &[]), ConfineError::NoProgram));
    }
}
