//! `metagpt-bot doctor` as an operator runs it: every problem a run would meet, each with its fix, and
//! exit 1 when a run would fail — the App's settings and credentials, what GitHub granted the App
//! (permissions, events, installations, webhook URL) against the fake GitHub, the LLM settings and the
//! provider itself against the scripted LLM (a refused key, an unreachable provider, a one-token request
//! and its cost), the database and the interpreter. No secret is ever printed.

use crate::cli::run;
use crate::support::scripted_llm::{Reply, ScriptedLlm};
use crate::support::sop_llm::harness::metagpt_python;
use crate::support::{fake_github, fixture_path};

use fake_github::{FakeGitHub, TEST_APP_ID};

const LLM_KEY: &str = "sk-doctor-key-0123456789abcdef";

fn doctor(env: &[(&str, &str)]) -> (i32, String) {
    let (output, text) = run(&["doctor"], env);
    (output.status.code().expect("exited"), text)
}

/// [`doctor`] off the async runtime (the fake GitHub must keep answering meanwhile).
async fn doctor_async(env: &[(&str, &str)]) -> (i32, String) {
    let owned: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        doctor(&pairs)
    })
    .await
    .expect("doctor thread")
}

#[test]
fn doctor_with_nothing_set_lists_each_missing_setting_with_its_fix() {
    let (code, text) = doctor(&[]);
    assert_eq!(code, 1, "{text}");
    for needle in [
        "APP_ID is not set",
        "neither PRIVATE_KEY nor PRIVATE_KEY_PATH",
        "WEBHOOK_SECRET is not set",
        "fix: ",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        text.contains("database sqlite://data/metagpt-bot.db reachable"),
        "the default SQLite database is created:\n{text}"
    );
}

