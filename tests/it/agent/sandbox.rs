//! The agent in each sandbox, as a hostile stand-in interpreter (`StandIn::Probe`,
//! `tests/fixtures/interpreters/probe_python`) sees it from inside: in bubblewrap (`AGENT_SANDBOX=bwrap`)
//! and under Landlock and seccomp (`AGENT_SANDBOX=landlock`), the bot's `/proc/<pid>/environ` and
//! `/proc/<pid>/mem`, the App's key, settings, database, the bot's `HOME` and other issues' work trees
//! cannot be read, MetaGPT's venv cannot be written, its own work tree and `HOME` are writable, the
//! gateway answers while another service on the host's 127.0.0.1 is out of reach, and everything it
//! started dies on the time limit and on stop. A control run with `AGENT_SANDBOX=off`, the mode that lets
//! everything through, reads and writes all of it, so these tests fail when a sandbox is missing.
//!
//! Needs a working `bwrap` (CI installs bubblewrap and runs as root) and Landlock ABI 4 (Linux 6.7): the
//! Landlock tests skip with the reason where the kernel lacks it, and fail under `CI`. The refusals
//! without a sandbox are in `local/sandbox.rs`.

use super::fixture;

use std::path::PathBuf;
use std::time::Duration;

use crate::support::interpreter::{self, StandIn};
use crate::support::poll;
use fixture::is_dead;
use metagpt_bot::config::SandboxMode;
use metagpt_bot::domain::Kind;
use metagpt_bot::run::agent::{
    AgentError, AgentOptions, AgentRun, Offline, Sandboxed, offline_command, run,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The host of a bot: its data directory with two issues' work trees, the probe as `<root>/venv/bin/python`.
struct Host {
    root: tempfile::TempDir,
    repo: PathBuf,
    secrets: Vec<PathBuf>,
    other_tree: PathBuf,
}

/// Whether Landlock runs here: names the bot's binary as the launcher and tries it. `false` (the test
/// returns, skipped with the reason printed) where the kernel lacks it, except under `CI`.
pub fn landlock_works() -> bool {
    metagpt_bot::run::agent::use_launcher(env!("CARGO_BIN_EXE_metagpt-bot").into());
    match metagpt_bot::run::agent::choose_sandbox(SandboxMode::Landlock, None) {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but Landlock cannot confine the agent: {why}"
            );
            println!("skipped: Landlock cannot confine the agent here: {why}");
            false
        }
    }
}

impl Host {
    fn new() -> Host {
        let root = tempfile::tempdir().expect("tempdir");
        let data = root.path().join("data");
        let repo = data.join("work/o/r/issue-1/r");
        let other_tree = data.join("work/o/r/issue-2/r");
        for dir in [&repo, &other_tree] {
            std::fs::create_dir_all(dir).expect("dirs");
        }
        std::fs::write(repo.join("README.md"), "# r\n").expect("readme");
        let secrets = vec![
            data.join("private-key.pem"),
            data.join("metagpt-bot.db"),
            root.path().join("bot.toml"),
            other_tree.join("app.py"),
        ];
        for file in &secrets {
            std::fs::write(file, "-----BEGIN RSA PRIVATE KEY-----\nfake\n").expect("secret");
        }
        interpreter::install(root.path(), StandIn::Probe);
        Host {
            root,
            repo,
            secrets,
            other_tree,
        }
    }

    fn request(&self, idea: Value, sandbox: SandboxMode) -> AgentRun {
        AgentRun {
            run_id: "sandbox-test".into(),
            python: self.root.path().join("venv/bin/python"),
            repo: self.repo.clone(),
            idea: idea.to_string(),
            kind: Kind::Requirement,
            options: AgentOptions {
                sandbox,
                ..AgentOptions::default()
            },
            gateway_url: "http://127.0.0.1:9/v1".into(),
            gateway_socket: None,
            token: SecretString::from("mgb-run-token-sandbox"),
            model: "gpt-4o-mini".into(),
            price: None,
            source_dir: None,
            spec_dir: String::new(),
            tests_dir: "tests".into(),
            import_roots: vec![String::new(), "seed".into()],
            project_python: None,
            trace_path: self.root.path().join("scratch/agent/trace.jsonl"),
            timeout: Duration::from_secs(120),
        }
    }

