//! The App harness `Bot` (rust-lang/bors' `BorsTester`): the bot as production runs it, in a world of
//! fakes, with verbs that read like the scenarios — `label()`, `comment(who, body)`, `wait_for(job,
//! state)`, `wait_idle()`, `comments()`, `pr()`, `finish()`.
//!
//! The world: issue #5 "Add a feature" of octo/shop, labelled `metagpt`, on the stateful fake GitHub
//! (alice can write, rita can read); octo/shop's repository in MetaGPT's layout, served by git's own
//! `http-backend` (accepting only installation tokens the fake minted and that are still valid); the
//! scripted LLM answering every call "ok"; the fast stand-in agent (`StandIn::Team`) calling the bot's LLM
//! gateway. The App face is `serve` on 127.0.0.1 with its real router, SQLite queue, one worker and the
//! real octocrab App client; the Action face is the built binary run as a runner starts it
//! ([`Bot::action_job`]), with the job's `GITHUB_TOKEN`.
//!
//! Invariants:
//! - Nothing sleeps to synchronise: a scenario waits on the fake GitHub's and the LLM's `changes()`
//!   under a deadline; only a job's state is polled, from the queue's database (`jobs.rs`).
//! - A scenario ends with [`Bot::finish`]: `serve` stops cleanly and the fake GitHub got no request no
//!   route expects. A `Bot` dropped without it fails the test (unless it already failed).

use std::path::{Path, PathBuf};
use std::time::Duration;

