//! The flags of `metagpt-bot run` and how they are weighed against the repository's settings file.
//!
//! Invariants: exactly one of `--requirement`, `--bugfix`, `--issue-file` is given (clap enforces it,
//! exit 2); `--bug` only marks an `--issue-file` request as a bug fix; a flag marked `[file: KEY]` in
//! `--help` wins over that key of `.github/metagpt.yml` when given, else the file's value applies, then
//! the default ([`RunArgs::settings`]); numbers, folders and commands are checked by [`RunArgs::check`]
//! with the settings file's own rules, so a bad value is a usage error before anything else happens.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup};

use crate::domain::Kind;
use crate::repo_config::{self, RepoConfig};
use crate::run::RunSettings;

/// The run's settings once the flags, the file and the defaults are weighed ([`RunArgs::settings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub run: RunSettings,
    pub source_dir: Option<String>,
    /// MetaGPT's project folder from the settings file (`None`: decided by the layout).
    pub spec_dir: Option<String>,
    /// The model to ask for instead of `LLM_MODEL` (`None`: `LLM_MODEL`).
    pub llm_model: Option<String>,
}

// ---- the flags ----

/// `metagpt-bot run`: one local run on a repository on disk.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    ArgGroup::new("request").required(true).args(["requirement", "bugfix", "issue_file"])
))]
#[command(after_help = SETTINGS_HELP)]
pub struct RunArgs {
    /// The repository on disk (not cloned, not pushed). The run's branch starts from its checked-out
    /// commit; its checkout is switched back once the run has committed.
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
    /// Also write pr-body.md, cost.json, gates.json and trace.jsonl into this directory (a failed run:
    /// cost.json, trace.jsonl and failure.md).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rounds of MetaGPT's team (a full incremental run needs 7 to 11) [file: n_round; default: 20].
    #[arg(long, value_name = "N")]
    pub n_round: Option<u32>,
    /// The hard LLM budget of this run in USD; the gateway refuses calls past it [file: max_cost_usd;
    /// default: 3].
    #[arg(long, value_name = "USD")]
    pub max_cost_usd: Option<f64>,
    /// Let the engineer review each file it writes (true|false) [file: code_review; default: true].
    #[arg(long, action = ArgAction::Set, value_name = "BOOL")]
    pub code_review: Option<bool>,
    /// Let QA write and run tests (true|false) [file: run_tests; default: true].
    #[arg(long, action = ArgAction::Set, value_name = "BOOL")]
    pub run_tests: Option<bool>,
    /// The source folder relative to the repository [file: source_dir; default: detected —
    /// `<repo>/<repo-name>/` in MetaGPT's layout, else the one `src/<package>/` or top-level package].
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<String>,
    /// MetaGPT's project folder (its PRD, design, tasks and bookkeeping), relative to the repository;
    /// `.` is the root [file: spec_dir; default: the root in MetaGPT's layout, else `.metagpt`].
    #[arg(long, value_name = "DIR")]
    pub spec_dir: Option<String>,
    /// A command preparing the project's own environment before the agent (with the network); repeat for
    /// several; the flags replace the file's list [file: setup; default: the requirements files, `pip
    /// install -e .[test extras]`, pytest].
    #[arg(long = "setup", value_name = "COMMAND")]
    pub setup: Vec<String>,
    /// The command of the project's own suite (gate project_tests_pass) [file: project_tests; default:
    /// pytest over the root test files and the tests folder].
    #[arg(long, value_name = "COMMAND")]
    pub project_tests: Option<String>,
    /// The most lines the run may change outside MetaGPT's files (gate within_size) [file:
    /// max_changed_lines; default: 1000].
    #[arg(long, value_name = "N")]
    pub max_changed_lines: Option<u32>,
    /// The model to ask for instead of LLM_MODEL; it needs a known price [file: llm_model; default:
    /// LLM_MODEL]. Not with --replay (a replay asks for the recorded model).
    #[arg(long, value_name = "MODEL", conflicts_with = "replay")]
    pub llm_model: Option<String>,
    /// Wall-clock limit of the MetaGPT run, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub timeout: u64,
    /// Time-out of one attempt of an LLM call at the provider, in seconds; the gateway makes up to 4
    /// attempts, then the call (and the run) fails.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub llm_timeout: u64,
    /// Paths the run must not change (glob, `**` crosses folders); repeat for several; the flags replace
    /// the file's list [file: protected_paths; default: `.github/workflows/**`].
    #[arg(long = "protected-path", value_name = "GLOB")]
    pub protected_paths: Vec<String>,
    /// Audit: replay this recorded llm.jsonl instead of calling the provider (no LLM key or URL needed).
    /// Every call must be one the recording holds, in its recorded order; the first other call is refused
    /// ("not in the recording: the run diverged at call N, step X"). Give the recorded run's
    /// --max-cost-usd to reproduce its budget.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// How the flags and the repository's settings file are weighed, for `run --help`.
const SETTINGS_HELP: &str = "\
Settings: the repository's .github/metagpt.yml is read as the checked-out commit (HEAD) has it, like the \
App reads it from the default branch; an uncommitted edit is not used (and a dirty tree is refused). A flag \
marked [file: KEY] wins over that key when it is given on the command line; otherwise the file's value \
applies, then the default. A file that does not parse is a usage error (exit 2) naming its line and column.

Branches: the run's branch metagpt/local-<slug> starts from the checked-out commit (an existing one for \
the same request is reused). Nothing is spent and no branch is touched before the tree and its layout are \
checked. After a run that reached its verdict the checkout is switched back, the result stays on the run's \
branch; after a failed run the tree is left on the run's branch as MetaGPT wrote it, for inspection.";

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

