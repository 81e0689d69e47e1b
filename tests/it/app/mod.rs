//! The App on GitHub, scenario by scenario (rust-lang/bors style), on the harness [`Bot`]: signed
//! webhooks into the real `serve`, the real octocrab client against the stateful fake GitHub (which fails
//! the test on any request no route expects), a real git server, and the fast stand-in agent through the
//! bot's LLM gateway. First runs, iterations, guards (who may ask, what a queued run looks like), the
//! repository's labels, runs that hit a resource limit (`limits`), resilience (lost leases, PRs GitHub
//! won't reopen), unreadable settings files, `serve` itself, registering the App from `/setup`, and a
//! real project with the real MetaGPT
//! (`real_project`); the stops are in `stop/`.
//!
//! [`Bot`]: crate::support::bot::Bot

mod first_run;
mod guards;
mod iterations;
mod labels;
mod limits;
mod real_project;
mod recovery;
mod resilience;
mod serve;
mod settings_file;
mod setup;
