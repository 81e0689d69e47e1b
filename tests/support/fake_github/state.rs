//! The fake's model of GitHub: apps, installations, repositories, issues, minted tokens, and a log of
//! every request it answered.
//!
//! Invariants:
//! - State changes only through these methods, so later handlers (PRs, comments, check runs) add fields
//!   and methods here and keep the rules in one place.
//! - A token is valid while `now < expires_at`; an unknown token and an expired token are both answered
//!   401 "Bad credentials", exactly as GitHub does.
//! - Every minted token is kept (in mint order), so a test can count mints and see which token a request used.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// A GitHub App: its id, slug and the public half of its key (to verify its JWTs).
#[derive(Debug, Clone)]
pub struct App {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub public_key_pem: String,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub id: u64,
}

impl User {
    pub fn new(login: &str, id: u64) -> Self {
        Self {
            login: login.to_owned(),
            id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: u64,
    pub owner: User,
    pub name: String,
    pub issues: BTreeMap<u64, Issue>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner.login, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    pub user: User,
    pub is_pull_request: bool,
}

impl Issue {
    /// An open issue with no labels.
    pub fn open(number: u64, title: &str, body: &str, user: User) -> Self {
        Self {
            number,
            title: title.to_owned(),
            body: Some(body.to_owned()),
            labels: Vec::new(),
            state: "open".to_owned(),
            user,
            is_pull_request: false,
        }
    }

    pub fn with_labels(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|label| (*label).to_owned()).collect();
        self
    }
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
    token_lifetimes: VecDeque<Duration>,
}

impl GitHubState {
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
        let repo = Repo {
            id,
            owner,
            name: name.to_owned(),
            issues: BTreeMap::new(),
        };
        let full_name = repo.full_name();
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

    /// Who presents `token` as a bearer token, unless it is a JWT (see `auth`).
    pub fn installation_caller(&self, token: &str) -> Caller {
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
