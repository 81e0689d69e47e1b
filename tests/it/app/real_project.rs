//! The App on a real project MetaGPT never saw: octo/shop is jmespath.py (`support/projects.rs`; a
//! top-level package `jmespath/` named unlike the repository, requirements.txt, setup.py) with no
//! `.github/metagpt.yml`, served by the real git server; `serve` runs the real MetaGPT 0.8.2 against the
//! scripted team (`sop_llm::changes`) through the bot's gateway.
//!
//! A labelled requirement gives one pull request a maintainer would merge: its branch's diff holds the
//! change under `jmespath/`, new test files and `.metagpt/`, nothing else; dependency files and every
//! existing test file byte-identical; the check run and the PR body show `existing_tests_kept` and
//! `project_tests_pass` passing, and the body's "The project's own tests" section the suite's result.
//! Once the maintainer merged it, a bug report on a new issue gives a second such pull request, built on
//! the merged code.
//!
//! Skipped, with the reason printed, without a MetaGPT interpreter (fails under `CI`). Each run takes a
//! minute or more (MetaGPT, plus the project's own environment), so this is one test.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use metagpt_bot::queue::{JobInfo, JobState};
use serde_json::json;

use crate::support::bot::{BRANCH, Bot, FULL_NAME, ISSUE, alice};
use crate::support::fake_github::Issue;
use crate::support::jobs::wait_idle_at;
use crate::support::projects::{Project, git, tree_files};
use crate::support::sop_llm::harness::metagpt_python;
use crate::support::sop_llm::{Scenario, Sop, changes};
use crate::support::webhook;

const PROJECT: Project = Project::Jmespath;
/// The bug report's issue, opened after the first pull request was merged.
const BUG_ISSUE: u64 = 6;
/// A real MetaGPT run with the project's own environment, on two shared cores.
const RUN_WAIT: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requirement_on_jmespath_then_a_bug_report_after_the_merge_give_pull_requests_a_maintainer_would_merge()
 {
    let Some(python) = metagpt_python() else {
        return;
    };
    let mut bot = Bot::world_seeded(|fixture, bare| {
        let parent = fixture.root.path().join("maintainer");
        std::fs::create_dir_all(&parent).expect("the maintainer's folder");
        let work = PROJECT.clone_into(&parent);
        push_main(&work, bare);
    })
    .await;
    bot.set("METAGPT_PYTHON", &python.display().to_string());
    bot.set(
        "AGENT_UID",
        &crate::support::interpreter::agent_uid_for(&python).to_string(),
    );
    bot.set("RUN_TIMEOUT_SECS", &RUN_WAIT.as_secs().to_string());
    bot.set("JOB_LEASE_SECS", "30");
    bot.boot().await;
    let work = bot
        .fixture
        .root
        .path()
        .join("maintainer")
        .join(PROJECT.repo_name());

    // The requirement, on issue #5 as the harness has it.
    let requirement = changes::requirement(PROJECT, &work);
    bot.set_issue_body(changes::request(&requirement));
    let start = main_tip(&bot);
    Sop::new(requirement.clone()).install(&bot.llm);
    let job = bot.label().await;
    let info = wait(&bot, job).await;
    assert_eq!(
        info.outcome.as_ref().unwrap()["gates_passed"],
        true,
        "{info:?}"
    );
    let pull = bot.pr();
    assert_eq!(pull.head_ref, BRANCH);
    assert!(!pull.draft, "all gates passed: ready for review");
    let tip = branch_tip(&bot, BRANCH);
    assert_mergeable(&bot, start, tip, &requirement);
    assert_shows_the_projects_tests(&bot, &pull.body.clone().unwrap_or_default(), tip, ISSUE);

    // The maintainer merges it; then a bug report in the same module, on a new issue.
    merge(&bot, &work, BRANCH);
    let merged = main_tip(&bot);
    let bug = changes::bug_report(PROJECT, &work);
    open_bug_report(&bot, &bug);
    Sop::new(bug.clone()).install(&bot.llm);
    let job = bot
        .deliver("issues", &labeled_bug_report(&bot))
        .await
        .expect("a job");
    let info = wait(&bot, job).await;
    assert_eq!(
        info.outcome.as_ref().unwrap()["gates_passed"],
        true,
        "{info:?}"
    );
    let branch = format!("metagpt/issue-{BUG_ISSUE}");
    let pulls = bot.pulls();
    assert_eq!(pulls.len(), 2, "{pulls:#?}");
    let pull = pulls
        .iter()
        .find(|p| p.head_ref == branch)
        .expect("the bug's PR");
    let body = pull.body.clone().unwrap_or_default();
    assert!(body.contains(&format!("#{BUG_ISSUE}")), "{body}");
    let tip = branch_tip(&bot, &branch);
    assert_mergeable(&bot, merged, tip, &bug);
    assert_shows_the_projects_tests(&bot, &body, tip, BUG_ISSUE);
    bot.finish().await;
}

