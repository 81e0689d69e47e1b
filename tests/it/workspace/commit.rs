//! The bot's commits: author, message, what is staged, and "no changes".

use metagpt_bot::workspace::{
    BOT_NAME, CommitOutcome, CommitRequest, CommitSubject, DEFAULT_BOT_EMAIL,
};

use super::fixture::{git, setup, write};

fn request(body: &str) -> CommitRequest<'_> {
    CommitRequest {
        subject: CommitSubject::Issue(12),
        iteration: 2,
        body,
        email: DEFAULT_BOT_EMAIL,
    }
}

#[test]
fn commits_every_change_as_the_bot_with_the_issue_and_iteration() {
    let s = setup();
    s.ws.prepare_branch("metagpt/issue-12").expect("branch");
    let root = s.ws.root().to_path_buf();
    write(&root, "acme/new.py", "new\n");
    write(&root, "debug.log", "ignored by .gitignore\n");
    write(&root, ".dependencies.json", "{}\n");
    write(&root, ".metagpt/runs/12/2/gates.json", "{}\n");
    std::fs::remove_file(root.join("README.md")).expect("delete");
    s.ws.write_issue_text(
        "",
        metagpt_bot::domain::Kind::Requirement,
        "Add a login page",
    )
    .expect("write");

    let outcome =
        s.ws.commit_all(&request("Add a login page"))
            .expect("commit");

    let CommitOutcome::Committed(id) = outcome else {
        panic!("expected a commit, got {outcome:?}")
    };
    assert_eq!(s.ws.head().expect("head"), id);
    let show = |format: &str| git(&root, &["log", "-1", &format!("--format={format}")]);
    assert_eq!(
        show("%an <%ae>"),
        format!("{BOT_NAME} <{DEFAULT_BOT_EMAIL}>")
    );
    assert_eq!(show("%s"), "metagpt: issue #12, iteration 2");
    assert_eq!(show("%b"), "Add a login page");
    let files = git(&root, &["show", "--name-status", "--format=", "HEAD"]);
    assert!(files.contains("A\tacme/new.py"), "{files}");
    assert!(files.contains("A\tdocs/requirement.txt"), "{files}");
    assert!(files.contains("D\tREADME.md"), "{files}");
    assert!(files.contains("A\t.dependencies.json"), "{files}");
    assert!(
        files.contains("A\t.metagpt/runs/12/2/gates.json"),
        "{files}"
    );
    assert!(
        !files.contains("debug.log"),
        "an ignored file was committed: {files}"
    );
    assert_eq!(
        git(&root, &["status", "--porcelain"]),
        "",
        "the work tree is clean after the commit"
    );
}

#[test]
fn nothing_to_commit_is_a_clear_result_and_no_commit() {
    let s = setup();
    let before = s.ws.head().expect("head");

    let outcome = s.ws.commit_all(&request("")).expect("commit");

    assert_eq!(outcome, CommitOutcome::NoChanges);
    assert_eq!(s.ws.head().expect("head"), before);
}

#[test]
fn a_local_run_names_its_slug_and_uses_the_configured_email() {
    let s = setup();
    write(s.ws.root(), "acme/x.py", "x\n");
    let request = CommitRequest {
        subject: CommitSubject::Local("add-login".into()),
        iteration: 1,
        body: "",
        email: "bot@example.com",
    };

    s.ws.commit_all(&request).expect("commit");

    let line = git(s.ws.root(), &["log", "-1", "--format=%ae %B"]);
    assert_eq!(
        line,
        "bot@example.com metagpt: local run add-login, iteration 1"
    );
}
