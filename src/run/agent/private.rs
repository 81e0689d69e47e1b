//! The run's private directory and what is in it: `HOME` (with `.metagpt/config2.yaml`),
//! `METAGPT_PROJECT_ROOT` (MetaGPT's logs), `tmp` (its `TMPDIR` under Landlock), the wrapper script with the modules it imports, and the two
//! files exchanged with the wrapper: `job.json` (written here, read by `wrapper.py`) and `result.json`
//! (written by the wrapper, read here).
//!
//! Invariants:
//! - The directory is created fresh (mode 0700) for each run outside the repository and removed when
//!   the [`PrivateDir`] is dropped; `config2.yaml` is mode 0600 and holds the per-run gateway token as
//!   its only credential (the job file holds no secret). Values are written as JSON strings, which YAML
//!   reads as double-quoted scalars, so no input can inject keys.
//! - MetaGPT's own time-out per LLM call is the run's wall-clock limit: the gateway times out and
//!   retries provider calls, so MetaGPT's client must never give up (and retry) first.
//! - The job's field names are the wrapper's contract, so renaming one is a change to `wrapper.py` too.
//!   A result file that does not parse is reported as such, never taken for success.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use crate::domain::{Flow, Kind};

/// The Python wrapper run by MetaGPT's interpreter (Python 3.11, metagpt 0.8.2).
const WRAPPER_PY: &str = include_str!("wrapper.py");

/// The module `wrapper.py` imports to word a failure; written beside it.
const WRAPPER_ERRORS_PY: &str = include_str!("wrapper_errors.py");

/// The modules `wrapper.py` imports to patch MetaGPT for the repository's layout (`spec_dir`, source
/// folder, git) and for what it writes and how QA tests (headers, existing tests, RunCode, SummarizeCode).
const WRAPPER_LAYOUT_PY: &str = include_str!("wrapper_layout.py");
const WRAPPER_QA_PY: &str = include_str!("wrapper_qa.py");

/// The module that relays a sandboxed agent's gateway connections to the gateway's Unix socket; written
/// beside `wrapper.py`, which starts it when the job asks.
const GATEWAY_RELAY_PY: &str = include_str!("gateway_relay.py");

/// The per-run directories; deleted on drop.
pub(crate) struct PrivateDir {
    /// Held for its `Drop`, which deletes everything below.
    _dir: TempDir,
    /// The directory holding everything below (the agent may write it).
    pub root: PathBuf,
    pub home: PathBuf,
    pub project_root: PathBuf,
    /// The run's own `TMPDIR` where the host's `/tmp` is out of reach (under Landlock).
    pub tmp: PathBuf,
    pub wrapper: PathBuf,
    pub files: JobFiles,
}

/// What `config2.yaml` says about the LLM.
pub(crate) struct LlmConfig<'a> {
    pub base_url: &'a str,
    pub token: &'a SecretString,
    pub model: &'a str,
    /// MetaGPT's time-out per LLM call, in seconds.
    pub timeout_secs: u64,
}

impl PrivateDir {
    /// Creates the directories and writes the wrapper and `config2.yaml`; refuses a temporary directory
    /// that lies inside `repo` (the token must never land in the repository).
    pub fn create(repo: &Path, llm: &LlmConfig<'_>) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("metagpt-run-").tempdir()?;
        if let (Ok(tmp), Ok(repo)) = (dir.path().canonicalize(), repo.canonicalize())
            && tmp.starts_with(&repo)
        {
            return Err(std::io::Error::other(format!(
                "the temporary directory {} is inside the repository; point TMPDIR elsewhere",
                tmp.display()
            )));
        }
        let home = dir.path().join("home");
        let project_root = dir.path().join("metagpt-root");
        let job_dir = dir.path().join("job");
        let tmp = dir.path().join("tmp");
        for d in [&home.join(".metagpt"), &project_root, &job_dir, &tmp] {
            std::fs::create_dir_all(d)?;
        }
        write_private(
            &home.join(".metagpt").join("config2.yaml"),
            config_yaml(llm).as_bytes(),
        )?;
        let wrapper = dir.path().join("metagpt_wrapper.py");
        write_private(&wrapper, WRAPPER_PY.as_bytes())?;
        for (name, source) in [
            ("wrapper_errors.py", WRAPPER_ERRORS_PY),
            ("gateway_relay.py", GATEWAY_RELAY_PY),
            ("wrapper_layout.py", WRAPPER_LAYOUT_PY),
            ("wrapper_qa.py", WRAPPER_QA_PY),
        ] {
            write_private(&dir.path().join(name), source.as_bytes())?;
        }
        Ok(Self {
            files: JobFiles::in_dir(&job_dir),
            root: dir.path().to_path_buf(),
            _dir: dir,
            home,
            project_root,
            tmp,
            wrapper,
        })
    }
}

