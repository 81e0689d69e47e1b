//! A retried run replays the calls it already paid for, in order, and pays only for new ones.

use metagpt_bot::run::gateway::{CacheOptions, RunBudget, RunHandle, RunOptions};
use serde_json::json;

use super::harness::{Harness, request};
use crate::support::scripted_llm::Reply;

fn open(h: &Harness, dir: &std::path::Path, replay: bool) -> RunHandle {
    let cache = Some(CacheOptions {
        dir: dir.to_owned(),
        replay,
    });
    let options = RunOptions {
        budget: RunBudget { max_cost_usd: 10.0 },
        ledger_path: None,
        cache,
    };
    h.gateway.open_run(options).unwrap()
}

#[tokio::test]
async fn a_retried_run_replays_paid_calls_in_order_and_pays_only_for_new_ones() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    h.llm.push(Reply::chat("first answer", 10, 1));
    h.llm
        .push(Reply::chat("second answer to the same question", 10, 2));
    h.llm.push(Reply::chat("a streamed answer", 20, 3));
    let first = open(&h, dir.path(), false);
    let mut before = Vec::new();
    for body in [request(false), request(false), request(true)] {
        before.push(h.call(&first, &body).await);
    }
    drop(first); // the crash

    h.llm.push(Reply::chat("a new answer", 30, 4));
    let retried = open(&h, dir.path(), true);
    let mut after = Vec::new();
    for body in [request(false), request(false), request(true)] {
        after.push(h.call(&retried, &body).await);
    }
    let new =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "something new"}]});
    let (status, _) = h.call(&retried, &new).await;

    assert_eq!(
        after, before,
        "replayed answers are the paid answers, in order"
    );
    assert_eq!(status, 200);
    assert_eq!(
        h.llm.requests().len(),
        4,
        "only the new call reached the provider"
    );
    let ledger = retried.ledger();
    let replayed: Vec<bool> = ledger.iter().map(|r| r.replayed).collect();
    assert_eq!(replayed, [true, true, true, false]);
    assert!(
        ledger[..3]
            .iter()
            .all(|r| r.cost_usd == 0.0 && r.prompt_tokens == 0)
    );
    assert_eq!(ledger[3].prompt_tokens, 30);
}
