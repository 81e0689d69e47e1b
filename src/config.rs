//! Process settings: environment variables (Probot's names where Probot has one) over an optional TOML
//! file with the same keys over defaults.
//!
//! Invariants:
//! - Every secret (`PRIVATE_KEY`, `WEBHOOK_SECRET`, `LLM_API_KEY`, the password in `DATABASE_URL`) is held
//!   in a [`SecretString`]; `Debug` of [`Settings`] never shows one, and nothing here logs a value.
//! - Loading never fails on a missing optional setting: what a face needs is checked by [`Settings::problems`]
//!   so that `doctor` and `serve` can list *every* problem with its fix at once, not the first one.
//! - Keys are exactly the contract's names (`../shared/CONTRACT.md`); a misspelt key in the file is an error.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The `AGENT_SANDBOX` setting: which sandbox the agent runs in (`run::agent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// The strongest that works: `bwrap`, else `landlock`, else unsandboxed with one warning.
    #[default]
    Auto,
    /// `bwrap` or no run at all.
    Bwrap,
    /// Landlock and seccomp through the bot's own launcher, or no run at all.
    Landlock,
    /// Never sandbox.
    Off,
}

impl fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SandboxMode::Auto => "auto",
            SandboxMode::Bwrap => "bwrap",
            SandboxMode::Landlock => "landlock",
            SandboxMode::Off => "off",
        })
    }
}

/// `AGENT_MEMORY_MB`, `AGENT_MAX_PROCESSES`, `AGENT_CPU_SECS`: what the processes of one run (the agent
/// with everything it starts, and the project's setup and suite) may use; `run::agent::limits` applies
/// them. 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Memory in MiB (default 2048).
    pub memory_mb: u64,
    /// Processes and threads alive at once (default 512).
    pub processes: u64,
    /// CPU seconds of one process (default 1800).
    pub cpu_secs: u64,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            memory_mb: 2048,
            processes: 512,
            cpu_secs: 1800,
        }
    }
}

impl ResourceLimits {
    /// No limit at all.
    pub const NONE: ResourceLimits = ResourceLimits {
        memory_mb: 0,
        processes: 0,
        cpu_secs: 0,
    };
}

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
    "GITHUB_SERVER_URL",
    "PUBLIC_URL",
    "DATABASE_URL",
    "WORKERS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "SHUTDOWN_GRACE_SECS",
    "JOB_LEASE_SECS",
    "WORK_DIR",
    "RUN_TIMEOUT_SECS",
    "METAGPT_PYTHON",
    "PROJECT_PYTHON",
    "LLM_API_TYPE",
    "LLM_BASE_URL",
    "LLM_MODEL",
    "LLM_API_KEY",
    "LLM_PRICE_PROMPT",
    "LLM_PRICE_COMPLETION",
    "AGENT_SANDBOX",
    "AGENT_MEMORY_MB",
    "AGENT_MAX_PROCESSES",
    "AGENT_CPU_SECS",
    "AGENT_UID",
];

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/metagpt-bot.db";
pub const DEFAULT_WORK_DIR: &str = "data/work";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
/// The file of settings read at start from the working directory (the environment wins over it).
pub const ENV_FILE: &str = ".env";

