//! A git smart-HTTP server for tests: requests go to `git http-backend` (CGI) after an HTTP Basic check
//! of the token, the way GitHub accepts `x-access-token:<token>`. It listens on 127.0.0.1 only, runs on
//! its own thread and runtime (so tests may block on git), and stops when dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::io::AsyncWriteExt;

const MAX_BODY: usize = 256 * 1024 * 1024;

/// Decides whether a Basic password is a token the server accepts.
pub type TokenCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

struct Shared {
    root: PathBuf,
    token: TokenCheck,
    refused: AtomicUsize,
}

pub struct GitServer {
    base: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitServer {
    /// Serves the bare repositories under `root`, accepting only `token` as the Basic password.
    pub fn start(root: &Path, token: &str) -> Self {
        let token = token.to_owned();
        Self::start_with(root, Arc::new(move |given: &str| given == token))
    }

    /// Serves the bare repositories under `root`, accepting the passwords `check` accepts (e.g. the
    /// installation tokens a fake GitHub minted and that are still valid).
    pub fn start_with(root: &Path, check: TokenCheck) -> Self {
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            token: check,
            refused: AtomicUsize::new(0),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            base,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The URL of the repository `name` (a directory under the root, e.g. `acme.git`).
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// How many requests were answered 401 (missing or wrong token).
    pub fn refused_requests(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn authorised(headers: &HeaderMap, token: &TokenCheck) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let decoded = String::from_utf8_lossy(&decoded);
    decoded
        .split_once(':')
        .is_some_and(|(_, password)| token(password))
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    if !authorised(request.headers(), &shared.token) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"git\""),
        );
        return response;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("CONTENT_TYPE", header_text(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header_text(header::CONTENT_ENCODING),
        )
        .env(
            "GIT_PROTOCOL",
            header_text(header::HeaderName::from_static("git-protocol")),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let Ok(mut child) = command.spawn() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot start git http-backend",
        )
            .into_response();
    };
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
    }
    match child.wait_with_output().await {
        Ok(output) => cgi_response(&output.stdout),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("git http-backend: {e}"),
        )
            .into_response(),
    }
}

/// Turns a CGI reply (headers, a blank line, the body) into an HTTP response.
fn cgi_response(stdout: &[u8]) -> Response {
    let split = (0..stdout.len()).find_map(|i| {
        if stdout[i..].starts_with(b"\r\n\r\n") {
            Some((i, i + 4))
        } else if stdout[i..].starts_with(b"\n\n") {
            Some((i, i + 2))
        } else {
            None
        }
    });
    let Some((end, body_start)) = split else {
        return (
            StatusCode::BAD_GATEWAY,
            "git http-backend wrote no CGI headers",
        )
            .into_response();
    };
    let mut response = Response::new(Body::from(Bytes::copy_from_slice(&stdout[body_start..])));
    for line in String::from_utf8_lossy(&stdout[..end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok());
            *response.status_mut() = code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
        } else if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name.trim()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
