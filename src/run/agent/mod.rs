//! The agent step: one incremental MetaGPT 0.8.2 run on a repository on disk, as a subprocess.
//!
//! [`run`] writes a job file and a `config2.yaml` into private temporary directories, starts
//! `<python> <wrapper.py> <job.json>` (the wrapper, `wrapper.py` with its `wrapper_errors.py`, is carried
//! in the binary) in the repository, streams its output into the log (target `metagpt`) and reads the
//! wrapper's result file. The wrapper builds MetaGPT's team itself, lets the label decide requirement vs
//! bugfix, skips MetaGPT's "Archive" commit, appends every agent message to the trace and reports the real
//! error, naming the step that failed, instead of MetaGPT's exit 0. It leaves provider failures to the
//! gateway's retries (MetaGPT's own retries apply only to answers it could not parse).
//!
//! Invariants:
//! - Secrets never reach the agent: the child's environment is built from nothing (an allow-list: `PATH`,
//!   `HOME`, `METAGPT_PROJECT_ROOT`, `LANG`, `LC_ALL`, `PYTHONUNBUFFERED`, `PYTHONDONTWRITEBYTECODE`,
//!   `TZ`); the only credential it sees is the per-run gateway token, in a 0600 `config2.yaml` under a
//!   per-run `HOME` that is outside the repository and deleted when the run ends. The token is redacted
//!   from every line logged.
//! - `HOME` and `METAGPT_PROJECT_ROOT` are fresh per run (MetaGPT's config and logs are process-global).
//! - The interpreter's own `bin` directory is first on `PATH`, so the `python`/`pip` QA runs resolve in
//!   MetaGPT's venv.
//! - The run ends within its wall-clock limit or at cancellation: the whole process group is killed
//!   (QA's pip and test processes included), also when the future is dropped.
//! - Memory is bounded whatever the child prints: lines are cut at [`process::MAX_LINE`] bytes and only
//!   the last [`process::TAIL_LINES`] are kept for error messages.
//! - Success means the wrapper wrote `status: "ok"` *and* exited 0; anything else is an [`AgentError`]
//!   that says what happened and what to do.
//! - Unless `AGENT_SANDBOX` is `off` (or `auto` finds none), the agent runs in a sandbox (`sandbox.rs`)
//!   and reaches only the system, its interpreters, its repository and its private directory: not the
//!   App's key, settings or database, nor other issues' work trees. In bubblewrap, given the gateway's
//!   Unix socket ([`AgentRun::gateway_socket`], as every run of `run::execute` is), it also gets a network
//!   of its own: the gateway is the one address it can reach, through the socket and `gateway_relay.py`,
//!   which listens on the gateway's 127.0.0.1 port inside. Under Landlock and seccomp (`confine.rs`), it
//!   may connect by TCP to the gateway's port only.
//! - When the bot is root, the agent runs as its own user ([`AgentOptions::agent_uid`], `run_as.rs`), in
//!   every mode: what it writes is handed to it for the run and back after it, and a path it could not
//!   reach refuses the run before anything starts.
//! - What the run's processes may use is limited (`limits.rs`: memory, processes, CPU seconds; a cgroup
//!   per run where the bot has one, else rlimits); a limit hit ends the run with
//!   [`AgentError::LimitExceeded`], which names the limit and its setting.
//! - MetaGPT's own cost counters are reported apart ([`MetagptCost`]); the gateway's ledger is the truth.
//! - Nothing is written into the repository by this module (MetaGPT writes there); the job, config and
//!   result files live in the run's private directory (`private.rs`), which is removed when the run ends.
//!
//! Files: this one (the run), `private.rs` (its private directory, job and result files),
//! `process.rs` (the subprocess and its output), `limits.rs` (its resource limits) with `cgroup.rs`
//! (a run's cgroup), `sandbox.rs` (which sandbox: `AGENT_SANDBOX` and the probes), `sandboxed.rs` (a
//! sandboxed run's command line), `confine.rs` (the Landlock launcher), `run_as.rs` (the agent's own user
//! when the bot is root), `error.rs`.

