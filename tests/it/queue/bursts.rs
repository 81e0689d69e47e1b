//! One delivery id arriving many times at once, among other deliveries (GitHub redelivering while the
//! first attempt is still unanswered): whether two copies share a group-commit transaction or land in
//! later ones, the delivery is stored once, enqueues one job, and every copy is answered with that job.

use metagpt_bot::queue::{DeliveryOutcome, JobState, Recorded};

use super::{connect, count_in, delivery, run_action, trigger};

const COPIES: usize = 40;
const OTHERS: usize = 400;

fn is_copy(n: usize) -> bool {
    n.is_multiple_of(2) && n < 2 * COPIES
}

pub async fn a_delivery_sent_many_times_at_once_is_stored_once(url: &str) {
    let queue = connect(url).await;
    let mut tasks = Vec::new();
    for n in 0..COPIES + OTHERS {
        tasks.push({
            let queue = queue.clone();
            // The copies open the burst, one in two: the writer's first transactions hold several each.
            let id = if is_copy(n) {
                "same-delivery".to_owned()
            } else {
                format!("other-{n}")
            };
            tokio::spawn(async move {
                let issue = (n % 7) as u64;
                let answer = queue
                    .record(
                        delivery(&id, DeliveryOutcome::Accepted),
                        Some(trigger(&id, issue, run_action())),
                    )
                    .await;
                (id, answer)
            })
        });
    }
    let mut stored = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        let (id, answer) = task.await.expect("task");
        let answer = answer.unwrap_or_else(|error| panic!("{id}: {error:#}"));
        if id != "same-delivery" {
            assert!(
                matches!(
                    answer,
                    Recorded::Stored {
                        job_id: Some(_),
                        ..
                    }
                ),
                "{id}: {answer:?}"
            );
            continue;
        }
        match answer {
            Recorded::Stored {
                job_id: Some(job), ..
            } => stored.push(job),
            Recorded::Duplicate { job_id } => duplicates.push(job_id),
            other => panic!("same-delivery: {other:?}"),
        }
    }
    assert_eq!(stored.len(), 1, "stored more than once: {stored:?}");
    assert_eq!(duplicates.len(), COPIES - 1);
    assert!(
        duplicates.iter().all(|job| *job == Some(stored[0])),
        "a copy points at another job: {duplicates:?} vs {stored:?}"
    );
    let stored_row = queue.delivery("same-delivery").await.expect("read");
    assert_eq!(stored_row.and_then(|row| row.job_id), Some(stored[0]));
    let others = (0..COPIES + OTHERS).filter(|&n| !is_copy(n)).count();
    assert_eq!(
        count_in(&queue, JobState::Queued).await,
        others as i64 + 1,
        "one job for the repeated delivery, one per other delivery"
    );
}
