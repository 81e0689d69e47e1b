//! Test support for the webhook intake: vendored fixtures, signing, and a harness that drives the real
//! router (`tower::ServiceExt::oneshot`) over a real SQLite queue in a temporary directory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use metagpt_bot::http::intake::IntakeConfig;
use metagpt_bot::http::{AppState, router, sign};
use metagpt_bot::queue::{Job, Queue, QueueOptions, StoredDelivery};
use metagpt_bot::telemetry as metrics;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const SECRET: &str = "webhook test secret";

/// A vendored `@octokit/webhooks-examples` payload, e.g. `fixture("issues.labeled")`.
pub fn fixture(name: &str) -> Value {
    let path = super::fixture_path(&format!("webhooks/{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Sets the JSON value at `pointer` (e.g. `/issue/labels`), which must exist.
pub fn set(payload: &mut Value, pointer: &str, value: Value) {
    *payload
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("fixture has no {pointer}")) = value;
}

/// Adds the `installation` field a GitHub App delivery carries (most examples lack it).
pub fn with_installation(mut payload: Value, id: u64) -> Value {
    payload["installation"] =
        json!({"id": id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="});
    payload
}

/// `issues.labeled` adding `label` to an open issue that then carries `labels`.
pub fn labeled(label: &str, labels: &[&str]) -> Value {
    let mut payload = fixture("issues.labeled");
    set(&mut payload, "/label/name", json!(label));
    let template = payload["issue"]["labels"][0].clone();
    let labels: Vec<Value> = labels
        .iter()
        .map(|name| {
            let mut l = template.clone();
            l["name"] = json!(name);
            l
        })
        .collect();
    set(&mut payload, "/issue/labels", Value::Array(labels));
    with_installation(payload, 42)
}

/// `issue_comment.created` on issue #1 with `body`.
pub fn comment(body: &str) -> Value {
    let mut payload = fixture("issue_comment.created");
    set(&mut payload, "/comment/body", json!(body));
    payload
}

/// The same comment on a pull request: GitHub marks it with `issue.pull_request`.
pub fn on_pull_request(mut payload: Value) -> Value {
    let url = "https://api.github.com/repos/Codertocat/Hello-World/pulls/1";
    payload["issue"]["pull_request"] = json!({"url": url, "html_url": "https://github.com/Codertocat/Hello-World/pull/1",
        "diff_url": "https://github.com/Codertocat/Hello-World/pull/1.diff", "patch_url": "https://github.com/Codertocat/Hello-World/pull/1.patch"});
    payload
}

/// A delivery id unique within the test process.
pub fn delivery_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "d{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A request as GitHub sends it; `signature` is the `X-Hub-Signature-256` value, if any.
pub fn request(
    event: &str,
    delivery: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Request<Body> {
    let mut builder = Request::post("/api/github/webhooks")
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/test")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery);
    if let Some(signature) = signature {
        builder = builder.header("x-hub-signature-256", signature);
    }
    builder.body(Body::from(body)).expect("valid request")
}

/// Delivers `payload` as a signed `event` to a running `serve` at `base` over HTTP; returns the status
/// and the JSON answer (`null` when it is not JSON).
pub async fn post_signed(base: &str, event: &str, payload: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(payload).expect("payload JSON");
    let response = reqwest::Client::new()
        .post(format!("{base}/api/github/webhooks"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery_id())
        .header(
            "X-Hub-Signature-256",
            metagpt_bot::http::sign(SECRET, &body),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("serve answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.text))
    }
}

/// The real router over a real SQLite queue in a temporary directory.
pub struct Harness {
    pub state: AppState,
    pub database_url: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A harness whose config (secret [`SECRET`], defaults otherwise) is first changed by `change`.
    pub async fn with_config(change: impl FnOnce(&mut IntakeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}/q.db", dir.path().display());
        let queue = Queue::connect(&database_url, QueueOptions::default())
            .await
            .expect("queue connects");
        let mut config = IntakeConfig {
            webhook_secrets: vec![SECRET.to_owned().into()],
            ..IntakeConfig::default()
        };
        change(&mut config);
        let handle = metrics::install_recorder().expect("metrics recorder");
        Harness {
            state: AppState::new(config, queue, handle),
            database_url,
            _dir: dir,
        }
    }

    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("answer body");
        Answer {
            status,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Sends `payload` as event `event`, correctly signed, with delivery id `delivery`.
    pub async fn deliver_as(&self, event: &str, delivery: &str, payload: &Value) -> Answer {
        let body = serde_json::to_vec(payload).expect("serialisable payload");
        let signature = sign(SECRET, &body);
        self.send(request(event, delivery, body, Some(signature)))
            .await
    }

    /// Sends `payload` as event `event`, correctly signed, with a fresh delivery id.
    pub async fn deliver(&self, event: &str, payload: &Value) -> Answer {
        self.deliver_as(event, &delivery_id(), payload).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(
            Request::get(path)
                .body(Body::empty())
                .expect("valid request"),
        )
        .await
    }

    /// A second, independent connection to the same database: what a restarted process would see.
    pub async fn reopen(&self) -> Queue {
        Queue::connect(&self.database_url, QueueOptions::default())
            .await
            .expect("queue reconnects")
    }

    /// The stored record of `delivery`, after checking that no job was enqueued (`why` names the case).
    pub async fn recorded_without_job(&self, delivery: &str, why: &str) -> StoredDelivery {
        let stored = self
            .state
            .queue
            .delivery(delivery)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{why}: delivery not recorded"));
        assert!(
            self.claim_persisted().await.is_none(),
            "{why}: no job may be enqueued"
        );
        stored
    }

    /// Claims the next job through a second connection; `None` when nothing was enqueued.
    pub async fn claim_persisted(&self) -> Option<Job> {
        self.reopen()
            .await
            .claim("test-worker", Duration::from_secs(60))
            .await
            .expect("claim")
    }
}
