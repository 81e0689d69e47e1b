//! Per-repository settings: `.github/metagpt.yml` (CONTRACT.md, last section), read from the default
//! branch of the repository an issue belongs to.
//!
//! Invariants: every key is optional and has a default ([`RepoConfig::default`]), so an empty file, a
//! file of comments only, or a missing file means the defaults. Unknown keys are errors (a typo must
//! never silently fall back to a default), and so are values of the wrong type or outside their range;
//! every error names its line and column (1-based) when the YAML gives one, and says what to write
//! instead. Parsing never panics and is bounded by the YAML parser's default budget (events, aliases,
//! scalar sizes). The file comes from the repository, so it is untrusted input: nothing here reads
//! the file system or the environment.

mod error;
mod validate;

pub use error::RepoConfigError;

/// Where a repository keeps its settings (the one home of the name: `marks`).
pub use crate::marks::SETTINGS_PATH as PATH;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::domain::Kind;
use crate::workspace::DEFAULT_PROTECTED_PATHS;

/// The settings a repository chose, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoConfig {
    /// The label that starts a run (default `metagpt`).
    pub trigger_label: String,
    /// Labels that make the run a bug fix (default `bug`, `bugfix`).
    pub bugfix_labels: Vec<String>,
    /// Where the code lives, relative to the repository root, for MetaGPT's incremental mode (default:
    /// MetaGPT's own `<repo>/<repo-name>/`).
    pub source_dir: Option<String>,
    /// Rounds of MetaGPT's team, 1 to 100 (default 20).
    pub n_round: u32,
    /// The hard LLM budget of one run in USD, above 0 (default 3.0).
    pub max_cost_usd: f64,
    /// Let the engineer review each file it writes (default true).
    pub code_review: bool,
    /// Let QA write and run tests (default true).
    pub run_tests: bool,
    /// Paths a run must not change, as globs where `**` crosses folders (default
    /// `.github/workflows/**`). Setting it replaces the default list.
    pub protected_paths: Vec<String>,
    /// The model to ask for instead of the operator's `LLM_MODEL` (default: the operator's).
    pub llm_model: Option<String>,
}

impl Default for RepoConfig {
    fn default() -> Self {
        Self {
            trigger_label: "metagpt".to_owned(),
            bugfix_labels: vec!["bug".to_owned(), "bugfix".to_owned()],
            source_dir: None,
            n_round: 20,
            max_cost_usd: 3.0,
            code_review: true,
            run_tests: true,
            protected_paths: DEFAULT_PROTECTED_PATHS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            llm_model: None,
        }
    }
}

/// The file as written: every key optional, each value with where it stands.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    trigger_label: Option<Spanned<String>>,
    bugfix_labels: Option<Vec<Spanned<String>>>,
    source_dir: Option<Spanned<String>>,
    n_round: Option<Spanned<i64>>,
    max_cost_usd: Option<Spanned<f64>>,
    code_review: Option<Spanned<bool>>,
    run_tests: Option<Spanned<bool>>,
    protected_paths: Option<Vec<Spanned<String>>>,
    llm_model: Option<Spanned<String>>,
}

impl RepoConfig {
    /// Whether `label` is this repository's trigger label (ASCII case-insensitive).
    pub fn is_trigger(&self, label: &str) -> bool {
        label.eq_ignore_ascii_case(&self.trigger_label)
    }

    /// Requirement or bug fix, from an issue's labels: a bug fix when one is among `bugfix_labels`
    /// (ASCII case-insensitive). Never decided by an LLM.
    pub fn kind_for(&self, labels: &[String]) -> Kind {
        let is_bug = labels.iter().any(|label| {
            self.bugfix_labels
                .iter()
                .any(|bug| bug.eq_ignore_ascii_case(label))
        });
        if is_bug {
            Kind::Bugfix
        } else {
            Kind::Requirement
        }
    }

    /// Parses the text of `.github/metagpt.yml`; the first problem found is the error.
    pub fn parse(text: &str) -> Result<RepoConfig, RepoConfigError> {
        if is_blank(text) {
            return Ok(RepoConfig::default());
        }
        let raw: Option<Raw> =
            serde_saphyr::from_str(text).map_err(|e| RepoConfigError::from_yaml(e, text))?;
        validate::settle(raw.unwrap_or_default())
    }
}

/// True for a document with nothing but blank lines, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

#[cfg(test)]
mod tests;
