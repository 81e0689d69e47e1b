//! The GitHub client with the real octocrab against the fake GitHub: the App and its installations
//! (`app`), and the typed operations (`ops`), both on octo-org/widgets.

use std::sync::Arc;

use metagpt_bot::github::{GitHubApp, OwnAuthor, Repo};
use octocrab::Octocrab;
use secrecy::SecretString;

use crate::support::fake_github::{FakeGitHub, Issue, TEST_APP_ID, TEST_APP_KEY, User};

mod app;
mod ops;

const INSTALLATION: u64 = 77;
const OWNER: &str = "octo-org";
const REPO: &str = "widgets";
const FULL_NAME: &str = "octo-org/widgets";

fn alice() -> User {
    User::new("alice", 31)
}

/// The test App installed on `octo-org/widgets`, which has issue #1 by alice (id 31).
fn widgets(fake: &FakeGitHub) {
    let mut state = fake.state();
    let org = User::new(OWNER, 10);
    state.add_installation(INSTALLATION, TEST_APP_ID, org.clone());
    state.add_repo(INSTALLATION, 500, org, REPO);
    let issue = Issue::open(1, "Add a CSV export", "Users want CSV.", alice());
    state.add_issue(FULL_NAME, issue);
}

/// The App client of the test App, against `fake`.
fn app_for(fake: &FakeGitHub) -> GitHubApp {
    GitHubApp::new(
        TEST_APP_ID,
        &SecretString::from(TEST_APP_KEY),
        &fake.api_url(),
    )
    .expect("the test key and the fake's URL are valid settings")
}

/// The installation client on octo-org.
async fn client_for(fake: &FakeGitHub) -> Arc<Octocrab> {
    app_for(fake)
        .installation(INSTALLATION)
        .await
        .expect("installation client")
}

/// `owner/name` through `client`, as the test App (API only: the token is never used for git).
fn repo(client: &Arc<Octocrab>, owner: &str, name: &str) -> Repo {
    let author = OwnAuthor::App {
        id: TEST_APP_ID,
        bot: None,
    };
    repo_as(client, owner, name, &author)
}

/// `owner/name` through `client`, recognising the comments of `we` as its own.
fn repo_as(client: &Arc<Octocrab>, owner: &str, name: &str, we: &OwnAuthor) -> Repo {
    let token = SecretString::from("unused");
    Repo::with_token(client.clone(), token, we.clone(), owner, name).expect("valid names")
}
