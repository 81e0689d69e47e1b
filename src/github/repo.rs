//! A repository as the bot talks to it: [`Repo`] is built once per job for the repository the job is
//! about (bors' `GithubRepositoryClient`), holding the API client, the repository's checked names, who
//! the bot is there (whose comments are its own) and where its git tokens come from. Every GitHub
//! operation of a job is a method of `Repo` (this file: the repository, its files, issues,
//! permissions; `comments.rs`: comments and reactions; `pulls.rs`: pull requests and check runs).
//!
//! Invariants:
//! - The owner and repository names are checked once, when the `Repo` is built, and every route starts
//!   from that checked `/repos/{owner}/{repo}`, so no input can change which endpoint is called.
//! - The App acts as one installation (its shared octocrab client, and installation tokens minted with a
//!   buffer right before each clone and push); the Action acts with the job's `GITHUB_TOKEN`, which lives
//!   as long as the job. A git token is asked for right before the git operation that needs it, valid
//!   for at least [`GIT_TOKEN_VALIDITY`] more, and stays a `SecretString` end to end.
//! - A file path is split on `/` and every segment is percent-encoded (only RFC 3986's unreserved
//!   characters stay as they are); empty, `.` and `..` segments are refused before any request.
//!   [`Repo::file_text`] answers `Ok(None)` only when GitHub answers 404 (no such file at that ref); a
//!   directory, a symlink, a file too large for the contents API or a file that is not UTF-8 is
//!   [`GitHubError::Invalid`] with a reason a person can act on.
//! - [`Issue`] and [`Repository`] hold only what the bot reads, decoded by small local structs
//!   (octocrab's full models break when GitHub adds or nulls fields); GitHub serves pull requests
//!   through the issues endpoint too, and [`Issue::is_pull_request`] tells them apart.
//! - A permission is trusted only for the account the caller meant: GitHub looks the login up, and a
//!   login can change hands after a rename, so if the answer's `user.id` is not the id from the event the
//!   user has [`Permission::None`]. `role_name` decides (`admin`, `maintain`, `write`, `triage`, `read`);
//!   a custom role falls back to `permission`, its base. Anything unknown is `None`.
//! - The repository's settings (`.github/metagpt.yml`) are read from its default branch only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use octocrab::Octocrab;
use secrecy::SecretString;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::GitHubError;
use super::app::{GitHubApp, OwnAuthor};
use super::error::{observe, path_segment};
use crate::repo_config::{PATH as SETTINGS_PATH, RepoConfig, RepoConfigError};

/// How long a git token handed to a clone, fetch or push must still be valid.
pub const GIT_TOKEN_VALIDITY: Duration = Duration::from_secs(10 * 60);

/// One repository, as the bot (an App installation or a job token) sees it.
pub struct Repo {
    client: Arc<Octocrab>,
    owner: String,
    name: String,
    /// `/repos/{owner}/{name}`, both names checked.
    route: String,
    identity: Identity,
}

