//! `metagpt-bot action` as the runner starts it: a clean environment with the runner's variables, the
//! inputs as `INPUT_*`, an event file from the vendored `@octokit/webhooks-examples` payloads.

use crate::support::action_job;
use crate::support::webhook;

use action_job::{ActionJob, Finished, LLM_KEY, TOKEN};
use serde_json::json;
use webhook::{comment, fixture, labeled};

/// The masks come first and no line, on stdout or stderr, shows a secret.
fn assert_secrets_masked_first(finished: &Finished, secrets: &[&str]) {
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let masks: Vec<String> = secrets.iter().map(|s| format!("::add-mask::{s}")).collect();
    assert!(lines.len() >= masks.len(), "{finished:#?}");
    assert_eq!(lines[..masks.len()], masks, "{finished:#?}");
    for secret in secrets {
        let after_masks = lines[masks.len()..].join("\n");
        assert!(
            !after_masks.contains(secret),
            "{secret} printed: {finished:#?}"
        );
        assert!(
            !finished.stderr.contains(secret),
            "{secret} on stderr: {finished:#?}"
        );
        assert!(!finished.outputs.contains(secret) && !finished.summary.contains(secret));
    }
}

fn errors(finished: &Finished) -> Vec<&str> {
    finished
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error title=MetaGPT action misconfigured::"))
        .collect()
}

#[test]
fn missing_inputs_exit_2_with_one_error_per_input() {
    let mut job = ActionJob::new("issues", &labeled("metagpt", &["metagpt"]));
    job.set("INPUT_LLM-API-KEY", "")
        .remove("INPUT_GITHUB-TOKEN");
    let finished = job.run();
    assert_eq!(finished.code, Some(2), "{finished:#?}");
    let errors = errors(&finished);
    assert_eq!(errors.len(), 2, "{finished:#?}");
    assert!(errors[0].contains("input `github-token` is empty and GITHUB_TOKEN is not set"));
    assert!(errors[1].contains("input `llm-api-key` is required"));
    assert_eq!(finished.outputs, "", "nothing ran, so no outputs");
}

#[test]
fn missing_runner_variables_and_bad_inputs_are_all_reported() {
    let mut job = ActionJob::new("issues", &labeled("metagpt", &["metagpt"]));
    job.remove("GITHUB_EVENT_PATH")
        .remove("GITHUB_REPOSITORY")
        .set("INPUT_N-ROUND", "twenty")
        .set("INPUT_CODE-REVIEW", "maybe");
    let finished = job.run();
    assert_eq!(finished.code, Some(2), "{finished:#?}");
    let errors = errors(&finished).join("\n");
    for named in [
        "GITHUB_EVENT_PATH is not set",
        "GITHUB_REPOSITORY is not set",
        "input `n-round` must be",
        "input `code-review` must be `true` or `false`, got `maybe`",
    ] {
        assert!(errors.contains(named), "{named:?} missing in {finished:#?}");
    }
    assert_secrets_masked_first(&finished, &[TOKEN, LLM_KEY]);
}

#[test]
fn an_unrelated_label_is_nothing_to_do_with_empty_outputs_and_a_one_line_summary() {
    let finished = ActionJob::new("issues", &labeled("bug", &["bug"])).run();
    assert_eq!(finished.code, Some(0), "{finished:#?}");
    assert_secrets_masked_first(&finished, &[TOKEN, LLM_KEY]);
    assert!(
        finished
            .stdout
            .contains("::notice::nothing to do: label `bug` is not the trigger label `metagpt`"),
        "{finished:#?}"
    );
    assert_eq!(
        finished.outputs,
        "pr-number=\npr-url=\ncost-usd=0\ngates-passed=\nbranch-name=\nevidence-dir=\n"
    );
    assert_eq!(
        finished.summary,
        "MetaGPT: nothing to do: label `bug` is not the trigger label `metagpt`\n"
    );
}

#[test]
fn the_trigger_label_input_changes_what_counts() {
    let mut job = ActionJob::new("issues", &labeled("metagpt", &["metagpt"]));
    job.set("INPUT_TRIGGER-LABEL", "ai-please");
    let finished = job.run();
    assert_eq!(finished.code, Some(0), "{finished:#?}");
    assert!(
        finished
            .summary
            .contains("not the trigger label `ai-please`")
    );
}

#[test]
fn comments_without_a_command_edited_comments_and_quoted_commands_do_nothing() {
    let mut edited = fixture("issue_comment.edited");
    edited["comment"]["body"] = json!("/metagpt retry");
    for (payload, reason) in [
        (
            comment("Looks good to me"),
            "comment has no /metagpt command",
        ),
        (
            comment("> /metagpt stop\n\nwhy?"),
            "comment has no /metagpt command",
        ),
        (edited, "issue_comment.edited is not a trigger"),
    ] {
        let finished = ActionJob::new("issue_comment", &payload).run();
        assert_eq!(finished.code, Some(0), "{finished:#?}");
        assert!(finished.summary.contains(reason), "{reason}: {finished:#?}");
        assert!(
            finished
                .outputs
                .ends_with("gates-passed=\nbranch-name=\nevidence-dir=\n")
        );
    }
}

#[test]
fn the_job_token_variable_is_used_and_masked_when_the_input_is_empty() {
    let mut job = ActionJob::new("issues", &labeled("bug", &["bug"]));
    job.set("INPUT_GITHUB-TOKEN", "")
        .set("GITHUB_TOKEN", "ghs_fromEnv789");
    let finished = job.run();
    assert_eq!(finished.code, Some(0), "{finished:#?}");
    assert_secrets_masked_first(&finished, &["ghs_fromEnv789", LLM_KEY]);
}

#[test]
fn an_event_file_that_does_not_match_the_event_name_exits_2() {
    let finished = ActionJob::new("issues", &fixture("ping")).run();
    assert_eq!(finished.code, Some(2), "{finished:#?}");
    let errors = errors(&finished).join("\n");
    assert!(
        errors.contains("malformed `issues` payload"),
        "{finished:#?}"
    );
    assert!(errors.contains("GITHUB_EVENT_NAME"), "{finished:#?}");
}

#[test]
fn an_event_the_action_does_not_handle_is_nothing_to_do() {
    let finished = ActionJob::new("push", &json!({"ref": "refs/heads/main"})).run();
    assert_eq!(finished.code, Some(0), "{finished:#?}");
    assert!(finished.summary.contains("event `push` is not a trigger"));
}
