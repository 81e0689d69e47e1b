//! Reusing a bot-owned workspace after a failed run: leftovers are discarded, nothing outside is touched.

use metagpt_bot::workspace::Workspace;

use super::fixture::{git, human_push, setup, write};

#[test]
fn leftovers_of_a_failed_run_are_discarded_without_following_symlinks() {
    let s = setup();
    let root = s.ws.root().to_path_buf();
    let outside = tempfile::tempdir().expect("outside");
    write(outside.path(), "keep.txt", "keep\n");
    write(&root, "acme/main.py", "half-written by a failed run\n");
    write(&root, "acme/pkg/new.py", "untracked\n");
    write(&root, "debug.log", "ignored\n");
    std::os::unix::fs::symlink(outside.path(), root.join("acme/pkg/link")).expect("symlink");
    human_push(&s.bare, "metagpt/issue-4", "acme/main.py", "human\n");
    s.ws.fetch().expect("fetch");

    let removed = s.ws.discard_changes().expect("discard");

    assert_eq!(removed, vec!["acme/pkg/", "debug.log"]);
    assert_eq!(git(&root, &["status", "--porcelain", "--ignored"]), "");
    assert_eq!(
        std::fs::read_to_string(root.join("acme/main.py")).expect("file"),
        "print('hello')\n"
    );
    assert!(
        outside.path().join("keep.txt").is_file(),
        "the symlink's target survives"
    );
    s.ws.prepare_branch("metagpt/issue-4")
        .expect("the branch can be checked out again");
    s.ws.preflight(None, None).expect("the tree is ready again");
}

#[test]
fn a_workspace_can_move_into_spawn_blocking() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Workspace>();
}
