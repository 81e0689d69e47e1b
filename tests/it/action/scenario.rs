//! `metagpt-bot action` end to end, as a runner starts it: a clean environment with the runner's
//! variables and inputs, the event file of a labelled issue, the job's `GITHUB_TOKEN` against the fake
//! GitHub, the repository cloned from `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git` (a real git server
//! that accepts that token), and the stand-in agent through the bot's LLM gateway to the scripted LLM.

use crate::support::action_job;
use crate::support::fake_github;
use crate::support::fixture;
use crate::support::git_server;
use crate::support::scripted_llm;
use crate::support::webhook;

use action_job::{ActionJob, Finished, TOKEN};
use fake_github::{FakeGitHub, Issue, User};
use fixture::{Fixture, MODEL, PRICE_COMPLETION, PRICE_PROMPT};
use git_server::GitServer;
use scripted_llm::{Reply, ScriptedLlm};
use serde_json::json;

const FULL_NAME: &str = "octo/shop";
const INSTALLATION: u64 = 77;
const USAGE: (u64, u64) = (2_000, 1_000);

struct Job {
    github: FakeGitHub,
    _git: GitServer,
    _llm: ScriptedLlm,
    _fixture: Fixture,
    job: ActionJob,
}

async fn labelled_issue_job() -> Job {
    metagpt_bot::run::gateway::install_crypto_provider();
    let fixture = Fixture::new(true);
    let served = fixture.root.path().join("served");
    let bare = served.join("octo/shop.git");
    git2::Repository::init_bare(&bare).expect("bare repository");
    let repo = fixture.git();
    let mut remote = repo.remote_anonymous(bare.to_str().unwrap()).unwrap();
    let head = repo.head().unwrap();
    let refspec = format!("{}:refs/heads/main", head.name().unwrap());
    remote.push(&[refspec.as_str()], None).unwrap();
    git2::Repository::open_bare(&bare)
        .unwrap()
        .set_head("refs/heads/main")
        .unwrap();

    let github = FakeGitHub::start().await;
    let check = github.token_check();
    let git = tokio::task::spawn_blocking(move || GitServer::start_with(&served, check))
        .await
        .unwrap();
    {
        let mut state = github.state();
        let owner = User::new("octo", 100);
        state.add_installation(INSTALLATION, fake_github::TEST_APP_ID, owner.clone());
        state.add_repo(INSTALLATION, 4_300, owner, "shop");
        state.add_static_token(TOKEN, INSTALLATION);
        let repo = state.repo_mut(FULL_NAME);
        repo.clone_url = git.url("octo/shop.git");
        repo.git_dir = Some(bare.clone());
        let issue = Issue::open(
            5,
            "Add a feature",
            "The shop needs one.",
            User::new("alice", 7),
        );
        state.add_issue(FULL_NAME, issue.with_labels(&["metagpt"]));
    }
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::chat("ok", USAGE.0, USAGE.1));

    let mut payload = webhook::labeled("metagpt", &["metagpt"]);
    webhook::set(&mut payload, "/issue/number", json!(5));
    webhook::set(&mut payload, "/repository/name", json!("shop"));
    webhook::set(&mut payload, "/repository/full_name", json!(FULL_NAME));
    webhook::set(&mut payload, "/repository/owner/login", json!("octo"));
    let mut job = ActionJob::new("issues", &payload);
    let runner_temp = job.dir().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    job.set("GITHUB_REPOSITORY", FULL_NAME)
        .set("GITHUB_API_URL", &github.api_url())
        .set("GITHUB_SERVER_URL", &git.url(""))
        .set("RUNNER_TEMP", &runner_temp.display().to_string())
        .set("METAGPT_PYTHON", &fixture.python.display().to_string())
        .set("INPUT_LLM-BASE-URL", llm.base_url().as_str())
        .set("INPUT_LLM-MODEL", MODEL)
        .set("LLM_PRICE_PROMPT", &PRICE_PROMPT.to_string())
        .set("LLM_PRICE_COMPLETION", &PRICE_COMPLETION.to_string());
    Job {
        github,
        _git: git,
        _llm: llm,
        _fixture: fixture,
        job,
    }
}