mod cgroup;
mod confine;
mod error;
mod limits;
mod private;
mod process;
mod run_as;
mod sandbox;
mod sandboxed;

pub use confine::{
    ConfineError, EXIT_UNCONFINED as CONFINE_EXIT_UNCONFINED, SUBCOMMAND as CONFINE_SUBCOMMAND,
    main as confine_main,
};
pub use error::AgentError;
pub(crate) use limits::apply as apply_limits;
pub use limits::{
    Detected as LimitDetected, Exceeded, Hit, Mechanism as LimitMechanism,
    mechanism as limit_mechanism,
};
pub use private::MetagptCost;
pub use run_as::{Closing, DEFAULT_UID as DEFAULT_AGENT_UID, RunAs, close_secret_file};
pub(crate) use run_as::{Handover, unreachable};
pub use sandbox::{
    FIX as SANDBOX_FIX, LANDLOCK_FIX as SANDBOX_LANDLOCK_FIX, NETWORK_FIX as SANDBOX_NETWORK_FIX,
    NONE_FIX as SANDBOX_NONE_FIX, SandboxChoice, Sandboxed, UNSANDBOXED_LETS_THROUGH,
    Unusable as SandboxUnusable, choose as choose_sandbox, network as sandbox_network,
    select as select_sandbox, use_launcher,
};
pub use sandboxed::{Offline, offline_command};

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::config::{ResourceLimits, SandboxMode};
use crate::domain::Price;
use crate::domain::{Flow, Kind};
use private::{
    GatewayRelay, Job, LlmConfig, PricePer1k, PrivateDir, Status, WrapperResult, read_result,
    write_private,
};
pub(crate) use process::kill_group;
use process::{End, Spec};
use sandboxed::Sandbox;

/// How code the agent wrote is confined when the bot runs it (the project's suite after a run): the
/// sandbox and the user the agent's runs get.
#[derive(Debug, Clone, Default)]
pub struct Isolation {
    pub sandbox: Option<Sandboxed>,
    pub run_as: Option<RunAs>,
}

impl Isolation {
    /// What an agent run under `mode` and `agent_uid` gets (no sandbox where a forced one is missing:
    /// the run itself is refused then).
    pub fn of(mode: SandboxMode, agent_uid: u32) -> Isolation {
        let run_as = RunAs::for_this_bot(agent_uid);
        Isolation {
            sandbox: sandbox::select(mode, run_as).ok().flatten(),
            run_as,
        }
    }
}

/// How MetaGPT's team works.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentOptions {
    /// Rounds of the team (a full incremental run needs 7 without tests, 9 with, more per debug cycle).
    pub n_round: u32,
    pub code_review: bool,
    pub run_tests: bool,
    /// MetaGPT's own budget in USD (checked between rounds); the gateway enforces the real one.
    pub investment_usd: f64,
    /// Which sandbox the agent runs in (`AGENT_SANDBOX`).
    pub sandbox: SandboxMode,
    /// What the agent and everything it starts may use (`AGENT_MEMORY_MB`, `AGENT_MAX_PROCESSES`,
    /// `AGENT_CPU_SECS`).
    pub limits: ResourceLimits,
    /// The uid and gid the agent runs as when the bot is root (`AGENT_UID`; 0: as root).
    pub agent_uid: u32,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            n_round: 20,
            code_review: true,
            run_tests: true,
            investment_usd: 3.0,
            sandbox: SandboxMode::Auto,
            limits: ResourceLimits::default(),
            agent_uid: run_as::DEFAULT_UID,
        }
    }
}

