//! The GitHub Action: `metagpt-bot action` run as a runner starts it, with its inputs and event files
//! (`cli`) and end to end against the fake GitHub (`scenario`).

mod cancel;
mod cli;
mod scenario;
