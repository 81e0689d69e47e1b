//! Credentials for the remote: the token stays a [`SecretString`] and is exposed only inside the git2
//! credentials callback, which answers once per operation and gives up on the next call (libgit2 calls
//! it again after every refusal, forever).

use std::cell::Cell;

use secrecy::{ExposeSecret, SecretString};

use super::WorkspaceError;

/// How the workspace authenticates to its remote: nothing (file://, local paths, public repositories)
/// or a token sent as `x-access-token:<token>` over HTTP Basic, as GitHub expects.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The one URL the token may be sent to (the remote the workspace was cloned from): the work tree is
    /// the agent's during a run, and a `pushurl` or `insteadOf` it wrote into `.git/config` must not
    /// carry the token elsewhere. `None`: any (a token given without a clone URL).
    pinned: Option<String>,
    token: Option<SecretString>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.token.is_some() {
            "token(redacted)"
        } else {
            "none"
        };
        f.write_str(shown)
    }
}

impl Credentials {
    pub fn none() -> Self {
        Self {
            token: None,
            pinned: None,
        }
    }

    pub fn token(token: SecretString) -> Self {
        Self {
            token: Some(token),
            pinned: None,
        }
    }

    /// The same credentials, sent only to `url`.
    pub(super) fn pinned_to(mut self, url: &str) -> Self {
        self.pinned = Some(url.to_owned());
        self
    }
}

/// What the callback saw during one remote operation, to turn libgit2's error into a clear one.
#[derive(Default)]
pub(super) struct AuthAttempt {
    calls: Cell<u32>,
    refused: Cell<bool>,
    missing: Cell<bool>,
    /// The URL an operation asked the token for, and the one it is pinned to, when they differ.
    diverted: std::cell::RefCell<Option<(String, String)>>,
}

impl AuthAttempt {
    /// Remote callbacks that answer credential requests from `credentials`, once.
    pub(super) fn callbacks<'a>(
        &'a self,
        credentials: &'a Credentials,
    ) -> git2::RemoteCallbacks<'a> {
        let mut callbacks = git2::RemoteCallbacks::new();
        callbacks.credentials(move |url, _username, allowed| {
            if let Some(pinned) = &credentials.pinned
                && url != pinned
            {
                *self.diverted.borrow_mut() = Some((url.to_owned(), pinned.clone()));
                return Err(git2::Error::from_str(&format!(
                    "refusing to send the token to {url}: the repository's git config points away from \
                     {pinned}, where it was cloned from"
                )));
            }
            let Some(token) = &credentials.token else {
                self.missing.set(true);
                return Err(git2::Error::from_str(
                    "the server asks for credentials and no token was given",
                ));
            };
            let calls = self.calls.get() + 1;
            self.calls.set(calls);
            if calls > 1 {
                self.refused.set(true);
                return Err(git2::Error::from_str("the token was refused"));
            }
            if !allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
                return Err(git2::Error::from_str(
                    "the server does not accept a username and token",
                ));
            }
            git2::Cred::userpass_plaintext("x-access-token", token.expose_secret())
        });
        callbacks
    }

    /// The error for a failed operation on `url`: a refused or missing token, else the git error.
    pub(super) fn error(&self, url: &str, action: &str, source: git2::Error) -> WorkspaceError {
        if let Some((url, pinned)) = self.diverted.borrow_mut().take() {
            return WorkspaceError::TokenDiverted { url, pinned };
        }
        let url = url.to_owned();
        if self.refused.get()
            || (source.class() == git2::ErrorClass::Http && is_auth_failure(&source))
        {
            WorkspaceError::TokenRefused { url }
        } else if self.missing.get() {
            WorkspaceError::TokenMissing { url }
        } else {
            WorkspaceError::Git {
                action: action.to_owned(),
                source,
            }
        }
    }
}

/// libgit2 reports some refusals without calling the callback again (e.g. a 401 after the answer).
fn is_auth_failure(error: &git2::Error) -> bool {
    error.code() == git2::ErrorCode::Auth || error.message().contains("401")
}

/// Refuse URLs with a user name or password in them: git would store them in `.git/config`.
pub(super) fn check_url(url: &str) -> Result<(), WorkspaceError> {
    match url::Url::parse(url) {
        Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            Err(WorkspaceError::CredentialsInUrl)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{WorkspaceError, check_url, is_auth_failure};

    #[test]
    fn a_url_with_a_user_or_password_is_refused_and_others_pass() {
        for url in [
            "https://x-access-token:secret@github.com/o/r.git",
            "https://someone@github.com/o/r.git",
        ] {
            assert!(
                matches!(check_url(url), Err(WorkspaceError::CredentialsInUrl)),
                "{url}"
            );
        }
        for url in [
            "https://github.com/o/r.git",
            "file:///srv/git/r.git",
            "/srv/git/r",
            "relative/path",
        ] {
            assert!(check_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn a_401_or_an_auth_code_is_a_refusal() {
        let auth = git2::Error::new(git2::ErrorCode::Auth, git2::ErrorClass::Http, "denied");
        let status = git2::Error::new(
            git2::ErrorCode::GenericError,
            git2::ErrorClass::Http,
            "unexpected http status code: 401",
        );
        let other = git2::Error::new(
            git2::ErrorCode::GenericError,
            git2::ErrorClass::Http,
            "unexpected http status code: 500",
        );
        assert!(is_auth_failure(&auth) && is_auth_failure(&status));
        assert!(!is_auth_failure(&other));
    }
}
