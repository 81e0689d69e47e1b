//! How GitHub's failures reach the worker: transient (try again later) or permanent (give up).

use metagpt_bot::github::GitHubError;

use super::fake_github::{FakeGitHub, Fault};
use super::{INSTALLATION, app_for, repo_of, world};

const ISSUE_PATH: &str = "/repos/octo-org/widgets/issues/1";

async fn issue_error(fake: &FakeGitHub, number: u64) -> GitHubError {
    let app = app_for(fake);
    let client = app.installation(INSTALLATION).await.expect("client");
    repo_of(&client)
        .issue(number)
        .await
        .expect_err("the call should fail")
}

#[tokio::test]
async fn a_missing_issue_is_permanent() {
    let fake = FakeGitHub::start().await;
    world(&fake);

    let error = issue_error(&fake, 999).await;

    assert_eq!(error.status(), Some(404));
    assert!(!error.is_transient());
    assert!(error.to_string().contains("get_issue"), "{error}");
}

#[tokio::test]
async fn a_server_error_is_transient_and_not_retried_by_the_client() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    fake.inject("GET", ISSUE_PATH, Fault::status(500, "Server Error"), None)
        .await;

    let error = issue_error(&fake, 1).await;

    assert_eq!(error.status(), Some(500));
    assert!(error.is_transient());
    let calls = fake
        .requests()
        .iter()
        .filter(|request| request.path == ISSUE_PATH)
        .count();
    assert_eq!(calls, 1, "retrying is the queue's job, with backoff");
}

#[tokio::test]
async fn rate_limits_are_transient_and_say_when_to_come_back() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let secondary = Fault::status(403, "You have exceeded a secondary rate limit")
        .with_header("retry-after", "30");
    fake.inject("GET", ISSUE_PATH, secondary, Some(1)).await;
    let primary = Fault::status(403, "API rate limit exceeded for installation")
        .with_header("x-ratelimit-remaining", "0")
        .with_header(
            "x-ratelimit-reset",
            &(chrono::Utc::now().timestamp() + 120).to_string(),
        );
    fake.inject("GET", ISSUE_PATH, primary, Some(1)).await;
    fake.inject(
        "GET",
        ISSUE_PATH,
        Fault::status(429, "Too Many Requests"),
        Some(1),
    )
    .await;

    let app = app_for(&fake);
    let client = app.installation(INSTALLATION).await.expect("client");
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(repo_of(&client).issue(1).await.expect_err("rate limited"));
    }

    assert!(errors.iter().all(GitHubError::is_transient), "{errors:?}");
    let waits: Vec<_> = errors.iter().map(GitHubError::retry_after).collect();
    assert!(
        waits.contains(&Some(std::time::Duration::from_secs(30))),
        "{waits:?}"
    );
    assert_eq!(
        waits.iter().filter(|wait| wait.is_some()).count(),
        2,
        "{waits:?}"
    );
}

#[tokio::test]
async fn a_forbidden_answer_without_rate_limit_is_permanent() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let forbidden = Fault::status(403, "Resource not accessible by integration");
    fake.inject("GET", ISSUE_PATH, forbidden, None).await;

    let error = issue_error(&fake, 1).await;

    assert_eq!(error.status(), Some(403));
    assert!(!error.is_transient());
}

#[tokio::test]
async fn an_unknown_or_suspended_installation_is_permanent() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let app = app_for(&fake);

    let unknown = app
        .installation(999)
        .await
        .expect_err("no such installation");
    assert_eq!(unknown.status(), Some(404));
    assert!(!unknown.is_transient());

    let client = app.installation(INSTALLATION).await.expect("client");
    fake.state().suspend_installation(INSTALLATION);
    let suspended = repo_of(&client).issue(1).await.expect_err("suspended");
    assert_eq!(suspended.status(), Some(403), "{suspended}");
    assert!(!suspended.is_transient());
}

#[tokio::test]
async fn github_being_unreachable_is_transient() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let app = metagpt_bot::github::GitHubApp::new(
        super::TEST_APP_ID,
        &secrecy::SecretString::from(super::TEST_APP_KEY),
        &url,
    )
    .expect("valid settings");

    let error = app.get_app().await.expect_err("nothing listens there");

    assert!(error.is_transient(), "{error}");
    assert_eq!(error.status(), None);
}

#[tokio::test]
async fn a_malformed_repository_name_is_refused_before_any_call() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let app = app_for(&fake);
    let client = app.installation(INSTALLATION).await.expect("client");
    let before = fake.requests().len();

    let token = secrecy::SecretString::from("unused");
    let author = metagpt_bot::github::OwnAuthor::Login("x".into());
    let error = metagpt_bot::github::Repo::with_token(
        client,
        token,
        author,
        "octo-org",
        "widgets/../../app",
    )
    .expect_err("bad name");

    assert!(!error.is_transient());
    assert!(
        error
            .to_string()
            .contains("not a valid GitHub repository name"),
        "{error}"
    );
    assert_eq!(fake.requests().len(), before, "no request was sent");
}
