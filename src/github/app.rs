//! The GitHub App identity: its private key, its JWT-authenticated client, its bot account, and one
//! installation client per installation.
//!
//! Invariants:
//! - [`GitHubApp`] is built once per process (inside a tokio runtime: octocrab spawns its connection
//!   worker) and shared, e.g. in an `Arc`. Building it checks the key and the API URL, but calls nothing.
//! - [`GitHubApp::installation`] returns the same `Arc<Octocrab>` for an installation every time. That
//!   client holds the installation token cache; octocrab copies (does not share) that cache when a client
//!   is cloned, so callers keep the `Arc` and never clone the client itself. It returns the client with a
//!   token valid for at least 30 s more, minted once even when many tasks ask at the same time.
//! - Token freshness is octocrab's: before each request an installation client reuses its cached token
//!   only if it is valid for more than 30 s more, else mints a new one with a fresh JWT; if GitHub still
//!   answers 401, octocrab drops the token, mints another and repeats the request once. A 401 after that
//!   is a [`GitHubError`] that is not transient. The JWT itself is signed per request (iat 60 s in the
//!   past for clock drift, exp 9 minutes ahead), so it never goes stale.
//! - Retrying transient failures belongs to the job queue (with backoff and a persisted attempt count),
//!   so the client itself does not retry: a failed call fails fast with its classification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use octocrab::service::middleware::retry::RetryConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::GitHubError;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::error::observe;
use crate::config::{Unusable, pem_kind_problem, pem_text};

/// GitHub.com's REST API, the default of `GITHUB_API_URL`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The longest validity [`GitHubApp::git_token`] can promise: GitHub's tokens live one hour.
pub const MAX_GIT_TOKEN_VALIDITY: Duration = Duration::from_secs(50 * 60);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The App as `GET /app` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppInfo {
    pub id: u64,
    #[serde(default)]
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub html_url: String,
    /// What the App may do (`contents: write`, …), as granted on its settings page.
    #[serde(default)]
    pub permissions: std::collections::BTreeMap<String, String>,
    /// The webhook events it is subscribed to.
    #[serde(default)]
    pub events: Vec<String>,
}

/// The App's webhook as `GET /app/hook/config` shows it (the secret is never read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookConfig {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// A client that authenticates with a fixed token (an Action's `GITHUB_TOKEN`), built like the App's:
/// the queue or the job owns retries, so octocrab's own are off; the same time-outs.
pub fn token_client(api_url: &str, token: &SecretString) -> Result<Octocrab, GitHubError> {
    plain_client(api_url, Some(token))
}

/// A client without credentials, for the one endpoint GitHub serves without them that the bot calls:
/// the App manifest conversion.
pub(crate) fn anonymous_client(api_url: &str) -> Result<Octocrab, GitHubError> {
    plain_client(api_url, None)
}

/// [`token_client`] with `token`, [`anonymous_client`] without.
fn plain_client(api_url: &str, token: Option<&SecretString>) -> Result<Octocrab, GitHubError> {
    let api_url = normalize_api_url(api_url)?;
    let build_error = |error: octocrab::Error| {
        GitHubError::Config(format!(
            "could not build the GitHub client for {api_url}: {error}"
        ))
    };
    let builder = Octocrab::builder()
        .base_uri(api_url.as_str())
        .map_err(build_error)?
        .add_retry_config(RetryConfig::None)
        .set_connect_timeout(Some(CONNECT_TIMEOUT))
        .set_read_timeout(Some(READ_TIMEOUT));
    match token {
        Some(token) => builder
            .personal_token(token.expose_secret().to_owned())
            .build(),
        None => builder.build(),
    }
    .map_err(build_error)
}

/// Who "we" are on GitHub, to tell our own comments from anyone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnAuthor {
    /// The GitHub App with this id, writing through an installation token as its bot account, whose
    /// login is `bot` (`<app-slug>[bot]`) when known.
    App { id: u64, bot: Option<String> },
    /// A fixed account, e.g. `github-actions[bot]` for an Action's `GITHUB_TOKEN`.
    Login(String),
}

