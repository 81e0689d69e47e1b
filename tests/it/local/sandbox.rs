//! `AGENT_SANDBOX` as an operator meets it, with the real binary: `bwrap` required but not on `PATH` is
//! refused before anything runs, with the fix, and so is `landlock` where the kernel lacks it; `auto`
//! without `bwrap` runs under Landlock and says so once, and without either runs unsandboxed and warns
//! once; with `bwrap` on `PATH` a required sandbox runs; a `bwrap` that cannot make a network namespace
//! keeps the sandbox on the host's network and warns once; `doctor` says which sandbox runs will use,
//! what it lets through, and why.
//!
//! A kernel without Landlock is stood in for by a seccomp filter on the bot that answers its Landlock
//! calls with ENOSYS, as such a kernel does ([`without_landlock`]). The runs use the fast stand-in
//! interpreter and the scripted LLM, as the other local-run tests do.

use crate::support::fixture;
use crate::support::scripted_llm;

use std::process::Command;

use fixture::{BIN, Fixture, Ran};
use scripted_llm::{Reply, ScriptedLlm};

const WARNING: &str = "the agent runs WITHOUT a sandbox";
const LANDLOCK_FALLBACK: &str = "the agent runs under Landlock and seccomp (AGENT_SANDBOX=auto)";

/// Makes the command's process see a kernel without Landlock: `landlock_create_ruleset` fails with
/// ENOSYS (for it and for everything it starts).
fn without_landlock(command: &mut Command) {
    use seccompiler::{SeccompAction, SeccompFilter};
    use std::os::unix::process::CommandExt;
    let filter = SeccompFilter::new(
        [(libc::SYS_landlock_create_ruleset, Vec::new())]
            .into_iter()
            .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        std::env::consts::ARCH.try_into().expect("a supported arch"),
    )
    .expect("filter");
    let program: seccompiler::BpfProgram = filter.try_into().expect("compiles");
    // SAFETY: between fork and exec the closure only makes two system calls (prctl and seccomp) on
    // memory compiled before the fork; it allocates only on failure, to report it.
    unsafe {
        command
            .pre_exec(move || seccompiler::apply_filter(&program).map_err(std::io::Error::other));
    }
}

/// Whether Landlock runs here (else the test returns, skipped with the reason printed; under `CI` it
/// fails).
fn landlock_works() -> bool {
    crate::agent::sandbox::landlock_works()
}
const SHARED_NETWORK: &str = "the agent's sandbox shares the host's network";

async fn llm() -> ScriptedLlm {
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::chat("done", 100, 10));
    llm
}

/// `run --requirement` with the fixture's settings plus `extra` (which may replace `PATH`).
async fn run_with(fx: &Fixture, llm: &ScriptedLlm, extra: &[(&str, &str)]) -> Ran {
    run_adjusted_with(fx, llm, extra, |_| {}).await
}

/// [`run_with`], `adjust` applied to the bot's command.
async fn run_adjusted_with(
    fx: &Fixture,
    llm: &ScriptedLlm,
    extra: &[(&str, &str)],
    adjust: fn(&mut Command),
) -> Ran {
    let mut env = fx.env(llm.base_url().as_str());
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let args = vec![
        "--repo".to_owned(),
        fx.repo.display().to_string(),
        "--requirement".to_owned(),
        "Add a discount code".to_owned(),
    ];
    fixture::run_adjusted(&fx.home, args, env, adjust).await
}

fn branches(fx: &Fixture) -> usize {
    fx.git()
        .branches(Some(git2::BranchType::Local))
        .expect("branches")
        .count()
}

#[tokio::test]
async fn a_required_sandbox_without_bwrap_is_refused_with_the_fix_before_anything_runs() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let no_bwrap = tempfile::tempdir().expect("empty PATH dir");
    let before = branches(&fx);
    let path = no_bwrap.path().display().to_string();
    let ran = run_with(&fx, &llm, &[("AGENT_SANDBOX", "bwrap"), ("PATH", &path)]).await;
    assert_eq!(ran.code, 2, "stderr:\n{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("AGENT_SANDBOX=bwrap but `bwrap` (bubblewrap) was not found on PATH"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("apt-get install bubblewrap"),
        "{}",
        ran.stderr
    );
    assert!(llm.requests().is_empty(), "the LLM was called");
    assert_eq!(branches(&fx), before, "a branch was created");
}

#[tokio::test]
async fn auto_without_bwrap_runs_under_landlock_and_says_so_once() {
    if !landlock_works() {
        return;
    }
    let fx = Fixture::new(true);
    let llm = llm().await;
    let no_bwrap = tempfile::tempdir().expect("empty PATH dir");
    let path = no_bwrap.path().display().to_string();
    let ran = run_with(&fx, &llm, &[("PATH", &path)]).await;
    assert_eq!(ran.code, 0, "stderr:\n{}", ran.stderr);
    assert_eq!(
        ran.stderr.matches(LANDLOCK_FALLBACK).count(),
        1,
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains(WARNING), "{}", ran.stderr);
    assert!(
        !llm.requests().is_empty(),
        "the agent never reached the gateway"
    );
}

