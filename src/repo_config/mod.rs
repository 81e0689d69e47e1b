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
pub use validate::{checked_command, checked_spec_dir};

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
    /// MetaGPT's project folder, relative to the root (`""` is the root itself); `None` decides by the
    /// layout: the root for MetaGPT-shaped repositories, `.metagpt` otherwise.
    pub spec_dir: Option<String>,
    /// Shell commands that prepare the run's own environment for the project's tests, run before the
    /// agent with the network and without secrets (default: detected from the repository's files).
    pub setup: Option<Vec<String>>,
    /// The command of the repository's own test suite (default: detected for pytest and unittest).
    pub project_tests: Option<String>,
    /// The most lines a run may change outside MetaGPT's project folder (default 1000).
    pub max_changed_lines: u32,
}

/// [`RepoConfig::max_changed_lines`] unless a repository says otherwise.
pub const DEFAULT_MAX_CHANGED_LINES: u32 = 1000;

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
            spec_dir: None,
            setup: None,
            project_tests: None,
            max_changed_lines: DEFAULT_MAX_CHANGED_LINES,
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
    spec_dir: Option<Spanned<String>>,
    setup: Option<Vec<Spanned<String>>>,
    project_tests: Option<Spanned<String>>,
    max_changed_lines: Option<Spanned<i64>>,
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

