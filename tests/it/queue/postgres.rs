//! The queue scenarios (`queue/*.rs`) on a real Postgres server, each test on a database of its own.
//!
//! `TEST_DATABASE_URL` names a server where the tests may create databases (`scripts/test-postgres.sh`
//! starts one). Unset, the tests are skipped with a notice, except under CI where that is an error.

use std::str::FromStr;

use super::TestDb;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

async fn fresh_db() -> Option<TestDb> {
    let Ok(server) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TEST_DATABASE_URL is not set, but CI is: the Postgres queue tests must run in CI. \
             Start a server with `scripts/test-postgres.sh` and export the line it prints."
        );
        eprintln!(
            "SKIPPED: Postgres queue test (set TEST_DATABASE_URL, e.g. via scripts/test-postgres.sh)"
        );
        return None;
    };
    let name = format!("queue_test_{:016x}", rand::random::<u64>());
    let options =
        PgConnectOptions::from_str(&server).expect("TEST_DATABASE_URL is a postgres:// URL");
    let mut admin = PgConnection::connect_with(&options)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let create = format!("CREATE DATABASE {name}"); // a name we generated: safe to splice
    sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    Some(TestDb {
        url: url.to_string(),
        keep: None,
    })
}

super::scenarios!(fresh_db);

#[tokio::test]
async fn start_up_reconciliation_leaves_other_machines_live_jobs_alone() {
    let Some(db) = fresh_db().await else { return };
    let elsewhere = super::connect(&db.url).await;
    let id = super::enqueue(&elsewhere, "live-elsewhere", 1).await;
    let job = elsewhere
        .claim("machine-a", super::LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    let starting = super::connect(&db.url).await;
    assert_eq!(starting.reconcile_on_start().await.expect("reconcile"), 0);
    assert_eq!(
        super::state_of(&starting, id).await,
        metagpt_bot::queue::JobState::Running
    );
    elsewhere
        .complete(&job, &serde_json::json!({}))
        .await
        .expect("the live worker still owns its job");
}