    /// What the agent must not read: the files of [`Host::secrets`], the bot's `/proc/<pid>/environ`
    /// and `mem`, and the bot's `HOME` (when it has one).
    fn forbidden_reads(&self) -> Vec<String> {
        let mut read: Vec<String> = self
            .secrets
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        read.push(format!("/proc/{}/environ", std::process::id()));
        read.push(format!("/proc/{}/mem", std::process::id()));
        read.extend(
            std::env::var("HOME")
                .ok()
                .filter(|home| home != "/" && std::path::Path::new(home).is_dir()),
        );
        read
    }

    /// What the agent must not write: another issue's work tree and MetaGPT's venv.
    fn forbidden_writes(&self) -> Vec<PathBuf> {
        vec![
            self.other_tree.join("pwned"),
            self.root.path().join("venv/bin/pwned"),
        ]
    }

    /// Runs the probe with `sandbox` and the stand-in gateway, and returns what it saw.
    async fn probe(&self, sandbox: SandboxMode, gateway: &StandIns) -> Value {
        self.probe_as(sandbox, AgentOptions::default().agent_uid, gateway)
            .await
    }

    /// [`Host::probe`] with `agent_uid` (the agent's user when the test runs as root; 0 keeps root).
    async fn probe_as(&self, sandbox: SandboxMode, agent_uid: u32, gateway: &StandIns) -> Value {
        let mut read = self.forbidden_reads();
        read.push(self.repo.join("README.md").display().to_string());
        let write: Vec<String> = self
            .forbidden_writes()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let idea = json!({
            "read": read,
            "write": write,
            "signal": [std::process::id()],
            "gateway": gateway.url,
            "reach": [gateway.host_service],
        });
        let mut request = self.request(idea, sandbox);
        request.options.agent_uid = agent_uid;
        request.gateway_url = gateway.url.clone();
        request.gateway_socket = Some(gateway.socket.clone());
        run(request, CancellationToken::new())
            .await
            .expect("the probe run succeeds");
        let seen = std::fs::read_to_string(self.repo.join(".probe.json")).expect("probe.json");
        std::fs::remove_file(self.repo.join(".probe.json")).expect("reset");
        serde_json::from_str(&seen).expect("json")
    }
}

/// Stand-ins on the host: the gateway (on 127.0.0.1 and on a Unix socket, as the real one listens; each
/// answers with its own word, so the test sees which way a call came) and another local service
/// (answering `host secret`, e.g. a database or a metadata endpoint) that the agent must not reach.
struct StandIns {
    url: String,
    socket: PathBuf,
    host_service: String,
    _dir: tempfile::TempDir,
}

async fn stand_ins() -> StandIns {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("gateway.sock");
    let unix = tokio::net::UnixListener::bind(&socket).expect("bind socket");
    // As the gateway's own: any local user may connect (the token is the credential).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    tokio::spawn(async move {
        while let Ok((connection, _)) = unix.accept().await {
            tokio::spawn(answer(connection, "pong via the socket"));
        }
    });
    let url = format!("{}/v1/models", serve_tcp("pong via tcp").await);
    let host_service = format!("{}/secret", serve_tcp("host secret").await);
    StandIns {
        url,
        socket,
        host_service,
        _dir: dir,
    }
}

/// A one-answer HTTP server on 127.0.0.1; returns its `http://addr`.
async fn serve_tcp(text: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            tokio::spawn(answer(connection, text));
        }
    });
    base
}

async fn answer<S: AsyncReadExt + AsyncWriteExt + Unpin>(mut connection: S, text: &str) {
    let mut buf = vec![0u8; 4096];
    let _ = connection.read(&mut buf).await;
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = connection.write_all(answer.as_bytes()).await;
}