/// Each rule of `.github/metagpt.yml`, as a repository owner would meet it.
#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> RepoConfigError {
        match RepoConfig::parse(text) {
            Ok(config) => panic!("{text:?} parsed as {config:?}"),
            Err(error) => error,
        }
    }

    fn position(e: &RepoConfigError) -> (Option<usize>, Option<usize>) {
        (e.line, e.column)
    }

    #[test]
    fn an_empty_file_or_only_comments_means_the_defaults() {
        for text in [
            "",
            "\n\n",
            "# settings\n   # none yet\n",
            "---\n# nothing\n",
            "---\n...\n",
        ] {
            assert_eq!(
                RepoConfig::parse(text).unwrap(),
                RepoConfig::default(),
                "{text:?}"
            );
        }
        let defaults = RepoConfig::default();
        assert_eq!(defaults.trigger_label, "metagpt");
        assert_eq!(defaults.bugfix_labels, ["bug", "bugfix"]);
        assert_eq!(defaults.source_dir, None);
        assert_eq!(defaults.n_round, 20);
        assert_eq!(defaults.max_cost_usd, 3.0);
        assert!(defaults.code_review && defaults.run_tests);
        assert_eq!(defaults.protected_paths, [".github/workflows/**"]);
        assert_eq!(defaults.llm_model, None);
    }

    #[test]
    fn every_key_can_be_set_and_unset_keys_keep_their_defaults() {
        let text = "trigger_label: ai\nbugfix_labels: [defect]\nsource_dir: src/app/\nn_round: 12\n\
                    max_cost_usd: 1.5\ncode_review: false\nrun_tests: no\nprotected_paths:\n  - infra/**\n\
                    llm_model: gpt-4o\n";
        let config = RepoConfig::parse(text).unwrap();
        assert_eq!(
            config,
            RepoConfig {
                trigger_label: "ai".into(),
                bugfix_labels: vec!["defect".into()],
                source_dir: Some("src/app".into()),
                n_round: 12,
                max_cost_usd: 1.5,
                code_review: false,
                run_tests: false,
                protected_paths: vec!["infra/**".into()],
                llm_model: Some("gpt-4o".into()),
                ..RepoConfig::default()
            }
        );
        let partial = RepoConfig::parse("n_round: 9\nsource_dir: ~\n").unwrap();
        assert_eq!(
            partial,
            RepoConfig {
                n_round: 9,
                ..RepoConfig::default()
            }
        );
    }

    #[test]
    fn an_unknown_key_is_reported_where_it_stands_with_the_likely_fix() {
        let e = error("trigger_label: metagpt\ncode_review: true\nn_rounds: 30\n");
        assert_eq!(position(&e), (Some(3), Some(1)));
        assert!(
            e.message.starts_with("unknown key `n_rounds`; did you mean `n_round`? Known keys: trigger_label, bugfix_labels,"),
            "{}",
            e.message
        );
        assert_eq!(
            e.to_string(),
            format!("`.github/metagpt.yml` line 3, column 1: {}", e.message)
        );
        let e = error("colour: blue\n");
        assert!(
            e.message
                .starts_with("unknown key `colour`; remove it. Known keys:"),
            "{}",
            e.message
        );
        let e = error("max-cost-usd: 2\n");
        assert!(
            e.message.contains("did you mean `max_cost_usd`?"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_at_that_value() {
        let e = error("code_review: true\nn_round: twenty\n");
        assert_eq!(position(&e), (Some(2), Some(10)), "{e}");
        assert!(
            e.message
                .starts_with("`n_round` must be a whole number from 1 to 100, e.g. `n_round: 20`"),
            "{e}"
        );
        let e = error("bugfix_labels: bug\n");
        assert_eq!(position(&e), (Some(1), Some(16)), "{e}");
        assert!(e.message.contains("`bugfix_labels: [bug, bugfix]`"), "{e}");
        let e = error("protected_paths:\n  - ok/**\n  - [nested]\n");
        assert_eq!(position(&e), (Some(3), Some(5)), "{e}");
        assert!(
            e.message
                .starts_with("`protected_paths` must be a list of globs"),
            "{e}"
        );
        let e = error("code_review: maybe\n");
        assert!(
            e.message.starts_with("`code_review` must be true or false"),
            "{e}"
        );
        let e = error("- a list\n- not a mapping\n");
        assert_eq!(position(&e), (Some(1), Some(1)), "{e}");
        assert!(
            e.message
                .contains("must be a mapping of settings such as `n_round: 20`"),
            "{e}"
        );
    }

    #[test]
    fn a_key_set_twice_is_an_error() {
        let e = error("n_round: 5\nn_round: 6\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("`n_round` is set twice"), "{e}");
    }

    #[test]
    fn n_round_is_from_1_to_100() {
        for ok in [1, 100] {
            assert_eq!(
                RepoConfig::parse(&format!("n_round: {ok}"))
                    .unwrap()
                    .n_round,
                ok
            );
        }
        for bad in ["0", "101", "-3", "99999999999"] {
            let e = error(&format!("run_tests: true\nn_round: {bad}\n"));
            assert_eq!(position(&e), (Some(2), Some(10)), "{e}");
            assert!(e.message.contains("from 1 to 100"), "{e}");
        }
    }

    #[test]
    fn max_cost_usd_is_a_finite_amount_above_zero() {
        assert_eq!(
            RepoConfig::parse("max_cost_usd: 0.25")
                .unwrap()
                .max_cost_usd,
            0.25
        );
        assert_eq!(
            RepoConfig::parse("max_cost_usd: 7").unwrap().max_cost_usd,
            7.0
        );
        for bad in ["0", "-1", ".inf", ".nan"] {
            let e = error(&format!("max_cost_usd: {bad}\n"));
            assert_eq!(position(&e), (Some(1), Some(15)), "{e}");
            assert!(e.message.contains("above 0"), "{e}");
        }
    }

    #[test]
    fn source_dir_is_a_relative_folder_inside_the_repository() {
        let dir = |text: &str| RepoConfig::parse(text).unwrap().source_dir;
        assert_eq!(dir("source_dir: app"), Some("app".into()));
        assert_eq!(dir("source_dir: ./src/app/"), Some("src/app".into()));
        for bad in ["/etc", "../elsewhere", "src/../../x", "''", "'C:\\code'"] {
            let e = error(&format!("source_dir: {bad}\n"));
            assert_eq!(position(&e), (Some(1), Some(13)), "{bad}: {e}");
            assert!(e.message.contains("inside the repository"), "{e}");
        }
    }

    #[test]
    fn protected_paths_must_be_valid_globs_and_replace_the_default() {
        let globs = RepoConfig::parse("protected_paths: ['.github/**', 'secrets/*.env']")
            .unwrap()
            .protected_paths;
        assert_eq!(globs, [".github/**", "secrets/*.env"]);
        let e = error("protected_paths:\n  - ok/**\n  - 'broken/[a'\n");
        assert_eq!(position(&e), (Some(3), Some(5)), "{e}");
        assert!(
            e.message.contains("broken/[a") && e.message.contains("write globs like"),
            "{e}"
        );
        let e = error("protected_paths: ['']\n");
        assert!(e.message.contains("empty glob"), "{e}");
    }

    #[test]
    fn labels_and_the_model_must_not_be_empty() {
        let e = error("trigger_label: '  '\n");
        assert_eq!(position(&e), (Some(1), Some(16)), "{e}");
        let e = error("bugfix_labels: [bug, '']\n");
        assert_eq!(e.line, Some(1), "{e}");
        assert!(e.message.contains("`bugfix_labels`"), "{e}");
        let long = "x".repeat(51);
        assert!(
            error(&format!("trigger_label: {long}\n"))
                .message
                .contains("1 to 50")
        );
        let e = error("llm_model: ''\n");
        assert!(e.message.contains("`llm_model` is empty"), "{e}");
    }

    #[test]
    fn control_characters_in_the_file_never_reach_the_message() {
        let e = error("\"\\u001b[31mtrigger\": x\n");
        assert!(
            e.message.starts_with("unknown key `\\u{1b}[31mtrigger`"),
            "{e:?}"
        );
        assert!(!e.to_string().chars().any(char::is_control), "{e:?}");
    }

    #[test]
    fn the_example_file_documents_every_key_and_parses() {
        let text = include_str!("../../config/metagpt.example.yml");
        assert_eq!(
            RepoConfig::parse(text).unwrap(),
            RepoConfig::default(),
            "the example shows the defaults"
        );
        for key in [
            "trigger_label",
            "bugfix_labels",
            "source_dir",
            "n_round",
            "max_cost_usd",
            "code_review",
            "run_tests",
            "protected_paths",
            "llm_model",
            "spec_dir",
            "setup",
            "project_tests",
            "max_changed_lines",
        ] {
            assert!(
                text.contains(&format!("\n{key}: ")) || text.contains(&format!("\n{key}:\n")),
                "the example lacks `{key}`"
            );
        }
    }

    #[test]
    fn the_trigger_label_is_compared_ascii_case_insensitively() {
        let mut config = RepoConfig::default();
        assert!(config.is_trigger("MetaGPT"));
        config.trigger_label = "ai-help".into();
        assert!(!config.is_trigger("metagpt"));
        assert!(config.is_trigger("AI-Help"));
    }

    #[test]
    fn the_keys_of_real_projects_are_read_and_checked() {
        let text = "spec_dir: .\nsetup:\n  - pip install -e .[test]\n  - pip install pytest\n\
                    project_tests: python -m pytest -q testing\nmax_changed_lines: 400\n";
        let config = RepoConfig::parse(text).unwrap();
        assert_eq!(config.spec_dir.as_deref(), Some(""));
        assert_eq!(
            config.setup.as_deref(),
            Some(
                &[
                    "pip install -e .[test]".to_owned(),
                    "pip install pytest".to_owned()
                ][..]
            )
        );
        assert_eq!(
            config.project_tests.as_deref(),
            Some("python -m pytest -q testing")
        );
        assert_eq!(config.max_changed_lines, 400);
        assert_eq!(
            RepoConfig::parse("spec_dir: .metagpt/\n")
                .unwrap()
                .spec_dir
                .as_deref(),
            Some(".metagpt")
        );
        let defaults = RepoConfig::default();
        assert_eq!(
            (defaults.spec_dir, defaults.setup, defaults.project_tests),
            (None, None, None)
        );
        assert_eq!(defaults.max_changed_lines, DEFAULT_MAX_CHANGED_LINES);

        let e = error("spec_dir: ../elsewhere\n");
        assert_eq!(position(&e), (Some(1), Some(11)), "{e}");
        assert!(
            e.message
                .starts_with("`spec_dir` must be a folder inside the repository"),
            "{e}"
        );
        let e = error("setup:\n  - \"  \"\n");
        assert!(
            e.message.starts_with("`setup` needs one command per entry"),
            "{e}"
        );
        let e = error("setup: pip install -e .\n");
        assert!(e.message.contains("a list of commands"), "{e}");
        let e = error("max_changed_lines: 0\n");
        assert!(
            e.message
                .starts_with("`max_changed_lines` must be a whole number above 0, not 0"),
            "{e}"
        );
    }
}