#[test]
fn doctor_explains_a_bad_key_an_unreachable_database_and_a_secret_that_never_shows() {
    let (code, text) = doctor(&[
        ("APP_ID", "1"),
        (
            "PRIVATE_KEY",
            "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----",
        ),
        ("WEBHOOK_SECRET", "s3cr3t-value"),
        ("DATABASE_URL", "postgres://bot:pa55word@127.0.0.1:1/bot"),
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("PRIVATE_KEY"), "{text}");
    assert!(
        text.contains("RSA private key") || text.contains("PEM"),
        "the key problem is named:\n{text}"
    );
    assert!(
        text.contains("database postgres://bot:***@127.0.0.1:1/bot"),
        "{text}"
    );
    assert!(
        !text.contains("pa55word") && !text.contains("s3cr3t-value"),
        "a secret was printed:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_app_credentials_against_github() {
    let github = FakeGitHub::start().await;
    let key = fixture_path("keys/test-app.pem").display().to_string();
    let api = github.api_url();
    let app_id = TEST_APP_ID.to_string();
    let good = [
        ("APP_ID", app_id.as_str()),
        ("PRIVATE_KEY_PATH", &key),
        ("WEBHOOK_SECRET", "x"),
        ("GITHUB_API_URL", api.as_str()),
    ];
    let (_, text) = doctor_async(&good).await;
    assert!(text.contains("ok    GitHub at"), "{text}");
    assert!(text.contains("accepts the App's JWT"), "{text}");
    assert!(
        text.contains(
            "ok    the App has the permissions and events the bot needs (issues, issue_comment)"
        ),
        "{text}"
    );
    assert!(
        text.contains("ok    the App has 0 installation(s)")
            || text.contains("warn  the App is not installed anywhere yet"),
        "{text}"
    );
    assert!(
        text.contains("ok    GitHub delivers the App's webhooks to https://bot.example.com/api/github/webhooks"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  METAGPT_PYTHON is not set"),
        "a run would fail: {text}"
    );

    let wrong_url = format!("{api}/not-the-api");
    let (code, text) = doctor_async(&[
        ("APP_ID", &app_id),
        ("PRIVATE_KEY_PATH", &key),
        ("WEBHOOK_SECRET", "x"),
        ("GITHUB_API_URL", &wrong_url),
    ])
    .await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("GITHUB_API_URL"), "{text}");
    github.take_unexpected();

    let (code, text) = doctor_async(&[
        ("APP_ID", "999"),
        ("PRIVATE_KEY_PATH", &key),
        ("WEBHOOK_SECRET", "x"),
        ("GITHUB_API_URL", &api),
    ])
    .await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("refused the App's JWT"), "{text}");
}

/// The App's settings for `github`, and the LLM settings for `llm` (model `gpt-4o-mini`, priced by the
/// built-in table).
fn app_and_llm(github: &FakeGitHub, llm_base: &str) -> Vec<(String, String)> {
    let key = fixture_path("keys/test-app.pem").display().to_string();
    vec![
        ("APP_ID".into(), TEST_APP_ID.to_string()),
        ("PRIVATE_KEY_PATH".into(), key),
        ("WEBHOOK_SECRET".into(), "x".into()),
        ("GITHUB_API_URL".into(), github.api_url()),
        ("LLM_BASE_URL".into(), llm_base.into()),
        ("LLM_MODEL".into(), "gpt-4o-mini".into()),
        ("LLM_API_KEY".into(), LLM_KEY.into()),
    ]
}

async fn doctor_with(env: Vec<(String, String)>) -> (i32, String) {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (code, text) = doctor_async(&pairs).await;
    assert!(!text.contains(LLM_KEY), "the LLM key was printed:\n{text}");
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_without_a_models_route_answers_a_one_token_request_and_its_cost_is_shown() {
    let github = FakeGitHub::start().await;
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::error(404, "no such route"));
    llm.push(Reply::chat("OK", 12, 1));
    let mut env = app_and_llm(&github, llm.base_url().as_str());
    let python = metagpt_python();
    if let Some(python) = &python {
        env.push(("METAGPT_PYTHON".into(), python.display().to_string()));
    }
    let (code, text) = doctor_with(env).await;
    assert!(
        text.contains("ok    LLM settings complete: gpt-4o-mini at http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("accepts the key and gpt-4o-mini answered a one-token request: 12 prompt and 1 completion tokens, $0.000002"),
        "{text}"
    );
    let requests = llm.requests();
    assert_eq!(requests.len(), 2, "GET /models, then one completion");
    assert!(
        requests[0].uri.ends_with("/v1/models"),
        "{}",
        requests[0].uri
    );
    assert_eq!(requests[1].body["max_tokens"], 1);
    assert_eq!(
        requests[1].headers["authorization"],
        format!("Bearer {LLM_KEY}").as_str()
    );
    if python.is_some() {
        assert_eq!(code, 0, "everything a run needs is there: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_an_unreachable_provider_a_missing_key_and_an_unpriced_model_each_fail() {
    let github = FakeGitHub::start().await;
    let llm = ScriptedLlm::start().await;

    llm.push(Reply::error(401, "Incorrect API key provided"));
    let (code, text) = doctor_with(app_and_llm(&github, llm.base_url().as_str())).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("refused the key (HTTP 401: Incorrect API key provided)")
            && text.contains("fix: set LLM_API_KEY to a valid key of this provider"),
        "{text}"
    );

    let closed = format!("http://127.0.0.1:{}/v1", closed_port());
    let (code, text) = doctor_with(app_and_llm(&github, &closed)).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAIL  the LLM provider at http://127.0.0.1:")
            && text.contains("cannot be reached")
            && text.contains("fix: check LLM_BASE_URL"),
        "{text}"
    );

    let mut env = app_and_llm(&github, llm.base_url().as_str());
    env.retain(|(k, _)| k != "LLM_API_KEY");
    let (code, text) = doctor_with(env).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("FAIL  LLM_API_KEY is not set"), "{text}");

    let mut env = app_and_llm(&github, llm.base_url().as_str());
    env.retain(|(k, _)| k != "LLM_MODEL");
    env.push(("LLM_MODEL".into(), "house-model-without-a-price".into()));
    let (code, text) = doctor_with(env).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("the model \"house-model-without-a-price\" has no known price")
            && text.contains("fix: set LLM_PRICE_PROMPT and LLM_PRICE_COMPLETION"),
        "{text}"
    );
    assert_eq!(
        llm.requests().len(),
        1,
        "a provider is asked only when its settings are complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_lacking_checks_write_or_the_issue_comment_event_fails_saying_what_to_grant() {
    let github = FakeGitHub::start().await;
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::chat("OK", 12, 1));
    {
        let mut state = github.state();
        let app = state.apps.get_mut(&TEST_APP_ID).expect("the test App");
        app.permissions.insert("checks".into(), "read".into());
        app.events.retain(|e| e != "issue_comment");
    }
    let (code, text) = doctor_with(app_and_llm(&github, llm.base_url().as_str())).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "FAIL  the App lacks `checks: write` (it has read), the `issue_comment` event"
        ),
        "{text}"
    );
    assert!(
        text.contains("→ Permissions & events, grant what is missing and save"),
        "{text}"
    );

    {
        let mut state = github.state();
        let app = state.apps.get_mut(&TEST_APP_ID).expect("the test App");
        app.webhook_url = None;
    }
    let (code, text) = doctor_with(app_and_llm(&github, llm.base_url().as_str())).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAIL  the App has no webhook URL: GitHub sends it no event"),
        "{text}"
    );
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}