/// The App's credentials and its per-installation API clients.
pub struct GitHubApp {
    app_id: u64,
    api_url: String,
    app_client: Octocrab,
    installations: Mutex<HashMap<u64, Arc<Installation>>>,
    /// Who the App writes as, from `GET /app` (asked once, on first need).
    author: tokio::sync::OnceCell<OwnAuthor>,
}

/// One installation's shared client, and the lock that makes its first token mint single-flight.
struct Installation {
    client: Arc<Octocrab>,
    warm_up: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("app_id", &self.app_id)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl GitHubApp {
    /// Builds the App client from `APP_ID`, `PRIVATE_KEY` (PEM text, `\n`-escaped PEM, or base64 of it)
    /// and `GITHUB_API_URL` (e.g. `https://api.github.com`, or `https://HOST/api/v3` for GHES).
    pub fn new(
        app_id: u64,
        private_key: &SecretString,
        api_url: &str,
    ) -> Result<Self, GitHubError> {
        if app_id == 0 {
            return Err(GitHubError::Config(
                "APP_ID must be the App's numeric id (GitHub App settings → About → App ID)".into(),
            ));
        }
        let key = encoding_key(private_key)?;
        let api_url = normalize_api_url(api_url)?;
        let build_error = |error: octocrab::Error| {
            GitHubError::Config(format!(
                "could not build the GitHub client for {api_url}: {error}"
            ))
        };
        let app_client = Octocrab::builder()
            .base_uri(api_url.as_str())
            .map_err(build_error)?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(CONNECT_TIMEOUT))
            .set_read_timeout(Some(READ_TIMEOUT))
            .app(AppId(app_id), key)
            .build()
            .map_err(build_error)?;
        Ok(Self {
            app_id,
            api_url,
            app_client,
            installations: Mutex::new(HashMap::new()),
            author: tokio::sync::OnceCell::new(),
        })
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// The API base URL in use, without a trailing slash.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The client authenticated as the App itself (JWT), for `/app/...` endpoints.
    pub fn app_client(&self) -> &Octocrab {
        &self.app_client
    }

    /// The one client of `installation_id`, created on first use and shared by every caller after,
    /// holding an installation token valid for at least 30 s more. Concurrent first calls mint one
    /// token, not one each; an unknown installation or refused credentials fail here, classified.
    pub async fn installation(&self, installation_id: u64) -> Result<Arc<Octocrab>, GitHubError> {
        let entry = self.entry(installation_id)?;
        let _single_flight = entry.warm_up.lock().await;
        observe("installation_token", entry.client.installation_token()).await?;
        Ok(Arc::clone(&entry.client))
    }

    fn entry(&self, installation_id: u64) -> Result<Arc<Installation>, GitHubError> {
        let mut entries = self
            .installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get(&installation_id) {
            return Ok(Arc::clone(entry));
        }
        let client = self
            .app_client
            .installation(InstallationId(installation_id))
            .map_err(|error| GitHubError::from_octocrab("installation", error))?;
        let entry = Arc::new(Installation {
            client: Arc::new(client),
            warm_up: tokio::sync::Mutex::new(()),
        });
        entries.insert(installation_id, Arc::clone(&entry));
        Ok(entry)
    }

    /// Drops the client of an installation (after `installation.deleted` or `suspend`), with its token.
    pub fn forget_installation(&self, installation_id: u64) {
        self.installations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&installation_id);
    }

    /// An installation token for git over HTTPS, valid for at least `valid_for` more (at most
    /// [`MAX_GIT_TOKEN_VALIDITY`]). It comes from the installation client's cache when the cached token
    /// lives long enough, else a new one is minted (and cached for API calls too).
    pub async fn git_token(
        &self,
        installation_id: u64,
        valid_for: Duration,
    ) -> Result<SecretString, GitHubError> {
        const OPERATION: &str = "git_token";
        if valid_for > MAX_GIT_TOKEN_VALIDITY {
            return Err(GitHubError::Invalid {
                operation: OPERATION,
                detail: format!(
                    "a token valid for {valid_for:?} was asked, but GitHub's tokens live one hour \
                     (at most {MAX_GIT_TOKEN_VALIDITY:?} can be promised)"
                ),
            });
        }
        let buffer =
            chrono::Duration::from_std(valid_for).map_err(|error| GitHubError::Invalid {
                operation: OPERATION,
                detail: error.to_string(),
            })?;
        let entry = self.entry(installation_id)?;
        observe(
            OPERATION,
            entry.client.installation_token_with_buffer(buffer),
        )
        .await
    }