impl Host {
    /// Asserts that the probe in a sandbox read none of [`Host::forbidden_reads`], wrote none of
    /// [`Host::forbidden_writes`], reached the gateway (`gateway_said`) and not the host's other service,
    /// and wrote its own tree and `HOME`.
    fn assert_confined(&self, seen: &Value, gateway: &StandIns, gateway_said: &str) {
        for path in self.forbidden_reads() {
            let what = seen["read"][&path].as_str().unwrap_or_default();
            assert!(
                what == "absent" || what.starts_with("denied"),
                "{path} was {what}: {seen}"
            );
        }
        for path in self.forbidden_writes() {
            assert!(!path.exists(), "wrote {}: {seen}", path.display());
        }
        let bot = std::process::id().to_string();
        let signal = seen["signal"][&bot].as_str().unwrap_or_default();
        assert!(
            signal == "absent" || signal.starts_with("denied"),
            "the agent could signal the bot: {seen}"
        );
        let own = self.repo.join("README.md").display().to_string();
        assert_eq!(seen["read"][&own], "visible", "{seen}");
        assert_eq!(seen["gateway"], gateway_said, "{seen}");
        let other = seen["reach"][&gateway.host_service]
            .as_str()
            .unwrap_or_default();
        assert!(other.starts_with("unreachable"), "{seen}");
        assert_eq!(
            std::fs::read_to_string(self.repo.join("written-by-agent.txt")).expect("own tree"),
            "hello from the sandbox"
        );
        let trace = self.root.path().join("scratch/agent/trace.jsonl");
        assert!(
            trace.is_file(),
            "the trace file is where the runner reads it"
        );
    }
}

#[tokio::test]
async fn in_bwrap_the_agent_reaches_its_own_tree_and_the_gateway_but_no_secret() {
    let host = Host::new();
    let gateway = stand_ins().await;
    // As the bot's own user (root, where the test is): the sandbox alone holds.
    let seen = host.probe_as(SandboxMode::Bwrap, 0, &gateway).await;
    host.assert_confined(&seen, &gateway, "pong via the socket");
}

#[tokio::test]
async fn under_landlock_the_agent_reaches_its_own_tree_and_the_gateway_but_no_secret() {
    if !landlock_works() {
        return;
    }
    let host = Host::new();
    let gateway = stand_ins().await;
    // As the bot's own user (root, where the test is): Landlock and seccomp alone hold, also against
    // root's capabilities (and signals to the bot are refused by Landlock's scope, ABI 6).
    let seen = host.probe_as(SandboxMode::Landlock, 0, &gateway).await;
    host.assert_confined(&seen, &gateway, "pong via tcp");
}

/// The control: with the sandbox off, the same stand-in running as the bot's user (`AGENT_UID=0` when
/// the bot is root) reads and writes every one of those paths and reaches the host's service, so the
/// tests above fail when a sandbox is missing.
#[tokio::test]
async fn off_lets_the_agent_reach_everything_its_user_can() {
    let host = Host::new();
    let gateway = stand_ins().await;
    let seen = host.probe_as(SandboxMode::Off, 0, &gateway).await;
    for path in host.forbidden_reads() {
        assert_eq!(seen["read"][&path], "visible", "{path}: {seen}");
    }
    for path in host.forbidden_writes() {
        assert!(path.exists(), "{} not written: {seen}", path.display());
    }
    let bot = std::process::id().to_string();
    assert_eq!(seen["signal"][&bot], "visible", "{seen}");
    assert_eq!(
        seen["reach"][&gateway.host_service], "host secret",
        "{seen}"
    );
    assert_eq!(seen["gateway"], "pong via tcp", "{seen}");
}

/// Host pids of the processes whose environment holds `HOME=<home>` (the run's private `HOME`).
fn pids_with_home(home: &str) -> Vec<String> {
    let needle = format!("HOME={home}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.chars().all(|c| c.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| String::from_utf8_lossy(&env).contains(&needle))
        })
        .collect()
}

/// Starts a sleeping sandboxed run, returns its task and the host pids of its processes (a `sleep`
/// among them).
async fn sleeping_run(
    host: &Host,
    mode: SandboxMode,
    timeout: Duration,
    cancel: CancellationToken,
) -> (
    tokio::task::JoinHandle<Result<metagpt_bot::run::agent::AgentOutcome, AgentError>>,
    Vec<String>,
) {
    let mut request = host.request(json!({"sleep": true}), mode);
    request.timeout = timeout;
    let task = tokio::spawn(run(request, cancel));
    let marker = host.repo.join(".probe-home");
    assert!(
        poll(Duration::from_secs(30), || marker.exists()).await,
        "the stand-in never started"
    );
    let home = std::fs::read_to_string(&marker).expect("home");
    let is_sleep = |pid: &String| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    };
    let mut pids = Vec::new();
    let found = poll(Duration::from_secs(10), || {
        pids = pids_with_home(&home);
        pids.iter().any(is_sleep)
    })
    .await;
    assert!(found, "no sleeping grandchild among {pids:?}");
    (task, pids)
}

