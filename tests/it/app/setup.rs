//! Registering the App in one click (`/setup`, GitHub's manifest flow) on a `serve` started without the
//! App's credentials: the form and its manifest, GitHub's redirect back, the conversion on the fake
//! GitHub, `.env` written 0600, the workers started and a labelled issue's pull request — all without a
//! restart — and a clear page for every way it can fail; and the page in a real headless Chromium, whose
//! button posts the manifest to the configured GitHub (a screenshot kept under the target directory).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use metagpt_bot::queue::JobState;
use serde_json::Value;

use crate::support::bot::Bot;
use crate::support::browser::Browser;
use crate::support::fake_github::{TEST_APP_ID, TEST_APP_KEY, TEST_APP_SLUG};
use crate::support::webhook;

/// A client that shows redirects instead of following them, as the test plays the browser.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The browser's cookies from the bot (its setup state cookie), sent back on every request as a browser
/// would; one test per process under nextest, so one jar per test.
static JAR: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// GETs `url` with the jar's cookies: status, `Location` and body; keeps what the answer sets.
async fn get(url: &str) -> (u16, String, String) {
    let cookies = JAR.lock().unwrap().join("; ");
    let mut request = browser().get(url);
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    let response = request.send().await.expect("an answer");
    for set in response.headers().get_all("set-cookie") {
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        let name = pair.split('=').next().unwrap().to_owned();
        let mut jar = JAR.lock().unwrap();
        jar.retain(|c| !c.starts_with(&format!("{name}=")));
        jar.push(pair);
    }
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

/// The registration form of a `/setup` page: where it posts and the manifest it posts.
fn form_of(html: &str) -> (String, Value) {
    let attribute = |after: &str, name: &str| {
        let start = html
            .find(after)
            .unwrap_or_else(|| panic!("{after} in {html}"));
        let rest = &html[start..];
        let value = rest
            .split(&format!("{name}=\""))
            .nth(1)
            .and_then(|v| v.split('"').next())
            .unwrap_or_else(|| panic!("{name} in {rest}"));
        value
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let action = attribute("<form id=\"register\"", "action");
    let manifest = attribute("name=\"manifest\"", "value");
    (
        action,
        serde_json::from_str(&manifest).expect("the manifest is JSON"),
    )
}

/// What the browser does with the form: posts the manifest to GitHub, which answers with a redirect back.
async fn post_form(action: &str, manifest: &Value) -> (u16, String) {
    let response = browser()
        .post(action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("manifest", &manifest.to_string())
                .finish(),
        )
        .send()
        .await
        .expect("GitHub answers");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn conversions(bot: &Bot) -> usize {
    bot.requests()
        .iter()
        .filter(|r| r.path.starts_with("/app-manifests/"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_registers_from_setup_and_a_labelled_issue_then_gets_its_pull_request_without_a_restart()
 {
    let mut bot = Bot::world().await;
    let env_file = bot.unregistered();
    std::fs::write(
        &env_file,
        "# the operator's own lines stay\nLOG_LEVEL=info\n",
    )
    .unwrap();
    bot.boot().await;
    let base = bot.base().to_owned();
    let (status, ready) = bot.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready.contains("/setup"),
        "readiness points at /setup: {ready}"
    );

    let (status, _, page) = get(&format!("{base}/setup")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Register GitHub App"), "{page}");
    let (action, manifest) = form_of(&page);
    let web = bot.github.api_url();
    let state = action
        .strip_prefix(&format!("{web}/settings/apps/new?state="))
        .unwrap_or_else(|| panic!("the form posts to GitHub's new-App page: {action}"));
    assert!(
        state.len() == 32 && state.chars().all(|c| c.is_ascii_hexdigit()),
        "{state}"
    );
    assert_eq!(manifest["url"], base.as_str());
    assert_eq!(
        manifest["hook_attributes"]["url"],
        format!("{base}/api/github/webhooks")
    );
    assert_eq!(manifest["redirect_url"], format!("{base}/setup/callback"));
    assert_eq!(
        manifest["default_events"],
        serde_json::json!(["issues", "issue_comment"])
    );
    for (permission, level) in [
        ("contents", "write"),
        ("pull_requests", "write"),
        ("issues", "write"),
        ("checks", "write"),
        ("metadata", "read"),
    ] {
        assert_eq!(
            manifest["default_permissions"][permission], level,
            "{manifest}"
        );
    }

    // GitHub creates the App and sends the browser back with a one-time code.
    let (status, back) = post_form(&action, &manifest).await;
    assert_eq!(status, 302);
    assert!(
        back.starts_with(&format!("{base}/setup/callback?code=")),
        "{back}"
    );
    let (status, install, page) = get(&back).await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(
        install,
        format!("{web}/apps/{TEST_APP_SLUG}/installations/new")
    );
    assert_eq!(conversions(&bot), 1);

    // `.env`: private, the operator's lines kept, the three credentials added.
    assert_eq!(mode(&env_file), 0o600);
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        text.starts_with("# the operator's own lines stay\nLOG_LEVEL=info\n"),
        "{text}"
    );
    let values: std::collections::BTreeMap<String, String> = dotenvy::from_path_iter(&env_file)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(values["APP_ID"], TEST_APP_ID.to_string());
    assert_eq!(values["WEBHOOK_SECRET"], webhook::SECRET);
    let key_file = Path::new(&values["PRIVATE_KEY_PATH"]);
    assert_eq!(key_file.parent(), env_file.parent());
    assert_eq!(mode(key_file), 0o600);
    assert_eq!(std::fs::read_to_string(key_file).unwrap(), TEST_APP_KEY);

    // Live in this process: ready, set up, and a labelled issue gets its pull request.
    let (status, ready) = bot.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    let job = bot.label().await;
    let info = bot.wait_for(job, JobState::Done).await;
    assert_eq!(info.outcome.expect("outcome")["gates_passed"], true);
    assert!(bot.pr().body.unwrap_or_default().contains("Closes #5"));

    let (status, _, page) = get(&format!("{base}/setup")).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("The App is already set up"), "{page}");
    let (status, _, page) = get(&back).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("already used"), "{page}");
    assert_eq!(conversions(&bot), 1, "no second registration");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_replayed_state_and_a_failed_conversion_each_get_a_clear_page() {
    let mut bot = Bot::world().await;
    let env_file = bot.unregistered();
    bot.set("PUBLIC_URL", "https://bot.example.com/");
    bot.boot().await;
    let base = bot.base().to_owned();
    let (_, _, page) = get(&format!("{base}/setup")).await;
    let (action, manifest) = form_of(&page);
    assert_eq!(
        manifest["hook_attributes"]["url"], "https://bot.example.com/api/github/webhooks",
        "PUBLIC_URL wins over the request's host"
    );
    assert_eq!(
        manifest["redirect_url"],
        "https://bot.example.com/setup/callback"
    );
    let state = action.split("state=").nth(1).unwrap().to_owned();

    let (status, _, page) = get(&format!("{base}/setup/callback")).await;
    assert_eq!(status, 400);
    assert!(page.contains("Incomplete link"), "{page}");
    let forged =
        format!("{base}/setup/callback?code=code-1&state=0123456789abcdef0123456789abcdef");
    let (status, _, page) = get(&forged).await;
    assert_eq!(status, 400);
    assert!(page.contains("This setup link is not valid"), "{page}");
    assert_eq!(
        conversions(&bot),
        0,
        "GitHub is not asked for a forged state"
    );

    // A real state, but in another browser (someone who fetched /setup and went to GitHub with it): the
    // callback needs the state's cookie, so nobody else can register an App here.
    let mine = std::mem::take(&mut *JAR.lock().unwrap());
    let foreign = format!("{base}/setup/callback?code=code-1&state={state}");
    let (status, _, page) = get(&foreign).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not handed out to this browser"), "{page}");
    assert_eq!(
        conversions(&bot),
        0,
        "GitHub is not asked for a foreign state"
    );
    *JAR.lock().unwrap() = mine;

    // A code GitHub does not know (expired, or made up): GitHub answers 404.
    let unknown = format!("{base}/setup/callback?code=expired-code&state={state}");
    let (status, _, page) = get(&unknown).await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("GitHub did not register the App"), "{page}");
    assert!(page.contains("404"), "{page}");
    // The state was spent on that attempt: the same link again is a replay.
    let (status, _, page) = get(&unknown).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid"), "{page}");
    assert_eq!(conversions(&bot), 1);
    assert!(!env_file.exists(), "nothing saved");

    let (status, _, page) = get(&format!("{base}/setup?organization=acme")).await;
    assert_eq!(status, 200);
    let (action, _) = form_of(&page);
    let org_page = format!(
        "{}/organizations/acme/settings/apps/new?state=",
        bot.github.api_url()
    );
    assert!(action.starts_with(&org_page), "{action}");
    let (status, _, page) = get(&format!("{base}/setup?organization=a%2Fb")).await;
    assert_eq!(status, 400);
    assert!(page.contains("not a GitHub organisation name"), "{page}");
    let (status, ready) = bot.get("/readyz").await;
    assert_eq!(status, 503, "still unregistered: {ready}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_env_file_gets_its_page_before_the_code_is_spent() {
    let mut bot = Bot::world().await;
    let env_file = bot.unregistered();
    // A directory where the file should be: unwritable even for root.
    std::fs::create_dir(&env_file).unwrap();
    bot.boot().await;
    let base = bot.base().to_owned();
    let (_, _, page) = get(&format!("{base}/setup")).await;
    let (action, manifest) = form_of(&page);
    let (_, back) = post_form(&action, &manifest).await;

    let (status, _, page) = get(&back).await;
    assert_eq!(status, 500, "{page}");
    assert!(
        page.contains("The settings file cannot be written"),
        "{page}"
    );
    assert!(page.contains(&env_file.display().to_string()), "{page}");
    assert_eq!(conversions(&bot), 0, "GitHub's one-time code is not spent");

    // Fixed, the same link works.
    std::fs::remove_dir(&env_file).unwrap();
    let (status, _, page) = get(&back).await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(mode(&env_file), 0o600);
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_the_button_posts_the_manifest_to_the_configured_github() {
    let browser = match Browser::start().await {
        Ok(browser) => browser,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let mut bot = Bot::world().await;
    let env_file = bot.unregistered();
    bot.boot().await;
    let base = bot.base().to_owned();
    browser.open(&format!("{base}/setup")).await;
    assert_eq!(browser.text("h1").await, "Register the GitHub App");
    assert_eq!(
        browser.text("#register button").await,
        "Register GitHub App"
    );
    let web = bot.github.api_url();
    let action = browser.property("#register", "action").await;
    assert!(
        action.starts_with(&format!("{web}/settings/apps/new?state=")),
        "{action}"
    );
    assert_eq!(browser.property("#register", "method").await, "post");
    let png = browser.screenshot().await;
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture"
    );
    let artefact = Path::new(env!("CARGO_TARGET_TMPDIR")).join("setup-page.png");
    std::fs::write(&artefact, &png).unwrap();
    eprintln!("screenshot: {}", artefact.display());

    browser.click("#register button").await;
    bot.until("the browser reaches the installation page", || {
        bot.asked("GET", "/installations/new")
    })
    .await;
    assert_eq!(
        browser.url().await,
        format!("{web}/apps/{TEST_APP_SLUG}/installations/new")
    );
    let submitted = bot.github.state().manifests.submitted.clone();
    assert_eq!(submitted.len(), 1, "one manifest posted");
    let (path, manifest) = &submitted[0];
    assert_eq!(path, "/settings/apps/new");
    assert_eq!(manifest["redirect_url"], format!("{base}/setup/callback"));
    assert_eq!(mode(&env_file), 0o600);
    browser.close().await;
    bot.finish().await;
}
