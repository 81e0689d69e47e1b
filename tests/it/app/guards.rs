//! Guards: who may ask, what the bot ignores (its own comments, another bot's planted marker), and what a
//! stop or a queued run looks like.

use std::time::Duration;

use metagpt_bot::marks::{PROGRESS as PROGRESS_MARKER, QUEUED as QUEUED_MARKER};
use metagpt_bot::queue::JobState;

use super::world::{FULL_NAME, ISSUE, World, alice, eventually, reader};
use super::{BRANCH, bot_comments, progress_until};
use super::{fake_github, scripted_llm, webhook};

/// How long a scenario waits for something it expects.
const WAIT: Duration = Duration::from_secs(60);

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

    // The same comment handled again (a retried job; here a second delivery of it) is not answered twice.
    let again = world.deliver("issue_comment", &comment).await.unwrap();
    assert_ne!(again, job);
    world.wait_for(again, JobState::Done).await;
    let comments = bot_comments(&world);
    assert_eq!(comments.len(), 1, "answered once: {comments:#?}");
    world.github.assert_no_unexpected();
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

    // A burst behind it is announced once, coalesced, with the final count: not one lookup per request.
    let lookups = || comment_lookups(&world);
    let before = lookups();
    let mut burst = Vec::new();
    for _ in 0..4 {
        burst.push(world.deliver("issues", &world.labeled()).await.unwrap());
    }
    progress_until(&world, |b| {
        b.contains("5 more requests for this issue wait behind this run")
    })
    .await;
    let burst_lookups = lookups() - before;
    assert!(
        burst_lookups <= 2,
        "{burst_lookups} comment lookups for a burst of 4"
    );

    let stop = world.comment(alice(), "/metagpt stop", None);
    world
        .deliver("issue_comment", &stop)
        .await
        .expect("a stop job");
    // A stop ends the running run (its agent is killed) and cancels the one waiting behind it.
    let stopped = world.wait_for(first, JobState::Cancelled).await;
    assert_eq!(stopped.attempts, 1);
    for job in std::iter::once(second).chain(burst) {
        world.wait_for(job, JobState::Cancelled).await;
    }
    let body = progress_until(&world, |b| b.contains("**Stopped**")).await;
    assert!(body.contains("Nothing was pushed"), "{body}");
    assert!(world.branch_head(BRANCH).is_none(), "nothing pushed");
    assert!(world.github.state().pulls_of(FULL_NAME).is_empty());
    world.github.assert_no_unexpected();
}

/// How many times the issue's comments were listed (each progress-comment lookup lists them).
fn comment_lookups(world: &World) -> usize {
    let path = format!("/repos/{FULL_NAME}/issues/{ISSUE}/comments");
    let listed = |r: &fake_github::LoggedRequest| r.method == "GET" && r.path.starts_with(&path);
    world.github.requests().iter().filter(|r| listed(r)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_on_a_pull_request_from_a_fork_is_refused() {
    let world = World::start().await;
    let number = {
        let mut state = world.github.state();
        let number = state.repo_mut(FULL_NAME).next_number();
        let pull = fake_github::Pull {
            number,
            title: "Looks like the bot's".into(),
            body: Some("<!-- metagpt-bot:issue=5 -->".into()),
            state: "open".into(),
            draft: false,
            merged: false,
            head_ref: BRANCH.into(),
            head_sha: "0".repeat(40),
            head_repo: Some("mallory/shop".into()),
            base_ref: "main".into(),
            user: fake_github::User::new("mallory", 66),
        };
        state.repo_mut(FULL_NAME).pulls.insert(number, pull);
        let mut issue =
            fake_github::Issue::open(number, "fork", "", fake_github::User::new("mallory", 66));
        issue.is_pull_request = true;
        state.add_issue(FULL_NAME, issue);
        number
    };
    let comment = world.comment(alice(), "/metagpt go", Some(number));
    let job = world.deliver("issue_comment", &comment).await.unwrap();
    let outcome = world.wait_for(job, JobState::Done).await.outcome.unwrap();
    assert!(
        outcome["refused"]
            .as_str()
            .is_some_and(|r| r.contains("mallory/shop")),
        "{outcome}"
    );
    assert!(world.llm.requests().is_empty(), "the fork's code never ran");
    assert!(world.branch_head(BRANCH).is_none());
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_marker_planted_by_another_bot_is_left_alone() {
    let world = World::start().await;
    const SQUATTER: u64 = 777;
    let planted = {
        let mut state = world.github.state();
        state.add_app(fake_github::App {
            id: SQUATTER,
            slug: "squatter".into(),
            name: "Another App on the repository".into(),
            public_key_pem: String::new(),
        });
        let body = format!("{PROGRESS_MARKER}\nI am the progress comment now.");
        state.add_app_comment(FULL_NAME, ISSUE, SQUATTER, &body)
    };
    let job = world.deliver("issues", &world.labeled()).await.unwrap();
    world.wait_for(job, JobState::Done).await;

    let comments = world.github.state().comments_on(FULL_NAME, ISSUE);
    let kept = comments.iter().find(|c| c.id == planted.id).unwrap();
    assert_eq!(
        kept.body, planted.body,
        "another bot's comment is never edited"
    );
    let ours: Vec<&str> = comments
        .iter()
        .filter(|c| c.user.login == "metagpt-bot-test[bot]")
        .map(|c| c.body.as_str())
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "a progress comment of our own: {comments:#?}"
    );
    assert!(ours[0].starts_with(PROGRESS_MARKER) && ours[0].contains("**Done**"));
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_users_request_during_a_run_is_not_announced() {
    let world = World::start().await;
    world.llm.push(scripted_llm::Reply::Hang);
    let first = world.deliver("issues", &world.labeled()).await.unwrap();
    progress_until(&world, |b| b.contains("**Running**")).await;
    eventually("the agent's first LLM call", WAIT, || {
        !world.llm.requests().is_empty()
    })
    .await;
    let listings = || {
        world
            .github
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/repos/octo/shop/issues/5/comments")
            .count()
    };
    let listed_before = listings();

    let comment = world.comment(reader(), "/metagpt rewrite everything", None);
    let queued = world.deliver("issue_comment", &comment).await.unwrap();
    // The announcer asks for rita's permission first, and stops there.
    eventually("the announcer's permission check", WAIT, || {
        world
            .github
            .requests()
            .iter()
            .any(|r| r.path == "/repos/octo/shop/collaborators/rita/permission" && r.status == 200)
    })
    .await;
    assert_eq!(
        listings(),
        listed_before,
        "no look for the progress comment"
    );
    let body = progress_until(&world, |_| true).await;
    assert!(!body.contains(QUEUED_MARKER), "{body}");

    let stop = world.comment(alice(), "/metagpt stop", None);
    world
        .deliver("issue_comment", &stop)
        .await
        .expect("a stop job");
    world.wait_for(first, JobState::Cancelled).await;
    world.wait_for(queued, JobState::Cancelled).await;
    let body = progress_until(&world, |b| b.contains("**Stopped**")).await;
    assert!(!body.contains(QUEUED_MARKER), "{body}");
    world.github.assert_no_unexpected();
}
