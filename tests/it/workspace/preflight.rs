//! The layout checks that run before any LLM call: refusals with a way out, and `source_dir`.

use metagpt_bot::workspace::{Found, PreflightError, SourceLayout, WorkspaceError};

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

    let layout = s.ws.preflight(None, None).expect("ready");

    assert_eq!(
        layout,
        SourceLayout {
            source_dir: "acme".into(),
            spec_dir: String::new(),
            tests_dir: "tests".into(),
            import_roots: vec!["acme".into(), String::new()],
            found: Found::Metagpt,
        }
    );
}

#[test]
fn code_in_no_package_folder_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(
        dir.path(),
        "acme",
        &files(&[(".gitignore", ""), ("src/main.py", "x\n")]),
    );
    let ws = clone_file(&bare, dir.path(), "acme");

    let error = refusal(ws.preflight(None, None));

    assert_eq!(error, PreflightError::NoPackage);
    let message = error.to_string();
    assert!(
        message.contains("no package folder")
            && message.contains("set `source_dir` in .github/metagpt.yml"),
        "{message}"
    );
}

#[test]
fn a_src_package_is_found_without_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = files(&[
        (".gitignore", ""),
        ("pyproject.toml", "[project]\nname = \"acme\"\n"),
        ("src/acme_lib/__init__.py", "x = 1\n"),
        ("tests/test_x.py", "def test_x(): pass\n"),
    ]);
    let bare = bare_repo(dir.path(), "acme", &seed);
    let ws = clone_file(&bare, dir.path(), "acme");

    let layout = ws.preflight(None, None).expect("detected");

    assert_eq!(
        (
            layout.source_dir.as_str(),
            layout.spec_dir.as_str(),
            layout.found
        ),
        ("src/acme_lib", ".metagpt", Found::Detected)
    );
}

#[test]
fn several_packages_are_refused_listing_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = files(&[
        (".gitignore", ""),
        ("alpha/__init__.py", ""),
        ("beta/__init__.py", ""),
        ("docs/__init__.py", ""),
    ]);
    let bare = bare_repo(dir.path(), "acme", &seed);
    let ws = clone_file(&bare, dir.path(), "acme");

    let error = refusal(ws.preflight(None, None)).to_string();

    assert!(
        error.starts_with(
            "several folders could hold the code MetaGPT should edit (`alpha/`, `beta/`)"
        ),
        "{error}"
    );
}

#[test]
fn a_repository_in_another_language_is_refused_before_anything_is_spent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = files(&[
        (".gitignore", ""),
        ("Cargo.toml", "[package]\n"),
        ("src/main.rs", "fn main() {}\n"),
        ("src/lib.rs", "\n"),
    ]);
    let bare = bare_repo(dir.path(), "acme", &seed);
    let ws = clone_file(&bare, dir.path(), "acme");

    let error = refusal(ws.preflight(None, None)).to_string();

    assert!(
        error.starts_with(
            "the repository has no Python package (its code is mostly .rs): MetaGPT 0.8.2's QA"
        ),
        "{error}"
    );
    let configured = ws.preflight(Some("src"), None).expect("configured");
    assert_eq!(configured.found, Found::Configured);
}

#[test]
fn an_empty_source_folder_is_refused() {
    let s = setup();
    std::fs::remove_file(s.ws.root().join("acme/main.py")).expect("remove");
    std::fs::create_dir_all(s.ws.root().join("acme/empty")).expect("mkdir");

    assert_eq!(
        refusal(s.ws.preflight(None, None)),
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

    let error = refusal(ws.preflight(None, None));

    assert_eq!(error, PreflightError::MissingGitignore);
    assert!(error.to_string().contains("commit a .gitignore"), "{error}");
}

#[test]
fn untracked_or_modified_source_files_are_refused_and_named() {
    let s = setup();
    write(s.ws.root(), "acme/main.py", "print('edited')\n");
    write(s.ws.root(), "acme/pkg/stray.py", "stray\n");
    write(s.ws.root(), "acme/app.log", "ignored files do not count\n");

    let error = refusal(s.ws.preflight(None, None));

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

    let layout = ws.preflight(Some("src/acme/"), None).expect("source_dir");

    assert_eq!(
        layout,
        SourceLayout {
            source_dir: "src/acme".into(),
            spec_dir: ".metagpt".into(),
            tests_dir: "tests".into(),
            import_roots: vec!["src/acme".into(), String::new()],
            found: Found::Configured,
        }
    );
    write(ws.root(), "src/acme/stray.py", "stray\n");
    assert!(matches!(
        refusal(ws.preflight(Some("src/acme"), None)),
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
        let error = refusal(s.ws.preflight(Some(bad), None));
        assert!(
            matches!(error, PreflightError::InvalidSourceDir { .. }),
            "{bad}: {error:?}"
        );
        assert!(error.to_string().contains(".github/metagpt.yml"), "{error}");
    }
}
