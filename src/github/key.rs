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

/// Turns the `PRIVATE_KEY` setting into a signing key, or explains what is wrong with it.
pub(crate) fn encoding_key(private_key: &SecretString) -> Result<EncodingKey, GitHubError> {
    let pem = pem_text(private_key.expose_secret()).map_err(bad_key)?;
    wrong_kind(pem.expose_secret()).map_err(bad_key)?;
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

/// The PEM text in whichever accepted form the setting holds it.
pub(crate) fn pem_text(raw: &str) -> Result<SecretString, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("it is empty".to_owned());
    }
    if raw.contains("-----BEGIN") {
        return Ok(SecretString::from(raw.replace("\\n", "\n")));
    }
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = SecretString::from(compact);
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact.expose_secret())
        .map_err(|_| "it is neither PEM text nor base64 of PEM text".to_owned())?;
    let text = String::from_utf8(decoded)
        .map_err(|_| "it is base64, but not of PEM text".to_owned())
        .map(SecretString::from)?;
    if !text.expose_secret().contains("-----BEGIN") {
        return Err("it is base64, but not of PEM text".to_owned());
    }
    Ok(text)
}

/// Refuses PEM blocks that are not a private key at all, with what they are instead.
fn wrong_kind(pem: &str) -> Result<(), String> {
    if pem.contains("PUBLIC KEY-----") {
        Err("it is a public key; the App needs the private key".to_owned())
    } else if pem.contains("ENCRYPTED") {
        Err("it is encrypted with a passphrase; use the unencrypted key GitHub gave you".to_owned())
    } else if pem.contains("CERTIFICATE-----") {
        Err("it is a certificate, not a private key".to_owned())
    } else {
        Ok(())
    }
}
