//! The fake's model of GitHub: apps, installations, tokens, who a caller is, and a log of every request
//! it answered. What lives in repositories is in `model.rs`; its rules in `world.rs` and `pull_rules.rs`.
//!
//! Invariants:
//! - State changes only through methods of [`GitHubState`], so each rule lives in one place.
//! - A token is valid while `now < expires_at`; an unknown token and an expired token are both answered
//!   401 "Bad credentials", exactly as GitHub does.
//! - Every answered request is logged through [`GitHubState::log`], which wakes the waiters of
//!   [`GitHubState::changes`]: a test waits for GitHub to change, never sleeps.
//! - Every minted token is kept (in mint order), so a test can count mints and see which token a request used.
//! - A static token (an Action's `GITHUB_TOKEN`) never expires and acts as `github-actions[bot]` through
//!   the GitHub Actions App; an installation token acts as the App's bot, `<slug>[bot]`, through its App.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;

use super::model::{CheckRun, Comment, Issue, Reaction, Repo, User};

/// The account an Action's `GITHUB_TOKEN` acts as.
pub const ACTIONS_BOT_LOGIN: &str = "github-actions[bot]";
pub const ACTIONS_BOT_ID: u64 = 41_898_282;
/// The App an Action's `GITHUB_TOKEN` writes through (`performed_via_github_app` of its comments).
pub const ACTIONS_APP_ID: u64 = 15_368;
/// App bot accounts get ids from here on (`BOT_ID_BASE + app id`).
pub const BOT_ID_BASE: u64 = 90_000_000;

/// A GitHub App: its id, slug and the public half of its key (to verify its JWTs).
#[derive(Debug, Clone)]
pub struct App {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub public_key_pem: String,
    /// Granted permissions (`contents` → `write`, …), as `GET /app` shows them.
    pub permissions: BTreeMap<String, String>,
    /// Subscribed webhook events.
    pub events: Vec<String>,
    /// Where GitHub delivers its webhooks (`GET /app/hook/config`).
    pub webhook_url: Option<String>,
}

