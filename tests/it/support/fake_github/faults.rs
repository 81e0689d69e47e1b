//! Injected failures: a test makes one endpoint answer an error status (a GitHub outage, a rate
//! limit) for a number of requests, ahead of the modelled handler.
//!
//! Invariants:
//! - A fault outranks the modelled routes (wiremock priority 1) and is logged like any answer.

use std::sync::Arc;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::auth;
use super::route::{Reply, Shared, lock};
use super::state::LoggedRequest;

/// An error answer: status, GitHub message and extra headers (e.g. `x-ratelimit-remaining: 0`).
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl Fault {
    pub fn status(status: u16, message: &str) -> Self {
        Self {
            status,
            message: message.to_owned(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Makes `verb full_path` answer `fault`, `times` times (or always with `None`).
pub async fn mount(
    server: &MockServer,
    state: &Shared,
    verb: &str,
    full_path: &str,
    fault: Fault,
    times: Option<u64>,
) {
    let mut mock = Mock::given(method(verb))
        .and(path(full_path))
        .respond_with(FaultResponder {
            state: Arc::clone(state),
            fault,
        })
        .with_priority(1);
    if let Some(times) = times {
        mock = mock.up_to_n_times(times);
    }
    mock.mount(server).await;
}

struct FaultResponder {
    state: Shared,
    fault: Fault,
}

impl Respond for FaultResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let caller = auth::identify(&state, request);
        state.log(LoggedRequest {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            caller,
            status: self.fault.status,
        });
        let reply = self.fault.headers.iter().fold(
            Reply::error(self.fault.status, &self.fault.message),
            |reply, (name, value)| reply.with_header(name, value),
        );
        reply.into_template()
    }
}
