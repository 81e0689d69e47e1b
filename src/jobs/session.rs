//! Who the pipeline is on GitHub: an API client and where its git tokens come from.
//!
//! The App acts as one installation (its shared octocrab client and installation tokens minted with a
//! buffer right before each clone and push); the Action acts with the job's `GITHUB_TOKEN`, which lives
//! as long as the job.
//!
//! Invariants: the session knows whose comments are its own ([`Session::author`]): the App's (by App id)
//! or the job token's account, `github-actions[bot]`. A git token is asked for right before the git
//! operation that needs it, valid for at least [`GIT_TOKEN_VALIDITY`] more, so a long run never pushes with a token that expired during the run; the
//! token is a `SecretString` end to end (into the workspace's credentials callback and nowhere else).

use std::sync::Arc;
use std::time::Duration;

use octocrab::Octocrab;
use secrecy::SecretString;

use crate::github::{GitHubApp, GitHubError, OwnAuthor};

/// How long a git token handed to a clone, fetch or push must still be valid.
pub const GIT_TOKEN_VALIDITY: Duration = Duration::from_secs(10 * 60);

enum Tokens {
    App {
        app: Arc<GitHubApp>,
        installation: u64,
    },
    Static(SecretString),
}

/// An API client plus a source of git tokens.
pub struct Session {
    client: Arc<Octocrab>,
    tokens: Tokens,
}

impl Session {
    /// The App, as installation `installation`.
    pub async fn app(app: Arc<GitHubApp>, installation: u64) -> Result<Self, GitHubError> {
        let client = app.installation(installation).await?;
        Ok(Self {
            client,
            tokens: Tokens::App { app, installation },
        })
    }

    /// A fixed token (the Action's `GITHUB_TOKEN`), for the API and for git.
    pub fn with_token(client: Arc<Octocrab>, token: SecretString) -> Self {
        Self {
            client,
            tokens: Tokens::Static(token),
        }
    }

    pub fn client(&self) -> &Octocrab {
        &self.client
    }

    /// Who writes this session's comments, to find them again (and nobody else's).
    pub fn author(&self) -> OwnAuthor {
        match &self.tokens {
            Tokens::App { app, .. } => OwnAuthor::App(app.app_id()),
            Tokens::Static(_) => {
                OwnAuthor::Login(crate::faces::action::ACTIONS_BOT_LOGIN.to_owned())
            }
        }
    }

    /// A token for git over HTTPS, valid for at least [`GIT_TOKEN_VALIDITY`].
    pub async fn git_token(&self) -> Result<SecretString, GitHubError> {
        match &self.tokens {
            Tokens::App { app, installation } => {
                app.git_token(*installation, GIT_TOKEN_VALIDITY).await
            }
            Tokens::Static(token) => Ok(token.clone()),
        }
    }
}
