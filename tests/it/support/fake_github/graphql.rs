//! The GraphQL endpoint, for the two mutations that change a pull request's draft state:
//! `convertPullRequestToDraft` and `markPullRequestReadyForReview` (input `pullRequestId`).
//!
//! Invariants:
//! - It is served where GitHub serves it: `/graphql` on GitHub.com, `/api/graphql` for a GHES-style
//!   `/api/v3` prefix (outside the REST base).
//! - Any other query is answered with a GraphQL error and recorded as unexpected.
//! - An unknown or invisible node id is GitHub's `NOT_FOUND` error with `data` null for the field.

use serde::Deserialize;
use serde_json::{Value, json};

use super::route::{Call, Reply, Router};
use super::state::GitHubState;

const MUTATIONS: [(&str, bool); 2] = [
    ("convertPullRequestToDraft", true),
    ("markPullRequestReadyForReview", false),
];

/// Mounts the endpoint beside the REST base: the router's prefix without a trailing `/v3`.
pub async fn mount(router: &Router<'_>) {
    let prefix = router.prefix.strip_suffix("/v3").unwrap_or(router.prefix);
    let graphql = Router {
        server: router.server,
        state: router.state,
        prefix,
    };
    graphql.route("POST", "/graphql", answer).await;
}

#[derive(Deserialize)]
struct Query {
    query: String,
    #[serde(default)]
    variables: serde_json::Map<String, Value>,
}

fn answer(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let installation = match call.installation() {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let query: Query = match call.body(state) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let Some((field, draft)) = MUTATIONS
        .iter()
        .find(|(name, _)| query.query.contains(&format!("{name}(")))
        .copied()
    else {
        state.unexpected.push(format!(
            "a GraphQL query the fake does not model: {}",
            query.query
        ));
        return error_reply(None, "PARSE_ERROR", "The fake does not model this query");
    };
    let node_id = query
        .variables
        .get("pullRequestId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let found = state
        .pull_by_node_id(node_id)
        .filter(|(full_name, _)| state.can_see(installation, full_name));
    let Some((full_name, number)) = found else {
        let message = format!("Could not resolve to a node with the global id of '{node_id}'.");
        return error_reply(Some(field), "NOT_FOUND", &message);
    };
    state.set_pull_draft(&full_name, number, draft);
    Reply::json(
        200,
        json!({ "data": { field: { "pullRequest": { "isDraft": draft } } } }),
    )
}

fn error_reply(field: Option<&str>, kind: &str, message: &str) -> Reply {
    let data = field.map_or(Value::Null, |field| json!({ field: null }));
    let path = field.map_or(json!([]), |field| json!([field]));
    Reply::json(
        200,
        json!({
            "data": data,
            "errors": [{ "type": kind, "path": path, "message": message,
                         "locations": [{ "line": 1, "column": 1 }] }],
        }),
    )
}
