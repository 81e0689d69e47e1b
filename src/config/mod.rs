//! Process settings: environment variables (Probot's names where Probot has one) over an optional TOML
//! file with the same keys over defaults.
//!
//! Invariants:
//! - Every secret (`PRIVATE_KEY`, `WEBHOOK_SECRET`, `LLM_API_KEY`, the password in `DATABASE_URL`) is held
//!   in a [`SecretString`]; `Debug` of [`Settings`] never shows one, and nothing here logs a value.
//! - Loading never fails on a missing optional setting: what a face needs is checked by [`Settings::problems`]
//!   so that `doctor` and `serve` can list *every* problem with its fix at once, not the first one.
//! - Keys are exactly the contract's names (`../shared/CONTRACT.md`); a misspelt key in the file is an error.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::run::agent::SandboxMode;

mod problems;
mod secrets;
pub use problems::{Problem, validate_webhook_path};
pub use secrets::redact_url;
use secrets::{read_private_key, split_secrets};

/// Every key the process reads, as in the contract.
pub const KEYS: &[&str] = &[
    "APP_ID",
    "PRIVATE_KEY",
    "PRIVATE_KEY_PATH",
    "WEBHOOK_SECRET",
    "WEBHOOK_PATH",
    "HOST",
    "PORT",
    "GITHUB_API_URL",
    "DATABASE_URL",
    "WORKERS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "SHUTDOWN_GRACE_SECS",
    "JOB_LEASE_SECS",
    "WORK_DIR",
    "RUN_TIMEOUT_SECS",
    "METAGPT_PYTHON",
    "LLM_API_TYPE",
    "LLM_BASE_URL",
    "LLM_MODEL",
    "LLM_API_KEY",
    "LLM_PRICE_PROMPT",
    "LLM_PRICE_COMPLETION",
    "AGENT_SANDBOX",
];

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/metagpt-bot.db";
pub const DEFAULT_WORK_DIR: &str = "data/work";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

/// The settings as written by the operator, before interpretation.
#[derive(Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
struct Raw {
    app_id: Option<u64>,
    private_key: Option<SecretString>,
    private_key_path: Option<PathBuf>,
    webhook_secret: Option<SecretString>,
    webhook_path: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    github_api_url: Option<String>,
    database_url: Option<SecretString>,
    workers: Option<usize>,
    log_level: Option<String>,
    log_format: Option<LogFormat>,
    shutdown_grace_secs: Option<u64>,
    job_lease_secs: Option<u64>,
    work_dir: Option<PathBuf>,
    run_timeout_secs: Option<u64>,
    metagpt_python: Option<PathBuf>,
    llm_api_type: Option<String>,
    llm_base_url: Option<String>,
    llm_model: Option<String>,
    llm_api_key: Option<SecretString>,
    llm_price_prompt: Option<f64>,
    llm_price_completion: Option<f64>,
    agent_sandbox: Option<SandboxMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// Interpreted settings. Optional parts stay optional; [`Settings::problems`] says what is missing.
pub struct Settings {
    pub app_id: Option<u64>,
    /// The App's private key, PEM text (already decoded from base64 or read from `PRIVATE_KEY_PATH`).
    pub private_key: Option<SecretString>,
    /// Why the private key could not be read, if it could not.
    pub private_key_error: Option<String>,
    /// Accepted webhook secrets; any one may sign a delivery (rotation).
    pub webhook_secrets: Vec<SecretString>,
    pub webhook_path: String,
    pub host: String,
    pub port: u16,
    pub github_api_url: String,
    pub database_url: SecretString,
    pub workers: usize,
    pub log_level: String,
    pub log_format: LogFormat,
    pub shutdown_grace: std::time::Duration,
    pub job_lease: std::time::Duration,
    /// Work trees and replay caches of the App's runs (default `data/work`).
    pub work_dir: PathBuf,
    /// MetaGPT's wall-clock limit per run (default one hour).
    pub run_timeout: std::time::Duration,
    pub metagpt_python: Option<PathBuf>,
    pub llm_api_type: String,
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_api_key: Option<SecretString>,
    pub llm_price_prompt: Option<f64>,
    pub llm_price_completion: Option<f64>,
    /// Whether the agent runs inside bubblewrap (default `auto`).
    pub agent_sandbox: SandboxMode,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("app_id", &self.app_id)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "webhook_secrets",
                &format!("[{} redacted]", self.webhook_secrets.len()),
            )
            .field("webhook_path", &self.webhook_path)
            .field("listen", &format!("{}:{}", self.host, self.port))
            .field("github_api_url", &self.github_api_url)
            .field(
                "database_url",
                &redact_url(self.database_url.expose_secret()),
            )
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Loads from the environment over `file` (if given) over defaults.
    pub fn load(file: Option<&Path>) -> Result<Settings, String> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::from_figment(figment.merge(Env::raw().only(KEYS).lowercase(false)))
    }

    /// Loads from explicit key/value pairs only (tests, and the Action's own mapping).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Settings, String> {
        let mut figment = Figment::new();
        for (key, value) in pairs {
            // Read values as the environment's are: "3000" is a number, "true" a boolean.
            let parsed: figment::value::Value = value
                .parse()
                .unwrap_or_else(|e: std::convert::Infallible| match e {});
            figment = figment.merge((key, parsed));
        }
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Settings, String> {
        let raw: Raw = figment.extract().map_err(|e| {
            e.into_iter()
                .map(|e| format!("setting {}", e))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(Self::interpret(raw))
    }

    fn interpret(raw: Raw) -> Settings {
        let (private_key, private_key_error) = match read_private_key(&raw) {
            Ok(key) => (key, None),
            Err(e) => (None, Some(e)),
        };
        let webhook_secrets = raw
            .webhook_secret
            .map(|s| split_secrets(s.expose_secret()))
            .unwrap_or_default();
        Settings {
            app_id: raw.app_id,
            private_key,
            private_key_error,
            webhook_secrets,
            webhook_path: raw
                .webhook_path
                .unwrap_or_else(|| "/api/github/webhooks".into()),
            host: raw.host.unwrap_or_else(|| "0.0.0.0".into()),
            port: raw.port.unwrap_or(3000),
            github_api_url: raw
                .github_api_url
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.into()),
            database_url: raw
                .database_url
                .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL)),
            workers: raw.workers.unwrap_or(2),
            log_level: raw.log_level.unwrap_or_else(|| "info".into()),
            log_format: raw.log_format.unwrap_or_default(),
            shutdown_grace: std::time::Duration::from_secs(raw.shutdown_grace_secs.unwrap_or(30)),
            job_lease: std::time::Duration::from_secs(raw.job_lease_secs.unwrap_or(60).max(2)),
            work_dir: raw
                .work_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_WORK_DIR)),
            run_timeout: std::time::Duration::from_secs(
                raw.run_timeout_secs.unwrap_or(3600).max(1),
            ),
            metagpt_python: raw.metagpt_python,
            llm_api_type: raw.llm_api_type.unwrap_or_else(|| "openai".into()),
            llm_base_url: raw.llm_base_url,
            llm_model: raw.llm_model,
            llm_api_key: raw.llm_api_key,
            llm_price_prompt: raw.llm_price_prompt,
            llm_price_completion: raw.llm_price_completion,
            agent_sandbox: raw.agent_sandbox.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests;
