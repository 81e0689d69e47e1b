//! The catch-all: any request no route or fault expected is recorded as unexpected and answered 404,
//! so the harness can fail the test (like bors' `assert_empty_queues`).
//!
//! Invariants:
//! - It has the lowest priority, so it answers only what nothing else matched.

use std::sync::Arc;

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::auth;
use super::route::{Reply, Shared, lock};
use super::state::LoggedRequest;

pub async fn mount(server: &MockServer, state: &Shared) {
    Mock::given(any())
        .respond_with(Unexpected {
            state: Arc::clone(state),
        })
        .with_priority(u8::MAX)
        .mount(server)
        .await;
}

struct Unexpected {
    state: Shared,
}

impl Respond for Unexpected {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let caller = auth::identify(&state, request);
        let path = request.url.path().to_owned();
        state.unexpected.push(format!("{} {path}", request.method));
        state.log(LoggedRequest {
            method: request.method.to_string(),
            path,
            caller,
            status: 404,
        });
        Reply::not_found().into_template()
    }
}
