//! `serve` end to end with App credentials but no agent settings: a real listener on 127.0.0.1, a signed
//! delivery over HTTP, the durable queue on SQLite, a worker, and the real octocrab App client against
//! the fake GitHub.

use std::time::Duration;

use metagpt_bot::domain::{Kind, RepoRef, Request, RunRequest, Trigger};
use metagpt_bot::queue::{DeliveryOutcome, DeliveryRecord, JobState, Queue, QueueOptions};
use serde_json::json;

use crate::support::bot::{Bot, FULL_NAME, INSTALLATION, ISSUE, REPO_ID};
use crate::support::webhook;

/// The world, and `serve` with App credentials only.
async fn serve_without_agent_settings() -> Bot {
    let mut bot = Bot::world().await;
    bot.without_agent_settings();
    bot.boot().await;
    bot
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_issue_is_stored_then_the_issue_is_told_the_agent_settings_are_missing() {
    let bot = serve_without_agent_settings().await;
    let (status, answer) = bot.deliver_answer("issues", &bot.labeled_event()).await;
    assert_eq!(status, 202, "{answer}");
    let job = answer["job_id"].as_i64().expect("the answer names the job");

    // This `serve` has App credentials but no LLM settings: the run cannot start, and says why.
    let info = bot.wait_for(job, JobState::Failed).await;
    let reason = info.last_error.expect("the reason is kept");
    assert!(reason.contains("LLM_API_KEY is not set"), "{reason}");
    assert_eq!(info.attempts, 1, "a settings problem is not retried");
    let comments = bot.github.state().comments_on(FULL_NAME, ISSUE);
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

    let (status, ready) = bot.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    let (_, metrics) = bot.get("/metrics").await;
    assert!(
        metrics
            .contains(r#"metagpt_bot_webhook_deliveries_total{event="issues",outcome="accepted"}"#),
        "{metrics}"
    );
    let mut bot = bot;
    bot.halt().await;
    assert_eq!(
        bot.github.minted_tokens().len(),
        1,
        "one installation token for the job"
    );
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_left_running_by_a_dead_process_runs_again_at_start() {
    let mut bot = Bot::world().await;
    let job = {
        let queue = Queue::connect(bot.database_url(), QueueOptions::default())
            .await
            .unwrap();
        let trigger = Trigger {
            delivery_id: "before-crash".into(),
            installation_id: Some(INSTALLATION),
            repo: RepoRef {
                id: REPO_ID,
                owner: "octo".into(),
                name: "shop".into(),
            },
            issue_number: ISSUE,
            is_pull_request: false,
            work_issue: None,
            sender_id: 7,
            sender_login: "alice".into(),
            request: Request::Run(RunRequest::Labeled {
                kind: Kind::Requirement,
                label: None,
            }),
        };
        let delivery = DeliveryRecord {
            delivery_id: "before-crash".into(),
            event: "issues".into(),
            action: Some("labeled".into()),
            outcome: DeliveryOutcome::Accepted,
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
    bot.without_agent_settings();
    bot.boot().await;
    // Taken again (attempt 2); it then ends on the missing agent settings, which is not retried.
    let info = bot.wait_for(job, JobState::Failed).await;
    assert_eq!(info.attempts, 2);
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_issue_fails_the_job_with_githubs_reason() {
    let bot = serve_without_agent_settings().await;
    let mut payload = bot.labeled_event();
    webhook::set(&mut payload, "/issue/number", json!(404));
    let (status, answer) = bot.deliver_answer("issues", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let info = bot
        .wait_for(answer["job_id"].as_i64().unwrap(), JobState::Failed)
        .await;
    let reason = info.last_error.expect("the reason is kept");
    assert!(reason.contains("404"), "{reason}");
    assert_eq!(info.attempts, 1, "a 404 is not retried");
    bot.finish().await;
}

/// A root `serve` whose agent runs as its own user (`AGENT_UID`, default 65534) makes the App's key
/// file, `.env` and the database, left readable by others, unreadable to that user once it has read them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_bot_closes_its_key_and_database_to_the_agents_user() {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: the agent runs as its own user only when the bot is root");
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut bot = Bot::world().await;
    let key = bot.fixture.root.path().join(crate::support::bot::APP_KEY);
    let db = bot.fixture.root.path().join("bot.db");
    std::fs::write(&db, "").expect("an empty database file, as an operator might create it");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let env_file = bot.fixture.root.path().join("config/.env");
    std::fs::create_dir_all(env_file.parent().unwrap()).expect("config folder");
    std::fs::write(&env_file, "LLM_API_KEY=sk-in-dot-env\n")
        .expect("a .env as an operator writes it");
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    bot.set("AGENT_UID", "65534");
    bot.boot().await;
    let closed = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|m| m.mode() & 0o077 == 0 && m.uid() == 0)
    };
    crate::support::poll_until(
        "the key, .env and the database closed to others",
        Duration::from_secs(30),
        || closed(&key) && closed(&db) && closed(&env_file),
    )
    .await;
    bot.finish().await;
}
