//! What can go wrong when the bot talks to GitHub, and whether trying again later can help.
//!
//! Every GitHub operation goes through [`observe`]: it counts the call
//! (`metagpt_bot_github_api_calls_total{operation}`, before it is made) and, on failure,
//! `metagpt_bot_github_api_errors_total{operation,status}` with `status` the HTTP status or the kind of
//! failure (`network`, `decode`, ...). Owner and repository names are checked ([`path_segment`]) before
//! they are put in a path, so no input can change which endpoint is called.
//!
//! Invariants:
//! - Every failure of a wrapped GitHub operation is one [`GitHubError`] naming the operation, so a log
//!   line or a job's last error says what was being done.
//! - [`GitHubError::is_transient`] is the single place that decides retry versus give up: network
//!   failures, 5xx, 408, 429 and rate-limited 403s are transient; everything else (404, 410, 422, a 401
//!   that survived octocrab's token refresh, a bad key or URL, an unreadable answer) is permanent. A
//!   GraphQL `errors` answer is permanent unless it says it was rate limited.
//! - A status error's message carries GitHub's `errors[].message` details after its `message`, so a 422
//!   says what failed validation ([`GitHubError::is_already_exists`] reads it).
//! - Secrets never appear in an error: octocrab's errors carry no token, and we add none.

use std::time::Duration;

use std::future::Future;

use http::HeaderMap;

use crate::telemetry::{GITHUB_API_CALLS_TOTAL, GITHUB_API_ERRORS_TOTAL};

/// A failed call to GitHub (or a setting that makes every call fail).
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// A setting that can never work: fix the configuration, retrying will not help.
    #[error("{0}")]
    Config(String),
    /// GitHub answered with an error status.
    #[error("GitHub answered {status} to {operation}: {message}{}", status_hint(*.status))]
    Status {
        operation: &'static str,
        status: u16,
        message: String,
        /// GitHub said the request was refused because of a (primary or secondary) rate limit.
        rate_limited: bool,
        /// How long GitHub asked us to wait (`retry-after`, or until `x-ratelimit-reset`).
        retry_after: Option<Duration>,
    },
    /// GitHub could not be reached, or the connection broke or timed out.
    #[error("could not reach GitHub for {operation}: {detail}")]
    Network {
        operation: &'static str,
        detail: String,
    },
    /// GitHub answered 2xx with a body we could not read.
    #[error("GitHub's answer to {operation} could not be read: {detail}")]
    Decode {
        operation: &'static str,
        detail: String,
    },
    /// GitHub's GraphQL API answered with an `errors` array (or not with what was asked).
    #[error("GitHub's GraphQL API refused {operation}: {detail}")]
    GraphQl {
        operation: &'static str,
        detail: String,
        /// GitHub said the query was refused because of a rate limit.
        rate_limited: bool,
    },
    /// The request itself was malformed (for example a repository name with a `/` in it).
    #[error("invalid request for {operation}: {detail}")]
    Invalid {
        operation: &'static str,
        detail: String,
    },
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 => {
            " (GitHub refused the App's credentials: check APP_ID and PRIVATE_KEY, and that the key \
             was not revoked and the installation is not suspended)"
        }
        404 => " (it does not exist, or the App's installation cannot see it)",
        _ => "",
    }
}

