//! `GET /setup` and `GET /setup/callback`: registering the GitHub App through GitHub's manifest flow
//! (Probot's `/probot` setup) while the App's credentials are missing.
//!
//! The flow: `/setup` renders a form that posts the manifest ([`crate::github::manifest`]) to GitHub's
//! "new App" page with a random `state`; GitHub creates the App and redirects to the callback with a
//! one-time `code` and the `state`; the callback exchanges the code for the App's ID, private key and
//! webhook secret, saves them, hands them to `serve` and sends the operator to the App's installation
//! page.
//!
//! Invariants:
//! - A `state` is one this server handed out within the last hour **to this browser**, and works once:
//!   `/setup` also sets it in an HttpOnly, SameSite=Lax cookie ([`STATE_COOKIE`], sent on GitHub's
//!   top-level redirect back), and the callback needs the cookie to match, so a state fetched by someone
//!   else (the server must be reachable from GitHub, so from anyone) cannot complete a registration
//!   started elsewhere. It is taken before the code is exchanged, so a replay, a forged, a foreign or an
//!   expired `state` gets a 400 page and GitHub is not called. At most [`MAX_PENDING`] are remembered
//!   (the oldest forgotten first).
//! - `/setup` refuses (409) while the server's environment sets a key a registration saves in `.env`
//!   ([`SAVED_KEYS`]): the environment would win over the new values at the next start.
//! - The exchange, the save and the hand-over run in a task of their own: a browser that closes or
//!   reloads mid-way cannot cancel them after GitHub spent the one-time code.
//! - Whether `.env` can be written is checked before the code is exchanged (the `state` is then kept, so
//!   the operator can fix it and reload); the private key goes to a 0600 file next to `.env`
//!   (`PRIVATE_KEY_PATH`), and `APP_ID`, `PRIVATE_KEY_PATH` and `WEBHOOK_SECRET` are merged into `.env`
//!   (mode 0600) by [`crate::env_file`]. No secret is logged or shown.
//! - The operator is redirected only after `serve` confirmed it took the credentials (its workers and the
//!   new webhook secret are live), so the App's first delivery is accepted.
//! - One registration at a time, and one in all: callbacks are serialised from the conversion to the
//!   hand-over, and a callback after a registration gets the "already used" page.
//! - Once registered, [`configured_routes`] answer instead: `/setup` says the App is set up (410), a
//!   callback that it was already used (400); nothing registers a second App.

mod page;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::github::manifest::{self, CALLBACK_PATH, Registered};
pub use page::Page;

/// How many handed-out `state`s are remembered at once.
pub const MAX_PENDING: usize = 64;
/// How long a `state` stays valid (GitHub's code lives one hour too).
pub const STATE_LIFETIME: Duration = Duration::from_secs(3600);

/// What the setup needs to know of the settings.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    pub github_api_url: String,
    /// GitHub's web URL, where the form posts the manifest.
    pub github_server_url: String,
    /// Where GitHub reaches this server; `None`: the `/setup` request's own host.
    pub public_url: Option<String>,
    pub webhook_path: String,
    /// The `.env` file the credentials are merged into.
    pub env_file: PathBuf,
}

/// The new App's credentials, as handed to `serve`.
pub struct Credentials {
    pub app_id: u64,
    pub private_key: SecretString,
    pub webhook_secret: Option<SecretString>,
}

/// A registration handed to `serve`; it answers on `taken` once the credentials are live.
pub struct Registration {
    pub credentials: Credentials,
    pub taken: oneshot::Sender<()>,
}

#[derive(Clone)]
struct Setup {
    options: Arc<SetupOptions>,
    pending: Arc<Mutex<VecDeque<(String, Instant)>>>,
    registered: mpsc::Sender<Registration>,
    /// Held from the conversion to the hand-over: `true` once an App is registered, so a second callback
    /// (another tab's state) cannot register a second App over the first one's `.env`.
    done: Arc<tokio::sync::Mutex<bool>>,
}

/// The setup routes, and where their registration arrives (once).
pub fn routes(options: SetupOptions) -> (Router, mpsc::Receiver<Registration>) {
    let (registered, receiver) = mpsc::channel(1);
    let setup = Setup {
        options: Arc::new(options),
        pending: Arc::default(),
        registered,
        done: Arc::default(),
    };
    let router = Router::new()
        .route("/setup", get(form))
        .route(CALLBACK_PATH, get(callback))
        .with_state(setup);
    (router, receiver)
}

