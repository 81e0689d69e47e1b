//! The LLM side of a local run, from the settings: MetaGPT's interpreter, its sandbox and its resource
//! limits, the upstream provider and the model's price.
//!
//! Invariants: every missing or wrong setting is reported at once, each with its fix, before any
//! repository is touched; a model without a price is refused (its calls would cost 0 and the budget
//! could never trip); the provider key stays a `SecretString` and goes only into the gateway.
//!
//! With `--replay FILE` (an audit of a recorded run) no provider is needed: the setup holds the
//! recording, an offline upstream without a key, and the recording's model (the model is part of every
//! request, so any other would diverge at the first call); only `METAGPT_PYTHON` must be set.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::config::{Problem, Settings};
use crate::config::{ResourceLimits, SandboxMode};
use crate::domain::Price;
use crate::marks::{LLM_JSONL, RUNS_DIR};
use crate::run::gateway::{Gateway, PriceTable, Recording, RunHandle, RunOptions, UpstreamConfig};

/// A repository's `llm_model` that has no price: its calls could not be counted or capped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`llm_model: {model}` has no known price, so its cost could not be counted or capped; use a model \
     with a known price, or ask the operator to set LLM_PRICE_PROMPT and LLM_PRICE_COMPLETION"
)]
pub struct UnpricedModel {
    pub model: String,
}

/// What the run needs to reach the LLM.
#[derive(Debug, Clone)]
pub struct LlmSetup {
    pub python: PathBuf,
    /// `PROJECT_PYTHON`: what each run's project environment is made from.
    pub project_python: PathBuf,
    /// `AGENT_SANDBOX`; when it is `bwrap`, a working `bwrap` was found.
    pub sandbox: SandboxMode,
    /// `AGENT_MEMORY_MB`, `AGENT_MAX_PROCESSES`, `AGENT_CPU_SECS`: what the agent, and the project's setup
    /// and suite, may use.
    pub limits: ResourceLimits,
    /// The uid the agent runs as when the bot is root (`AGENT_UID`).
    pub agent_uid: u32,
    pub upstream: UpstreamConfig,
    pub model: String,
    pub prices: PriceTable,
    pub price: Price,
    /// `--replay`: the recorded run every call is answered from.
    pub recording: Option<Recording>,
}

impl LlmSetup {
    /// The provider key, for redaction (empty when replaying).
    pub fn key(&self) -> &SecretString {
        &self.upstream.api_key
    }

    /// The same setup for `model` (a repository's `llm_model`), priced from the table.
    pub fn for_model(&self, model: &str) -> Result<LlmSetup, UnpricedModel> {
        if model == self.model {
            return Ok(self.clone());
        }
        // The operator's LLM_PRICE_* prices their LLM_MODEL; another model needs a price of its own.
        let prices = self.prices.clone().without_override();
        let price = prices.price(model).ok_or_else(|| UnpricedModel {
            model: model.to_owned(),
        })?;
        Ok(LlmSetup {
            model: model.to_owned(),
            price,
            prices,
            ..self.clone()
        })
    }

    /// Opens the run on `gateway`: a replay of the recording with `--replay`, else a live run.
    pub fn open_run(&self, gateway: &Gateway, options: RunOptions) -> anyhow::Result<RunHandle> {
        match &self.recording {
            Some(recording) => gateway.open_replay(options, recording.clone()),
            None => gateway.open_run(options),
        }
    }
}

/// [`resolve`], or with `replay` the setup of an audit replay of that recorded `llm.jsonl`.
pub fn resolve_for(settings: &Settings, replay: Option<&Path>) -> Result<LlmSetup, Vec<Problem>> {
    let Some(path) = replay else {
        return resolve(settings);
    };
    let mut problems = Vec::new();
    let python = python(settings, &mut problems);
    let recording = Recording::load(path)
        .map_err(|e| {
            problems.push(Problem::new(
                format!("--replay {}: {e:#}", path.display()),
                format!(
                    "give the {LLM_JSONL} of a run recorded by this version of metagpt-bot \
                     ({RUNS_DIR}/<run>/<iteration>/{LLM_JSONL})"
                ),
            ));
        })
        .ok();
    let model = recording
        .as_ref()
        .and_then(|r| r.records().first())
        .map(|record| record.model.clone());
    match (python, recording, model) {
        (Some(python), Some(recording), Some(model)) if problems.is_empty() => {
            let prices = PriceTable::default();
            // Only MetaGPT's own bookkeeping uses this price; the ledger takes the recorded costs.
            let price = prices.price(&model).unwrap_or(Price {
                prompt_per_million: 0.0,
                completion_per_million: 0.0,
            });
            Ok(LlmSetup {
                python,
                project_python: settings.project_python.clone(),
                sandbox: settings.agent_sandbox,
                limits: settings.agent_limits,
                agent_uid: settings.agent_uid,
                upstream: UpstreamConfig::offline(),
                model,
                prices,
                price,
                recording: Some(recording),
            })
        }
        _ => Err(problems),
    }
}

/// The LLM provider a run calls: where, with which key, for which model at which price.
#[derive(Debug, Clone)]
pub struct Provider {
    pub upstream: UpstreamConfig,
    pub model: String,
    pub prices: PriceTable,
    pub price: Price,
}