async fn run(job: &Job) -> Finished {
    let job = &job.job;
    tokio::task::block_in_place(|| job.run())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_issue_in_a_workflow_opens_a_pull_request_and_reports_it() {
    let job = labelled_issue_job().await;
    let finished = run(&job).await;
    assert_eq!(finished.code, Some(0), "{finished:#?}");

    let pulls = job.github.state().pulls_of(FULL_NAME);
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pull = &pulls[0];
    let cost = 3.0 * (USAGE.0 as f64 * PRICE_PROMPT + USAGE.1 as f64 * PRICE_COMPLETION) / 1e6;
    let outputs = &finished.outputs;
    assert!(
        outputs.contains(&format!("pr-number={}\n", pull.number)),
        "{outputs}"
    );
    assert!(outputs.contains("pr-url="), "{outputs}");
    assert!(outputs.contains("gates-passed=true\n"), "{outputs}");
    let cost_line = outputs
        .lines()
        .find_map(|l| l.strip_prefix("cost-usd="))
        .expect("cost-usd output");
    assert!(
        (cost_line.parse::<f64>().unwrap() - cost).abs() < 1e-6,
        "{outputs}"
    );
    assert!(
        finished.summary.contains("## MetaGPT"),
        "{}",
        finished.summary
    );
    assert!(
        finished.summary.contains("quality gates passed"),
        "{}",
        finished.summary
    );

    let comments = job.github.state().comments_on(FULL_NAME, 5);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert_eq!(comments[0].user.login, "github-actions[bot]");
    assert!(comments[0].body.contains("**Done**"));
    for text in [
        &finished.stdout,
        &finished.stderr,
        outputs,
        &finished.summary,
    ] {
        // The runner's mask commands name the secrets on purpose; nothing else may.
        let shown: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect();
        let shown = shown.join("\n");
        assert!(!shown.contains(TOKEN), "the job token leaked: {shown}");
        assert!(
            !shown.contains(action_job::LLM_KEY),
            "the LLM key leaked: {shown}"
        );
    }
    job.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_in_a_workflow_is_answered_with_how_to_cancel_and_runs_nothing() {
    let mut job = labelled_issue_job().await;
    job.github
        .state()
        .set_collaborator(FULL_NAME, User::new("alice", 7), "write");
    let mut payload = webhook::comment("/metagpt stop");
    webhook::set(&mut payload, "/issue/number", json!(5));
    webhook::set(&mut payload, "/repository/name", json!("shop"));
    webhook::set(&mut payload, "/repository/full_name", json!(FULL_NAME));
    webhook::set(&mut payload, "/repository/owner/login", json!("octo"));
    webhook::set(&mut payload, "/sender/login", json!("alice"));
    webhook::set(&mut payload, "/sender/id", json!(7));
    let posted =
        job.github
            .state()
            .add_comment(FULL_NAME, 5, User::new("alice", 7), "/metagpt stop");
    webhook::set(&mut payload, "/comment/id", json!(posted.id));
    let event = job.job.dir().join("event.json");
    std::fs::write(&event, payload.to_string()).unwrap();
    job.job.set("GITHUB_EVENT_NAME", "issue_comment");

    let finished = run(&job).await;
    assert_eq!(finished.code, Some(0), "{finished:#?}");
    assert!(
        finished.stdout.contains("::notice::"),
        "{}",
        finished.stdout
    );
    assert!(
        finished.summary.contains("Actions tab"),
        "{}",
        finished.summary
    );
    let replies: Vec<String> = job
        .github
        .state()
        .comments_on(FULL_NAME, 5)
        .into_iter()
        .filter(|c| c.user.login == "github-actions[bot]")
        .map(|c| c.body)
        .collect();
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(replies[0].contains("cancel the running workflow run"));
    assert!(
        job.github.state().pulls_of(FULL_NAME).is_empty(),
        "nothing ran"
    );
    job.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_repository_config_is_a_misconfiguration_exit_2() {
    let job = labelled_issue_job().await;
    job.github
        .state()
        .set_file(FULL_NAME, "main", ".github/metagpt.yml", b"n_rounds: 3\n");
    let finished = run(&job).await;
    assert_eq!(finished.code, Some(2), "{finished:#?}");
    assert!(finished.stdout.contains("::error"), "{}", finished.stdout);
    assert!(finished.stdout.contains("n_round"), "{}", finished.stdout);
    assert!(job.github.state().pulls_of(FULL_NAME).is_empty());
    job.github.assert_no_unexpected();
}