    /// Checks the numbers given on the command line (the file's are checked when it is parsed).
    pub fn check(&self) -> Result<(), String> {
        if let Some(usd) = self.max_cost_usd
            && (!usd.is_finite() || usd <= 0.0)
        {
            return Err(format!(
                "--max-cost-usd must be a positive number of dollars, got {usd}"
            ));
        }
        if self.n_round == Some(0) {
            return Err("--n-round must be at least 1".into());
        }
        if self.timeout == 0 {
            return Err("--timeout must be at least 1 second".into());
        }
        if self.llm_timeout == 0 {
            return Err("--llm-timeout must be at least 1 second".into());
        }
        if let Some(model) = &self.llm_model
            && model.trim().is_empty()
        {
            return Err("--llm-model is empty: name a model, or leave the flag out".into());
        }
        if self.max_changed_lines == Some(0) {
            return Err("--max-changed-lines must be at least 1".into());
        }
        if let Some(dir) = &self.spec_dir {
            repo_config::checked_spec_dir(dir).map_err(|why| format!("--spec-dir: {why}"))?;
        }
        for command in self.setup.iter().chain(&self.project_tests) {
            repo_config::checked_command(command)
                .map_err(|why| format!("--setup/--project-tests: {why}"))?;
        }
        Ok(())
    }

