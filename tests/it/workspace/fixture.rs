//! Real git repositories for the workspace tests, made with the git command line (independent of the
//! code under test): bare "remotes" with a seed commit, and human commits pushed to them.

use std::path::{Path, PathBuf};
use std::process::Command;

use metagpt_bot::workspace::{Credentials, Workspace};

pub const TOKEN: &str = "ghs_test-token-4f1d2c";

/// Runs git in `dir` as a human and returns its stdout; panics with git's stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Human",
            "-c",
            "user.email=human@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A MetaGPT-ready seed for a repository named `name`: `.gitignore`, `<name>/main.py`, a README.
pub fn ready(name: &str) -> Vec<(String, String)> {
    vec![
        (".gitignore".into(), "*.log\n".into()),
        ("README.md".into(), "# seed\n".into()),
        (format!("{name}/main.py"), "print('hello')\n".into()),
    ]
}

/// Creates `<root>/<name>.git` (default branch `main`) holding one commit with `files`.
pub fn bare_repo(root: &Path, name: &str, files: &[(String, String)]) -> PathBuf {
    let bare = root.join(format!("{name}.git"));
    std::fs::create_dir_all(&bare).expect("create bare dir");
    git(&bare, &["init", "--bare", "-b", "main"]);
    let work = root.join(format!("{name}-seed"));
    git(
        root,
        &[
            "clone",
            "-q",
            bare.to_str().expect("utf-8 path"),
            work.to_str().expect("utf-8 path"),
        ],
    );
    for (path, content) in files {
        write(&work, path, content);
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "seed"]);
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
    bare
}

/// A human clones `bare`, commits `path` on `branch` (created from main when new) and pushes it.
/// Returns the commit id.
pub fn human_push(bare: &Path, branch: &str, path: &str, content: &str) -> String {
    let scratch = tempfile::tempdir().expect("tempdir");
    let work = scratch.path().join("human");
    git(
        scratch.path(),
        &[
            "clone",
            "-q",
            bare.to_str().expect("utf-8 path"),
            work.to_str().expect("utf-8 path"),
        ],
    );
    let has_branch = !git(&work, &["ls-remote", "--heads", "origin", branch]).is_empty();
    if has_branch {
        git(&work, &["checkout", "-q", branch]);
    } else {
        git(&work, &["checkout", "-q", "-b", branch]);
    }
    write(&work, path, content);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", &format!("human: {path}")]);
    git(
        &work,
        &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
    );
    git(&work, &["rev-parse", "HEAD"])
}

/// The commit a branch of the bare repository points at, if it exists.
pub fn tip(bare: &Path, branch: &str) -> Option<String> {
    let out = git(
        bare,
        &[
            "for-each-ref",
            "--format=%(objectname)",
            &format!("refs/heads/{branch}"),
        ],
    );
    (!out.is_empty()).then_some(out)
}

pub fn is_ancestor(bare: &Path, ancestor: &str, descendant: &str) -> bool {
    Command::new("git")
        .args(["merge-base", "--is-ancestor", ancestor, descendant])
        .current_dir(bare)
        .status()
        .expect("run git")
        .success()
}

pub fn write(dir: &Path, path: &str, content: &str) {
    let file = dir.join(path);
    std::fs::create_dir_all(file.parent().expect("parent")).expect("create dirs");
    std::fs::write(file, content).expect("write file");
}

/// A file:// clone of `bare` into `<parent>/<name>` (the directory name is the repository's name).
pub fn clone_file(bare: &Path, parent: &Path, name: &str) -> Workspace {
    let url = format!("file://{}", bare.display());
    Workspace::clone_or_open(&url, &parent.join(name), Credentials::none())
        .expect("clone over file://")
}

/// A fresh remote `acme.git` seeded MetaGPT-ready, and a clone of it, in one temporary directory.
pub struct Setup {
    /// Keeps the directory (remote and clone) alive for the test.
    pub _dir: tempfile::TempDir,
    pub bare: PathBuf,
    pub ws: Workspace,
}

pub fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = bare_repo(dir.path(), "acme", &ready("acme"));
    let clones = dir.path().join("clones");
    std::fs::create_dir_all(&clones).expect("clones dir");
    let ws = clone_file(&bare, &clones, "acme");
    Setup {
        _dir: dir,
        bare,
        ws,
    }
}
