//! Iterations: `/metagpt <feedback>` runs again on the same branch, on top of human commits.

use metagpt_bot::queue::JobState;

use super::scripted_llm;
use super::world::{FULL_NAME, World, alice};
use super::{BRANCH, progress_until};

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
async fn feedback_on_the_bots_pull_request_iterates_and_keeps_what_a_human_wrote_in_the_body() {
    let world = World::start().await;
    let first = world.deliver("issues", &world.labeled()).await.unwrap();
    world.wait_for(first, JobState::Done).await;
    let number = {
        let mut state = world.github.state();
        let pull = state.repo_mut(FULL_NAME).pulls.values_mut().next().unwrap();
        pull.body = Some(format!(
            "Reviewer notes: check the edge cases.\n\n{}",
            pull.body.clone().unwrap_or_default()
        ));
        pull.number
    };

    let comment = world.comment(alice(), "/metagpt handle empty carts", Some(number));
    let second = world.deliver("issue_comment", &comment).await.unwrap();
    let outcome = world
        .wait_for(second, JobState::Done)
        .await
        .outcome
        .unwrap();
    assert_eq!(outcome["iteration"], 2, "{outcome}");
    assert_eq!(outcome["pr_number"], number);
    let pulls = world.github.state().pulls_of(FULL_NAME);
    assert_eq!(pulls.len(), 1);
    let body = pulls[0].body.clone().unwrap();
    assert!(
        body.starts_with("Reviewer notes: check the edge cases."),
        "{body}"
    );
    assert_eq!(
        body.matches("<!-- metagpt-bot:start -->").count(),
        1,
        "{body}"
    );
    assert!(body.contains("### Iterations"), "{body}");
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_says_why_and_retry_runs_it_again() {
    let world = World::start().await;
    for _ in 0..4 {
        world
            .llm
            .push(scripted_llm::Reply::error(500, "the provider is down"));
    }
    let first = world.deliver("issues", &world.labeled()).await.unwrap();
    world.wait_for(first, JobState::Failed).await;
    let progress = progress_until(&world, |b| b.contains("**Failed**")).await;
    assert!(progress.contains("Nothing was pushed"), "{progress}");
    assert!(world.branch_head(BRANCH).is_none());

    let retry = world.comment(alice(), "/metagpt retry", None);
    let second = world.deliver("issue_comment", &retry).await.unwrap();
    let outcome = world
        .wait_for(second, JobState::Done)
        .await
        .outcome
        .unwrap();
    assert_eq!(
        outcome["iteration"], 1,
        "the failed run left no iteration behind"
    );
    assert_eq!(world.github.state().pulls_of(FULL_NAME).len(), 1);
    progress_until(&world, |b| b.contains("**Done**")).await;
    world.github.assert_no_unexpected();
}
