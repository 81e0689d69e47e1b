//! The Action's settings, read from the variables the GitHub Actions runner sets: the standard `GITHUB_*`
//! variables and the inputs of `action.yml` as `INPUT_<NAME>`.
//!
//! Invariants:
//! - Inputs are read by their exact variable name, upper case with hyphens kept (`INPUT_LLM-API-KEY`), as
//!   the runner passes them to a container; values are trimmed like the toolkit's `getInput`, and an empty
//!   value means the input's default (the runner sends unset inputs as empty strings).
//! - Every problem is collected, each with what to do about it, so one failed job shows all of them.
//! - Secrets (the GitHub token, the LLM key) live only in `SecretString`s; no message quotes them.
//! - The repository is cloned from `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git`.

use std::path::PathBuf;

use secrecy::SecretString;

/// Variables that may hold a secret: `main` masks each non-empty one before printing anything.
pub const SECRET_VARIABLES: &[&str] = &[
    "INPUT_GITHUB-TOKEN",
    "GITHUB_TOKEN",
    "INPUT_LLM-API-KEY",
    "INPUT_PRIVATE-KEY",
];

/// A GitHub App the job acts as (inputs `app-id` and `private-key`): the run then uses the App's
/// installation token, so its pushes start the repository's workflows (the job token's do not).
#[derive(Debug)]
pub struct AppCredentials {
    pub app_id: u64,
    pub private_key: SecretString,
}

/// Everything `metagpt-bot action` needs from its environment.
#[derive(Debug)]
pub struct ActionEnv {
    /// `GITHUB_EVENT_NAME`, e.g. `issues` or `issue_comment`.
    pub event_name: String,
    /// `GITHUB_EVENT_PATH`: the JSON payload of the event that started the job.
    pub event_path: PathBuf,
    /// `GITHUB_REPOSITORY`: `owner/name`.
    pub repository: String,
    /// `GITHUB_API_URL` without a trailing slash.
    pub api_url: String,
    /// `GITHUB_SERVER_URL` without a trailing slash.
    pub server_url: String,
    /// `GITHUB_OUTPUT`: where step outputs go.
    pub output_file: PathBuf,
    /// `GITHUB_STEP_SUMMARY`: where the job summary goes.
    pub summary_file: PathBuf,
    pub run_id: Option<String>,
    pub actor: Option<String>,
    pub github_token: SecretString,
    /// Inputs `app-id` and `private-key`: act as this App instead of with `github_token`.
    pub app: Option<AppCredentials>,
    pub llm_api_key: SecretString,
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_api_type: Option<String>,
    pub trigger_label: String,
    pub n_round: u32,
    pub max_cost_usd: f64,
    pub code_review: bool,
    pub run_tests: bool,
}

