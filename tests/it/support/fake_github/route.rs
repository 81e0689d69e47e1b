//! The plumbing between wiremock and the fake's handlers: one [`Route`] responder per endpoint, which
//! identifies the caller, hands the handler the state and the path segments, and logs the answer.
//!
//! Invariants:
//! - Every answered request is logged in [`GitHubState::requests`], whichever handler answered it.
//! - Handlers are plain functions of the state and the [`Call`]; they never see wiremock, so adding an
//!   endpoint is one function and one `route` line.
//! - Paths are matched and split after the optional prefix (`/api/v3` for a GHES-style base).
//! - A request body GitHub's docs do not describe (bad JSON, a missing or unknown field) is answered 422
//!   *and* recorded as unexpected, so a client bug fails the test even if the client copes with the 422.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::auth;
use super::state::{Caller, GitHubState, LoggedRequest};

pub type Shared = Arc<Mutex<GitHubState>>;

pub fn lock(state: &Shared) -> MutexGuard<'_, GitHubState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a handler sees of a request.
pub struct Call<'a> {
    pub caller: Caller,
    /// The path after the prefix, split on `/` (`["repos", "o", "r", "issues", "1"]`).
    pub segments: Vec<&'a str>,
    pub request: &'a Request,
}

impl Call<'_> {
    pub fn segment(&self, index: usize) -> &str {
        self.segments.get(index).copied().unwrap_or_default()
    }

    pub fn number(&self, index: usize) -> Option<u64> {
        self.segment(index).parse().ok()
    }

    /// The installation a request authenticated as, or GitHub's answer to a request that did not.
    pub fn installation(&self) -> Result<u64, Reply> {
        match &self.caller {
            Caller::Installation { id, .. } => Ok(*id),
            Caller::Refused(message) => Err(Reply::error(401, message)),
            Caller::App(_) => Err(Reply::error(403, "Resource not accessible by integration")),
            Caller::Anonymous => Err(Reply::not_found()),
        }
    }

    /// The repository named by `/repos/{owner}/{name}/...`, if it exists and the caller's installation
    /// can see it; GitHub answers 404 otherwise (a hidden repository looks like a missing one).
    pub fn repo(&self, state: &GitHubState) -> Result<String, Reply> {
        let installation = self.installation()?;
        let full_name = format!("{}/{}", self.segment(1), self.segment(2));
        if state.can_see(installation, &full_name) && state.repos.contains_key(&full_name) {
            Ok(full_name)
        } else {
            Err(Reply::not_found())
        }
    }

    /// The value of query parameter `name`, if present.
    pub fn query(&self, name: &str) -> Option<String> {
        self.request
            .url
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The request body as `T`; a body GitHub would refuse is answered 422 and recorded as unexpected.
    pub fn body<T: DeserializeOwned>(&self, state: &mut GitHubState) -> Result<T, Reply> {
        serde_json::from_slice(&self.request.body).map_err(|error| {
            state.unexpected.push(format!(
                "{} {} with a body GitHub does not document: {error}",
                self.request.method,
                self.request.url.path()
            ));
            Reply::error(422, "Invalid request.")
        })
    }

    /// The App a request authenticated as (by JWT), or GitHub's answer to a request that did not.
    pub fn app(&self) -> Result<u64, Reply> {
        match &self.caller {
            Caller::App(id) => Ok(*id),
            Caller::Refused(message) => Err(Reply::error(401, message)),
            _ => Err(Reply::error(401, "A JSON web token could not be decoded")),
        }
    }
}

/// A JSON answer.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// GitHub's error body: `message`, `documentation_url`, `status`.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(
            status,
            json!({
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": status.to_string(),
            }),
        )
    }

    pub fn not_found() -> Self {
        Self::error(404, "Not Found")
    }

    /// GitHub's 422 "Validation Failed" with its `errors` entries.
    pub fn validation(errors: Value) -> Self {
        let mut reply = Self::error(422, "Validation Failed");
        reply.body["errors"] = errors;
        reply
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn into_template(self) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status).set_body_json(self.body);
        for (name, value) in self.headers {
            template = template.insert_header(name.as_str(), value.as_str());
        }
        template
    }
}

/// A handler answers one endpoint from the state.
pub type Handler = fn(&mut GitHubState, &Call<'_>) -> Reply;

/// Mounts routes on the fake's server.
pub struct Router<'a> {
    pub server: &'a MockServer,
    pub state: &'a Shared,
    pub prefix: &'a str,
}

impl Router<'_> {
    /// Answers `verb` on paths matching `pattern` (a regex, without the prefix) with `handler`.
    pub async fn route(&self, verb: &str, pattern: &str, handler: Handler) {
        let responder = Route {
            state: Arc::clone(self.state),
            prefix: self.prefix.to_owned(),
            handler,
        };
        Mock::given(method(verb))
            .and(path_regex(format!("^{}{pattern}$", self.prefix)))
            .respond_with(responder)
            .mount(self.server)
            .await;
    }
}

struct Route {
    state: Shared,
    prefix: String,
    handler: Handler,
}

impl Respond for Route {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let slow = state.take_slow_answer(request);
        let reply = answer(&mut state, &self.prefix, request, self.handler);
        match slow {
            Some(delay) => reply.into_template().set_delay(delay),
            None => reply.into_template(),
        }
    }
}

/// Identifies the caller, runs `handler` and logs the request with its answer.
pub fn answer(state: &mut GitHubState, prefix: &str, request: &Request, handler: Handler) -> Reply {
    let caller = auth::identify(state, request);
    let path = request.url.path();
    let local = path.strip_prefix(prefix).unwrap_or(path);
    let call = Call {
        caller: caller.clone(),
        segments: local.trim_start_matches('/').split('/').collect(),
        request,
    };
    let reply = handler(state, &call);
    state.log(LoggedRequest {
        method: request.method.to_string(),
        path: path.to_owned(),
        caller,
        status: reply.status,
    });
    reply
}
