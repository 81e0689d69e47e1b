//! Issue endpoints: `GET /repos/{owner}/{repo}/issues/{number}`, with an installation token.
//!
//! Invariants:
//! - A repository the installation cannot see is answered 404, like a missing one (GitHub hides it).
//! - The JSON has GitHub's shape for the fields the bot and octocrab read; a pull request carries a
//!   `pull_request` object, an issue none.

use serde_json::{Value, json};

use super::model::{Issue, Repo};
use super::route::{Call, Reply, Router};
use super::state::GitHubState;

pub async fn mount(router: &Router<'_>) {
    router
        .route("GET", "/repos/[^/]+/[^/]+/issues/[0-9]+", get_issue)
        .await;
}

fn get_issue(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let installation_id = match call.installation() {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let full_name = format!("{}/{}", call.segment(1), call.segment(2));
    if !state.can_see(installation_id, &full_name) {
        return Reply::not_found();
    }
    let repo = state.repos.get(&full_name);
    let issue = repo
        .zip(call.number(4))
        .and_then(|(repo, number)| Some((repo, repo.issues.get(&number)?)));
    match issue {
        Some((repo, issue)) => Reply::json(200, issue_json(repo, issue)),
        None => Reply::not_found(),
    }
}

pub fn issue_json(repo: &Repo, issue: &Issue) -> Value {
    let html_url = format!(
        "https://github.com/{}/issues/{}",
        repo.full_name(),
        issue.number
    );
    let labels: Vec<Value> = issue
        .labels
        .iter()
        .enumerate()
        .map(|(index, name)| json!({ "id": index + 1, "name": name, "color": "ededed", "default": false }))
        .collect();
    let mut body = json!({
        "id": repo.id * 100_000 + issue.number,
        "node_id": format!("I_{}_{}", repo.id, issue.number),
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "state": issue.state,
        "labels": labels,
        "user": { "login": issue.user.login, "id": issue.user.id, "type": "User" },
        "html_url": html_url,
        "comments": 0,
        "author_association": "MEMBER",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    });
    if issue.is_pull_request {
        body["pull_request"] = json!({ "html_url": html_url.replace("/issues/", "/pull/") });
    }
    body
}