/// GitHub's web URL for an API URL: `https://github.com` for `https://api.github.com`, `https://HOST`
/// for GitHub Enterprise Server's `https://HOST/api/v3`, else the API URL's origin.
pub fn server_url_for(api_url: &str) -> String {
    let Ok(url) = url::Url::parse(api_url) else {
        return "https://github.com".to_owned();
    };
    match url.host_str() {
        Some("api.github.com") => "https://github.com".to_owned(),
        Some(_) => {
            let origin = url.origin().ascii_serialization();
            let path = url.path().trim_end_matches('/');
            let path = path.strip_suffix("/api/v3").unwrap_or(path);
            format!("{origin}{path}")
        }
        None => "https://github.com".to_owned(),
    }
}
/// `nobody` (and `nogroup`) on Debian and Ubuntu.
pub const DEFAULT_AGENT_UID: u32 = 65534;

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
    github_server_url: Option<String>,
    public_url: Option<String>,
    database_url: Option<SecretString>,
    workers: Option<usize>,
    log_level: Option<String>,
    log_format: Option<LogFormat>,
    shutdown_grace_secs: Option<u64>,
    job_lease_secs: Option<u64>,
    work_dir: Option<PathBuf>,
    run_timeout_secs: Option<u64>,
    metagpt_python: Option<PathBuf>,
    project_python: Option<PathBuf>,
    llm_api_type: Option<String>,
    llm_base_url: Option<String>,
    llm_model: Option<String>,
    llm_api_key: Option<SecretString>,
    llm_price_prompt: Option<f64>,
    llm_price_completion: Option<f64>,
    agent_sandbox: Option<SandboxMode>,
    agent_memory_mb: Option<u64>,
    agent_max_processes: Option<u64>,
    agent_cpu_secs: Option<u64>,
    agent_uid: Option<u32>,
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
    /// `PRIVATE_KEY_PATH`, the file the key was read from (when it was).
    pub private_key_path: Option<PathBuf>,
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
    /// GitHub's web URL (`GITHUB_SERVER_URL`, default [`server_url_for`] of the API URL): where the
    /// manifest flow sends the operator to create the App.
    pub github_server_url: String,
    /// Where GitHub reaches this server (`PUBLIC_URL`, no trailing `/`); `None`: the `/setup` request's
    /// own host.
    pub public_url: Option<String>,
    /// The `.env` file `main` read at start and `/setup` writes the App's credentials to (`.env` in the
    /// working directory; not a setting).
    pub env_file: PathBuf,
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
    /// The interpreter each run's own project environment is made from (default `python3`): the
    /// project's tests and MetaGPT's QA run in a venv of it, never in MetaGPT's.
    pub project_python: PathBuf,
    pub llm_api_type: String,
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_api_key: Option<SecretString>,
    pub llm_price_prompt: Option<f64>,
    pub llm_price_completion: Option<f64>,
    /// Which sandbox the agent runs in (default `auto`).
    pub agent_sandbox: SandboxMode,
    /// What one run's processes may use (`AGENT_MEMORY_MB`, `AGENT_MAX_PROCESSES`, `AGENT_CPU_SECS`).
    pub agent_limits: ResourceLimits,
    /// The uid (and gid) the agent runs as when the bot runs as root; 0 keeps it root (default 65534,
    /// `nobody`).
    pub agent_uid: u32,
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
        let github_api_url = raw
            .github_api_url
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.into());
        Settings {
            app_id: raw.app_id,
            private_key_path: raw
                .private_key
                .is_none()
                .then(|| raw.private_key_path.clone())
                .flatten(),
            private_key,
            private_key_error,
            webhook_secrets,
            webhook_path: raw
                .webhook_path
                .unwrap_or_else(|| "/api/github/webhooks".into()),
            host: raw.host.unwrap_or_else(|| "0.0.0.0".into()),
            port: raw.port.unwrap_or(3000),
            github_server_url: raw
                .github_server_url
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| server_url_for(&github_api_url)),
            github_api_url,
            public_url: raw.public_url.map(|u| u.trim_end_matches('/').to_string()),
            env_file: PathBuf::from(ENV_FILE),
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
            project_python: raw
                .project_python
                .unwrap_or_else(|| PathBuf::from("python3")),
            llm_api_type: raw.llm_api_type.unwrap_or_else(|| "openai".into()),
            llm_base_url: raw.llm_base_url,
            llm_model: raw.llm_model,
            llm_api_key: raw.llm_api_key,
            llm_price_prompt: raw.llm_price_prompt,
            llm_price_completion: raw.llm_price_completion,
            agent_sandbox: raw.agent_sandbox.unwrap_or_default(),
            agent_limits: {
                let default = ResourceLimits::default();
                ResourceLimits {
                    memory_mb: raw.agent_memory_mb.unwrap_or(default.memory_mb),
                    processes: raw.agent_max_processes.unwrap_or(default.processes),
                    cpu_secs: raw.agent_cpu_secs.unwrap_or(default.cpu_secs),
                }
            },
            agent_uid: raw.agent_uid.unwrap_or(DEFAULT_AGENT_UID),
        }
    }
}