enum Identity {
    App {
        app: Arc<GitHubApp>,
        installation: u64,
        author: OwnAuthor,
    },
    Token {
        token: SecretString,
        author: OwnAuthor,
    },
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("owner", &self.owner)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Repo {
    /// `owner/name` as installation `installation` of the App sees it.
    pub async fn for_installation(
        app: Arc<GitHubApp>,
        installation: u64,
        owner: &str,
        name: &str,
    ) -> Result<Repo, GitHubError> {
        let route = route(owner, name)?;
        let client = app.installation(installation).await?;
        let author = app.author().await?;
        Ok(Repo {
            client,
            owner: owner.to_owned(),
            name: name.to_owned(),
            route,
            identity: Identity::App {
                app,
                installation,
                author,
            },
        })
    }

    /// `owner/name` with a fixed token (the Action's `GITHUB_TOKEN`, or a token a test mints), for the API
    /// and for git; `author` is the account that token writes as.
    pub fn with_token(
        client: Arc<Octocrab>,
        token: SecretString,
        author: OwnAuthor,
        owner: &str,
        name: &str,
    ) -> Result<Repo, GitHubError> {
        Ok(Repo {
            client,
            owner: owner.to_owned(),
            name: name.to_owned(),
            route: route(owner, name)?,
            identity: Identity::Token { token, author },
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Who writes this repository's comments for the bot, to find them again (and nobody else's).
    pub fn author(&self) -> &OwnAuthor {
        match &self.identity {
            Identity::App { author, .. } | Identity::Token { author, .. } => author,
        }
    }

    /// `/repos/{owner}/{repo}`, checked.
    pub(super) fn route(&self) -> &str {
        &self.route
    }

    pub(super) fn client(&self) -> &Octocrab {
        &self.client
    }

    /// A token for git over HTTPS, valid for at least [`GIT_TOKEN_VALIDITY`].
    pub async fn git_token(&self) -> Result<SecretString, GitHubError> {
        match &self.identity {
            Identity::App {
                app, installation, ..
            } => app.git_token(*installation, GIT_TOKEN_VALIDITY).await,
            Identity::Token { token, .. } => Ok(token.clone()),
        }
    }
}

/// `/repos/{owner}/{repo}` with both names checked, the start of every repository route.
fn route(owner: &str, name: &str) -> Result<String, GitHubError> {
    const OPERATION: &str = "repository";
    let owner = path_segment(OPERATION, "owner", owner)?;
    let name = path_segment(OPERATION, "repository", name)?;
    Ok(format!("/repos/{owner}/{name}"))
}

// ---- the repository and its files ----

/// A repository as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub id: u64,
    /// `owner/name`.
    pub full_name: String,
    pub default_branch: String,
    /// The HTTPS clone URL (`https://github.com/owner/name.git`).
    pub clone_url: String,
    /// The repository's page (`https://github.com/owner/name`), the base of blob links.
    pub html_url: String,
    pub fork: bool,
    pub private: bool,
}

#[derive(Deserialize)]
struct WireRepository {
    id: u64,
    full_name: String,
    default_branch: String,
    clone_url: String,
    html_url: String,
    #[serde(default)]
    fork: bool,
    #[serde(default)]
    private: bool,
}

impl Repo {
    /// `GET /repos/{owner}/{repo}`.
    pub async fn repository(&self) -> Result<Repository, GitHubError> {
        const OPERATION: &str = "get_repository";
        let wire: WireRepository =
            observe(OPERATION, self.client.get(&self.route, None::<&()>)).await?;
        Ok(Repository {
            id: wire.id,
            full_name: wire.full_name,
            default_branch: wire.default_branch,
            clone_url: wire.clone_url,
            html_url: wire.html_url,
            fork: wire.fork,
            private: wire.private,
        })
    }

    /// `GET /repos/{owner}/{repo}/contents/{path}?ref={git_ref}`: the file's text, or `None` if there is no
    /// such file at that ref.
    pub async fn file_text(
        &self,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<String>, GitHubError> {
        const OPERATION: &str = "get_file_text";
        let base = &self.route;
        let encoded = encode_file_path(path).map_err(|detail| GitHubError::Invalid {
            operation: OPERATION,
            detail,
        })?;
        if git_ref.is_empty() {
            return Err(GitHubError::Invalid {
                operation: OPERATION,
                detail: format!("no ref given for {path:?} (pass a branch, tag or commit)"),
            });
        }
        let route = format!("{base}/contents/{encoded}");
        let query = RefQuery { r#ref: git_ref };
        match observe(OPERATION, self.client.get(route, Some(&query))).await {
            Ok(answer) => decode_contents(path, git_ref, answer)
                .map(Some)
                .map_err(|detail| GitHubError::Invalid {
                    operation: OPERATION,
                    detail,
                }),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

#[derive(Serialize)]
struct RefQuery<'a> {
    r#ref: &'a str,
}

/// GitHub answers a file as an object and a directory as an array of entries.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireContents {
    Directory(Vec<IgnoredAny>),
    Entry(WireEntry),
}

#[derive(Deserialize)]
struct WireEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

/// The text of a contents-API answer for `path`, or why it is not a readable text file.
fn decode_contents(path: &str, git_ref: &str, answer: WireContents) -> Result<String, String> {
    let entry = match answer {
        WireContents::Directory(entries) => {
            return Err(format!(
                "{path:?} at {git_ref} is a directory ({} entries), not a file",
                entries.len()
            ));
        }
        WireContents::Entry(entry) => entry,
    };
    if entry.kind != "file" {
        return Err(format!(
            "{path:?} at {git_ref} is a {}, not a regular file",
            entry.kind
        ));
    }
    let (Some("base64"), Some(content)) = (entry.encoding.as_deref(), entry.content) else {
        return Err(format!(
            "{path:?} at {git_ref} is too large for GitHub's contents API (over 1 MB); keep it smaller"
        ));
    };
    let compact: String = content.split_ascii_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|error| format!("{path:?} at {git_ref}: GitHub sent invalid base64: {error}"))?;
    String::from_utf8(bytes).map_err(|error| {
        format!(
            "{path:?} at {git_ref} is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            error.utf8_error().valid_up_to()
        )
    })
}

/// `path` with each `/`-separated segment percent-encoded, or why it cannot name a file.
fn encode_file_path(path: &str) -> Result<String, String> {
    let segments: Vec<&str> = path.split('/').collect();
    if segments
        .iter()
        .any(|segment| segment.is_empty() || *segment == "." || *segment == "..")
    {
        return Err(format!(
            "{path:?} is not a file path in a repository (no leading, trailing or double `/`, no `.` or `..`)"
        ));
    }
    let encoded: Vec<String> = segments
        .iter()
        .map(|segment| encode_segment(segment))
        .collect();
    Ok(encoded.join("/"))
}

fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

// ---- the repository's settings ----

/// The repository and its `.github/metagpt.yml` as read from its default branch.
pub struct RepoSettings {
    pub repository: Repository,
    /// `Err` is an invalid file (the person's to fix).
    pub config: Result<RepoConfig, RepoConfigError>,
}

impl Repo {
    /// The repository and its settings, read from its default branch (a pull request cannot change how
    /// the bot runs on it): a missing file means the defaults; an invalid one is the repository's
    /// problem, reported with line and column; a file that cannot be read as text at all (not UTF-8,
    /// over GitHub's 1 MB contents limit, a directory or a symlink) is the repository's problem too,
    /// reported the same way (without a position), never a failure of GitHub's to retry. `Err` is
    /// GitHub failing.
    pub async fn settings(&self) -> Result<RepoSettings, GitHubError> {
        let repository = self.repository().await?;
        let branch = &repository.default_branch;
        let config = match self.file_text(SETTINGS_PATH, branch).await {
            Ok(None) => Ok(RepoConfig::default()),
            Ok(Some(text)) => RepoConfig::parse(&text),
            // The path and the branch are well formed, so an invalid answer is about the file itself.
            Err(GitHubError::Invalid { detail, .. }) => Err(unreadable(&detail, branch)),
            Err(error) => return Err(error),
        };
        Ok(RepoSettings { repository, config })
    }
}

/// `detail` (which names the file and the branch) as a problem of the file.
fn unreadable(detail: &str, branch: &str) -> RepoConfigError {
    let named = format!("{SETTINGS_PATH:?} at {branch} ");
    match detail.strip_prefix(&named) {
        Some(problem) => RepoConfigError::whole_file(format!("on `{branch}` the file {problem}")),
        None => RepoConfigError::whole_file(detail),
    }
}

// ---- issues ----

/// An issue (or pull request) as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    /// The body text; empty when the issue has none.
    pub body: String,
    /// Label names, in GitHub's order.
    pub labels: Vec<String>,
    pub state: IssueState,
    pub is_pull_request: bool,
    /// The author; `None` only if GitHub sends no user (GitHub shows deleted accounts as `ghost`).
    pub user: Option<IssueUser>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    Open,
    Closed,
}

/// An account by login and numeric id (permission checks use the id).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueUser {
    pub login: String,
    pub id: u64,
}

impl Repo {
    /// `GET /repos/{owner}/{repo}/issues/{number}`.
    pub async fn issue(&self, number: u64) -> Result<Issue, GitHubError> {
        const OPERATION: &str = "get_issue";
        let route = format!("{}/issues/{number}", self.route);
        let wire: WireIssue = observe(OPERATION, self.client.get(route, None::<&()>)).await?;
        Ok(wire.into())
    }
}

#[derive(Deserialize)]
struct WireIssue {
    number: u64,
    title: String,
    body: Option<String>,
    #[serde(default)]
    labels: Vec<WireLabel>,
    state: IssueState,
    pull_request: Option<IgnoredAny>,
    user: Option<IssueUser>,
}

/// GitHub documents a label in an issue as either an object or a bare name.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireLabel {
    Object { name: String },
    Name(String),
}

impl From<WireIssue> for Issue {
    fn from(wire: WireIssue) -> Self {
        Issue {
            number: wire.number,
            title: wire.title,
            body: wire.body.unwrap_or_default(),
            labels: wire
                .labels
                .into_iter()
                .map(|label| match label {
                    WireLabel::Object { name } | WireLabel::Name(name) => name,
                })
                .collect(),
            state: wire.state,
            is_pull_request: wire.pull_request.is_some(),
            user: wire.user,
        }
    }
}

// ---- permissions ----

/// A repository role, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    None,
}