/// Reads the agent settings; `Err` lists every problem.
pub fn resolve(settings: &Settings) -> Result<LlmSetup, Vec<Problem>> {
    let mut problems = Vec::new();
    let python = python(settings, &mut problems);
    match (python, provider(settings)) {
        (Some(python), Ok(provider)) if problems.is_empty() => Ok(LlmSetup {
            python,
            project_python: settings.project_python.clone(),
            sandbox: settings.agent_sandbox,
            agent_uid: settings.agent_uid,
            limits: settings.agent_limits,
            upstream: provider.upstream,
            model: provider.model,
            prices: provider.prices,
            price: provider.price,
            recording: None,
        }),
        (_, Err(more)) => {
            problems.extend(more);
            Err(problems)
        }
        _ => Err(problems),
    }
}

/// The provider settings (`LLM_*`); `Err` lists every problem.
pub fn provider(settings: &Settings) -> Result<Provider, Vec<Problem>> {
    let mut problems = Vec::new();
    let base_url = match settings.llm_base_url.as_deref().map(url::Url::parse) {
        Some(Ok(url)) if matches!(url.scheme(), "http" | "https") => Some(url),
        Some(_) => {
            problems.push(Problem::new(
                "LLM_BASE_URL is not an http(s) URL",
                "set LLM_BASE_URL to the provider's OpenAI-compatible API root, e.g. https://api.openai.com/v1",
            ));
            None
        }
        None => {
            problems.push(Problem::new(
                "LLM_BASE_URL is not set",
                "set LLM_BASE_URL to the provider's OpenAI-compatible API root, e.g. https://api.openai.com/v1",
            ));
            None
        }
    };
    let key = settings
        .llm_api_key
        .clone()
        .filter(|k| !k.expose_secret().trim().is_empty());
    if key.is_none() {
        problems.push(Problem::new(
            "LLM_API_KEY is not set",
            "set LLM_API_KEY to the provider's API key (it stays in this process; MetaGPT gets a per-run token)",
        ));
    }
    let model = settings.llm_model.clone().filter(|m| !m.trim().is_empty());
    if model.is_none() {
        problems.push(Problem::new(
            "LLM_MODEL is not set",
            "set LLM_MODEL to the model name, e.g. gpt-4o-mini",
        ));
    }
    if settings.llm_api_type != "openai" {
        problems.push(Problem::new(
            format!(
                "LLM_API_TYPE {:?} is not supported by `run`",
                settings.llm_api_type
            ),
            "use an OpenAI-compatible endpoint and set LLM_API_TYPE=openai (or leave it unset)",
        ));
    }
    let prices = match price_override(settings) {
        Ok(Some(price)) => PriceTable::default().with_override(price),
        Ok(None) => PriceTable::default(),
        Err(problem) => {
            problems.push(problem);
            PriceTable::default()
        }
    };
    let price = model.as_deref().and_then(|m| prices.price(m));
    if let (Some(model), None) = (&model, price) {
        problems.push(Problem::new(
            format!("the model {model:?} has no known price, so its calls would cost $0 and the budget could never trip"),
            "set LLM_PRICE_PROMPT and LLM_PRICE_COMPLETION (USD per million tokens)",
        ));
    }
    match (base_url, key, model, price) {
        (Some(base_url), Some(key), Some(model), Some(price)) if problems.is_empty() => {
            Ok(Provider {
                upstream: UpstreamConfig::openai(base_url, key, settings.llm_api_type.clone()),
                model,
                prices,
                price,
            })
        }
        _ => Err(problems),
    }
}

/// `METAGPT_PYTHON` and `AGENT_SANDBOX`, checked.
fn python(settings: &Settings, problems: &mut Vec<Problem>) -> Option<PathBuf> {
    let run_as = crate::run::agent::RunAs::for_this_bot(settings.agent_uid);
    if let Err(unusable) = crate::run::agent::select_sandbox(settings.agent_sandbox, run_as) {
        problems.push(Problem::new(
            format!("AGENT_SANDBOX={} but {unusable}", unusable.mode),
            unusable.fix(),
        ));
    }
    match &settings.metagpt_python {
        Some(path) if path.is_file() => Some(path.clone()),
        Some(path) => {
            problems.push(Problem::new(
                format!("METAGPT_PYTHON {} is not a file", path.display()),
                "set METAGPT_PYTHON to the python of a venv with metagpt 0.8.2 (scripts/install-metagpt.sh prints it)",
            ));
            None
        }
        None => {
            problems.push(Problem::new(
                "METAGPT_PYTHON is not set",
                "set METAGPT_PYTHON to the python of a venv with metagpt 0.8.2 (scripts/install-metagpt.sh prints it)",
            ));
            None
        }
    }
}

fn price_override(settings: &Settings) -> Result<Option<Price>, Problem> {
    let fix =
        "set both LLM_PRICE_PROMPT and LLM_PRICE_COMPLETION (USD per million tokens, 0 or more)";
    match (settings.llm_price_prompt, settings.llm_price_completion) {
        (None, None) => Ok(None),
        (Some(prompt), Some(completion))
            if prompt.is_finite()
                && completion.is_finite()
                && prompt >= 0.0
                && completion >= 0.0 =>
        {
            Ok(Some(Price {
                prompt_per_million: prompt,
                completion_per_million: completion,
            }))
        }
        (Some(_), Some(_)) => Err(Problem::new(
            "LLM_PRICE_PROMPT or LLM_PRICE_COMPLETION is negative or not a number",
            fix,
        )),
        _ => Err(Problem::new(
            "only one of LLM_PRICE_PROMPT and LLM_PRICE_COMPLETION is set",
            fix,
        )),
    }
}
