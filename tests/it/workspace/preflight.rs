//! The layout checks that run before any LLM call: refusals with a way out, and `source_dir`.

use metagpt_bot::workspace::{PreflightError, SourceLayout, WorkspaceError};

use super::fixture::{bare_repo, clone_file, setup, write};

fn refusal(result: Result<SourceLayout, WorkspaceError>) -> PreflightError {
    match result {
        Err(WorkspaceError::Preflight(e)) => e,
        other => panic!("expected a preflight refusal, got {other:?}"),
    }
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect()
}

#[test]
fn a_metagpt_ready_tree_passes() {
    let s = setup();
    write(
        s.ws.root(),
        "README.md",
        "modified outside the source folder is fine\n",
    );

    let layout = s.ws.preflight(None).expect("ready");

    assert_eq!(
        layout,
        SourceLayout {
            source_dir: "acme".into(),
            is_default: true
        }
    );
}

#[test]
fn code_outside_the_repository_named_folder_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(
        dir.path(),
        "acme",
        &files(&[(".gitignore", ""), ("src/main.py", "x\n")]),
    );
    let ws = clone_file(&bare, dir.path(), "acme");

    let error = refusal(ws.preflight(None));

    assert_eq!(
        error,
        PreflightError::MissingSourceFolder {
            folder: "acme".into()
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("no folder `acme/`") && message.contains("source_dir"),
        "{message}"
    );
}

#[test]
fn an_empty_source_folder_is_refused() {
    let s = setup();
    std::fs::remove_file(s.ws.root().join("acme/main.py")).expect("remove");
    std::fs::create_dir_all(s.ws.root().join("acme/empty")).expect("mkdir");

    assert_eq!(
        refusal(s.ws.preflight(None)),
        PreflightError::EmptySourceFolder {
            folder: "acme".into()
        }
    );
}

#[test]
fn a_missing_gitignore_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(dir.path(), "acme", &files(&[("acme/main.py", "x\n")]));
    let ws = clone_file(&bare, dir.path(), "acme");

    let error = refusal(ws.preflight(None));

    assert_eq!(error, PreflightError::MissingGitignore);
    assert!(error.to_string().contains("commit a .gitignore"), "{error}");
}

#[test]
fn untracked_or_modified_source_files_are_refused_and_named() {
    let s = setup();
    write(s.ws.root(), "acme/main.py", "print('edited')\n");
    write(s.ws.root(), "acme/pkg/stray.py", "stray\n");
    write(s.ws.root(), "acme/app.log", "ignored files do not count\n");

    let error = refusal(s.ws.preflight(None));

    let PreflightError::DirtySourceFolder { folder, mut paths } = error else {
        panic!("{error:?}")
    };
    paths.sort();
    assert_eq!(
        (folder.as_str(), paths),
        (
            "acme",
            vec!["acme/main.py".to_owned(), "acme/pkg/stray.py".to_owned()]
        )
    );
}

#[test]
fn source_dir_is_honoured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = files(&[(".gitignore", ""), ("src/acme/main.py", "x\n")]);
    let bare = bare_repo(dir.path(), "acme", &seed);
    let ws = clone_file(&bare, dir.path(), "acme");

    let layout = ws.preflight(Some("src/acme/")).expect("source_dir");

    assert_eq!(
        layout,
        SourceLayout {
            source_dir: "src/acme".into(),
            is_default: false
        }
    );
    write(ws.root(), "src/acme/stray.py", "stray\n");
    assert!(matches!(
        refusal(ws.preflight(Some("src/acme"))),
        PreflightError::DirtySourceFolder { .. }
    ));
}

#[test]
fn a_source_dir_outside_the_repository_or_missing_is_refused() {
    let s = setup();
    let outside = tempfile::tempdir().expect("outside");
    write(outside.path(), "code.py", "x\n");
    std::os::unix::fs::symlink(outside.path(), s.ws.root().join("linked")).expect("symlink");

    for bad in ["../elsewhere", "/etc", ".git", "", ".", "missing", "linked"] {
        let error = refusal(s.ws.preflight(Some(bad)));
        assert!(
            matches!(error, PreflightError::InvalidSourceDir { .. }),
            "{bad}: {error:?}"
        );
        assert!(error.to_string().contains(".github/metagpt.yml"), "{error}");
    }
}
