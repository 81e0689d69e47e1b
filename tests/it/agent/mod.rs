//! The agent wrapper (`run::agent`): against stand-in interpreters (`runner`, `secrets`, `sandbox`, `limits`) and
//! against the real MetaGPT 0.8.2 driven by a scripted LLM (`metagpt`, `sop`, `layout`).

mod fixture;

mod layout;
mod limits;
mod metagpt;
mod runner;
pub mod sandbox;
mod secrets;
mod sop;