// ---- what is wrong with the settings ----

impl Settings {
    /// What `serve` cannot run without, each with its fix. Empty when the App settings are complete.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.app_id.is_none() {
            out.push(Problem::new(
                "APP_ID is not set",
                "open /setup on this server to register the App in one click, or set APP_ID to the App ID shown on the App's settings page (Settings > Developer settings > GitHub Apps)",
            ));
        }
        match (&self.private_key, &self.private_key_error) {
            (_, Some(e)) => out.push(Problem::new(
                e.clone(),
                "set PRIVATE_KEY to the PEM text (or its base64) or PRIVATE_KEY_PATH to the .pem file downloaded from the App's settings page",
            )),
            (None, None) => out.push(Problem::new(
                "neither PRIVATE_KEY nor PRIVATE_KEY_PATH is set",
                "generate a private key on the App's settings page and set PRIVATE_KEY_PATH to the downloaded .pem file",
            )),
            _ => {}
        }
        if self.webhook_secrets.is_empty() {
            out.push(Problem::new(
                "WEBHOOK_SECRET is not set: every delivery would be refused",
                "set WEBHOOK_SECRET to the App's webhook secret (several, comma-separated, while rotating)",
            ));
        }
        if let Err(e) = validate_webhook_path(&self.webhook_path) {
            out.push(Problem::new(
                e.to_string(),
                "use a plain path such as /api/github/webhooks",
            ));
        }
        if let Err(e) = url::Url::parse(&self.github_api_url) {
            out.push(Problem::new(
                format!("GITHUB_API_URL {:?} is not a URL: {e}", self.github_api_url),
                "use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server",
            ));
        }
        for (key, value) in [
            ("GITHUB_SERVER_URL", Some(&self.github_server_url)),
            ("PUBLIC_URL", self.public_url.as_ref()),
        ] {
            let Some(value) = value else { continue };
            if !url::Url::parse(value).is_ok_and(|u| ["http", "https"].contains(&u.scheme())) {
                out.push(Problem::new(
                    format!("{key} {value:?} is not an http(s) URL"),
                    format!("set {key} to a URL such as https://github.example.com"),
                ));
            }
        }
        out
    }

    /// Whether the App is yet to be registered: neither `APP_ID` nor a private key is set, so `serve`
    /// offers `/setup` (GitHub's manifest flow) instead of workers.
    pub fn needs_setup(&self) -> bool {
        self.app_id.is_none() && self.private_key.is_none() && self.private_key_error.is_none()
    }
}

/// One thing wrong with the settings, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    pub fix: String,
}

impl Problem {
    pub fn new(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            fix: fix.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n    fix: {}", self.what, self.fix)
    }
}

/// Why a setting's value cannot be used, worded for the operator: it names the setting and what to do,
/// never the value of a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

/// Checks a `WEBHOOK_PATH` value: it must start with `/`, hold no route syntax (`{`, `}`, `*`) and not be
/// one of the built-in endpoints.
pub fn validate_webhook_path(path: &str) -> Result<(), Unusable> {
    if !path.starts_with('/') {
        return Err(Unusable(format!(
            "WEBHOOK_PATH `{path}` must start with `/` (e.g. /api/github/webhooks)"
        )));
    }
    if [
        "/healthz",
        "/readyz",
        "/metrics",
        "/setup",
        "/setup/callback",
    ]
    .contains(&path)
    {
        return Err(Unusable(format!(
            "WEBHOOK_PATH `{path}` is taken by a built-in endpoint; choose another path"
        )));
    }
    if path.contains(['{', '}', '*']) {
        return Err(Unusable(format!(
            "WEBHOOK_PATH `{path}` must not contain `{{`, `}}` or `*`"
        )));
    }
    Ok(())
}

// ---- secret settings ----

fn split_secrets(value: &str) -> Vec<SecretString> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(SecretString::from)
        .collect()
}

