use secrecy::ExposeSecret;

use super::*;
use crate::faces::action::test_support::{job_vars, read, set};

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
