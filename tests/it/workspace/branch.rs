//! The run's branch: names, reuse of a branch humans committed to, creation from the default branch.

use metagpt_bot::marks::{issue_branch, local_branch, slug};
use metagpt_bot::workspace::BranchOrigin;

use super::fixture::{clone_file, human_push, setup, tip};

#[test]
fn branch_names() {
    assert_eq!(issue_branch(12), "metagpt/issue-12");
    assert_eq!(
        local_branch("Add a /login page, please!"),
        "metagpt/local-add-a-login-page-please"
    );
    assert_eq!(slug("  ¿¡ !! "), "run");
    assert_eq!(slug("Ünïcode and CAPS"), "n-code-and-caps");
    let long = slug(&"word ".repeat(40));
    assert!(long.len() <= 40 && !long.ends_with('-'), "{long}");
    for text in ["a..b", "x/../y", "end.lock", "@{", "trailing-"] {
        let name = local_branch(text);
        assert!(
            git2::Reference::is_valid_name(&format!("refs/heads/{name}")),
            "{name}"
        );
    }
}

#[test]
fn a_new_branch_starts_at_the_default_branch_tip() {
    let s = setup();

    let branch = s.ws.prepare_branch(&issue_branch(7)).expect("branch");

    assert_eq!(branch.origin, BranchOrigin::New);
    assert_eq!(Some(branch.head.to_string()), tip(&s.bare, "main"));
    assert_eq!(branch.base, branch.head);
    assert_eq!(s.ws.head().expect("head"), branch.head);
}

#[test]
fn an_existing_remote_branch_is_reused_with_the_human_commits_on_it() {
    let s = setup();
    let human = human_push(&s.bare, "metagpt/issue-7", "acme/human.py", "by a human\n");
    s.ws.fetch().expect("fetch");

    let branch = s.ws.prepare_branch("metagpt/issue-7").expect("branch");

    assert_eq!(branch.origin, BranchOrigin::Remote);
    assert_eq!(branch.head.to_string(), human);
    assert_eq!(Some(branch.base.to_string()), tip(&s.bare, "main"));
    let checked_out = s.ws.root().join("acme/human.py");
    assert_eq!(
        std::fs::read_to_string(checked_out).expect("human file"),
        "by a human\n"
    );
}

#[test]
fn a_branch_pushed_before_the_clone_is_found_without_an_extra_fetch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = super::fixture::bare_repo(dir.path(), "acme", &super::fixture::ready("acme"));
    let human = human_push(&bare, "metagpt/issue-9", "acme/h.py", "h\n");
    let ws = clone_file(&bare, dir.path(), "acme");

    let branch = ws.prepare_branch("metagpt/issue-9").expect("branch");

    assert_eq!(
        (branch.origin, branch.head.to_string()),
        (BranchOrigin::Remote, human)
    );
}

#[test]
fn checking_out_never_overwrites_local_changes() {
    let s = setup();
    human_push(
        &s.bare,
        "metagpt/issue-7",
        "acme/main.py",
        "print('human')\n",
    );
    s.ws.fetch().expect("fetch");
    super::fixture::write(s.ws.root(), "acme/main.py", "print('local edit')\n");

    let error =
        s.ws.prepare_branch("metagpt/issue-7")
            .expect_err("must not overwrite");

    assert!(
        error.to_string().contains("would overwrite local changes"),
        "{error}"
    );
    let kept = std::fs::read_to_string(s.ws.root().join("acme/main.py")).expect("file");
    assert_eq!(kept, "print('local edit')\n");
}
