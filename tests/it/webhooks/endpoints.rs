//! `GET /healthz`, `GET /readyz` and `GET /metrics` through the real router.

use crate::support::webhook;

use axum::http::StatusCode;
use webhook::{Harness, labeled};

#[tokio::test]
async fn healthz_answers_ok() {
    let harness = Harness::new().await;
    let answer = harness.get("/healthz").await;
    assert_eq!(
        (answer.status, answer.text.as_str()),
        (StatusCode::OK, "ok")
    );
}

#[tokio::test]
async fn readyz_is_ready_with_a_database_and_complete_settings() {
    let harness = Harness::new().await;
    let answer = harness.get("/readyz").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn readyz_lists_every_problem_with_503() {
    let harness = Harness::with_config(|config| config.webhook_secrets.clear()).await;
    let state = harness
        .state
        .clone()
        .with_readiness(|| vec!["APP_ID is not set".to_owned()]);
    let response = tower::ServiceExt::oneshot(
        metagpt_bot::http::router(state),
        axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("APP_ID is not set"), "{text}");
    assert!(text.contains("WEBHOOK_SECRET"), "{text}");
}

#[tokio::test]
async fn metrics_count_deliveries_and_show_the_queue_depth() {
    let harness = Harness::new().await;
    assert_eq!(
        harness
            .deliver("issues", &labeled("metagpt", &["metagpt"]))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let answer = harness.get("/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    let text = answer.text;
    let accepted = "metagpt_bot_webhook_deliveries_total{event=\"issues\",outcome=\"accepted\"}";
    assert!(text.contains(accepted), "{text}");
    assert!(
        text.contains("metagpt_bot_webhook_duration_seconds_bucket"),
        "{text}"
    );
    // This test's database holds exactly one queued job and nothing else.
    assert!(
        text.lines()
            .any(|l| l == "metagpt_bot_jobs{state=\"queued\"} 1"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "metagpt_bot_jobs{state=\"running\"} 0"),
        "{text}"
    );
}
