//! The queue scenarios (`queue/*.rs`) on SQLite, each on its own database file.

use super::TestDb;
use metagpt_bot::queue::{DeliveryOutcome, Queue, QueueOptions};

async fn fresh_db() -> Option<TestDb> {
    let folder = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}/queue.db", folder.path().display());
    Some(TestDb {
        url,
        keep: Some(Box::new(folder)),
    })
}

super::scenarios!(fresh_db);

#[tokio::test]
async fn first_start_creates_the_database_file_and_its_folder() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let file = folder.path().join("data/nested/metagpt-bot.db");
    let queue = Queue::connect(
        &format!("sqlite://{}", file.display()),
        QueueOptions::default(),
    )
    .await
    .expect("connect");
    assert!(file.is_file(), "{} was not created", file.display());
    let ignored = DeliveryOutcome::Ignored {
        reason: "ping".into(),
    };
    queue
        .record(super::delivery("first", ignored), None)
        .await
        .expect("record");
    drop(queue);
    let reopened = Queue::connect(
        &format!("sqlite://{}", file.display()),
        QueueOptions::default(),
    )
    .await
    .expect("reopen");
    assert!(
        reopened.delivery("first").await.expect("read").is_some(),
        "data lost across restarts"
    );
}

#[tokio::test]
async fn an_unknown_database_url_is_refused_with_the_accepted_forms() {
    let error = Queue::connect("mysql://localhost/db", QueueOptions::default())
        .await
        .expect_err("mysql refused");
    assert!(
        format!("{error:#}").contains("sqlite://"),
        "unhelpful error: {error:#}"
    );
}

#[tokio::test]
async fn restart_requeues_what_the_previous_process_left_running() {
    let db = fresh_db().await.expect("a database");
    let crashed = super::connect(&db.url).await;
    let id = super::enqueue(&crashed, "left-running", 1).await;
    crashed
        .claim("old-process", super::LONG_LEASE)
        .await
        .expect("claim")
        .expect("a job");
    drop(crashed);
    let restarted = super::connect(&db.url).await;
    assert_eq!(restarted.reconcile_on_start().await.expect("reconcile"), 1);
    let job = restarted
        .claim("new-process", super::LONG_LEASE)
        .await
        .expect("claim")
        .expect("taken again");
    assert_eq!((job.id, job.attempts), (id, 2));
    restarted.close().await;
    assert!(
        restarted.ping().await.is_err(),
        "a closed queue still answers"
    );
}
