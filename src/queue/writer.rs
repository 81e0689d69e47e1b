//! Group commit: one writer turns many concurrent [`super::Queue::record`] calls into one transaction, so a
//! burst of deliveries shares a single commit (one fsync on SQLite, one WAL flush on Postgres) instead of
//! paying one each. SQLite's writer is an OS thread of its own (`sqlite_writer`); Postgres's is the task in
//! this module. Both take [`Message`]s from one bounded channel and answer through [`answer`].
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

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use super::backend::now_ms;
use super::record::{Entry, record_batch};
use super::{DeliveryRecord, Recorded};
use crate::domain::Trigger;

/// Most requests committed together; bounds the time one transaction holds the write lock.
pub(super) const MAX_BATCH: usize = 1024;
/// Requests waiting for the writer before `record` callers wait for room (backpressure).
pub(super) const CHANNEL_CAPACITY: usize = 16 * 1024;

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
pub(super) fn entries(requests: &[Request]) -> Vec<Entry<'_>> {
    requests
        .iter()
        .map(|request| (&request.delivery, request.trigger.as_ref()))
        .collect()
}

/// Answers a batch that committed, or logs why it did not and hands its requests back, to be committed
/// and answered one at a time.
pub(super) fn answer(
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
pub(super) fn answer_one(request: Request, committed: anyhow::Result<Vec<Recorded>>) {
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
