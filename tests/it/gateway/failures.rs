//! Retries, clear errors when the provider stays down, the hard budget and run tokens.

use secrecy::ExposeSecret;
use serde_json::Value;

use super::harness::{Harness, request, unit_prices};
use crate::support::scripted_llm::Reply;

fn error_message(body: &str) -> String {
    let value: Value = serde_json::from_str(body).expect("an OpenAI-style error body");
    value["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned()
}

#[tokio::test]
async fn a_rate_limit_with_retry_after_is_retried_and_the_agent_sees_only_the_answer() {
    let h = Harness::start().await;
    h.llm.push(Reply::RateLimited {
        retry_after_secs: 1,
    });
    h.llm.push(Reply::chat("fine", 5, 5));
    let run = h.run(10.0);

    let (status, body) = h.call(&run, &request(false)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(h.llm.requests().len(), 2);
    assert_eq!(run.ledger()[0].attempts, 2);
}

#[tokio::test]
async fn a_server_error_is_retried_then_surfaced_as_a_clear_gateway_error() {
    let h = Harness::start().await;
    for _ in 0..3 {
        h.llm.push(Reply::error(500, "the model is overloaded"));
    }
    let run = h.run(10.0);

    let (status, body) = h.call(&run, &request(true)).await;

    assert_eq!(status, 502);
    let message = error_message(&body);
    assert!(
        message.contains("unavailable after 3 attempt(s)"),
        "{message}"
    );
    assert!(
        message.contains("500") && message.contains("overloaded"),
        "{message}"
    );
    assert_eq!(h.llm.requests().len(), 3);
    let record = &run.ledger()[0];
    assert_eq!(
        (record.status, record.attempts, record.cost_usd),
        (502, 3, 0.0)
    );
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("overloaded"))
    );
}

#[tokio::test]
async fn a_transient_server_error_is_invisible_to_the_agent() {
    let h = Harness::start().await;
    h.llm.push(Reply::error(503, "try again"));
    h.llm.push(Reply::chat("recovered", 3, 4));
    let run = h.run(10.0);

    let (status, body) = h.call(&run, &request(true)).await;

    assert_eq!(status, 200);
    assert_eq!(
        crate::support::scripted_llm::sse_content(&body),
        "recovered"
    );
}

#[tokio::test]
async fn a_provider_that_never_answers_gives_a_timeout_error() {
    let h = Harness::with(|config| config.request_timeout = std::time::Duration::from_millis(200))
        .await;
    for _ in 0..3 {
        h.llm.push(Reply::Hang);
    }
    let run = h.run(10.0);

    let (status, body) = h.call(&run, &request(true)).await;

    assert_eq!(status, 504);
    assert!(
        error_message(&body).contains("did not answer in time after 3 attempt(s)"),
        "{body}"
    );
    assert_eq!(h.llm.requests().len(), 3);
}

#[tokio::test]
async fn a_client_error_is_passed_back_unchanged_and_not_retried() {
    let h = Harness::start().await;
    h.llm.push(Reply::error(400, "max_tokens is too large"));
    let run = h.run(10.0);

    let (status, body) = h.call(&run, &request(false)).await;

    assert_eq!(status, 400);
    assert_eq!(body.as_bytes(), &h.llm.requests()[0].answered[..]);
    assert_eq!(h.llm.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_provider_gives_a_clear_error() {
    let h = Harness::with(|config| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        config.upstream.base_url = format!("http://127.0.0.1:{port}/v1").parse().unwrap();
    })
    .await;
    let run = h.run(10.0);

    let (status, body) = h.call(&run, &request(false)).await;

    assert_eq!(status, 502);
    assert!(
        error_message(&body).contains("could not reach the provider"),
        "{body}"
    );
}

#[tokio::test]
async fn the_call_that_reaches_the_budget_is_the_last_one_forwarded() {
    let h = Harness::with(|config| config.prices = unit_prices()).await;
    // Each call costs 600 * $1/M + 300 * $2/M = $0.0012.
    h.llm.push(Reply::chat("one", 600, 300));
    h.llm.push(Reply::chat("two", 600, 300));
    let run = h.run(0.002);

    assert_eq!(h.call(&run, &request(false)).await.0, 200);
    assert!(!run.budget_exhausted());
    assert_eq!(h.call(&run, &request(true)).await.0, 200);
    assert!(run.budget_exhausted());
    let (status, body) = h.call(&run, &request(false)).await;

    assert_eq!(status, 402);
    assert_eq!(
        error_message(&body),
        "budget exhausted: spent $0.0024 of $0.0020"
    );
    assert_eq!(
        h.llm.requests().len(),
        2,
        "the refused call never reached the provider"
    );
    assert_eq!(run.ledger().len(), 2);
    assert!((run.spent_usd() - 0.0024).abs() < 1e-12);
}

#[tokio::test]
async fn unknown_and_closed_run_tokens_are_refused() {
    let h = Harness::start().await;
    let response = h.post("mgb-not-a-run", &request(false)).await;
    assert_eq!(response.status().as_u16(), 401);
    let message = error_message(&response.text().await.unwrap());
    assert!(
        message.contains("invalid or expired run token"),
        "{message}"
    );

    let run = h.run(10.0);
    let token = run.token().expose_secret().to_owned();
    run.close();
    assert_eq!(h.post(&token, &request(false)).await.status().as_u16(), 401);
    assert!(h.llm.requests().is_empty());
}

#[tokio::test]
async fn concurrent_calls_of_one_run_overspend_by_at_most_one_call() {
    let h = Harness::with(|config| config.prices = unit_prices()).await;
    // One call costs 1000 * $1/M = $0.001, the whole budget.
    for _ in 0..4 {
        h.llm.push(Reply::chat("costly", 1000, 0));
    }
    let run = h.run(0.001);

    let body = request(false);
    let calls = (0..4).map(|_| h.call(&run, &body));
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();

    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 402).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(h.llm.requests().len(), 1);
}
