//! Iterations: `/metagpt <feedback>` runs again on the same branch, on top of human commits.

use std::time::Duration;

use metagpt_bot::queue::JobState;

use crate::support::bot::{BRANCH, Bot, FULL_NAME, alice};
use crate::support::scripted_llm::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_from_a_writer_runs_a_second_iteration_on_the_same_branch() {
    let bot = Bot::start().await;
    let first = bot.label().await;
    bot.wait_for(first, JobState::Done).await;
    let calls_after_first = bot.llm_calls();

    let second = bot.comment(alice(), "/metagpt add a pause button").await;
    let info = bot.wait_for(second, JobState::Done).await;
    let outcome = info.outcome.unwrap();
    assert_eq!(outcome["iteration"], 2, "{outcome}");
    let per_iteration = (bot.llm_calls() - calls_after_first) as f64 * Bot::call_cost();
    let cumulative = outcome["cumulative_cost_usd"].as_f64().unwrap();
    assert!((cumulative - 2.0 * per_iteration).abs() < 1e-9, "{outcome}");

    let body = bot.pr().body.expect("a body");
    assert!(body.contains("### Iterations"), "{body}");
    let text = bot.branch_file("docs/requirement.txt").unwrap();
    assert!(
        text.contains("## Feedback for iteration 2 (from @alice)\n\nadd a pause button"),
        "{text}"
    );
    assert_eq!(bot.check_runs().len(), 1);
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_commit_on_the_branch_is_kept() {
    let bot = Bot::start().await;
    let first = bot.label().await;
    bot.wait_for(first, JobState::Done).await;
    let human = push_human_commit(&bot);

    let second = bot.comment(alice(), "/metagpt keep going").await;
    bot.wait_for(second, JobState::Done).await;
    let head = bot.branch_head().unwrap();
    let repo = git2::Repository::open_bare(&bot.bare).unwrap();
    assert!(
        head == human || repo.graph_descendant_of(head, human).unwrap(),
        "the bot built on the human commit"
    );
    bot.finish().await;
}

/// A human pushes `HUMAN.md` onto the bot's branch (through a local clone of the bare repository).
fn push_human_commit(bot: &Bot) -> git2::Oid {
    push_human_file(bot, "human", "HUMAN.md", "written by a person\n")
}

/// A human pushes `path` with `text` onto the bot's branch, from a clone in `clone`.
fn push_human_file(bot: &Bot, clone: &str, path: &str, text: &str) -> git2::Oid {
    let dir = bot.fixture.root.path().join(clone);
    let repo = git2::Repository::clone(bot.bare.to_str().unwrap(), &dir).unwrap();
    let remote_branch = repo
        .find_reference(&format!("refs/remotes/origin/{BRANCH}"))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    repo.branch(BRANCH, &remote_branch, true).unwrap();
    repo.set_head(&format!("refs/heads/{BRANCH}")).unwrap();
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .unwrap();
    std::fs::write(dir.join(path), text).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(std::path::Path::new(path)).unwrap();
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
async fn commits_pushed_during_a_run_that_do_not_merge_are_told_and_nothing_is_pushed() {
    let bot = Bot::start().await;
    let first = bot.label().await;
    bot.wait_for(first, JobState::Done).await;
    let feature = bot
        .branch_file("shop/feature.py")
        .expect("the first run's code");
    // The second run's "team at work" edit is answered late: a person pushes a change to the same
    // lines the agent is about to rewrite, after the run checked the branch out.
    let at_work = "MetaGPT's team at work";
    bot.answer_slowly("PATCH", "", at_work, Duration::from_secs(3));
    let second = bot.comment(alice(), "/metagpt keep going").await;
    bot.progress_until(|b| b.contains(at_work)).await;
    let human = push_human_file(&bot, "human-conflict", "shop/feature.py", "# a person's\n");

    let failed = bot.wait_for(second, JobState::Failed).await;
    assert_eq!(
        failed.attempts, 1,
        "the branch is the people's to fix: not retried"
    );
    let progress = bot.progress_until(|b| b.contains("**Failed**")).await;
    assert!(
        progress.contains("Make the issue's branch mergeable again"),
        "{progress}"
    );
    assert!(
        progress.contains("shop/feature.py"),
        "names the conflict: {progress}"
    );
    assert_eq!(
        bot.branch_head(),
        Some(human),
        "nothing pushed over the person's commit"
    );
    assert_ne!(bot.branch_file("shop/feature.py"), Some(feature));
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_on_the_bots_pull_request_iterates_and_keeps_what_a_human_wrote_in_the_body() {
    let bot = Bot::start().await;
    let first = bot.label().await;
    bot.wait_for(first, JobState::Done).await;
    let number = {
        let mut state = bot.github.state();
        let pull = state.repo_mut(FULL_NAME).pulls.values_mut().next().unwrap();
        pull.body = Some(format!(
            "Reviewer notes: check the edge cases.\n\n{}",
            pull.body.clone().unwrap_or_default()
        ));
        pull.number
    };

    let second = bot
        .comment_on_pr(number, alice(), "/metagpt handle empty carts")
        .await;
    let outcome = bot.wait_for(second, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["iteration"], 2, "{outcome}");
    assert_eq!(outcome["pr_number"], number);
    let body = bot.pr().body.unwrap();
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
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_says_why_and_retry_runs_it_again() {
    let bot = Bot::start().await;
    for _ in 0..4 {
        bot.llm.push(Reply::error(500, "the provider is down"));
    }
    let first = bot.label().await;
    bot.wait_for(first, JobState::Failed).await;
    let progress = bot.progress_until(|b| b.contains("**Failed**")).await;
    assert!(progress.contains("Nothing was pushed"), "{progress}");
    assert!(
        progress.contains(
            "> Before it failed, no step finished; 1 LLM call(s), 0 prompt and 0 completion tokens."
        ) && progress.contains("> spent $0.0000 of $3.00. Nothing was committed."),
        "how far it got and what it spent: {progress}"
    );
    assert!(bot.branch_head().is_none());

    let second = bot.comment(alice(), "/metagpt retry").await;
    let outcome = bot.wait_for(second, JobState::Done).await.outcome.unwrap();
    assert_eq!(
        outcome["iteration"], 1,
        "the failed run left no iteration behind"
    );
    assert_eq!(bot.pulls().len(), 1);
    bot.progress_until(|b| b.contains("**Done**")).await;
    bot.finish().await;
}
