//! The event that started the job, turned into the crate's [`Trigger`] by the same decisions the App's
//! webhook intake makes ([`crate::http::intake::decide`]).
//!
//! Invariants:
//! - Same rules as the App: `issues.labeled` with the trigger label (the `trigger-label` input; other
//!   labels are nothing to do, where the App checks them against `.github/metagpt.yml`) and
//!   `issue_comment.created` with a `/metagpt` command outside quotes and code, not written by the bot.
//!   The bot here is the job token's identity `github-actions[bot]`, plus the hidden marker every bot
//!   comment carries (which also covers a personal token passed as `github-token`).
//! - An event the bot does not act on is `Ignore` with a reason a person can read, never an error; only an
//!   unreadable or malformed event file is an error (the job is misconfigured).
//! - The trigger has no installation (`installation_id` is `None`, even when the payload names one) and a synthetic delivery id naming
//!   the workflow run.

use crate::domain::Trigger;
use crate::http::intake::{Decision, IntakeConfig, decide};
use crate::http::payloads::parse_event;

use super::ActionEnv;

/// The login GitHub gives the job token (`GITHUB_TOKEN`) when it writes comments.
pub const ACTIONS_BOT_LOGIN: &str = "github-actions[bot]";

impl ActionEnv {
    /// What the job's event asks for: a trigger, or the reason there is nothing to do.
    pub fn decision(&self) -> Result<Decision, String> {
        let body = std::fs::read(&self.event_path).map_err(|e| {
            format!(
                "cannot read the event file {} (GITHUB_EVENT_PATH): {e}; leave GITHUB_EVENT_PATH to the \
                 runner",
                self.event_path.display()
            )
        })?;
        let event = match parse_event(&self.event_name, &body) {
            Ok(Some(event)) => event,
            Ok(None) => {
                return Ok(Decision::Ignore(format!(
                    "event `{}` is not a trigger: run this action `on: issues: types: [labeled]` and \
                     `on: issue_comment: types: [created]`",
                    self.event_name
                )));
            }
            Err(e) => return Err(format!("{e}; is GITHUB_EVENT_NAME right for this file?")),
        };
        Ok(
            match decide(&self.intake_config(), &self.delivery_id(), &event) {
                // A payload may name an App installation; the Action never acts through one.
                Decision::Trigger(trigger) => Decision::Trigger(Trigger {
                    installation_id: None,
                    ..trigger
                }),
                ignore => ignore,
            },
        )
    }

    /// The trigger for the job's event; `Ok(None)` when there is nothing to do (the reason is logged).
    pub fn trigger(&self) -> Result<Option<Trigger>, String> {
        match self.decision()? {
            Decision::Trigger(trigger) => Ok(Some(trigger)),
            Decision::Ignore(reason) => {
                tracing::info!(event = %self.event_name, %reason, "nothing to do");
                Ok(None)
            }
        }
    }

    fn intake_config(&self) -> IntakeConfig {
        IntakeConfig {
            trigger_label: self.trigger_label.clone(),
            bot_login: Some(ACTIONS_BOT_LOGIN.to_owned()),
            // The `trigger-label` input decides; other labels are nothing to do.
            label_checks: false,
            ..IntakeConfig::default()
        }
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