    /// Who the App writes as: its id and its bot account `<app-slug>[bot]` (from `GET /app`, asked once
    /// per process), so its own comments are found even where `performed_via_github_app` is null.
    pub async fn author(&self) -> Result<OwnAuthor, GitHubError> {
        let author = self
            .author
            .get_or_try_init(|| async {
                let app = self.get_app().await?;
                let bot = (!app.slug.is_empty()).then(|| format!("{}[bot]", app.slug));
                Ok::<_, GitHubError>(OwnAuthor::App {
                    id: self.app_id,
                    bot,
                })
            })
            .await?;
        Ok(author.clone())
    }

    /// The id of the App's installation on `owner/name` (`GET /repos/{owner}/{repo}/installation`, with
    /// the App's JWT); GitHub answers 404 where the App is not installed on it.
    pub async fn repository_installation(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<u64, GitHubError> {
        const OPERATION: &str = "repository_installation";
        let owner = super::error::path_segment(OPERATION, "owner", owner)?;
        let name = super::error::path_segment(OPERATION, "repository", name)?;
        let route = format!("/repos/{owner}/{name}/installation");
        let installation: serde_json::Value =
            observe(OPERATION, self.app_client.get(route, None::<&()>)).await?;
        installation["id"]
            .as_u64()
            .ok_or_else(|| GitHubError::Invalid {
                operation: OPERATION,
                detail: "the installation has no numeric id".to_owned(),
            })
    }

    /// How many installations the App has (`GET /app/installations`, first page of 100).
    pub async fn installation_count(&self) -> Result<usize, GitHubError> {
        let installations: Vec<serde_json::Value> = observe(
            "list_installations",
            self.app_client
                .get("/app/installations", Some(&[("per_page", 100)])),
        )
        .await?;
        Ok(installations.len())
    }

    /// Where GitHub delivers the App's webhooks (`GET /app/hook/config`).
    pub async fn hook_config(&self) -> Result<HookConfig, GitHubError> {
        observe(
            "hook_config",
            self.app_client.get("/app/hook/config", None::<&()>),
        )
        .await
    }

    /// `GET /app` with the App's JWT: proves APP_ID, PRIVATE_KEY and GITHUB_API_URL fit together.
    pub async fn get_app(&self) -> Result<AppInfo, GitHubError> {
        observe("get_app", self.app_client.get("/app", None::<&()>)).await
    }
}

// ---- the private key ----

/// Turns the `PRIVATE_KEY` setting into a signing key, or explains what is wrong with it.
fn encoding_key(private_key: &SecretString) -> Result<EncodingKey, GitHubError> {
    let pem = pem_text(private_key.expose_secret()).map_err(bad_key)?;
    pem_kind_problem(pem.expose_secret()).map_err(bad_key)?;
    let key = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
        .map_err(|error| bad_key(Unusable(format!("it could not be read ({error})"))))?;
    let probe = serde_json::json!({ "iss": "probe" });
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &probe, &key)
        .map_err(|error| bad_key(Unusable(format!("it could not sign a JWT ({error})"))))?;
    Ok(key)
}

fn bad_key(reason: Unusable) -> GitHubError {
    GitHubError::Config(format!(
        "PRIVATE_KEY is not an RSA private key in PEM format: {reason}. Use the .pem file from the \
         GitHub App's settings (Private keys → Generate a private key): its text, the text with \
         newlines written as \\n, or its base64; or point PRIVATE_KEY_PATH at the file"
    ))
}

/// Checks `GITHUB_API_URL` and returns it without a trailing slash.
fn normalize_api_url(raw: &str) -> Result<String, GitHubError> {
    let invalid = |reason: &str| {
        GitHubError::Config(format!(
            "GITHUB_API_URL {raw:?} is not a usable API URL: {reason} (expected {DEFAULT_API_URL}, \
             or https://HOST/api/v3 for GitHub Enterprise Server)"
        ))
    };
    let url = url::Url::parse(raw.trim()).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("the scheme must be https (or http)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not carry credentials"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}
