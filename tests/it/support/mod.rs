//! What the integration tests share: the fakes (GitHub, git server, scripted LLM, MetaGPT's SOP script),
//! webhook payloads, fixtures on disk, and the harnesses.

pub mod action_job;
pub mod bot;
pub mod fake_github;
pub mod fixture;
pub mod git_server;
pub mod jobs;
pub mod metagpt_python;
pub mod scripted_llm;
pub mod sop_llm;
pub mod webhook;
