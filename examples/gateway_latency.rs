//! Gateway latency benchmark: what the LLM gateway adds to a call, as printed p50/p99 figures.
//!
//! It starts a minimal OpenAI-style upstream on 127.0.0.1 (a fixed chat completion with `usage`, or the
//! same answer as SSE chunks ending in a usage chunk and `[DONE]`), a `Gateway` in front of it, and then
//! times N calls (default 2,000; `--calls N`) at each concurrency (default `1 8`; `--concurrency "1 8"`):
//! direct calls to the upstream against calls through the gateway with a run token. A call's latency runs
//! from sending the request to the last byte of the body, so for streaming it is time to last byte.
//!
//! Invariants: everything listens on and talks to 127.0.0.1 only; every loop is bounded by the call count;
//! the run budget is far above what the calls can cost, so it never trips; it prints figures and asserts
//! nothing, failing only when it cannot measure (a call errors or answers non-2xx). Each concurrent worker
//! has its own run, because the gateway serialises the calls of one run. Direct and gateway phases
//! alternate in rounds so that a change in machine load skews both alike.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use metagpt_bot::run::gateway::{
    Gateway, GatewayConfig, RunBudget, RunHandle, RunOptions, UpstreamConfig,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const MODEL: &str = "gpt-4o-mini";
const UPSTREAM_KEY: &str = "sk-bench-upstream-key";
const WARMUP_CALLS: usize = 50;
const ROUNDS: usize = 4;

/// The fixed non-streaming answer.
fn completion() -> String {
    json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000, "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello from the bench upstream."}}],
        "usage": {"prompt_tokens": 24, "completion_tokens": 7, "total_tokens": 31}
    })
    .to_string()
}

/// The same answer as SSE events: a role chunk, five content chunks, a finish chunk, a usage chunk, DONE.
fn sse_events() -> Vec<Bytes> {
    let chunk = |delta: Value, finish: Value, usage: Value| {
        let choices = if usage.is_null() {
            json!([{"index": 0, "delta": delta, "finish_reason": finish}])
        } else {
            json!([])
        };
        let data = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                          "created": 1_700_000_000, "model": MODEL, "choices": choices, "usage": usage});
        Bytes::from(format!("data: {data}\n\n"))
    };
    let mut events = vec![chunk(
        json!({"role": "assistant"}),
        Value::Null,
        Value::Null,
    )];
    for word in ["Hello ", "from ", "the ", "bench ", "upstream."] {
        events.push(chunk(json!({"content": word}), Value::Null, Value::Null));
    }
    events.push(chunk(json!({}), json!("stop"), Value::Null));
    let usage = json!({"prompt_tokens": 24, "completion_tokens": 7, "total_tokens": 31});
    events.push(chunk(Value::Null, Value::Null, usage));
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

async fn upstream_handler(body: Bytes) -> Response {
    let streaming = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|request| request.get("stream").and_then(Value::as_bool))
        .unwrap_or(false);
    if !streaming {
        return ([(header::CONTENT_TYPE, "application/json")], completion()).into_response();
    }
    let chunks = sse_events().into_iter().map(Ok::<_, std::io::Error>);
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// Starts the upstream on 127.0.0.1 and returns its API root (`http://127.0.0.1:PORT/v1`).
async fn start_upstream() -> anyhow::Result<String> {
    let router = Router::new().route("/v1/chat/completions", post(upstream_handler));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding the bench upstream on 127.0.0.1")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{addr}/v1"))
}

/// One place to send calls: a base URL and the bearer key to send there.
#[derive(Clone)]
struct Target {
    url: String,
    key: String,
}