/// The setup routes once the App has its credentials.
pub fn configured_routes() -> Router {
    Router::new()
        .route("/setup", get(|| async { Page::AlreadySetUp }))
        .route(CALLBACK_PATH, get(|| async { Page::AlreadyUsed }))
}

#[derive(Deserialize)]
struct FormQuery {
    organization: Option<String>,
}

/// The settings a registration saves in `.env` (and so must not be set by the environment, which would
/// win over them at the next start).
const SAVED_KEYS: [&str; 4] = [
    "APP_ID",
    "PRIVATE_KEY",
    "PRIVATE_KEY_PATH",
    "WEBHOOK_SECRET",
];

/// The cookie that binds a `state` to the browser `/setup` gave it to.
pub const STATE_COOKIE: &str = "metagpt-bot-setup-state";

async fn form(
    State(setup): State<Setup>,
    Query(query): Query<FormQuery>,
    headers: HeaderMap,
) -> Response {
    let shadowed: Vec<String> = SAVED_KEYS
        .iter()
        .filter(|key| crate::env_file::set_outside(key))
        .map(|key| (*key).to_owned())
        .collect();
    if !shadowed.is_empty() {
        return Page::ShadowedByEnvironment { keys: shadowed }.into_response();
    }
    let organization = query
        .organization
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty());
    let new_app_page = match &organization {
        Some(org) if !is_organization_name(org) => {
            return Page::BadOrganization { given: org.clone() }.into_response();
        }
        Some(org) => format!("/organizations/{org}/settings/apps/new"),
        None => "/settings/apps/new".to_owned(),
    };
    let public_url = match &setup.options.public_url {
        Some(url) => url.clone(),
        None => request_origin(&headers),
    };
    let manifest = manifest::manifest(&public_url, &setup.options.webhook_path);
    let state = setup.remember_new_state();
    let secure = if public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{STATE_COOKIE}={state}; Path=/setup; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        STATE_LIFETIME.as_secs()
    );
    let page = Page::Register {
        action: format!(
            "{}{new_app_page}?state={state}",
            setup.options.github_server_url
        ),
        manifest: manifest.to_string(),
        organization,
        webhook_url: format!("{public_url}{}", setup.options.webhook_path),
    };
    ([(axum::http::header::SET_COOKIE, cookie)], page).into_response()
}

/// The `state` in the request's [`STATE_COOKIE`], if it has one.
fn cookie_state(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == STATE_COOKIE)
        .map(|(_, value)| value.to_owned())
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

async fn callback(
    State(setup): State<Setup>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return Page::MissingParameters.into_response();
    };
    if cookie_state(&headers).as_deref() != Some(state.as_str()) || !setup.is_pending(&state) {
        return Page::UnknownState.into_response();
    }
    // The rest runs to its end whatever the browser does: GitHub spends the code at the exchange.
    match tokio::spawn(register(setup, code, state)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(error = %error, "the App's registration task failed");
            Page::ConversionFailed {
                error: "the registration stopped unexpectedly; see the server's log".to_owned(),
            }
            .into_response()
        }
    }
}

/// Exchanges `code` (its `state` checked) for the App's credentials, saves them and hands them over.
async fn register(setup: Setup, code: String, state: String) -> Response {
    let env_file = &setup.options.env_file;
    if let Err(error) = crate::env_file::check_writable(env_file) {
        return Page::EnvNotWritable {
            path: env_file.display().to_string(),
            error: error.to_string(),
        }
        .into_response();
    }
    let mut done = setup.done.lock().await;
    if *done {
        return Page::AlreadyUsed.into_response();
    }
    if !setup.take_state(&state) {
        return Page::UnknownState.into_response();
    }
    let registered = match manifest::convert(&setup.options.github_api_url, &code).await {
        Ok(registered) => registered,
        Err(error) => {
            tracing::warn!(error = %error, "the App manifest conversion failed");
            return Page::ConversionFailed {
                error: error.to_string(),
            }
            .into_response();
        }
    };
    tracing::info!(app_id = registered.id, slug = %registered.slug, "GitHub registered the App");
    if let Err(error) = save(env_file, &registered) {
        tracing::error!(app_id = registered.id, error = %error, "the App's credentials could not be saved");
        return Page::NotSaved {
            path: env_file.display().to_string(),
            error: error.to_string(),
            app_url: registered.html_url.clone(),
        }
        .into_response();
    }
    *done = true;
    let installation_url = registered.installation_url();
    let (taken, confirmed) = oneshot::channel();
    let registration = Registration {
        credentials: Credentials {
            app_id: registered.id,
            private_key: registered.pem,
            webhook_secret: registered.webhook_secret,
        },
        taken,
    };
    if setup.registered.send(registration).await.is_ok() {
        // `serve` answers once its workers run; if it is shutting down, the saved `.env` serves at the
        // next start.
        let _ = confirmed.await;
    }
    Redirect::to(&installation_url).into_response()
}

