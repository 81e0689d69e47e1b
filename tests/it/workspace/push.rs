//! Pushing: a server-side rejection is an error naming the ref and the reason, a human push meanwhile
//! is never overwritten, and integrating it lets the push go through on top of it.

use std::os::unix::fs::PermissionsExt;

use metagpt_bot::workspace::{
    CommitOutcome, CommitRequest, CommitSubject, Credentials, DEFAULT_BOT_EMAIL, Integration,
    Workspace, WorkspaceError,
};
use secrecy::SecretString;

use super::fixture::{TOKEN, bare_repo, human_push, is_ancestor, ready, setup, tip, write};
use crate::support::git_server::GitServer;

fn bot_commit(ws: &Workspace, path: &str, iteration: u32) -> git2::Oid {
    write(ws.root(), path, &format!("bot iteration {iteration}\n"));
    let request = CommitRequest {
        subject: CommitSubject::Issue(5),
        iteration,
        body: "",
        email: DEFAULT_BOT_EMAIL,
    };
    match ws.commit_all(&request).expect("commit") {
        CommitOutcome::Committed(id) => id,
        CommitOutcome::NoChanges => panic!("nothing committed"),
    }
}

#[test]
fn pushes_the_branch_over_http_with_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(dir.path(), "acme", &ready("acme"));
    let server = GitServer::start(dir.path(), TOKEN);
    let credentials = Credentials::token(SecretString::from(TOKEN.to_owned()));
    let ws = Workspace::clone_or_open(
        &server.url("acme.git"),
        &dir.path().join("w/acme"),
        credentials,
    )
    .expect("clone");
    ws.prepare_branch("metagpt/issue-5").expect("branch");
    let id = bot_commit(&ws, "acme/feature.py", 1);

    ws.push("metagpt/issue-5").expect("push");

    assert_eq!(tip(&bare, "metagpt/issue-5"), Some(id.to_string()));
}

#[test]
fn a_push_the_server_refuses_is_an_error_naming_the_ref_and_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(dir.path(), "acme", &ready("acme"));
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'policy: pushes are frozen' >&2\nexit 1\n",
    )
    .expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = GitServer::start(dir.path(), TOKEN);
    let credentials = Credentials::token(SecretString::from(TOKEN.to_owned()));
    let ws = Workspace::clone_or_open(
        &server.url("acme.git"),
        &dir.path().join("w/acme"),
        credentials,
    )
    .expect("clone");
    ws.prepare_branch("metagpt/issue-5").expect("branch");
    bot_commit(&ws, "acme/feature.py", 1);

    let error = ws.push("metagpt/issue-5").expect_err("the hook refuses");

    let WorkspaceError::PushRejected { refname, reason } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(refname, "refs/heads/metagpt/issue-5");
    assert!(reason.contains("hook declined"), "{reason}");
    assert_eq!(tip(&bare, "metagpt/issue-5"), None, "nothing was pushed");
}

#[test]
fn a_human_push_meanwhile_is_never_overwritten_and_is_built_upon() {
    let s = setup();
    let branch = "metagpt/issue-5";
    s.ws.prepare_branch(branch).expect("branch");
    bot_commit(&s.ws, "acme/bot.py", 1);
    s.ws.push(branch).expect("first push");
    bot_commit(&s.ws, "acme/bot.py", 2);
    let human = human_push(&s.bare, branch, "acme/human.py", "human fix\n");

    let error = s.ws.push(branch).expect_err("the remote moved");

    assert!(
        matches!(&error, WorkspaceError::RemoteMoved { branch: b } if b == branch),
        "{error:?}"
    );
    assert_eq!(
        tip(&s.bare, branch),
        Some(human.clone()),
        "the human commit is still the tip"
    );

    let integration =
        s.ws.integrate_remote(branch, DEFAULT_BOT_EMAIL)
            .expect("integrate");
    assert!(
        matches!(integration, Integration::Merged(_)),
        "{integration:?}"
    );
    s.ws.push(branch).expect("push after integrating");

    let pushed = tip(&s.bare, branch).expect("branch");
    assert!(
        is_ancestor(&s.bare, &human, &pushed),
        "the human commit is kept"
    );
    assert!(
        s.ws.root().join("acme/human.py").is_file() && s.ws.root().join("acme/bot.py").is_file()
    );
    assert_eq!(
        std::fs::read_to_string(s.ws.root().join("acme/bot.py")).expect("bot file"),
        "bot iteration 2\n"
    );
}

