//! GitHub's manifest flow: the web page that creates an App from a posted manifest
//! (`POST /settings/apps/new?state=…` or `POST /organizations/{org}/settings/apps/new?state=…`, as a
//! browser posts the setup form, after the person confirmed) and `POST /app-manifests/{code}/conversions`.
//!
//! Invariants:
//! - The page checks the manifest as GitHub does (a JSON object with `url`, `hook_attributes.url` and
//!   `redirect_url`; webhook events GitHub knows; permissions `read` or `write`), keeps it in
//!   [`Manifests::submitted`], hands out a one-time code and redirects (302) to
//!   `redirect_url?code=…&state=…`. A manifest GitHub would refuse is recorded as unexpected (422).
//! - The App created is the one the test arranged with [`Manifests::will_create`] (a real test key with
//!   its installations); a post without one is unexpected.
//! - The App's installation page (`GET /apps/{slug}/installations/new`) answers, so a real browser can
//!   follow the flow to its end.
//! - A conversion is GitHub's documented request: anonymous and without a body, else unexpected. A code
//!   works once: an unknown or used code is 404, as GitHub answers. The answer is GitHub's 201 body.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::route::{Call, Reply, Router};
use super::state::{App, Caller, GitHubState};

/// The manifest flow's part of the fake's state.
#[derive(Debug, Default)]
pub struct Manifests {
    /// The App the next confirmed manifest creates: the App, its private key and webhook secret.
    pub next: Option<(App, String, String)>,
    /// Codes handed out and not yet converted.
    codes: BTreeMap<String, (App, String, String)>,
    /// Every manifest posted, with the path it was posted to.
    pub submitted: Vec<(String, Value)>,
    handed_out: u64,
}

impl Manifests {
    /// The next manifest posted creates `app` (which the fake already knows), with `pem` and `secret`.
    pub fn will_create(&mut self, app: App, pem: &str, secret: &str) {
        self.next = Some((app, pem.to_owned(), secret.to_owned()));
    }
}

pub async fn mount(router: &Router<'_>) {
    router
        .route("POST", "/settings/apps/new", create_from_manifest)
        .await;
    router
        .route(
            "POST",
            "/organizations/[A-Za-z0-9-]+/settings/apps/new",
            create_from_manifest,
        )
        .await;
    router
        .route("POST", "/app-manifests/[A-Za-z0-9_-]+/conversions", convert)
        .await;
    router
        .route("GET", "/apps/[a-z0-9-]+/installations/new", install_page)
        .await;
    // What a browser asks any site for by itself.
    router
        .route("GET", "/favicon.ico", |_, _| Reply::not_found())
        .await;
}

/// The App's installation page, where `/setup` sends the browser last.
fn install_page(_: &mut GitHubState, call: &Call<'_>) -> Reply {
    Reply::json(200, json!({ "install": call.segment(1) }))
}

/// Webhook events GitHub lets an App subscribe to (the ones a bot like this could name).
const KNOWN_EVENTS: &[&str] = &[
    "check_run",
    "check_suite",
    "issue_comment",
    "issues",
    "label",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "push",
    "workflow_run",
];

fn create_from_manifest(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let path = call.request.url.path().to_owned();
    let refuse = |state: &mut GitHubState, why: String| {
        state.unexpected.push(format!("POST {path}: {why}"));
        Reply::error(422, &why)
    };
    let Some(app_state) = call.query("state") else {
        return refuse(state, "no state in the query".into());
    };
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&call.request.body)
        .into_owned()
        .collect();
    let manifest: Value = match form.get("manifest").map(|m| serde_json::from_str(m)) {
        Some(Ok(manifest)) => manifest,
        Some(Err(e)) => return refuse(state, format!("the manifest is not JSON: {e}")),
        None => return refuse(state, "no manifest field".into()),
    };
    if let Err(why) = check(&manifest) {
        return refuse(state, why);
    }
    let Some(created) = state.manifests.next.take() else {
        return refuse(state, "no App arranged (Manifests::will_create)".into());
    };
    state.manifests.handed_out += 1;
    let code = format!("code-{}", state.manifests.handed_out);
    state.manifests.codes.insert(code.clone(), created);
    let redirect = manifest["redirect_url"].as_str().unwrap_or_default();
    let mut location = url::Url::parse(redirect).expect("checked");
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &app_state);
    state.manifests.submitted.push((path, manifest));
    Reply::json(302, Value::Null).with_header("location", location.as_str())
}

/// What GitHub checks of a manifest before it shows the "create" page.
fn check(manifest: &Value) -> Result<(), String> {
    let url = |pointer: &str| {
        manifest
            .pointer(pointer)
            .and_then(Value::as_str)
            .and_then(|u| url::Url::parse(u).ok())
            .filter(|u| ["http", "https"].contains(&u.scheme()))
            .ok_or_else(|| format!("{pointer} is not a URL"))
    };
    url("/url")?;
    url("/hook_attributes/url")?;
    url("/redirect_url")?;
    let name = manifest["name"].as_str().unwrap_or_default();
    if name.is_empty() || name.len() > 34 {
        return Err(format!("name {name:?} is empty or longer than 34"));
    }
    for event in manifest["default_events"].as_array().into_iter().flatten() {
        let event = event.as_str().unwrap_or_default();
        if !KNOWN_EVENTS.contains(&event) {
            return Err(format!("unknown event {event:?}"));
        }
    }
    let permissions = manifest["default_permissions"]
        .as_object()
        .ok_or("no default_permissions")?;
    for (name, level) in permissions {
        if !matches!(level.as_str(), Some("read" | "write")) {
            return Err(format!("permission {name}: {level}"));
        }
    }
    Ok(())
}

fn convert(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let path = call.request.url.path().to_owned();
    if call.caller != Caller::Anonymous || !call.request.body.is_empty() {
        state.unexpected.push(format!(
            "POST {path} with credentials or a body: GitHub documents neither"
        ));
        return Reply::error(422, "Invalid request.");
    }
    let Some((app, pem, secret)) = state.manifests.codes.remove(call.segment(1)) else {
        return Reply::not_found();
    };
    // The App's page is on GitHub's web host: here the fake's own address.
    let host = call
        .request
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    Reply::json(
        201,
        json!({
            "id": app.id,
            "slug": app.slug,
            "node_id": format!("A_{}", app.id),
            "owner": { "login": "octo", "id": 100, "type": "User" },
            "name": app.name,
            "description": "",
            "external_url": "https://bot.example.com",
            "html_url": format!("http://{host}/apps/{}", app.slug),
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "permissions": { "contents": "write", "issues": "write", "metadata": "read" },
            "events": ["issues", "issue_comment"],
            "client_id": "Iv1.0123456789abcdef",
            "client_secret": "client-secret-never-stored",
            "webhook_secret": secret,
            "pem": pem,
        }),
    )
}