    /// The run's settings: each flag given on the command line, else the key of the repository's
    /// settings `file` (whose defaults are the run's defaults).
    pub fn settings(&self, file: &RepoConfig) -> Chosen {
        let protected_paths = if self.protected_paths.is_empty() {
            file.protected_paths.clone()
        } else {
            self.protected_paths.clone()
        };
        Chosen {
            run: RunSettings {
                n_round: self.n_round.unwrap_or(file.n_round),
                max_cost_usd: self.max_cost_usd.unwrap_or(file.max_cost_usd),
                code_review: self.code_review.unwrap_or(file.code_review),
                run_tests: self.run_tests.unwrap_or(file.run_tests),
                timeout: self.timeout(),
                protected_paths,
                llm_timeout: self.llm_timeout(),
                setup: if self.setup.is_empty() {
                    file.setup.clone()
                } else {
                    Some(self.setup.iter().map(|c| c.trim().to_owned()).collect())
                },
                project_tests: self
                    .project_tests
                    .as_ref()
                    .map(|c| c.trim().to_owned())
                    .or_else(|| file.project_tests.clone()),
                max_changed_lines: self.max_changed_lines.unwrap_or(file.max_changed_lines),
            },
            source_dir: self.source_dir.clone().or_else(|| file.source_dir.clone()),
            // `check` has refused a --spec-dir that is not a folder inside the repository.
            spec_dir: self
                .spec_dir
                .as_deref()
                .and_then(|dir| repo_config::checked_spec_dir(dir).ok())
                .or_else(|| file.spec_dir.clone()),
            llm_model: self.llm_model.clone().or_else(|| file.llm_model.clone()),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    pub fn llm_timeout(&self) -> Duration {
        Duration::from_secs(self.llm_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(name = "metagpt-bot run")]
    struct Cli {
        #[command(flatten)]
        args: RunArgs,
    }

    fn args(flags: &[&str]) -> RunArgs {
        let mut argv = vec!["run", "--repo", "/tmp/shop", "--requirement", "x"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).expect("flags parse").args
    }

    #[test]
    fn a_flag_given_wins_over_the_file_and_the_file_over_the_default() {
        let file = RepoConfig::parse(
            "n_round: 9\nmax_cost_usd: 1.5\ncode_review: false\nsource_dir: src/shop\n\
             protected_paths: ['infra/**']\nllm_model: gpt-4o\n",
        )
        .unwrap();
        let from_file = args(&[]).settings(&file);
        assert_eq!(from_file.run.n_round, 9);
        assert_eq!(from_file.run.max_cost_usd, 1.5);
        assert!(!from_file.run.code_review);
        assert!(from_file.run.run_tests, "not in the file: the default");
        assert_eq!(from_file.run.protected_paths, ["infra/**"]);
        assert_eq!(from_file.source_dir.as_deref(), Some("src/shop"));
        assert_eq!(from_file.llm_model.as_deref(), Some("gpt-4o"));

        let flags = args(&[
            "--n-round",
            "4",
            "--max-cost-usd",
            "0.5",
            "--code-review",
            "true",
            "--run-tests",
            "false",
            "--source-dir",
            "shop",
            "--protected-path",
            "a/**",
            "--protected-path",
            "b/*",
            "--llm-model",
            "gpt-4o-mini",
        ])
        .settings(&file);
        assert_eq!(flags.run.n_round, 4);
        assert_eq!(flags.run.max_cost_usd, 0.5);
        assert!(flags.run.code_review && !flags.run.run_tests);
        assert_eq!(flags.run.protected_paths, ["a/**", "b/*"]);
        assert_eq!(flags.source_dir.as_deref(), Some("shop"));
        assert_eq!(flags.llm_model.as_deref(), Some("gpt-4o-mini"));

        let file = RepoConfig::parse(
            "spec_dir: docs/metagpt\nsetup: ['pip install -e .']\nproject_tests: make test\n\
             max_changed_lines: 50\n",
        )
        .unwrap();
        let from_file = args(&[]).settings(&file);
        assert_eq!(from_file.spec_dir.as_deref(), Some("docs/metagpt"));
        assert_eq!(
            from_file.run.setup,
            Some(vec!["pip install -e .".to_owned()])
        );
        assert_eq!(from_file.run.project_tests.as_deref(), Some("make test"));
        assert_eq!(from_file.run.max_changed_lines, 50);
        let flags = args(&[
            "--spec-dir",
            ".",
            "--setup",
            "pip install -r requirements.txt",
            "--setup",
            "pip install pytest",
            "--project-tests",
            "python -m pytest -q",
            "--max-changed-lines",
            "200",
        ]);
        flags.check().expect("valid flags");
        let flags = flags.settings(&file);
        assert_eq!(flags.spec_dir.as_deref(), Some(""), "`.` is the root");
        assert_eq!(
            flags.run.setup,
            Some(vec![
                "pip install -r requirements.txt".to_owned(),
                "pip install pytest".to_owned()
            ])
        );
        assert_eq!(
            flags.run.project_tests.as_deref(),
            Some("python -m pytest -q")
        );
        assert_eq!(flags.run.max_changed_lines, 200);

        let defaults = args(&[]).settings(&RepoConfig::default());
        assert_eq!(defaults.run.n_round, 20);
        assert_eq!(defaults.run.max_cost_usd, 3.0);
        assert_eq!(defaults.run.protected_paths, [".github/workflows/**"]);
        assert_eq!((defaults.source_dir, defaults.llm_model), (None, None));
    }

    #[test]
    fn the_help_says_which_flags_the_settings_file_backs_and_where_the_run_branches_from() {
        use clap::CommandFactory;
        insta::assert_snapshot!("run_help", Cli::command().render_help().to_string());
    }

    #[test]
    fn a_bad_project_flag_is_a_usage_error_saying_what_is_allowed() {
        let refused = |flags: &[&str]| args(flags).check().expect_err("refused");
        assert_eq!(
            refused(&["--spec-dir", "../elsewhere"]),
            "--spec-dir: `spec_dir` must be a folder inside the repository, relative to its root and \
             without `..` (e.g. `spec_dir: .metagpt`, or `spec_dir: .` for the root), not \"../elsewhere\""
        );
        assert!(
            refused(&["--setup", "  "]).starts_with("--setup/--project-tests: "),
            "a blank command"
        );
        assert_eq!(
            refused(&["--max-changed-lines", "0"]),
            "--max-changed-lines must be at least 1"
        );
    }
}
