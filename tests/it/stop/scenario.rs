//! The stop scenario's world: the fake GitHub with Codertocat/Hello-World (issue #1 labelled, a writer and
//! a reader), the real router and SQLite queue, a run worker whose run lasts until it is cancelled, and
//! the control loop with the real stop handler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures_util::future::BoxFuture;
use metagpt_bot::github::GitHubApp;
use metagpt_bot::jobs::StopHandler;
use metagpt_bot::jobs::worker::{self, Handler, WorkerOptions, Workers};
use metagpt_bot::queue::{Job, JobError, JobInfo, JobState};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::fake_github::{FakeGitHub, Issue, Pull, ReactionOn, TEST_APP_ID, TEST_APP_KEY, User};
use super::webhook::{Harness, comment, labeled, on_pull_request, set, with_installation};

/// The installation, repository and issue of the `@octokit/webhooks-examples` payloads.
const INSTALLATION: u64 = 42;
pub const REPO: &str = "Codertocat/Hello-World";
const REPO_ID: u64 = 186853002;
pub const ISSUE: u64 = 1;
const DEADLINE: Duration = Duration::from_secs(30);

/// A run that lasts until it is cancelled.
struct UntilCancelled {
    started: Notify,
}

impl Handler for UntilCancelled {
    fn handle<'a>(
        &'a self,
        _job: &'a Job,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            self.started.notify_one();
            cancel.cancelled().await;
            Ok(json!({"saw": "cancel"}))
        })
    }
}

pub struct Scenario {
    github: FakeGitHub,
    harness: Harness,
    run: Arc<UntilCancelled>,
    workers: Option<Workers>,
    pub writer: User,
    pub reader: User,
    /// Ids of the `/metagpt stop` comments sent so far.
    stops: std::sync::Mutex<Vec<u64>>,
}

impl Scenario {
    pub async fn start() -> Self {
        metagpt_bot::run::gateway::install_crypto_provider();
        let github = FakeGitHub::start().await;
        let owner = User::new("Codertocat", 21031067);
        let writer = User::new("alice", 7);
        let reader = User::new("mallory", 66);
        {
            let mut state = github.state();
            state.add_installation(INSTALLATION, TEST_APP_ID, owner.clone());
            state.add_repo(INSTALLATION, REPO_ID, owner, "Hello-World");
            let issue = Issue::open(
                ISSUE,
                "Spelling error in the README file",
                "",
                writer.clone(),
            );
            state.add_issue(REPO, issue.with_labels(&["metagpt"]));
            state.set_collaborator(REPO, writer.clone(), "write");
            state.set_collaborator(REPO, reader.clone(), "read");
        }

        let harness = Harness::new().await;
        let queue = harness.state.queue.clone();
        let wake = harness.state.job_notify.clone();
        let key = TEST_APP_KEY.to_owned().into();
        let app = GitHubApp::new(TEST_APP_ID, &key, &github.api_url()).expect("App client");
        let run = Arc::new(UntilCancelled {
            started: Notify::new(),
        });
        let options = WorkerOptions {
            workers: 1,
            lease: Duration::from_millis(300),
            poll_interval: Duration::from_millis(20),
            grace: Duration::from_millis(100),
            owner: "test".into(),
        };
        let mut workers = worker::spawn(queue.clone(), run.clone(), wake.clone(), options);
        let stop = StopHandler::new(Arc::new(app), queue);
        workers.spawn_control(harness.state.queue.clone(), Arc::new(stop), wake);
        Self {
            github,
            harness,
            run,
            workers: Some(workers),
            writer,
            reader,
            stops: std::sync::Mutex::default(),
        }
    }

    /// Labels the issue and waits until its run is running; returns the run's job id.
    pub async fn running_run(&self) -> i64 {
        let started = self.run.started.notified();
        let answer = self
            .harness
            .deliver("issues", &labeled("metagpt", &["metagpt"]))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
        started.await;
        answer.json()["job_id"].as_i64().expect("run job id")
    }

    /// `user` comments `/metagpt stop` (on the issue, or on pull request `pull`); returns the stop's job.
    pub async fn stop_from(&self, user: &User, pull: Option<u64>) -> i64 {
        let mut payload = with_installation(comment("/metagpt stop"), INSTALLATION);
        for field in ["/sender", "/comment/user"] {
            set(&mut payload, &format!("{field}/login"), json!(user.login));
            set(&mut payload, &format!("{field}/id"), json!(user.id));
        }
        if let Some(number) = pull {
            payload = on_pull_request(payload);
            set(&mut payload, "/issue/number", json!(number));
            // The bot's PR body carries its marker; the stop lines up with that issue.
            set(
                &mut payload,
                "/issue/body",
                json!("<!-- metagpt-bot:issue=1 -->"),
            );
        }
        let posted = self.github.state().add_comment(
            REPO,
            pull.unwrap_or(ISSUE),
            user.clone(),
            "/metagpt stop",
        );
        set(&mut payload, "/comment/id", json!(posted.id));
        self.stops.lock().unwrap().push(posted.id);
        let answer = self.harness.deliver("issue_comment", &payload).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
        assert_eq!(answer.json()["action"], "stop");
        answer.json()["job_id"].as_i64().expect("stop job id")
    }

    pub async fn wait_for(&self, job: i64, state: JobState) -> JobInfo {
        let start = Instant::now();
        loop {
            let info = self.harness.state.queue.job(job).await.unwrap().unwrap();
            if info.state == state {
                return info;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "job {job} stayed {:?} ({:?}), expected {state:?}",
                info.state,
                info.last_error
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn job(&self, job: i64) -> JobInfo {
        self.harness.state.queue.job(job).await.unwrap().unwrap()
    }

    /// Comment bodies the bot posted on issue or pull request `number`, without the hidden marker line.
    pub async fn replies_on(&self, number: u64) -> Vec<String> {
        let comments = self.github.state().comments_on(REPO, number);
        comments
            .into_iter()
            .filter(|c| c.user.login.ends_with("[bot]"))
            .map(|c| {
                // The text after the bot's hidden marker lines.
                let text = c
                    .body
                    .lines()
                    .skip_while(|l| l.starts_with("<!-- metagpt-bot:"));
                text.collect::<Vec<_>>().join("\n")
            })
            .collect()
    }

    /// Reactions the bot put on the stop comment.
    pub async fn reactions(&self) -> Vec<Value> {
        let stops = self.stops.lock().unwrap().clone();
        let state = self.github.state();
        stops
            .into_iter()
            .flat_map(|id| state.reactions_on(&ReactionOn::Comment(id)))
            .map(Value::from)
            .collect()
    }

    /// A pull request `number` of `REPO` with head `head_ref` from `head_repo`.
    pub fn add_pull(&self, number: u64, head_ref: &str, head_repo: &str) {
        let mut state = self.github.state();
        let pull = Pull {
            number,
            title: "A pull request".into(),
            body: None,
            state: "open".into(),
            draft: false,
            merged: false,
            head_ref: head_ref.into(),
            head_sha: "0".repeat(40),
            head_repo: Some(head_repo.into()),
            base_ref: "main".into(),
            user: self.writer.clone(),
        };
        state.repo_mut(REPO).pulls.insert(number, pull);
        let mut issue = Issue::open(number, "A pull request", "", self.writer.clone());
        issue.is_pull_request = true;
        state.add_issue(REPO, issue);
    }

    pub async fn finish(mut self) {
        if let Some(workers) = self.workers.take() {
            workers.shutdown().await;
        }
        self.github.assert_no_unexpected();
    }
}
