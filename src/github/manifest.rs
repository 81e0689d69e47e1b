//! Registering the App through GitHub's manifest flow: the manifest, built from `config/app.yml`
//! (embedded in the binary), and the exchange of GitHub's one-time code for the new App's credentials
//! (`POST /app-manifests/{code}/conversions`).
//!
//! Invariants:
//! - The manifest is `config/app.yml` with this server's URLs filled in, so the file holds the one list of
//!   the App's permissions and events: `url` is the server, `hook_attributes.url` its webhook path and
//!   `redirect_url` its setup callback, all under the public URL given.
//! - The conversion is exactly GitHub's documented request: `POST` with no authentication and no body,
//!   the code checked to be a plain token first (it comes from a query string).
//! - What the bot needs of an App ([`needs`], [`missing`]: `doctor` compares a registered App with it)
//!   is read from the same file.
//! - [`Registered`] holds the private key and the webhook secret as secrets: `Debug` never shows them,
//!   and no error carries them.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use super::GitHubError;
use super::error::{observe, path_segment};

/// `config/app.yml`, as built into the binary.
pub const APP_YML: &str = include_str!("../../config/app.yml");

/// Where GitHub sends the operator back after creating the App (under the public URL).
pub const CALLBACK_PATH: &str = "/setup/callback";

/// The manifest to post to GitHub, for a server GitHub reaches at `public_url` (no trailing `/`) with
/// webhooks at `webhook_path`.
pub fn manifest(public_url: &str, webhook_path: &str) -> Value {
    let mut manifest: Value =
        serde_saphyr::from_str(APP_YML).expect("config/app.yml is checked by a unit test");
    manifest["url"] = Value::from(public_url);
    manifest["hook_attributes"]["url"] = Value::from(format!("{public_url}{webhook_path}"));
    manifest["redirect_url"] = Value::from(format!("{public_url}{CALLBACK_PATH}"));
    manifest
}

/// The new App, as GitHub's conversion answers it.
#[derive(Deserialize)]
pub struct Registered {
    pub id: u64,
    pub slug: String,
    #[serde(default)]
    pub name: String,
    /// The App's public page, `https://github.com/apps/<slug>`; its installation page is under it.
    pub html_url: String,
    /// The App's private key (PEM).
    pub pem: SecretString,
    /// The webhook secret GitHub generated (absent only for an App without a webhook).
    pub webhook_secret: Option<SecretString>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("html_url", &self.html_url)
            .finish_non_exhaustive()
    }
}

impl Registered {
    /// The page where the operator installs the App on accounts and repositories.
    pub fn installation_url(&self) -> String {
        format!("{}/installations/new", self.html_url.trim_end_matches('/'))
    }
}

/// Exchanges the one-time `code` GitHub's redirect carried for the new App's credentials.
pub async fn convert(api_url: &str, code: &str) -> Result<Registered, GitHubError> {
    const OPERATION: &str = "the App manifest conversion";
    let code = path_segment(OPERATION, "manifest code", code)?;
    let client = super::app::anonymous_client(api_url)?;
    let route = format!("/app-manifests/{code}/conversions");
    observe(OPERATION, client.post(route, None::<&()>)).await
}

/// The permissions (`contents: write`, …) and events the bot needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Needs {
    #[serde(rename = "default_permissions")]
    pub permissions: BTreeMap<String, String>,
    #[serde(rename = "default_events")]
    pub events: Vec<String>,
}

/// The manifest's permissions and events.
pub fn needs() -> Needs {
    serde_saphyr::from_str(APP_YML).expect("config/app.yml parses (a unit test checks it)")
}

/// How much access a permission level gives: `read` < `write` < `admin`.
fn rank(level: &str) -> u8 {
    match level {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    }
}

/// What `granted` (an App's permissions and events, as `GET /app` shows them) lacks of [`needs`]:
/// `(permission, needed level, granted level or "none")` and the missing events.
pub fn missing(
    granted_permissions: &BTreeMap<String, String>,
    granted_events: &[String],
) -> (Vec<(String, String, String)>, Vec<String>) {
    let needs = needs();
    let permissions = needs
        .permissions
        .iter()
        .filter_map(|(name, level)| {
            let has = granted_permissions.get(name).map(String::as_str);
            (rank(has.unwrap_or_default()) < rank(level)).then(|| {
                (
                    name.clone(),
                    level.clone(),
                    has.unwrap_or("none").to_owned(),
                )
            })
        })
        .collect();
    let events = needs
        .events
        .iter()
        .filter(|e| !granted_events.contains(e))
        .cloned()
        .collect();
    (permissions, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_app_yml_with_this_servers_urls() {
        let manifest = manifest("https://bot.example.com", "/api/github/webhooks");
        assert_eq!(manifest["url"], "https://bot.example.com");
        assert_eq!(
            manifest["hook_attributes"],
            serde_json::json!({"url": "https://bot.example.com/api/github/webhooks", "active": true})
        );
        assert_eq!(
            manifest["redirect_url"],
            "https://bot.example.com/setup/callback"
        );
        assert_eq!(manifest["public"], false);
        assert_eq!(
            manifest["default_permissions"]["checks"], "write",
            "{manifest}"
        );
        assert!(manifest["name"].is_string() && manifest["description"].is_string());
    }

    #[test]
    fn registered_never_shows_its_secrets() {
        let registered: Registered = serde_json::from_value(serde_json::json!({
            "id": 1, "slug": "s", "html_url": "https://github.com/apps/s",
            "pem": "-----BEGIN RSA PRIVATE KEY-----\nsecret-key\n-----END RSA PRIVATE KEY-----",
            "webhook_secret": "secret-hook", "client_secret": "secret-client",
        }))
        .unwrap();
        let shown = format!("{registered:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(
            registered.installation_url(),
            "https://github.com/apps/s/installations/new"
        );
    }

    #[test]
    fn the_manifest_names_what_the_bot_writes_and_the_events_it_handles() {
        let needs = needs();
        for (name, level) in [
            ("contents", "write"),
            ("pull_requests", "write"),
            ("issues", "write"),
            ("checks", "write"),
            ("metadata", "read"),
        ] {
            assert_eq!(needs.permissions.get(name).map(String::as_str), Some(level));
        }
        assert!(needs.events.contains(&"issues".to_owned()));
        assert!(needs.events.contains(&"issue_comment".to_owned()));
    }

    #[test]
    fn a_lower_level_or_an_absent_permission_and_an_unsubscribed_event_are_missing() {
        let mut granted: BTreeMap<String, String> = needs().permissions;
        let mut events = needs().events;
        assert_eq!(missing(&granted, &events), (vec![], vec![]));
        granted.insert("checks".into(), "read".into());
        granted.remove("pull_requests");
        granted.insert("contents".into(), "admin".into());
        events.retain(|e| e != "issue_comment");
        let (permissions, events) = missing(&granted, &events);
        assert_eq!(
            permissions,
            [
                ("checks".into(), "write".into(), "read".into()),
                ("pull_requests".into(), "write".into(), "none".into())
            ]
        );
        assert_eq!(events, ["issue_comment"]);
    }
}
