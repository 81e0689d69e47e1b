//! The LLM gateway against a scripted upstream on 127.0.0.1: faithful pass-through, exact usage, retries,
//! budget, key isolation and the ledger.

#[path = "support/scripted_llm.rs"]
mod scripted_llm;

#[path = "gateway/harness.rs"]
mod harness;

#[path = "gateway/forwarding.rs"]
mod forwarding;

#[path = "gateway/failures.rs"]
mod failures;

#[path = "gateway/ledger.rs"]
mod ledger;

#[path = "gateway/replay.rs"]
mod replay;

#[path = "gateway/audit.rs"]
mod audit;

#[path = "gateway/audit_normalised.rs"]
mod audit_normalised;