/// Waits (under [`RUN_WAIT`]) until the bot is idle; job `job` ended done, or the test fails with why.
async fn wait(bot: &Bot, job: i64) -> JobInfo {
    wait_idle_at(bot.database_url(), RUN_WAIT).await;
    let info = bot.job(job).await;
    let why = info.last_error.as_deref().unwrap_or_default();
    assert_eq!(info.state, JobState::Done, "job {job}: {why}");
    info
}

/// Pushes `work`'s `main` to `bare`'s `main`, which becomes its HEAD.
fn push_main(work: &Path, bare: &Path) {
    let target = bare.display().to_string();
    git(work, &["push", "--quiet", &target, "main:main"]);
    let repo = git2::Repository::open_bare(bare).expect("open bare");
    repo.set_head("refs/heads/main").expect("HEAD → main");
}

fn served(bot: &Bot) -> git2::Repository {
    git2::Repository::open_bare(&bot.bare).expect("the served repository")
}

fn main_tip(bot: &Bot) -> git2::Oid {
    served(bot).refname_to_id("refs/heads/main").expect("main")
}

fn branch_tip(bot: &Bot, branch: &str) -> git2::Oid {
    let reference = format!("refs/heads/{branch}");
    served(bot)
        .refname_to_id(&reference)
        .unwrap_or_else(|_| panic!("{branch} was not pushed"))
}

/// The maintainer merges `branch` into `main` in the work tree `work` and pushes it; the PR is merged.
fn merge(bot: &Bot, work: &Path, branch: &str) {
    let bare = bot.bare.display().to_string();
    git(
        work,
        &["fetch", "--quiet", &bare, &format!("{branch}:{branch}")],
    );
    let message = format!("Merge {branch}");
    git(
        work,
        &["merge", "--no-ff", "--quiet", "-m", &message, branch],
    );
    push_main(work, &bot.bare);
    let mut state = bot.github.state();
    for pull in state.repo_mut(FULL_NAME).pulls.values_mut() {
        if pull.head_ref == branch {
            pull.merged = true;
            pull.state = "closed".into();
        }
    }
}

/// alice opens issue #6 with the bug report, labelled `metagpt` and `bug`.
fn open_bug_report(bot: &Bot, bug: &Scenario) {
    let title = "to_number of non-finite strings";
    let issue = Issue::open(BUG_ISSUE, title, changes::request(bug), alice());
    let mut state = bot.github.state();
    state.add_issue(FULL_NAME, issue.with_labels(&["metagpt", "bug"]));
}

/// alice's `issues.labeled` adding `metagpt` to issue #6.
fn labeled_bug_report(bot: &Bot) -> serde_json::Value {
    let mut payload = bot.labeled_event();
    webhook::set(&mut payload, "/issue/number", json!(BUG_ISSUE));
    let template = payload["issue"]["labels"][0].clone();
    let labels: Vec<_> = ["metagpt", "bug"]
        .iter()
        .map(|name| {
            let mut label = template.clone();
            label["name"] = json!(name);
            label
        })
        .collect();
    webhook::set(&mut payload, "/issue/labels", json!(labels));
    payload
}

