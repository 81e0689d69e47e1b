//! How secret settings are read and shown: the webhook secrets (comma-separated for rotation), the
//! App's private key (`PRIVATE_KEY` text or base64, else `PRIVATE_KEY_PATH`, read once at load), and a
//! database URL printed without its password.
//!
//! Invariant: secret values go straight into `SecretString`s; errors name the key or the file, never
//! the value.

use secrecy::{ExposeSecret, SecretString};

use super::Raw;
use crate::github::pem_text;

pub(super) fn split_secrets(value: &str) -> Vec<SecretString> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(SecretString::from)
        .collect()
}

/// `PRIVATE_KEY` (PEM text, PEM with literal `\n`, or base64 of PEM) wins over `PRIVATE_KEY_PATH`.
pub(super) fn read_private_key(raw: &Raw) -> Result<Option<SecretString>, String> {
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
