//! Pull request endpoints: list (by head, state, newest or oldest first), get, create, update.
//!
//! Invariants:
//! - The JSON has GitHub's shape for what the bot and octocrab read; a single pull request carries
//!   `merged`, a list entry only `merged_at`, as on GitHub.
//! - The rules (422s, head commits from git) are in `pull_rules.rs`; this file only speaks HTTP.

use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{Pull, Repo};
use super::pull_rules::{PullRequestAsk, pull_node_id};
use super::repos::repo_json;
use super::route::{Call, Reply, Router};
use super::state::GitHubState;

pub async fn mount(router: &Router<'_>) {
    let pulls = "/repos/[^/]+/[^/]+/pulls";
    let pull = "/repos/[^/]+/[^/]+/pulls/[0-9]+";
    router.route("GET", pulls, list_pulls).await;
    router.route("POST", pulls, create_pull).await;
    router.route("GET", pull, get_pull).await;
    router.route("PATCH", pull, update_pull).await;
}

/// GitHub's pull request object; `single` adds `merged` (a list entry has only `merged_at`).
pub fn pull_json(repo: &Repo, pull: &Pull, single: bool) -> Value {
    let full_name = repo.full_name();
    let user = json!({ "login": pull.user.login, "id": pull.user.id, "type": pull.user.kind() });
    let branch = |name: &str, sha: &str, owner: &str, repo_json: Value| {
        json!({
            "label": format!("{owner}:{name}"),
            "ref": name,
            "sha": sha,
            "user": { "login": owner, "type": "User" },
            "repo": repo_json,
        })
    };
    // A head in another repository is a fork: GitHub describes that repository (null once deleted).
    let head_repo = match pull.head_repo.as_deref() {
        None => Value::Null,
        Some(name) if name == full_name => repo_json(repo),
        Some(fork) => fork_json(fork),
    };
    let head_owner = pull
        .head_repo
        .as_deref()
        .and_then(|name| name.split('/').next())
        .unwrap_or(&repo.owner.login)
        .to_owned();
    let base_sha = super::pull_rules::branch_sha(repo, &pull.base_ref).unwrap_or_default();
    let mut body = json!({
        "url": format!("https://api.github.com/repos/{full_name}/pulls/{}", pull.number),
        "id": repo.id * 100_000 + pull.number,
        "node_id": pull_node_id(repo, pull.number),
        "html_url": format!("https://github.com/{full_name}/pull/{}", pull.number),
        "number": pull.number,
        "state": pull.state,
        "locked": false,
        "title": pull.title,
        "body": pull.body,
        "user": user,
        "draft": pull.draft,
        "merged_at": if pull.merged { json!("2024-01-02T00:00:00Z") } else { Value::Null },
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "head": branch(&pull.head_ref, &pull.head_sha, &head_owner, head_repo),
        "base": branch(&pull.base_ref, &base_sha, &repo.owner.login, repo_json(repo)),
    });
    if single {
        body["merged"] = json!(pull.merged);
    }
    body
}

/// A fork's repository object, as a pull request's `head.repo` shows it.
fn fork_json(full_name: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    json!({
        "name": name,
        "full_name": full_name,
        "owner": { "login": owner, "type": "User" },
        "private": false,
        "fork": true,
        "html_url": format!("https://github.com/{full_name}"),
        "clone_url": format!("https://github.com/{full_name}.git"),
    })
}

fn one(state: &mut GitHubState, full_name: &str, number: u64, status: u16) -> Reply {
    match state.pull(full_name, number) {
        Some(pull) => Reply::json(status, pull_json(&state.repos[full_name], &pull, true)),
        None => Reply::not_found(),
    }
}

fn list_pulls(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let full_name = match call.repo(state) {
        Ok(full_name) => full_name,
        Err(reply) => return reply,
    };
    let wanted_state = call.query("state").unwrap_or_else(|| "open".to_owned());
    let head = call.query("head");
    let owner = state.repos[&full_name].owner.login.clone();
    let head_owner = |pull: &Pull| {
        pull.head_repo
            .as_deref()
            .and_then(|name| name.split('/').next())
            .unwrap_or(&owner)
            .to_owned()
    };
    let mut pulls: Vec<Pull> = state
        .pulls_of(&full_name)
        .into_iter()
        .filter(|pull| wanted_state == "all" || pull.state == wanted_state)
        .filter(|pull| {
            head.as_deref()
                .is_none_or(|head| head == format!("{}:{}", head_owner(pull), pull.head_ref))
        })
        .collect();
    if call.query("direction").as_deref() != Some("asc") {
        pulls.reverse();
    }
    let per_page = call
        .query("per_page")
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let repo = &state.repos[&full_name];
    let items: Vec<Value> = pulls
        .iter()
        .take(per_page)
        .map(|pull| pull_json(repo, pull, false))
        .collect();
    Reply::json(200, Value::Array(items))
}

fn get_pull(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    match (call.repo(state), call.number(4)) {
        (Ok(full_name), Some(number)) => one(state, &full_name, number, 200),
        (Err(reply), _) => reply,
        (_, None) => Reply::not_found(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePull {
    title: String,
    head: String,
    base: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    draft: bool,
    /// Documented and accepted; the fake does not model fork permissions.
    #[serde(default)]
    #[allow(dead_code)]
    maintainer_can_modify: Option<bool>,
}

fn create_pull(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let full_name = match call.repo(state) {
        Ok(full_name) => full_name,
        Err(reply) => return reply,
    };
    let ask: CreatePull = match call.body(state) {
        Ok(ask) => ask,
        Err(reply) => return reply,
    };
    let Some(user) = state.actor(&call.caller) else {
        return Reply::error(403, "Resource not accessible by integration");
    };
    let ask = PullRequestAsk {
        title: &ask.title,
        head: &ask.head,
        base: &ask.base,
        body: ask.body.as_deref(),
        draft: ask.draft,
    };
    match state.open_pull(&full_name, user, &ask) {
        Ok(pull) => one(state, &full_name, pull.number, 201),
        Err(reply) => reply,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePull {
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
    base: Option<String>,
    maintainer_can_modify: Option<bool>,
}

fn update_pull(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let (full_name, number) = match (call.repo(state), call.number(4)) {
        (Ok(full_name), Some(number)) => (full_name, number),
        (Err(reply), _) => return reply,
        (_, None) => return Reply::not_found(),
    };
    let ask: UpdatePull = match call.body(state) {
        Ok(ask) => ask,
        Err(reply) => return reply,
    };
    if ask.base.is_some() || ask.maintainer_can_modify.is_some() {
        state.unexpected.push(
            "the fake does not model changing a pull request's base or fork permissions".to_owned(),
        );
    }
    let edited = state.edit_pull(
        &full_name,
        number,
        ask.title.as_deref(),
        ask.body.as_deref(),
        ask.state.as_deref(),
    );
    match edited {
        Some(_) => one(state, &full_name, number, 200),
        None => Reply::not_found(),
    }
}
