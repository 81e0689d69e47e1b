//! Typed webhook payloads: small local serde structs holding only the fields the bot uses.
//!
//! Invariants:
//! - GitHub's payloads are large and vary between GitHub.com, GHES versions and event actions, so every
//!   struct names only what intake reads; unknown fields are ignored, and a field GitHub documents as
//!   nullable or absent in some actions is an `Option` (or defaults) here.
//! - [`parse_event`] is the one entry point: it maps the `X-GitHub-Event` name to a struct, returns
//!   `Ok(None)` for events the bot does not handle, and reports a parse failure with the JSON path of the
//!   offending field (serde_path_to_error, in a second pass taken only when the plain parse failed), so an
//!   operator can see which field broke.
//! - Parsing never panics, whatever the bytes.

use serde::Deserialize;
use serde::de::IgnoredAny;

/// A GitHub account (user, bot or organisation) as webhooks show it.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: u64,
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    pub id: u64,
    pub name: String,
    pub owner: Account,
}

/// The `installation` field a delivery carries when it came through a GitHub App.
#[derive(Debug, Clone, Deserialize)]
pub struct InstallationRef {
    pub id: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    #[serde(default)]
    pub labels: Vec<Label>,
    /// The issue's (or pull request's) text; read for the bot's marker on its own PRs.
    #[serde(default)]
    pub body: Option<String>,
    /// Present (an object) when the "issue" is a pull request; only its presence matters.
    #[serde(default)]
    pub pull_request: Option<IgnoredAny>,
}

impl Issue {
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }
    pub fn is_open(&self) -> bool {
        self.state == "open"
    }
    pub fn has_label(&self, name: &str) -> bool {
        self.labels
            .iter()
            .any(|label| label.name.eq_ignore_ascii_case(name))
    }
}

/// The App that wrote a comment, when one did.
#[derive(Debug, Clone, Deserialize)]
pub struct AppRef {
    pub id: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    /// GitHub sends `null` for an empty body in some API versions.
    #[serde(default)]
    pub body: Option<String>,
    pub user: Account,
    #[serde(default)]
    pub performed_via_github_app: Option<AppRef>,
}

