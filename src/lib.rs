//! metagpt-bot: turns labelled GitHub issues into incremental MetaGPT runs and reviewable pull requests.
//!
//! One idea per module; `pipeline` is the only module that knows the order of a run's steps.

pub mod agent;
pub mod command;
pub mod config;
pub mod doctor;
pub mod evidence;
pub mod gateway;
pub mod github;
pub mod intake;
pub mod local_run;
pub mod pipeline;
pub mod queue;
pub mod repo_config;
pub mod sanitize;
pub mod serve;
pub mod server;
pub mod telemetry;
pub mod trigger;
pub mod worker;
pub mod workspace;
