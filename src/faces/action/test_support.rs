//! Test helpers: an [`ActionEnv`] built from a list of runner variables, as the runner would set them.

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
