//! The world of an App scenario: `serve` on 127.0.0.1 with its real router, queue (SQLite) and worker;
//! the real octocrab App client against the stateful fake GitHub; the repository served by git's own
//! `http-backend` (accepting only installation tokens the fake minted and that are still valid); the
//! fast stand-in agent (tests/run/standin_python) calling the bot's LLM gateway, which forwards to the
//! scripted LLM.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use metagpt_bot::config::Settings;
use metagpt_bot::faces::serve::serve_on;
use metagpt_bot::queue::{JobInfo, JobState};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::fake_github::{FakeGitHub, Issue, TEST_APP_ID, User};
use super::fixture::{Fixture, KEY, MODEL, PRICE_COMPLETION, PRICE_PROMPT};
use super::git_server::GitServer;
use super::scripted_llm::{Reply, ScriptedLlm};
use super::webhook;

pub const INSTALLATION: u64 = 11;
pub const REPO_ID: u64 = 4_200;
pub const FULL_NAME: &str = "octo/shop";
pub const ISSUE: u64 = 5;
/// Usage the scripted LLM reports for every call.
pub const USAGE: (u64, u64) = (1_000, 500);

pub fn alice() -> User {
    User::new("alice", 7)
}
pub fn reader() -> User {
    User::new("rita", 8)
}

pub struct World {
    pub github: FakeGitHub,
    pub git: GitServer,
    pub llm: ScriptedLlm,
    pub fixture: Fixture,
    pub bare: PathBuf,
    base: String,
    database_url: String,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    settings: Vec<(String, String)>,
}

impl World {
    /// Issue #5 "Add a feature" labelled `metagpt` in octo/shop (MetaGPT's layout); alice can write,
    /// rita can read.
    pub async fn start() -> World {
        metagpt_bot::run::gateway::install_crypto_provider();
        let fixture = Fixture::new(true);
        let served = fixture.root.path().join("served");
        let bare = served.join("shop.git");
        git2::Repository::init_bare(&bare).expect("bare repository");
        push_seed(&fixture, &bare);
        let github = FakeGitHub::start().await;
        let check = github.token_check();
        let git = tokio::task::spawn_blocking(move || GitServer::start_with(&served, check))
            .await
            .expect("git server");
        {
            let mut state = github.state();
            let owner = User::new("octo", 100);
            state.add_installation(INSTALLATION, TEST_APP_ID, owner.clone());
            state.add_repo(INSTALLATION, REPO_ID, owner, "shop");
            let repo = state.repo_mut(FULL_NAME);
            repo.clone_url = git.url("shop.git");
            repo.git_dir = Some(bare.clone());
            let issue = Issue::open(ISSUE, "Add a feature", "The shop needs a feature.", alice());
            state.add_issue(FULL_NAME, issue.with_labels(&["metagpt"]));
            state.set_collaborator(FULL_NAME, alice(), "write");
            state.set_collaborator(FULL_NAME, reader(), "read");
        }
        let llm = ScriptedLlm::start().await;
        llm.set_fallback(|_| Reply::chat("ok", USAGE.0, USAGE.1));
        let settings = settings(&fixture, &github, &llm);
        let mut world = World {
            github,
            git,
            llm,
            fixture,
            bare,
            base: String::new(),
            database_url: String::new(),
            shutdown: CancellationToken::new(),
            server: None,
            settings,
        };
        world.database_url = format!("sqlite://{}/bot.db", world.fixture.root.path().display());
        world.boot().await;
        world
    }

    /// Starts (or restarts) `serve` on the same database and work directory.
    pub async fn boot(&mut self) {
        let mut pairs = self.settings.clone();
        pairs.push(("DATABASE_URL".into(), self.database_url.clone()));
        let settings = Settings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("valid settings");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.base = format!("http://{}", listener.local_addr().unwrap());
        self.shutdown = CancellationToken::new();
        let server = tokio::spawn(serve_on(settings, listener, self.shutdown.clone()));
        self.server = Some(server);
    }

