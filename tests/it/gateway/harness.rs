//! A gateway in front of a scripted upstream, with tiny backoffs, and helpers to call it as an agent.

use std::time::Duration;

use metagpt_bot::domain::Price;
use metagpt_bot::run::gateway::{
    Gateway, GatewayConfig, PriceTable, RetryPolicy, RunBudget, RunHandle, RunOptions,
    UpstreamConfig,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::support::scripted_llm::ScriptedLlm;

/// The provider key: must reach the upstream and nothing else.
pub const KEY: &str = "sk-test-REAL-provider-key-0123456789abcdef";

pub struct Harness {
    pub llm: ScriptedLlm,
    pub gateway: Gateway,
    pub http: reqwest::Client,
}

/// Tiny backoffs, 3 attempts, OpenAI-type upstream at `llm`.
pub fn config(llm: &ScriptedLlm) -> GatewayConfig {
    let upstream = UpstreamConfig::openai(llm.base_url(), SecretString::from(KEY), "scripted");
    let mut config = GatewayConfig::new(upstream);
    config.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
    };
    config.request_timeout = Duration::from_secs(20);
    config
}

/// $1 per million prompt tokens, $2 per million completion tokens, for every model.
pub fn unit_prices() -> PriceTable {
    PriceTable::default().with_override(Price {
        prompt_per_million: 1.0,
        completion_per_million: 2.0,
    })
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut GatewayConfig)) -> Harness {
        let llm = ScriptedLlm::start().await;
        let mut config = config(&llm);
        adjust(&mut config);
        let gateway = Gateway::start(config).await.expect("gateway starts");
        Harness {
            llm,
            gateway,
            http: reqwest::Client::new(),
        }
    }

    pub fn run(&self, max_cost_usd: f64) -> RunHandle {
        let options = RunOptions {
            budget: RunBudget { max_cost_usd },
            ledger_path: None,
            cache: None,
        };
        self.gateway.open_run(options).expect("run opens")
    }

    /// POSTs `body` to the gateway as an agent holding `token`.
    pub async fn post(&self, token: &str, body: &Value) -> reqwest::Response {
        post(&self.http, &self.gateway, token, body).await
    }

    pub async fn call(&self, run: &RunHandle, body: &Value) -> (u16, String) {
        call(&self.http, &self.gateway, run, body).await
    }
}

/// POSTs `body` to `gateway` as an agent holding `token`.
pub async fn post(
    http: &reqwest::Client,
    gateway: &Gateway,
    token: &str,
    body: &Value,
) -> reqwest::Response {
    http.post(format!("{}/chat/completions", gateway.base_url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("gateway answers")
}

/// One agent call of `run` on `gateway`: the status and body it got.
pub async fn call(
    http: &reqwest::Client,
    gateway: &Gateway,
    run: &RunHandle,
    body: &Value,
) -> (u16, String) {
    let response = post(http, gateway, run.token().expose_secret(), body).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// A MetaGPT-shaped request.
pub fn request(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a Architect, named Bob, your goal is design a concise, usable, complete software system."},
            {"role": "user", "content": "## context\n...\n## format example\n[CONTENT]\n{\"Implementation approach\": \"We will ...\"}\n[/CONTENT]"}
        ],
        "max_tokens": 4096,
        "temperature": 0.0,
        "stream": stream
    })
}
