//! The integration tests, one crate: the library and its dependencies are linked once, not once per file.
//!
//! Grouped by what a person looks for: the App on GitHub (`app`, `stop`), the Action (`action`), the local
//! run (`local`), the agent, the LLM gateway, the queue on each backend, the workers, the workspace, the
//! evidence, webhooks over HTTP, the GitHub client, the packaging and the binary as an operator runs it
//! (`cli`). What they share is in `support/`; non-Rust fixtures are in `tests/fixtures/`.

mod support;

mod action;
mod agent;
mod app;
mod cli;
mod doctor;
mod evidence;
mod gateway;
mod github;
mod local;
mod packaging;
mod projects;
mod queue;
mod stop;
mod webhooks;
mod worker;
mod workspace;
