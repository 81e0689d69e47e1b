//! The faces of the bot: `serve` (the GitHub App), `action` (one run in a GitHub Actions job), `run`
//! (local, no GitHub) and `doctor`.

pub mod action;
pub mod doctor;
pub mod local;
pub mod serve;
