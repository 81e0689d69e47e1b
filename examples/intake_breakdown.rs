//! Where a webhook delivery's time goes: prints the CPU cost of each intake step for one ~12 KB
//! `issues.labeled` delivery and the commit latency of the SQLite queue on this disk. A printed figure,
//! not a test: nothing here judges the numbers. `bench/intake_breakdown.sh` runs it (and the HTTP floor).
//!
//! ```sh
//! cargo run --release --example intake_breakdown -- measure [DB_DIR [ISSUES]]  # temp dir, 300 issues
//! cargo run --release --example intake_breakdown -- floor PORT         # trivial axum server (202), for wrk
//! cargo run --release --example intake_breakdown -- ceiling PORT DB    # the intake without its database
//! ```
//!
//! Invariants:
//! - CPU figures are CPU time (`CLOCK_THREAD_CPUTIME_ID` for single-thread loops, the whole process's
//!   `CLOCK_PROCESS_CPUTIME_ID` for anything with tasks and SQLite's worker thread), so other load on the
//!   machine lengthens wall times but barely moves them.
//! - The queue is the real [`Queue`] (`synchronous=FULL`, WAL, group commit); on tmpfs (`/dev/shm`) its
//!   fsync is free, which isolates the CPU of a record from the disk's flush latency.
//! - Group size is estimated as records / distinct `received_at` values: the writer stamps one
//!   millisecond timestamp per transaction, and commits on disk take longer than a millisecond.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::IntoResponse;
use metagpt_bot::http::intake::{Decision, IntakeConfig, decide};
use metagpt_bot::http::payloads::{IssuesEvent, parse_event};
use metagpt_bot::http::{AppState, Delivery, WebhookRejection, router, sign, verify_signature};
use metagpt_bot::queue::{DeliveryOutcome, DeliveryRecord, Queue, QueueOptions};
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "breakdown-secret";
const CONNECTIONS: usize = 16;
/// Distinct issues the deliveries rotate over by default, as in `bench/payloads.py`. The queue answers how
/// many jobs of the same issue are ahead, a count that grows with the jobs queued per issue (no worker runs
/// here); `measure DIR ISSUES` with a large ISSUES shows the record cost without that growth.
const ISSUES: usize = 300;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("floor") => {
            let port: u16 = args.get(1).map_or(Ok(0), |p| p.parse())?;
            runtime.block_on(floor_server(port))
        }
        Some("ceiling") => {
            let port: u16 = args.get(1).map_or(Ok(0), |p| p.parse())?;
            let db = args.get(2).map_or_else(
                || std::env::temp_dir().join("intake-ceiling.db"),
                Into::into,
            );
            runtime.block_on(ceiling_server(port, &db))
        }
        Some("measure") | None => {
            let dir = args.get(1).map_or_else(std::env::temp_dir, Into::into);
            let issues = args.get(2).map_or(Ok(ISSUES), |n| n.parse())?.max(1);
            runtime.block_on(measure(&dir, issues))
        }
        Some(other) => {
            anyhow::bail!(
                "unknown mode `{other}`; use `measure [DB_DIR]`, `floor PORT` or `ceiling PORT [DB]`"
            )
        }
    }
}