/// Sends one chat completion and reads its body to the last byte; returns the elapsed time.
async fn call(client: &reqwest::Client, target: &Target, body: &Bytes) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let response = client
        .post(&target.url)
        .bearer_auth(&target.key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.clone())
        .send()
        .await
        .with_context(|| format!("calling {}", target.url))?;
    let status = response.status();
    let bytes = response.bytes().await.context("reading the answer")?;
    let elapsed = start.elapsed();
    if !status.is_success() {
        bail!(
            "{} answered {status}: {}",
            target.url,
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(elapsed)
}

/// `calls` calls spread over one task per target, all at once; returns every latency. The client's pooled
/// connections carry over from phase to phase, so only the warm-up pays for connecting.
async fn phase(
    client: &reqwest::Client,
    targets: &[Target],
    body: &Bytes,
    calls: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (worker, target) in targets.iter().enumerate() {
        let share = calls / targets.len() + usize::from(worker < calls % targets.len());
        let (client, target, body) = (client.clone(), target.clone(), body.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for _ in 0..share {
                latencies.push(call(&client, &target, &body).await?);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut all = Vec::with_capacity(calls);
    while let Some(done) = tasks.join_next().await {
        all.extend(done.context("a bench worker panicked")??);
    }
    Ok(all)
}

/// Warms up, then times `calls` direct and `calls` gateway calls in alternating rounds; returns both
/// latency lists, sorted.
async fn measure(
    directs: &[Target],
    gateways: &[Target],
    body: &Bytes,
    calls: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let conc = directs.len();
    let client = reqwest::Client::new();
    phase(&client, directs, body, WARMUP_CALLS.max(conc)).await?;
    phase(&client, gateways, body, WARMUP_CALLS.max(conc)).await?;
    let rounds = (calls / conc).clamp(1, ROUNDS);
    let (mut direct, mut gateway) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for round in 0..rounds {
        let share = calls / rounds + usize::from(round < calls % rounds);
        direct.extend(phase(&client, directs, body, share).await?);
        gateway.extend(phase(&client, gateways, body, share).await?);
    }
    direct.sort_unstable();
    gateway.sort_unstable();
    Ok((direct, gateway))
}

/// Nearest-rank percentile of sorted latencies, in microseconds.
fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

struct Settings {
    calls: usize,
    concurrency: Vec<usize>,
}

fn parse_args() -> anyhow::Result<Settings> {
    let mut settings = Settings {
        calls: 2_000,
        concurrency: vec![1, 8],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "-n" | "--calls" => settings.calls = value.parse().context("--calls: a number")?,
            "-c" | "--concurrency" => {
                settings.concurrency = value
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--concurrency: numbers separated by spaces, e.g. \"1 8\"")?
            }
            _ => bail!(
                "unknown option {arg}; usage: gateway_latency [--calls N] [--concurrency \"1 8\"]"
            ),
        }
    }
    let calls = settings.calls;
    if calls == 0 || settings.concurrency.iter().any(|&c| c == 0 || c > calls) {
        bail!("--calls must be positive and every concurrency between 1 and the call count");
    }
    Ok(settings)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    metagpt_bot::run::gateway::install_crypto_provider();
    let settings = parse_args()?;
    let upstream = start_upstream().await?;
    let config = UpstreamConfig::openai(
        upstream.parse().context("the upstream URL")?,
        SecretString::from(UPSTREAM_KEY),
        "bench",
    );
    let gateway = Gateway::start(GatewayConfig::new(config)).await?;
    let max_workers = settings.concurrency.iter().copied().max().unwrap_or(1);
    let runs = (0..max_workers)
        .map(|_| {
            gateway.open_run(RunOptions {
                budget: RunBudget { max_cost_usd: 1e9 },
                ledger_path: None,
                cache: None,
            })
        })
        .collect::<anyhow::Result<Vec<RunHandle>>>()?;
    let direct = Target {
        url: format!("{upstream}/chat/completions"),
        key: UPSTREAM_KEY.to_owned(),
    };
    let via_gateway: Vec<Target> = runs
        .iter()
        .map(|run| Target {
            url: format!("{}/chat/completions", gateway.base_url()),
            key: run.token().expose_secret().to_owned(),
        })
        .collect();

    println!(
        "metagpt-bot LLM gateway added latency — {} calls per cell, loopback, {} CPU(s) shared by client, \
         gateway and upstream",
        settings.calls,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "latency = request sent to last body byte (streaming: time to last byte); µs, nearest rank"
    );
    println!(
        "{:<10} {:>5} {:>10} {:>10} {:>10} {:>10} {:>11} {:>11}",
        "mode", "conc", "direct p50", "direct p99", "gw p50", "gw p99", "added p50", "added p99"
    );
    for streaming in [false, true] {
        let body = Bytes::from(
            json!({"model": MODEL, "stream": streaming,
                   "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                {"role": "user", "content": "Say hello."}]})
            .to_string(),
        );
        for &conc in &settings.concurrency {
            let directs = vec![direct.clone(); conc];
            let (d, g) = measure(&directs, &via_gateway[..conc], &body, settings.calls).await?;
            let [d50, d99, g50, g99] = [(&d, 50.0), (&d, 99.0), (&g, 50.0), (&g, 99.0)]
                .map(|(sorted, p)| percentile_us(sorted, p));
            println!(
                "{:<10} {conc:>5} {d50:>10.0} {d99:>10.0} {g50:>10.0} {g99:>10.0} {:>+11.0} {:>+11.0}",
                if streaming { "streaming" } else { "json" },
                g50 - d50,
                g99 - d99
            );
        }
    }
    let ledgered: usize = runs.iter().map(|run| run.ledger().len()).sum();
    let spent: f64 = runs.iter().map(RunHandle::spent_usd).sum();
    println!(
        "gateway ledger: {ledgered} calls recorded, ${spent:.4} priced (budget never reached)"
    );
    gateway.shutdown().await;
    Ok(())
}
