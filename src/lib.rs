//! metagpt-bot: turns labelled GitHub issues into incremental MetaGPT runs and reviewable pull requests.
//!
//! The layout follows what a person looks for (see `docs/design.md`); dependencies point one way:
//! faces → {http, jobs} → {github, queue, run} → {workspace, repo_config} → {domain, marks, config,
//! telemetry, sanitize, redact}.

pub mod config;
pub mod domain;
pub mod faces;
pub mod github;
pub mod http;
pub mod jobs;
pub mod marks;
pub mod queue;
pub mod redact;
pub mod repo_config;
pub mod run;
pub mod sanitize;
pub mod telemetry;
pub mod workspace;
