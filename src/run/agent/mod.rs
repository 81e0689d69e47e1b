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
//! - Memory is bounded whatever the child prints: lines are cut at [`output::MAX_LINE`] bytes and only
//!   the last [`output::TAIL_LINES`] are kept for error messages.
//! - Success means the wrapper wrote `status: "ok"` *and* exited 0; anything else is an [`AgentError`]
//!   that says what happened and what to do.
//! - Unless `AGENT_SANDBOX` is `off` (or `auto` finds no working `bwrap`), the agent runs inside
//!   bubblewrap and sees only the system, its interpreter, its repository and its private directory
//!   (`bwrap.rs`, `sandbox.rs`): not the App's key, settings or database, nor other issues' work trees.
//!   Given the gateway's Unix socket ([`AgentRun::gateway_socket`], as every run of the runner is), it
//!   also gets a network of its own: the gateway is the one address it can reach, through the socket and
//!   `gateway_relay.py`, which listens on the gateway's 127.0.0.1 port inside.
//! - MetaGPT's own cost counters are reported apart ([`MetagptCost`]); the gateway's ledger is the truth.

mod bwrap;
mod config;
mod error;
mod job;
mod output;
mod process;
mod run;
mod sandbox;

pub use error::AgentError;
pub use job::{Flow, MetagptCost};
pub use run::{AgentOptions, AgentOutcome, AgentRun, run};
pub use sandbox::{
    FIX as SANDBOX_FIX, NETWORK_FIX as SANDBOX_NETWORK_FIX, SandboxChoice, SandboxMode,
    choose as choose_sandbox, network as sandbox_network, select as select_sandbox,
};

/// The Python wrapper run by MetaGPT's interpreter (Python 3.11, metagpt 0.8.2).
pub const WRAPPER_PY: &str = include_str!("wrapper.py");

/// The module `wrapper.py` imports to word a failure; written beside it.
pub const WRAPPER_ERRORS_PY: &str = include_str!("wrapper_errors.py");

/// The module that relays a sandboxed agent's gateway connections to the gateway's Unix socket; written
/// beside `wrapper.py`, which starts it when the job asks.
pub const GATEWAY_RELAY_PY: &str = include_str!("gateway_relay.py");
