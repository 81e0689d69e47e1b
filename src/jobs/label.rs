//! Which label starts a run in a repository: the `trigger_label` of its `.github/metagpt.yml` (default
//! `metagpt`), compared ASCII case-insensitively.
//!
//! Invariants:
//! - Only reads happen here: the repository (for its default branch) and the file on that branch.
//! - In the App ([`Context::honour_trigger_label`]), a run started by a label that is not the repository's
//!   trigger label is closed here, before the pipeline writes anything on GitHub: no reaction, no comment.
//!   That is the default label `metagpt` in a repository whose file renamed the trigger.
//! - An invalid file does not close the gate: the label was the default one (or one a label check found in
//!   the file when it was valid), so the run goes on and reports the file's problem on the issue.
//! - The Action leaves the gate open: its `trigger-label` input decides, at intake.

use octocrab::Octocrab;

use super::{Context, Failure, settings};
use crate::domain::{Action, Trigger};
use crate::github::{Repository, get_repository};
use crate::repo_config::{RepoConfig, RepoConfigError};

/// The repository and its settings as read from its default branch.
pub struct RepoSettings {
    pub repository: Repository,
    /// `Err` is an invalid `.github/metagpt.yml` (the person's to fix).
    pub config: Result<RepoConfig, RepoConfigError>,
}

/// Reads the repository and its `.github/metagpt.yml`; `Err` is GitHub failing.
pub async fn read(client: &Octocrab, owner: &str, name: &str) -> Result<RepoSettings, Failure> {
    let repository = get_repository(client, owner, name)
        .await
        .map_err(Failure::github)?;
    let config = settings::read(client, owner, name, &repository).await?;
    Ok(RepoSettings { repository, config })
}

/// Whether `label` is the trigger label of a repository with these settings.
pub fn is_trigger(label: &str, config: &RepoConfig) -> bool {
    label.eq_ignore_ascii_case(&config.trigger_label)
}

/// What [`gate`] decided.
pub enum Gate {
    /// Go on; with the settings when the gate had to read them (so the run does not read them again).
    Open(Option<Box<RepoSettings>>),
    /// End quietly, for this reason (kept in the job's outcome and the log only).
    Closed(String),
}

/// Closes the gate for a label run whose label is not the repository's trigger label (see the module
/// documentation); every other trigger passes without a request.
pub async fn gate(ctx: &Context, client: &Octocrab, trigger: &Trigger) -> Result<Gate, Failure> {
    let Action::Run {
        label: Some(label), ..
    } = &trigger.action
    else {
        return Ok(Gate::Open(None));
    };
    if !ctx.honour_trigger_label {
        return Ok(Gate::Open(None));
    }
    let settings = read(client, &trigger.repo.owner, &trigger.repo.name).await?;
    match &settings.config {
        Ok(config) if !is_trigger(label, config) => Ok(Gate::Closed(format!(
            "label `{label}` is not the trigger label of {} (`trigger_label: {}` in {}): nothing to do",
            trigger.repo.full_name(),
            config.trigger_label,
            settings::PATH
        ))),
        _ => Ok(Gate::Open(Some(Box::new(settings)))),
    }
}