/// One run of the agent.
#[derive(Debug, Clone)]
pub struct AgentRun {
    /// Names the run in the log (`run_id` field of target `metagpt`).
    pub run_id: String,
    /// The interpreter of a venv with metagpt 0.8.2 (`METAGPT_PYTHON`).
    pub python: PathBuf,
    /// The repository's work tree; MetaGPT's project path and the child's working directory.
    pub repo: PathBuf,
    /// The requirement or bug report.
    pub idea: String,
    pub kind: Kind,
    pub options: AgentOptions,
    /// The gateway's OpenAI-compatible base URL and this run's token for it.
    pub gateway_url: String,
    /// The gateway's Unix socket ([`crate::run::gateway::Gateway::socket_path`]). Given, a sandboxed agent
    /// gets a network namespace of its own (where `bwrap` can make one) and reaches the gateway only
    /// through this socket, relayed to `gateway_url`'s address inside; `None` leaves a sandboxed agent on
    /// the bot's network, for an agent pointed at something that has no socket.
    pub gateway_socket: Option<PathBuf>,
    pub token: SecretString,
    pub model: String,
    /// The model's price, so MetaGPT's own counter is not 0 (the gateway's ledger is the real cost).
    pub price: Option<Price>,
    /// The source folder relative to `repo`, when it is not `<repo>/<basename(repo)>/`.
    pub source_dir: Option<PathBuf>,
    /// MetaGPT's project folder (`docs/`, `resources/`, `test_outputs/`, `.dependencies.json`), relative
    /// to `repo`, `/`-separated; "" is the root (MetaGPT's own layout).
    pub spec_dir: String,
    /// Where QA writes new test files (never over one that existed before the run), relative to `repo`.
    pub tests_dir: String,
    /// What QA's test run puts on `PYTHONPATH`, relative to `repo` ("" is the root). MetaGPT's own layout
    /// needs its source folder here too: its flat modules import each other by bare name.
    pub import_roots: Vec<String>,
    /// The interpreter of the run's own project venv, which QA runs the tests with (read-only in the
    /// sandbox); `None`: MetaGPT's interpreter. QA never pip-installs either way.
    pub project_python: Option<PathBuf>,
    /// Where the agent messages go, one JSON object a line (created or appended to).
    pub trace_path: PathBuf,
    /// The wall-clock limit.
    pub timeout: Duration,
}

/// A successful run.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentOutcome {
    pub flow: Flow,
    /// Rounds the team started; fewer than `n_round` when every role fell idle.
    pub rounds: u32,
    /// Whether every role was idle at the end (false: `n_round` cut the run short).
    pub idle: bool,
    pub trace_path: PathBuf,
    pub metagpt_cost: MetagptCost,
    pub log_tail: Vec<String>,
}

