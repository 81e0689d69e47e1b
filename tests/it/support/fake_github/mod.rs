//! A stateful fake GitHub on 127.0.0.1 for tests: wiremock responders over a small model of GitHub
//! (apps and their registration from a manifest, installations, tokens, repositories with their files,
//! collaborators, issues, comments, reactions, pull requests and check runs), in the style of
//! rust-lang/bors' test mocks.
//!
//! Invariants:
//! - The fake checks credentials as GitHub does: App JWTs are verified with the test App's public key
//!   (RS256, `iss`, `exp`, `iat`), installation tokens must be minted by it and not expired.
//! - Every answered request is in [`FakeGitHub::requests`]; any request no route expected (or whose body
//!   GitHub does not document) is recorded and fails the test: at [`FakeGitHub::assert_no_unexpected`],
//!   or when the fake is dropped.
//! - An optional path prefix (`/api/v3`) puts every endpoint under it, like GitHub Enterprise Server.
//! - To model more of GitHub, add data in `model.rs`, rules as `GitHubState` methods (`world.rs`,
//!   `pull_rules.rs`) and one small handler file per area.

mod app;
mod auth;
mod checks;
mod comments;
mod faults;
mod graphql;
mod issues;
pub mod manifests;
pub mod model;
mod permissions;
mod pull_rules;
mod pulls;
mod reactions;
mod repos;
mod route;
pub mod state;
mod unexpected;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use wiremock::MockServer;

pub use faults::Fault;
pub use model::{CheckRun, Issue, Pull, ReactionOn, User};
use route::{Router, Shared, lock};
pub use state::{
    ACTIONS_APP_ID, ACTIONS_BOT_LOGIN, App, Caller, GitHubState, LoggedRequest, MintedToken,
    SlowAnswer,
};

/// The throwaway test App's private key (PKCS#1 PEM, as GitHub issues them).
pub const TEST_APP_KEY: &str = include_str!("../../../fixtures/keys/test-app.pem");
/// Its public half, which the fake uses to verify JWTs.
pub const TEST_APP_PUBLIC_KEY: &str = include_str!("../../../fixtures/keys/test-app.pub.pem");
/// A key no App of the fake knows.
pub const OTHER_KEY: &str = include_str!("../../../fixtures/keys/other-app.pem");

/// The id of the App [`FakeGitHub::start`] registers.
pub const TEST_APP_ID: u64 = 4242;
pub const TEST_APP_SLUG: &str = "metagpt-bot-test";

pub struct FakeGitHub {
    server: MockServer,
    state: Shared,
    prefix: String,
}

impl FakeGitHub {
    /// A fake serving at the root (`http://127.0.0.1:PORT/app`, ...) with the test App registered.
    pub async fn start() -> Self {
        Self::start_with_prefix("").await
    }

    /// A fake serving under `prefix` (e.g. `/api/v3`, as GitHub Enterprise Server does).
    pub async fn start_with_prefix(prefix: &str) -> Self {
        assert!(
            prefix.is_empty() || (prefix.starts_with('/') && !prefix.ends_with('/')),
            "a prefix looks like /api/v3"
        );
        assert!(
            prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '/'),
            "plain prefix only"
        );
        let server = MockServer::start().await;
        let mut state = GitHubState::default();
        state.add_app(App::granted(
            TEST_APP_ID,
            TEST_APP_SLUG,
            "MetaGPT bot (test)",
            TEST_APP_PUBLIC_KEY,
        ));
        // GitHub Actions writes a job token's comments; no JWT of it ever verifies (no key).
        state.add_app(App::granted(
            ACTIONS_APP_ID,
            "github-actions",
            "GitHub Actions",
            "",
        ));
        let state = Arc::new(Mutex::new(state));
        let router = Router {
            server: &server,
            state: &state,
            prefix,
        };
        app::mount(&router).await;
        issues::mount(&router).await;
        repos::mount(&router).await;
        permissions::mount(&router).await;
        comments::mount(&router).await;
        reactions::mount(&router).await;
        pulls::mount(&router).await;
        graphql::mount(&router).await;
        checks::mount(&router).await;
        manifests::mount(&router).await;
        unexpected::mount(&server, &state).await;
        Self {
            server,
            state,
            prefix: prefix.to_owned(),
        }
    }

    /// The value for `GITHUB_API_URL`: the server's address plus the prefix.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.server.uri(), self.prefix)
    }

    /// The model, to set up a scenario or inspect what happened.
    pub fn state(&self) -> MutexGuard<'_, GitHubState> {
        lock(&self.state)
    }

    /// Makes `verb path` (path without the prefix) answer `fault`, `times` times or always (`None`).
    pub async fn inject(&self, verb: &str, path: &str, fault: Fault, times: Option<u64>) {
        let full_path = format!("{}{path}", self.prefix);
        faults::mount(&self.server, &self.state, verb, &full_path, fault, times).await;
    }

    /// A check a git server can use to accept exactly the tokens GitHub would accept now (minted
    /// installation tokens that are neither expired nor revoked, and static Action tokens).
    pub fn token_check(&self) -> Arc<dyn Fn(&str) -> bool + Send + Sync> {
        let state = self.state.clone();
        Arc::new(move |token: &str| {
            matches!(
                lock(&state).installation_caller(token),
                Caller::Installation { .. }
            )
        })
    }

    /// Every installation token minted so far, in order.
    pub fn minted_tokens(&self) -> Vec<MintedToken> {
        self.state().minted.clone()
    }

    /// Wakes on every request answered from now on: what a test waits on for the bot to act on GitHub.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.state().changes()
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().requests.clone()
    }

    /// Requests (`METHOD path`) that no route expected, taken out of the record.
    pub fn take_unexpected(&self) -> Vec<String> {
        std::mem::take(&mut self.state().unexpected)
    }

    /// Fails the test if any request reached the fake that no route expected.
    pub fn assert_no_unexpected(&self) {
        let unexpected = self.take_unexpected();
        assert!(
            unexpected.is_empty(),
            "the fake GitHub got requests no test expected: {unexpected:#?}"
        );
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_unexpected();
        }
    }
}
