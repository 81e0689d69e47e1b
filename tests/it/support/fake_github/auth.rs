//! Who a request is from: an App (by a JWT the fake verifies with the App's public key) or an
//! installation (by a token the fake minted), as GitHub decides it.
//!
//! Invariants:
//! - A JWT is accepted only if it is RS256, signed by a known App's key, its `iss` is that App's id, its
//!   `exp` is in the future but at most 10 minutes away, and its `iat` is not in the future (60 s of clock
//!   drift allowed) — GitHub's rules for App JWTs.
//! - Anything else that looks like credentials is refused with GitHub's 401 message; no header at all is
//!   anonymous.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use wiremock::Request;

use super::state::{Caller, GitHubState};

const MAX_JWT_LIFETIME_SECS: i64 = 10 * 60;
const CLOCK_DRIFT_SECS: i64 = 60;

pub fn identify(state: &GitHubState, request: &Request) -> Caller {
    let Some(header) = request.headers.get(http::header::AUTHORIZATION) else {
        return Caller::Anonymous;
    };
    let header = header.to_str().unwrap_or_default();
    let credential = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("token "))
        .unwrap_or_default();
    if credential.split('.').count() == 3 {
        verify_jwt(state, credential).unwrap_or_else(Caller::Refused)
    } else {
        state.installation_caller(credential)
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: serde_json::Value,
    iat: i64,
    exp: i64,
}

fn verify_jwt(state: &GitHubState, jwt: &str) -> Result<Caller, String> {
    let undecodable = || "A JSON web token could not be decoded".to_owned();
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| undecodable())?;
    if header.alg != Algorithm::RS256 {
        return Err(undecodable());
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    let (app, claims) = state
        .apps
        .values()
        .find_map(|app| {
            let key = DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes()).ok()?;
            let data = jsonwebtoken::decode::<Claims>(jwt, &key, &validation).ok()?;
            Some((app, data.claims))
        })
        .ok_or_else(undecodable)?;
    let now = Utc::now().timestamp();
    let iss_matches = match &claims.iss {
        serde_json::Value::Number(number) => number.as_u64() == Some(app.id),
        serde_json::Value::String(text) => text == &app.id.to_string(),
        _ => false,
    };
    if !iss_matches {
        return Err("'Issuer' claim ('iss') must be an Integer".to_owned());
    }
    if claims.exp > now + MAX_JWT_LIFETIME_SECS + CLOCK_DRIFT_SECS {
        return Err("'Expiration time' claim ('exp') is too far in the future".to_owned());
    }
    if claims.iat > now + CLOCK_DRIFT_SECS || claims.iat >= claims.exp {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past"
                .to_owned(),
        );
    }
    Ok(Caller::App(app.id))
}
