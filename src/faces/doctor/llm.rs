//! `doctor`'s checks of the LLM provider: the settings complete and the model priced (what a run's
//! budget rests on), then the provider itself — reachable, and the key accepted.
//!
//! Invariants:
//! - The provider is asked the cheapest way there is: `GET /models` (free, and it says whether the model
//!   is offered); only where that route does not exist (404, 405) one chat completion of at most one
//!   token, whose tokens and cost are shown.
//! - A refused key (401, 403), an unreachable provider or an unpriced model fails (every run would); a
//!   model the provider does not list only warns (some providers list few).
//! - The key goes only into the `Authorization` header; no message carries it (the provider's own error
//!   text is redacted of it and of credential shapes).

use std::fmt::Write as _;

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::config::{Settings, redact_url};
use crate::redact::redact;
use crate::run::Provider;

use super::{CHECK_TIMEOUT, Check};

/// The settings, then the provider; the provider is not asked when the settings are incomplete.
pub(super) async fn check(settings: &Settings) -> Vec<Check> {
    let provider = match crate::run::llm_provider(settings) {
        Ok(provider) => provider,
        Err(problems) => {
            return problems
                .into_iter()
                .map(|p| Check::fail(p.what, p.fix))
                .collect();
        }
    };
    let price = provider.price;
    vec![
        Check::ok(format!(
            "LLM settings complete: {} at {}, priced ${} / ${} per million prompt / completion tokens",
            provider.model,
            shown(&provider),
            price.prompt_per_million,
            price.completion_per_million
        )),
        reach(&provider).await,
    ]
}

/// The provider's base URL, credentials in it hidden.
fn shown(provider: &Provider) -> String {
    redact_url(provider.upstream.base_url.as_str())
}

/// Asks the provider (`GET /models`, else a one-token completion).
async fn reach(provider: &Provider) -> Check {
    crate::run::gateway::install_crypto_provider();
    let client = match reqwest::Client::builder().timeout(CHECK_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            return Check::fail(
                format!("cannot build an HTTP client: {e}"),
                "this is a bug of metagpt-bot; please report it",
            );
        }
    };
    let base = provider.upstream.base_url.as_str().trim_end_matches('/');
    let key = provider.upstream.api_key.expose_secret();
    let models = client
        .get(format!("{base}/models"))
        .bearer_auth(key)
        .send()
        .await;
    let answer = match models {
        Err(e) => return unreachable(provider, &e),
        Ok(answer) => answer,
    };
    match answer.status().as_u16() {
        200..=299 => {
            let listed: Value = answer.json().await.unwrap_or_default();
            let ids: Vec<&str> = listed["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_str())
                .collect();
            if ids.contains(&provider.model.as_str()) {
                Check::ok(format!(
                    "the LLM provider at {} accepts the key and offers {} (GET /models, no cost)",
                    shown(provider),
                    provider.model
                ))
            } else {
                Check::warn(
                    format!(
                        "the LLM provider at {} accepts the key but does not list {} among its {} models",
                        shown(provider),
                        provider.model,
                        ids.len()
                    ),
                    "check LLM_MODEL against the provider's model names (some providers list only some)",
                )
            }
        }
        401 | 403 => refused(provider, answer).await,
        404 | 405 => one_token(&client, provider).await,
        status => failed(provider, status, answer, "GET /models").await,
    }
}

/// One chat completion of at most one token: the model answers, and what it cost.
async fn one_token(client: &reqwest::Client, provider: &Provider) -> Check {
    let base = provider.upstream.base_url.as_str().trim_end_matches('/');
    let request = json!({
        "model": provider.model,
        "messages": [{"role": "user", "content": "Reply with the word OK."}],
        "max_tokens": 1,
        "stream": false,
    });
    let answer = client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(provider.upstream.api_key.expose_secret())
        .json(&request)
        .send()
        .await;
    let answer = match answer {
        Err(e) => return unreachable(provider, &e),
        Ok(answer) => answer,
    };
    match answer.status().as_u16() {
        200..=299 => {
            let body: Value = answer.json().await.unwrap_or_default();
            let prompt = body["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
            let completion = body["usage"]["completion_tokens"].as_u64().unwrap_or(0);
            let cost = provider.price.cost_usd(prompt, completion);
            Check::ok(format!(
                "the LLM provider at {} accepts the key and {} answered a one-token request: {prompt} \
                 prompt and {completion} completion tokens, ${cost:.6}",
                shown(provider),
                provider.model
            ))
        }
        401 | 403 => refused(provider, answer).await,
        status => failed(provider, status, answer, "a one-token request").await,
    }
}

fn unreachable(provider: &Provider, error: &reqwest::Error) -> Check {
    let how = if error.is_timeout() {
        format!("did not answer within {CHECK_TIMEOUT:?}")
    } else {
        let mut text = String::from("cannot be reached");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        text
    };
    Check::fail(
        format!("the LLM provider at {} {how}", shown(provider)),
        "check LLM_BASE_URL and that this host can reach it (proxy, firewall, DNS)",
    )
}

async fn refused(provider: &Provider, answer: reqwest::Response) -> Check {
    let status = answer.status().as_u16();
    let said = message(provider, answer).await;
    Check::fail(
        format!(
            "the LLM provider at {} refused the key (HTTP {status}{said})",
            shown(provider)
        ),
        "set LLM_API_KEY to a valid key of this provider (and LLM_BASE_URL to the provider it belongs to)",
    )
}

async fn failed(provider: &Provider, status: u16, answer: reqwest::Response, what: &str) -> Check {
    let said = message(provider, answer).await;
    Check::fail(
        format!(
            "the LLM provider at {} answered {what} with HTTP {status}{said}",
            shown(provider)
        ),
        "check LLM_BASE_URL (the OpenAI-compatible API root, e.g. https://api.openai.com/v1) and LLM_MODEL",
    )
}

/// `: <the provider's error message>`, one line, at most 200 characters, redacted; or nothing.
async fn message(provider: &Provider, answer: reqwest::Response) -> String {
    let body = answer.text().await.unwrap_or_default();
    let parsed: Value = serde_json::from_str(&body).unwrap_or_default();
    let text = parsed["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or(body);
    // Redacted before it is cut: a key cut in half would no longer be recognised.
    let text = redact(&text, &[provider.upstream.api_key.expose_secret()]);
    let text: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}
