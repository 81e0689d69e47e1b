//! SQLite's group-commit writer: one OS thread owning one rusqlite connection. Every statement runs
//! in-process on that thread with cached prepared statements; there is no hop to a driver thread per
//! statement, which is what made recording a delivery cost more CPU than everything else at intake.
//!
//! Invariants (beyond those of `writer`):
//! - Only this thread writes through the record path; it opens its transaction with `BEGIN IMMEDIATE`, so a
//!   batch never fails half-way on a lock upgrade, and waits up to the busy timeout for other writers
//!   (workers' lease updates go through sqlx's pool on the same file).
//! - The connection has the settings of the pool's (WAL, `synchronous=FULL`, foreign keys), so a commit is
//!   on disk before any caller is answered.
//! - A batch is whatever has arrived while the previous commit was being flushed, up to `MAX_BATCH`: a lone
//!   request is committed at once, a burst shares one flush.
//! - The thread holds no tokio runtime: it blocks on the channel and answers through oneshot channels.

use std::path::Path;

use anyhow::Context;
use futures_util::FutureExt;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::mpsc;

use super::backend::{SQLITE_BUSY_TIMEOUT, now_ms};
use super::record::record_batch;
use super::record_sqlite::SqliteTx;
use super::writer::{self, CHANNEL_CAPACITY, MAX_BATCH, Message, Request};

/// WAL pages after which a commit also checkpoints (SQLite's default: 1,000). A group commit rewrites
/// the same hot pages (the tables' last leaves, the indexes' busy leaves) again and again; a checkpoint
/// copies each page once, with two fsyncs, so checkpointing a tenth as often writes far fewer bytes to
/// the database file, for a WAL of at most ~40 MB. (+8 % deliveries/s in `bench/webhooks.sh`.)
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Opens the writer's connection to the (already migrated) database file and starts its thread.
pub(super) fn spawn(path: &Path) -> anyhow::Result<mpsc::Sender<Message>> {
    let connection = open(path).with_context(|| {
        format!(
            "cannot open the SQLite database `{}` for writing",
            path.display()
        )
    })?;
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    std::thread::Builder::new()
        .name("queue-writer".into())
        .spawn(move || run(connection, receiver))
        .context("cannot start the queue's writer thread")?;
    Ok(sender)
}

fn open(path: &Path) -> anyhow::Result<Connection> {
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

fn run(mut connection: Connection, mut receiver: mpsc::Receiver<Message>) {
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
        let committed = commit(&mut connection, &requests);
        for request in writer::answer(requests, committed).into_iter().flatten() {
            let alone = commit(&mut connection, std::slice::from_ref(&request));
            writer::answer_one(request, alone);
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
fn commit(
    connection: &mut Connection,
    requests: &[Request],
) -> anyhow::Result<Vec<super::Recorded>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut tx = SqliteTx(&transaction);
    let results = record_batch(&mut tx, &writer::entries(requests), now_ms())
        .now_or_never()
        .context("a SQLite statement of the record path waited, which it never should")??;
    transaction.commit()?;
    Ok(results)
}