impl App {
    /// An App granted what metagpt-bot's manifest asks for, delivering to `https://bot.example.com`.
    pub fn granted(id: u64, slug: &str, name: &str, public_key_pem: &str) -> App {
        let needs = metagpt_bot::github::manifest::needs();
        App {
            id,
            slug: slug.to_owned(),
            name: name.to_owned(),
            public_key_pem: public_key_pem.to_owned(),
            permissions: needs.permissions,
            events: needs.events,
            webhook_url: Some("https://bot.example.com/api/github/webhooks".to_owned()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Installation {
    pub id: u64,
    pub app_id: u64,
    pub account: User,
    /// Full names (`owner/name`) of the repositories the installation can see.
    pub repositories: BTreeSet<String>,
    pub suspended: bool,
}

/// One installation token the fake handed out.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub token: String,
    pub installation_id: u64,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    /// A valid App JWT.
    App(u64),
    /// A currently valid installation token.
    Installation {
        id: u64,
        token: String,
    },
    /// Credentials GitHub would refuse with 401, and why.
    Refused(String),
}

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// The full path, prefix included.
    pub path: String,
    pub caller: Caller,
    pub status: u16,
}

/// The lifetime of a token when the test did not queue one: GitHub's one hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::hours(1);

#[derive(Debug, Default)]
pub struct GitHubState {
    pub apps: BTreeMap<u64, App>,
    pub installations: BTreeMap<u64, Installation>,
    /// Repositories by full name.
    pub repos: BTreeMap<String, Repo>,
    pub minted: Vec<MintedToken>,
    pub requests: Vec<LoggedRequest>,
    /// Requests no route of the fake expected (method and path).
    pub unexpected: Vec<String>,
    /// Issue comments of every repository, in creation order (ids are global).
    pub comments: Vec<Comment>,
    pub reactions: Vec<Reaction>,
    pub check_runs: Vec<CheckRun>,
    /// Tokens that never expire (an Action's `GITHUB_TOKEN`), with their installation.
    pub static_tokens: BTreeMap<String, u64>,
    /// The last id handed out for comments, reactions and check runs.
    pub last_id: u64,
    token_lifetimes: VecDeque<Duration>,
    /// Answers a scenario slowed down, each once: (method, path ending, body fragment, delay).
    pub slow_answers: Vec<SlowAnswer>,
    /// Comment listings show `performed_via_github_app: null`, as GitHub documents it may.
    pub listings_without_app: bool,
    /// The manifest flow: the App a posted manifest creates, its codes, the manifests posted.
    pub manifests: super::manifests::Manifests,
    /// Counts the answered requests; a test waits on it instead of sleeping.
    changes: watch::Sender<u64>,
}

/// One request to answer late: the next one whose method is `method`, whose path ends with `path_end`
/// and whose body contains `body_has` is answered normally, `delay` later (the fake's other requests are
/// answered meanwhile). The state has changed, and the request is logged, before the delay starts, so a
/// test can wait for the request and act while its answer is on the way.
#[derive(Debug, Clone)]
pub struct SlowAnswer {
    pub method: String,
    pub path_end: String,
    pub body_has: String,
    pub delay: std::time::Duration,
}

impl GitHubState {
    /// The delay of the first slow answer `request` matches, taken (each slows one answer).
    pub fn take_slow_answer(&mut self, request: &wiremock::Request) -> Option<std::time::Duration> {
        let body = String::from_utf8_lossy(&request.body);
        let found = self.slow_answers.iter().position(|slow| {
            request.method.as_str() == slow.method
                && request.url.path().ends_with(&slow.path_end)
                && body.contains(&slow.body_has)
        })?;
        Some(self.slow_answers.remove(found).delay)
    }

    /// Records an answered request, after its handler changed the state, and wakes whoever waits on
    /// [`GitHubState::changes`].
    pub fn log(&mut self, request: LoggedRequest) {
        self.requests.push(request);
        self.changes.send_modify(|count| *count += 1);
    }

    /// A receiver that sees every request answered from now on (the state has changed by then).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn add_app(&mut self, app: App) {
        self.apps.insert(app.id, app);
    }

    pub fn add_installation(&mut self, id: u64, app_id: u64, account: User) {
        let installation = Installation {
            id,
            app_id,
            account,
            repositories: BTreeSet::new(),
            suspended: false,
        };
        self.installations.insert(id, installation);
    }

    /// Adds a repository, visible to `installation_id`.
    pub fn add_repo(&mut self, installation_id: u64, id: u64, owner: User, name: &str) {
        let full_name = format!("{}/{name}", owner.login);
        let repo = Repo {
            id,
            owner,
            name: name.to_owned(),
            issues: BTreeMap::new(),
            default_branch: "main".to_owned(),
            clone_url: format!("https://github.com/{full_name}.git"),
            fork: false,
            private: false,
            git_dir: None,
            files: BTreeMap::new(),
            collaborators: BTreeMap::new(),
            pulls: BTreeMap::new(),
        };
        if let Some(installation) = self.installations.get_mut(&installation_id) {
            installation.repositories.insert(full_name.clone());
        }
        self.repos.insert(full_name, repo);
    }

    pub fn add_issue(&mut self, full_name: &str, issue: Issue) {
        let repo = self
            .repos
            .get_mut(full_name)
            .expect("add the repository before its issues");
        repo.issues.insert(issue.number, issue);
    }

    pub fn suspend_installation(&mut self, id: u64) {
        if let Some(installation) = self.installations.get_mut(&id) {
            installation.suspended = true;
        }
    }

    /// Revokes a minted token: GitHub answers 401 to it from now on, whatever its expiry.
    pub fn revoke_token(&mut self, token: &str) {
        for minted in self
            .minted
            .iter_mut()
            .filter(|minted| minted.token == token)
        {
            minted.revoked = true;
        }
    }

    /// The next mints give tokens living these durations (negative: already expired), in order.
    pub fn queue_token_lifetimes(&mut self, lifetimes: &[Duration]) {
        self.token_lifetimes.extend(lifetimes.iter().copied());
    }

    pub fn mint(&mut self, installation_id: u64) -> MintedToken {
        let lifetime = self
            .token_lifetimes
            .pop_front()
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let minted = MintedToken {
            token: format!("ghs_fake{:032}", self.minted.len() + 1),
            installation_id,
            expires_at: Utc::now() + lifetime,
            revoked: false,
        };
        self.minted.push(minted.clone());
        minted
    }

    /// Accepts `token` for `installation_id` from now on, for ever (an Action's `GITHUB_TOKEN`).
    pub fn add_static_token(&mut self, token: &str, installation_id: u64) {
        self.static_tokens.insert(token.to_owned(), installation_id);
    }

    /// The account a caller's writes are attributed to: the App's bot or `github-actions[bot]`.
    pub fn actor(&self, caller: &Caller) -> Option<User> {
        let Caller::Installation { id, token } = caller else {
            return None;
        };
        if self.static_tokens.contains_key(token) {
            return Some(User::new(ACTIONS_BOT_LOGIN, ACTIONS_BOT_ID));
        }
        self.app_bot(self.installations.get(id)?.app_id)
    }

    /// The App a caller's writes are made through (`performed_via_github_app`).
    pub fn acting_app(&self, caller: &Caller) -> Option<u64> {
        let Caller::Installation { id, token } = caller else {
            return None;
        };
        if self.static_tokens.contains_key(token) {
            return Some(ACTIONS_APP_ID);
        }
        Some(self.installations.get(id)?.app_id)
    }

    /// The bot account of App `app_id` (`<slug>[bot]`), which its installation tokens act as.
    pub fn app_bot(&self, app_id: u64) -> Option<User> {
        let app = self.apps.get(&app_id)?;
        Some(User::new(
            &format!("{}[bot]", app.slug),
            BOT_ID_BASE + app.id,
        ))
    }

    /// A fresh global id for a comment, reaction or check run.
    pub fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        1_000_000 + self.last_id
    }

    /// Who presents `token` as a bearer token, unless it is a JWT (see `auth`).
    pub fn installation_caller(&self, token: &str) -> Caller {
        if let Some(id) = self.static_tokens.get(token) {
            return Caller::Installation {
                id: *id,
                token: token.to_owned(),
            };
        }
        let refused = || Caller::Refused("Bad credentials".to_owned());
        let Some(minted) = self.minted.iter().find(|minted| minted.token == token) else {
            return refused();
        };
        let suspended = self
            .installations
            .get(&minted.installation_id)
            .is_none_or(|installation| installation.suspended);
        if minted.revoked || Utc::now() >= minted.expires_at || suspended {
            return refused();
        }
        Caller::Installation {
            id: minted.installation_id,
            token: token.to_owned(),
        }
    }

    /// Whether `installation_id` can see `full_name`.
    pub fn can_see(&self, installation_id: u64, full_name: &str) -> bool {
        self.installations
            .get(&installation_id)
            .is_some_and(|installation| installation.repositories.contains(full_name))
    }
}
