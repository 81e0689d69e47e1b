//! The App on GitHub, scenario by scenario (rust-lang/bors style): signed webhooks into the real `serve`,
//! the real octocrab client against the stateful fake GitHub (which fails the test on any request no
//! route expects), a real git server, and the fast stand-in agent through the bot's LLM gateway.

#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "run/fixture.rs"]
mod fixture;
#[path = "support/git_server.rs"]
mod git_server;
#[path = "support/scripted_llm.rs"]
mod scripted_llm;
#[path = "support/webhook.rs"]
mod webhook;
#[path = "app/world.rs"]
mod world;

use metagpt_bot::queue::JobState;
use world::{FULL_NAME, ISSUE, World, alice, reader};

const BRANCH: &str = "metagpt/issue-5";

fn bot_comments(world: &World) -> Vec<String> {
    world
        .github
        .state()
        .comments_on(FULL_NAME, ISSUE)
        .into_iter()
        .filter(|c| c.user.login.ends_with("[bot]"))
        .map(|c| c.body)
        .collect()
}

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
async fn feedback_from_a_writer_runs_a_second_iteration_on_the_same_branch() {
    let world = World::start().await;
    let first = world.deliver("issues", &world.labeled()).await.unwrap();
    world.wait_for(first, JobState::Done).await;
    let calls_after_first = world.llm.requests().len();

    let comment = world.comment(alice(), "/metagpt add a pause button", None);
    let second = world.deliver("issue_comment", &comment).await.unwrap();
    let info = world.wait_for(second, JobState::Done).await;
    let outcome = info.outcome.unwrap();
    assert_eq!(outcome["iteration"], 2, "{outcome}");
    let per_iteration =
        (world.llm.requests().len() - calls_after_first) as f64 * World::call_cost();
    let cumulative = outcome["cumulative_cost_usd"].as_f64().unwrap();
    assert!((cumulative - 2.0 * per_iteration).abs() < 1e-9, "{outcome}");

    let pulls = world.github.state().repo_mut(FULL_NAME).pulls.clone();
    assert_eq!(pulls.len(), 1, "still one PR");
    let body = pulls.values().next().unwrap().body.clone().unwrap();
    assert!(body.contains("### Iterations"), "{body}");
    let head = world.branch_head(BRANCH).unwrap();
    let repo = git2::Repository::open_bare(&world.bare).unwrap();
    let tree = repo.find_commit(head).unwrap().tree().unwrap();
    let entry = tree
        .get_path(std::path::Path::new("docs/requirement.txt"))
        .unwrap();
    let text = String::from_utf8(repo.find_blob(entry.id()).unwrap().content().to_vec()).unwrap();
    assert!(
        text.contains("## Feedback for iteration 2 (from @alice)\n\nadd a pause button"),
        "{text}"
    );
    assert_eq!(
        world.github.state().check_runs_for(&head.to_string()).len(),
        1
    );
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_is_refused_and_nothing_runs() {
    let world = World::start().await;
    let comment = world.comment(reader(), "/metagpt rewrite everything", None);
    let job = world.deliver("issue_comment", &comment).await.unwrap();
    let info = world.wait_for(job, JobState::Done).await;
    assert!(info.outcome.unwrap()["refused"].is_string());
    assert!(world.branch_head(BRANCH).is_none(), "nothing pushed");
    assert!(world.llm.requests().is_empty(), "no LLM call");
    let comments = bot_comments(&world);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].contains("@rita") && comments[0].contains("read permission"));
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
async fn a_human_commit_on_the_branch_is_kept() {
    let world = World::start().await;
    let first = world.deliver("issues", &world.labeled()).await.unwrap();
    world.wait_for(first, JobState::Done).await;
    let human = push_human_commit(&world);

    let comment = world.comment(alice(), "/metagpt keep going", None);
    let second = world.deliver("issue_comment", &comment).await.unwrap();
    world.wait_for(second, JobState::Done).await;
    let head = world.branch_head(BRANCH).unwrap();
    let repo = git2::Repository::open_bare(&world.bare).unwrap();
    assert!(
        head == human || repo.graph_descendant_of(head, human).unwrap(),
        "the bot built on the human commit"
    );
    world.github.assert_no_unexpected();
}

