//! The typed GitHub operations with the real octocrab installation client against the fake GitHub:
//! repository and file text, permissions here; comments, pull requests and check runs in `ops/`.

use crate::support::fake_github;

mod checks;
mod comments;
mod pulls;

use std::path::Path;
use std::sync::Arc;

use fake_github::{FakeGitHub, User};
use metagpt_bot::github::{GitHubError, Permission};

use super::{
    FULL_NAME, INSTALLATION, OWNER, REPO, alice, client_for, repo, repo_as, widgets as world,
};

/// A bare repository at `dir` with `main` and each of `branches` one commit ahead of it.
fn bare_repo(dir: &Path, branches: &[&str]) {
    let git = git2::Repository::init_bare(dir).expect("git init --bare");
    let main = commit(&git, "main", "README.md", "# widgets\n", None);
    for branch in branches {
        commit(&git, branch, "export.py", "print('csv')\n", Some(main));
    }
}

/// Commits `path` with `text` on `branch` (on top of `parent`, or of the branch's tip if it exists).
fn commit(
    git: &git2::Repository,
    branch: &str,
    path: &str,
    text: &str,
    parent: Option<git2::Oid>,
) -> git2::Oid {
    let refname = format!("refs/heads/{branch}");
    let parent = parent.or_else(|| git.refname_to_id(&refname).ok());
    let parent = parent.map(|oid| git.find_commit(oid).expect("parent commit"));
    let blob = git.blob(text.as_bytes()).expect("blob");
    let base_tree = parent.as_ref().map(|commit| commit.tree().expect("tree"));
    let mut tree = git.treebuilder(base_tree.as_ref()).expect("tree builder");
    tree.insert(path, blob, 0o100_644).expect("tree entry");
    let tree = git.find_tree(tree.write().expect("tree")).expect("tree");
    let who = git2::Signature::now("Test", "test@example.com").expect("signature");
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    git.commit(Some(&refname), &who, &who, "change", &tree, &parents)
        .expect("commit")
}

#[tokio::test]
async fn reads_the_repository_as_the_test_set_it() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    {
        let mut state = fake.state();
        let repo = state.repo_mut(FULL_NAME);
        repo.default_branch = "trunk".to_owned();
        repo.clone_url = "http://127.0.0.1:9/octo-org/widgets.git".to_owned();
        repo.fork = true;
    }
    let client = client_for(&fake).await;

    let repository = repo(&client, OWNER, REPO).repository().await.expect("repo");

    assert_eq!(repository.id, 500);
    assert_eq!(repository.full_name, FULL_NAME);
    assert_eq!(repository.default_branch, "trunk");
    assert_eq!(
        repository.clone_url,
        "http://127.0.0.1:9/octo-org/widgets.git"
    );
    assert!(repository.fork);
    assert!(!repository.private);
    let hidden = repo(&client, OWNER, "secret").repository().await;
    assert_eq!(hidden.expect_err("not installed").status(), Some(404));
}

#[tokio::test]
async fn reads_file_text_at_a_ref_and_says_why_it_cannot() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    {
        let mut state = fake.state();
        let config = "n_round: 5\nprotected_paths:\n  - \"docs/**\"\n".repeat(40);
        state.set_file(FULL_NAME, "main", ".github/metagpt.yml", config.as_bytes());
        state.set_file(FULL_NAME, "main", "docs/a b/ü?.md", "odd name".as_bytes());
        state.set_file(
            FULL_NAME,
            "main",
            "docs/logo.png",
            &[0x89, b'P', 0xff, 0xfe],
        );
        state.set_file(FULL_NAME, "feature", ".github/metagpt.yml", b"n_round: 9\n");
    }
    let client = client_for(&fake).await;
    let read = |path: &'static str, at: &'static str| {
        let client = Arc::clone(&client);
        async move { repo(&client, OWNER, REPO).file_text(path, at).await }
    };

    let config = read(".github/metagpt.yml", "main").await.expect("config");
    assert_eq!(
        config.as_deref(),
        Some(
            "n_round: 5\nprotected_paths:\n  - \"docs/**\"\n"
                .repeat(40)
                .as_str()
        ),
        "multi-line base64 decoded whole"
    );
    let other_ref = read(".github/metagpt.yml", "feature")
        .await
        .expect("config");
    assert_eq!(other_ref.as_deref(), Some("n_round: 9\n"));
    let odd = read("docs/a b/ü?.md", "main").await.expect("odd name");
    assert_eq!(odd.as_deref(), Some("odd name"), "segments percent-encoded");
    assert_eq!(read("missing.yml", "main").await.expect("no file"), None);

    let directory = read("docs", "main").await.expect_err("a directory");
    assert!(
        matches!(directory, GitHubError::Invalid { .. }),
        "{directory}"
    );
    assert!(directory.to_string().contains("directory"), "{directory}");
    let binary = read("docs/logo.png", "main").await.expect_err("not text");
    assert!(binary.to_string().contains("UTF-8"), "{binary}");
    let traversal = read("../secrets", "main").await.expect_err("refused");
    assert!(matches!(traversal, GitHubError::Invalid { .. }));
    let calls = fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/contents/"))
        .count();
    assert_eq!(calls, 6, "the traversal was refused before any request");
}

#[tokio::test]
async fn permission_is_checked_by_numeric_user_id() {
    let fake = FakeGitHub::start().await;
    world(&fake);
    {
        let mut state = fake.state();
        state.set_collaborator(FULL_NAME, User::new("Bob", 41), "maintain");
        state.set_collaborator(FULL_NAME, User::new("carol", 51), "read");
        state.set_custom_role(FULL_NAME, User::new("dave", 61), "release-manager", "write");
        // alice (id 31) renamed herself; someone else (id 99) took the login "alice" and is admin.
        state.set_collaborator(FULL_NAME, User::new("alice", 99), "admin");
    }
    let client = client_for(&fake).await;
    let permission = |id: u64, login: &'static str| {
        let client = Arc::clone(&client);
        async move { repo(&client, OWNER, REPO).permission(id, login).await }
    };

    let bob = permission(41, "bob").await.expect("bob");
    assert_eq!(bob, Permission::Maintain, "logins are case-insensitive");
    assert!(bob.can_trigger());
    let carol = permission(51, "carol").await.expect("carol");
    assert_eq!(carol, Permission::Read);
    assert!(!carol.can_trigger());
    assert_eq!(
        permission(61, "dave").await.expect("dave"),
        Permission::Write
    );
    assert_eq!(
        permission(99, "alice").await.expect("new alice"),
        Permission::Admin
    );
    assert_eq!(
        permission(31, "alice").await.expect("old alice"),
        Permission::None,
        "the login now belongs to another account"
    );
    assert_eq!(
        permission(71, "mallory").await.expect("stranger"),
        Permission::None
    );
    let before = fake.requests().len();
    assert_eq!(
        permission(5, "renovate[bot]").await.expect("bot"),
        Permission::None
    );
    assert_eq!(fake.requests().len(), before, "bots are not asked about");
}
