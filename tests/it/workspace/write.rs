//! Safe writes: the run's text lands in `docs/`, never through a symlink, never outside the repository.

use metagpt_bot::domain::Kind;
use metagpt_bot::workspace::WorkspaceError;

use super::fixture::setup;

fn assert_unsafe(result: Result<std::path::PathBuf, WorkspaceError>) -> String {
    match result {
        Err(error @ WorkspaceError::UnsafePath { .. }) => error.to_string(),
        other => panic!("expected an unsafe-path refusal, got {other:?}"),
    }
}

#[test]
fn writes_the_requirement_and_the_bugfix_creating_docs() {
    let s = setup();

    s.ws.write_issue_text("", Kind::Requirement, "Add a login page")
        .expect("requirement");
    s.ws.write_issue_text("", Kind::Bugfix, "It crashes")
        .expect("bugfix");
    s.ws.write_issue_text("", Kind::Requirement, "Add a logout page")
        .expect("overwrite");

    let docs = s.ws.root().join("docs");
    assert_eq!(
        std::fs::read_to_string(docs.join("requirement.txt")).expect("read"),
        "Add a logout page"
    );
    assert_eq!(
        std::fs::read_to_string(docs.join("bugfix.txt")).expect("read"),
        "It crashes"
    );
    let mut names: Vec<_> = std::fs::read_dir(&docs)
        .expect("docs")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["bugfix.txt", "requirement.txt"],
        "no temporary file is left behind"
    );
}

#[test]
fn a_symlinked_requirement_file_is_refused_and_its_target_untouched() {
    let s = setup();
    let outside = tempfile::tempdir().expect("outside");
    let target = outside.path().join("victim.txt");
    std::fs::write(&target, "precious").expect("victim");
    std::fs::create_dir(s.ws.root().join("docs")).expect("docs");
    std::os::unix::fs::symlink(&target, s.ws.root().join("docs/requirement.txt")).expect("symlink");

    let message = assert_unsafe(s.ws.write_issue_text("", Kind::Requirement, "pwned"));

    assert!(
        message.contains("docs/requirement.txt") && message.contains("symlink"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("victim"),
        "precious"
    );
}

#[test]
fn a_symlinked_docs_folder_pointing_outside_is_refused() {
    let s = setup();
    let outside = tempfile::tempdir().expect("outside");
    std::os::unix::fs::symlink(outside.path(), s.ws.root().join("docs")).expect("symlink");

    let message = assert_unsafe(s.ws.write_issue_text("", Kind::Bugfix, "pwned"));

    assert!(message.contains("`docs` is a symlink"), "{message}");
    assert_eq!(
        std::fs::read_dir(outside.path()).expect("outside").count(),
        0,
        "nothing written outside"
    );
}

#[test]
fn paths_leaving_the_repository_or_into_git_are_refused() {
    let s = setup();
    let config_before = std::fs::read_to_string(s.ws.root().join(".git/config")).expect("config");

    for bad in [
        "../escape.txt",
        "/tmp/abs.txt",
        ".git/config",
        "docs/../../x",
        "",
        "a/.GIT/hooks/x",
    ] {
        assert_unsafe(s.ws.write_file(bad, b"x"));
    }
    std::fs::write(s.ws.root().join("plainfile"), "x").expect("file");
    assert_unsafe(s.ws.write_file("plainfile/child.txt", b"x"));

    assert_eq!(
        std::fs::read_to_string(s.ws.root().join(".git/config")).expect("config"),
        config_before
    );
    assert!(
        !s.ws
            .root()
            .parent()
            .expect("parent")
            .join("escape.txt")
            .exists()
    );
}

#[test]
fn nested_files_are_written_inside_the_repository() {
    let s = setup();

    let path =
        s.ws.write_file(".metagpt/runs/3/1/summary.md", b"# run")
            .expect("write");

    assert_eq!(path, s.ws.root().join(".metagpt/runs/3/1/summary.md"));
    assert_eq!(std::fs::read(&path).expect("read"), b"# run");
}
