//! `llm.jsonl` and `cost.json`: exact, and free of secrets.

use metagpt_bot::run::gateway::{CostReport, RunBudget, RunOptions, read_jsonl};
use secrecy::ExposeSecret;
use serde_json::json;

use super::harness::{Harness, KEY, request, unit_prices};
use crate::support::scripted_llm::Reply;

#[tokio::test]
async fn the_key_and_the_run_token_never_reach_the_agent_or_the_ledger() {
    let h = Harness::with(|config| config.prices = unit_prices()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llm.jsonl");
    let options = RunOptions {
        budget: RunBudget { max_cost_usd: 1.0 },
        ledger_path: Some(path.clone()),
        cache: None,
    };
    let run = h.gateway.open_run(options).unwrap();
    let token = run.token().expose_secret().to_owned();
    // Providers echo keys in errors; one that echoes the whole key must not leak it.
    h.llm.push(Reply::error(
        401,
        &format!("Incorrect API key provided: {KEY}"),
    ));
    for _ in 0..3 {
        h.llm.push(Reply::error(
            500,
            &format!("internal error for key {KEY} and {token}"),
        ));
    }
    h.llm.push(Reply::chat(&format!("echo {KEY}"), 1, 1));

    let answers = [
        h.call(&run, &request(false)).await,
        h.call(&run, &request(false)).await,
        h.call(&run, &request(true)).await,
    ];

    assert_eq!(
        answers.iter().map(|a| a.0).collect::<Vec<_>>(),
        [401, 502, 200]
    );
    for (_, body) in &answers {
        assert!(
            !body.contains(KEY) && !body.contains(&token),
            "leaked in {body}"
        );
    }
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(file.lines().count(), 3);
    assert!(
        !file.contains(KEY) && !file.contains(&token),
        "leaked in llm.jsonl: {file}"
    );
    assert!(!format!("{:?}", run.ledger()).contains(KEY));
    assert_eq!(read_jsonl(&path).unwrap(), run.ledger());
}

#[tokio::test]
async fn cost_json_sums_the_ledger_by_role_and_across_iterations() {
    let h = Harness::with(|config| config.prices = unit_prices()).await;
    h.llm.push(Reply::chat("design", 1000, 500));
    h.llm.push(Reply::chat("code", 2000, 1000));
    h.llm.push(Reply::chat("more design", 100, 50));
    let run = h.run(5.0);
    let engineer = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "You are a Engineer, named Alex, your goal is write elegant code"},
        {"role": "user", "content": "## format example\n## Code: main.py\n```python\n...\n```"}]});
    h.call(&run, &request(false)).await;
    h.call(&run, &engineer).await;
    h.call(&run, &request(true)).await;

    let previous = CostReport::build(1, &run.ledger()[..1], None);
    let report = CostReport::build(2, &run.ledger(), Some(&previous));
    let value = serde_json::to_value(&report).unwrap();

    assert_eq!(value["currency"], "USD");
    assert_eq!(value["iteration"], 2);
    assert_eq!(value["total"]["calls"], 3);
    assert_eq!(value["total"]["prompt_tokens"], 3100);
    assert_eq!(value["total"]["completion_tokens"], 1550);
    assert!((report.total.cost_usd - (3100.0 + 2.0 * 1550.0) / 1e6).abs() < 1e-12);
    let roles: Vec<_> = report
        .by_role
        .iter()
        .map(|r| {
            (
                r.role.as_str(),
                r.model.as_str(),
                r.totals.calls,
                r.totals.prompt_tokens,
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("Architect", "gpt-4o-mini", 2, 1100),
            ("Engineer", "gpt-4o", 1, 2000)
        ]
    );
    assert_eq!(value["by_role"][1]["completion_tokens"], 1000);
    assert_eq!(report.cumulative.calls, 4);
    assert_eq!(report.cumulative.prompt_tokens, 4100);
}