/// `issues` (all actions; intake acts on `labeled`).
#[derive(Debug, Clone, Deserialize)]
pub struct IssuesEvent {
    pub action: String,
    pub issue: Issue,
    /// Set for `labeled` / `unlabeled`.
    #[serde(default)]
    pub label: Option<Label>,
    pub repository: Repository,
    pub sender: Account,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// `issue_comment` (intake acts on `created`).
#[derive(Debug, Clone, Deserialize)]
pub struct IssueCommentEvent {
    pub action: String,
    pub issue: Issue,
    pub comment: Comment,
    pub repository: Repository,
    pub sender: Account,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// `pull_request`: recorded, not acted on (yet).
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestEvent {
    pub action: String,
    pub number: u64,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    pub id: u64,
    #[serde(default)]
    pub account: Option<Account>,
}

/// A repository as installation events list it.
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryName {
    pub full_name: String,
}

/// `installation`: the App was installed, removed, suspended…
#[derive(Debug, Clone, Deserialize)]
pub struct InstallationEvent {
    pub action: String,
    pub installation: Installation,
    #[serde(default)]
    pub repositories: Option<Vec<RepositoryName>>,
}

/// `installation_repositories`: repositories added to or removed from an installation.
#[derive(Debug, Clone, Deserialize)]
pub struct InstallationRepositoriesEvent {
    pub action: String,
    pub installation: Installation,
    #[serde(default)]
    pub repositories_added: Vec<RepositoryName>,
    #[serde(default)]
    pub repositories_removed: Vec<RepositoryName>,
}

/// `ping`: sent when a hook is created.
#[derive(Debug, Clone, Deserialize)]
pub struct PingEvent {
    #[serde(default)]
    pub zen: Option<String>,
    #[serde(default)]
    pub hook_id: Option<u64>,
}

/// A delivery of one of the handled events.
#[derive(Debug, Clone)]
pub enum WebhookEvent {
    Issues(IssuesEvent),
    IssueComment(IssueCommentEvent),
    PullRequest(PullRequestEvent),
    Installation(InstallationEvent),
    InstallationRepositories(InstallationRepositoriesEvent),
    Ping(PingEvent),
    /// A handled event with an action the bot never acts on, whose payload lacks a field the bot reads
    /// only for the actions it acts on (GitHub's `issues.pinned` has no `issue.state`): ignored, not
    /// refused.
    NotActedOn {
        event: String,
        action: String,
    },
}

impl WebhookEvent {
    /// The payload's `action`, if the event has one.
    pub fn action(&self) -> Option<&str> {
        match self {
            WebhookEvent::Issues(e) => Some(&e.action),
            WebhookEvent::IssueComment(e) => Some(&e.action),
            WebhookEvent::PullRequest(e) => Some(&e.action),
            WebhookEvent::Installation(e) => Some(&e.action),
            WebhookEvent::InstallationRepositories(e) => Some(&e.action),
            WebhookEvent::Ping(_) => None,
            WebhookEvent::NotActedOn { action, .. } => Some(action),
        }
    }
}

/// The events [`parse_event`] knows; anything else is ignored by intake.
pub const HANDLED_EVENTS: &[&str] = &[
    "issues",
    "issue_comment",
    "pull_request",
    "installation",
    "installation_repositories",
    "ping",
];

/// A handled event whose payload does not have the shape the bot expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed `{event}` payload at `{path}`: {message}")]
pub struct PayloadError {
    pub event: String,
    /// JSON path of the failure, e.g. `issue.labels[0].name` (`.` for the document itself).
    pub path: String,
    pub message: String,
}

/// The one `issues` action the bot acts on.
pub const ISSUES_ACTED_ON: &str = "labeled";
/// The one `issue_comment` action the bot acts on.
pub const COMMENTS_ACTED_ON: &str = "created";

/// Parses the body of a delivery of event `event`. `Ok(None)`: not an event the bot handles. A payload
/// that does not parse is an error only when the bot would act on its action (or cannot read its
/// action): GitHub's payloads of other actions may lack fields the bot never reads for them.
pub fn parse_event(event: &str, body: &[u8]) -> Result<Option<WebhookEvent>, PayloadError> {
    let parsed = match event {
        "issues" => parse(event, body).map(WebhookEvent::Issues),
        "issue_comment" => parse(event, body).map(WebhookEvent::IssueComment),
        "pull_request" => parse(event, body).map(WebhookEvent::PullRequest),
        "installation" => parse(event, body).map(WebhookEvent::Installation),
        "installation_repositories" => {
            parse(event, body).map(WebhookEvent::InstallationRepositories)
        }
        "ping" => parse(event, body).map(WebhookEvent::Ping),
        _ => return Ok(None),
    };
    match parsed {
        Ok(parsed) => Ok(Some(parsed)),
        Err(error) => not_acted_on(event, body).map(Some).ok_or(error),
    }
}

/// The delivery as [`WebhookEvent::NotActedOn`], when its action can be read and is not one the bot
/// acts on. Taken only after a parse failed, so the common case pays for one parse.
fn not_acted_on(event: &str, body: &[u8]) -> Option<WebhookEvent> {
    #[derive(Deserialize)]
    struct ActionOnly {
        action: String,
    }
    let action = serde_json::from_slice::<ActionOnly>(body).ok()?.action;
    let acted_on = match event {
        "issues" => action == ISSUES_ACTED_ON,
        "issue_comment" => action == COMMENTS_ACTED_ON,
        _ => false,
    };
    (!acted_on).then(|| WebhookEvent::NotActedOn {
        event: event.to_owned(),
        action,
    })
}

/// Parses plainly (the common case, a valid payload); only a failure is parsed again with path tracking,
/// which costs about as much as the parse itself, to name the offending field.
fn parse<T: serde::de::DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, PayloadError> {
    serde_json::from_slice(body).or_else(|_| parse_with_path(event, body))
}

fn parse_with_path<T: serde::de::DeserializeOwned>(
    event: &str,
    body: &[u8],
) -> Result<T, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| PayloadError {
            event: event.to_owned(),
            path: error.path().to_string(),
            message: error.inner().to_string(),
        })?;
    deserializer.end().map_err(|error| PayloadError {
        event: event.to_owned(),
        path: ".".to_owned(),
        message: error.to_string(),
    })?;
    Ok(value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every example payload of `@octokit/webhooks-examples` 7.6.1 (api.github.com: 58 events, 329
    /// payloads), as `(event, index, body)`.
    pub fn recorded_payloads() -> Vec<(String, usize, Vec<u8>)> {
        use std::io::Read as _;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/webhooks/octokit-webhooks-examples-7.6.1.json.gz"
        );
        let file = std::fs::File::open(path).expect("vendored examples");
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .expect("gzip");
        let index: serde_json::Value = serde_json::from_str(&text).expect("json");
        let mut payloads = Vec::new();
        for event in index.as_array().expect("events") {
            let name = event["name"].as_str().expect("name");
            for (i, example) in event["examples"]
                .as_array()
                .expect("examples")
                .iter()
                .enumerate()
            {
                payloads.push((
                    name.to_owned(),
                    i,
                    serde_json::to_vec(example).expect("bytes"),
                ));
            }
        }
        payloads
    }

    #[test]
    fn every_recorded_payload_parses_or_is_not_handled() {
        let payloads = recorded_payloads();
        assert_eq!(payloads.len(), 329);
        let mut not_acted_on = Vec::new();
        for (event, i, body) in &payloads {
            match parse_event(event, body) {
                Ok(Some(WebhookEvent::NotActedOn { action, .. })) => {
                    not_acted_on.push(format!("{event}.{action}"))
                }
                Ok(_) => {}
                Err(error) => panic!("{event}[{i}]: {error}"),
            }
        }
        // GitHub's pinned/unpinned issues carry no `issue.state`; they are ignored, not refused.
        assert_eq!(not_acted_on, ["issues.pinned", "issues.unpinned"]);
    }

    #[test]
    fn a_broken_payload_of_an_action_the_bot_acts_on_is_still_refused_with_its_path() {
        let labeled = br#"{"action":"labeled","issue":{"number":1},"repository":{}}"#;
        let error = parse_event("issues", labeled).expect_err("malformed");
        assert_eq!(error.path, "issue");
        let unreadable = br#"{"issue":{"number":1}}"#;
        assert!(parse_event("issues", unreadable).is_err());
        let pinned = br#"{"action":"pinned","issue":{"number":1}}"#;
        assert!(matches!(
            parse_event("issues", pinned),
            Ok(Some(WebhookEvent::NotActedOn { .. }))
        ));
    }
}
