//! The flags of `metagpt-bot run` and the request they name.
//!
//! Invariants: exactly one of `--requirement`, `--bugfix`, `--issue-file` is given (clap enforces it,
//! exit 2); `--bug` only marks an `--issue-file` request as a bug fix; numbers are checked here so a bad
//! value is a usage error before anything else happens.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup};

use crate::domain::Kind;
use crate::workspace::DEFAULT_PROTECTED_PATHS;

/// `metagpt-bot run`: one local run on a repository on disk.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    ArgGroup::new("request").required(true).args(["requirement", "bugfix", "issue_file"])
))]
pub struct RunArgs {
    /// The repository on disk (not cloned, not pushed). MetaGPT's source folder is `<repo>/<repo-name>/`
    /// unless --source-dir says otherwise.
    #[arg(long, value_name = "PATH")]
    pub repo: PathBuf,
    /// A requirement: MetaGPT's requirement flow (PRD, design, tasks, code, review, tests).
    #[arg(long, value_name = "TEXT")]
    pub requirement: Option<String>,
    /// A bug report: MetaGPT's bug-fix flow (the requirement flow when the repository has no spec yet).
    #[arg(long, value_name = "TEXT")]
    pub bugfix: Option<String>,
    /// A file holding the issue text; a requirement unless --bug is given.
    #[arg(long, value_name = "FILE")]
    pub issue_file: Option<PathBuf>,
    /// With --issue-file: the text is a bug report.
    #[arg(long, requires = "issue_file")]
    pub bug: bool,
    /// Also write pr-body.md, cost.json, gates.json and trace.jsonl into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rounds of MetaGPT's team (a full incremental run needs 7 to 11).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub n_round: u32,
    /// The hard LLM budget of this run in USD; the gateway refuses calls past it.
    #[arg(long, default_value_t = 3.0, value_name = "USD")]
    pub max_cost_usd: f64,
    /// Let the engineer review each file it writes (true|false).
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub code_review: bool,
    /// Let QA write and run tests (true|false).
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub run_tests: bool,
    /// The source folder relative to the repository, when it is not `<repo>/<repo-name>/`.
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<String>,
    /// Wall-clock limit of the MetaGPT run, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub timeout: u64,
    /// Time-out of one attempt of an LLM call at the provider, in seconds; the gateway makes up to 4
    /// attempts, then the call (and the run) fails.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub llm_timeout: u64,
    /// Paths the run must not change (glob, `**` crosses folders); repeat for several.
    #[arg(long = "protected-path", value_name = "GLOB",
          default_values_t = DEFAULT_PROTECTED_PATHS.iter().map(|s| s.to_string()))]
    pub protected_paths: Vec<String>,
    /// Audit: replay this recorded llm.jsonl instead of calling the provider (no LLM key or URL needed).
    /// Every call must be one the recording holds, in its recorded order; the first other call is refused
    /// ("not in the recording: the run diverged at call N, step X"). Give the recorded run's
    /// --max-cost-usd to reproduce its budget.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// What the run is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: Kind,
    pub text: String,
}

impl Request {
    /// The first non-empty line, at most 100 characters: the run's title.
    pub fn title(&self) -> String {
        let line = self.text.lines().map(str::trim).find(|l| !l.is_empty());
        line.unwrap_or("local run").chars().take(100).collect()
    }
}

impl RunArgs {
    /// The request text and kind, or a usage error.
    pub fn request(&self) -> Result<Request, String> {
        let (kind, text) = match (&self.requirement, &self.bugfix, &self.issue_file) {
            (Some(text), _, _) => (Kind::Requirement, text.clone()),
            (_, Some(text), _) => (Kind::Bugfix, text.clone()),
            (_, _, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read --issue-file {}: {e}", file.display()))?;
                let kind = if self.bug {
                    Kind::Bugfix
                } else {
                    Kind::Requirement
                };
                (kind, text)
            }
            _ => return Err("give --requirement TEXT, --bugfix TEXT or --issue-file FILE".into()),
        };
        if text.trim().is_empty() {
            return Err("the request text is empty: say what MetaGPT should build or fix".into());
        }
        Ok(Request { kind, text })
    }

    /// Checks the numbers.
    pub fn check(&self) -> Result<(), String> {
        if !self.max_cost_usd.is_finite() || self.max_cost_usd <= 0.0 {
            return Err(format!(
                "--max-cost-usd must be a positive number of dollars, got {}",
                self.max_cost_usd
            ));
        }
        if self.n_round == 0 {
            return Err("--n-round must be at least 1".into());
        }
        if self.timeout == 0 {
            return Err("--timeout must be at least 1 second".into());
        }
        if self.llm_timeout == 0 {
            return Err("--llm-timeout must be at least 1 second".into());
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    pub fn llm_timeout(&self) -> Duration {
        Duration::from_secs(self.llm_timeout)
    }
}
