//! The repository's own settings for a job: `.github/metagpt.yml` read from the default branch, and the
//! question a label run asks first — is its label still the repository's `trigger_label`?
//!
//! Invariants:
//! - The file is read from the default branch only (a pull request cannot change how the bot runs on
//!   it); a missing file means the defaults; an invalid one is the repository's problem, reported with
//!   line and column, never silently replaced by defaults. A file that cannot be read as text at all
//!   (not UTF-8, over GitHub's 1 MB contents limit, a directory or a symlink) is the repository's problem
//!   too, reported the same way (without a position), never a failure of GitHub's to retry.
//! - Only reads happen here: the repository (for its default branch) and the file on that branch.
//! - The trigger label is compared ASCII case-insensitively. In the App, a run started by a label that is
//!   not the repository's trigger label ends here, before anything is written on GitHub (no reaction, no
//!   comment): that is the default label `metagpt` in a repository whose file renamed the trigger. An
//!   invalid file does not end it: the run goes on and reports the file's problem on the issue. The
//!   Action's `trigger-label` input decides at intake instead.

use super::Failure;
use crate::domain::{Request, RunRequest, Trigger};
use crate::github::{GitHubError, Repo, Repository};
use crate::repo_config::{PATH, RepoConfig, RepoConfigError};

/// The repository and its settings as read from its default branch.
pub struct RepoSettings {
    pub repository: Repository,
    /// `Err` is an invalid `.github/metagpt.yml` (the person's to fix).
    pub config: Result<RepoConfig, RepoConfigError>,
}

/// Reads the repository and its `.github/metagpt.yml`; `Err` is GitHub failing.
pub async fn read(repo: &Repo) -> Result<RepoSettings, Failure> {
    let repository = repo.repository().await?;
    let branch = &repository.default_branch;
    let config = match repo.file_text(PATH, branch).await {
        Ok(None) => Ok(RepoConfig::default()),
        Ok(Some(text)) => RepoConfig::parse(&text),
        // The path and the branch are well formed, so an invalid answer is about the file itself.
        Err(GitHubError::Invalid { detail, .. }) => Err(unreadable(&detail, branch)),
        Err(error) => return Err(error.into()),
    };
    Ok(RepoSettings { repository, config })
}

/// `detail` (which names the file and the branch) as a problem of the file.
fn unreadable(detail: &str, branch: &str) -> RepoConfigError {
    let named = format!("{PATH:?} at {branch} ");
    match detail.strip_prefix(&named) {
        Some(problem) => RepoConfigError::whole_file(format!("on `{branch}` the file {problem}")),
        None => RepoConfigError::whole_file(detail),
    }
}

/// Whether `label` is the trigger label of a repository with these settings.
pub fn is_trigger(label: &str, config: &RepoConfig) -> bool {
    label.eq_ignore_ascii_case(&config.trigger_label)
}

/// What the label gate decided.
pub enum Gate {
    /// Go on; with the settings when the gate had to read them (so the run does not read them again).
    Open(Option<Box<RepoSettings>>),
    /// End quietly, for this reason (kept in the job's outcome and the log only).
    Closed(String),
}

/// Ends a label run quietly when its label is not the repository's trigger label (see the module
/// documentation); every other trigger, and every run outside the App (`honour_trigger_label` false),
/// passes without a request.
pub async fn label_gate(
    repo: &Repo,
    trigger: &Trigger,
    honour_trigger_label: bool,
) -> Result<Gate, Failure> {
    let Request::Run(RunRequest::Labeled {
        label: Some(label), ..
    }) = &trigger.request
    else {
        return Ok(Gate::Open(None));
    };
    if !honour_trigger_label {
        return Ok(Gate::Open(None));
    }
    let settings = read(repo).await?;
    match &settings.config {
        Ok(config) if !is_trigger(label, config) => Ok(Gate::Closed(format!(
            "label `{label}` is not the trigger label of {} (`trigger_label: {}` in {PATH}): nothing \
             to do",
            trigger.repo.full_name(),
            config.trigger_label,
        ))),
        _ => Ok(Gate::Open(Some(Box::new(settings)))),
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

    #[test]
    fn the_trigger_label_is_compared_ascii_case_insensitively() {
        let mut config = RepoConfig::default();
        assert!(is_trigger("MetaGPT", &config));
        config.trigger_label = "ai-help".into();
        assert!(!is_trigger("metagpt", &config));
        assert!(is_trigger("AI-Help", &config));
    }
}
