//! Runs: a per-run bearer token, budget, ledger and call lock, and the registry the endpoint checks.
//!
//! Invariants: a token is 32 random bytes, known only to the `RunHandle` (and the agent it is handed to);
//! the registry stores only its SHA-256, so lookups reveal nothing through timing. A run's calls are
//! serialised by its call lock and the budget is checked under that lock before forwarding, so a run
//! overspends by at most the one call that crossed the limit. Closing or dropping the handle revokes the
//! token at once. Answers from the retry cache cost nothing and are served even when the budget is spent;
//! a run replaying an audit recording checks its budget as a live run does, adding each call's recorded
//! cost, so it stops where the recorded run stopped when given the same budget.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::cache::ReplayCache;
use super::error::GatewayError;
use super::ledger::{CallRecord, JsonlSink};
use super::recording::{Recording, Replayer};

/// The hard spending limit of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunBudget {
    pub max_cost_usd: f64,
}

/// What `Gateway::open_run` needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub budget: RunBudget,
    /// Where to append `llm.jsonl`; `None` keeps the ledger in memory only.
    pub ledger_path: Option<PathBuf>,
    /// Where to store answers for replay; `None` stores nothing.
    pub cache: Option<CacheOptions>,
}

/// The replay cache of a run: answers are always stored in `dir`; with `replay`, a request already
/// answered there (same body, same occurrence) is answered from it without calling the provider. Turn
/// `replay` on when re-running an iteration after a crash or `/metagpt retry`.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    pub dir: PathBuf,
    pub replay: bool,
}

type TokenKey = [u8; 32];

fn token_key(token: &str) -> TokenKey {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Default)]
struct Book {
    records: Vec<CallRecord>,
    spent_usd: f64,
    /// Why an audit replay refused a call, the first time it did.
    divergence: Option<String>,
}

pub(crate) struct RunState {
    pub(crate) call_lock: Arc<tokio::sync::Mutex<()>>,
    pub(crate) token: SecretString,
    pub(crate) cache: Option<ReplayCache>,
    /// Set for an audit replay: every call is answered from it or refused.
    pub(crate) recording: Option<Replayer>,
    max_cost_usd: f64,
    book: Mutex<Book>,
    sink: Option<JsonlSink>,
}

impl RunState {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refuses when the run has spent its budget.
    pub(crate) fn check_budget(&self) -> Result<(), GatewayError> {
        let spent_usd = self.book().spent_usd;
        if spent_usd >= self.max_cost_usd {
            return Err(GatewayError::BudgetExhausted {
                spent_usd,
                max_usd: self.max_cost_usd,
            });
        }
        Ok(())
    }

    /// The number the next record will get; stable while the call lock is held.
    pub(crate) fn next_seq(&self) -> u64 {
        self.book().records.len() as u64 + 1
    }

    /// Remembers the first divergence of an audit replay.
    pub(crate) fn diverged(&self, why: &str) {
        self.book().divergence.get_or_insert_with(|| why.to_owned());
    }

    /// Numbers, stores and writes one record.
    pub(crate) fn record(&self, mut record: CallRecord) {
        let mut book = self.book();
        record.seq = book.records.len() as u64 + 1;
        book.spent_usd += record.cost_usd;
        if let Some(sink) = &self.sink {
            sink.append(&record);
        }
        book.records.push(record);
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    runs: Mutex<HashMap<TokenKey, Arc<RunState>>>,
}

impl Registry {
    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<TokenKey, Arc<RunState>>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lookup(&self, token: &str) -> Option<Arc<RunState>> {
        self.runs().get(&token_key(token)).cloned()
    }

    pub(crate) fn open(
        self: &Arc<Self>,
        options: RunOptions,
        recording: Option<Recording>,
    ) -> anyhow::Result<RunHandle> {
        let max = options.budget.max_cost_usd;
        if !max.is_finite() || max < 0.0 {
            bail!("max_cost_usd must be a non-negative number of dollars, got {max}");
        }
        let sink = match &options.ledger_path {
            Some(path) => Some(
                JsonlSink::open(path)
                    .with_context(|| format!("opening the LLM ledger {}", path.display()))?,
            ),
            None => None,
        };
        let cache = match &options.cache {
            Some(c) => Some(
                ReplayCache::open(&c.dir, c.replay)
                    .with_context(|| format!("opening the LLM replay cache {}", c.dir.display()))?,
            ),
            None => None,
        };
        let token = SecretString::from(format!("mgb-{}", hex::encode(rand::random::<[u8; 32]>())));
        let key = token_key(token.expose_secret());
        let state = Arc::new(RunState {
            call_lock: Arc::default(),
            token: token.clone(),
            cache,
            recording: recording.map(Replayer::new),
            max_cost_usd: max,
            book: Mutex::default(),
            sink,
        });
        self.runs().insert(key, state.clone());
        Ok(RunHandle {
            token,
            key,
            state,
            registry: self.clone(),
        })
    }
}

/// One run's access to the gateway. Hand `token()` to the agent as its API key.
pub struct RunHandle {
    token: SecretString,
    key: TokenKey,
    state: Arc<RunState>,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHandle")
            .field("spent_usd", &self.spent_usd())
            .finish_non_exhaustive()
    }
}

impl RunHandle {
    /// The bearer token the agent must send; valid until the handle is closed or dropped.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// Every call so far, in order.
    pub fn ledger(&self) -> Vec<CallRecord> {
        self.state.book().records.clone()
    }

    pub fn spent_usd(&self) -> f64 {
        self.state.book().spent_usd
    }

    pub fn max_cost_usd(&self) -> f64 {
        self.state.max_cost_usd
    }

    /// True once the run has spent its budget: its next call is refused.
    pub fn budget_exhausted(&self) -> bool {
        self.state.check_budget().is_err()
    }

    /// For an audit replay: why it refused a call ("not in the recording: the run diverged at call N, …"),
    /// the first time it did; `None` while the run follows its recording (and for other runs).
    pub fn divergence(&self) -> Option<String> {
        self.state.book().divergence.clone()
    }

    /// Revokes the token and returns the ledger.
    pub fn close(self) -> Vec<CallRecord> {
        self.ledger()
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        self.registry.runs().remove(&self.key);
    }
}
