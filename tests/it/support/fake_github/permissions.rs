//! `GET /repos/{owner}/{repo}/collaborators/{username}/permission`.
//!
//! Invariants:
//! - The login is looked up case-insensitively, as GitHub does, and the answer names the account that
//!   holds the login *now* (`user.login`, `user.id`): after a rename the id is someone else's.
//! - A login that is not a collaborator is 404.

use serde_json::json;

use super::route::{Call, Reply, Router};
use super::state::GitHubState;

pub async fn mount(router: &Router<'_>) {
    router
        .route(
            "GET",
            "/repos/[^/]+/[^/]+/collaborators/[^/]+/permission",
            get_permission,
        )
        .await;
}

fn get_permission(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let full_name = match call.repo(state) {
        Ok(full_name) => full_name,
        Err(reply) => return reply,
    };
    let login = call.segment(4).to_lowercase();
    let Some(collaborator) = state.repos[&full_name].collaborators.get(&login) else {
        return Reply::not_found();
    };
    let user = &collaborator.user;
    Reply::json(
        200,
        json!({
            "permission": collaborator.permission,
            "role_name": collaborator.role_name,
            "user": {
                "login": user.login,
                "id": user.id,
                "node_id": format!("U_{}", user.id),
                "type": user.kind(),
                "site_admin": false,
                "permissions": {
                    "admin": collaborator.permission == "admin",
                    "maintain": collaborator.role_name == "maintain",
                    "push": matches!(collaborator.permission.as_str(), "admin" | "write"),
                    "triage": collaborator.permission != "none",
                    "pull": collaborator.permission != "none",
                },
                "role_name": collaborator.role_name,
            },
        }),
    )
}
