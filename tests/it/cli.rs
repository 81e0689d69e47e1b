//! The binary as an operator runs it: `.env` is read at start (the environment wins) and `/setup` writes
//! it without logging a secret, `doctor` explains every problem with its fix, `serve` starts with
//! nothing configured (offering `/setup`) and stops cleanly on SIGTERM.

use crate::support::fake_github;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_github::{FakeGitHub, TEST_APP_ID};

const BIN: &str = env!("CARGO_BIN_EXE_metagpt-bot");

/// Runs the binary with exactly `env` (plus PATH) in a fresh directory.
pub(crate) fn run(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), args, env)
}

/// Runs the binary with exactly `env` (plus PATH) in `dir`.
pub(crate) fn run_in(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Output, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("the binary starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[test]
fn a_misspelt_key_in_the_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    std::fs::write(&file, "WEBHOOK_SECRETS = \"x\"\n").unwrap();
    let (output, text) = run(&["--config", file.to_str().unwrap(), "doctor"], &[]);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("WEBHOOK_SECRETS"), "{text}");
}

#[test]
fn dot_env_is_read_at_start_the_environment_wins_and_the_action_ignores_it() {
    let dir = tempfile::tempdir().unwrap();
    let code = |(output, text): (Output, String)| (output.status.code().expect("exited"), text);
    std::fs::write(dir.path().join(".env"), "PORT=eighty\n").unwrap();
    let (status, text) = code(run_in(dir.path(), &["doctor"], &[]));
    assert_eq!(status, 2, "PORT from .env is read: {text}");
    assert!(text.contains("PORT"), "{text}");
    let (status, text) = code(run_in(dir.path(), &["doctor"], &[("PORT", "3000")]));
    assert_eq!(
        status, 1,
        "the environment's PORT wins; not ready otherwise: {text}"
    );

    std::fs::write(dir.path().join(".env"), "LLM_API_KEY='sk-hunter2\n").unwrap();
    let (status, text) = code(run_in(dir.path(), &["doctor"], &[]));
    assert_eq!(status, 2, "{text}");
    assert!(
        text.contains("LLM_API_KEY") && !text.contains("hunter2"),
        "{text}"
    );

    // The Action's working directory is the user's repository: its `.env` is theirs.
    std::fs::write(dir.path().join(".env"), "LOG_LEVEL=no[such\n").unwrap();
    let (_, text) = code(run_in(dir.path(), &["action"], &[]));
    assert!(!text.contains("LOG_LEVEL"), "{text}");
    let (_, text) = code(run_in(dir.path(), &["action"], &[("LOG_LEVEL", "no[such")]));
    assert!(
        text.contains("LOG_LEVEL"),
        "the same value from the environment is refused: {text}"
    );
}

/// `serve` started in `dir` on `port` with `env` only (JSON logs), once it listens: the child, the rest
/// of its log and the log so far.
fn spawn_serve(
    dir: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStderr>>,
    String,
) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .current_dir(dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let start = Instant::now();
    while !log.contains("listening") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not start:\n{log}"
        );
        let Some(Ok(line)) = lines.next() else {
            panic!("serve exited:\n{log}")
        };
        log.push_str(&line);
        log.push('\n');
    }
    (child, lines, log)
}

/// A registration would save `WEBHOOK_SECRET` in `.env`, where the environment's would win at the next
/// start: `/setup` refuses before anything reaches GitHub, naming the setting.
#[test]
fn setup_refuses_while_the_environment_sets_what_it_would_save() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, _, _) = spawn_serve(dir.path(), port, &[("WEBHOOK_SECRET", "from-the-unit")]);
    let setup = http_get(port, "/setup");
    let _ = child.kill();
    let _ = child.wait();
    assert!(setup.starts_with("HTTP/1.1 409"), "{setup}");
    assert!(
        setup.contains("<code>WEBHOOK_SECRET</code> is set in this server's environment"),
        "{setup}"
    );
    assert!(!setup.contains("Register GitHub App"), "{setup}");
}

