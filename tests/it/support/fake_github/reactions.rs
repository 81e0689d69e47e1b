//! Reaction endpoints: `POST .../issues/{number}/reactions` and `POST .../issues/comments/{id}/reactions`.
//!
//! Invariants:
//! - `content` must be one of GitHub's eight reactions (422 otherwise, and recorded as unexpected).
//! - A new reaction is 201, the same user's same reaction again is 200 with the existing one.
//! - The target must exist in the repository (404 otherwise).

use serde::Deserialize;
use serde_json::json;

use super::model::ReactionOn;
use super::route::{Call, Reply, Router};
use super::state::GitHubState;

const CONTENTS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

pub async fn mount(router: &Router<'_>) {
    router
        .route(
            "POST",
            "/repos/[^/]+/[^/]+/issues/[0-9]+/reactions",
            react_to_issue,
        )
        .await;
    router
        .route(
            "POST",
            "/repos/[^/]+/[^/]+/issues/comments/[0-9]+/reactions",
            react_to_comment,
        )
        .await;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReaction {
    content: String,
}

fn react_to_issue(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let target = call.repo(state).and_then(|full_name| {
        let number = call.number(4).ok_or_else(Reply::not_found)?;
        if state.repos[&full_name].issues.contains_key(&number) {
            Ok(ReactionOn::Issue {
                repo: full_name,
                number,
            })
        } else {
            Err(Reply::not_found())
        }
    });
    react(state, call, target)
}

fn react_to_comment(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let target = call.repo(state).and_then(|full_name| {
        let id = call.number(5).ok_or_else(Reply::not_found)?;
        let exists = state
            .comments
            .iter()
            .any(|comment| comment.id == id && comment.repo == full_name);
        if exists {
            Ok(ReactionOn::Comment(id))
        } else {
            Err(Reply::not_found())
        }
    });
    react(state, call, target)
}

fn react(state: &mut GitHubState, call: &Call<'_>, target: Result<ReactionOn, Reply>) -> Reply {
    let target = match target {
        Ok(target) => target,
        Err(reply) => return reply,
    };
    let ask: NewReaction = match call.body(state) {
        Ok(ask) => ask,
        Err(reply) => return reply,
    };
    if !CONTENTS.contains(&ask.content.as_str()) {
        state.unexpected.push(format!(
            "a reaction GitHub does not have: {:?}",
            ask.content
        ));
        return Reply::validation(
            json!([{ "resource": "Reaction", "field": "content", "code": "invalid" }]),
        );
    }
    let Some(user) = state.actor(&call.caller) else {
        return Reply::error(403, "Resource not accessible by integration");
    };
    let (reaction, created) = state.react(target, &ask.content, user);
    let body = json!({
        "id": reaction.id,
        "node_id": format!("REA_{}", reaction.id),
        "user": { "login": reaction.user.login, "id": reaction.user.id, "type": reaction.user.kind() },
        "content": reaction.content,
        "created_at": "2024-01-01T00:00:00Z",
    });
    Reply::json(if created { 201 } else { 200 }, body)
}