use metagpt_bot::config::Settings;
use metagpt_bot::faces::serve::serve_on;
use metagpt_bot::queue::{JobInfo, JobState, Queue, QueueOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::action_job::{ActionJob, Finished, TOKEN};
use super::fake_github::{
    CheckRun, FakeGitHub, Issue, LoggedRequest, Pull, ReactionOn, SlowAnswer, TEST_APP_ID,
    TEST_APP_KEY, User,
};
use super::fixture::{Fixture, MODEL, PRICE_COMPLETION, PRICE_PROMPT};
use super::git_server::GitServer;
use super::jobs::{wait_for_job_at, wait_idle_at};
use super::scripted_llm::{Reply, ScriptedLlm};
use super::{fixture_path, webhook};

pub const INSTALLATION: u64 = 11;
pub const REPO_ID: u64 = 4_200;
pub const FULL_NAME: &str = "octo/shop";
pub const ISSUE: u64 = 5;
/// The bot's branch for issue #5.
pub const BRANCH: &str = "metagpt/issue-5";
/// Usage the scripted LLM reports for every call.
pub const USAGE: (u64, u64) = (1_000, 500);
/// How long a scenario waits for something it expects.
const WAIT: Duration = Duration::from_secs(60);
/// How long a scenario waits for a job's state.
const JOB_WAIT: Duration = Duration::from_secs(90);

/// Can write to octo/shop.
pub fn alice() -> User {
    User::new("alice", 7)
}

/// Can read octo/shop.
pub fn reader() -> User {
    User::new("rita", 8)
}

pub struct Bot {
    pub github: FakeGitHub,
    pub git: GitServer,
    pub llm: ScriptedLlm,
    pub fixture: Fixture,
    /// octo/shop's repository, as GitHub holds it.
    pub bare: PathBuf,
    settings: Vec<(String, String)>,
    database_url: String,
    /// The `.env` file `serve` writes the App's credentials to (`/setup`), when not the default.
    env_file: Option<PathBuf>,
    serving: Option<Serving>,
    finished: bool,
}

/// A running `serve`.
struct Serving {
    base: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Bot {
    /// The world with `serve` running in it.
    pub async fn start() -> Bot {
        let mut bot = Bot::world().await;
        bot.boot().await;
        bot
    }

    /// The world without a face: [`Bot::boot`] starts `serve`, [`Bot::action_job`] runs the Action.
    pub async fn world() -> Bot {
        Bot::world_seeded(push_seed).await
    }

    /// The world whose octo/shop `main` is what `seed` pushes into the (empty, bare) repository: a real
    /// project's history instead of the shop (`app/real_project.rs`).
    pub async fn world_seeded(seed: impl FnOnce(&Fixture, &Path)) -> Bot {
        metagpt_bot::run::gateway::install_crypto_provider();
        let fixture = Fixture::new(true);
        let served = fixture.root.path().join("served");
        let bare = served.join("octo/shop.git");
        git2::Repository::init_bare(&bare).expect("bare repository");
        seed(&fixture, &bare);
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
            repo.clone_url = git.url("octo/shop.git");
            repo.git_dir = Some(bare.clone());
            let issue = Issue::open(ISSUE, "Add a feature", "The shop needs a feature.", alice());
            state.add_issue(FULL_NAME, issue.with_labels(&["metagpt"]));
            state.set_collaborator(FULL_NAME, alice(), "write");
            state.set_collaborator(FULL_NAME, reader(), "read");
        }
        let llm = ScriptedLlm::start().await;
        llm.set_fallback(|_| Reply::chat("ok", USAGE.0, USAGE.1));
        let settings = settings(&fixture, &github, &llm);
        let database_url = format!("sqlite://{}/bot.db", fixture.root.path().display());
        Bot {
            github,
            git,
            llm,
            fixture,
            bare,
            settings,
            database_url,
            env_file: None,
            serving: None,
            finished: false,
        }
    }

    /// Leaves the agent's settings (`METAGPT_PYTHON`, `LLM_*`) out of the next [`Bot::boot`]: a `serve`
    /// with App credentials only.
    pub fn without_agent_settings(&mut self) {
        self.settings
            .retain(|(name, _)| name != "METAGPT_PYTHON" && !name.starts_with("LLM_"));
    }

    /// Sets `name` to `value` for the next [`Bot::boot`] (e.g. a longer `JOB_LEASE_SECS`).
    pub fn set(&mut self, name: &str, value: &str) {
        self.settings.retain(|(key, _)| key != name);
        self.settings.push((name.to_owned(), value.to_owned()));
    }

    /// Takes the App's credentials (`APP_ID`, the key, `WEBHOOK_SECRET`) out of the next [`Bot::boot`]:
    /// `serve` then offers `/setup`, GitHub's web pages are the fake's, and the App a posted manifest
    /// creates is the test App (installed on octo/shop, signing with the harness's webhook secret).
    /// Returns the `.env` file `serve` is to write.
    pub fn unregistered(&mut self) -> PathBuf {
        self.settings.retain(|(name, _)| {
            !["APP_ID", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET"].contains(&name.as_str())
        });
        let web = self.github.api_url();
        self.set("GITHUB_SERVER_URL", &web);
        let app = self.github.state().apps[&TEST_APP_ID].clone();
        self.github
            .state()
            .manifests
            .will_create(app, TEST_APP_KEY, webhook::SECRET);
        let env_file = self.fixture.root.path().join("config/.env");
        std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
        self.env_file = Some(env_file.clone());
        env_file
    }

    /// Where `serve` answers, e.g. `http://127.0.0.1:4711`.
    pub fn base(&self) -> &str {
        &self.serving().base
    }

    /// Starts (or restarts) `serve` on the same database and work directory.
    pub async fn boot(&mut self) {
        let mut pairs = self.settings.clone();
        pairs.push(("DATABASE_URL".into(), self.database_url.clone()));
        let mut settings =
            Settings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .expect("valid settings");
        // Never the working directory's `.env` (the repository's, under `cargo test`): the fixture's.
        settings.env_file = self
            .env_file
            .clone()
            .unwrap_or_else(|| self.fixture.root.path().join("config/.env"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve_on(settings, listener, shutdown.clone()));
        self.serving = Some(Serving {
            base,
            shutdown,
            task,
        });
    }

    /// Stops `serve` as an operator's restart would (graceful; a run still under way is released after
    /// the grace period) and checks it stopped cleanly.
    pub async fn halt(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.shutdown.cancel();
            serving
                .task
                .await
                .expect("serve task")
                .expect("serve stops cleanly");
        }
    }

    /// The end of every scenario: `serve` stops cleanly, and the fake GitHub got no request that no route
    /// expects.
    pub async fn finish(mut self) {
        self.halt().await;
        self.github.assert_no_unexpected();
        self.finished = true;
    }

    // ---- what people do on GitHub ----

    /// alice labels issue #5 `metagpt`; returns the job the delivery's answer names.
    pub async fn label(&self) -> i64 {
        let event = self.labeled_event();
        self.deliver("issues", &event).await.expect("a job")
    }

    /// alice adds `label` to issue #5, which then carries `labels`; returns the job.
    pub async fn label_as(&self, label: &str, labels: &[&str]) -> i64 {
        let event = self.labeled_event_with(label, labels);
        self.deliver("issues", &event).await.expect("a job")
    }

    /// `who` comments `body` on issue #5; returns the job.
    pub async fn comment(&self, who: User, body: &str) -> i64 {
        let event = self.comment_event(who, body, None);
        self.deliver("issue_comment", &event).await.expect("a job")
    }

    /// `who` comments `body` on pull request `pull`; returns the job.
    pub async fn comment_on_pr(&self, pull: u64, who: User, body: &str) -> i64 {
        let event = self.comment_event(who, body, Some(pull));
        self.deliver("issue_comment", &event).await.expect("a job")
    }

    /// `issues.labeled` with `metagpt` on issue #5, sent by alice.
    pub fn labeled_event(&self) -> Value {
        let mut payload =
            webhook::with_installation(webhook::labeled("metagpt", &["metagpt"]), INSTALLATION);
        address(&mut payload, alice());
        payload
    }

    /// `issues.labeled` with `label` on issue #5, which then carries `labels` (on the fake GitHub too).
    pub fn labeled_event_with(&self, label: &str, labels: &[&str]) -> Value {
        let mut payload = self.labeled_event();
        webhook::set(&mut payload, "/label/name", json!(label));
        let template = payload["issue"]["labels"][0].clone();
        let all: Vec<Value> = labels
            .iter()
            .map(|name| {
                let mut each = template.clone();
                each["name"] = json!(name);
                each
            })
            .collect();
        webhook::set(&mut payload, "/issue/labels", Value::Array(all));
        let mut state = self.github.state();
        let issue = state.repo_mut(FULL_NAME).issues.get_mut(&ISSUE).unwrap();
        issue.labels = labels.iter().map(|name| name.to_string()).collect();
        payload
    }

    /// `issue_comment.created` for `body`, which `who` posts on issue #5 (or, with `pull`, on pull request
    /// `pull`); the comment is on the fake GitHub too.
    pub fn comment_event(&self, who: User, body: &str, pull: Option<u64>) -> Value {
        let mut payload = webhook::with_installation(webhook::comment(body), INSTALLATION);
        address(&mut payload, who.clone());
        webhook::set(&mut payload, "/comment/user/login", json!(who.login));
        webhook::set(&mut payload, "/comment/user/id", json!(who.id));
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

    /// Delivers a signed webhook (answered 2xx); returns the job its answer names, if any.
    pub async fn deliver(&self, event: &str, payload: &Value) -> Option<i64> {
        let (status, answer) = self.deliver_answer(event, payload).await;
        assert!((200..300).contains(&status), "{status}: {answer}");
        answer["job_id"].as_i64()
    }

    /// Delivers a signed webhook; returns the answer's status and body as they are.
    pub async fn deliver_answer(&self, event: &str, payload: &Value) -> (u16, Value) {
        webhook::post_signed(&self.serving().base, event, payload).await
    }

    /// GETs `path` of `serve`: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.serving().base))
            .await
            .expect("serve answers");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    // ---- how the world is set up ----

    /// Serves `yaml` as octo/shop's `.github/metagpt.yml`.
    pub fn set_settings(&self, yaml: impl AsRef<[u8]>) {
        self.github
            .state()
            .set_file(FULL_NAME, "main", ".github/metagpt.yml", yaml.as_ref());
    }

    /// Changes issue #5's body (what the run is asked to do).
    pub fn set_issue_body(&self, body: &str) {
        let mut state = self.github.state();
        let issue = state.repo_mut(FULL_NAME).issues.get_mut(&ISSUE).unwrap();
        issue.body = Some(body.to_owned());
    }

    /// Opens a pull request of octo/shop by `author` from `head_repo`'s `head_ref`; returns its number.
    pub fn add_pull(&self, head_ref: &str, head_repo: &str, author: User, body: &str) -> u64 {
        let mut state = self.github.state();
        let number = state.repo_mut(FULL_NAME).next_number();
        let pull = Pull {
            number,
            title: "A pull request".into(),
            body: Some(body.into()),
            state: "open".into(),
            draft: false,
            merged: false,
            head_ref: head_ref.into(),
            head_sha: "0".repeat(40),
            head_repo: Some(head_repo.into()),
            base_ref: "main".into(),
            user: author.clone(),
        };
        state.repo_mut(FULL_NAME).pulls.insert(number, pull);
        let mut issue = Issue::open(number, "A pull request", body, author);
        issue.is_pull_request = true;
        state.add_issue(FULL_NAME, issue);
        number
    }

    /// GitHub answers the next `method` request whose path ends with `path_end` and whose body contains
    /// `body_has` `delay` late (everything else on time): the bot is then between that request and its
    /// next step, where a scenario can act.
    pub fn answer_slowly(&self, method: &str, path_end: &str, body_has: &str, delay: Duration) {
        self.github.state().slow_answers.push(SlowAnswer {
            method: method.to_owned(),
            path_end: path_end.to_owned(),
            body_has: body_has.to_owned(),
            delay,
        });
    }

    /// Whether a request the bot made matches `method` and ends with `path_end` (answered or on its way).
    pub fn asked(&self, method: &str, path_end: &str) -> bool {
        self.requests()
            .iter()
            .any(|r| r.method == method && r.path.ends_with(path_end))
    }

    /// The agent's next LLM call never answers: its run stays under way until something ends it.
    pub fn hold_the_next_run(&self) {
        self.llm.push(Reply::Hang);
    }

    // ---- waiting ----

    /// Waits until job `job` is in `state` (read from the queue's database).
    pub async fn wait_for(&self, job: i64, state: JobState) -> JobInfo {
        wait_for_job_at(&self.database_url, job, state, JOB_WAIT).await
    }

    /// Waits until every job the bot was given has ended (none queued or running).
    pub async fn wait_idle(&self) {
        wait_idle_at(&self.database_url, JOB_WAIT).await
    }

    /// Job `job` as the queue's database holds it now.
    pub async fn job(&self, job: i64) -> JobInfo {
        let queue = Queue::connect(&self.database_url, QueueOptions::default())
            .await
            .expect("the queue database");
        let info = queue
            .job(job)
            .await
            .expect("read the job")
            .expect("job exists");
        queue.close().await;
        info
    }

    /// Waits until `check` holds, re-checking whenever the fake GitHub answers a request or the LLM gets
    /// one; fails the test saying `what` did not happen.
    pub async fn until(&self, what: &str, check: impl Fn() -> bool) {
        let mut github = self.github.changes();
        let mut llm = self.llm.changes();
        let deadline = tokio::time::Instant::now() + WAIT;
        while !check() {
            let changed = async {
                tokio::select! {
                    seen = github.changed() => seen.expect("the fake GitHub is gone"),
                    seen = llm.changed() => seen.expect("the scripted LLM is gone"),
                }
            };
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("{what} did not happen within {WAIT:?}");
            }
        }
    }

    /// Waits until issue #5's progress comment satisfies `want`; returns it.
    pub async fn progress_until(&self, want: impl Fn(&str) -> bool) -> String {
        let matches = || self.progress().is_some_and(|body| want(&body));
        self.until("the progress comment's change", matches).await;
        self.progress().expect("the progress comment")
    }

    /// Waits until the agent made its first LLM call.
    pub async fn wait_for_llm_call(&self) {
        self.until("the agent's first LLM call", || self.llm_calls() > 0)
            .await;
    }

    // ---- what the bot left ----

    /// The bodies of the bot's comments on issue #5, oldest first.
    pub fn comments(&self) -> Vec<String> {
        self.comments_on(ISSUE)
    }

    /// The bodies of the bot's comments on issue or pull request `number`, oldest first.
    pub fn comments_on(&self, number: u64) -> Vec<String> {
        let comments = self.github.state().comments_on(FULL_NAME, number);
        comments
            .into_iter()
            .filter(|c| c.user.login.ends_with("[bot]"))
            .map(|c| c.body)
            .collect()
    }

    /// The bot's replies on issue or pull request `number` (its comments but the progress comment),
    /// without their hidden marker lines.
    pub fn replies_on(&self, number: u64) -> Vec<String> {
        let replies = self.comments_on(number).into_iter();
        replies
            .filter(|body| !body.starts_with(metagpt_bot::marks::PROGRESS))
            .map(|body| {
                let text = body
                    .lines()
                    .skip_while(|l| l.starts_with(metagpt_bot::marks::MARKER_PREFIX));
                text.collect::<Vec<_>>().join("\n")
            })
            .collect()
    }

    /// Issue #5's progress comment, if the bot wrote one.
    pub fn progress(&self) -> Option<String> {
        let mut comments = self.comments().into_iter();
        comments.find(|body| body.starts_with(metagpt_bot::marks::PROGRESS))
    }

    /// octo/shop's pull requests, oldest first.
    pub fn pulls(&self) -> Vec<Pull> {
        self.github.state().pulls_of(FULL_NAME)
    }

    /// octo/shop's one pull request.
    pub fn pr(&self) -> Pull {
        let pulls = self.pulls();
        assert_eq!(pulls.len(), 1, "{pulls:#?}");
        pulls.into_iter().next().unwrap()
    }

    /// The commit the bot's branch points at, if it was pushed.
    pub fn branch_head(&self) -> Option<git2::Oid> {
        let repo = git2::Repository::open_bare(&self.bare).ok()?;
        repo.refname_to_id(&format!("refs/heads/{BRANCH}")).ok()
    }

    /// The text of `path` at the bot's branch, if the branch and the file exist.
    pub fn branch_file(&self, path: &str) -> Option<String> {
        let repo = git2::Repository::open_bare(&self.bare).ok()?;
        let tree = repo.find_commit(self.branch_head()?).ok()?.tree().ok()?;
        let entry = tree.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// The check runs on the bot's branch head.
    pub fn check_runs(&self) -> Vec<CheckRun> {
        let head = self.branch_head().expect("the branch was pushed");
        self.github.state().check_runs_for(&head.to_string())
    }

    /// The reactions on issue #5.
    pub fn issue_reactions(&self) -> Vec<String> {
        let on = ReactionOn::Issue {
            repo: FULL_NAME.into(),
            number: ISSUE,
        };
        self.github.state().reactions_on(&on)
    }

    /// The reactions on comment `id`.
    pub fn comment_reactions(&self, id: u64) -> Vec<String> {
        self.github.state().reactions_on(&ReactionOn::Comment(id))
    }

    /// Every request the fake GitHub answered, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.github.requests()
    }

    /// Requests that changed something on GitHub (minting installation tokens aside).
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET" && !r.path.ends_with("/access_tokens"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// How many calls reached the LLM.
    pub fn llm_calls(&self) -> usize {
        self.llm.requests().len()
    }

    /// Cost of one scripted call, priced as the bot's settings say.
    pub fn call_cost() -> f64 {
        (USAGE.0 as f64 * PRICE_PROMPT + USAGE.1 as f64 * PRICE_COMPLETION) / 1_000_000.0
    }

    /// The queue's database (SQLite), for a scenario that reaches into it.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    // ---- the Action ----

    /// The Action's job for `event` with `payload` in this world: the job's `GITHUB_TOKEN` (accepted by
    /// the fake GitHub and the git server), octo/shop cloned from `$GITHUB_SERVER_URL`, the stand-in
    /// agent, the scripted LLM as the provider.
    pub fn action_job(&self, event: &str, payload: &Value) -> ActionJob {
        self.github.state().add_static_token(TOKEN, INSTALLATION);
        let mut job = ActionJob::new(event, payload);
        let runner_temp = job.dir().join("runner-temp");
        std::fs::create_dir_all(&runner_temp).unwrap();
        job.set("GITHUB_REPOSITORY", FULL_NAME)
            .set("GITHUB_API_URL", &self.github.api_url())
            .set("GITHUB_SERVER_URL", &self.git.url(""))
            .set("RUNNER_TEMP", &runner_temp.display().to_string())
            .set("METAGPT_PYTHON", &self.fixture.python.display().to_string())
            .set("INPUT_LLM-BASE-URL", self.llm.base_url().as_str())
            .set("INPUT_LLM-MODEL", MODEL)
            .set("LLM_PRICE_PROMPT", &PRICE_PROMPT.to_string())
            .set("LLM_PRICE_COMPLETION", &PRICE_COMPLETION.to_string());
        job
    }

    /// Runs `job` to completion, off the async runtime (the fakes keep answering meanwhile).
    pub async fn run_action(&self, job: &ActionJob) -> Finished {
        tokio::task::block_in_place(|| job.run())
    }

    fn serving(&self) -> &Serving {
        self.serving.as_ref().expect("serve is running (Bot::boot)")
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        if let Some(serving) = &self.serving {
            serving.shutdown.cancel();
        }
        if !self.finished && !std::thread::panicking() {
            panic!("a scenario ends with `bot.finish().await`");
        }
    }
}

/// Points `payload` at issue #5 of octo/shop, sent by `who`.
fn address(payload: &mut Value, who: User) {
    webhook::set(payload, "/issue/number", json!(ISSUE));
    webhook::set(payload, "/repository/id", json!(REPO_ID));
    webhook::set(payload, "/repository/name", json!("shop"));
    webhook::set(payload, "/repository/full_name", json!(FULL_NAME));
    webhook::set(payload, "/repository/owner/login", json!("octo"));
    webhook::set(payload, "/sender/login", json!(who.login));
    webhook::set(payload, "/sender/id", json!(who.id));
    webhook::set(payload, "/sender/type", json!(who.kind()));
}

/// The App's key file (`PRIVATE_KEY_PATH`) in the fixture's root.
pub const APP_KEY: &str = "app.pem";

fn settings(fixture: &Fixture, github: &FakeGitHub, llm: &ScriptedLlm) -> Vec<(String, String)> {
    // A copy, world-readable as a downloaded file often is: a root `serve` closes it to the agent's user.
    let key = fixture.root.path().join(APP_KEY);
    std::fs::copy(fixture_path("keys/test-app.pem"), &key).expect("the App's key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let key = key.display().to_string();
    let base = [
        ("APP_ID", TEST_APP_ID.to_string()),
        ("PRIVATE_KEY_PATH", key),
        ("WEBHOOK_SECRET", webhook::SECRET.to_owned()),
        ("GITHUB_API_URL", github.api_url()),
        ("WORKERS", "1".to_owned()),
        ("JOB_LEASE_SECS", "3".to_owned()),
        // A run still under way at `finish` is released at once.
        ("SHUTDOWN_GRACE_SECS", "1".to_owned()),
        (
            "WORK_DIR",
            fixture.root.path().join("work").display().to_string(),
        ),
        ("RUN_TIMEOUT_SECS", "120".to_owned()),
    ];
    let base = base.into_iter().map(|(k, v)| (k.to_owned(), v));
    base.chain(fixture.env(llm.base_url().as_str())).collect()
}

/// Pushes the fixture's seed commit to `main` of the bare repository.
fn push_seed(fixture: &Fixture, bare: &Path) {
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
