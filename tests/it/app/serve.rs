//! `serve` end to end: a real listener on 127.0.0.1, a signed delivery over HTTP, the durable queue on
//! SQLite, a worker, and the real octocrab App client against the fake GitHub.

use crate::support::fake_github;
use crate::support::jobs;
use crate::support::webhook;

use std::time::Duration;

use fake_github::{FakeGitHub, Issue, TEST_APP_ID, User};
use metagpt_bot::config::Settings;
use metagpt_bot::faces::serve::serve_on;
use metagpt_bot::queue::{JobInfo, JobState, Queue, QueueOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const INSTALLATION: u64 = 11;
const REPO_ID: u64 = 4_200;

struct Running {
    github: FakeGitHub,
    base: String,
    database_url: String,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn github_with_issue() -> FakeGitHub {
    let github = FakeGitHub::start().await;
    {
        let mut state = github.state();
        let owner = User::new("octo", 100);
        state.add_installation(INSTALLATION, TEST_APP_ID, owner.clone());
        state.add_repo(INSTALLATION, REPO_ID, owner, "repo");
        let issue = Issue::open(
            5,
            "Add a CLI",
            "The tool needs a --version flag.",
            User::new("alice", 7),
        );
        state.add_issue("octo/repo", issue.with_labels(&["metagpt"]));
    }
    github
}

/// Starts `serve` on `database_url` (which the test may have prepared) against `github`.
async fn start(github: FakeGitHub, database_url: String, dir: tempfile::TempDir) -> Running {
    metagpt_bot::run::gateway::install_crypto_provider();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/test-app.pem"
    );
    let app_id = TEST_APP_ID.to_string();
    let api = github.api_url();
    let settings = Settings::from_pairs([
        ("APP_ID", app_id.as_str()),
        ("PRIVATE_KEY_PATH", key),
        ("WEBHOOK_SECRET", webhook::SECRET),
        ("GITHUB_API_URL", api.as_str()),
        ("DATABASE_URL", database_url.as_str()),
        ("WORKERS", "1"),
    ])
    .expect("valid settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve_on(settings, listener, shutdown.clone()));
    Running {
        github,
        base,
        database_url,
        shutdown,
        server,
        _dir: dir,
    }
}

fn temp_database() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bot.db", dir.path().display());
    (dir, url)
}

fn labeled_issue_5() -> Value {
    let mut payload =
        webhook::with_installation(webhook::labeled("metagpt", &["metagpt"]), INSTALLATION);
    webhook::set(&mut payload, "/issue/number", json!(5));
    webhook::set(&mut payload, "/repository/id", json!(REPO_ID));
    webhook::set(&mut payload, "/repository/name", json!("repo"));
    webhook::set(&mut payload, "/repository/owner/login", json!("octo"));
    payload
}

impl Running {
    async fn deliver(&self, event: &str, payload: &Value) -> (u16, Value) {
        webhook::post_signed(&self.base, event, payload).await
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("serve answers");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn wait_for(&self, job: i64, state: JobState) -> JobInfo {
        jobs::wait_for_job(&self.database_url, job, state, Duration::from_secs(30)).await
    }

    async fn stop(self) -> FakeGitHub {
        self.shutdown.cancel();
        self.server
            .await
            .expect("serve task")
            .expect("serve stops cleanly");
        self.github
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_issue_is_stored_then_the_issue_is_told_the_agent_settings_are_missing() {
    let (dir, url) = temp_database();
    let running = start(github_with_issue().await, url, dir).await;
    let (status, answer) = running.deliver("issues", &labeled_issue_5()).await;
    assert_eq!(status, 202, "{answer}");
    let job = answer["job_id"].as_i64().expect("the answer names the job");

    // This `serve` has App credentials but no LLM settings: the run cannot start, and says why.
    let info = running.wait_for(job, JobState::Failed).await;
    let reason = info.last_error.expect("the reason is kept");
    assert!(reason.contains("LLM_API_KEY is not set"), "{reason}");
    assert_eq!(info.attempts, 1, "a settings problem is not retried");
    let comments = running.github.state().comments_on("octo/repo", 5);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0]
            .body
            .starts_with("<!-- metagpt-bot:progress -->")
    );
    assert!(
        comments[0].body.contains("**Failed**"),
        "{}",
        comments[0].body
    );
    assert!(
        comments[0].body.contains("LLM_API_KEY"),
        "{}",
        comments[0].body
    );

    let (status, ready) = running.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    let (_, metrics) = running.get("/metrics").await;
    assert!(
        metrics
            .contains(r#"metagpt_bot_webhook_deliveries_total{event="issues",outcome="accepted"}"#),
        "{metrics}"
    );
    let github = running.stop().await;
    assert_eq!(
        github.minted_tokens().len(),
        1,
        "one installation token for the job"
    );
    github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_left_running_by_a_dead_process_runs_again_at_start() {
    let (dir, url) = temp_database();
    let job = {
        let queue = Queue::connect(&url, QueueOptions::default()).await.unwrap();
        let trigger = metagpt_bot::domain::Trigger {
            delivery_id: "before-crash".into(),
            installation_id: Some(INSTALLATION),
            repo: metagpt_bot::domain::RepoRef {
                id: REPO_ID,
                owner: "octo".into(),
                name: "repo".into(),
            },
            issue_number: 5,
            is_pull_request: false,
            work_issue: None,
            sender_id: 7,
            sender_login: "alice".into(),
            action: metagpt_bot::domain::Action::Run {
                kind: metagpt_bot::domain::Kind::Requirement,
                label: None,
            },
        };
        let delivery = metagpt_bot::queue::DeliveryRecord {
            delivery_id: "before-crash".into(),
            event: "issues".into(),
            action: Some("labeled".into()),
            outcome: metagpt_bot::queue::DeliveryOutcome::Accepted,
        };
        queue.record(delivery, Some(trigger)).await.unwrap();
        // A worker of the previous process took it with a long lease, then the process died.
        let claimed = queue
            .claim("dead-process#0", Duration::from_secs(3600))
            .await
            .unwrap()
            .unwrap();
        queue.close().await;
        claimed.id
    };
    let running = start(github_with_issue().await, url, dir).await;
    // Taken again (attempt 2); it then ends on the missing agent settings, which is not retried.
    let info = running.wait_for(job, JobState::Failed).await;
    assert_eq!(info.attempts, 2);
    running.stop().await.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_issue_fails_the_job_with_githubs_reason() {
    let (dir, url) = temp_database();
    let running = start(github_with_issue().await, url, dir).await;
    let mut payload = labeled_issue_5();
    webhook::set(&mut payload, "/issue/number", json!(404));
    let (status, answer) = running.deliver("issues", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let info = running
        .wait_for(answer["job_id"].as_i64().unwrap(), JobState::Failed)
        .await;
    let reason = info.last_error.expect("the reason is kept");
    assert!(reason.contains("404"), "{reason}");
    assert_eq!(info.attempts, 1, "a 404 is not retried");
    running.stop().await.assert_no_unexpected();
}