    /// Stops `serve` (graceful), as an operator's restart would.
    pub async fn halt(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("serve task")
                .expect("serve stops cleanly");
        }
    }

    /// Delivers a signed webhook; returns the job id the answer names (if any).
    pub async fn deliver(&self, event: &str, payload: &Value) -> Option<i64> {
        let (status, answer) = webhook::post_signed(&self.base, event, payload).await;
        assert!((200..300).contains(&status), "{status}: {answer}");
        answer["job_id"].as_i64()
    }

    /// Delivers a signed webhook; returns the answer's status and body as they are.
    pub async fn deliver_answer(&self, event: &str, payload: &Value) -> (u16, Value) {
        webhook::post_signed(&self.base, event, payload).await
    }

    /// `issues.labeled` with `metagpt` on issue #5, sent by alice.
    pub fn labeled(&self) -> Value {
        let mut payload =
            webhook::with_installation(webhook::labeled("metagpt", &["metagpt"]), INSTALLATION);
        self.address(&mut payload, alice());
        payload
    }

    /// `issue_comment.created` on issue #5 (or, with `pull`, on PR `pull`) by `who`.
    pub fn comment(&self, who: User, body: &str, pull: Option<u64>) -> Value {
        let mut payload = webhook::with_installation(webhook::comment(body), INSTALLATION);
        self.address(&mut payload, who.clone());
        if let Some(number) = pull {
            payload = webhook::on_pull_request(payload);
            webhook::set(&mut payload, "/issue/number", json!(number));
            let pull_body = self
                .github
                .state()
                .repo_mut(FULL_NAME)
                .pulls
                .get(&number)
                .and_then(|p| p.body.clone());
            webhook::set(&mut payload, "/issue/body", json!(pull_body));
        }
        let posted = self
            .github
            .state()
            .add_comment(FULL_NAME, pull.unwrap_or(ISSUE), who, body);
        webhook::set(&mut payload, "/comment/id", json!(posted.id));
        payload
    }

    fn address(&self, payload: &mut Value, who: User) {
        webhook::set(payload, "/issue/number", json!(ISSUE));
        webhook::set(payload, "/repository/id", json!(REPO_ID));
        webhook::set(payload, "/repository/name", json!("shop"));
        webhook::set(payload, "/repository/full_name", json!(FULL_NAME));
        webhook::set(payload, "/repository/owner/login", json!("octo"));
        webhook::set(payload, "/sender/login", json!(who.login));
        webhook::set(payload, "/sender/id", json!(who.id));
        webhook::set(payload, "/sender/type", json!("User"));
    }

    /// The queue's database (SQLite), for a test that reaches into it.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Waits (bounded) until job `job` is in `state`.
    pub async fn wait_for(&self, job: i64, state: JobState) -> JobInfo {
        super::jobs::wait_for_job(&self.database_url, job, state, Duration::from_secs(90)).await
    }

    /// The bare repository's commit at `refs/heads/<branch>`.
    pub fn branch_head(&self, branch: &str) -> Option<git2::Oid> {
        let repo = git2::Repository::open_bare(&self.bare).ok()?;
        repo.refname_to_id(&format!("refs/heads/{branch}")).ok()
    }

    /// Cost of one scripted call, priced as the bot's settings say.
    pub fn call_cost() -> f64 {
        (USAGE.0 as f64 * PRICE_PROMPT + USAGE.1 as f64 * PRICE_COMPLETION) / 1_000_000.0
    }
}

/// Polls `check` until it holds; fails the test saying `what` did not happen within `deadline`.
pub async fn eventually(what: &str, deadline: Duration, check: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < deadline,
            "{what} did not happen within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn settings(fixture: &Fixture, github: &FakeGitHub, llm: &ScriptedLlm) -> Vec<(String, String)> {
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/test-app.pem"
    );
    let app_id = TEST_APP_ID.to_string();
    let api = github.api_url();
    let work = fixture.root.path().join("work").display().to_string();
    let python = fixture.python.display().to_string();
    let llm_url = llm.base_url().to_string();
    let prompt = PRICE_PROMPT.to_string();
    let completion = PRICE_COMPLETION.to_string();
    [
        ("APP_ID", app_id.as_str()),
        ("PRIVATE_KEY_PATH", key),
        ("WEBHOOK_SECRET", webhook::SECRET),
        ("GITHUB_API_URL", api.as_str()),
        ("WORKERS", "1"),
        ("JOB_LEASE_SECS", "3"),
        ("WORK_DIR", work.as_str()),
        ("RUN_TIMEOUT_SECS", "120"),
        ("METAGPT_PYTHON", python.as_str()),
        ("LLM_BASE_URL", llm_url.as_str()),
        ("LLM_API_KEY", KEY),
        ("LLM_MODEL", MODEL),
        ("LLM_PRICE_PROMPT", prompt.as_str()),
        ("LLM_PRICE_COMPLETION", completion.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Pushes the fixture's seed commit to `main` of the bare repository.
fn push_seed(fixture: &Fixture, bare: &std::path::Path) {
    let repo = fixture.git();
    let mut remote = repo
        .remote_anonymous(bare.to_str().expect("utf-8 path"))
        .expect("remote");
    let head = repo.head().expect("head");
    let refspec = format!("{}:refs/heads/main", head.name().expect("branch name"));
    remote.push(&[refspec.as_str()], None).expect("seed push");
    let bare_repo = git2::Repository::open_bare(bare).expect("open bare");
    bare_repo.set_head("refs/heads/main").expect("HEAD → main");
}
