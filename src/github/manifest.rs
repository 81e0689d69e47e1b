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
//! - [`Registered`] holds the private key and the webhook secret as secrets: `Debug` never shows them,
//!   and no error carries them.

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
}