async fn assert_all_dead(pids: &[String]) {
    for pid in pids {
        assert!(
            poll(Duration::from_secs(10), || is_dead(pid)).await,
            "process {pid} of the run survived"
        );
    }
}

#[tokio::test]
async fn the_time_limit_kills_everything_the_sandboxed_agent_started() {
    let host = Host::new();
    let (task, pids) = sleeping_run(
        &host,
        SandboxMode::Bwrap,
        Duration::from_secs(8),
        CancellationToken::new(),
    )
    .await;
    let err = task.await.expect("join").expect_err("times out");
    assert!(matches!(err, AgentError::TimedOut { .. }), "{err}");
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn stop_kills_everything_the_sandboxed_agent_started() {
    let host = Host::new();
    let cancel = CancellationToken::new();
    let (task, pids) = sleeping_run(
        &host,
        SandboxMode::Bwrap,
        Duration::from_secs(600),
        cancel.clone(),
    )
    .await;
    cancel.cancel();
    let err = task.await.expect("join").expect_err("cancelled");
    assert!(matches!(err, AgentError::Cancelled { .. }), "{err}");
    assert!(
        err.log_tail().iter().any(|l| l == "sleeping"),
        "{:?}",
        err.log_tail()
    );
    assert_all_dead(&pids).await;
}

#[tokio::test]
async fn stop_kills_everything_the_agent_under_landlock_started() {
    if !landlock_works() {
        return;
    }
    let host = Host::new();
    let cancel = CancellationToken::new();
    let (task, pids) = sleeping_run(
        &host,
        SandboxMode::Landlock,
        Duration::from_secs(600),
        cancel.clone(),
    )
    .await;
    cancel.cancel();
    let err = task.await.expect("join").expect_err("cancelled");
    assert!(matches!(err, AgentError::Cancelled { .. }), "{err}");
    assert_all_dead(&pids).await;
}

/// The project's suite (`offline_command`, as `run::project` starts it after a run) in `sandboxed` (or
/// none): a shell that tries every forbidden read and write and the host's other service, then writes
/// its own tree; returns its output.
async fn suite_probe(host: &Host, sandboxed: Option<Sandboxed>, gateway: &StandIns) -> String {
    let home = host.root.path().join("project-home");
    let tmp = home.join("tmp");
    std::fs::create_dir_all(&tmp).expect("project home");
    let mut script = String::new();
    for path in host.forbidden_reads() {
        script.push_str(&format!(
            "if [ -d '{path}' ]; then ls '{path}' >/dev/null 2>&1 && echo \"read {path}\"; \
             elif (exec 3<'{path}') 2>/dev/null; then echo \"read {path}\"; fi\n"
        ));
    }
    for path in host.forbidden_writes() {
        let path = path.display();
        script.push_str(&format!(
            "if echo pwned 2>/dev/null > '{path}'; then echo \"wrote {path}\"; fi\n"
        ));
    }
    let url = url::Url::parse(&gateway.host_service).expect("url");
    script.push_str(&format!(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {}), timeout=5); \
         print(\"reached the host service\")' 2>/dev/null\n",
        url.port().expect("port")
    ));
    script.push_str("echo suite > ran-by-suite.txt && echo done\n");
    let sh = std::path::Path::new("/bin/sh");
    let mut command = match sandboxed {
        Some(sandboxed) => offline_command(
            sandboxed,
            None,
            Offline {
                python: std::path::Path::new("/usr/bin/python3"),
                program: sh,
                cwd: &host.repo,
                read_only: Vec::new(),
                writable: vec![host.repo.clone(), home.clone()],
                tmp: &tmp,
            },
        ),
        None => tokio::process::Command::new(sh),
    };
    let out = command
        .arg("-c")
        .arg(script)
        .current_dir(&host.repo)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .output()
        .await
        .expect("the suite's shell runs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test]
async fn the_projects_suite_runs_in_the_same_sandbox_as_the_agent() {
    let host = Host::new();
    let gateway = stand_ins().await;
    let mut sandboxes = Vec::new();
    if let Ok(Some(bwrap)) = metagpt_bot::run::agent::select_sandbox(SandboxMode::Bwrap, None) {
        sandboxes.push(bwrap);
    }
    if landlock_works() {
        let landlock = metagpt_bot::run::agent::select_sandbox(SandboxMode::Landlock, None)
            .expect("landlock works")
            .expect("a sandbox");
        sandboxes.push(landlock);
    }
    for sandboxed in sandboxes {
        let said = suite_probe(&host, Some(sandboxed.clone()), &gateway).await;
        assert_eq!(said.trim(), "done", "{sandboxed:?}: {said}");
        assert_eq!(
            std::fs::read_to_string(host.repo.join("ran-by-suite.txt")).expect("own tree"),
            "suite\n"
        );
        std::fs::remove_file(host.repo.join("ran-by-suite.txt")).expect("reset");
    }
    // The control: unsandboxed, the same shell reads, writes and reaches all of it.
    let said = suite_probe(&host, None, &gateway).await;
    let expected = host.forbidden_reads().len() + host.forbidden_writes().len() + 2;
    assert_eq!(said.lines().count(), expected, "{said}");
    assert!(said.contains("reached the host service"), "{said}");
}

/// Whether this test process is root (else the test returns, skipped with the reason printed).
fn root() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        println!("skipped: dropping the agent to its own user needs a bot running as root");
    }
    root
}

