//! Reading the App's private key from the `PRIVATE_KEY` setting.
//!
//! Invariants:
//! - Accepted forms, as Probot accepts them: the PEM text GitHub hands out (PKCS#1 `BEGIN RSA PRIVATE
//!   KEY`, or PKCS#8 `BEGIN PRIVATE KEY`), the same text with its newlines written as `\n` (a one-line
//!   environment variable), or the base64 of the PEM text.
//! - A key is only accepted after it has signed a probe JWT, so a broken key fails at start with an
//!   actionable message rather than at the first webhook.
//! - The key's text never appears in an error or a log; decoded copies are held as secrets (zeroed on drop).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};

use super::GitHubError;
use crate::config::{pem_kind_problem, pem_text};

/// Turns the `PRIVATE_KEY` setting into a signing key, or explains what is wrong with it.
pub(crate) fn encoding_key(private_key: &SecretString) -> Result<EncodingKey, GitHubError> {
    let pem = pem_text(private_key.expose_secret()).map_err(bad_key)?;
    pem_kind_problem(pem.expose_secret()).map_err(bad_key)?;
    let key = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
        .map_err(|error| bad_key(format!("it could not be read ({error})")))?;
    let probe = serde_json::json!({ "iss": "probe" });
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &probe, &key)
        .map_err(|error| bad_key(format!("it could not sign a JWT ({error})")))?;
    Ok(key)
}

fn bad_key(reason: String) -> GitHubError {
    GitHubError::Config(format!(
        "PRIVATE_KEY is not an RSA private key in PEM format: {reason}. Use the .pem file from the \
         GitHub App's settings (Private keys → Generate a private key): its text, the text with \
         newlines written as \\n, or its base64; or point PRIVATE_KEY_PATH at the file"
    ))
}
