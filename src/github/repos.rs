//! Repository operations: the repository itself and the text of one file at one ref.
//!
//! Invariants:
//! - [`Repository`] holds only what the bot reads, decoded by a small local struct.
//! - A file path is split on `/` and every segment is percent-encoded (only RFC 3986's unreserved
//!   characters stay as they are), so no path can change which endpoint is called; empty, `.` and `..`
//!   segments are refused before any request.
//! - [`get_file_text`] answers `Ok(None)` only when GitHub answers 404 (no such file at that ref); a
//!   directory, a symlink or submodule, a file too large for the contents API, or bytes that are not
//!   UTF-8 are [`GitHubError::Invalid`] saying which.

use base64::Engine;
use octocrab::Octocrab;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::GitHubError;
use super::call::{observe, path_segment};

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

/// `GET /repos/{owner}/{repo}`.
pub async fn get_repository(
    client: &Octocrab,
    owner: &str,
    repo: &str,
) -> Result<Repository, GitHubError> {
    const OPERATION: &str = "get_repository";
    let route = repo_route(OPERATION, owner, repo)?;
    let wire: WireRepository = observe(OPERATION, client.get(route, None::<&()>)).await?;
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
pub async fn get_file_text(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    path: &str,
    git_ref: &str,
) -> Result<Option<String>, GitHubError> {
    const OPERATION: &str = "get_file_text";
    let base = repo_route(OPERATION, owner, repo)?;
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
    match observe(OPERATION, client.get(route, Some(&query))).await {
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

/// `/repos/{owner}/{repo}` with both names checked, the start of every repository route.
pub(crate) fn repo_route(
    operation: &'static str,
    owner: &str,
    repo: &str,
) -> Result<String, GitHubError> {
    let owner = path_segment(operation, "owner", owner)?;
    let repo = path_segment(operation, "repository", repo)?;
    Ok(format!("/repos/{owner}/{repo}"))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
