//! `metagpt-bot action`: one run inside a GitHub Actions job, started by the event that started the job.
//!
//! The steps, in order (the binary's `action` command drives them):
//! 1. print `::add-mask::` for every secret in the environment ([`secrets_to_mask`]) before anything else;
//! 2. read the runner's variables and the inputs ([`ActionEnv::from_env`]); problems → exit 2;
//! 3. turn the event file into a [`Trigger`] with the App's own decisions ([`ActionEnv::decision`]);
//!    nothing to do → a notice, empty outputs, a one-line summary, exit 0;
//! 4. [`run`] the pipeline for the trigger and [`finish`]: outputs, job summary, annotation, exit code.
//!
//! Invariants: this module talks to the runner only through [`runner`]'s protocol helpers; it shares the
//! trigger rules with the App (no second copy of them); it never prints a secret.

mod env;
mod event;
mod outcome;
mod pipeline;
pub mod runner;
#[cfg(test)]
mod test_support;

pub use env::{ActionEnv, SECRET_VARIABLES, secrets_to_mask};
pub use event::ACTIONS_BOT_LOGIN;
pub use outcome::{
    ActionError, ActionOutcome, MISCONFIGURED, OUTPUTS, exit_code, finish, nothing_to_do,
    write_outcome,
};
pub use pipeline::{DEFAULT_LLM_BASE_URL, DEFAULT_LLM_MODEL};

use crate::domain::Trigger;

/// Runs the pipeline for `trigger` in the job described by `env` (the job's environment supplies
/// `METAGPT_PYTHON`, `RUNNER_TEMP`, `GITHUB_RUN_ATTEMPT` and price overrides).
pub async fn run(env: &ActionEnv, trigger: Trigger) -> Result<ActionOutcome, ActionError> {
    pipeline::run_with(env, trigger, |name| std::env::var(name).ok()).await
}
