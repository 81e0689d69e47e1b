//! Protected paths: changes under `.github/workflows/**` (or given patterns) are found, others not.

use metagpt_bot::workspace::{
    CommitRequest, CommitSubject, DEFAULT_BOT_EMAIL, DEFAULT_PROTECTED_PATHS, WorkspaceError,
};

use super::fixture::{bare_repo, clone_file, setup, write};

#[test]
fn changes_to_workflows_are_found_committed_or_not() {
    let s = setup();
    let base = s.ws.prepare_branch("metagpt/issue-1").expect("branch").base;
    write(s.ws.root(), ".github/workflows/ci.yml", "on: push\n");
    write(s.ws.root(), "acme/feature.py", "x\n");
    let request = CommitRequest {
        subject: CommitSubject::Issue(1),
        iteration: 1,
        body: "",
        email: DEFAULT_BOT_EMAIL,
    };
    s.ws.commit_all(&request).expect("commit");
    write(
        s.ws.root(),
        ".github/workflows/nested/deploy.yml",
        "uncommitted\n",
    );
    write(s.ws.root(), ".github/dependabot.yml", "not a workflow\n");

    let protected =
        s.ws.protected_changes(base, DEFAULT_PROTECTED_PATHS)
            .expect("diff");

    assert_eq!(
        protected,
        vec![
            ".github/workflows/ci.yml",
            ".github/workflows/nested/deploy.yml"
        ]
    );
    let changed = s.ws.changed_paths(base).expect("diff");
    assert!(
        changed.contains(&"acme/feature.py".to_owned()),
        "{changed:?}"
    );
}

#[test]
fn a_deleted_workflow_counts_and_single_star_stays_in_one_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = vec![
        (".gitignore".to_owned(), String::new()),
        ("acme/main.py".to_owned(), "x\n".to_owned()),
        (
            ".github/workflows/ci.yml".to_owned(),
            "on: push\n".to_owned(),
        ),
    ];
    let bare = bare_repo(dir.path(), "acme", &seed);
    let ws = clone_file(&bare, dir.path(), "acme");
    let base = ws.head().expect("head");
    std::fs::remove_file(ws.root().join(".github/workflows/ci.yml")).expect("delete");
    write(ws.root(), "config/deep/secret.toml", "x\n");
    write(ws.root(), "config/top.toml", "x\n");

    let found = ws
        .protected_changes(base, &[".github/workflows/**", "config/*.toml"])
        .expect("diff");

    assert_eq!(found, vec![".github/workflows/ci.yml", "config/top.toml"]);
}

#[test]
fn an_invalid_pattern_is_a_clear_error() {
    let s = setup();
    let base = s.ws.head().expect("head");

    let error =
        s.ws.protected_changes(base, &["src/[unclosed"])
            .expect_err("invalid");

    assert!(
        matches!(&error, WorkspaceError::Pattern { pattern, .. } if pattern == "src/[unclosed"),
        "{error:?}"
    );
}
