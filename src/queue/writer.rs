//! Group commit: one writer task turns many concurrent [`super::Queue::record`] calls into one
//! transaction, so a burst of deliveries shares a single commit (one fsync on SQLite, one WAL flush on
//! Postgres) instead of paying one each.
//!
//! Invariants:
//! - A caller is answered only after the transaction holding its delivery has committed; an answer of
//!   `Ok` means the delivery (and its job) is durable.
//! - Requests are applied in arrival order, so two deliveries with the same id in one batch behave as if
//!   they had arrived one after the other.
//! - One bad request cannot fail its neighbours: when a batch fails, each of its requests is retried in a
//!   transaction of its own and answered with its own result.
//! - The task ends when every [`super::Queue`] handle is dropped, after answering what is still queued.

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use super::backend::{Backend, now_ms, on_pool};
use super::record::{Entry, record_batch};
use super::{DeliveryRecord, Recorded};
use crate::trigger::Trigger;

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

/// Starts the writer on the current tokio runtime; returns the sending side of its queue.
pub(super) fn spawn(backend: Backend) -> mpsc::Sender<Request> {
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::spawn(run(backend, receiver));
    sender
}

async fn run(backend: Backend, mut receiver: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let requests = std::mem::take(&mut batch);
        match commit_batch(&backend, &requests).await {
            Ok(results) => {
                for (request, result) in requests.into_iter().zip(results) {
                    let _ = request.reply.send(Ok(result));
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    size = requests.len(),
                    "group commit failed; retrying one by one"
                );
                for request in requests {
                    let result = commit_batch(&backend, std::slice::from_ref(&request)).await;
                    let one = result.and_then(|results| {
                        results.into_iter().next().context("empty batch result")
                    });
                    let _ = request.reply.send(one);
                }
            }
        }
    }
}

/// Applies `requests` in one transaction and commits it; all or nothing.
async fn commit_batch(backend: &Backend, requests: &[Request]) -> anyhow::Result<Vec<Recorded>> {
    let now = now_ms();
    let begin = backend.begin_statement();
    let entries: Vec<Entry> = requests
        .iter()
        .map(|request| (&request.delivery, request.trigger.as_ref()))
        .collect();
    on_pool!(backend, pool => {
        let mut tx = pool.begin_with(begin).await?;
        let results = record_batch(&mut *tx, &entries, now).await?;
        tx.commit().await?;
        Ok(results)
    })
}