/// Writes the private key to `<slug>.private-key.pem` beside `env_file` and the settings into it.
fn save(env_file: &std::path::Path, registered: &Registered) -> std::io::Result<()> {
    let slug: String = registered
        .slug
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let slug = if slug.is_empty() {
        "github-app".to_owned()
    } else {
        slug
    };
    let key_path = env_file.with_file_name(format!("{slug}.private-key.pem"));
    crate::env_file::write_private(&key_path, registered.pem.expose_secret().as_bytes())?;
    let app_id = registered.id.to_string();
    let key_path = key_path.display().to_string();
    let mut set = vec![
        ("APP_ID", app_id.as_str()),
        ("PRIVATE_KEY_PATH", key_path.as_str()),
    ];
    if let Some(secret) = &registered.webhook_secret {
        set.push(("WEBHOOK_SECRET", secret.expose_secret()));
    }
    crate::env_file::merge(env_file, &set, &["PRIVATE_KEY"])
}

impl Setup {
    /// A new random `state`, remembered for [`STATE_LIFETIME`].
    fn remember_new_state(&self) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let state = hex::encode(bytes);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.retain(|(_, at)| at.elapsed() < STATE_LIFETIME);
        while pending.len() >= MAX_PENDING {
            pending.pop_front();
        }
        pending.push_back((state.clone(), Instant::now()));
        state
    }

    fn is_pending(&self, state: &str) -> bool {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending
            .iter()
            .any(|(s, at)| s == state && at.elapsed() < STATE_LIFETIME)
    }

    /// Forgets `state`; `true` when it was pending and still valid.
    fn take_state(&self, state: &str) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(index) = pending.iter().position(|(s, _)| s == state) else {
            return false;
        };
        pending
            .remove(index)
            .is_some_and(|(_, at)| at.elapsed() < STATE_LIFETIME)
    }
}

/// GitHub's rule for account names: letters, digits and single inner hyphens, at most 39.
fn is_organization_name(name: &str) -> bool {
    (1..=39).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// `scheme://host[:port]` of the request, from its `Host` (and a proxy's `X-Forwarded-Proto`).
fn request_origin(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host")
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = match header("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::payloads::HANDLED_EVENTS;

    #[test]
    fn the_manifest_subscribes_exactly_to_the_events_that_trigger_something() {
        let manifest = manifest::manifest("https://bot.example.com", "/hooks");
        let events: Vec<&str> = manifest["default_events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        // Intake acts on `issues` (labeled) and `issue_comment` (created) only; `pull_request` is parsed
        // but never a trigger, and `installation` events come without a subscription.
        assert_eq!(events, ["issues", "issue_comment"]);
        assert!(events.iter().all(|e| HANDLED_EVENTS.contains(e)));
    }

    #[test]
    fn states_work_once_and_the_oldest_are_forgotten() {
        let (registered, _receiver) = mpsc::channel(1);
        let setup = Setup {
            options: Arc::new(SetupOptions {
                github_api_url: String::new(),
                github_server_url: String::new(),
                public_url: None,
                webhook_path: String::new(),
                env_file: PathBuf::new(),
            }),
            pending: Arc::default(),
            registered,
            done: Arc::default(),
        };
        let first = setup.remember_new_state();
        assert_eq!(first.len(), 32);
        assert!(setup.is_pending(&first) && !setup.is_pending("forged"));
        assert!(setup.take_state(&first));
        assert!(!setup.take_state(&first), "a state works once");
        let states: Vec<String> = (0..=MAX_PENDING)
            .map(|_| setup.remember_new_state())
            .collect();
        assert!(!setup.is_pending(&states[0]) && setup.is_pending(&states[MAX_PENDING]));
    }

    #[test]
    fn organisation_names_and_hosts_are_checked() {
        assert!(is_organization_name("acme-corp"));
        for bad in ["", "-acme", "a--b", "a/b", "acme?x", &"a".repeat(40)] {
            assert!(!is_organization_name(bad), "{bad}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("host", "bot.example.com:8080".parse().unwrap());
        assert_eq!(request_origin(&headers), "http://bot.example.com:8080");
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(request_origin(&headers), "https://bot.example.com:8080");
        headers.insert("host", "evil\"><script>".parse().unwrap());
        assert_eq!(request_origin(&headers), "https://localhost");
    }
}
