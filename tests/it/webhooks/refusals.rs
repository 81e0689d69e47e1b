//! Scenario tests of refused deliveries through the real router: 401 for every signature problem (and a
//! rotated secret still accepted), 413 above 25 MiB, 400 with the JSON path of a malformed payload, 503
//! when the database cannot store the delivery, and no panic or unexpected 5xx for mangled bodies.

use crate::support::webhook;

use axum::http::StatusCode;
use metagpt_bot::http::{MAX_BODY_BYTES, sign};
use metagpt_bot::queue::DeliveryOutcome;
use serde_json::json;
use webhook::{Harness, SECRET, comment, delivery_id, fixture, labeled, request, set};

fn labeled_body() -> Vec<u8> {
    serde_json::to_vec(&labeled("metagpt", &["metagpt"])).unwrap()
}

/// Sends `body` with `signature`, expects 401, and checks the refusal was recorded under its delivery id.
async fn assert_unauthorized(
    harness: &Harness,
    body: Vec<u8>,
    signature: Option<String>,
    why: &str,
) {
    let delivery = delivery_id();
    let answer = harness
        .send(request("issues", &delivery, body, signature))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{why}: {}",
        answer.text
    );
    assert_eq!(answer.json()["outcome"], "rejected", "{why}");
    let stored = harness.recorded_without_job(&delivery, why).await;
    assert!(
        matches!(stored.outcome, DeliveryOutcome::Rejected { .. }),
        "{why}: {stored:?}"
    );
}

#[tokio::test]
async fn deliveries_without_a_valid_sha256_signature_are_refused() {
    let harness = Harness::new().await;
    let body = labeled_body();
    assert_unauthorized(&harness, body.clone(), None, "missing").await;
    let mut tampered = body.clone();
    let signature = sign(SECRET, &tampered);
    tampered.extend_from_slice(b" ");
    assert_unauthorized(
        &harness,
        tampered,
        Some(signature),
        "body changed after signing",
    )
    .await;
    assert_unauthorized(
        &harness,
        body.clone(),
        Some(sign("some other secret", &body)),
        "wrong secret",
    )
    .await;
    assert_unauthorized(
        &harness,
        body.clone(),
        Some("sha256=not-hex".to_owned()),
        "malformed",
    )
    .await;

    let mut sha1_only = request("issues", &delivery_id(), body, None);
    sha1_only.headers_mut().insert(
        "x-hub-signature",
        "sha1=0000000000000000000000000000000000000000"
            .parse()
            .unwrap(),
    );
    let answer = harness.send(sha1_only).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.text.contains("SHA-1"), "{}", answer.text);
}

#[tokio::test]
async fn any_configured_secret_may_sign_during_a_rotation() {
    let harness = Harness::with_config(|config| {
        config.webhook_secrets = vec!["the new secret".to_owned().into(), SECRET.to_owned().into()];
    })
    .await;
    let body = labeled_body();
    for secret in ["the new secret", SECRET] {
        let answer = harness
            .send(request(
                "issues",
                &delivery_id(),
                body.clone(),
                Some(sign(secret, &body)),
            ))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::ACCEPTED,
            "signed with {secret:?}: {}",
            answer.text
        );
    }
    let retired = sign("the retired secret", &body);
    assert_eq!(
        harness
            .send(request("issues", &delivery_id(), body, Some(retired)))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bodies_over_25_mib_are_refused_with_413() {
    let harness = Harness::new().await;
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let signature = sign(SECRET, &body);
    let delivery = delivery_id();
    let answer = harness
        .send(request("issues", &delivery, body, Some(signature)))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    let stored = harness.state.queue.delivery(&delivery).await.unwrap();
    let stored = stored.expect("refusal recorded");
    assert!(
        matches!(stored.outcome, DeliveryOutcome::Rejected { .. }),
        "{stored:?}"
    );
}

#[tokio::test]
async fn malformed_payloads_of_handled_events_get_400_with_the_json_path() {
    let harness = Harness::new().await;
    let mut payload = labeled("metagpt", &["metagpt"]);
    set(&mut payload, "/issue/labels/0/name", json!(17));
    let delivery = delivery_id();
    let answer = harness.deliver_as("issues", &delivery, &payload).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let reason = answer.json()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("issue.labels[0].name"),
        "the reason names the path: {reason}"
    );
    let stored = harness
        .state
        .queue
        .delivery(&delivery)
        .await
        .unwrap()
        .expect("refusal recorded");
    assert_eq!(stored.outcome, DeliveryOutcome::Rejected { reason });

    let mut comment = comment("/metagpt retry");
    comment["comment"].as_object_mut().unwrap().remove("id");
    let answer = harness.deliver("issue_comment", &comment).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("comment"), "{}", answer.text);

    let not_json = b"{\"action\": \"labeled\", ".to_vec();
    let answer = harness
        .send(request(
            "issues",
            &delivery_id(),
            not_json.clone(),
            Some(sign(SECRET, &not_json)),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
}

#[tokio::test]
async fn a_signed_delivery_without_an_event_header_is_a_400() {
    let harness = Harness::new().await;
    let body = labeled_body();
    let mut request = request(
        "issues",
        &delivery_id(),
        body.clone(),
        Some(sign(SECRET, &body)),
    );
    request.headers_mut().remove("x-github-event");
    let answer = harness.send(request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("x-github-event"), "{}", answer.text);
}

#[tokio::test]
async fn a_database_that_cannot_store_the_delivery_answers_503() {
    let harness = Harness::new().await;
    let options: sqlx::sqlite::SqliteConnectOptions = harness.database_url.parse().unwrap();
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let break_inserts = "CREATE TRIGGER refuse_deliveries BEFORE INSERT ON deliveries \
                         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END";
    sqlx::query(break_inserts).execute(&pool).await.unwrap();

    let answer = harness
        .deliver("issues", &labeled("metagpt", &["metagpt"]))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.json()["outcome"], "error");
    assert!(
        !answer.text.contains("disk on fire"),
        "database details stay in the log: {}",
        answer.text
    );
    let ignored = harness.deliver("star", &fixture("star.created")).await;
    assert_eq!(ignored.status, StatusCode::SERVICE_UNAVAILABLE);
}