/// Writes a new file readable by its owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// MetaGPT's `config2.yaml`: the gateway as an OpenAI-compatible provider, without streaming so token
/// usage comes from the response, and with the run's wall-clock limit as the time-out of each call.
pub(crate) fn config_yaml(llm: &LlmConfig<'_>) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "llm:\n  api_type: \"openai\"\n  base_url: {}\n  api_key: {}\n  model: {}\n  stream: false\n  timeout: {}\n",
        quote(llm.base_url),
        quote(llm.token.expose_secret()),
        quote(llm.model),
        llm.timeout_secs.max(1),
    )
}

// ---- job.json and result.json ----

/// What the wrapper is asked to do.
#[derive(Debug, Serialize)]
pub(crate) struct Job<'a> {
    pub project_path: &'a Path,
    pub idea: &'a str,
    pub kind: Kind,
    pub n_round: u32,
    pub code_review: bool,
    pub run_tests: bool,
    pub investment: f64,
    pub trace_path: &'a Path,
    pub result_path: &'a Path,
    /// The source folder relative to `project_path`; `None` means MetaGPT's `<repo>/<basename(repo)>/`.
    pub source_dir: Option<&'a Path>,
    /// MetaGPT's project folder (its `docs/`, `resources/`, `.dependencies.json`, ...) relative to
    /// `project_path`, `/`-separated; "" is the repository root.
    pub spec_dir: &'a str,
    /// Where QA writes new test files, relative to `project_path`.
    pub tests_dir: &'a str,
    /// What QA adds to the name of a test file that already exists ([`crate::marks::QA_TEST_SUFFIX`]).
    pub qa_test_suffix: &'a str,
    /// What QA's test run puts on `PYTHONPATH`, relative to `project_path` ("" is the root).
    pub import_roots: &'a [String],
    /// The interpreter QA runs the tests with (the run's own prepared venv); `None`: the wrapper's.
    pub project_python: Option<&'a Path>,
    /// The model name and its price (USD per 1,000 tokens) so MetaGPT's own counter is not 0.
    pub model: &'a str,
    pub price_per_1k: Option<PricePer1k>,
    /// For a sandboxed run with a network of its own: where `gateway_relay.py` listens and relays to.
    pub gateway_relay: Option<GatewayRelay<'a>>,
}

/// The gateway's address as the agent uses it (`listen`: host and port of its `base_url`) and the
/// gateway's Unix socket, mounted into the sandbox, that the relay connects to.
#[derive(Debug, Serialize)]
pub(crate) struct GatewayRelay<'a> {
    pub listen: (String, u16),
    pub socket: &'a Path,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct PricePer1k {
    pub prompt: f64,
    pub completion: f64,
}

/// MetaGPT's own cost counters (`ctx.cost_manager`); the gateway's ledger replaces them in reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MetagptCost {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_cost: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Ok,
    Error,
}

/// What the wrapper reports.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WrapperResult {
    pub status: Status,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub flow: Option<Flow>,
    #[serde(default)]
    pub rounds: u32,
    #[serde(default)]
    pub idle: bool,
    #[serde(default)]
    pub cost: MetagptCost,
}

/// Reads the wrapper's result file: `Ok(None)` when it was never written, `Err` with the reason when it
/// exists but does not parse.
pub(crate) fn read_result(path: &Path) -> Result<Option<WrapperResult>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        format!(
            "the wrapper's result {} does not parse: {e}",
            path.display()
        )
    })
}

/// Where the job and result files live inside the run's private directory.
pub(crate) struct JobFiles {
    pub job: PathBuf,
    pub result: PathBuf,
}

impl JobFiles {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            job: dir.join("job.json"),
            result: dir.join("result.json"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_quoted_scalars() {
        let token = SecretString::from("mgb-abc\"\nllm: evil");
        let yaml = config_yaml(&LlmConfig {
            base_url: "http://127.0.0.1:1/v1",
            token: &token,
            model: "gpt-4o",
            timeout_secs: 3600,
        });
        assert_eq!(yaml.lines().count(), 7, "{yaml}");
        assert!(yaml.ends_with("  timeout: 3600\n"), "{yaml}");
        assert!(
            yaml.contains(r#"api_key: "mgb-abc\"\nllm: evil""#),
            "{yaml}"
        );
    }
}
