//! A pull request's draft state, which only GitHub's GraphQL API can change.
//!
//! Invariants:
//! - [`set_draft`] sends nothing when the pull request is already in the wanted state.
//! - It uses the documented mutations `convertPullRequestToDraft` and `markPullRequestReadyForReview`
//!   with the pull request's node id, through octocrab's GraphQL support (`POST /graphql` under the API
//!   base). A GraphQL `errors` array is a failure ([`GitHubError::GraphQl`]), and so is an answer whose
//!   `isDraft` is not what was asked.
//! - GitHub Enterprise Server serves GraphQL at `/api/graphql`, outside the REST base `/api/v3`, and
//!   octocrab joins `/graphql` to the REST base; there the call fails (404). Callers treat a failed draft
//!   change as a degraded result (the pull request keeps its state), not a failed run.

use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::json;

use super::GitHubError;
use super::call::observe;
use super::pulls::PullRequest;

const TO_DRAFT: &str = "mutation($pullRequestId: ID!) { \
    convertPullRequestToDraft(input: {pullRequestId: $pullRequestId}) { pullRequest { isDraft } } }";
const READY: &str = "mutation($pullRequestId: ID!) { \
    markPullRequestReadyForReview(input: {pullRequestId: $pullRequestId}) { pullRequest { isDraft } } }";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireData {
    convert_pull_request_to_draft: Option<WirePayload>,
    mark_pull_request_ready_for_review: Option<WirePayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePayload {
    pull_request: WireDraft,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDraft {
    is_draft: bool,
}

/// Makes `pull` a draft (`draft = true`) or ready for review (`false`); nothing if it already is.
pub async fn set_draft(
    client: &Octocrab,
    pull: &PullRequest,
    draft: bool,
) -> Result<(), GitHubError> {
    const OPERATION: &str = "set_draft";
    if pull.draft == draft {
        return Ok(());
    }
    let query = if draft { TO_DRAFT } else { READY };
    let payload = json!({ "query": query, "variables": { "pullRequestId": pull.node_id } });
    let data: WireData = observe(OPERATION, client.graphql(&payload)).await?;
    let payload = if draft {
        data.convert_pull_request_to_draft
    } else {
        data.mark_pull_request_ready_for_review
    };
    match payload {
        Some(payload) if payload.pull_request.is_draft == draft => Ok(()),
        _ => Err(GitHubError::GraphQl {
            operation: OPERATION,
            detail: format!(
                "pull request #{} is still {} after the mutation",
                pull.number,
                if draft { "ready for review" } else { "a draft" }
            ),
            rate_limited: false,
        }),
    }
}
