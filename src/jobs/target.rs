//! Which issue a trigger runs for, and whether its sender may ask for it.
//!
//! Invariants:
//! - A label trigger needs no check here: GitHub only lets triage-or-above users label, and intake
//!   accepted only the trigger label.
//! - A comment trigger is checked by the sender's numeric user id: write, maintain or admin runs; anyone
//!   else (read, triage, none, a renamed account) gets one short reply and nothing runs. One: a reply
//!   names the command comment it answers, and a retried job does not answer it again.
//! - A comment on a pull request runs for the issue of the bot's branch `metagpt/issue-<N>`, and only
//!   when the PR's head is that branch of the same repository (never a fork's code), and when the
//!   PR body's marker named that issue at intake (so the job waited in that issue's line).

use octocrab::Octocrab;

use super::Failure;
use crate::domain::{Action, Trigger};
use crate::github::{
    GitHubError, OwnAuthor, Permission, create_comment, find_comment, get_pull, permission_of,
};
use crate::marks;

/// The issue to run, or why not (already answered on GitHub).
pub enum Resolved {
    Run(u64),
    Refused(String),
}

/// Checks the sender and finds the issue (see the module documentation).
pub async fn resolve(
    client: &Octocrab,
    trigger: &Trigger,
    we: &OwnAuthor,
) -> Result<Resolved, Failure> {
    let (owner, name) = (trigger.repo.owner.as_str(), trigger.repo.name.as_str());
    if let Some(permission) = weak_sender(client, trigger)
        .await
        .map_err(Failure::github)?
    {
        let reason = format!(
            "@{} asked for {} but has {permission} permission on {}; only users with write, \
             maintain or admin permission can {}. {}",
            trigger.sender_login,
            command(trigger),
            trigger.repo.full_name(),
            if is_stop(trigger) {
                "stop a run"
            } else {
                "run the bot"
            },
            nothing(trigger)
        );
        reply(client, trigger, we, &reason).await?;
        return Ok(Resolved::Refused(reason));
    }
    if !trigger.is_pull_request {
        return Ok(Resolved::Run(trigger.issue_number));
    }
    let pull = get_pull(client, owner, name, trigger.issue_number)
        .await
        .map_err(Failure::github)?;
    let own_repo = pull.head_repo.as_deref() == Some(pull.base_repo.as_str());
    let issue = marks::branch_issue(&pull.head_ref);
    match issue {
        Some(issue) if own_repo && trigger.work_issue == Some(issue) => Ok(Resolved::Run(issue)),
        Some(issue) if own_repo => {
            let reason = format!(
                "this pull request's description lost the bot's hidden marker \
                 `{}`, so {} cannot be lined up with issue #{issue}'s \
                 runs; comment on issue #{issue} instead. {}",
                marks::issue_marker(issue),
                command(trigger),
                nothing(trigger)
            );
            reply(client, trigger, we, &reason).await?;
            Ok(Resolved::Refused(reason))
        }
        _ => {
            let reason = format!(
                "{} works on the bot's own pull requests (branch `metagpt/issue-<N>` of {}); this \
                 one is `{}` from {}. Comment on the issue instead. {}",
                command(trigger),
                trigger.repo.full_name(),
                pull.head_ref,
                pull.head_repo.as_deref().unwrap_or("a deleted fork"),
                nothing(trigger)
            );
            reply(client, trigger, we, &reason).await?;
            Ok(Resolved::Refused(reason))
        }
    }
}

/// The sender's permission when it is too weak for what the trigger asks (see the module
/// documentation); `None` when the sender may ask, including every label trigger (not looked up).
pub async fn weak_sender(
    client: &Octocrab,
    trigger: &Trigger,
) -> Result<Option<Permission>, GitHubError> {
    if matches!(trigger.action, Action::Run { .. }) {
        return Ok(None);
    }
    let permission = permission_of(
        client,
        &trigger.repo.owner,
        &trigger.repo.name,
        trigger.sender_id,
        &trigger.sender_login,
    )
    .await?;
    Ok((!permission.can_trigger()).then_some(permission))
}

fn is_stop(trigger: &Trigger) -> bool {
    matches!(trigger.action, Action::Stop { .. })
}

fn command(trigger: &Trigger) -> &'static str {
    if is_stop(trigger) {
        "`/metagpt stop`"
    } else {
        "`/metagpt`"
    }
}

fn nothing(trigger: &Trigger) -> &'static str {
    if is_stop(trigger) {
        "Nothing was stopped."
    } else {
        "Nothing was run."
    }
}

/// Answers `trigger` with a short comment, once: a reply to a command comment carries that comment's id
/// in a second hidden marker, and a retried job that finds its own earlier reply posts none.
pub async fn reply(
    client: &Octocrab,
    trigger: &Trigger,
    we: &OwnAuthor,
    text: &str,
) -> Result<(), Failure> {
    let (owner, name, issue) = (
        &trigger.repo.owner,
        &trigger.repo.name,
        trigger.issue_number,
    );
    let answered = match trigger.action.comment_id() {
        Some(comment) => format!("{}\n", marks::reply_to(comment)),
        None => String::new(),
    };
    if !answered.is_empty()
        && find_comment(client, owner, name, issue, answered.trim_end(), we)
            .await
            .map_err(Failure::github)?
            .is_some()
    {
        return Ok(());
    }
    let body = format!("{}\n{answered}{text}", marks::REPLY);
    create_comment(client, owner, name, issue, &body)
        .await
        .map(drop)
        .map_err(Failure::github)
}