#[tokio::test]
async fn auto_without_bwrap_or_landlock_runs_unsandboxed_and_warns_once() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let no_bwrap = tempfile::tempdir().expect("empty PATH dir");
    let path = no_bwrap.path().display().to_string();
    let ran = run_adjusted_with(&fx, &llm, &[("PATH", &path)], without_landlock).await;
    assert_eq!(ran.code, 0, "stderr:\n{}", ran.stderr);
    assert_eq!(ran.stderr.matches(WARNING).count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("not found on PATH") && ran.stderr.contains("Landlock"),
        "both reasons: {}",
        ran.stderr
    );
    assert!(ran.stderr.contains("AGENT_SANDBOX=off"), "{}", ran.stderr);
}

#[tokio::test]
async fn a_required_landlock_on_a_kernel_without_it_is_refused_with_the_fix_before_anything_runs() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let before = branches(&fx);
    let ran = run_adjusted_with(
        &fx,
        &llm,
        &[("AGENT_SANDBOX", "landlock")],
        without_landlock,
    )
    .await;
    assert_eq!(ran.code, 2, "stderr:\n{}", ran.stderr);
    assert!(
        ran.stderr.contains("AGENT_SANDBOX=landlock but"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("Linux 6.7"), "the fix: {}", ran.stderr);
    assert!(llm.requests().is_empty(), "the LLM was called");
    assert_eq!(branches(&fx), before, "a branch was created");
}

#[tokio::test]
async fn a_required_landlock_runs_where_the_kernel_has_it() {
    if !landlock_works() {
        return;
    }
    let fx = Fixture::new(true);
    let llm = llm().await;
    let ran = run_with(&fx, &llm, &[("AGENT_SANDBOX", "landlock")]).await;
    assert_eq!(ran.code, 0, "stderr:\n{}", ran.stderr);
    assert!(!ran.stderr.contains(WARNING), "{}", ran.stderr);
    assert!(!ran.stderr.contains(LANDLOCK_FALLBACK), "{}", ran.stderr);
    assert!(
        !llm.requests().is_empty(),
        "the agent never reached the gateway"
    );
}

#[tokio::test]
async fn a_required_sandbox_with_bwrap_on_path_runs_without_a_warning() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let ran = run_with(&fx, &llm, &[("AGENT_SANDBOX", "bwrap")]).await;
    assert_eq!(ran.code, 0, "stderr:\n{}", ran.stderr);
    assert!(!ran.stderr.contains(WARNING), "{}", ran.stderr);
    assert!(!ran.stderr.contains(SHARED_NETWORK), "{}", ran.stderr);
    assert!(
        !llm.requests().is_empty(),
        "the agent never reached the gateway"
    );
}

/// A folder holding a `bwrap` that refuses `--unshare-net` as bwrap does where it cannot set up a network
/// namespace (some container runtimes, AppArmor's user-namespace rules) and passes anything else to the
/// real one; returns it and a `PATH` that finds it first.
fn bwrap_without_network_namespaces() -> (tempfile::TempDir, String) {
    let real = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|dir| dir.join("bwrap"))
        .find(|path| path.is_file())
        .expect("bwrap is installed (scripts/test.sh installs bubblewrap)");
    let fake = tempfile::tempdir().expect("fake bwrap dir");
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = --unshare-net ]; then\n    \
         echo 'bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted' >&2; exit 1\n  fi\n\
         done\nexec {} \"$@\"\n",
        real.display()
    );
    let bwrap = fake.path().join("bwrap");
    std::fs::write(&bwrap, script).expect("fake bwrap");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bwrap, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:/usr/bin:/bin", fake.path().display());
    (fake, path)
}

/// Where bwrap cannot make a network namespace, the run keeps the filesystem sandbox on the host's
/// network and says so once, instead of losing the sandbox altogether.
#[tokio::test]
async fn a_bwrap_without_network_namespaces_keeps_the_sandbox_and_warns_once() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let (_fake, path) = bwrap_without_network_namespaces();
    let ran = run_with(&fx, &llm, &[("AGENT_SANDBOX", "bwrap"), ("PATH", &path)]).await;
    assert_eq!(ran.code, 0, "stderr:\n{}", ran.stderr);
    assert!(!ran.stderr.contains(WARNING), "{}", ran.stderr);
    assert_eq!(
        ran.stderr.matches(SHARED_NETWORK).count(),
        1,
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("RTM_NEWADDR"),
        "bwrap's own words: {}",
        ran.stderr
    );
    assert!(
        !llm.requests().is_empty(),
        "the agent never reached the gateway"
    );
}

/// `doctor` with only `AGENT_SANDBOX` (if given) and `PATH` set; its exit code and output.
fn doctor(sandbox: Option<&str>, path: &str) -> (i32, String) {
    doctor_adjusted(sandbox, path, |_| {})
}

