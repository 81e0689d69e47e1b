//! The seed repository: the smallest project MetaGPT 0.8.2's incremental mode accepts — a git work tree
//! `<parent>/seed` whose source folder `seed/seed/` holds one committed file, with a `.gitignore` — and
//! a helper to commit a run's result, as the pipeline does, before the next run.

use std::path::{Path, PathBuf};

use super::python;

/// The repository's (and its source folder's) name.
pub const NAME: &str = "seed";

/// Creates `<parent>/seed` with `.gitignore` and `seed/calc.py`, committed once as "seed".
pub fn seed_repository(parent: &Path) -> PathBuf {
    let repo = parent.join(NAME);
    std::fs::create_dir_all(repo.join(NAME)).expect("create the source folder");
    std::fs::write(repo.join(".gitignore"), "__pycache__/\n*.pyc\n").expect("write .gitignore");
    std::fs::write(repo.join(NAME).join("calc.py"), python::SEED_CALC).expect("write calc.py");
    git2::Repository::init(&repo).expect("git init");
    commit_all(&repo, "seed");
    repo
}

/// Stages everything (deletions included) and commits it on HEAD.
pub fn commit_all(repo: &Path, message: &str) {
    let repository = git2::Repository::open(repo).expect("open repository");
    let mut index = repository.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("stage");
    index.update_all(["*"], None).expect("stage deletions");
    index.write().expect("write index");
    let tree = repository
        .find_tree(index.write_tree().expect("write tree"))
        .expect("tree");
    let sig = git2::Signature::now("seed", "seed@example.com").expect("signature");
    let parent = repository.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repository
        .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit");
}

/// Commit messages from HEAD back to the root.
pub fn commit_messages(repo: &Path) -> Vec<String> {
    let repository = git2::Repository::open(repo).expect("open repository");
    let mut walk = repository.revwalk().expect("revwalk");
    walk.push_head().expect("HEAD");
    walk.map(|oid| {
        let commit = repository.find_commit(oid.expect("oid")).expect("commit");
        commit.message().unwrap_or_default().to_owned()
    })
    .collect()
}
