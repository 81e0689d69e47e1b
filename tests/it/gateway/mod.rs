//! The LLM gateway against a scripted upstream on 127.0.0.1: faithful pass-through, exact usage, retries,
//! budget, key isolation and the ledger.

mod harness;

mod forwarding;

mod failures;

mod ledger;

mod replay;

mod audit;

mod audit_normalised;