impl GitHubError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            GitHubError::Network { .. } => true,
            GitHubError::Status {
                status,
                rate_limited,
                ..
            } => *rate_limited || *status >= 500 || *status == 408 || *status == 429,
            GitHubError::GraphQl { rate_limited, .. } => *rate_limited,
            GitHubError::Config(_) | GitHubError::Decode { .. } | GitHubError::Invalid { .. } => {
                false
            }
        }
    }

    /// The HTTP status GitHub answered, if it answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long GitHub asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GitHubError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short label for metrics: the status code, or the kind of failure.
    pub fn metric_status(&self) -> String {
        match self {
            GitHubError::Status { status, .. } => status.to_string(),
            GitHubError::Network { .. } => "network".to_owned(),
            GitHubError::Decode { .. } => "decode".to_owned(),
            GitHubError::Config(_) => "config".to_owned(),
            GitHubError::Invalid { .. } => "invalid".to_owned(),
            GitHubError::GraphQl { .. } => "graphql".to_owned(),
        }
    }

    /// Whether GitHub refused to create something because it already exists, e.g. its 422 "A pull
    /// request already exists for owner:branch." (find the existing one and update it instead).
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self,
            GitHubError::Status { status: 422, message, .. } if message.contains("already exists")
        )
    }

    /// Classifies an octocrab error raised while doing `operation`.
    pub(crate) fn from_octocrab(operation: &'static str, error: octocrab::Error) -> Self {
        use octocrab::Error as E;
        let detail = chain(&error);
        match error {
            E::GitHub { source, .. } => from_status(operation, &source),
            E::Graphql { source, .. } => {
                let says_rate_limit = source
                    .0
                    .iter()
                    .any(|error| error.message.to_ascii_lowercase().contains("rate limit"));
                let messages: Vec<&str> = source
                    .0
                    .iter()
                    .map(|error| error.message.as_str())
                    .collect();
                GitHubError::GraphQl {
                    operation,
                    detail: messages.join("; "),
                    rate_limited: says_rate_limit,
                }
            }
            E::Service { .. } | E::Hyper { .. } => GitHubError::Network { operation, detail },
            E::Serde { .. } | E::Json { .. } | E::InvalidUtf8 { .. } | E::Other { .. } => {
                GitHubError::Decode { operation, detail }
            }
            E::JWT { .. } => GitHubError::Config(format!(
                "could not sign the GitHub App JWT for {operation}: {detail}"
            )),
            E::Uri { .. } | E::UriParse { .. } | E::Http { .. } | E::InvalidHeaderValue { .. } => {
                GitHubError::Invalid { operation, detail }
            }
            E::Installation { .. } | E::InstallationTokenInvalidAuth { .. } => GitHubError::Config(
                format!("{operation} needs an installation client: {detail}"),
            ),
            _ => GitHubError::Network { operation, detail },
        }
    }
}

fn from_status(operation: &'static str, source: &octocrab::GitHubError) -> GitHubError {
    let status = source.status_code.as_u16();
    let headers = source.headers.as_ref();
    let exhausted = header_u64(headers, "x-ratelimit-remaining") == Some(0);
    let retry_after = header_u64(headers, "retry-after")
        .map(Duration::from_secs)
        .or_else(|| exhausted.then(|| until_reset(source)).flatten());
    let says_rate_limit = source.message.to_ascii_lowercase().contains("rate limit");
    let rate_limited =
        (status == 403 || status == 429) && (exhausted || retry_after.is_some() || says_rate_limit);
    GitHubError::Status {
        operation,
        status,
        message: with_details(source),
        rate_limited,
        retry_after,
    }
}

/// GitHub's message plus the messages of its `errors` entries ("Validation Failed: A pull request
/// already exists for o:b."), which say what was wrong.
fn with_details(source: &octocrab::GitHubError) -> String {
    let details: Vec<&str> = source
        .errors
        .iter()
        .flatten()
        .filter_map(|error| error.get("message")?.as_str())
        .collect();
    if details.is_empty() {
        source.message.clone()
    } else {
        format!("{}: {}", source.message, details.join("; "))
    }
}

fn header_u64(headers: Option<&HeaderMap>, name: &str) -> Option<u64> {
    headers?.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn until_reset(source: &octocrab::GitHubError) -> Option<Duration> {
    let reset = source.rate_limit_reset_at()?;
    let wait = (reset - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    Some(wait)
}

/// The error and its causes on one line (octocrab's errors keep the useful part in the sources).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        next = cause.source();
    }
    text
}

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
