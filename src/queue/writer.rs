//! Group commit: one writer turns many concurrent [`super::Queue::record`] calls into one transaction, so a
//! burst of deliveries shares a single commit (one fsync on SQLite, one WAL flush on Postgres) instead of
//! paying one each. SQLite's writer is an OS thread of its own owning one rusqlite connection
//! ([`spawn_sqlite`]): every statement runs in-process on that thread with cached prepared statements, with
//! no hop to a driver thread per statement (which made recording a delivery cost more CPU than everything
//! else at intake). Postgres's writer is a tokio task on the pool ([`spawn_postgres`]). Both take
//! [`Message`]s from one bounded channel and answer through [`answer`].
//!
//! Invariants:
//! - A caller is answered only after the transaction holding its delivery has committed; an answer of
//!   `Ok` means the delivery (and its job) is durable.
//! - Requests are applied in arrival order, so two deliveries with the same id in one batch behave as if
//!   they had arrived one after the other.
//! - One bad request cannot fail its neighbours: when a batch fails, each of its requests is retried in a
//!   transaction of its own and answered with its own result.
//! - A writer ends on [`Message::Close`] or when every [`super::Queue`] handle is dropped, after answering
//!   what it already took; it answers `Close` only once its connection is released.
//!
//! On SQLite, besides:
//! - Only the writer's thread writes through the record path; it opens its transaction with
//!   `BEGIN IMMEDIATE`, so a batch never fails half-way on a lock upgrade, and waits up to the busy timeout
//!   for other writers (workers' lease updates go through sqlx's pool on the same file).
//! - The connection has the settings of the pool's (WAL, `synchronous=FULL`, foreign keys), so a commit is
//!   on disk before any caller is answered.
//! - A batch is whatever has arrived while the previous commit was being flushed, up to `MAX_BATCH`: a lone
//!   request is committed at once, a burst shares one flush.
//! - The thread holds no tokio runtime: it blocks on the channel and answers through oneshot channels.

use std::path::Path;

use anyhow::Context;
use futures_util::FutureExt;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::backend::{SQLITE_BUSY_TIMEOUT, now_ms};
use super::record::{Entry, SqliteTx, record_batch};
use super::{DeliveryRecord, Recorded};
use crate::domain::Trigger;

/// Most requests committed together; bounds the time one transaction holds the write lock.
const MAX_BATCH: usize = 1024;
/// Requests waiting for the writer before `record` callers wait for room (backpressure).
const CHANNEL_CAPACITY: usize = 16 * 1024;

/// One `record` call waiting for its commit.
pub(super) struct Request {
    pub(super) delivery: DeliveryRecord,
    pub(super) trigger: Option<Trigger>,
    pub(super) reply: oneshot::Sender<anyhow::Result<Recorded>>,
}

/// What a writer is sent. `Record` is large and `Close` tiny, but `Close` is sent once per process while
/// boxing `Record` would cost an allocation per delivery.
#[allow(clippy::large_enum_variant)]
pub(super) enum Message {
    Record(Request),
    /// Stop taking requests, release the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// The entries `record_batch` takes, borrowed from the requests.
fn entries(requests: &[Request]) -> Vec<Entry<'_>> {
    requests
        .iter()
        .map(|request| (&request.delivery, request.trigger.as_ref()))
        .collect()
}

/// Answers a batch that committed, or logs why it did not and hands its requests back, to be committed
/// and answered one at a time.
fn answer(
    requests: Vec<Request>,
    committed: anyhow::Result<Vec<Recorded>>,
) -> Option<Vec<Request>> {
    match committed {
        Ok(results) => {
            for (request, result) in requests.into_iter().zip(results) {
                let _ = request.reply.send(Ok(result));
            }
            None
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                size = requests.len(),
                "group commit failed; retrying one by one"
            );
            Some(requests)
        }
    }
}

/// Answers one request committed alone.
fn answer_one(request: Request, committed: anyhow::Result<Vec<Recorded>>) {
    let one =
        committed.and_then(|results| results.into_iter().next().context("empty batch result"));
    let _ = request.reply.send(one);
}

