//! What is wrong with the settings, each problem with its fix: what `serve` cannot run without
//! ([`Settings::problems`]), and the check of `WEBHOOK_PATH`.
//!
//! Invariant: every problem is reported at once, each naming the key and the fix, never a value that
//! could be a secret.

use super::Settings;

impl Settings {
    /// What `serve` cannot run without, each with its fix. Empty when the App settings are complete.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.app_id.is_none() {
            out.push(Problem::new(
                "APP_ID is not set",
                "set APP_ID to the App ID shown on the App's settings page (Settings > Developer settings > GitHub Apps)",
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
                e,
                "use a plain path such as /api/github/webhooks",
            ));
        }
        if let Err(e) = url::Url::parse(&self.github_api_url) {
            out.push(Problem::new(
                format!("GITHUB_API_URL {:?} is not a URL: {e}", self.github_api_url),
                "use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server",
            ));
        }
        out
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

/// Checks a `WEBHOOK_PATH` value: it must start with `/`, hold no route syntax (`{`, `}`, `*`) and not be
/// one of the built-in endpoints.
pub fn validate_webhook_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "WEBHOOK_PATH `{path}` must start with `/` (e.g. /api/github/webhooks)"
        ));
    }
    if ["/healthz", "/readyz", "/metrics"].contains(&path) {
        return Err(format!(
            "WEBHOOK_PATH `{path}` is taken by a built-in endpoint; choose another path"
        ));
    }
    if path.contains(['{', '}', '*']) {
        return Err(format!(
            "WEBHOOK_PATH `{path}` must not contain `{{`, `}}` or `*`"
        ));
    }
    Ok(())
}
