//! Pull requests: one per head branch, heads read from the real bare repository, updates, draft state.

use metagpt_bot::github::{GitHubError, NewPull, PullUpdate};

use super::fake_github::FakeGitHub;
use super::{FULL_NAME, OWNER, REPO, bare_repo, client_for, commit, repo, world};

const BRANCH: &str = "metagpt/issue-1";

fn new_pull(draft: bool) -> NewPull<'static> {
    NewPull {
        title: "MetaGPT: Add a CSV export",
        head: BRANCH,
        base: "main",
        body: "Closes #1",
        draft,
    }
}

/// The world plus a bare repository with `main` and the bot's branch one commit ahead.
fn world_with_git(fake: &FakeGitHub) -> tempfile::TempDir {
    world(fake);
    let dir = tempfile::tempdir().expect("temp dir");
    bare_repo(dir.path(), &[BRANCH]);
    fake.state().repo_mut(FULL_NAME).git_dir = Some(dir.path().to_path_buf());
    dir
}

fn branch_tip(dir: &tempfile::TempDir, branch: &str) -> String {
    let git = git2::Repository::open_bare(dir.path()).expect("bare repo");
    let oid = git.refname_to_id(&format!("refs/heads/{branch}"));
    oid.expect("branch").to_string()
}

#[tokio::test]
async fn one_pull_request_per_head_and_the_second_is_recognisably_a_duplicate() {
    let fake = FakeGitHub::start().await;
    let dir = world_with_git(&fake);
    let widgets = repo(&client_for(&fake).await, OWNER, REPO);

    let pull = widgets
        .create_pull(&new_pull(false))
        .await
        .expect("first pull request");
    let again = widgets
        .create_pull(&new_pull(false))
        .await
        .expect_err("a second one for the same head");

    assert_eq!(pull.number, 2, "numbers are shared with issue #1");
    assert_eq!(
        (pull.state.as_str(), pull.merged, pull.draft),
        ("open", false, false)
    );
    assert_eq!(pull.head_ref, BRANCH);
    assert_eq!(pull.head_sha, branch_tip(&dir, BRANCH), "the pushed commit");
    assert_eq!(pull.head_repo.as_deref(), Some(FULL_NAME));
    assert_eq!(
        (pull.base_ref.as_str(), pull.base_repo.as_str()),
        ("main", FULL_NAME)
    );
    assert_eq!(pull.body, "Closes #1");
    assert!(again.is_already_exists(), "{again}");
    assert_eq!(again.status(), Some(422));
    assert!(!again.is_transient());
    assert_eq!(fake.state().pulls_of(FULL_NAME).len(), 1);

    let found = widgets.pulls_by_head(BRANCH).await.expect("list");
    assert_eq!(found, std::slice::from_ref(&pull));
    let other = widgets
        .pulls_by_head("metagpt/issue-9")
        .await
        .expect("list");
    assert!(other.is_empty());
}

#[tokio::test]
async fn a_head_branch_that_was_not_pushed_is_refused_but_not_as_a_duplicate() {
    let fake = FakeGitHub::start().await;
    let _dir = world_with_git(&fake);
    let widgets = repo(&client_for(&fake).await, OWNER, REPO);
    let mut ask = new_pull(false);
    ask.head = "never-pushed";

    let error = widgets.create_pull(&ask).await.expect_err("no such branch");

    assert_eq!(error.status(), Some(422));
    assert!(!error.is_already_exists(), "{error}");
    assert!(fake.state().pulls_of(FULL_NAME).is_empty());
}

#[tokio::test]
async fn the_head_follows_pushes_and_updates_change_title_and_body() {
    let fake = FakeGitHub::start().await;
    let dir = world_with_git(&fake);
    let widgets = repo(&client_for(&fake).await, OWNER, REPO);
    let pull = widgets
        .create_pull(&new_pull(false))
        .await
        .expect("pull request");
    let git = git2::Repository::open_bare(dir.path()).expect("bare repo");
    let pushed = commit(&git, BRANCH, "human.txt", "a human commit\n", None);

    let update = PullUpdate {
        title: None,
        body: Some("Closes #1\n\nIteration 2".to_owned()),
        state: None,
    };
    let updated = widgets
        .update_pull(pull.number, &update)
        .await
        .expect("update");
    let read = widgets.pull(pull.number).await.expect("get");

    assert_eq!(
        updated.title, "MetaGPT: Add a CSV export",
        "title untouched"
    );
    assert_eq!(updated.body, "Closes #1\n\nIteration 2");
    assert_eq!(read, updated);
    assert_eq!(read.head_sha, pushed.to_string());
    let missing = widgets.pull(99).await;
    assert_eq!(missing.expect_err("no #99").status(), Some(404));
}

#[tokio::test]
async fn set_draft_goes_both_ways_and_does_nothing_when_already_there() {
    let fake = FakeGitHub::start().await;
    let _dir = world_with_git(&fake);
    let widgets = repo(&client_for(&fake).await, OWNER, REPO);
    let pull = widgets
        .create_pull(&new_pull(false))
        .await
        .expect("pull request");
    let graphql_calls = |fake: &FakeGitHub| {
        let requests = fake.requests();
        requests.iter().filter(|r| r.path == "/graphql").count()
    };

    widgets.set_draft(&pull, true).await.expect("to draft");
    let drafted = widgets.pull(pull.number).await.expect("get");
    assert!(drafted.draft);
    widgets
        .set_draft(&drafted, true)
        .await
        .expect("already a draft");
    assert_eq!(graphql_calls(&fake), 1, "no mutation for no change");
    widgets.set_draft(&drafted, false).await.expect("ready");
    let ready = widgets.pull(pull.number).await.expect("get");
    assert!(!ready.draft);
    assert_eq!(graphql_calls(&fake), 2);

    let mut unknown = ready.clone();
    unknown.node_id = "PR_nope".to_owned();
    let error = widgets
        .set_draft(&unknown, true)
        .await
        .expect_err("GraphQL errors are failures");
    assert!(matches!(error, GitHubError::GraphQl { .. }), "{error}");
    assert!(error.to_string().contains("PR_nope"), "{error}");
    assert!(!error.is_transient());
}