impl Permission {
    /// Whether this role may start a run (it can push to the repository).
    pub fn can_trigger(self) -> bool {
        matches!(
            self,
            Permission::Admin | Permission::Maintain | Permission::Write
        )
    }

    fn from_role_name(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Permission::Admin),
            "maintain" => Some(Permission::Maintain),
            "write" => Some(Permission::Write),
            "triage" => Some(Permission::Triage),
            "read" => Some(Permission::Read),
            "none" => Some(Permission::None),
            _ => None,
        }
    }

    fn from_answer(answer: &WirePermission) -> Self {
        answer
            .role_name
            .as_deref()
            .and_then(Self::from_role_name)
            .or_else(|| Self::from_role_name(&answer.permission))
            .unwrap_or(Permission::None)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::Admin => "admin",
            Permission::Maintain => "maintain",
            Permission::Write => "write",
            Permission::Triage => "triage",
            Permission::Read => "read",
            Permission::None => "none",
        })
    }
}

#[derive(Deserialize)]
struct WirePermission {
    permission: String,
    #[serde(default)]
    role_name: Option<String>,
    user: Option<WireUser>,
}

#[derive(Deserialize)]
struct WireUser {
    id: u64,
}

impl Repo {
    /// `GET /repos/{owner}/{repo}/collaborators/{login}/permission`, accepted only for account `user_id`.
    pub async fn permission(&self, user_id: u64, login: &str) -> Result<Permission, GitHubError> {
        const OPERATION: &str = "permission_of";
        let base = &self.route;
        if login.ends_with("[bot]") {
            return Ok(Permission::None);
        }
        let login = path_segment(OPERATION, "user", login)?;
        let route = format!("{base}/collaborators/{login}/permission");
        match observe(OPERATION, self.client.get(route, None::<&()>)).await {
            Ok(answer) => Ok(checked(user_id, &answer)),
            Err(error) if error.status() == Some(404) => Ok(Permission::None),
            Err(error) => Err(error),
        }
    }
}

