//! The rules for what lives in a repository besides pull requests: settings, files, collaborators,
//! comments, reactions and check runs, with the inspection helpers scenario tests read.
//!
//! Invariants:
//! - Only a comment's author may edit it (the bot must only ever edit its own progress comment).
//! - The same user giving the same reaction twice keeps one reaction (GitHub answers 200 the second time).
//! - Every check run is kept exactly as it was sent, so a test can read all of its fields.

use super::model::{CheckRun, Collaborator, Comment, Reaction, ReactionOn, Repo, User};
use super::route::Reply;
use super::state::GitHubState;

/// The base permission GitHub reports for a built-in role.
fn base_permission(role_name: &str) -> &'static str {
    match role_name {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    }
}

impl GitHubState {
    /// The repository `full_name`, to change its settings (`default_branch`, `clone_url`, `fork`,
    /// `git_dir`, ...).
    pub fn repo_mut(&mut self, full_name: &str) -> &mut Repo {
        self.repos
            .get_mut(full_name)
            .unwrap_or_else(|| panic!("add the repository {full_name} first"))
    }

    /// Serves `content` as `path` at `git_ref` (a branch name, tag or sha) through the contents API.
    pub fn set_file(&mut self, full_name: &str, git_ref: &str, path: &str, content: &[u8]) {
        self.repo_mut(full_name)
            .files
            .insert((git_ref.to_owned(), path.to_owned()), content.to_vec());
    }

    /// Makes `user` a collaborator with a built-in role (admin, maintain, write, triage, read).
    pub fn set_collaborator(&mut self, full_name: &str, user: User, role_name: &str) {
        let permission = base_permission(role_name);
        self.set_custom_role(full_name, user, role_name, permission);
    }

    /// Makes `user` a collaborator with a custom role `role_name` based on `permission`.
    pub fn set_custom_role(
        &mut self,
        full_name: &str,
        user: User,
        role_name: &str,
        permission: &str,
    ) {
        let collaborator = Collaborator {
            user: user.clone(),
            role_name: role_name.to_owned(),
            permission: permission.to_owned(),
        };
        self.repo_mut(full_name)
            .collaborators
            .insert(user.login.to_lowercase(), collaborator);
    }

    /// Adds a comment by `user` on issue or pull request `issue` (a human's, when a test sets one up).
    pub fn add_comment(&mut self, full_name: &str, issue: u64, user: User, body: &str) -> Comment {
        self.add_comment_via(full_name, issue, user, body, None)
    }

    /// Adds a comment by App `app_id`'s bot, made through that App (as its installation token would).
    pub fn add_app_comment(
        &mut self,
        full_name: &str,
        issue: u64,
        app_id: u64,
        body: &str,
    ) -> Comment {
        let bot = self.app_bot(app_id).expect("add the App first");
        self.add_comment_via(full_name, issue, bot, body, Some(app_id))
    }

    /// Adds a comment by `user`, made through App `via_app` when it is `Some`.
    pub fn add_comment_via(
        &mut self,
        full_name: &str,
        issue: u64,
        user: User,
        body: &str,
        via_app: Option<u64>,
    ) -> Comment {
        let comment = Comment {
            id: self.next_id(),
            repo: full_name.to_owned(),
            issue,
            user,
            body: body.to_owned(),
            via_app,
        };
        self.comments.push(comment.clone());
        comment
    }

    /// Replaces the body of comment `id` in `full_name`, if `editor` wrote it.
    pub fn edit_comment(
        &mut self,
        full_name: &str,
        id: u64,
        editor: &User,
        body: &str,
    ) -> Result<Comment, Reply> {
        let comment = self
            .comments
            .iter_mut()
            .find(|comment| comment.id == id && comment.repo == full_name)
            .ok_or_else(Reply::not_found)?;
        if &comment.user != editor {
            return Err(Reply::error(403, "Resource not accessible by integration"));
        }
        comment.body = body.to_owned();
        Ok(comment.clone())
    }

    /// The comments on issue or pull request `issue`, oldest first.
    pub fn comments_on(&self, full_name: &str, issue: u64) -> Vec<Comment> {
        self.comments
            .iter()
            .filter(|comment| comment.repo == full_name && comment.issue == issue)
            .cloned()
            .collect()
    }

    /// Records `user`'s reaction; `true` if it is new, `false` if the same one already existed.
    pub fn react(&mut self, on: ReactionOn, content: &str, user: User) -> (Reaction, bool) {
        let existing = self.reactions.iter().find(|reaction| {
            reaction.on == on && reaction.content == content && reaction.user == user
        });
        if let Some(existing) = existing {
            return (existing.clone(), false);
        }
        let reaction = Reaction {
            id: self.next_id(),
            on,
            content: content.to_owned(),
            user,
        };
        self.reactions.push(reaction.clone());
        (reaction, true)
    }

    /// The reaction contents on a target, in the order they were given.
    pub fn reactions_on(&self, on: &ReactionOn) -> Vec<String> {
        self.reactions
            .iter()
            .filter(|reaction| &reaction.on == on)
            .map(|reaction| reaction.content.clone())
            .collect()
    }

    pub fn add_check_run(&mut self, run: CheckRun) {
        self.check_runs.push(run);
    }

    /// The check runs created on commit `sha`, oldest first.
    pub fn check_runs_for(&self, sha: &str) -> Vec<CheckRun> {
        self.check_runs
            .iter()
            .filter(|run| run.head_sha == sha)
            .cloned()
            .collect()
    }
}
