//! Webhook signature verification (`X-Hub-Signature-256`).
//!
//! Invariants:
//! - A delivery is authentic when `X-Hub-Signature-256` is `sha256=<hex>` and the hex is the HMAC-SHA256 of
//!   the raw body under any one of the configured secrets (several during a rotation).
//! - The comparison is constant-time (`Mac::verify_slice`); the secrets and the body never reach a log or
//!   an error message.
//! - A delivery signed only with SHA-1 (`X-Hub-Signature`) is refused: SHA-1 HMAC is legacy and GitHub
//!   always sends the SHA-256 header too.
//! - With no secret configured every delivery is refused (fail closed).

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub const SIGNATURE_256_HEADER: &str = "x-hub-signature-256";
pub const SIGNATURE_SHA1_HEADER: &str = "x-hub-signature";

/// Why a delivery's signature was refused. The text goes to logs and to the 401 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no webhook secret is configured (set WEBHOOK_SECRET)")]
    NoSecretConfigured,
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("only a SHA-1 X-Hub-Signature was sent; X-Hub-Signature-256 is required")]
    Sha1Only,
    #[error("X-Hub-Signature-256 is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body under any configured webhook secret")]
    Mismatch,
}

/// Checks the delivery's `X-Hub-Signature-256` against `body` under each of `secrets`.
pub fn verify_signature(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let Some(header) = headers.get(SIGNATURE_256_HEADER) else {
        return Err(if headers.contains_key(SIGNATURE_SHA1_HEADER) {
            SignatureError::Sha1Only
        } else {
            SignatureError::Missing
        });
    };
    let signature = header
        .as_bytes()
        .strip_prefix(b"sha256=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .filter(|bytes| bytes.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let matches = secrets.iter().any(|secret| {
        Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .map(|mac| mac.chain_update(body).verify_slice(&signature).is_ok())
            .unwrap_or(false)
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `sha256=<hex>` of `body` under `secret`: what GitHub sends. For tests, benches and tools.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map(|mac| mac.chain_update(body).finalize());
    match mac {
        Ok(output) => format!("sha256={}", hex::encode(output.into_bytes())),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const GITHUB_DOCS_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_DOCS_PAYLOAD: &[u8] = b"Hello, World!";
    const GITHUB_DOCS_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            name,
            HeaderValue::from_str(value).expect("test header value"),
        );
        headers
    }

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values
            .iter()
            .map(|v| SecretString::from(v.to_string()))
            .collect()
    }

    #[test]
    fn github_documented_test_vector_verifies() {
        assert_eq!(
            sign(GITHUB_DOCS_SECRET, GITHUB_DOCS_PAYLOAD),
            GITHUB_DOCS_SIGNATURE
        );
        let headers = headers(SIGNATURE_256_HEADER, GITHUB_DOCS_SIGNATURE);
        assert_eq!(
            verify_signature(
                &headers,
                GITHUB_DOCS_PAYLOAD,
                &secrets(&[GITHUB_DOCS_SECRET])
            ),
            Ok(())
        );
        assert_eq!(
            verify_signature(&headers, b"Hello, World?", &secrets(&[GITHUB_DOCS_SECRET])),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_rotated_secret_may_match() {
        let headers = headers(SIGNATURE_256_HEADER, GITHUB_DOCS_SIGNATURE);
        let rotated = secrets(&["new secret", GITHUB_DOCS_SECRET]);
        assert_eq!(
            verify_signature(&headers, GITHUB_DOCS_PAYLOAD, &rotated),
            Ok(())
        );
        assert_eq!(
            verify_signature(&headers, GITHUB_DOCS_PAYLOAD, &secrets(&["new secret"])),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refusals_say_why() {
        let body = GITHUB_DOCS_PAYLOAD;
        let ours = secrets(&[GITHUB_DOCS_SECRET]);
        assert_eq!(
            verify_signature(&HeaderMap::new(), body, &ours),
            Err(SignatureError::Missing)
        );
        let sha1 = headers(SIGNATURE_SHA1_HEADER, "sha1=0123");
        assert_eq!(
            verify_signature(&sha1, body, &ours),
            Err(SignatureError::Sha1Only)
        );
        for bad in [
            "757107ea",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=zz",
            "sha256=abcd",
        ] {
            let headers = headers(SIGNATURE_256_HEADER, bad);
            assert_eq!(
                verify_signature(&headers, body, &ours),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        let good = headers(SIGNATURE_256_HEADER, GITHUB_DOCS_SIGNATURE);
        assert_eq!(
            verify_signature(&good, body, &[]),
            Err(SignatureError::NoSecretConfigured)
        );
    }
}