impl ActionEnv {
    /// Reads the environment through `lookup` (`std::env::var(..).ok()` in the binary). `Err` lists every
    /// problem, each with its fix.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<ActionEnv, Vec<String>> {
        let mut read = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let event_name = read.runner("GITHUB_EVENT_NAME");
        let event_path = read.runner("GITHUB_EVENT_PATH");
        let repository = read.runner("GITHUB_REPOSITORY");
        let output_file = read.runner("GITHUB_OUTPUT");
        let summary_file = read.runner("GITHUB_STEP_SUMMARY");
        if !repository.is_empty() && !is_full_name(&repository) {
            read.problem(format!(
                "GITHUB_REPOSITORY must be `owner/name`, got `{repository}`: leave it to the runner"
            ));
        }
        let api_url = read.url("GITHUB_API_URL", "https://api.github.com");
        let server_url = read.url("GITHUB_SERVER_URL", "https://github.com");
        let app = read.app();
        let github_token = match &app {
            // The App's installation token does everything; the job token is not needed.
            Some(_) => read
                .var("GITHUB_TOKEN")
                .or_else(|| read.input("github-token"))
                .map(SecretString::from),
            None => read.github_token(),
        };
        let llm_api_key = read.input("llm-api-key").map(SecretString::from);
        if llm_api_key.is_none() {
            read.problem(
                "input `llm-api-key` is required: add `llm-api-key: ${{ secrets.OPENAI_API_KEY }}` under \
                 `with:` in the workflow step, and the key as a repository secret"
                    .to_owned(),
            );
        }
        let llm_base_url = read.input("llm-base-url");
        if let Some(base) = &llm_base_url {
            read.check_url("input `llm-base-url`", base);
        }
        let env = ActionEnv {
            event_name,
            event_path: PathBuf::from(event_path),
            repository,
            api_url,
            server_url,
            output_file: PathBuf::from(output_file),
            summary_file: PathBuf::from(summary_file),
            run_id: (lookup)("GITHUB_RUN_ID").filter(|v| !v.is_empty()),
            actor: (lookup)("GITHUB_ACTOR").filter(|v| !v.is_empty()),
            github_token: github_token.unwrap_or_else(|| SecretString::from("")),
            app,
            llm_api_key: llm_api_key.unwrap_or_else(|| SecretString::from("")),
            llm_base_url,
            llm_model: read.input("llm-model"),
            llm_api_type: read.input("llm-api-type"),
            trigger_label: read
                .input("trigger-label")
                .unwrap_or_else(|| "metagpt".to_owned()),
            n_round: read.parsed("n-round", 20, "a whole number of rounds, at least 1", |v| {
                v.parse().ok().filter(|n| *n >= 1)
            }),
            max_cost_usd: read.parsed(
                "max-cost-usd",
                3.0,
                "a positive number of US dollars, e.g. 3 or 0.5",
                |v| v.parse().ok().filter(|n: &f64| n.is_finite() && *n > 0.0),
            ),
            code_review: read.parsed("code-review", true, "`true` or `false`", parse_bool),
            run_tests: read.parsed("run-tests", true, "`true` or `false`", parse_bool),
        };
        if read.problems.is_empty() {
            Ok(env)
        } else {
            Err(read.problems)
        }
    }

    /// Where the repository is cloned from: `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git`.
    pub fn clone_url(&self) -> String {
        format!("{}/{}.git", self.server_url, self.repository)
    }

    /// The trigger's synthetic delivery id: the workflow run, so logs of one job share it.
    pub fn delivery_id(&self) -> String {
        format!("actions-run-{}", self.run_id.as_deref().unwrap_or("local"))
    }
}

/// The non-empty values of [`SECRET_VARIABLES`], to print as `::add-mask::` before anything else; a
/// multi-line value (a PEM private key) line by line, as the runner masks one line per command.
pub fn secrets_to_mask(lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut masks = Vec::new();
    for value in SECRET_VARIABLES.iter().filter_map(|name| lookup(name)) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        masks.push(value.to_owned());
        if value.contains('\n') {
            masks.extend(
                value
                    .lines()
                    .map(str::trim)
                    .filter(|line| line.len() >= 8)
                    .map(str::to_owned),
            );
        }
    }
    masks
}

/// YAML 1.2 core-schema booleans, as the toolkit's `getBooleanInput` accepts them.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn is_full_name(repository: &str) -> bool {
    matches!(repository.split_once('/'), Some((owner, name))
        if !owner.is_empty() && !name.is_empty() && !name.contains('/'))
}