/// Starts the Postgres writer on the current tokio runtime; returns the sending side of its channel.
pub(super) fn spawn_postgres(pool: sqlx::PgPool) -> mpsc::Sender<Message> {
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::spawn(run_postgres(pool, receiver));
    sender
}

async fn run_postgres(pool: sqlx::PgPool, mut receiver: mpsc::Receiver<Message>) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut closing = None;
    while closing.is_none() && receiver.recv_many(&mut messages, MAX_BATCH).await > 0 {
        let mut requests = Vec::with_capacity(messages.len());
        for message in messages.drain(..) {
            match message {
                Message::Record(request) if closing.is_none() => requests.push(request),
                Message::Record(_) => {} // after Close: dropped, its caller sees the writer stopped
                Message::Close(done) => closing = Some(done),
            }
        }
        if requests.is_empty() {
            continue;
        }
        let committed = commit_postgres(&pool, &requests).await;
        for request in answer(requests, committed).into_iter().flatten() {
            let alone = commit_postgres(&pool, std::slice::from_ref(&request)).await;
            answer_one(request, alone);
        }
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Applies `requests` in one transaction and commits it; all or nothing.
async fn commit_postgres(
    pool: &sqlx::PgPool,
    requests: &[Request],
) -> anyhow::Result<Vec<Recorded>> {
    let mut tx = pool.begin().await?;
    let results = record_batch(&mut *tx, &entries(requests), now_ms()).await?;
    tx.commit().await?;
    Ok(results)
}

// ---- SQLite: a thread of its own with one rusqlite connection ----

/// WAL pages after which a commit also checkpoints (SQLite's default: 1,000). A group commit rewrites
/// the same hot pages (the tables' last leaves, the indexes' busy leaves) again and again; a checkpoint
/// copies each page once, with two fsyncs, so checkpointing a tenth as often writes far fewer bytes to
/// the database file, for a WAL of at most ~40 MB. (+8 % deliveries/s in `bench/webhooks.sh`.)
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Opens the writer's connection to the (already migrated) database file and starts its thread.
pub(super) fn spawn_sqlite(path: &Path) -> anyhow::Result<mpsc::Sender<Message>> {
    let connection = open_sqlite(path).with_context(|| {
        format!(
            "cannot open the SQLite database `{}` for writing",
            path.display()
        )
    })?;
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    std::thread::Builder::new()
        .name("queue-writer".into())
        .spawn(move || run_sqlite(connection, receiver))
        .context("cannot start the queue's writer thread")?;
    Ok(sender)
}

fn open_sqlite(path: &Path) -> anyhow::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        anyhow::bail!("the database refused WAL mode (journal_mode is `{mode}`)");
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    Ok(connection)
}

fn run_sqlite(mut connection: Connection, mut receiver: mpsc::Receiver<Message>) {
    let mut closing = None;
    while closing.is_none() {
        let Some(first) = receiver.blocking_recv() else {
            break;
        };
        let mut requests = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(request) => requests.push(request),
                Message::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if requests.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        if requests.is_empty() {
            continue;
        }
        let committed = commit_sqlite(&mut connection, &requests);
        for request in answer(requests, committed).into_iter().flatten() {
            let alone = commit_sqlite(&mut connection, std::slice::from_ref(&request));
            answer_one(request, alone);
        }
    }
    if let Err((_, error)) = connection.close() {
        tracing::warn!(%error, "the queue writer's SQLite connection did not close cleanly");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Applies `requests` in one transaction and commits it; all or nothing.
fn commit_sqlite(
    connection: &mut Connection,
    requests: &[Request],
) -> anyhow::Result<Vec<Recorded>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut tx = SqliteTx(&transaction);
    let results = record_batch(&mut tx, &entries(requests), now_ms())
        .now_or_never()
        .context("a SQLite statement of the record path waited, which it never should")??;
    transaction.commit()?;
    Ok(results)
}
