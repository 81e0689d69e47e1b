//! `/metagpt stop` end to end on the App harness: signed deliveries into the real `serve`, a run under way
//! (its agent's LLM call never answers), and the real stop handler with the real octocrab App client
//! against the fake GitHub.
//!
//! What a user sees (`command`): a read-only user's stop gets a refusal reply and the run goes on; a
//! writer's stop gets a 👍 and the run ends cancelled (on the issue or on the bot's pull request); a stop
//! with nothing to stop says so. A stop racing a label check (`label_check`) wins when its sender may
//! stop runs, and changes nothing when they may not.

mod command;
mod label_check;
