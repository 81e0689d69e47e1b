//! Recording a batch of deliveries inside the group-commit transaction: deduplicate by delivery id, then
//! enqueue each one's job. A `stop` is enqueued like any trigger, as a control job: it is applied later by
//! its worker, once the sender's permission was checked (see `control`).
//!
//! Invariants:
//! - GitHub redelivers with the same `X-GitHub-Delivery` id. A delivery id seen before answers
//!   [`Recorded::Duplicate`] and changes nothing, unless its earlier attempt can be taken again: it was
//!   rejected, or its job failed or was cancelled. Then the row is overwritten and points at the new job.
//! - A delivery that was ignored stays a duplicate forever.
//! - The requests of one batch are concurrent (none has been answered), so any order is a valid one: new
//!   deliveries are written set-based first (two statements for the whole batch), then the rest (ids seen
//!   before or twice in the batch) one at a time, in arrival order.
//! - Nothing here commits; the writer commits the whole batch or none of it.

use std::collections::{HashMap, HashSet};

use anyhow::Context;

use super::record_tx::{NewDelivery, NewJob, RecordTx};
use super::{DeliveryRecord, Recorded};
use crate::domain::Trigger;

/// One `record` call: the delivery and its trigger, if any.
pub(super) type Entry<'a> = (&'a DeliveryRecord, Option<&'a Trigger>);

/// Records every entry of the batch inside the open transaction `tx`; answers in entry order.
pub(super) async fn record_batch<T: RecordTx>(
    tx: &mut T,
    entries: &[Entry<'_>],
    now: i64,
) -> anyhow::Result<Vec<Recorded>> {
    let ids: Vec<&str> = entries
        .iter()
        .map(|(delivery, _)| delivery.delivery_id.as_str())
        .collect();
    let stored: HashSet<String> = tx.existing_ids(&ids).await?.into_iter().collect();
    let mut seen = HashSet::new();
    let (fast, slow): (Vec<usize>, Vec<usize>) = (0..entries.len()).partition(|&index| {
        let (delivery, _) = entries[index];
        let first = seen.insert(delivery.delivery_id.as_str());
        first && !stored.contains(&delivery.delivery_id)
    });

    let mut answers: Vec<Option<Recorded>> = vec![None; entries.len()];
    for (index, answer) in record_new(tx, entries, &fast, now).await? {
        answers[index] = Some(answer);
    }
    for index in slow {
        let (delivery, trigger) = entries[index];
        answers[index] = Some(record_one(tx, delivery, trigger, now).await?);
    }
    answers
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .context("a request of the batch was left unanswered")
}

/// Deliveries never seen before: all their jobs and rows in one statement.
async fn record_new<T: RecordTx>(
    tx: &mut T,
    entries: &[Entry<'_>],
    fast: &[usize],
    now: i64,
) -> anyhow::Result<Vec<(usize, Recorded)>> {
    if fast.is_empty() {
        return Ok(Vec::new());
    }
    let jobs = fast
        .iter()
        .filter_map(|&index| {
            let (delivery, trigger) = entries[index];
            trigger.map(|trigger| NewJob::new(&delivery.delivery_id, trigger))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deliveries: Vec<NewDelivery> = fast
        .iter()
        .map(|&index| NewDelivery::new(entries[index].0))
        .collect();
    let stored: HashMap<String, (i64, i64)> = tx
        .insert_new(&jobs, &deliveries, now)
        .await?
        .into_iter()
        .map(|(delivery_id, job_id, queued_behind)| (delivery_id, (job_id, queued_behind)))
        .collect();
    Ok(fast
        .iter()
        .map(|&index| {
            let answer = match stored.get(&entries[index].0.delivery_id) {
                Some(&(job_id, queued_behind)) => Recorded::Stored {
                    job_id: Some(job_id),
                    queued_behind,
                },
                None => Recorded::Stored {
                    job_id: None,
                    queued_behind: 0,
                },
            };
            (index, answer)
        })
        .collect())
}

/// One delivery, deciding on redelivery.
async fn record_one<T: RecordTx>(
    tx: &mut T,
    delivery: &DeliveryRecord,
    trigger: Option<&Trigger>,
    now: i64,
) -> anyhow::Result<Recorded> {
    if let Some(existing) = tx.find_delivery(&delivery.delivery_id).await? {
        let may_run_again = existing.outcome == "rejected"
            || matches!(existing.job_state.as_deref(), Some("failed" | "cancelled"));
        if !may_run_again {
            return Ok(Recorded::Duplicate {
                job_id: existing.job_id,
            });
        }
    }
    let recorded = match trigger {
        None => Recorded::Stored {
            job_id: None,
            queued_behind: 0,
        },
        Some(trigger) => {
            let (job_id, queued_behind) = tx
                .insert_job(&NewJob::new(&delivery.delivery_id, trigger)?, now)
                .await?;
            Recorded::Stored {
                job_id: Some(job_id),
                queued_behind,
            }
        }
    };
    let job_id = match recorded {
        Recorded::Stored { job_id, .. } => job_id,
        Recorded::Duplicate { .. } => None,
    };
    tx.upsert_delivery(delivery, job_id, now).await?;
    Ok(recorded)
}
