//! Check runs, the GHES path prefix, an Action's token client, and the fake's strictness.

use std::sync::Arc;

use metagpt_bot::github::{Conclusion, NewCheckRun};
use octocrab::Octocrab;

use super::fake_github::{ACTIONS_BOT_LOGIN, FakeGitHub};
use super::{FULL_NAME, INSTALLATION, OWNER, REPO, client_for, repo, world};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const LIMIT: usize = 65_535;

#[tokio::test]
async fn a_check_run_is_created_completed_and_an_oversized_summary_is_cut() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let client = client_for(&fake).await;
    let summary = format!(
        "| gate | result |\n{}",
        "| tests | passed ✓ |\n".repeat(4_000)
    );
    assert!(
        summary.chars().count() > LIMIT,
        "the fake would refuse it whole"
    );

    let run = repo(&client, OWNER, REPO)
        .create_check_run(&NewCheckRun {
            name: "MetaGPT quality gates",
            head_sha: SHA,
            conclusion: Conclusion::Failure,
            title: "2 of 5 gates failed",
            summary: &summary,
            text: Some("details"),
            details_url: Some("https://example.com/runs/1"),
        })
        .await
        .expect("check run");

    assert!(
        run.html_url.ends_with(&format!("/runs/{}", run.id)),
        "{}",
        run.html_url
    );
    let runs = fake.state().check_runs_for(SHA);
    assert_eq!(runs.len(), 1);
    let recorded = &runs[0];
    assert_eq!(recorded.id, run.id);
    assert_eq!(recorded.repo, FULL_NAME);
    assert_eq!(recorded.name, "MetaGPT quality gates");
    assert_eq!(recorded.status, "completed");
    assert_eq!(recorded.conclusion.as_deref(), Some("failure"));
    assert!(recorded.completed_at.is_some());
    assert_eq!(recorded.title.as_deref(), Some("2 of 5 gates failed"));
    assert_eq!(recorded.text.as_deref(), Some("details"));
    assert_eq!(
        recorded.details_url.as_deref(),
        Some("https://example.com/runs/1")
    );
    let cut = recorded.summary.as_deref().expect("summary");
    assert_eq!(cut.chars().count(), LIMIT);
    assert!(cut.starts_with("| gate | result |\n| tests | passed ✓ |"));
    assert!(
        cut.ends_with("… (truncated; see the evidence files)"),
        "{}",
        &cut[cut.len() - 80..]
    );
}

#[tokio::test]
async fn operations_work_under_a_ghes_path_prefix() {
    let fake = FakeGitHub::start_with_prefix("/api/v3").await;
    world(&fake);
    let client = client_for(&fake).await;

    let repository = repo(&client, OWNER, REPO).repository().await.expect("repo");
    let comment = repo(&client, OWNER, REPO)
        .create_comment(1, "hello")
        .await
        .expect("comment");

    assert_eq!(repository.full_name, FULL_NAME);
    assert_eq!(fake.state().comments_on(FULL_NAME, 1)[0].id, comment.id);
    let paths: Vec<String> = fake
        .requests()
        .iter()
        .map(|request| request.path.clone())
        .filter(|path| path.contains("/repos/"))
        .collect();
    assert_eq!(
        paths,
        [
            "/api/v3/repos/octo-org/widgets",
            "/api/v3/repos/octo-org/widgets/issues/1/comments"
        ]
    );
}

#[tokio::test]
async fn an_action_token_client_acts_as_github_actions() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    fake.state().add_static_token("ghs_job_token", INSTALLATION);
    let client = Octocrab::builder()
        .base_uri(fake.api_url())
        .expect("base URL")
        .personal_token("ghs_job_token".to_owned())
        .build()
        .map(Arc::new)
        .expect("token client");

    let comment = repo(&client, OWNER, REPO)
        .create_comment(1, "from the Action")
        .await
        .expect("comment");

    assert_eq!(comment.user_login, ACTIONS_BOT_LOGIN);
    let wrong = Octocrab::builder()
        .base_uri(fake.api_url())
        .expect("base URL")
        .personal_token("ghs_other".to_owned())
        .build()
        .map(Arc::new)
        .expect("token client");
    let refused = repo(&wrong, OWNER, REPO).repository().await;
    assert_eq!(refused.expect_err("unknown token").status(), Some(401));
}

#[tokio::test]
async fn a_body_github_does_not_document_is_caught_even_when_the_client_copes() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let client = client_for(&fake).await;

    let answer: Result<serde_json::Value, _> = client
        .post(
            "/repos/octo-org/widgets/issues/1/comments",
            Some(&serde_json::json!({ "body": "hi", "labels": ["x"] })),
        )
        .await;

    assert!(answer.is_err(), "GitHub answers 422");
    let unexpected = fake.take_unexpected();
    assert_eq!(unexpected.len(), 1, "{unexpected:?}");
    assert!(
        unexpected[0].contains("unknown field `labels`"),
        "{unexpected:?}"
    );
}
