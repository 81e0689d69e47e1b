//! The repository's own settings for a run: `.github/metagpt.yml` read from the default branch.
//!
//! Invariants: the file is read from the default branch only (a pull request cannot change how the bot
//! runs on it); a missing file means the defaults; an invalid one is the repository's problem, reported
//! with line and column, never silently replaced by defaults. A file that cannot be read as text at all
//! (not UTF-8, over GitHub's 1 MB contents limit, a directory or a symlink) is the repository's problem
//! too, reported the same way (without a position), never a failure of GitHub's to retry.

use octocrab::Octocrab;

use super::Failure;
use crate::github::{GitHubError, Repository, get_file_text};
use crate::repo_config::{RepoConfig, RepoConfigError};

/// Where the settings live (CONTRACT.md).
pub const PATH: &str = ".github/metagpt.yml";

/// `Ok(Err(_))` is an invalid file (tell the person); `Err(_)` is GitHub failing (retry).
pub async fn read(
    client: &Octocrab,
    owner: &str,
    name: &str,
    repository: &Repository,
) -> Result<Result<RepoConfig, RepoConfigError>, Failure> {
    let branch = &repository.default_branch;
    match get_file_text(client, owner, name, PATH, branch).await {
        Ok(None) => Ok(Ok(RepoConfig::default())),
        Ok(Some(text)) => Ok(RepoConfig::parse(&text)),
        // The path and the branch are well formed, so an invalid answer is about the file itself.
        Err(GitHubError::Invalid { detail, .. }) => Ok(Err(unreadable(&detail, branch))),
        Err(error) => Err(Failure::github(error)),
    }
}

/// `detail` (which names the file and the branch) as a problem of the file.
fn unreadable(detail: &str, branch: &str) -> RepoConfigError {
    let named = format!("{PATH:?} at {branch} ");
    match detail.strip_prefix(&named) {
        Some(problem) => RepoConfigError::whole_file(format!("on `{branch}` the file {problem}")),
        None => RepoConfigError::whole_file(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_file_is_named_once_with_its_branch() {
        let detail = "\".github/metagpt.yml\" at main is not UTF-8 text (invalid byte at offset 3); \
                      save it as UTF-8";
        let shown = unreadable(detail, "main").to_string();
        assert_eq!(
            shown,
            "`.github/metagpt.yml`: on `main` the file is not UTF-8 text (invalid byte at offset 3); \
             save it as UTF-8"
        );
        let other = unreadable("something else", "main").to_string();
        assert_eq!(other, "`.github/metagpt.yml`: something else");
    }
}
