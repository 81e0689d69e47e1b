//! The real octocrab App client against the fake GitHub: JWT, installation tokens, one client per
//! installation, token refresh. Error classification and settings are in `app/`.

use crate::support::fake_github;

mod errors;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Lifetime;
use fake_github::{Caller, FakeGitHub, Issue, TEST_APP_ID, TEST_APP_KEY, User};
use metagpt_bot::github::{IssueState, Repo};
use secrecy::ExposeSecret;

use super::{FULL_NAME, INSTALLATION, OWNER, REPO, alice, app_for, repo, widgets};

/// octo-org/widgets with issue #1 labelled `metagpt` and `enhancement`, and PR #2.
fn world(fake: &FakeGitHub) {
    widgets(fake);
    let mut state = fake.state();
    let issue = state.repo_mut(FULL_NAME).issues.get_mut(&1).unwrap();
    issue.labels = vec!["metagpt".into(), "enhancement".into()];
    let mut pr = Issue::open(2, "Fix the build", "", alice());
    pr.is_pull_request = true;
    state.add_issue(FULL_NAME, pr);
}

/// octo-org/widgets through an installation's `client`.
fn repo_of(client: &Arc<octocrab::Octocrab>) -> Repo {
    repo(client, OWNER, REPO)
}

/// The token each answered request to `path_part` carried, with its status.
fn calls_to(fake: &FakeGitHub, path_part: &str) -> Vec<(Option<String>, u16)> {
    let token = |caller: &Caller| match caller {
        Caller::Installation { token, .. } => Some(token.clone()),
        _ => None,
    };
    fake.requests()
        .iter()
        .filter(|request| request.path.contains(path_part))
        .map(|request| (token(&request.caller), request.status))
        .collect()
}

#[tokio::test]
async fn reads_an_issue_through_the_jwt_and_installation_token_path() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let app = app_for(&fake);

    let client = app
        .installation(INSTALLATION)
        .await
        .expect("installation client");
    let issue = repo_of(&client).issue(1).await.expect("issue #1");

    assert_eq!(issue.number, 1);
    assert_eq!(issue.title, "Add a CSV export");
    assert_eq!(issue.body, "Users want CSV.");
    assert_eq!(issue.labels, ["metagpt", "enhancement"]);
    assert_eq!(issue.state, IssueState::Open);
    assert!(!issue.is_pull_request);
    let user = issue.user.expect("author");
    assert_eq!((user.login.as_str(), user.id), ("alice", 31));

    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 1, "one installation token");
    let mint_request = &fake.requests()[0];
    assert_eq!(mint_request.path, "/app/installations/77/access_tokens");
    assert_eq!(
        mint_request.caller,
        Caller::App(TEST_APP_ID),
        "the fake verified the App JWT"
    );
    assert_eq!(
        calls_to(&fake, "/issues/1"),
        [(Some(minted[0].token.clone()), 200)]
    );

    let pr = repo_of(&client).issue(2).await.expect("PR #2");
    assert!(pr.is_pull_request);
    assert_eq!(pr.body, "");
}

#[tokio::test]
async fn each_installation_has_one_client_shared_by_all_tasks() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    fake.state()
        .add_installation(78, TEST_APP_ID, User::new("other-org", 11));
    let app = Arc::new(app_for(&fake));

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.installation(INSTALLATION).await })
        })
        .collect();
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.expect("task").expect("client"));
    }
    assert!(
        clients
            .iter()
            .all(|client| Arc::ptr_eq(client, &clients[0]))
    );
    assert_eq!(
        fake.minted_tokens().len(),
        1,
        "concurrent first use mints one token"
    );

    for client in &clients[..3] {
        repo_of(client).issue(1).await.expect("issue");
    }
    assert_eq!(
        fake.minted_tokens().len(),
        1,
        "later calls reuse the cached token"
    );

    let other = app.installation(78).await.expect("second installation");
    assert!(!Arc::ptr_eq(&other, &clients[0]));
    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 2);
    assert_eq!(minted[1].installation_id, 78);
}

#[tokio::test]
async fn an_expired_token_is_replaced_before_the_request() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    fake.state()
        .queue_token_lifetimes(&[Lifetime::seconds(-60)]);
    let app = app_for(&fake);

    let client = app.installation(INSTALLATION).await.expect("client");
    let issue = repo_of(&client)
        .issue(1)
        .await
        .expect("issue after refresh");

    assert_eq!(issue.number, 1);
    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 2, "the expired token was replaced");
    assert_eq!(
        calls_to(&fake, "/issues/1"),
        [(Some(minted[1].token.clone()), 200)]
    );
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced_before_the_request() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    fake.state().queue_token_lifetimes(&[Lifetime::seconds(20)]);
    let app = app_for(&fake);
    let client = app.installation(INSTALLATION).await.expect("client");

    repo_of(&client).issue(1).await.expect("issue");

    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 2, "a token with 20 s left is not used");
    assert_eq!(
        calls_to(&fake, "/issues/1"),
        [(Some(minted[1].token.clone()), 200)]
    );
}

#[tokio::test]
async fn a_token_github_refuses_is_replaced_and_the_request_repeated() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let app = app_for(&fake);
    let client = app.installation(INSTALLATION).await.expect("client");
    let first = fake.minted_tokens()[0].token.clone();
    fake.state().revoke_token(&first);

    let issue = repo_of(&client).issue(1).await.expect("issue after a 401");

    assert_eq!(issue.number, 1);
    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 2);
    assert_eq!(
        calls_to(&fake, "/issues/1"),
        [(None, 401), (Some(minted[1].token.clone()), 200)],
        "GitHub refused the revoked token once, then accepted a new one"
    );
}

#[tokio::test]
async fn git_tokens_live_at_least_as_long_as_asked_and_share_the_cache() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    fake.state().queue_token_lifetimes(&[Lifetime::minutes(5)]);
    let app = app_for(&fake);

    let first = app
        .git_token(INSTALLATION, Duration::from_secs(60))
        .await
        .expect("token");
    let again = app
        .git_token(INSTALLATION, Duration::from_secs(60))
        .await
        .expect("token");
    assert_eq!(
        first.expose_secret(),
        again.expose_secret(),
        "5 minutes left is enough for 1"
    );
    assert_eq!(fake.minted_tokens().len(), 1);

    let longer = app
        .git_token(INSTALLATION, Duration::from_secs(600))
        .await
        .expect("token");
    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 2, "5 minutes left is not enough for 10");
    assert_eq!(longer.expose_secret(), minted[1].token);

    let client = app.installation(INSTALLATION).await.expect("client");
    repo_of(&client).issue(1).await.expect("issue");
    assert_eq!(
        fake.minted_tokens().len(),
        2,
        "API calls use the git token's cache"
    );

    let too_long = app.git_token(INSTALLATION, Duration::from_secs(3600)).await;
    assert!(
        too_long.is_err(),
        "GitHub's tokens live one hour; more cannot be promised"
    );
}
