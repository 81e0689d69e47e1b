//! Which comments are ours, and how comments decode.

use super::*;

fn wire(login: &str, kind: &str, body: Option<&str>) -> WireComment {
    via(login, kind, body, None)
}

fn via(login: &str, kind: &str, body: Option<&str>, app: Option<u64>) -> WireComment {
    let app = app.map(|id| serde_json::json!({ "id": id, "slug": "some-app" }));
    let json = serde_json::json!({
        "id": 1, "html_url": "u", "body": body, "user": { "login": login, "type": kind },
        "performed_via_github_app": app,
    });
    serde_json::from_value(json).expect("wire shape")
}

#[test]
fn the_app_trusts_only_its_own_bots_comments() {
    let ours = OwnAuthor::App(42);
    assert!(via("metagpt[bot]", "Bot", None, Some(42)).written_by(&ours));
    assert!(!via("renovate[bot]", "Bot", None, Some(7)).written_by(&ours));
    assert!(!via("metagpt[bot]", "Bot", None, None).written_by(&ours));
    // A person acting through the App (a user-to-server token) is not the App's bot.
    assert!(!via("alice", "User", None, Some(42)).written_by(&ours));
}

#[test]
fn a_token_trusts_only_its_accounts_comments() {
    let ours = OwnAuthor::Login("github-actions[bot]".to_owned());
    assert!(via("github-actions[bot]", "Bot", None, Some(15368)).written_by(&ours));
    assert!(!via("renovate[bot]", "Bot", None, Some(7)).written_by(&ours));
    assert!(!wire("alice", "User", None).written_by(&ours));
}

#[test]
fn bots_are_known_by_login_suffix_or_type() {
    assert!(wire("metagpt-bot[bot]", "Bot", None).by_bot());
    assert!(wire("github-actions[bot]", "", None).by_bot());
    assert!(wire("renovate", "Bot", None).by_bot());
    assert!(!wire("alice", "User", None).by_bot());
}

#[test]
fn a_comment_without_body_or_user_decodes_empty() {
    let json = serde_json::json!({ "id": 5, "html_url": "u", "body": null, "user": null });
    let comment: Comment = serde_json::from_value::<WireComment>(json)
        .expect("wire shape")
        .into();
    assert_eq!(
        (comment.body.as_str(), comment.user_login.as_str()),
        ("", "")
    );
}