/// The HTTP floor: read the whole body, answer 202. Nothing else.
async fn floor_server(port: u16) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/api/github/webhooks",
        axum::routing::post(|body: axum::body::Bytes| async move {
            std::hint::black_box(body.len());
            StatusCode::ACCEPTED
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("floor server on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The intake's ceiling: everything `serve` does before its database, over real HTTP. The route takes the
/// real webhook extractor ([`Delivery`]: body limit, header checks, HMAC verification, typed parse) and
/// the real `decide`, then answers 202 with an answer shaped like the real one, recording nothing. What it
/// reaches under wrk bounds what any persistence could give on this machine.
async fn ceiling_server(port: u16, db: &Path) -> anyhow::Result<()> {
    let config = IntakeConfig {
        webhook_secrets: vec![SecretString::from(std::env::var("BENCH_SECRET")?)],
        ..IntakeConfig::default()
    };
    // `AppState` holds a queue; this route never records into it.
    let queue = Queue::connect(
        &format!("sqlite://{}", db.display()),
        QueueOptions::default(),
    )
    .await?;
    let state = AppState::new(config, queue, metagpt_bot::telemetry::install_recorder()?);
    let app = axum::Router::new()
        .route(
            "/api/github/webhooks",
            axum::routing::post(
                |State(state): State<AppState>, delivery: Result<Delivery, WebhookRejection>| async move {
                    let delivery = match delivery {
                        Ok(delivery) => delivery,
                        Err(rejection) => return rejection.into_response(),
                    };
                    let decision = delivery
                        .payload
                        .as_ref()
                        .map(|payload| decide(&state.config, &delivery.id, payload));
                    let accepted = matches!(decision, Some(Decision::Trigger(_)));
                    let answer = json!({"outcome": if accepted { "accepted" } else { "ignored" },
                        "action": delivery.action, "job_id": 1, "queued_behind": 0});
                    (StatusCode::ACCEPTED, axum::Json(answer)).into_response()
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("ceiling server on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// A labeled delivery as `bench/payloads.py` builds it: the fixture, the trigger label, an installation.
fn labeled_body(number: usize) -> anyhow::Result<Vec<u8>> {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhooks/issues.labeled.json"
    );
    let mut body: Value = serde_json::from_slice(&std::fs::read(fixture)?)?;
    let trigger = json!({"id": 1_000_001, "node_id": "LA_bench", "name": "metagpt", "color": "0e8a16",
        "default": false, "description": null,
        "url": "https://api.github.com/repos/Codertocat/Hello-World/labels/metagpt"});
    body["installation"] =
        json!({"id": 4242, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg=="});
    body["issue"]["state"] = json!("open");
    body["issue"]["number"] = json!(1000 + number);
    body["issue"]["labels"] = json!([trigger.clone()]);
    body["label"] = trigger;
    Ok(serde_json::to_vec(&body)?)
}

fn cpu_now(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clock ids are supported on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Thread CPU µs per call of `f`, after a warm-up.
fn per_call_us(iterations: u32, mut f: impl FnMut()) -> f64 {
    (0..iterations / 10).for_each(|_| f());
    let start = cpu_now(libc::CLOCK_THREAD_CPUTIME_ID);
    (0..iterations).for_each(|_| f());
    (cpu_now(libc::CLOCK_THREAD_CPUTIME_ID) - start).as_secs_f64() * 1e6 / f64::from(iterations)
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

async fn measure(dir: &Path, issues: usize) -> anyhow::Result<()> {
    let body = labeled_body(0)?;
    let config = IntakeConfig {
        webhook_secrets: vec![SecretString::from(SECRET.to_owned())],
        ..IntakeConfig::default()
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&sign(SECRET, &body))?,
    );
    println!(
        "one issues.labeled delivery of {} bytes; CPU per delivery, µs (thread CPU time)",
        body.len()
    );
    let hmac = per_call_us(20_000, || {
        assert!(verify_signature(&headers, &body, &config.webhook_secrets).is_ok())
    });
    println!("  HMAC-SHA256 verification             {hmac:8.1}");
    let parse = per_call_us(20_000, || {
        assert!(matches!(parse_event("issues", &body), Ok(Some(_))))
    });
    println!("  parse_event (path only on failure)   {parse:8.1}");
    let plain = per_call_us(20_000, || {
        assert!(serde_json::from_slice::<IssuesEvent>(&body).is_ok())
    });
    println!("  serde_json::from_slice, same struct  {plain:8.1}");
    let payload = parse_event("issues", &body)?.ok_or_else(|| anyhow::anyhow!("not handled"))?;
    let decide_us = per_call_us(100_000, || {
        assert!(matches!(
            decide(&config, "d", &payload),
            Decision::Trigger(_)
        ))
    });
    println!("  intake decision (decide)             {decide_us:8.2}");
    let Decision::Trigger(trigger) = decide(&config, "d", &payload) else {
        anyhow::bail!("no trigger")
    };

    let fsync = fsync_latency(&dir.join("breakdown-fsync.bin"), 300)?;
    println!(
        "\nfdatasync of a 4 KB write in {}: p50 {:.2} ms, p99 {:.2} ms",
        dir.display(),
        fsync.0,
        fsync.1
    );
    let tmpfs = Path::new("/dev/shm");
    for (place, folder) in [("disk", dir), ("tmpfs", tmpfs)] {
        if !folder.is_dir() {
            continue;
        }
        let db = folder.join(format!("breakdown-{}.db", std::process::id()));
        let url = format!("sqlite://{}", db.display());
        let queue = Queue::connect(&url, QueueOptions::default()).await?;
        let record = |n: usize| {
            let queue = queue.clone();
            let mut trigger = trigger.clone();
            trigger.issue_number = (1000 + n % issues) as u64;
            async move {
                let delivery = DeliveryRecord {
                    delivery_id: format!("{place}-{n}"),
                    event: "issues".into(),
                    action: Some("labeled".into()),
                    outcome: DeliveryOutcome::Accepted,
                };
                let started = Instant::now();
                queue
                    .record(delivery, Some(trigger))
                    .await
                    .map(|_| started.elapsed())
            }
        };
        let one = closed_loop(1, if place == "disk" { 300 } else { 3_000 }, &record).await?;
        println!(
            "\nqueue.record on {place} ({}), synchronous=FULL, {issues} issues:",
            db.display()
        );
        println!("  1 caller  (one commit per record): {one}");
        let many = closed_loop(
            CONNECTIONS,
            if place == "disk" { 6_000 } else { 20_000 },
            &record,
        )
        .await?;
        let (records, commits): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT received_at) FROM deliveries WHERE delivery_id LIKE ?",
        )
        .bind(format!("{place}-%"))
        .fetch_one(&sqlx::SqlitePool::connect(&url).await?)
        .await?;
        println!("  {CONNECTIONS} callers (group commit):          {many}");
        println!(
            "  mean group ≈ {:.1} records per commit (records / distinct commit timestamps)",
            records as f64 / commits.max(1) as f64
        );
        if place == "tmpfs" {
            let handler = handler_cpu(&queue, &config).await?;
            println!(
                "\nwhole handler in-process (router.oneshot, no socket; extractor, decide, record, metrics),"
            );
            println!("  {CONNECTIONS} callers, tmpfs queue: {handler}");
        }
        queue.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    Ok(())
}

/// `(p50, p99)` ms of `write 4 KB + fdatasync` on `path`.
fn fsync_latency(path: &Path, count: usize) -> anyhow::Result<(f64, f64)> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        file.write_all(&[7u8; 4096])?;
        file.sync_data()?;
        times.push(started.elapsed());
    }
    std::fs::remove_file(path)?;
    times.sort();
    Ok((percentile_ms(&times, 50.0), percentile_ms(&times, 99.0)))
}

/// `callers` tasks each awaiting `op(n)` in a loop until `total` calls are done; returns the summary.
async fn closed_loop<F, Fut>(callers: usize, total: usize, op: &F) -> anyhow::Result<String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>> + Send + 'static,
{
    let cpu = cpu_now(libc::CLOCK_PROCESS_CPUTIME_ID);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..callers {
        let calls: Vec<Fut> = (caller..total).step_by(callers).map(op).collect();
        tasks.spawn(async move {
            let mut times = Vec::with_capacity(calls.len());
            for call in calls {
                times.push(call.await?);
            }
            anyhow::Ok(times)
        });
    }
    let mut times = Vec::with_capacity(total);
    while let Some(result) = tasks.join_next().await {
        times.extend(result??);
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu_us = (cpu_now(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu).as_secs_f64() * 1e6;
    times.sort();
    Ok(format!(
        "{:7.0}/s, latency p50 {:.2} ms p99 {:.2} ms, process CPU {:.0} µs per call",
        total as f64 / wall,
        percentile_ms(&times, 50.0),
        percentile_ms(&times, 99.0),
        cpu_us / total as f64
    ))
}

/// The real router, driven without a socket, on `queue`.
async fn handler_cpu(queue: &Queue, config: &IntakeConfig) -> anyhow::Result<String> {
    let app = router(AppState::new(
        config.clone(),
        queue.clone(),
        metagpt_bot::telemetry::install_recorder()?,
    ));
    let bodies = (0..ISSUES)
        .map(|issue| {
            Ok((
                sign(SECRET, &labeled_body(issue)?),
                labeled_body(issue)?.into(),
            ))
        })
        .collect::<anyhow::Result<Vec<(String, axum::body::Bytes)>>>()?;
    let request = |n: usize| {
        let (signature, body) = &bodies[n % ISSUES];
        let request = Request::post("/api/github/webhooks")
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("handler-{n}"))
            .header("x-hub-signature-256", signature)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.clone()));
        let app = app.clone();
        async move {
            let started = Instant::now();
            let response = app.oneshot(request?).await?;
            anyhow::ensure!(
                response.status() == StatusCode::ACCEPTED,
                "answered {}",
                response.status()
            );
            Ok(started.elapsed())
        }
    };
    closed_loop(CONNECTIONS, 20_000, &request).await
}
