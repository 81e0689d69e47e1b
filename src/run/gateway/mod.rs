//! The LLM gateway: agents call the bot, the bot calls the provider.
//!
//! MetaGPT is pointed at `Gateway::base_url()` with a per-run token as its API key; the real provider
//! key (a `SecretString` in `UpstreamConfig`) never leaves this process except as a header on the
//! upstream request. For every call the gateway checks the run's token and budget, forwards the request
//! (retrying 429/5xx with backoff, streaming SSE through as it arrives), and appends one `CallRecord` to
//! the run's ledger (`llm.jsonl`) with the role and SOP step it read from the prompt, the provider's token
//! usage, its price and the (redacted) answer. `CostReport` turns a ledger into `cost.json`. With
//! `CacheOptions`, answers are stored by exact request, and a retried run replays the calls it already
//! paid for. A recorded `llm.jsonl` can be replayed for audit (`Recording`, `Gateway::open_replay`):
//! offline, every call gets its recorded answer (a call that differs from the recorded one only in test
//! timings or temporary directory names is accepted and marked `normalised`) and any other call is
//! refused as a divergence.
//!
//! Invariants: no call is forwarded for an unknown or closed token (401) or a spent budget (402, "budget
//! exhausted: spent $X of $Y"); a run's calls are serialised, so it overspends by at most one call;
//! token counts and cost come only from the provider's `usage` (or, replayed, from the recording); records
//! never hold prompt text, and secrets are redacted from everything written or returned. Nothing here reads the process
//! environment.

mod cache;
mod call;
mod classify;
mod config;
mod cost;
mod error;
mod handler;
mod ledger;
pub mod metrics;
mod normalise;
mod price;
mod recording;
mod replayed;
mod run;
mod server;
mod sse;
mod stream;
mod upstream;
mod usage;

pub use classify::{Labels, Step, classify};
pub use config::{GatewayConfig, RetryPolicy, UpstreamConfig, UpstreamKind};
pub use cost::{CostReport, RoleCost, Totals};
pub use error::GatewayError;
pub use ledger::{CallRecord, RecordedResponse, ReplayMatch, read_jsonl};
pub use normalise::{Fold, Normalised, normalise};
pub use price::{Price, PriceTable};
pub use recording::Recording;
pub use run::{CacheOptions, RunBudget, RunHandle, RunOptions};
pub use server::Gateway;
pub use upstream::install_crypto_provider;
pub use usage::Usage;
