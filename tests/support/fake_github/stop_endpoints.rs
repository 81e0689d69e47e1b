//! The endpoints `/metagpt stop` needs, kept minimal and apart from the model in `state.rs`:
//! `POST .../issues/{n}/comments`, `POST .../issues/comments/{id}/reactions`, and per-test answers for
//! `GET .../collaborators/{login}/permission` and `GET .../pulls/{n}` ([`FakeGitHub::grant`],
//! [`FakeGitHub::add_pull`]).
//!
//! Invariants:
//! - Every endpoint wants an installation token of an installation that can see the repository; others
//!   are answered 401/403/404 as GitHub does (see `route::Call::installation`).
//! - A login with no granted role is not a collaborator: 404, as GitHub answers.
//! - What was posted is read back from the server's own record of requests ([`FakeGitHub::posted`]), so
//!   nothing here keeps state of its own.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::FakeGitHub;
use super::route::{Call, Reply, Router, Shared, answer};
use super::state::{GitHubState, User};

/// Higher than the generic routes (wiremock's default priority is 5): a per-test answer wins.
const PER_TEST: u8 = 1;

pub async fn mount(router: &Router<'_>) {
    router
        .route(
            "POST",
            "/repos/[^/]+/[^/]+/issues/[0-9]+/comments",
            create_comment,
        )
        .await;
    router
        .route(
            "POST",
            "/repos/[^/]+/[^/]+/issues/comments/[0-9]+/reactions",
            create_reaction,
        )
        .await;
    router
        .route(
            "GET",
            "/repos/[^/]+/[^/]+/collaborators/[^/]+/permission",
            not_a_collaborator,
        )
        .await;
}

/// The installation a call is from, if it may see the repository in segments 1 and 2.
fn seeing(state: &GitHubState, call: &Call<'_>) -> Result<(), Reply> {
    let installation = call.installation()?;
    let full_name = format!("{}/{}", call.segment(1), call.segment(2));
    if state.can_see(installation, &full_name) {
        Ok(())
    } else {
        Err(Reply::not_found())
    }
}

fn create_comment(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    if let Err(reply) = seeing(state, call) {
        return reply;
    }
    let body: Value = serde_json::from_slice(&call.request.body).unwrap_or_default();
    let Some(text) = body["body"].as_str() else {
        return Reply::error(422, "Invalid request.\n\n\"body\" wasn't supplied.");
    };
    let id = 900_000 + state.requests.len() as u64;
    let html_url = format!(
        "https://github.com/{}/{}/issues/{}#issuecomment-{id}",
        call.segment(1),
        call.segment(2),
        call.segment(4)
    );
    Reply::json(
        201,
        json!({ "id": id, "html_url": html_url, "body": text,
            "user": { "login": "metagpt-bot-test[bot]", "id": 999, "type": "Bot" } }),
    )
}

fn create_reaction(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    if let Err(reply) = seeing(state, call) {
        return reply;
    }
    let body: Value = serde_json::from_slice(&call.request.body).unwrap_or_default();
    Reply::json(
        201,
        json!({ "id": 1, "content": body["content"],
            "user": { "login": "metagpt-bot-test[bot]", "id": 999, "type": "Bot" } }),
    )
}

fn not_a_collaborator(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    if let Err(reply) = seeing(state, call) {
        return reply;
    }
    Reply::error(404, &format!("{} is not a user", call.segment(4)))
}

/// A fixed JSON answer for one path, still checked and logged like every other endpoint.
struct Fixed {
    state: Shared,
    prefix: String,
    body: Value,
}

impl Respond for Fixed {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = super::route::lock(&self.state);
        // `answer` takes a plain function, so the fixed body travels in a thread-local for the call.
        FIXED.with(|slot| *slot.borrow_mut() = Some(self.body.clone()));
        answer(&mut state, &self.prefix, request, fixed).into_template()
    }
}

thread_local! {
    static FIXED: std::cell::RefCell<Option<Value>> = const { std::cell::RefCell::new(None) };
}

fn fixed(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    if let Err(reply) = seeing(state, call) {
        return reply;
    }
    match FIXED.with(|slot| slot.borrow_mut().take()) {
        Some(body) => Reply::json(200, body),
        None => Reply::not_found(),
    }
}

/// One request the bot posted: where, and its JSON body.
#[derive(Debug, Clone)]
pub struct Posted {
    pub path: String,
    pub body: Value,
}

impl FakeGitHub {
    async fn mount_fixed(&self, local_path: &str, body: Value) {
        let responder = Fixed {
            state: std::sync::Arc::clone(&self.state),
            prefix: self.prefix.clone(),
            body,
        };
        Mock::given(method("GET"))
            .and(path(format!("{}{local_path}", self.prefix)))
            .respond_with(responder)
            .with_priority(PER_TEST)
            .mount(&self.server)
            .await;
    }

    /// Gives `user` the role `role` (`admin`, `maintain`, `write`, `triage`, `read`) on `full_name`.
    pub async fn grant(&self, full_name: &str, user: &User, role: &str) {
        let permission = match role {
            "maintain" => "write",
            "triage" => "read",
            other => other,
        };
        let body = json!({
            "permission": permission,
            "role_name": role,
            "user": { "login": user.login, "id": user.id, "type": "User" },
        });
        let local = format!("/repos/{full_name}/collaborators/{}/permission", user.login);
        self.mount_fixed(&local, body).await;
    }

    /// Pull request `number` of `full_name` from branch `head_ref` of `head_repo`, into `main`.
    pub async fn add_pull(&self, full_name: &str, number: u64, head_ref: &str, head_repo: &str) {
        let html_url = format!("https://github.com/{full_name}/pull/{number}");
        let body = json!({
            "number": number, "node_id": format!("PR_{number}"), "html_url": html_url,
            "state": "open", "draft": false, "merged": false, "title": "A pull request", "body": null,
            "head": { "ref": head_ref, "sha": "1".repeat(40), "repo": { "full_name": head_repo } },
            "base": { "ref": "main", "sha": "2".repeat(40), "repo": { "full_name": full_name } },
        });
        self.mount_fixed(&format!("/repos/{full_name}/pulls/{number}"), body)
            .await;
    }

    /// The POSTs that reached the fake under `local_prefix` (a path without the API prefix), in order.
    pub async fn posted(&self, local_prefix: &str) -> Vec<Posted> {
        let wanted = format!("{}{local_prefix}", self.prefix);
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .into_iter()
            .filter(|request| request.method.as_str() == "POST")
            .filter(|request| request.url.path().starts_with(&wanted))
            .map(|request| Posted {
                path: request.url.path().to_owned(),
                body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
            })
            .collect()
    }
}
