//! The repository's own settings for a run: `.github/metagpt.yml` read from the default branch.
//!
//! Invariants: the file is read from the default branch only (a pull request cannot change how the bot
//! runs on it); a missing file means the defaults; an invalid one is the repository's problem, reported
//! with line and column, never silently replaced by defaults.

use octocrab::Octocrab;

use super::Failure;
use crate::github::{Repository, get_file_text};
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
    let text = get_file_text(client, owner, name, PATH, &repository.default_branch)
        .await
        .map_err(Failure::github)?;
    Ok(match text {
        None => Ok(RepoConfig::default()),
        Some(text) => RepoConfig::parse(&text),
    })
}
