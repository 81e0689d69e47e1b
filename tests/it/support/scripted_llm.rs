//! A scripted OpenAI-compatible LLM server for tests: answers queued replies in order, records every
//! request and the exact bytes it answered, streams SSE (with a final usage chunk when asked for it via
//! `stream_options.include_usage`, as OpenAI does), and can answer 429 with `Retry-After` or any status.
//!
//! It serves every POST path (so OpenAI `/v1/chat/completions` and Azure deployment paths alike) on
//! 127.0.0.1. When the queue is empty it asks the fallback (set with `set_fallback`, for scripting a whole
//! MetaGPT SOP by classifying requests) and otherwise answers 500 "script exhausted".

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A chat completion with this content; streamed as SSE when the request has `stream: true`.
    Chat {
        content: String,
        prompt_tokens: u64,
        completion_tokens: u64,
    },
    /// 429 with `Retry-After: <secs>`.
    RateLimited { retry_after_secs: u64 },
    /// Any status with a JSON body.
    Status { status: u16, body: Value },
    /// Never answers (until the client gives up).
    Hang,
}

impl Reply {
    pub fn chat(content: &str, prompt_tokens: u64, completion_tokens: u64) -> Reply {
        Reply::Chat {
            content: content.to_owned(),
            prompt_tokens,
            completion_tokens,
        }
    }

    /// An OpenAI-style error answer.
    pub fn error(status: u16, message: &str) -> Reply {
        let body = json!({"error": {"message": message, "type": "server_error", "code": null}});
        Reply::Status { status, body }
    }
}

/// A request as the server saw it, with the bytes it answered.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub uri: String,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: Value,
    pub answered: Bytes,
}

type Fallback = Box<dyn Fn(&Value) -> Reply + Send + Sync>;

#[derive(Default)]
struct Script {
    queue: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    fallback: Mutex<Option<Fallback>>,
    /// Counts the requests recorded; a test waits on it instead of sleeping.
    changes: tokio::sync::watch::Sender<usize>,
}

pub struct ScriptedLlm {
    addr: SocketAddr,
    script: Arc<Script>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedLlm {
    pub async fn start() -> ScriptedLlm {
        let script = Arc::new(Script::default());
        let router = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("scripted LLM server");
        });
        ScriptedLlm { addr, script, task }
    }

    /// `http://127.0.0.1:<port>/v1`, the OpenAI-style base URL.
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/v1", self.addr)).expect("url")
    }

    pub fn push(&self, reply: Reply) {
        self.script.queue.lock().unwrap().push_back(reply);
    }

    /// Answers requests the queue has no reply for.
    pub fn set_fallback(&self, fallback: impl Fn(&Value) -> Reply + Send + Sync + 'static) {
        *self.script.fallback.lock().unwrap() = Some(Box::new(fallback));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.script.requests.lock().unwrap().clone()
    }

    /// Wakes on every request recorded from now on (a hanging one included).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<usize> {
        self.script.changes.subscribe()
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let reply = script.queue.lock().unwrap().pop_front();
    let reply = reply
        .or_else(|| script.fallback.lock().unwrap().as_ref().map(|f| f(&body)))
        .unwrap_or_else(|| Reply::error(500, "script exhausted"));
    let rendered = (!matches!(reply, Reply::Hang)).then(|| render(&reply, &body));
    let answered = rendered.as_ref().map(|r| r.2.clone()).unwrap_or_default();
    let uri = uri.to_string();
    let recorded = Recorded {
        uri,
        headers,
        raw,
        body,
        answered,
    };
    script.requests.lock().unwrap().push(recorded);
    script.changes.send_modify(|count| *count += 1);
    let Some((status, content_type, bytes, extra)) = rendered else {
        return std::future::pending().await; // Reply::Hang
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type);
    if let Some((name, value)) = extra {
        builder = builder.header(name, value);
    }
    // Stream SSE in small frames so that events arrive split across reads.
    let frames: Vec<Result<Bytes, Infallible>> = bytes
        .chunks(37)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    builder
        .body(Body::from_stream(futures_util::stream::iter(frames)))
        .expect("response")
}

type Rendered = (
    StatusCode,
    &'static str,
    Bytes,
    Option<(&'static str, String)>,
);

fn render(reply: &Reply, request: &Value) -> Rendered {
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("scripted");
    match reply {
        Reply::Chat {
            content,
            prompt_tokens,
            completion_tokens,
        } => {
            let usage = (*prompt_tokens, *completion_tokens);
            if request.get("stream").and_then(Value::as_bool) == Some(true) {
                let with_usage = request
                    .pointer("/stream_options/include_usage")
                    .and_then(Value::as_bool)
                    == Some(true);
                let body = sse_body(model, content, with_usage.then_some(usage));
                (StatusCode::OK, "text/event-stream", Bytes::from(body), None)
            } else {
                let body = completion_body(model, content, usage);
                (
                    StatusCode::OK,
                    "application/json",
                    Bytes::from(body.to_string()),
                    None,
                )
            }
        }
        Reply::RateLimited { retry_after_secs } => {
            let body = json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}});
            let header = Some(("retry-after", retry_after_secs.to_string()));
            (
                StatusCode::TOO_MANY_REQUESTS,
                "application/json",
                Bytes::from(body.to_string()),
                header,
            )
        }
        Reply::Hang => unreachable!("answered above"),
        Reply::Status { status, body } => {
            let status = StatusCode::from_u16(*status).expect("status");
            (
                status,
                "application/json",
                Bytes::from(body.to_string()),
                None,
            )
        }
    }
}

/// The non-streaming answer for `content`.
pub fn completion_body(model: &str, content: &str, (prompt, completion): (u64, u64)) -> Value {
    json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    })
}

/// One SSE event with `data`.
pub fn sse_event(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// The streamed answer for `content`: deltas of up to 5 characters, a stop chunk, the usage-only chunk
/// when `usage` is given, then `[DONE]`.
pub fn sse_body(model: &str, content: &str, usage: Option<(u64, u64)>) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1_700_000_000,
               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut out = sse_event(&chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ));
    let chars: Vec<char> = content.chars().collect();
    for piece in chars.chunks(5) {
        let piece: String = piece.iter().collect();
        out += &sse_event(&chunk(json!({"content": piece}), Value::Null));
    }
    out += &sse_event(&chunk(json!({}), json!("stop")));
    if let Some(usage) = usage {
        out += &sse_event(&usage_chunk(model, usage));
    }
    out + "data: [DONE]\n\n"
}

/// The final chunk `stream_options.include_usage` asks for.
pub fn usage_chunk(model: &str, (prompt, completion): (u64, u64)) -> Value {
    json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1_700_000_000,
           "model": model, "choices": [],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})
}

/// The concatenated `delta.content` of an SSE body.
pub fn sse_content(body: &str) -> String {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}
