//! Cloning: a token over HTTP that never lands on disk, a refused token that fails at once, and
//! reusing a workspace by fetching into it.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use metagpt_bot::workspace::{Credentials, Workspace, WorkspaceError};
use secrecy::SecretString;

use super::fixture::{TOKEN, bare_repo, human_push, ready};
use crate::support::git_server::GitServer;

fn token(value: &str) -> Credentials {
    Credentials::token(SecretString::from(value.to_owned()))
}

/// Every file under `dir`, read as bytes.
fn any_file_contains(dir: &Path, needle: &[u8]) -> Option<String> {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            if let Some(found) = any_file_contains(&path, needle) {
                return Some(found);
            }
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).expect("read file");
            if bytes.windows(needle.len()).any(|w| w == needle) {
                return Some(path.display().to_string());
            }
        }
    }
    None
}

/// Runs `clone` on a thread and waits for it with a generous deadline, so that a credentials callback
/// called forever fails the test instead of hanging it.
fn clone_with_deadline(
    url: String,
    dir: std::path::PathBuf,
    credentials: Credentials,
) -> Result<Workspace, WorkspaceError> {
    let (sent, received) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sent.send(Workspace::clone_or_open(&url, &dir, credentials));
    });
    received
        .recv_timeout(Duration::from_secs(120))
        .expect("the clone never ended (credentials asked forever?)")
}

#[test]
fn clones_over_http_with_a_token_that_never_reaches_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    bare_repo(dir.path(), "acme", &ready("acme"));
    let server = GitServer::start(dir.path(), TOKEN);
    let target = dir.path().join("work").join("acme");

    let ws =
        clone_with_deadline(server.url("acme.git"), target.clone(), token(TOKEN)).expect("clone");

    assert_eq!(
        std::fs::read_to_string(target.join("acme/main.py")).expect("cloned file"),
        "print('hello')\n"
    );
    let config = std::fs::read_to_string(target.join(".git/config")).expect(".git/config");
    assert!(
        config.contains(&server.url("acme.git")),
        "origin is the plain URL: {config}"
    );
    assert!(
        !config.contains(TOKEN),
        "the token is in .git/config: {config}"
    );
    assert_eq!(
        any_file_contains(&target, TOKEN.as_bytes()),
        None,
        "the token was written to disk"
    );
    assert_eq!(ws.remote_url().expect("remote url"), server.url("acme.git"));
}

#[test]
fn a_refused_token_fails_at_once_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    bare_repo(dir.path(), "acme", &ready("acme"));
    let server = GitServer::start(dir.path(), TOKEN);

    let error = clone_with_deadline(
        server.url("acme.git"),
        dir.path().join("acme"),
        token("ghs_wrong"),
    )
    .expect_err("a wrong token must fail");

    assert!(
        matches!(error, WorkspaceError::TokenRefused { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("the token was refused"),
        "{error}"
    );
    // One request without credentials, one with the wrong token: then it gives up.
    assert!(
        server.refused_requests() <= 3,
        "asked {} times",
        server.refused_requests()
    );
}

#[test]
fn a_server_asking_for_credentials_without_a_token_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    bare_repo(dir.path(), "acme", &ready("acme"));
    let server = GitServer::start(dir.path(), TOKEN);

    let error = clone_with_deadline(
        server.url("acme.git"),
        dir.path().join("acme"),
        Credentials::none(),
    )
    .expect_err("no token must fail");

    assert!(
        matches!(error, WorkspaceError::TokenMissing { .. }),
        "{error:?}"
    );
}

#[test]
fn a_url_carrying_credentials_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://x-access-token:{TOKEN}@127.0.0.1:9/acme.git");

    let error = Workspace::clone_or_open(&url, &dir.path().join("acme"), Credentials::none())
        .expect_err("refused");

    assert!(
        matches!(error, WorkspaceError::CredentialsInUrl),
        "{error:?}"
    );
    assert!(!dir.path().join("acme").exists());
}

#[test]
fn reopening_a_workspace_fetches_what_was_pushed_meanwhile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(dir.path(), "acme", &ready("acme"));
    let server = GitServer::start(dir.path(), TOKEN);
    let target = dir.path().join("work").join("acme");
    clone_with_deadline(server.url("acme.git"), target.clone(), token(TOKEN)).expect("first clone");
    let human = human_push(&bare, "metagpt/issue-3", "acme/extra.py", "x = 1\n");

    let ws = clone_with_deadline(server.url("acme.git"), target, token(TOKEN)).expect("reopen");
    let branch = ws.prepare_branch("metagpt/issue-3").expect("branch");

    assert_eq!(branch.head.to_string(), human);
}

#[test]
fn a_directory_holding_another_repository_is_not_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acme = bare_repo(dir.path(), "acme", &ready("acme"));
    let other = bare_repo(dir.path(), "other", &ready("other"));
    let target = dir.path().join("acme");
    Workspace::clone_or_open(
        &format!("file://{}", acme.display()),
        &target,
        Credentials::none(),
    )
    .expect("clone");

    let error = Workspace::clone_or_open(
        &format!("file://{}", other.display()),
        &target,
        Credentials::none(),
    )
    .expect_err("another origin");

    assert!(
        matches!(error, WorkspaceError::OtherOrigin { .. }),
        "{error:?}"
    );
}

#[test]
fn clones_a_local_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(dir.path(), "acme", &ready("acme"));
    let target = dir.path().join("work").join("acme");

    let ws = Workspace::clone_or_open(bare.to_str().expect("utf-8"), &target, Credentials::none())
        .expect("clone");

    assert!(target.join("acme/main.py").is_file());
    assert_eq!(ws.root(), target.canonicalize().expect("canonical"));
}
