//! A real headless Chromium (Debian's `chromium`) for tests, driven through `chromedriver`'s WebDriver
//! HTTP API: plain JSON over reqwest, no browser crate.
//!
//! Invariants:
//! - `chromedriver` listens on 127.0.0.1 only, on a free port; Chromium runs headless with
//!   `--no-sandbox --disable-gpu --no-first-run --disable-background-networking`.
//! - [`Browser::start`] is `Err(reason)` when `chromium` or `chromedriver` is not installed, so a test can
//!   skip saying why; under `CI=true` it panics instead (CI installs both: scripts/install-test-deps.sh).
//! - Start-up waits for chromedriver's own "started successfully" line (a bounded read), never sleeps.
//! - [`Browser::close`] ends the session; dropping a `Browser` (after a failure too) kills the driver's
//!   process group, Chromium included: nothing outlives the test.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
}

impl Browser {
    /// A headless Chromium session, or why there cannot be one here.
    pub async fn start() -> Result<Browser, String> {
        let missing: Vec<&str> = ["chromium", "chromedriver"]
            .into_iter()
            .filter(|tool| !on_path(tool))
            .collect();
        if !missing.is_empty() {
            let reason = format!(
                "{} not installed (apt-get install chromium chromium-driver)",
                missing.join(" and ")
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must run the browser test: {reason}"
            );
            return Err(reason);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        metagpt_bot::run::gateway::install_crypto_provider();
        // Its own process group, so that Chromium, which it starts, ends with it (see `Drop`).
        let mut driver = Command::new("chromedriver")
            .args([
                format!("--port={port}"),
                "--allowed-ips=127.0.0.1".to_owned(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let stdout = driver.stdout.take().expect("stdout");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let started = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .take(50)
                .map_while(Result::ok)
                .any(|line| line.contains("started successfully"))
        })
        .await
        .expect("reader");
        assert!(started, "chromedriver did not start");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--window-size=1000,800",
        ];
        let session = browser
            .call(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": which("chromium"), "args": args},
                }}}),
            )
            .await;
        let id = session["sessionId"].as_str().expect("a session").to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        Ok(browser)
    }

    /// Loads `url` and waits for the page, as WebDriver's navigation does.
    pub async fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    /// The address of the page shown now.
    pub async fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .await
            .as_str()
            .expect("url")
            .to_owned()
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        let text = self
            .call("GET", &format!("/element/{element}/text"), Value::Null)
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// A DOM property (as the browser resolved it, e.g. a form's absolute `action`) of `css`'s element.
    pub async fn property(&self, css: &str, name: &str) -> String {
        let element = self.element(css).await;
        let path = format!("/element/{element}/property/{name}");
        let value = self.call("GET", &path, Value::Null).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call("POST", &format!("/element/{element}/click"), json!({}))
            .await;
    }

    /// A PNG of the page as shown.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let png = self.call("GET", "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("a PNG")
    }

    /// Ends the session (Chromium exits), then the driver.
    pub async fn close(self) {
        self.call("DELETE", "", Value::Null).await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("an element for {css}: {found}"))
            .to_owned()
    }

    /// One WebDriver command; its `value`. A WebDriver error fails the test with its message.
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.client.get(&url),
            "DELETE" => self.client.delete(&url),
            _ => self.client.post(&url).json(&body),
        };
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        let value = answer["value"].clone();
        assert!(
            value.get("error").is_none(),
            "WebDriver {method} {path}: {value}"
        );
        value
    }
}

impl Drop for Browser {
    /// Ends the driver's process group: the driver and any Chromium it started, even after a failure.
    fn drop(&mut self) {
        let group = self.driver.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

fn which(tool: &str) -> String {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .map(|found| found.display().to_string())
        .unwrap_or_default()
}

fn on_path(tool: &str) -> bool {
    !which(tool).is_empty()
}