/// [`doctor`], `adjust` applied to its command.
fn doctor_adjusted(sandbox: Option<&str>, path: &str, adjust: fn(&mut Command)) -> (i32, String) {
    let dir = tempfile::tempdir().expect("cwd");
    let mut command = Command::new(BIN);
    adjust(&mut command);
    command
        .arg("doctor")
        .env_clear()
        .env("PATH", path)
        .current_dir(dir.path());
    if let Some(mode) = sandbox {
        command.env("AGENT_SANDBOX", mode);
    }
    let out = command.output().expect("doctor runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().expect("exited"), text)
}

fn sandbox_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.contains("agent sandbox:"))
        .unwrap_or_else(|| panic!("no sandbox line in:\n{text}"))
}

#[test]
fn doctor_says_which_sandbox_runs_will_use_and_why() {
    let system_path = std::env::var("PATH").unwrap_or_default();
    let (_, text) = doctor(None, &system_path);
    let line = sandbox_line(&text);
    assert!(
        line.starts_with("ok    agent sandbox: bubblewrap ("),
        "{text}"
    );
    assert!(line.contains("with a network of its own"), "{text}");

    let (_fake, no_network) = bwrap_without_network_namespaces();
    let (_, text) = doctor(None, &no_network);
    let line = sandbox_line(&text);
    assert!(
        line.starts_with("warn  agent sandbox: bubblewrap ("),
        "{text}"
    );
    assert!(
        line.contains("on the host's network") && line.contains("RTM_NEWADDR"),
        "{text}"
    );

    let no_bwrap = tempfile::tempdir().expect("empty PATH dir");
    let empty = no_bwrap.path().display().to_string();
    let (_, text) = doctor_adjusted(None, &empty, without_landlock);
    let line = sandbox_line(&text);
    assert!(line.starts_with("warn  agent sandbox: none"), "{text}");
    assert!(line.contains("not found on PATH"), "{text}");
    assert!(line.contains("can reach everything"), "{text}");

    let (code, text) = doctor_adjusted(Some("landlock"), &system_path, without_landlock);
    assert_eq!(code, 1, "{text}");
    assert!(
        sandbox_line(&text).starts_with("FAIL  agent sandbox: AGENT_SANDBOX=landlock but"),
        "{text}"
    );

    let (code, text) = doctor(Some("bwrap"), &empty);
    assert_eq!(code, 1, "{text}");
    assert!(
        sandbox_line(&text).starts_with("FAIL  agent sandbox: AGENT_SANDBOX=bwrap but"),
        "{text}"
    );

    let (_, text) = doctor(Some("off"), &system_path);
    assert!(
        sandbox_line(&text).starts_with("warn  agent sandbox: none"),
        "{text}"
    );
}

#[test]
fn doctor_says_when_runs_get_landlock_and_what_it_lets_through() {
    if !landlock_works() {
        return;
    }
    let no_bwrap = tempfile::tempdir().expect("empty PATH dir");
    let empty = no_bwrap.path().display().to_string();
    let (_, text) = doctor(None, &empty);
    let line = sandbox_line(&text);
    assert!(
        line.starts_with("warn  agent sandbox: Landlock and seccomp (AGENT_SANDBOX=auto;"),
        "{text}"
    );
    assert!(
        line.contains("TCP only to the LLM gateway's port"),
        "{text}"
    );
    let system_path = std::env::var("PATH").unwrap_or_default();
    let (_, text) = doctor(Some("landlock"), &system_path);
    assert!(
        sandbox_line(&text)
            .starts_with("ok    agent sandbox: Landlock and seccomp (AGENT_SANDBOX=landlock)"),
        "{text}"
    );
}

/// A root bot runs the project's setup as the agent's own user too (`AGENT_UID`): the setup runs the
/// repository's code (`setup.py`, a build backend, whatever `setup` names), which then cannot read a file
/// only the bot may read. The run stops at the setup, before any LLM call, saying why.
#[tokio::test]
async fn a_root_bots_project_setup_runs_as_the_agents_user_and_cannot_read_the_bots_files() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: the setup runs as the agent's own user only when the bot is root");
        return;
    }
    let fx = Fixture::new(true);
    // The agent's user must reach the work tree; a temporary folder is the bot's alone (0700).
    std::fs::set_permissions(fx.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = fx.root.path().join("bot-secret.pem");
    std::fs::write(&secret, "the bot's own secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::create_dir_all(fx.repo.join(".github")).unwrap();
    std::fs::write(
        fx.repo.join(".github/metagpt.yml"),
        format!("setup: [\"cat {}\"]\n", secret.display()),
    )
    .unwrap();
    fixture::commit_all(&fx.repo, "settings");
    let llm = llm().await;
    let ran = run_with(
        &fx,
        &llm,
        &[
            ("AGENT_UID", "65534"),
            ("PROJECT_PYTHON", "/usr/bin/python3"),
        ],
    )
    .await;
    let said = format!("stdout:\n{}\nstderr:\n{}", ran.stdout, ran.stderr);
    assert_ne!(ran.code, 0, "{said}");
    assert!(
        ran.stderr.contains(&format!(
            "the setup command `cat {}` failed",
            secret.display()
        )) && ran.stderr.contains("Permission denied"),
        "{said}"
    );
    assert!(!said.contains("the bot's own secret"), "{said}");
    assert!(llm.requests().is_empty(), "nothing was spent: {said}");
}