/// `PRIVATE_KEY` (PEM text, PEM with literal `\n`, or base64 of PEM) wins over `PRIVATE_KEY_PATH`.
fn read_private_key(raw: &Raw) -> Result<Option<SecretString>, String> {
    if let Some(key) = &raw.private_key {
        return pem_text(key.expose_secret())
            .map(Some)
            .map_err(|e| format!("PRIVATE_KEY is not usable: {e}"));
    }
    let Some(path) = &raw.private_key_path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("PRIVATE_KEY_PATH {} cannot be read: {e}", path.display()))?;
    pem_text(&text)
        .map(Some)
        .map_err(|e| format!("PRIVATE_KEY_PATH {} is not usable: {e}", path.display()))
}

/// A database URL with any password replaced, safe to print.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// The PEM text in whichever accepted form the setting holds it.
pub fn pem_text(raw: &str) -> Result<SecretString, Unusable> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Unusable("it is empty".to_owned()));
    }
    if raw.contains("-----BEGIN") {
        return Ok(SecretString::from(raw.replace("\\n", "\n")));
    }
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = SecretString::from(compact);
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact.expose_secret())
        .map_err(|_| Unusable("it is neither PEM text nor base64 of PEM text".to_owned()))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| Unusable("it is base64, but not of PEM text".to_owned()))
        .map(SecretString::from)?;
    if !text.expose_secret().contains("-----BEGIN") {
        return Err(Unusable("it is base64, but not of PEM text".to_owned()));
    }
    Ok(text)
}