/// Runs MetaGPT on `request.repo` until it finishes, fails, times out or `cancel` fires.
pub async fn run(request: AgentRun, cancel: CancellationToken) -> Result<AgentOutcome, AgentError> {
    let python = process::absolute(&request.python);
    if !process::is_executable(&python) {
        return Err(AgentError::InterpreterMissing { python });
    }
    if !request.repo.is_dir() {
        return Err(AgentError::RepositoryMissing { repo: request.repo });
    }
    if let Some(dir) = &request.source_dir
        && !is_relative_inside(dir)
    {
        return Err(AgentError::BadSourceDir {
            source_dir: dir.clone(),
        });
    }
    let run_as = RunAs::for_this_bot(request.options.agent_uid);
    let sandboxed = sandbox::select(request.options.sandbox, run_as)
        .map_err(|unusable| AgentError::SandboxUnavailable { unusable })?;
    let repo = std::path::absolute(&request.repo).map_err(AgentError::Setup)?;
    let trace_path = std::path::absolute(&request.trace_path).map_err(AgentError::Setup)?;
    let llm = LlmConfig {
        base_url: &request.gateway_url,
        token: &request.token,
        model: &request.model,
        timeout_secs: request.timeout.as_secs(),
    };
    let private = PrivateDir::create(&repo, &llm).map_err(AgentError::Setup)?;
    // A network of its own, with the gateway relayed through its socket, when the run is in bwrap, has
    // the socket, and bwrap can set one up here. Under Landlock the agent keeps the host's network with
    // TCP to the gateway's port only, so it needs no relay.
    let socket = match (&sandboxed, &request.gateway_socket) {
        (Some(Sandboxed::Bwrap(bwrap)), Some(socket)) if sandbox::own_network(bwrap, run_as) => {
            Some(socket.clone())
        }
        _ => None,
    };
    let relay = match &socket {
        Some(socket) => Some(GatewayRelay {
            listen: relay_address(&request.gateway_url).map_err(AgentError::Setup)?,
            socket,
        }),
        None => None,
    };
    write_job(&request, &repo, &trace_path, &private, relay).map_err(AgentError::Setup)?;
    let writable = writable(&repo, &trace_path, &private).map_err(AgentError::Setup)?;
    // As its own user (the bot is root), the agent owns what it writes for the run, and no more.
    let _handover = match run_as {
        Some(run_as) => Some(hand_over(run_as, &python, &request, &writable)?),
        None => None,
    };
    let mut command = match sandboxed {
        Some(kind) => {
            let landlock = matches!(kind, Sandboxed::Landlock(_));
            let mut sandbox = sandboxed_run(kind, &python, &request, writable);
            sandbox.gateway_socket = socket;
            if landlock {
                let (_, port) = relay_address(&request.gateway_url).map_err(AgentError::Setup)?;
                sandbox.gateway_port = Some(port);
                sandbox.tmpdir = Some(private.tmp.clone());
            }
            sandbox.command(&repo, &python)
        }
        None => tokio::process::Command::new(&python),
    };
    if let Some(run_as) = run_as {
        command.uid(run_as.uid).gid(run_as.gid);
    }

    let spec = Spec {
        command,
        python: &python,
        args: vec![
            private.wrapper.clone().into(),
            private.files.job.clone().into(),
        ],
        cwd: &repo,
        home: &private.home,
        project_root: &private.project_root,
        run_id: &request.run_id,
        secret: request.token.expose_secret(),
        limits: request.options.limits,
        uid: run_as.map(|r| r.uid),
    };
    tracing::info!(run_id = %request.run_id, repo = %repo.display(), kind = ?request.kind, "starting MetaGPT");
    let (end, log_tail) = process::run(spec, request.timeout, &cancel)
        .await
        .map_err(|source| AgentError::Spawn {
            python: python.clone(),
            source,
        })?;
    let status = match end {
        End::TimedOut => {
            return Err(AgentError::TimedOut {
                after: request.timeout,
                log_tail,
            });
        }
        End::Cancelled => return Err(AgentError::Cancelled { log_tail }),
        End::Limit(exceeded) => {
            return Err(AgentError::LimitExceeded { exceeded, log_tail });
        }
        End::Exited(status) => status,
    };
    let result = match read_result(&private.files.result) {
        Ok(Some(result)) => result,
        Ok(None) => {
            let how = format!("exited ({status}) without writing its result");
            return Err(AgentError::Crashed { how, log_tail });
        }
        Err(how) => return Err(AgentError::Crashed { how, log_tail }),
    };
    outcome(result, status.success(), trace_path, log_tail)
}

/// Where the wrapper appends each code review's verdict (`{"file","verdict"}` a line): beside the trace.
pub fn reviews_path(trace_path: &Path) -> PathBuf {
    trace_path.with_file_name("reviews.jsonl")
}

