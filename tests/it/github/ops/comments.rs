//! Comments and reactions: create, edit only the bot's own, find by marker across pages, react.

use metagpt_bot::github::{GitHubError, OwnAuthor, ReactionTarget};

use super::fake_github::{App, FakeGitHub, ReactionOn, TEST_APP_ID, TEST_APP_SLUG, User};
use super::{FULL_NAME, OWNER, REPO, alice, client_for, repo, repo_as, world};

const MARKER: &str = "<!-- metagpt-bot:progress -->";
/// Another GitHub App installed on the same repository.
const OTHER_APP: u64 = 777;

fn bot(fake: &FakeGitHub) -> User {
    fake.state().app_bot(TEST_APP_ID).expect("the test App")
}

#[tokio::test]
async fn the_bot_creates_and_edits_its_comment_but_not_a_humans() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let human = fake
        .state()
        .add_comment(FULL_NAME, 1, alice(), "please do it");
    let client = client_for(&fake).await;

    let created = repo(&client, OWNER, REPO)
        .create_comment(1, &format!("{MARKER}\nQueued"))
        .await
        .expect("comment");
    let edited = repo(&client, OWNER, REPO)
        .update_comment(created.id, &format!("{MARKER}\nRunning"))
        .await
        .expect("edit");
    let refused = repo(&client, OWNER, REPO)
        .update_comment(human.id, "hijacked")
        .await
        .expect_err("not the bot's comment");

    assert_eq!(created.user_login, "metagpt-bot-test[bot]");
    assert!(
        created
            .html_url
            .ends_with(&format!("#issuecomment-{}", created.id))
    );
    assert_eq!(edited.id, created.id);
    assert_eq!(refused.status(), Some(403));
    let comments: Vec<(String, String)> = fake
        .state()
        .comments_on(FULL_NAME, 1)
        .into_iter()
        .map(|comment| (comment.user.login, comment.body))
        .collect();
    assert_eq!(
        comments,
        [
            ("alice".to_owned(), "please do it".to_owned()),
            (
                "metagpt-bot-test[bot]".to_owned(),
                format!("{MARKER}\nRunning")
            ),
        ]
    );
    let missing = repo(&client, OWNER, REPO).create_comment(404, "x").await;
    assert_eq!(missing.expect_err("no issue #404").status(), Some(404));
}

#[tokio::test]
async fn find_comment_reads_every_page_and_only_trusts_its_own_comments() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let bot = bot(&fake);
    let expected = {
        let mut state = fake.state();
        state.add_app(App::granted(OTHER_APP, "other-bot", "Another App", ""));
        state.add_comment(FULL_NAME, 1, alice(), &format!("quoting {MARKER}"));
        state.add_app_comment(FULL_NAME, 1, OTHER_APP, &format!("{MARKER}\nplanted"));
        // Our bot's login, but not made through our App: not ours either.
        state.add_comment(FULL_NAME, 1, bot, &format!("{MARKER}\nforged"));
        for index in 0..128 {
            state.add_comment(FULL_NAME, 1, alice(), &format!("comment {index}"));
        }
        state.add_app_comment(
            FULL_NAME,
            1,
            TEST_APP_ID,
            "a bot comment without the marker",
        );
        let expected = state.add_app_comment(FULL_NAME, 1, TEST_APP_ID, &format!("{MARKER}\nDone"));
        state.add_app_comment(FULL_NAME, 1, TEST_APP_ID, &format!("{MARKER}\nnewer"));
        expected
    };
    let client = client_for(&fake).await;
    let ours = OwnAuthor::App {
        id: TEST_APP_ID,
        bot: None,
    };

    let found = repo_as(&client, OWNER, REPO, &ours)
        .find_own_comment(1, MARKER)
        .await
        .expect("listing")
        .expect("the bot's comment on page 2");

    assert_eq!(found.id, expected.id);
    assert_eq!(found.body, format!("{MARKER}\nDone"));
    let pages = fake
        .requests()
        .iter()
        .filter(|request| request.path.ends_with("/issues/1/comments"))
        .count();
    assert_eq!(pages, 2, "134 comments are two pages of 100");

    let absent = repo_as(&client, OWNER, REPO, &ours)
        .find_own_comment(1, "<!-- other -->")
        .await
        .expect("listing");
    assert_eq!(absent, None);
    let theirs = repo_as(
        &client,
        OWNER,
        REPO,
        &OwnAuthor::App {
            id: OTHER_APP,
            bot: None,
        },
    )
    .find_own_comment(1, MARKER)
    .await
    .expect("listing")
    .expect("the other App's own comment");
    assert_eq!(theirs.body, format!("{MARKER}\nplanted"));
}

/// Comment `id` of issue #1 as GitHub's list of the issue's comments shows it.
async fn listed_comment(client: &octocrab::Octocrab, id: u64) -> serde_json::Value {
    let listed: serde_json::Value = client
        .get(
            format!("/repos/{OWNER}/{REPO}/issues/1/comments"),
            None::<&()>,
        )
        .await
        .expect("listing");
    let found = listed
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == id));
    found.cloned().expect("the comment in the listing")
}

#[tokio::test]
async fn a_comment_made_through_an_app_shows_that_app() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let client = client_for(&fake).await;
    let created = repo(&client, OWNER, REPO)
        .create_comment(1, "hello")
        .await
        .expect("comment");
    let comment = listed_comment(&client, created.id).await;
    assert_eq!(comment["performed_via_github_app"]["id"], TEST_APP_ID);
    assert_eq!(comment["performed_via_github_app"]["slug"], TEST_APP_SLUG);
    let person = fake.state().add_comment(FULL_NAME, 1, alice(), "by hand");
    let by_hand = listed_comment(&client, person.id).await;
    assert!(by_hand["performed_via_github_app"].is_null());
}

#[tokio::test]
async fn reactions_on_issues_and_comments_succeed_once_and_again() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    let human = fake
        .state()
        .add_comment(FULL_NAME, 1, alice(), "/metagpt go");
    let client = client_for(&fake).await;

    repo(&client, OWNER, REPO)
        .react(ReactionTarget::Issue(1), "eyes")
        .await
        .expect("new reaction (201)");
    repo(&client, OWNER, REPO)
        .react(ReactionTarget::Issue(1), "eyes")
        .await
        .expect("same reaction again (200)");
    repo(&client, OWNER, REPO)
        .react(ReactionTarget::Comment(human.id), "+1")
        .await
        .expect("reaction on a comment");
    let invalid = repo(&client, OWNER, REPO)
        .react(ReactionTarget::Issue(1), "party")
        .await
        .expect_err("not a GitHub reaction");

    assert!(matches!(invalid, GitHubError::Invalid { .. }), "{invalid}");
    let statuses: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|request| request.path.ends_with("/reactions"))
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [201, 200, 201], "the invalid one was never sent");
    let state = fake.state();
    let on_issue = ReactionOn::Issue {
        repo: FULL_NAME.to_owned(),
        number: 1,
    };
    assert_eq!(state.reactions_on(&on_issue), ["eyes"]);
    assert_eq!(state.reactions_on(&ReactionOn::Comment(human.id)), ["+1"]);
}
