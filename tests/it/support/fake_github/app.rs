//! App endpoints: `GET /app`, `GET /app/installations`, `GET /app/hook/config`,
//! `GET /repos/{owner}/{repo}/installation` and `POST /app/installations/{id}/access_tokens`, all
//! JWT-authenticated.
//!
//! Invariants:
//! - A token is minted only for an installation of the App whose JWT signed the request; another App's
//!   or an unknown installation is 404, a suspended one 403, as GitHub answers.
//! - Every mint is recorded in the state with its expiry (see `GitHubState::mint`).

use serde_json::{Value, json};

use super::route::{Call, Reply, Router};
use super::state::{App, GitHubState};

pub async fn mount(router: &Router<'_>) {
    router.route("GET", "/app", get_app).await;
    router
        .route("GET", "/app/installations", list_installations)
        .await;
    router.route("GET", "/app/hook/config", hook_config).await;
    router
        .route(
            "GET",
            "/repos/[^/]+/[^/]+/installation",
            get_repository_installation,
        )
        .await;
    router
        .route(
            "POST",
            "/app/installations/[0-9]+/access_tokens",
            create_access_token,
        )
        .await;
}

fn get_app(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let app_id = match call.app() {
        Ok(app_id) => app_id,
        Err(reply) => return reply,
    };
    let Some(app) = state.apps.get(&app_id) else {
        return Reply::not_found();
    };
    Reply::json(200, app_json(app))
}

/// GitHub's App ("integration") object, as `GET /app` and `performed_via_github_app` show it.
pub fn app_json(app: &App) -> Value {
    json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("A_{}", app.id),
        "name": app.name,
        "owner": { "login": "octo-org", "id": 1, "type": "Organization" },
        "description": "",
        "external_url": "https://example.com",
        "html_url": format!("https://github.com/apps/{}", app.slug),
        "permissions": app.permissions,
        "events": app.events,
    })
}

/// "List installations for the authenticated app" (one page).
fn list_installations(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let app_id = match call.app() {
        Ok(app_id) => app_id,
        Err(reply) => return reply,
    };
    let installations: Vec<Value> = state
        .installations
        .values()
        .filter(|i| i.app_id == app_id)
        .map(|i| {
            json!({
                "id": i.id,
                "app_id": app_id,
                "account": { "login": i.account.login, "id": i.account.id, "type": i.account.kind() },
                "target_type": "Organization",
                "suspended_at": if i.suspended { json!("2024-01-01T00:00:00Z") } else { Value::Null },
            })
        })
        .collect();
    Reply::json(200, Value::Array(installations))
}

/// "Get a webhook configuration for an app": its URL and content type (GitHub never returns the secret).
fn hook_config(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let app_id = match call.app() {
        Ok(app_id) => app_id,
        Err(reply) => return reply,
    };
    let Some(app) = state.apps.get(&app_id) else {
        return Reply::not_found();
    };
    Reply::json(
        200,
        json!({
            "url": app.webhook_url,
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": "********",
        }),
    )
}

/// "Get a repository installation for the authenticated app": the App's installation that can see the
/// repository, or 404 as GitHub answers for a repository the App is not installed on.
fn get_repository_installation(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let app_id = match call.app() {
        Ok(app_id) => app_id,
        Err(reply) => return reply,
    };
    let full_name = format!("{}/{}", call.segments[1], call.segments[2]);
    let Some(installation) = state
        .installations
        .values()
        .find(|i| i.app_id == app_id && i.repositories.contains(&full_name))
    else {
        return Reply::not_found();
    };
    Reply::json(
        200,
        json!({
            "id": installation.id,
            "account": {
                "login": installation.account.login,
                "id": installation.account.id,
                "type": installation.account.kind(),
            },
            "app_id": app_id,
            "target_type": "Organization",
            "access_tokens_url": format!("/app/installations/{}/access_tokens", installation.id),
            "repositories_url": "/installation/repositories",
            "html_url": format!("https://github.com/settings/installations/{}", installation.id),
            "permissions": { "issues": "write", "contents": "write", "metadata": "read" },
            "events": ["issues", "issue_comment"],
            "repository_selection": "selected",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }),
    )
}

fn create_access_token(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let app_id = match call.app() {
        Ok(app_id) => app_id,
        Err(reply) => return reply,
    };
    let Some(installation) = call.number(2).and_then(|id| state.installations.get(&id)) else {
        return Reply::not_found();
    };
    if installation.app_id != app_id {
        return Reply::not_found();
    }
    if installation.suspended {
        return Reply::error(403, "This installation has been suspended");
    }
    let installation_id = installation.id;
    let minted = state.mint(installation_id);
    Reply::json(
        201,
        json!({
            "token": minted.token,
            "expires_at": minted.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "permissions": { "issues": "write", "contents": "write", "metadata": "read" },
            "repository_selection": "selected",
        }),
    )
}
