//! Fuzz-ish scenario test: random mutations of real payloads through the real router.

use crate::support::webhook;

use axum::http::StatusCode;
use metagpt_bot::http::sign;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use webhook::{Harness, SECRET, comment, delivery_id, fixture, labeled, request};

/// Random mutations of real payloads, signed and unsigned: every answer is 2xx or 4xx (or 503), and the
/// server never panics (a panic would fail the test through `oneshot`).
#[tokio::test]
async fn mangled_bodies_never_panic_or_answer_5xx() {
    let harness = Harness::new().await;
    let mut rng = StdRng::seed_from_u64(0x6d65_7461);
    let seeds = [
        (
            "issues",
            serde_json::to_vec(&labeled("metagpt", &["metagpt", "bug"])).unwrap(),
        ),
        (
            "issue_comment",
            serde_json::to_vec(&comment("/metagpt make it `blue`\n> quote")).unwrap(),
        ),
        (
            "installation",
            serde_json::to_vec(&fixture("installation.created")).unwrap(),
        ),
        (
            "installation_repositories",
            serde_json::to_vec(&fixture("installation_repositories.added")).unwrap(),
        ),
        (
            "pull_request",
            serde_json::to_vec(&fixture("pull_request.opened")).unwrap(),
        ),
        ("ping", serde_json::to_vec(&fixture("ping")).unwrap()),
    ];
    for round in 0..600 {
        let (event, seed) = &seeds[round % seeds.len()];
        let mut body = seed.clone();
        match rng.random_range(0..4) {
            0 => body.truncate(rng.random_range(0..body.len())),
            1 => {
                for _ in 0..rng.random_range(1..8) {
                    let at = rng.random_range(0..body.len());
                    body[at] = rng.random();
                }
            }
            2 => {
                body = (0..rng.random_range(0..512))
                    .map(|_| rng.random())
                    .collect()
            }
            _ => {
                let at = rng.random_range(0..body.len());
                let junk: &[u8] =
                    [&b"null"[..], b"[]", b"\"x\"", b"-1", b"1e999", b"{}"][rng.random_range(0..6)];
                body.splice(at..at, junk.iter().copied());
            }
        }
        let signature = (round % 5 != 0).then(|| sign(SECRET, &body));
        let answer = harness
            .send(request(event, &delivery_id(), body, signature))
            .await;
        let status = answer.status;
        assert!(
            status.is_success()
                || status.is_client_error()
                || status == StatusCode::SERVICE_UNAVAILABLE,
            "round {round} ({event}): {status} {}",
            answer.text
        );
    }
}
