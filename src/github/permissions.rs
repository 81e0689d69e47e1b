//! A user's permission on a repository, checked by numeric user id.
//!
//! Invariants:
//! - The answer is trusted only for the account the caller meant: GitHub looks the login up, and a login
//!   can change hands after a rename, so if the answer's `user.id` is not the id from the event the user
//!   has [`Permission::None`].
//! - `role_name` decides (`admin`, `maintain`, `write`, `triage`, `read`); a custom role falls back to
//!   `permission`, its base (`admin`, `write`, `read`, `none`). Anything unknown is `None`.
//! - 404 (no such user, or not a collaborator) is `None`, not an error. A GitHub App's bot account
//!   (`name[bot]`) cannot be a collaborator, so it is `None` without asking.
//! - Only write, maintain and admin may trigger runs ([`Permission::can_trigger`]).

use std::fmt;

use octocrab::Octocrab;
use serde::Deserialize;

use super::GitHubError;
use super::call::{observe, path_segment};
use super::repos::repo_route;

/// A repository role, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    None,
}

impl Permission {
    /// Whether this role may start a run (it can push to the repository).
    pub fn can_trigger(self) -> bool {
        matches!(
            self,
            Permission::Admin | Permission::Maintain | Permission::Write
        )
    }

    fn from_role_name(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Permission::Admin),
            "maintain" => Some(Permission::Maintain),
            "write" => Some(Permission::Write),
            "triage" => Some(Permission::Triage),
            "read" => Some(Permission::Read),
            "none" => Some(Permission::None),
            _ => None,
        }
    }

    fn from_answer(answer: &WirePermission) -> Self {
        answer
            .role_name
            .as_deref()
            .and_then(Self::from_role_name)
            .or_else(|| Self::from_role_name(&answer.permission))
            .unwrap_or(Permission::None)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::Admin => "admin",
            Permission::Maintain => "maintain",
            Permission::Write => "write",
            Permission::Triage => "triage",
            Permission::Read => "read",
            Permission::None => "none",
        })
    }
}

#[derive(Deserialize)]
struct WirePermission {
    permission: String,
    #[serde(default)]
    role_name: Option<String>,
    user: Option<WireUser>,
}

#[derive(Deserialize)]
struct WireUser {
    id: u64,
}

/// `GET /repos/{owner}/{repo}/collaborators/{login}/permission`, accepted only for account `user_id`.
pub async fn permission_of(
    client: &Octocrab,
    owner: &str,
    repo: &str,
    user_id: u64,
    login: &str,
) -> Result<Permission, GitHubError> {
    const OPERATION: &str = "permission_of";
    let base = repo_route(OPERATION, owner, repo)?;
    if login.ends_with("[bot]") {
        return Ok(Permission::None);
    }
    let login = path_segment(OPERATION, "user", login)?;
    let route = format!("{base}/collaborators/{login}/permission");
    match observe(OPERATION, client.get(route, None::<&()>)).await {
        Ok(answer) => Ok(checked(user_id, &answer)),
        Err(error) if error.status() == Some(404) => Ok(Permission::None),
        Err(error) => Err(error),
    }
}

fn checked(user_id: u64, answer: &WirePermission) -> Permission {
    match &answer.user {
        Some(user) if user.id == user_id => Permission::from_answer(answer),
        _ => Permission::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(permission: &str, role_name: Option<&str>, id: u64) -> WirePermission {
        let json = serde_json::json!({
            "permission": permission,
            "role_name": role_name,
            "user": { "login": "alice", "id": id },
        });
        serde_json::from_value(json).expect("wire shape")
    }

    #[test]
    fn role_name_decides_and_custom_roles_fall_back_to_their_base() {
        let cases = [
            ("admin", Some("admin"), Permission::Admin),
            ("write", Some("maintain"), Permission::Maintain),
            ("write", Some("write"), Permission::Write),
            ("read", Some("triage"), Permission::Triage),
            ("read", Some("read"), Permission::Read),
            ("write", Some("release-manager"), Permission::Write),
            ("read", None, Permission::Read),
            ("none", Some("custom"), Permission::None),
            ("weird", Some("custom"), Permission::None),
        ];
        for (permission, role, expected) in cases {
            assert_eq!(
                checked(7, &answer(permission, role, 7)),
                expected,
                "{role:?}"
            );
        }
    }

    #[test]
    fn an_answer_about_another_account_is_no_permission() {
        assert_eq!(
            checked(7, &answer("admin", Some("admin"), 8)),
            Permission::None
        );
    }

    #[test]
    fn only_writers_and_above_trigger() {
        let triggering: Vec<String> = [
            Permission::Admin,
            Permission::Maintain,
            Permission::Write,
            Permission::Triage,
            Permission::Read,
            Permission::None,
        ]
        .into_iter()
        .filter(|permission| permission.can_trigger())
        .map(|permission| permission.to_string())
        .collect();
        assert_eq!(triggering, ["admin", "maintain", "write"]);
    }
}
