//! `POST /repos/{owner}/{repo}/check-runs`, answering and refusing as GitHub's docs say.
//!
//! Invariants:
//! - `name` and `head_sha` (40 hex digits) are required; `completed` needs a `conclusion` from GitHub's
//!   list; an output `summary` or `text` over 65,535 characters is refused with 422, as GitHub does.
//! - Every accepted check run is recorded with all of its fields (see `GitHubState::check_runs_for`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::model::CheckRun;
use super::route::{Call, Reply, Router};
use super::state::GitHubState;

const OUTPUT_LIMIT: usize = 65_535;
const CONCLUSIONS: [&str; 8] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];

pub async fn mount(router: &Router<'_>) {
    router
        .route("POST", "/repos/[^/]+/[^/]+/check-runs", create_check_run)
        .await;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCheckRun {
    name: String,
    head_sha: String,
    details_url: Option<String>,
    external_id: Option<String>,
    status: Option<String>,
    started_at: Option<String>,
    conclusion: Option<String>,
    completed_at: Option<String>,
    output: Option<Output>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Output {
    title: String,
    summary: String,
    text: Option<String>,
}

fn create_check_run(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let full_name = match call.repo(state) {
        Ok(full_name) => full_name,
        Err(reply) => return reply,
    };
    let ask: NewCheckRun = match call.body(state) {
        Ok(ask) => ask,
        Err(reply) => return reply,
    };
    if let Err(reply) = validate(&ask) {
        return reply;
    }
    let Some(app_user) = state.actor(&call.caller) else {
        return Reply::error(403, "Resource not accessible by integration");
    };
    let status = ask.status.unwrap_or_else(|| "queued".to_owned());
    let run = CheckRun {
        id: state.next_id(),
        repo: full_name.clone(),
        name: ask.name,
        head_sha: ask.head_sha,
        status,
        conclusion: ask.conclusion,
        completed_at: ask.completed_at,
        details_url: ask.details_url,
        title: ask.output.as_ref().map(|output| output.title.clone()),
        summary: ask.output.as_ref().map(|output| output.summary.clone()),
        text: ask.output.and_then(|output| output.text),
        app_user,
    };
    state.add_check_run(run.clone());
    Reply::json(201, check_run_json(&run, ask.external_id, ask.started_at))
}

fn validate(ask: &NewCheckRun) -> Result<(), Reply> {
    let field = |field: &str| {
        Reply::validation(json!([{ "resource": "CheckRun", "field": field, "code": "invalid" }]))
    };
    let is_sha = ask.head_sha.len() == 40 && ask.head_sha.chars().all(|c| c.is_ascii_hexdigit());
    if ask.name.is_empty() || !is_sha {
        return Err(field(if is_sha { "name" } else { "head_sha" }));
    }
    let conclusion = ask.conclusion.as_deref();
    if conclusion.is_some_and(|conclusion| !CONCLUSIONS.contains(&conclusion))
        || (ask.status.as_deref() == Some("completed") && conclusion.is_none())
    {
        return Err(field("conclusion"));
    }
    let output = ask.output.as_ref();
    let texts = output.map(|output| [Some(&output.summary), output.text.as_ref()]);
    for text in texts.into_iter().flatten().flatten() {
        let supplied = text.chars().count();
        if supplied > OUTPUT_LIMIT {
            return Err(Reply::error(
                422,
                &format!(
                    "Invalid request.\n\nOnly {OUTPUT_LIMIT} characters are allowed; {supplied} were supplied."
                ),
            ));
        }
    }
    Ok(())
}

fn check_run_json(
    run: &CheckRun,
    external_id: Option<String>,
    started_at: Option<String>,
) -> Value {
    json!({
        "id": run.id,
        "node_id": format!("CR_{}", run.id),
        "head_sha": run.head_sha,
        "external_id": external_id.unwrap_or_default(),
        "url": format!("https://api.github.com/repos/{}/check-runs/{}", run.repo, run.id),
        "html_url": format!("https://github.com/{}/runs/{}", run.repo, run.id),
        "details_url": run.details_url,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": started_at.unwrap_or_else(|| "2024-01-01T00:00:00Z".to_owned()),
        "completed_at": run.completed_at,
        "name": run.name,
        "output": {
            "title": run.title,
            "summary": run.summary,
            "text": run.text,
            "annotations_count": 0,
        },
        "check_suite": { "id": run.id },
        "app": { "slug": run.app_user.login.trim_end_matches("[bot]") },
        "pull_requests": [],
    })
}
