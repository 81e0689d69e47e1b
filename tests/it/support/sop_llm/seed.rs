//! The seed repository: the smallest project MetaGPT 0.8.2's incremental mode accepts — a git work tree
//! `<parent>/seed` whose source folder `seed/seed/` holds one committed file, with a `.gitignore` — and
//! the commit messages a run left (`fixture::commit_all` commits a run's result before the next run).

use std::path::{Path, PathBuf};

use super::python;
use crate::support::fixture::commit_all;

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
