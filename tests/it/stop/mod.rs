//! `/metagpt stop` end to end: signed deliveries through the real router into a real SQLite queue, a run
//! worker busy with a run (a fake handler that waits for its cancellation, so no MetaGPT), and the control
//! loop running the real stop handler with the real octocrab App client against the fake GitHub.
//!
//! What a user sees: a read-only user's stop gets a refusal reply and the run goes on; a writer's stop
//! gets a 👍 and the run ends cancelled (on the issue or on the bot's pull request); a stop with nothing
//! to stop says so.

use crate::support::fake_github;
use crate::support::webhook;

mod command;
mod label_check;
mod scenario;