/// Reads variables and collects problems.
struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A variable the runner always sets.
    fn runner(&mut self, name: &str) -> String {
        self.var(name).unwrap_or_else(|| {
            self.problem(format!(
                "{name} is not set: run `metagpt-bot action` as a step of a GitHub Actions job (the runner \
                 sets it), or set it by hand to try the action locally"
            ));
            String::new()
        })
    }

    fn input(&self, name: &str) -> Option<String> {
        self.var(&format!("INPUT_{}", name.to_uppercase()))
    }

    fn url(&mut self, name: &str, default: &str) -> String {
        let value = self.var(name).unwrap_or_else(|| default.to_owned());
        self.check_url(name, &value);
        value.trim_end_matches('/').to_owned()
    }

    fn check_url(&mut self, what: &str, value: &str) {
        let ok = url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            self.problem(format!(
                "{what} must be an http(s) URL, got `{value}`: fix or remove it"
            ));
        }
    }

    /// Inputs `app-id` and `private-key`, both or neither.
    fn app(&mut self) -> Option<AppCredentials> {
        match (self.input("app-id"), self.input("private-key")) {
            (None, None) => None,
            (Some(id), Some(key)) => match id.parse::<u64>() {
                Ok(app_id) if app_id > 0 => Some(AppCredentials {
                    app_id,
                    private_key: SecretString::from(key),
                }),
                _ => {
                    self.problem(format!(
                        "input `app-id` must be the App's numeric id (its settings page → About → App \
                         ID), got `{id}`"
                    ));
                    None
                }
            },
            (Some(_), None) | (None, Some(_)) => {
                self.problem(
                    "inputs `app-id` and `private-key` go together: give both (e.g. `app-id: ${{ \
                     vars.METAGPT_APP_ID }}`, `private-key: ${{ secrets.METAGPT_APP_PRIVATE_KEY }}`) to \
                     act as your GitHub App, or neither to use the job token"
                        .to_owned(),
                );
                None
            }
        }
    }

    /// `github-token`, falling back to `GITHUB_TOKEN`.
    fn github_token(&mut self) -> Option<SecretString> {
        let token = self
            .input("github-token")
            .or_else(|| self.var("GITHUB_TOKEN"));
        if token.is_none() {
            self.problem(
                "input `github-token` is empty and GITHUB_TOKEN is not set: keep the default \
                 (`${{ github.token }}`) or pass a token that can write contents, issues, pull requests \
                 and checks"
                    .to_owned(),
            );
        }
        token.map(SecretString::from)
    }

    fn parsed<T>(
        &mut self,
        name: &str,
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> T {
        let Some(value) = self.input(name) else {
            return default;
        };
        parse(&value).unwrap_or_else(|| {
            self.problem(format!(
                "input `{name}` must be {expected}, got `{value}`: fix it under `with:` or remove it for \
                 the default"
            ));
            default
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::test_support::{job_vars, read, set};
    use super::*;

    /// A job's variables plus what the runner sends for inputs the workflow leaves out: empty strings.
    fn runner_vars() -> Vec<(String, String)> {
        let mut vars = job_vars(
            "/github/workflow/event.json",
            "/github/file_commands/set_output_1",
            "/github/file_commands/step_summary_1",
        );
        for name in [
            "INPUT_LLM-BASE-URL",
            "INPUT_LLM-MODEL",
            "INPUT_N-ROUND",
            "INPUT_CODE-REVIEW",
        ] {
            set(&mut vars, name, "");
        }
        vars
    }

    #[test]
    fn defaults_apply_to_unset_and_empty_inputs() {
        let env = read(&runner_vars()).unwrap();
        assert_eq!(env.event_name, "issues");
        assert_eq!(env.repository, "octo/hello");
        assert_eq!(env.api_url, "https://api.github.com");
        assert_eq!(env.server_url, "https://github.com");
        assert_eq!(env.clone_url(), "https://github.com/octo/hello.git");
        assert_eq!(env.delivery_id(), "actions-run-987");
        assert_eq!(env.github_token.expose_secret(), "ghs_job_token");
        assert_eq!(env.llm_api_key.expose_secret(), "sk-test-key");
        assert_eq!(env.llm_base_url, None);
        assert_eq!(env.llm_model, None);
        assert_eq!(env.trigger_label, "metagpt");
        assert_eq!(env.n_round, 20);
        assert_eq!(env.max_cost_usd, 3.0);
        assert!(env.code_review && env.run_tests);
    }

    #[test]
    fn inputs_are_read_by_their_exact_hyphenated_names() {
        let mut vars = runner_vars();
        for (k, v) in [
            ("INPUT_TRIGGER-LABEL", "ai"),
            ("INPUT_N-ROUND", " 7 "),
            ("INPUT_MAX-COST-USD", "0.5"),
            ("INPUT_CODE-REVIEW", "false"),
            ("INPUT_RUN-TESTS", "FALSE"),
            ("INPUT_LLM-BASE-URL", "https://llm.example/v1"),
            ("INPUT_LLM-MODEL", "gpt-4o-mini"),
            ("INPUT_LLM-API-TYPE", "openai"),
            // Underscore spellings are not what the runner sets and are not read.
            ("INPUT_TRIGGER_LABEL", "wrong"),
            ("GITHUB_SERVER_URL", "https://ghe.example/"),
            ("GITHUB_API_URL", "https://ghe.example/api/v3/"),
        ] {
            set(&mut vars, k, v);
        }
        let env = read(&vars).unwrap();
        assert_eq!(env.trigger_label, "ai");
        assert_eq!(env.n_round, 7);
        assert_eq!(env.max_cost_usd, 0.5);
        assert!(!env.code_review && !env.run_tests);
        assert_eq!(env.llm_base_url.as_deref(), Some("https://llm.example/v1"));
        assert_eq!(env.llm_model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(env.llm_api_type.as_deref(), Some("openai"));
        assert_eq!(env.api_url, "https://ghe.example/api/v3");
        assert_eq!(env.clone_url(), "https://ghe.example/octo/hello.git");
    }

    #[test]
    fn github_token_falls_back_to_the_job_token_variable() {
        let mut vars = runner_vars();
        set(&mut vars, "INPUT_GITHUB-TOKEN", "");
        set(&mut vars, "GITHUB_TOKEN", "ghs_fallback");
        assert_eq!(
            read(&vars).unwrap().github_token.expose_secret(),
            "ghs_fallback"
        );
    }

    #[test]
    fn every_problem_is_listed_with_its_fix() {
        let mut vars = runner_vars();
        for name in [
            "GITHUB_EVENT_PATH",
            "GITHUB_OUTPUT",
            "INPUT_GITHUB-TOKEN",
            "INPUT_LLM-API-KEY",
        ] {
            vars.retain(|(k, _)| k != name);
        }
        for (k, v) in [
            ("INPUT_N-ROUND", "0"),
            ("INPUT_MAX-COST-USD", "lots"),
            ("INPUT_RUN-TESTS", "yes"),
            ("GITHUB_REPOSITORY", "just-a-name"),
            ("INPUT_LLM-BASE-URL", "llm.example"),
        ] {
            set(&mut vars, k, v);
        }
        let problems = read(&vars).unwrap_err();
        let expected = [
            "GITHUB_EVENT_PATH is not set: run `metagpt-bot action` as a step",
            "GITHUB_OUTPUT is not set",
            "GITHUB_REPOSITORY must be `owner/name`, got `just-a-name`",
            "input `github-token` is empty and GITHUB_TOKEN is not set: keep the default",
            "input `llm-api-key` is required: add `llm-api-key: ${{ secrets.OPENAI_API_KEY }}`",
            "input `llm-base-url` must be an http(s) URL, got `llm.example`",
            "input `n-round` must be a whole number of rounds, at least 1, got `0`",
            "input `max-cost-usd` must be a positive number of US dollars, e.g. 3 or 0.5, got `lots`",
            "input `run-tests` must be `true` or `false`, got `yes`",
        ];
        for start in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(start)),
                "no problem starting {start:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }

    #[test]
    fn secrets_to_mask_are_the_non_empty_secret_variables() {
        let mut vars = runner_vars();
        set(&mut vars, "GITHUB_TOKEN", "  ");
        let secrets =
            secrets_to_mask(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
        assert_eq!(secrets, vec!["ghs_job_token", "sk-test-key"]);
    }
}

/// Test helpers: an [`ActionEnv`] built from a list of runner variables, as the runner would set them.
#[cfg(test)]
pub(super) mod test_support {
    use super::ActionEnv;

    /// The variables every job has, pointing at `event_path`, `output` and `summary`.
    pub fn job_vars(event_path: &str, output: &str, summary: &str) -> Vec<(String, String)> {
        [
            ("GITHUB_EVENT_NAME", "issues"),
            ("GITHUB_EVENT_PATH", event_path),
            ("GITHUB_REPOSITORY", "octo/hello"),
            ("GITHUB_OUTPUT", output),
            ("GITHUB_STEP_SUMMARY", summary),
            ("GITHUB_RUN_ID", "987"),
            ("GITHUB_ACTOR", "octocat"),
            ("INPUT_GITHUB-TOKEN", "ghs_job_token"),
            ("INPUT_LLM-API-KEY", "sk-test-key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Sets `name` to `value` in `vars` (adding it if absent).
    pub fn set(vars: &mut Vec<(String, String)>, name: &str, value: &str) {
        vars.retain(|(k, _)| k != name);
        vars.push((name.to_owned(), value.to_owned()));
    }

    pub fn read(vars: &[(String, String)]) -> Result<ActionEnv, Vec<String>> {
        ActionEnv::from_env(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }
}