#[test]
fn serve_starts_unconfigured_reports_not_ready_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, lines, mut log) = spawn_serve(dir.path(), port, &[]);
    assert!(log.contains("not ready: APP_ID is not set"), "{log}");
    assert!(
        log.contains(&format!("open http://127.0.0.1:{port}/setup")),
        "{log}"
    );
    let setup = http_get(port, "/setup");
    assert!(setup.starts_with("HTTP/1.1 200"), "{setup}");
    assert!(setup.contains("Register GitHub App"), "{setup}");
    assert!(
        setup.contains("set-cookie: metagpt-bot-setup-state="),
        "the state is bound to this browser: {setup}"
    );
    let ready = http_get(port, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(ready.contains("WEBHOOK_SECRET"), "{ready}");
    assert!(http_get(port, "/healthz").starts_with("HTTP/1.1 200"));

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    for line in lines.map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
    }
    assert!(status.success(), "serve exits 0 after SIGTERM:\n{log}");
    assert!(
        log.contains("SIGTERM received") && log.contains("stopped"),
        "{log}"
    );
}

/// The binary's own `.env` round trip: `serve` registers the App through `/setup` into `.env` in its
/// working directory (a relative key path), never logging a secret even at debug level; the next command
/// started there (`doctor`) reads it and the App's credentials work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_registers_the_app_into_dot_env_which_the_next_start_reads() {
    metagpt_bot::run::gateway::install_crypto_provider();
    let github = FakeGitHub::start().await;
    let secret = "whsec-7d1f-never-logged";
    let app = github.state().apps[&TEST_APP_ID].clone();
    github
        .state()
        .manifests
        .will_create(app, fake_github::TEST_APP_KEY, secret);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let api = github.api_url();
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "debug")
        .env("GITHUB_API_URL", &api)
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (mut lines, mut log) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut log = String::new();
        while !log.contains("listening") {
            let Some(Ok(line)) = lines.next() else {
                panic!("serve exited:\n{log}")
            };
            log.push_str(&line);
            log.push('\n');
        }
        (lines, log)
    })
    .await
    .unwrap();

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser
        .get(format!("http://127.0.0.1:{port}/setup"))
        .send()
        .await
        .unwrap();
    // The state's cookie, which the callback needs from the same browser.
    let cookie = answer.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = answer.text().await.unwrap();
    let state = page
        .split("?state=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's state")
        .to_owned();
    let manifest = serde_json::json!({
        "name": "metagpt-bot",
        "url": format!("http://127.0.0.1:{port}"),
        "hook_attributes": { "url": format!("http://127.0.0.1:{port}/api/github/webhooks") },
        "redirect_url": format!("http://127.0.0.1:{port}/setup/callback"),
        "default_permissions": { "issues": "write" },
    });
    let back = browser
        .post(format!("{api}/settings/apps/new?state={state}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("manifest", &manifest.to_string())
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let back = back.headers()["location"].to_str().unwrap().to_owned();
    let done = browser
        .get(&back)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status().as_u16(),
        303,
        "{}",
        done.text().await.unwrap()
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let log = tokio::task::spawn_blocking(move || {
        for line in lines.by_ref().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
        }
        assert!(child.wait().unwrap().success(), "serve exits 0:\n{log}");
        log
    })
    .await
    .unwrap();
    assert!(log.contains("the App is registered"), "{log}");
    let key_body = fake_github::TEST_APP_KEY.lines().nth(1).unwrap();
    assert!(
        !log.contains(secret) && !log.contains(key_body),
        "a secret reached the log:\n{log}"
    );
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert!(
        env.contains("PRIVATE_KEY_PATH=metagpt-bot-test.private-key.pem\n"),
        "a key path relative to the working directory: {env}"
    );

    // The next start in that directory has the App's credentials from `.env` alone.
    let (_, text) = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || run_in(&dir, &["doctor"], &[("GITHUB_API_URL", &api)])
    })
    .await
    .unwrap();
    assert!(text.contains("accepts the App's JWT"), "{text}");
    assert!(!text.contains("APP_ID is not set"), "{text}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
