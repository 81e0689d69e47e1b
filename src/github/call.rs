//! The one wrapper every GitHub operation goes through: metrics, error classification, safe paths.
//!
//! Invariants:
//! - `metagpt_bot_github_api_calls_total{operation}` is counted once per wrapped call, before it is made;
//!   `metagpt_bot_github_api_errors_total{operation,status}` once per failed call, with `status` the HTTP
//!   status or the kind of failure (`network`, `decode`, ...).
//! - Owner and repository names are checked before they are put in a path, so no input can change which
//!   endpoint is called (GitHub's names are letters, digits, `-`, `_` and `.`).

use std::future::Future;

use super::GitHubError;
use crate::telemetry::{GITHUB_API_CALLS_TOTAL, GITHUB_API_ERRORS_TOTAL};

/// Runs one GitHub call named `operation`, counting it and classifying its failure.
pub(crate) async fn observe<T>(
    operation: &'static str,
    call: impl Future<Output = Result<T, octocrab::Error>>,
) -> Result<T, GitHubError> {
    metrics::counter!(GITHUB_API_CALLS_TOTAL, "operation" => operation).increment(1);
    call.await.map_err(|error| {
        let error = GitHubError::from_octocrab(operation, error);
        metrics::counter!(
            GITHUB_API_ERRORS_TOTAL,
            "operation" => operation,
            "status" => error.metric_status(),
        )
        .increment(1);
        tracing::debug!(operation, error = %error, transient = error.is_transient(), "GitHub call failed");
        error
    })
}

/// Checks that `value` is a plausible GitHub owner or repository name, safe to put in a URL path.
pub(crate) fn path_segment<'a>(
    operation: &'static str,
    what: &str,
    value: &'a str,
) -> Result<&'a str, GitHubError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if value.is_empty() || value == "." || value == ".." || !value.chars().all(allowed) {
        return Err(GitHubError::Invalid {
            operation,
            detail: format!("{value:?} is not a valid GitHub {what} name"),
        });
    }
    Ok(value)
}
