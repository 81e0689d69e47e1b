//! Issue comment endpoints: list (paginated), create, update.
//!
//! Invariants:
//! - Listing honours `per_page` (default 30, at most 100) and `page` (from 1) and sends GitHub's `Link`
//!   header (`next`, `last`, and `first`, `prev` after page 1) only when there is more than one page.
//! - A comment is written by the caller's bot account through the caller's App, which the comment shows
//!   as `performed_via_github_app` (GitHub's integration object; `null` for a person's comment); only
//!   that account may edit it (403 otherwise).
//! - Comments need an existing issue or pull request (404 otherwise).

use serde::Deserialize;
use serde_json::{Value, json};

use super::app::app_json;
use super::model::Comment;
use super::route::{Call, Reply, Router};
use super::state::GitHubState;

pub async fn mount(router: &Router<'_>) {
    let comments = "/repos/[^/]+/[^/]+/issues/[0-9]+/comments";
    router.route("GET", comments, list_comments).await;
    router.route("POST", comments, create_comment).await;
    router
        .route(
            "PATCH",
            "/repos/[^/]+/[^/]+/issues/comments/[0-9]+",
            update_comment,
        )
        .await;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyText {
    body: String,
}

/// GitHub's issue comment object.
pub fn comment_json(state: &GitHubState, comment: &Comment) -> Value {
    let via_app = comment
        .via_app
        .and_then(|id| state.apps.get(&id))
        .map(app_json);
    json!({
        "id": comment.id,
        "node_id": format!("IC_{}", comment.id),
        "url": format!("https://api.github.com/repos/{}/issues/comments/{}", comment.repo, comment.id),
        "html_url": format!(
            "https://github.com/{}/issues/{}#issuecomment-{}",
            comment.repo, comment.issue, comment.id
        ),
        "issue_url": format!("https://api.github.com/repos/{}/issues/{}", comment.repo, comment.issue),
        "body": comment.body,
        "user": { "login": comment.user.login, "id": comment.user.id, "type": comment.user.kind() },
        "author_association": if comment.user.kind() == "Bot" { "NONE" } else { "MEMBER" },
        "performed_via_github_app": via_app,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    })
}

/// The repository and issue number of `/repos/{o}/{r}/issues/{n}/...`, if both exist and are visible.
fn issue_of(state: &GitHubState, call: &Call<'_>) -> Result<(String, u64), Reply> {
    let full_name = call.repo(state)?;
    let number = call.number(4).ok_or_else(Reply::not_found)?;
    if state.repos[&full_name].issues.contains_key(&number) {
        Ok((full_name, number))
    } else {
        Err(Reply::not_found())
    }
}

fn list_comments(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let (full_name, number) = match issue_of(state, call) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let per_page = call
        .query("per_page")
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = call
        .query("page")
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let all = state.comments_on(&full_name, number);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|comment| {
            let mut json = comment_json(state, comment);
            if state.listings_without_app {
                json["performed_via_github_app"] = Value::Null;
            }
            json
        })
        .collect();
    let last = all.len().div_ceil(per_page).max(1);
    let reply = Reply::json(200, Value::Array(items));
    if last == 1 {
        return reply;
    }
    reply.with_header("link", &link_header(call, per_page, page, last))
}

/// GitHub's `Link` header for `page` of `last`.
fn link_header(call: &Call<'_>, per_page: usize, page: usize, last: usize) -> String {
    let host = call
        .request
        .headers
        .get("host")
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    let path = call.request.url.path();
    let url = |page: usize| format!("<http://{host}{path}?per_page={per_page}&page={page}>");
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
        links.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", url(1)));
    }
    links.join(", ")
}

fn create_comment(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let (full_name, number) = match issue_of(state, call) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let ask: BodyText = match call.body(state) {
        Ok(ask) => ask,
        Err(reply) => return reply,
    };
    let Some(author) = state.actor(&call.caller) else {
        return Reply::error(403, "Resource not accessible by integration");
    };
    let via_app = state.acting_app(&call.caller);
    let comment = state.add_comment_via(&full_name, number, author, &ask.body, via_app);
    Reply::json(201, comment_json(state, &comment))
}

fn update_comment(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let full_name = match call.repo(state) {
        Ok(full_name) => full_name,
        Err(reply) => return reply,
    };
    let ask: BodyText = match call.body(state) {
        Ok(ask) => ask,
        Err(reply) => return reply,
    };
    let (Some(id), Some(editor)) = (call.number(5), state.actor(&call.caller)) else {
        return Reply::not_found();
    };
    match state.edit_comment(&full_name, id, &editor, &ask.body) {
        Ok(comment) => Reply::json(200, comment_json(state, &comment)),
        Err(reply) => reply,
    }
}
