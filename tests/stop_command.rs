//! `/metagpt stop` end to end: signed deliveries through the real router into a real SQLite queue, a run
//! worker busy with a run (a fake handler that waits for its cancellation, so no MetaGPT), and the control
//! loop running the real stop handler with the real octocrab App client against the fake GitHub.
//!
//! What a user sees: a read-only user's stop gets a refusal reply and the run goes on; a writer's stop
//! gets a 👍 and the run ends cancelled (on the issue or on the bot's pull request); a stop with nothing
//! to stop says so.

#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "support/webhook.rs"]
mod webhook;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use fake_github::{FakeGitHub, Issue, TEST_APP_ID, TEST_APP_KEY, User};
use futures_util::future::BoxFuture;
use metagpt_bot::github::GitHubApp;
use metagpt_bot::pipeline::StopHandler;
use metagpt_bot::queue::{Job, JobError, JobInfo, JobState};
use metagpt_bot::worker::{self, Handler, WorkerOptions, Workers};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use webhook::{Harness, comment, labeled, on_pull_request, set, with_installation};

/// The installation, repository and issue of the `@octokit/webhooks-examples` payloads.
const INSTALLATION: u64 = 42;
const REPO: &str = "Codertocat/Hello-World";
const REPO_ID: u64 = 186853002;
const ISSUE: u64 = 1;
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

struct Scenario {
    github: FakeGitHub,
    harness: Harness,
    run: Arc<UntilCancelled>,
    workers: Option<Workers>,
    writer: User,
    reader: User,
    /// Ids of the `/metagpt stop` comments sent so far.
    stops: std::sync::Mutex<Vec<u64>>,
}

impl Scenario {
    async fn start() -> Self {
        metagpt_bot::gateway::install_crypto_provider();
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
    async fn running_run(&self) -> i64 {
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
    async fn stop_from(&self, user: &User, pull: Option<u64>) -> i64 {
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

    async fn wait_for(&self, job: i64, state: JobState) -> JobInfo {
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

    async fn job(&self, job: i64) -> JobInfo {
        self.harness.state.queue.job(job).await.unwrap().unwrap()
    }

    /// Comment bodies the bot posted on issue or pull request `number`, without the hidden marker line.
    async fn replies_on(&self, number: u64) -> Vec<String> {
        let comments = self.github.state().comments_on(REPO, number);
        comments
            .into_iter()
            .filter(|c| c.user.login.ends_with("[bot]"))
            .map(|c| match c.body.split_once('\n') {
                Some((first, rest)) if first.starts_with("<!-- metagpt-bot:") => rest.to_owned(),
                _ => c.body,
            })
            .collect()
    }

    /// Reactions the bot put on the stop comment.
    async fn reactions(&self) -> Vec<Value> {
        let stops = self.stops.lock().unwrap().clone();
        let state = self.github.state();
        stops
            .into_iter()
            .flat_map(|id| state.reactions_on(&fake_github::ReactionOn::Comment(id)))
            .map(Value::from)
            .collect()
    }

    /// A pull request `number` of `REPO` with head `head_ref` from `head_repo`.
    fn add_pull(&self, number: u64, head_ref: &str, head_repo: &str) {
        let mut state = self.github.state();
        let pull = fake_github::Pull {
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

    async fn finish(mut self) {
        if let Some(workers) = self.workers.take() {
            workers.shutdown().await;
        }
        self.github.assert_no_unexpected();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_users_stop_is_refused_and_the_run_goes_on() {
    let s = Scenario::start().await;
    let run = s.running_run().await;
    let stop = s.stop_from(&s.reader, None).await;

    let done = s.wait_for(stop, JobState::Done).await;
    let refusal = "@mallory asked for `/metagpt stop` but has read permission on \
        Codertocat/Hello-World; only users with write, maintain or admin permission can stop a run. \
        Nothing was stopped.";
    assert_eq!(s.replies_on(ISSUE).await, [refusal]);
    assert_eq!(
        done.outcome,
        Some(json!({"stopped": false, "refused": refusal}))
    );
    assert!(
        s.reactions().await.is_empty(),
        "a refused stop got a reaction"
    );
    let info = s.job(run).await;
    assert_eq!(
        (info.state, info.cancel_requested),
        (JobState::Running, false),
        "a read-only user stopped the run"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_stop_cancels_the_running_run_and_a_second_one_has_nothing_to_stop() {
    let s = Scenario::start().await;
    let run = s.running_run().await;
    let stop = s.stop_from(&s.writer, None).await;

    let done = s.wait_for(stop, JobState::Done).await;
    assert_eq!(
        done.outcome,
        Some(
            json!({"stopped": true, "issue": ISSUE, "cancelled_queued": 0, "running_signalled": true})
        )
    );
    let cancelled = s.wait_for(run, JobState::Cancelled).await;
    assert_eq!(cancelled.outcome, None);
    assert_eq!(s.reactions().await, [json!("+1")]);
    assert!(
        s.replies_on(ISSUE).await.is_empty(),
        "{:?}",
        s.replies_on(ISSUE).await
    );

    let again = s.stop_from(&s.writer, None).await;
    s.wait_for(again, JobState::Done).await;
    assert_eq!(
        s.replies_on(ISSUE).await,
        ["@alice nothing to stop: no run of #1 is queued or running."]
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_stop_on_the_bots_pull_request_cancels_the_issues_run() {
    let s = Scenario::start().await;
    s.add_pull(9, "metagpt/issue-1", REPO);
    s.add_pull(10, "feature", "someone/Hello-World");
    let run = s.running_run().await;

    let elsewhere = s.stop_from(&s.writer, Some(10)).await;
    s.wait_for(elsewhere, JobState::Done).await;
    let replies = s.replies_on(10).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].contains("works on the bot's own pull requests"),
        "{replies:?}"
    );
    assert_eq!(s.job(run).await.state, JobState::Running);

    let stop = s.stop_from(&s.writer, Some(9)).await;
    s.wait_for(stop, JobState::Done).await;
    s.wait_for(run, JobState::Cancelled).await;
    assert!(s.replies_on(9).await.is_empty());
    s.finish().await;
}
