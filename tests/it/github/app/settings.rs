//! The App's settings as an operator writes them: PRIVATE_KEY forms, GITHUB_API_URL (GHES prefix), and
//! what `doctor` sees when they are wrong; plus the metrics and the fake's unexpected-call check.

use base64::Engine as _;
use metagpt_bot::github::GitHubApp;
use secrecy::SecretString;

use super::fake_github::{
    FakeGitHub, OTHER_KEY, TEST_APP_ID, TEST_APP_KEY, TEST_APP_PUBLIC_KEY, TEST_APP_SLUG,
};
use super::{INSTALLATION, app_for, repo_of, world};

fn build(private_key: &str, api_url: &str) -> Result<GitHubApp, String> {
    GitHubApp::new(TEST_APP_ID, &SecretString::from(private_key), api_url)
        .map_err(|error| error.to_string())
}

#[tokio::test]
async fn a_bad_private_key_is_refused_with_a_clear_message() {
    for (key, why) in [
        ("not a key", "neither PEM text nor base64"),
        ("", "empty"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "could not",
        ),
        (TEST_APP_PUBLIC_KEY, "public key"),
    ] {
        let error = build(key, "https://api.github.com").expect_err("a bad key");
        assert!(
            error.starts_with("PRIVATE_KEY is not an RSA private key in PEM format: "),
            "{error}"
        );
        assert!(error.contains(why), "{error}");
        assert!(
            !error.contains("MII"),
            "the key's text is never echoed: {error}"
        );
    }
}

#[tokio::test]
async fn every_accepted_form_of_the_private_key_signs_jwts_github_accepts() {
    let fake = FakeGitHub::start().await;
    let base64 = base64::engine::general_purpose::STANDARD.encode(TEST_APP_KEY);
    let escaped = TEST_APP_KEY.replace('\n', "\\n");
    for key in [TEST_APP_KEY.to_owned(), base64, escaped] {
        let app = build(&key, &fake.api_url()).expect("an accepted form");
        let info = app.get_app().await.expect("GET /app with the JWT");
        assert_eq!((info.id, info.slug.as_str()), (TEST_APP_ID, TEST_APP_SLUG));
    }
}

#[tokio::test]
async fn credentials_github_does_not_know_are_refused_permanently() {
    let fake = FakeGitHub::start().await;
    let wrong_key = build(OTHER_KEY, &fake.api_url()).expect("a well-formed key");
    let error = wrong_key
        .get_app()
        .await
        .expect_err("signed with another key");
    assert_eq!(error.status(), Some(401));
    assert!(!error.is_transient());
    assert!(
        error.to_string().contains("check APP_ID and PRIVATE_KEY"),
        "{error}"
    );

    let wrong_id = GitHubApp::new(
        TEST_APP_ID + 1,
        &SecretString::from(TEST_APP_KEY),
        &fake.api_url(),
    )
    .expect("well-formed settings");
    let error = wrong_id.get_app().await.expect_err("iss names another App");
    assert_eq!(error.status(), Some(401));
}

#[tokio::test]
async fn a_bad_api_url_or_app_id_is_refused() {
    for url in [
        "not a url",
        "ftp://github.example.com",
        "https://github.example.com/api/v3?x=1",
    ] {
        let error = build(TEST_APP_KEY, url).expect_err("a bad URL");
        assert!(error.starts_with("GITHUB_API_URL"), "{error}");
        assert!(
            error.contains("/api/v3 for GitHub Enterprise Server"),
            "{error}"
        );
    }
    let error = GitHubApp::new(
        0,
        &SecretString::from(TEST_APP_KEY),
        "https://api.github.com",
    )
    .expect_err("app id 0");
    assert!(error.to_string().contains("APP_ID"), "{error}");
}

#[tokio::test]
async fn a_github_enterprise_base_url_with_a_path_prefix_is_respected() {
    let fake = FakeGitHub::start_with_prefix("/api/v3").await;
    world(&fake);
    for api_url in [fake.api_url(), format!("{}/", fake.api_url())] {
        let app = build(TEST_APP_KEY, &api_url).expect("GHES URL");
        assert_eq!(app.api_url(), fake.api_url());
        assert_eq!(
            app.get_app().await.expect("GET /api/v3/app").id,
            TEST_APP_ID
        );
        let client = app
            .installation(INSTALLATION)
            .await
            .expect("token under the prefix");
        repo_of(&client)
            .issue(1)
            .await
            .expect("issue under the prefix");
    }
    let requests = fake.requests();
    assert_eq!(requests.len(), 6);
    assert!(
        requests
            .iter()
            .all(|request| request.path.starts_with("/api/v3/")),
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|request| request.status < 300),
        "{requests:?}"
    );
}

#[test]
fn calls_and_errors_are_counted_by_operation_and_status() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let fake = FakeGitHub::start().await;
            world(&fake);
            let app = app_for(&fake);
            let client = app.installation(INSTALLATION).await.expect("client");
            repo_of(&client).issue(1).await.expect("found");
            repo_of(&client).issue(404).await.expect_err("missing");
        });
    });
    let text = handle.render();
    assert!(
        text.contains(r#"metagpt_bot_github_api_calls_total{operation="get_issue"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"metagpt_bot_github_api_errors_total{operation="get_issue",status="404"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_fake_catches_calls_no_test_expected() {
    let fake = FakeGitHub::start().await;
    let app = app_for(&fake);
    let answer = app
        .app_client()
        .get::<serde_json::Value, _, _>("/user", None::<&()>)
        .await;
    assert!(
        answer.is_err(),
        "the fake answers 404 to what it does not model"
    );
    assert_eq!(fake.take_unexpected(), ["GET /user"]);
    fake.assert_no_unexpected();
}
