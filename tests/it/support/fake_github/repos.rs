//! Repository endpoints: `GET /repos/{owner}/{repo}` and `GET /repos/{owner}/{repo}/contents/{path}`.
//!
//! Invariants:
//! - The contents path arrives percent-encoded and is decoded per segment; `ref` defaults to the default
//!   branch. A file is an object with base64 content in 60-character lines (as GitHub sends it), a
//!   directory (any file under `path/`) an array of entries, anything else 404.
//! - A file over 1 MB is answered with `encoding: none` and empty content, as GitHub does.

use base64::Engine;
use serde_json::{Value, json};

use super::model::Repo;
use super::route::{Call, Reply, Router};
use super::state::GitHubState;

const CONTENTS_API_LIMIT: usize = 1024 * 1024;

pub async fn mount(router: &Router<'_>) {
    router
        .route("GET", "/repos/[^/]+/[^/]+", get_repository)
        .await;
    router
        .route("GET", "/repos/[^/]+/[^/]+/contents/.+", get_contents)
        .await;
}

fn get_repository(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    match call.repo(state) {
        Ok(full_name) => Reply::json(200, repo_json(&state.repos[&full_name])),
        Err(reply) => reply,
    }
}

/// GitHub's repository object, with the fields the bot and octocrab read.
pub fn repo_json(repo: &Repo) -> Value {
    let full_name = repo.full_name();
    json!({
        "id": repo.id,
        "node_id": format!("R_{}", repo.id),
        "name": repo.name,
        "full_name": full_name,
        "owner": { "login": repo.owner.login, "id": repo.owner.id, "type": "Organization" },
        "private": repo.private,
        "fork": repo.fork,
        "html_url": format!("https://github.com/{full_name}"),
        "url": format!("https://api.github.com/repos/{full_name}"),
        "clone_url": repo.clone_url,
        "default_branch": repo.default_branch,
        "visibility": if repo.private { "private" } else { "public" },
    })
}

fn get_contents(state: &mut GitHubState, call: &Call<'_>) -> Reply {
    let full_name = match call.repo(state) {
        Ok(full_name) => full_name,
        Err(reply) => return reply,
    };
    let repo = &state.repos[&full_name];
    let Some(path) = decode_path(&call.segments[4..]) else {
        return Reply::not_found();
    };
    let git_ref = call
        .query("ref")
        .unwrap_or_else(|| repo.default_branch.clone());
    if let Some(content) = repo.files.get(&(git_ref.clone(), path.clone())) {
        return Reply::json(200, file_json(&path, content));
    }
    let prefix = format!("{path}/");
    let entries: Vec<Value> = repo
        .files
        .keys()
        .filter(|(at, file)| *at == git_ref && file.starts_with(&prefix))
        .map(|(_, file)| json!({ "type": "file", "name": file[prefix.len()..], "path": file }))
        .collect();
    if entries.is_empty() {
        Reply::not_found()
    } else {
        Reply::json(200, Value::Array(entries))
    }
}

fn file_json(path: &str, content: &[u8]) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (encoding, text) = if content.len() > CONTENTS_API_LIMIT {
        ("none", String::new())
    } else {
        let encoded = base64::engine::general_purpose::STANDARD.encode(content);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(60)
            .map(|line| std::str::from_utf8(line).unwrap_or_default())
            .collect();
        ("base64", lines.join("\n") + "\n")
    };
    json!({
        "type": "file",
        "encoding": encoding,
        "size": content.len(),
        "name": name,
        "path": path,
        "content": text,
        "sha": format!("{:040x}", content.len()),
    })
}

/// The repository path from its percent-encoded segments, or `None` if it is not valid UTF-8.
fn decode_path(segments: &[&str]) -> Option<String> {
    let decoded: Option<Vec<String>> = segments.iter().map(|segment| decode(segment)).collect();
    Some(decoded?.join("/"))
}

fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}