/// A human pushes `HUMAN.md` onto the bot's branch (through a local clone of the bare repository).
fn push_human_commit(world: &World) -> git2::Oid {
    let dir = world.fixture.root.path().join("human");
    let repo = git2::Repository::clone(world.bare.to_str().unwrap(), &dir).unwrap();
    let remote_branch = repo
        .find_reference(&format!("refs/remotes/origin/{BRANCH}"))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    repo.branch(BRANCH, &remote_branch, true).unwrap();
    repo.set_head(&format!("refs/heads/{BRANCH}")).unwrap();
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .unwrap();
    std::fs::write(dir.join("HUMAN.md"), "written by a person\n").unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(std::path::Path::new("HUMAN.md")).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let who = git2::Signature::now("Ann", "ann@example.com").unwrap();
    let commit = repo
        .commit(
            Some("HEAD"),
            &who,
            &who,
            "human edit",
            &tree,
            &[&remote_branch],
        )
        .unwrap();
    let mut origin = repo.find_remote("origin").unwrap();
    let refspec = format!("refs/heads/{BRANCH}:refs/heads/{BRANCH}");
    origin.push(&[refspec.as_str()], None).unwrap();
    commit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_own_comment_starts_nothing() {
    let world = World::start().await;
    let bot = fake_github::User::new("metagpt-bot-test[bot]", 990);
    let mut comment = world.comment(bot, "/metagpt run again, says the bot", None);
    webhook::set(&mut comment, "/sender/type", serde_json::json!("Bot"));
    webhook::set(
        &mut comment,
        "/comment/performed_via_github_app",
        serde_json::json!({ "id": fake_github::TEST_APP_ID, "slug": fake_github::TEST_APP_SLUG }),
    );
    assert_eq!(
        world.deliver("issue_comment", &comment).await,
        None,
        "no job"
    );
    assert_eq!(
        bot_comments(&world).len(),
        1,
        "only the bot's own comment, no answer"
    );
    assert!(world.llm.requests().is_empty());
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

/// Polls (bounded) until the issue's progress comment satisfies `want`.
async fn progress_until(world: &World, want: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        let progress = bot_comments(world)
            .into_iter()
            .find(|c| c.starts_with("<!-- metagpt-bot:progress -->"));
        if let Some(body) = progress.filter(|b| want(b)) {
            return body;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "progress comment never matched: {:#?}",
            bot_comments(world)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_asked_during_a_run_is_announced_and_a_stop_ends_both_pushing_nothing() {
    let world = World::start().await;
    // The first LLM call never answers: the first run stays under way until it is stopped.
    world.llm.push(scripted_llm::Reply::Hang);
    let first = world.deliver("issues", &world.labeled()).await.unwrap();
    progress_until(&world, |b| b.contains("**Running**")).await;
    while world.llm.requests().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let second = world.deliver("issues", &world.labeled()).await.unwrap();
    progress_until(&world, |b| {
        b.contains("1 more request for this issue waits behind this run")
    })
    .await;

    let stop = world.comment(alice(), "/metagpt stop", None);
    world
        .deliver("issue_comment", &stop)
        .await
        .expect("a stop job");
    // A stop ends the running run (its agent is killed) and cancels the one waiting behind it.
    let stopped = world.wait_for(first, JobState::Cancelled).await;
    assert_eq!(stopped.attempts, 1);
    world.wait_for(second, JobState::Cancelled).await;
    let body = progress_until(&world, |b| b.contains("**Stopped**")).await;
    assert!(body.contains("Nothing was pushed"), "{body}");
    assert!(world.branch_head(BRANCH).is_none(), "nothing pushed");
    assert!(world.github.state().pulls_of(FULL_NAME).is_empty());
    world.github.assert_no_unexpected();
}