fn checked(user_id: u64, answer: &WirePermission) -> Permission {
    match &answer.user {
        Some(user) if user.id == user_id => Permission::from_answer(answer),
        _ => Permission::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_settings_file_is_named_once_with_its_branch() {
        let detail = "\".github/metagpt.yml\" at main is not UTF-8 text (invalid byte at offset 3); \
                      save it as UTF-8";
        let shown = unreadable(detail, "main").to_string();
        assert_eq!(
            shown,
            "`.github/metagpt.yml`: on `main` the file is not UTF-8 text (invalid byte at offset 3); \
             save it as UTF-8"
        );
        let other = unreadable("something else", "main").to_string();
        assert_eq!(other, "`.github/metagpt.yml`: something else");
    }

    fn entry(json: serde_json::Value) -> WireContents {
        serde_json::from_value(json).expect("wire shape")
    }

    #[test]
    fn paths_are_encoded_per_segment_and_traversal_is_refused() {
        assert_eq!(
            encode_file_path(".github/metagpt.yml").as_deref(),
            Ok(".github/metagpt.yml")
        );
        assert_eq!(
            encode_file_path("docs/a b/ü?#.md").as_deref(),
            Ok("docs/a%20b/%C3%BC%3F%23.md")
        );
        for bad in ["", "/etc/passwd", "a//b", "a/../b", "./a", "a/"] {
            assert!(encode_file_path(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn base64_content_with_line_breaks_is_decoded() {
        let answer = entry(serde_json::json!({
            "type": "file", "encoding": "base64", "content": "bl9yb3VuZDog\nNQo=\n",
        }));
        assert_eq!(
            decode_contents("f", "main", answer).as_deref(),
            Ok("n_round: 5\n")
        );
    }

    #[test]
    fn directories_binaries_and_large_files_are_refused_with_a_reason() {
        let dir = entry(serde_json::json!([{ "type": "file", "name": "a" }]));
        assert!(
            decode_contents("d", "main", dir)
                .unwrap_err()
                .contains("directory")
        );
        let binary = entry(serde_json::json!({
            "type": "file", "encoding": "base64", "content": "//79",
        }));
        assert!(
            decode_contents("b", "main", binary)
                .unwrap_err()
                .contains("UTF-8")
        );
        let large = entry(serde_json::json!({ "type": "file", "encoding": "none", "content": "" }));
        assert!(
            decode_contents("l", "main", large)
                .unwrap_err()
                .contains("too large")
        );
        let link = entry(serde_json::json!({ "type": "symlink", "target": "x" }));
        assert!(
            decode_contents("s", "main", link)
                .unwrap_err()
                .contains("symlink")
        );
    }

    fn answer(permission: &str, role_name: Option<&str>, id: u64) -> WirePermission {
        let json = serde_json::json!({
            "permission": permission,
            "role_name": role_name,
            "user": { "login": "alice", "id": id },
        });
        serde_json::from_value(json).expect("wire shape")
    }

    #[test]
    fn role_name_decides_and_custom_roles_fall_back_to_their_base() {
        let cases = [
            ("admin", Some("admin"), Permission::Admin),
            ("write", Some("maintain"), Permission::Maintain),
            ("write", Some("write"), Permission::Write),
            ("read", Some("triage"), Permission::Triage),
            ("read", Some("read"), Permission::Read),
            ("write", Some("release-manager"), Permission::Write),
            ("read", None, Permission::Read),
            ("none", Some("custom"), Permission::None),
            ("weird", Some("custom"), Permission::None),
        ];
        for (permission, role, expected) in cases {
            assert_eq!(
                checked(7, &answer(permission, role, 7)),
                expected,
                "{role:?}"
            );
        }
    }

    #[test]
    fn an_answer_about_another_account_is_no_permission() {
        assert_eq!(
            checked(7, &answer("admin", Some("admin"), 8)),
            Permission::None
        );
    }

    #[test]
    fn only_writers_and_above_trigger() {
        let triggering: Vec<String> = [
            Permission::Admin,
            Permission::Maintain,
            Permission::Write,
            Permission::Triage,
            Permission::Read,
            Permission::None,
        ]
        .into_iter()
        .filter(|permission| permission.can_trigger())
        .map(|permission| permission.to_string())
        .collect();
        assert_eq!(triggering, ["admin", "maintain", "write"]);
    }
}
