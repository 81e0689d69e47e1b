//! Check runs: one completed check run per call, with a title, a summary and optional text.
//!
//! Invariants:
//! - A check run is created already completed (`status: completed`, `completed_at` now, a conclusion).
//! - GitHub refuses an output `summary` or `text` over 65,535 characters; both are cut at a character
//!   boundary so that, with the note [`TRUNCATION_NOTE`], they fit, and the reader is told where the
//!   rest is.

use std::fmt;

use octocrab::Octocrab;
use serde::{Deserialize, Serialize};

use super::GitHubError;
use super::call::observe;
use super::repos::repo_route;

/// GitHub's limit on a check run's output `summary` and `text`, in characters.
pub const OUTPUT_LIMIT: usize = 65_535;
/// What replaces the end of a summary or text that was too long.
pub const TRUNCATION_NOTE: &str = "\n\n… (truncated; see the evidence files)";

/// How a completed check run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Conclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
}

impl fmt::Display for Conclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
            Conclusion::Cancelled => "cancelled",
        })
    }
}

/// What [`create_check_run`] creates.
#[derive(Debug, Clone)]
pub struct NewCheckRun<'a> {
    pub name: &'a str,
    /// The commit the check run is about (40 hex digits).
    pub head_sha: &'a str,
    pub conclusion: Conclusion,
    pub title: &'a str,
    /// Markdown; cut to [`OUTPUT_LIMIT`] characters.
    pub summary: &'a str,
    /// Markdown details; cut to [`OUTPUT_LIMIT`] characters.
    pub text: Option<&'a str>,
    pub details_url: Option<&'a str>,
}

/// A created check run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub html_url: String,
}

#[derive(Serialize)]
struct WireCheckRun<'a> {
    name: &'a str,
    head_sha: &'a str,
    status: &'static str,
    conclusion: Conclusion,
    completed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details_url: Option<&'a str>,
    output: WireOutput<'a>,
}

#[derive(Serialize)]
struct WireOutput<'a> {
    title: &'a str,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// `POST /repos/{owner}/{repo}/check-runs`, completed now.
pub async fn create_check_run(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    run: &NewCheckRun<'_>,
) -> Result<CheckRun, GitHubError> {
    const OPERATION: &str = "create_check_run";
    let base = repo_route(OPERATION, owner, repo)?;
    let wire = WireCheckRun {
        name: run.name,
        head_sha: run.head_sha,
        status: "completed",
        conclusion: run.conclusion,
        completed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        details_url: run.details_url,
        output: WireOutput {
            title: run.title,
            summary: fit(run.summary),
            text: run.text.map(fit),
        },
    };
    let route = format!("{base}/check-runs");
    observe(OPERATION, client.post(route, Some(&wire))).await
}

/// `text` if it fits GitHub's limit, else its start cut at a character boundary plus the note.
fn fit(text: &str) -> String {
    if text.chars().count() <= OUTPUT_LIMIT {
        return text.to_owned();
    }
    let keep = OUTPUT_LIMIT - TRUNCATION_NOTE.chars().count();
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(TRUNCATION_NOTE);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_within_the_limit_is_kept_whole() {
        let exact = "a".repeat(OUTPUT_LIMIT);
        assert_eq!(fit(&exact), exact);
    }

    #[test]
    fn longer_text_is_cut_at_a_char_boundary_with_the_note() {
        let long = "é".repeat(OUTPUT_LIMIT + 10);
        let cut = fit(&long);
        assert_eq!(cut.chars().count(), OUTPUT_LIMIT);
        assert!(cut.ends_with("… (truncated; see the evidence files)"));
        assert!(cut.starts_with("éé"));
    }

    #[test]
    fn conclusions_are_github_words() {
        let words: Vec<String> = [
            Conclusion::Success,
            Conclusion::Failure,
            Conclusion::Neutral,
            Conclusion::Cancelled,
        ]
        .iter()
        .map(|conclusion| {
            let json = serde_json::to_value(conclusion).expect("json");
            assert_eq!(json.as_str(), Some(conclusion.to_string().as_str()));
            conclusion.to_string()
        })
        .collect();
        assert_eq!(words, ["success", "failure", "neutral", "cancelled"]);
    }
}
