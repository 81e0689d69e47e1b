//! Scenario tests: signed `@octokit/webhooks-examples` payloads that must be ignored (other labels, other
//! events, edited or non-command comments, commands in code or quotes, the bot's own comments). Each answers
//! 200 with a reason, is recorded as ignored, and leaves no job in the database.

use crate::support::webhook;

use axum::http::StatusCode;
use metagpt_bot::queue::DeliveryOutcome;
use serde_json::json;
use webhook::{Harness, comment, delivery_id, fixture, labeled, set, with_installation};

/// Each ignored delivery answers 200 with a reason containing `reason`, is recorded as ignored, and
/// leaves no job.
async fn assert_ignored(harness: &Harness, event: &str, payload: serde_json::Value, reason: &str) {
    let delivery = delivery_id();
    let answer = harness.deliver_as(event, &delivery, &payload).await;
    assert_eq!(answer.status, StatusCode::OK, "{event}: {}", answer.text);
    assert_eq!(answer.json()["outcome"], "ignored", "{event}");
    let said = answer.json()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        said.contains(reason),
        "{event}: reason {said:?} should mention {reason:?}"
    );
    let stored = harness.recorded_without_job(&delivery, event).await;
    assert!(
        matches!(stored.outcome, DeliveryOutcome::Ignored { .. }),
        "{event}: {stored:?}"
    );
}

#[tokio::test]
async fn labels_that_are_not_triggers_are_ignored() {
    let harness = Harness::new().await;
    // Another label is a label check (triggers.rs), but not on a closed issue or a pull request.
    let mut closed = labeled("documentation", &["documentation"]);
    set(&mut closed, "/issue/state", json!("closed"));
    assert_ignored(&harness, "issues", closed, "is closed").await;
    let mut pr = labeled("documentation", &["documentation"]);
    pr["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"});
    assert_ignored(&harness, "issues", pr, "pull request").await;
    assert_ignored(
        &harness,
        "issues",
        labeled("bug", &["metagpt", "bug"]),
        "already has `metagpt`",
    )
    .await;
    let mut closed = labeled("metagpt", &["metagpt"]);
    set(&mut closed, "/issue/state", json!("closed"));
    assert_ignored(&harness, "issues", closed, "is closed").await;
    let mut pr = labeled("metagpt", &["metagpt"]);
    pr["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"});
    assert_ignored(&harness, "issues", pr, "pull request").await;
}

#[tokio::test]
async fn without_label_checks_another_label_is_ignored() {
    let harness = Harness::with_config(|config| config.label_checks = false).await;
    assert_ignored(
        &harness,
        "issues",
        with_installation(fixture("issues.labeled"), 42),
        "not the trigger label",
    )
    .await;
}

#[tokio::test]
async fn comments_that_are_not_commands_are_ignored() {
    let harness = Harness::new().await;
    let mut edited = fixture("issue_comment.edited");
    set(&mut edited, "/comment/body", json!("/metagpt retry"));
    assert_ignored(&harness, "issue_comment", edited, "issue_comment.edited").await;
    assert_ignored(
        &harness,
        "issue_comment",
        comment("Looks great, thanks!"),
        "no /metagpt command",
    )
    .await;
    assert_ignored(
        &harness,
        "issue_comment",
        comment("```\n/metagpt retry\n```"),
        "no /metagpt command",
    )
    .await;
    assert_ignored(
        &harness,
        "issue_comment",
        comment("> /metagpt retry\n\nwhy?"),
        "no /metagpt command",
    )
    .await;
    assert_ignored(
        &harness,
        "issue_comment",
        comment("run `/metagpt retry`"),
        "no /metagpt command",
    )
    .await;
    assert_ignored(
        &harness,
        "issue_comment",
        comment("/metagpt"),
        "empty command",
    )
    .await;
}

#[tokio::test]
async fn the_bots_own_comments_are_ignored() {
    let harness = Harness::with_config(|config| {
        config.app_id = Some(777);
        config.bot_login = Some("metagpt-bot[bot]".to_owned());
    })
    .await;
    let marked = comment("Run finished.\n/metagpt retry\n<!-- metagpt-bot:progress -->");
    assert_ignored(&harness, "issue_comment", marked, "the bot itself").await;
    let mut by_app = comment("/metagpt retry");
    set(
        &mut by_app,
        "/comment/performed_via_github_app",
        json!({"id": 777, "slug": "metagpt-bot"}),
    );
    assert_ignored(&harness, "issue_comment", by_app, "the bot itself").await;
    let mut by_login = comment("/metagpt retry");
    set(
        &mut by_login,
        "/comment/user/login",
        json!("MetaGPT-Bot[bot]"),
    );
    set(&mut by_login, "/sender/login", json!("MetaGPT-Bot[bot]"));
    assert_ignored(&harness, "issue_comment", by_login, "the bot itself").await;
}

#[tokio::test]
async fn other_events_are_recorded_and_ignored() {
    let harness = Harness::new().await;
    assert_ignored(&harness, "star", fixture("star.created"), "not handled").await;
    assert_ignored(
        &harness,
        "pull_request",
        fixture("pull_request.opened"),
        "pull_request.opened",
    )
    .await;
    assert_ignored(
        &harness,
        "installation",
        fixture("installation.created"),
        "installation.created",
    )
    .await;
    let added = fixture("installation_repositories.added");
    assert_ignored(
        &harness,
        "installation_repositories",
        added,
        "installation_repositories.added",
    )
    .await;
    assert_ignored(&harness, "ping", fixture("ping"), "ping").await;
}
