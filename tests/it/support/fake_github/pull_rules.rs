//! The rules for pull requests: creation (GitHub's 422s), head commits read from the repository's bare
//! git directory, listing, updates and the draft state.
//!
//! Invariants:
//! - A branch exists only if `refs/heads/<branch>` resolves in the repository's `git_dir`, so the fake
//!   sees what was really pushed; a repository without one has no branches.
//! - Creating a pull request fails with GitHub's 422 when the head or base branch does not exist, when
//!   head and base point at the same commit ("No commits between"), and when an open pull request
//!   already exists for the head ("A pull request already exists for owner:branch.").
//! - An open pull request's head sha follows its branch (re-read on every look); a closed one keeps the
//!   last.
//! - A pull request is also an issue with the next number of the repository.

use serde_json::json;

use super::model::{Issue, Pull, Repo, User};
use super::route::Reply;
use super::state::GitHubState;

/// What a create request asks for, already parsed.
pub struct PullRequestAsk<'a> {
    pub title: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub body: Option<&'a str>,
    pub draft: bool,
}

/// The commit `refs/heads/<branch>` points at in `repo`'s git directory.
pub fn branch_sha(repo: &Repo, branch: &str) -> Option<String> {
    let git = git2::Repository::open_bare(repo.git_dir.as_ref()?).ok()?;
    let oid = git.refname_to_id(&format!("refs/heads/{branch}")).ok()?;
    Some(oid.to_string())
}

/// `head` as a branch of `repo`: `branch` or `owner:branch` with the repository's own owner.
fn own_branch<'a>(repo: &Repo, head: &'a str) -> Option<&'a str> {
    match head.split_once(':') {
        Some((owner, branch)) if owner.eq_ignore_ascii_case(&repo.owner.login) => Some(branch),
        Some(_) => None,
        None => Some(head),
    }
}

fn refresh(repo: &Repo, pull: &mut Pull) {
    if pull.state == "open"
        && let Some(sha) = branch_sha(repo, &pull.head_ref)
    {
        pull.head_sha = sha;
    }
}

impl GitHubState {
    /// Opens a pull request in `full_name` by `user`, or GitHub's 422.
    pub fn open_pull(
        &mut self,
        full_name: &str,
        user: User,
        ask: &PullRequestAsk<'_>,
    ) -> Result<Pull, Reply> {
        let repo = self.repo_mut(full_name);
        let invalid = |field: &str| {
            Reply::validation(
                json!([{ "resource": "PullRequest", "field": field, "code": "invalid" }]),
            )
        };
        let custom = |message: String| {
            Reply::validation(
                json!([{ "resource": "PullRequest", "code": "custom", "message": message }]),
            )
        };
        let branch = own_branch(repo, ask.head).ok_or_else(|| invalid("head"))?;
        let head_sha = branch_sha(repo, branch).ok_or_else(|| invalid("head"))?;
        let base_sha = branch_sha(repo, ask.base).ok_or_else(|| invalid("base"))?;
        let label = format!("{}:{branch}", repo.owner.login);
        if repo
            .pulls
            .values()
            .any(|pull| pull.state == "open" && pull.head_ref == branch)
        {
            return Err(custom(format!(
                "A pull request already exists for {label}."
            )));
        }
        if head_sha == base_sha {
            return Err(custom(format!(
                "No commits between {} and {label}",
                ask.base
            )));
        }
        let number = repo.next_number();
        let pull = Pull {
            number,
            title: ask.title.to_owned(),
            body: ask.body.map(str::to_owned),
            state: "open".to_owned(),
            draft: ask.draft,
            merged: false,
            head_ref: branch.to_owned(),
            head_sha,
            head_repo: Some(full_name.to_owned()),
            base_ref: ask.base.to_owned(),
            user: user.clone(),
        };
        let mut issue = Issue::open(number, ask.title, ask.body.unwrap_or_default(), user);
        issue.body = ask.body.map(str::to_owned);
        issue.is_pull_request = true;
        repo.issues.insert(number, issue);
        repo.pulls.insert(number, pull.clone());
        Ok(pull)
    }

    /// Pull request `number` of `full_name`, its head re-read if open.
    pub fn pull(&mut self, full_name: &str, number: u64) -> Option<Pull> {
        let repo = self.repos.get_mut(full_name)?;
        let mut pull = repo.pulls.get(&number)?.clone();
        refresh(repo, &mut pull);
        repo.pulls.insert(number, pull.clone());
        Some(pull)
    }

    /// Every pull request of `full_name`, oldest first, heads re-read.
    pub fn pulls_of(&mut self, full_name: &str) -> Vec<Pull> {
        let numbers: Vec<u64> = self
            .repos
            .get(full_name)
            .map(|repo| repo.pulls.keys().copied().collect())
            .unwrap_or_default();
        numbers
            .into_iter()
            .filter_map(|number| self.pull(full_name, number))
            .collect()
    }

    /// Changes what is set; the issue side follows the title and body.
    pub fn edit_pull(
        &mut self,
        full_name: &str,
        number: u64,
        title: Option<&str>,
        body: Option<&str>,
        state: Option<&str>,
    ) -> Option<Pull> {
        let repo = self.repos.get_mut(full_name)?;
        let pull = repo.pulls.get_mut(&number)?;
        let issue = repo.issues.get_mut(&number)?;
        if let Some(title) = title {
            pull.title = title.to_owned();
            issue.title = title.to_owned();
        }
        if let Some(body) = body {
            pull.body = Some(body.to_owned());
            issue.body = Some(body.to_owned());
        }
        if let Some(state) = state {
            pull.state = state.to_owned();
            issue.state = state.to_owned();
        }
        self.pull(full_name, number)
    }

    /// The repository and number of the pull request with GraphQL node id `node_id`.
    pub fn pull_by_node_id(&self, node_id: &str) -> Option<(String, u64)> {
        self.repos.values().find_map(|repo| {
            repo.pulls
                .keys()
                .find(|number| pull_node_id(repo, **number) == node_id)
                .map(|number| (repo.full_name(), *number))
        })
    }

    pub fn set_pull_draft(&mut self, full_name: &str, number: u64, draft: bool) {
        if let Some(pull) = self
            .repos
            .get_mut(full_name)
            .and_then(|repo| repo.pulls.get_mut(&number))
        {
            pull.draft = draft;
        }
    }
}

/// The GraphQL node id GitHub would give pull request `number` of `repo`.
pub fn pull_node_id(repo: &Repo, number: u64) -> String {
    format!("PR_kw{}n{number}", repo.id)
}
