use serde_json::{Value, json};

use super::*;
use crate::domain::{Kind, Request, RunRequest};
use crate::faces::action::test_support::{job_vars, read, set};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/webhooks/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The decision for `payload` delivered as event `event_name` to a job with `trigger-label` `label`.
fn decide_for(event_name: &str, payload: &Value, label: &str) -> Result<Decision, String> {
    let dir = tempfile::tempdir().unwrap();
    let event_path = dir.path().join("event.json");
    std::fs::write(&event_path, payload.to_string()).unwrap();
    let mut vars = job_vars(
        &event_path.display().to_string(),
        "/tmp/out",
        "/tmp/summary",
    );
    set(&mut vars, "GITHUB_EVENT_NAME", event_name);
    set(&mut vars, "GITHUB_RUN_ID", "55");
    set(&mut vars, "INPUT_TRIGGER-LABEL", label);
    let env = read(&vars).unwrap();
    env.decision()
}

fn labeled(label: &str, issue_labels: &[&str]) -> Value {
    let mut payload = fixture("issues.labeled");
    payload["label"]["name"] = json!(label);
    payload["issue"]["labels"] = json!(
        issue_labels
            .iter()
            .map(|name| json!({ "name": name }))
            .collect::<Vec<_>>()
    );
    payload
}

fn comment(body: &str) -> Value {
    let mut payload = fixture("issue_comment.created");
    payload["comment"]["body"] = json!(body);
    payload
}

fn trigger(decision: Result<Decision, String>) -> Trigger {
    match decision {
        Ok(Decision::Trigger(trigger)) => trigger,
        other => panic!("expected a trigger, got {other:?}"),
    }
}

fn ignored(decision: Result<Decision, String>) -> String {
    match decision {
        Ok(Decision::Ignore(reason)) => reason,
        other => panic!("expected nothing to do, got {other:?}"),
    }
}

#[test]
fn the_trigger_label_starts_a_requirement_run_without_an_installation() {
    let trigger = trigger(decide_for(
        "issues",
        &labeled("metagpt", &["metagpt"]),
        "metagpt",
    ));
    assert_eq!(
        trigger.request,
        Request::Run(RunRequest::Labeled {
            kind: Kind::Requirement,
            label: Some("metagpt".into())
        })
    );
    assert_eq!(trigger.installation_id, None);
    assert_eq!(trigger.delivery_id, "actions-run-55");
    assert_eq!(trigger.repo.full_name(), "Codertocat/Hello-World");
    assert_eq!(trigger.issue_number, 1);
    assert_eq!(trigger.sender_login, "Codertocat");
}

#[test]
fn a_bug_label_makes_it_a_bugfix_and_the_label_input_is_honoured() {
    let trigger = trigger(decide_for("issues", &labeled("AI", &["ai", "bug"]), "ai"));
    assert_eq!(
        trigger.request,
        Request::Run(RunRequest::Labeled {
            kind: Kind::Bugfix,
            label: Some("AI".into())
        })
    );
}

#[test]
fn another_label_is_nothing_to_do() {
    let reason = ignored(decide_for("issues", &labeled("bug", &["bug"]), "metagpt"));
    assert_eq!(reason, "label `bug` is not the trigger label `metagpt`");
}

#[test]
fn a_command_comment_is_an_iteration() {
    let body = "Thanks!\n\n/metagpt use a dataclass\n\nand keep the CLI";
    let trigger = trigger(decide_for("issue_comment", &comment(body), "metagpt"));
    // The fixture names installation 1; the Action does not act through an installation.
    assert_eq!(trigger.installation_id, None);
    match trigger.request {
        Request::Run(RunRequest::Iterate { feedback, .. }) => {
            assert_eq!(feedback, "use a dataclass\n\nand keep the CLI")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn quoted_commands_edited_comments_and_the_bots_own_comments_do_nothing() {
    let quoted = comment("> /metagpt stop\n\nwhy did it say that?");
    assert_eq!(
        ignored(decide_for("issue_comment", &quoted, "metagpt")),
        "comment has no /metagpt command"
    );
    let mut edited = fixture("issue_comment.edited");
    edited["comment"]["body"] = json!("/metagpt retry");
    assert!(ignored(decide_for("issue_comment", &edited, "metagpt")).contains("edited"));
    let mut by_bot = comment("/metagpt retry");
    by_bot["comment"]["user"]["login"] = json!("github-actions[bot]");
    assert_eq!(
        ignored(decide_for("issue_comment", &by_bot, "metagpt")),
        "comment written by the bot itself"
    );
}

#[test]
fn an_event_the_bot_does_not_handle_says_how_to_subscribe() {
    let reason = ignored(decide_for("workflow_dispatch", &json!({}), "metagpt"));
    assert!(
        reason.contains("`workflow_dispatch` is not a trigger"),
        "{reason}"
    );
    assert!(reason.contains("issue_comment"), "{reason}");
}

#[test]
fn a_malformed_event_file_is_an_error_naming_the_field() {
    let mut payload = labeled("metagpt", &[]);
    payload["issue"]["number"] = json!("one");
    let error = decide_for("issues", &payload, "metagpt").unwrap_err();
    assert!(error.contains("issue.number"), "{error}");
}

#[test]
fn trigger_is_none_when_there_is_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let event_path = dir.path().join("event.json");
    let mut vars = job_vars(
        &event_path.display().to_string(),
        "/tmp/out",
        "/tmp/summary",
    );
    set(&mut vars, "GITHUB_EVENT_NAME", "issues");
    let env = read(&vars).unwrap();
    std::fs::write(&event_path, labeled("bug", &["bug"]).to_string()).unwrap();
    assert_eq!(env.trigger(), Ok(None));
    std::fs::write(&event_path, labeled("metagpt", &[]).to_string()).unwrap();
    let trigger = env.trigger().unwrap().expect("a trigger");
    assert_eq!(
        trigger.request,
        Request::Run(RunRequest::Labeled {
            kind: Kind::Requirement,
            label: Some("metagpt".into())
        })
    );
}