/// The branch's diff from `start` to `tip` holds the scenario's change under the source folder, new
/// test files and `.metagpt/`, nothing else; dependency files and existing test files are untouched.
fn assert_mergeable(bot: &Bot, start: git2::Oid, tip: git2::Oid, scenario: &Scenario) {
    let repo = served(bot);
    let before = tree_files(&repo, start);
    let after = tree_files(&repo, tip);
    let (code_file, code) = changes::changed_code(scenario);
    let code_path = format!("{}/{code_file}", PROJECT.source_dir());
    let changed: Vec<&String> = after
        .iter()
        .filter(|(path, blob)| before.get(*path) != Some(*blob))
        .map(|(path, _)| path)
        .collect();
    let deleted: Vec<&String> = before.keys().filter(|p| !after.contains_key(*p)).collect();
    assert!(deleted.is_empty(), "deleted: {deleted:?}");
    let spec = format!("{}/", PROJECT.spec_dir());
    let outside: Vec<&&String> = changed
        .iter()
        .filter(|path| {
            let new_test = !before.contains_key(**path) && PROJECT.is_test_file(path);
            !(path.starts_with(&spec) || ***path == code_path || new_test)
        })
        .collect();
    assert!(
        outside.is_empty(),
        "outside the change, its tests and {spec}: {outside:?} (all changed: {changed:?})"
    );
    let text = |path: &str| blob_text(&repo, &after, path);
    assert_eq!(text(&code_path).trim_end(), code.trim_end(), "{code_path}");
    let tests = changes::written_tests(scenario);
    let new_tests: Vec<&&String> = changed
        .iter()
        .filter(|path| !path.starts_with(&spec) && PROJECT.is_test_file(path))
        .collect();
    assert!(
        new_tests
            .iter()
            .any(|path| text(path).trim_end() == tests.trim_end()),
        "no new test file holds QA's tests: {new_tests:?}"
    );
    for name in PROJECT.dependency_files() {
        assert_eq!(before.get(*name), after.get(*name), "{name} changed");
    }
    for (path, blob) in before.iter().filter(|(p, _)| PROJECT.is_test_file(p)) {
        assert_eq!(
            after.get(path),
            Some(blob),
            "the existing test {path} changed"
        );
    }
}

/// The check run on `tip` and the PR `body` show the project's suite kept and passing.
fn assert_shows_the_projects_tests(bot: &Bot, body: &str, tip: git2::Oid, issue: u64) {
    let checks = bot.github.state().check_runs_for(&tip.to_string());
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert_eq!(checks[0].conclusion.as_deref(), Some("success"));
    let check = format!(
        "{}\n{}",
        checks[0].summary.clone().unwrap_or_default(),
        checks[0].text.clone().unwrap_or_default()
    );
    for gate in ["existing_tests_kept", "project_tests_pass"] {
        let row = format!("| `{gate}` | ✅ |");
        assert!(check.contains(&row), "the check run lacks {row}:\n{check}");
        assert!(body.contains(&row), "the PR body lacks {row}:\n{body}");
    }
    let (_, section) = body
        .split_once("### The project's own tests")
        .unwrap_or_else(|| panic!("no section on the project's tests:\n{body}"));
    let line = section.trim_start().lines().next().unwrap_or_default();
    assert!(
        line.contains("pytest") && line.contains("✅") && line.contains(" passed"),
        "the section shows the suite's command and its passing summary: {line}"
    );
    let gates = format!(".metagpt/runs/{issue}/1/gates.json");
    let repo = served(bot);
    let files: BTreeMap<String, git2::Oid> = tree_files(&repo, tip);
    assert!(files.contains_key(&gates), "{gates} is not on the branch");
}

fn blob_text(repo: &git2::Repository, files: &BTreeMap<String, git2::Oid>, path: &str) -> String {
    let Some(id) = files.get(path) else {
        return String::new();
    };
    let blob = repo.find_blob(*id).expect("blob");
    String::from_utf8_lossy(blob.content()).into_owned()
}
