//! First runs: a labelled issue becomes exactly one pull request with its evidence, whatever GitHub
//! or the process does in between.

use metagpt_bot::queue::JobState;

use super::fake_github;
use super::world::{FULL_NAME, ISSUE, World};
use super::{BRANCH, bot_comments};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_issue_gets_exactly_one_pull_request_with_its_evidence() {
    let world = World::start().await;
    let job = world
        .deliver("issues", &world.labeled())
        .await
        .expect("a job");
    let info = world.wait_for(job, JobState::Done).await;
    let outcome = info.outcome.expect("outcome");
    assert_eq!(outcome["gates_passed"], true, "{outcome}");

    let head = world.branch_head(BRANCH).expect("the branch was pushed");
    let pulls = world.github.state().repo_mut(FULL_NAME).pulls.clone();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pull = pulls.values().next().unwrap();
    let body = pull.body.clone().unwrap_or_default();
    assert!(body.contains("Closes #5"), "{body}");
    assert!(body.contains("<!-- metagpt-bot:issue=5 -->"), "{body}");
    assert!(body.contains(".metagpt/runs/5/1/cost.json"), "{body}");
    assert_eq!(pull.head_ref, BRANCH);
    assert!(!pull.draft, "all gates passed: ready for review");

    let repo = git2::Repository::open_bare(&world.bare).unwrap();
    let tree = repo.find_commit(head).unwrap().tree().unwrap();
    for file in [
        "trace.jsonl",
        "llm.jsonl",
        "cost.json",
        "gates.json",
        "summary.md",
    ] {
        let path = format!(".metagpt/runs/5/1/{file}");
        assert!(
            tree.get_path(std::path::Path::new(&path)).is_ok(),
            "{path} committed"
        );
    }
    assert!(
        tree.get_path(std::path::Path::new("docs/requirement.txt"))
            .is_ok()
    );

    let checks = world.github.state().check_runs_for(&head.to_string());
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].name, "MetaGPT quality gates");
    assert_eq!(checks[0].conclusion.as_deref(), Some("success"));

    let comments = bot_comments(&world);
    assert_eq!(comments.len(), 1, "one progress comment: {comments:#?}");
    assert!(comments[0].starts_with("<!-- metagpt-bot:progress -->"));
    assert!(comments[0].contains("**Done**"), "{}", comments[0]);
    assert!(comments[0].contains(&format!("#{}", pull.number)));
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_labels_in_a_row_give_one_pull_request() {
    let world = World::start().await;
    let first = world.deliver("issues", &world.labeled()).await.unwrap();
    let second = world.deliver("issues", &world.labeled()).await.unwrap();
    world.wait_for(first, JobState::Done).await;
    world.wait_for(second, JobState::Done).await;
    assert_eq!(world.github.state().repo_mut(FULL_NAME).pulls.len(), 1);
    assert_eq!(
        bot_comments(&world).len(),
        1,
        "one progress comment, edited"
    );
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_push_and_pull_request_still_ends_with_one_pull_request() {
    let world = World::start().await;
    // The first attempt pushes, then GitHub fails the PR creation: the job is retried later.
    world
        .github
        .inject(
            "POST",
            "/repos/octo/shop/pulls",
            fake_github::Fault::status(502, "Server Error"),
            Some(1),
        )
        .await;
    let job = world.deliver("issues", &world.labeled()).await.unwrap();
    let info = world.wait_for(job, JobState::Done).await;
    assert_eq!(info.attempts, 2, "{:?}", info.last_error);
    assert_eq!(world.github.state().repo_mut(FULL_NAME).pulls.len(), 1);
    assert_eq!(
        world.llm.requests().len(),
        3,
        "the retry published the pushed run without running (and paying for) MetaGPT again"
    );
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_token_too_short_lived_for_git_is_refreshed() {
    let world = World::start().await;
    // The first token has 5 minutes left: fine for API calls, too short to promise a clone and push.
    world
        .github
        .state()
        .queue_token_lifetimes(&[chrono::Duration::minutes(5)]);
    let job = world.deliver("issues", &world.labeled()).await.unwrap();
    world.wait_for(job, JobState::Done).await;
    let minted = world.github.minted_tokens();
    assert!(minted.len() >= 2, "a fresh token was minted: {minted:#?}");
    assert!(world.branch_head(BRANCH).is_some());
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_repository_config_is_reported_on_the_issue_with_line_and_column() {
    let world = World::start().await;
    world.github.state().set_file(
        FULL_NAME,
        "main",
        ".github/metagpt.yml",
        b"max_cost_usd: 2\nn_rounds: 3\n",
    );
    let job = world.deliver("issues", &world.labeled()).await.unwrap();
    let info = world.wait_for(job, JobState::Failed).await;
    assert_eq!(info.attempts, 1, "the repository's mistake is not retried");
    let comments = bot_comments(&world);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let progress = &comments[0];
    assert!(progress.contains("**Failed**"), "{progress}");
    assert!(progress.contains("line 2, column 1"), "{progress}");
    assert!(progress.contains("n_round"), "{progress}");
    assert!(progress.contains("`/metagpt retry`"), "{progress}");
    assert!(world.llm.requests().is_empty(), "nothing was spent");
    assert!(world.branch_head(BRANCH).is_none());
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_gates_give_a_draft_pull_request_a_failing_check_and_no_protected_change() {
    let world = World::start().await;
    // The stand-in agent also writes .github/workflows/ci.yml when the request says so.
    world
        .github
        .state()
        .repo_mut(FULL_NAME)
        .issues
        .get_mut(&ISSUE)
        .unwrap()
        .body = Some("The shop needs a feature. TOUCH_WORKFLOW".into());
    let job = world.deliver("issues", &world.labeled()).await.unwrap();
    let outcome = world.wait_for(job, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["gates_passed"], false, "{outcome}");

    let pulls = world.github.state().pulls_of(FULL_NAME);
    assert_eq!(pulls.len(), 1);
    assert!(pulls[0].draft, "a PR whose gates fail stays a draft");
    let head = world.branch_head(BRANCH).unwrap();
    let checks = world.github.state().check_runs_for(&head.to_string());
    assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
    let repo = git2::Repository::open_bare(&world.bare).unwrap();
    let tree = repo.find_commit(head).unwrap().tree().unwrap();
    assert!(
        tree.get_path(std::path::Path::new(".github/workflows/ci.yml"))
            .is_err(),
        "the protected path was not pushed"
    );
    let progress = &bot_comments(&world)[0];
    assert!(progress.contains("protected_paths"), "{progress}");
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_model_without_a_known_price_is_refused_before_any_call() {
    let world = World::start().await;
    world.github.state().set_file(
        FULL_NAME,
        "main",
        ".github/metagpt.yml",
        b"llm_model: house-model-unpriced\n",
    );
    let job = world.deliver("issues", &world.labeled()).await.unwrap();
    world.wait_for(job, JobState::Failed).await;
    let progress = &bot_comments(&world)[0];
    assert!(progress.contains("house-model-unpriced"), "{progress}");
    assert!(progress.contains("no known price"), "{progress}");
    assert!(world.llm.requests().is_empty(), "nothing was spent");
    world.github.assert_no_unexpected();
}