/// A root bot with the sandbox off still runs the agent as its own user (`AGENT_UID`, default 65534):
/// the kernel closes the bot's `/proc/<pid>/environ` and `mem`, its `HOME` and its private files (the
/// key and the database at mode 0600) and MetaGPT's venv to it, while its own tree, the gateway and the
/// host's other services stay open (the network is a sandbox's to close). World-readable files, such as
/// another issue's work tree, stay readable: that needs a sandbox.
#[tokio::test]
async fn a_root_bot_runs_the_agent_as_its_own_user_even_unsandboxed() {
    if !root() {
        return;
    }
    let host = Host::new();
    use std::os::unix::fs::PermissionsExt;
    for secret in &host.secrets[..2] {
        std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o600)).expect("0600");
    }
    let gateway = stand_ins().await;
    let seen = host.probe(SandboxMode::Off, &gateway).await;
    let mut closed: Vec<String> = host.secrets[..2]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    closed.push(format!("/proc/{}/environ", std::process::id()));
    closed.push(format!("/proc/{}/mem", std::process::id()));
    closed.extend(std::env::var("HOME").ok().filter(|h| h == "/root"));
    for path in closed {
        let what = seen["read"][&path].as_str().unwrap_or_default();
        assert!(what.starts_with("denied"), "{path} was {what}: {seen}");
    }
    for path in host.forbidden_writes() {
        assert!(!path.exists(), "wrote {}: {seen}", path.display());
    }
    assert_eq!(seen["gateway"], "pong via tcp", "{seen}");
    let own = host.repo.join("written-by-agent.txt");
    assert_eq!(
        std::fs::read_to_string(&own).expect("own tree"),
        "hello from the sandbox"
    );
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&own).expect("meta").uid();
    assert_eq!(
        owner, 0,
        "what the agent wrote is the bot's again after the run"
    );
    assert_eq!(seen["uid"], 65534, "{seen}");
}

/// In each sandbox, a root bot's agent runs as its own user too, and the sandbox still holds.
#[tokio::test]
async fn a_root_bots_agent_runs_as_its_own_user_in_each_sandbox() {
    if !root() {
        return;
    }
    let host = Host::new();
    let gateway = stand_ins().await;
    let seen = host.probe(SandboxMode::Bwrap, &gateway).await;
    host.assert_confined(&seen, &gateway, "pong via the socket");
    assert_eq!(seen["uid"], 65534, "{seen}");
    std::fs::remove_file(host.repo.join("written-by-agent.txt")).expect("reset");
    if landlock_works() {
        let seen = host.probe(SandboxMode::Landlock, &gateway).await;
        host.assert_confined(&seen, &gateway, "pong via tcp");
        assert_eq!(seen["uid"], 65534, "{seen}");
    }
}