/// Refuses PEM blocks that are not a private key at all, with what they are instead.
pub fn pem_kind_problem(pem: &str) -> Result<(), Unusable> {
    if pem.contains("PUBLIC KEY-----") {
        Err(Unusable(
            "it is a public key; the App needs the private key".to_owned(),
        ))
    } else if pem.contains("ENCRYPTED") {
        Err(Unusable(
            "it is encrypted with a passphrase; use the unencrypted key GitHub gave you".to_owned(),
        ))
    } else if pem.contains("CERTIFICATE-----") {
        Err(Unusable(
            "it is a certificate, not a private key".to_owned(),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::from_pairs([]).unwrap();
        assert_eq!(s.webhook_path, "/api/github/webhooks");
        assert_eq!((s.host.as_str(), s.port), ("0.0.0.0", 3000));
        assert_eq!(s.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(s.github_api_url, DEFAULT_GITHUB_API_URL);
        assert_eq!(s.workers, 2);
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.problems().len(), 3, "{:?}", s.problems());
    }

    #[test]
    fn the_web_url_follows_the_api_url_unless_set() {
        for (api, web) in [
            ("https://api.github.com", "https://github.com"),
            ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/api/v3/", "http://127.0.0.1:8080"),
        ] {
            let s = Settings::from_pairs([("GITHUB_API_URL", api)]).unwrap();
            assert_eq!(s.github_server_url, web, "{api}");
        }
        let s = Settings::from_pairs([
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
            ("GITHUB_SERVER_URL", "https://web.example.com/"),
            ("PUBLIC_URL", "https://bot.example.com/"),
        ])
        .unwrap();
        assert_eq!(s.github_server_url, "https://web.example.com");
        assert_eq!(s.public_url.as_deref(), Some("https://bot.example.com"));
        let s = Settings::from_pairs([("PUBLIC_URL", "bot.example.com")]).unwrap();
        assert!(
            s.problems().iter().any(|p| p.what.contains("PUBLIC_URL")),
            "{:?}",
            s.problems()
        );
    }

    #[test]
    fn setup_is_needed_only_while_the_app_has_no_identity() {
        assert!(
            Settings::from_pairs([("WEBHOOK_SECRET", "s")])
                .unwrap()
                .needs_setup()
        );
        assert!(
            !Settings::from_pairs([("APP_ID", "1")])
                .unwrap()
                .needs_setup()
        );
        let s = Settings::from_pairs([("PRIVATE_KEY_PATH", "/nonexistent.pem")]).unwrap();
        assert!(
            !s.needs_setup(),
            "a key that cannot be read is a problem, not a new App"
        );
    }

    #[test]
    fn env_example_lists_every_setting_with_a_value_that_loads() {
        let example = include_str!("../.env.example");
        let uncommented: String = example
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| {
                line.split_once('=')
                    .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let pairs: Vec<(String, String)> = dotenvy::from_read_iter(uncommented.as_bytes())
            .collect::<Result<_, _>>()
            .expect(".env.example parses");
        let listed: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let missing: Vec<&&str> = KEYS.iter().filter(|k| !listed.contains(k)).collect();
        assert!(missing.is_empty(), ".env.example lacks {missing:?}");
        let settings = pairs
            .iter()
            .filter(|(k, _)| KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()));
        Settings::from_pairs(settings).expect("the example values load");
    }

    #[test]
    fn secrets_rotate_and_never_show_in_debug() {
        let s = Settings::from_pairs([
            ("WEBHOOK_SECRET", "old-secret, new-secret"),
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
        ])
        .unwrap();
        assert_eq!(s.webhook_secrets.len(), 2);
        assert_eq!(s.webhook_secrets[1].expose_secret(), "new-secret");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("old-secret") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn private_key_accepts_base64_and_explains_garbage() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----";
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        let s = Settings::from_pairs([("PRIVATE_KEY", b64.as_str())]).unwrap();
        assert_eq!(s.private_key.unwrap().expose_secret(), pem);
        let s = Settings::from_pairs([("PRIVATE_KEY", "not a key")]).unwrap();
        let problems = s.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.what.contains("PRIVATE_KEY is not usable")),
            "{problems:?}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Settings::from_pairs([("PORT", "eighty")]).unwrap_err();
        assert!(err.contains("PORT"), "{err}");
    }

    #[test]
    fn file_keys_are_checked_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bot.toml");
        std::fs::write(&path, "PORT = 8080\nWORKERS = 4\n").unwrap();
        let s = Settings::from_figment(
            Figment::new()
                .merge(Toml::file_exact(&path))
                .merge(("WORKERS", 7)),
        )
        .unwrap();
        assert_eq!((s.port, s.workers), (8080, 7));
        std::fs::write(&path, "PROT = 8080\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err();
        assert!(err.contains("PROT"), "{err}");
    }

    #[test]
    fn agent_sandbox_defaults_to_auto_and_names_its_key_when_wrong() {
        let s = Settings::from_pairs([]).unwrap();
        assert_eq!(s.agent_sandbox, SandboxMode::Auto);
        let s = Settings::from_pairs([("AGENT_SANDBOX", "bwrap")]).unwrap();
        assert_eq!(s.agent_sandbox, SandboxMode::Bwrap);
        let s = Settings::from_pairs([("AGENT_SANDBOX", "landlock")]).unwrap();
        assert_eq!(s.agent_sandbox, SandboxMode::Landlock);
        assert_eq!(s.agent_uid, 65534);
        let s = Settings::from_pairs([("AGENT_UID", "1500")]).unwrap();
        assert_eq!(s.agent_uid, 1500);
        let err = Settings::from_pairs([("AGENT_SANDBOX", "docker")]).unwrap_err();
        assert!(
            err.contains("AGENT_SANDBOX") && err.contains("off"),
            "{err}"
        );
    }

    #[test]
    fn run_limits_default_to_2_gib_512_processes_and_1800_cpu_seconds() {
        let s = Settings::from_pairs([]).unwrap();
        assert_eq!(s.agent_limits, ResourceLimits::default());
        assert_eq!(
            (
                s.agent_limits.memory_mb,
                s.agent_limits.processes,
                s.agent_limits.cpu_secs
            ),
            (2048, 512, 1800)
        );
        let s = Settings::from_pairs([
            ("AGENT_MEMORY_MB", "512"),
            ("AGENT_MAX_PROCESSES", "0"),
            ("AGENT_CPU_SECS", "60"),
        ])
        .unwrap();
        assert_eq!(
            s.agent_limits,
            ResourceLimits {
                memory_mb: 512,
                processes: 0,
                cpu_secs: 60
            }
        );
        let err = Settings::from_pairs([("AGENT_MEMORY_MB", "2G")]).unwrap_err();
        assert!(err.contains("AGENT_MEMORY_MB"), "{err}");
    }
}