#[test]
fn integrating_without_own_commits_fast_forwards_and_with_nothing_new_does_nothing() {
    let s = setup();
    let branch = "metagpt/issue-6";
    s.ws.prepare_branch(branch).expect("branch");
    bot_commit(&s.ws, "acme/bot.py", 1);
    s.ws.push(branch).expect("push");
    assert_eq!(
        s.ws.integrate_remote(branch, DEFAULT_BOT_EMAIL)
            .expect("integrate"),
        Integration::UpToDate
    );

    let human = human_push(&s.bare, branch, "acme/human.py", "h\n");
    let integration =
        s.ws.integrate_remote(branch, DEFAULT_BOT_EMAIL)
            .expect("integrate");

    assert_eq!(
        integration,
        Integration::FastForwarded(git2::Oid::from_str(&human).expect("oid"))
    );
    assert!(s.ws.root().join("acme/human.py").is_file());
}

#[test]
fn conflicting_human_work_is_reported_and_changes_nothing() {
    let s = setup();
    let branch = "metagpt/issue-8";
    s.ws.prepare_branch(branch).expect("branch");
    bot_commit(&s.ws, "acme/main.py", 1);
    s.ws.push(branch).expect("push");
    bot_commit(&s.ws, "acme/main.py", 2);
    human_push(&s.bare, branch, "acme/main.py", "human version\n");
    let before = s.ws.head().expect("head");

    let error =
        s.ws.integrate_remote(branch, DEFAULT_BOT_EMAIL)
            .expect_err("conflict");

    assert!(
        matches!(&error, WorkspaceError::MergeConflict { paths, .. } if paths == &["acme/main.py"]),
        "{error:?}"
    );
    assert_eq!(s.ws.head().expect("head"), before);
}

/// The work tree is the agent's during a run: a `pushurl` (or an `insteadOf`) it writes into
/// `.git/config` must not carry the token to another server. The push is refused before any credential
/// is sent, naming both URLs, and the other server never sees the token.
#[test]
fn a_push_url_rewritten_in_git_config_never_gets_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(dir.path(), "acme", &ready("acme"));
    let server = GitServer::start(dir.path(), TOKEN);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let thief = GitServer::start_with(dir.path(), {
        let seen = seen.clone();
        std::sync::Arc::new(move |given: &str| {
            seen.lock().unwrap().push(given.to_owned());
            false
        })
    });
    let credentials = Credentials::token(SecretString::from(TOKEN.to_owned()));
    let url = server.url("acme.git");
    let ws =
        Workspace::clone_or_open(&url, &dir.path().join("w/acme"), credentials).expect("clone");
    ws.prepare_branch("metagpt/issue-5").expect("branch");
    bot_commit(&ws, "acme/feature.py", 1);
    let evil = thief.url("acme.git");
    for (key, value) in [
        ("remote.origin.pushurl", evil.clone()),
        (&format!("url.{evil}.insteadOf") as &str, url.clone()),
    ] {
        let repo = git2::Repository::open(ws.root()).expect("open");
        let mut config = repo.config().expect("config");
        config.set_str(key, &value).expect("rewrite");
        let error = ws.push("metagpt/issue-5").expect_err("refused");
        assert!(
            matches!(&error, WorkspaceError::TokenDiverted { url: to, pinned } if *to == evil && *pinned == url),
            "{key}: {error}"
        );
        assert_eq!(tip(&bare, "metagpt/issue-5"), None, "{key}: nothing pushed");
        config.remove(key).expect("restore");
    }
    let seen = seen.lock().unwrap();
    assert!(
        !seen.iter().any(|given| given.contains(TOKEN)),
        "the other server was sent the token: {seen:?}"
    );
}