/// A non-empty relative path made of plain components only.
fn is_relative_inside(dir: &Path) -> bool {
    use std::path::Component;
    dir.components().next().is_some()
        && dir
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// What the agent may write: the repository, its private directory and the trace files (created here,
/// empty, so they can be mounted and handed over).
fn writable(repo: &Path, trace_path: &Path, private: &PrivateDir) -> std::io::Result<Vec<PathBuf>> {
    let reviews = reviews_path(trace_path);
    for file in [trace_path, &reviews] {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(file)?;
    }
    Ok(vec![
        repo.into(),
        private.root.clone(),
        trace_path.into(),
        reviews,
    ])
}

/// Gives `writable` to the agent's user, once it is sure that user can reach it and the interpreters.
fn hand_over(
    run_as: RunAs,
    python: &Path,
    request: &AgentRun,
    writable: &[PathBuf],
) -> Result<run_as::Handover, AgentError> {
    let project_python = request.project_python.as_deref().map(process::absolute);
    let mut needed: Vec<PathBuf> = writable.to_vec();
    for interpreter in std::iter::once(python).chain(project_python.as_deref()) {
        // The interpreter, the install its link points to, and the trees it reads.
        needed.push(interpreter.to_path_buf());
        needed.extend(interpreter.canonicalize().ok());
        needed.extend(sandboxed::interpreter_trees(interpreter));
    }
    let needed: Vec<&Path> = needed.iter().map(PathBuf::as_path).collect();
    if let Some((path, dir)) = run_as::unreachable(run_as, &needed) {
        return Err(AgentError::AgentUserCannotReach {
            uid: run_as.uid,
            path,
            dir,
        });
    }
    run_as::Handover::give(run_as, writable).map_err(AgentError::Setup)
}

/// The run's sandbox: it may write `writable` and nothing else; it sees MetaGPT's interpreter and the
/// project's (`AgentRun::project_python`) read-only.
fn sandboxed_run(
    kind: Sandboxed,
    python: &Path,
    request: &AgentRun,
    writable: Vec<PathBuf>,
) -> Sandbox {
    let mut sandbox = Sandbox::for_run(kind, python, writable);
    if let Some(project_python) = &request.project_python {
        for tree in sandboxed::interpreter_trees(&process::absolute(project_python)) {
            if !sandbox.read_only.contains(&tree) {
                sandbox.read_only.push(tree);
            }
        }
    }
    sandbox
}

/// The host and port of the gateway's base URL, where the relay listens inside the sandbox (and the port
/// a run under Landlock may connect to).
fn relay_address(gateway_url: &str) -> std::io::Result<(String, u16)> {
    let url = url::Url::parse(gateway_url).map_err(|e| {
        std::io::Error::other(format!(
            "the gateway URL `{gateway_url}` does not parse: {e}"
        ))
    })?;
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => Ok((host.trim_matches(['[', ']']).to_owned(), port)),
        _ => Err(std::io::Error::other(format!(
            "the gateway URL `{gateway_url}` names no host and port"
        ))),
    }
}

fn write_job(
    request: &AgentRun,
    repo: &Path,
    trace_path: &Path,
    private: &PrivateDir,
    gateway_relay: Option<GatewayRelay<'_>>,
) -> std::io::Result<()> {
    let project_python = request.project_python.as_deref().map(process::absolute);
    let job = Job {
        project_path: repo,
        idea: &request.idea,
        kind: request.kind,
        n_round: request.options.n_round,
        code_review: request.options.code_review,
        run_tests: request.options.run_tests,
        investment: request.options.investment_usd,
        trace_path,
        result_path: &private.files.result,
        source_dir: request.source_dir.as_deref(),
        spec_dir: &request.spec_dir,
        tests_dir: &request.tests_dir,
        qa_test_suffix: crate::marks::QA_TEST_SUFFIX,
        import_roots: &request.import_roots,
        project_python: project_python.as_deref(),
        model: &request.model,
        price_per_1k: request.price.map(|p| PricePer1k {
            prompt: p.prompt_per_million / 1000.0,
            completion: p.completion_per_million / 1000.0,
        }),
        gateway_relay,
    };
    let json = serde_json::to_vec(&job).map_err(std::io::Error::other)?;
    write_private(&private.files.job, &json)
}

fn outcome(
    result: WrapperResult,
    exited_zero: bool,
    trace_path: PathBuf,
    log_tail: Vec<String>,
) -> Result<AgentOutcome, AgentError> {
    match (result.status, result.flow, exited_zero) {
        (Status::Ok, Some(flow), true) => Ok(AgentOutcome {
            flow,
            rounds: result.rounds,
            idle: result.idle,
            trace_path,
            metagpt_cost: result.cost,
            log_tail,
        }),
        _ => Err(AgentError::Failed {
            message: result
                .error
                .unwrap_or_else(|| "the wrapper reported no error but did not succeed".to_owned()),
            flow: result.flow,
            rounds: result.rounds,
            metagpt_cost: result.cost,
            log_tail,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::relay_address;

    #[test]
    fn the_relay_listens_where_the_gateway_url_points() {
        let at = |url: &str| relay_address(url).expect(url);
        assert_eq!(at("http://127.0.0.1:41234/v1"), ("127.0.0.1".into(), 41234));
        assert_eq!(at("http://localhost/v1"), ("localhost".into(), 80));
        assert!(relay_address("127.0.0.1:41234").is_err());
    }
}
