//! `metagpt-bot run` end to end with the real binary, a temporary git repository, a fast stand-in for
//! MetaGPT's interpreter that calls the bot's gateway, and the scripted LLM as the upstream provider.
//!
//! This file holds what the scenarios share; each idea has its own file under `local/`: what a run commits
//! (`commits`), where it branches from and the user's checkout given back (`checkout`), the repository's
//! settings file and the flags that win over it (`settings`), runs refused before any LLM call
//! (`refusals`), runs that fail, commit nothing and leave their account in `--out` (`failures`), runs
//! that hit a resource limit (`limits`), protected paths (`protected`), and the provider key kept out
//! of everything (`secrets`).

use crate::support::fixture;
use crate::support::scripted_llm;

mod checkout;
mod commits;
mod failures;
mod limits;
mod metagpt;
mod metagpt_bed;
mod metagpt_failures;
mod protected;
mod refusals;
mod replay;
mod sandbox;
mod secrets;
mod settings;

use fixture::{Fixture, KEY, MODEL, PRICE_COMPLETION, PRICE_PROMPT, all_files, file_in, run};
use scripted_llm::{Reply, ScriptedLlm};
use serde_json::Value;

const REQUIREMENT: &str = "Add a discount code to checkout";
const SLUG: &str = "add-a-discount-code-to-checkout";
/// Tokens the scripted LLM reports per call; the stand-in makes three calls.
const PROMPT_TOKENS: u64 = 1200;
const COMPLETION_TOKENS: u64 = 300;
const CALLS: u64 = 3;

async fn llm() -> ScriptedLlm {
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::chat("done", PROMPT_TOKENS, COMPLETION_TOKENS));
    llm
}

fn args(fx: &Fixture, request: &[&str], out: Option<&std::path::Path>) -> Vec<String> {
    let mut args = vec!["--repo".to_owned(), fx.repo.display().to_string()];
    args.extend(request.iter().map(|s| s.to_string()));
    if let Some(out) = out {
        args.extend(["--out".to_owned(), out.display().to_string()]);
    }
    args
}

/// `run --requirement REQUIREMENT` on the fixture's repository against `llm`.
async fn run_requirement(
    fx: &Fixture,
    llm: &ScriptedLlm,
    out: Option<&std::path::Path>,
) -> fixture::Ran {
    run(
        &fx.home,
        args(fx, &["--requirement", REQUIREMENT], out),
        fx.env(llm.base_url().as_str()),
    )
    .await
}

fn expected_cost(calls: u64) -> f64 {
    calls as f64
        * (PROMPT_TOKENS as f64 * PRICE_PROMPT + COMPLETION_TOKENS as f64 * PRICE_COMPLETION)
        / 1_000_000.0
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn branch_tip(fx: &Fixture, branch: &str) -> git2::Oid {
    fx.git()
        .refname_to_id(&format!("refs/heads/{branch}"))
        .unwrap_or_else(|_| panic!("no branch {branch}"))
}

fn fixture_clean(fx: &Fixture) -> bool {
    let git = fx.git();
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true);
    git.statuses(Some(&mut options)).unwrap().is_empty()
}

/// What the fixture's `HEAD` is on: a branch's short name, or `detached <id>`.
fn checked_out(fx: &Fixture) -> String {
    let git = fx.git();
    let head = git.head().expect("HEAD");
    if head.is_branch() {
        head.shorthand().expect("branch name").to_owned()
    } else {
        format!("detached {}", head.peel_to_commit().unwrap().id())
    }
}

/// The run branches (`metagpt/local-…`) the fixture's repository has.
fn run_branches(fx: &Fixture) -> Vec<String> {
    let git = fx.git();
    let branches = git.branches(Some(git2::BranchType::Local)).unwrap();
    branches
        .filter_map(|b| b.ok()?.0.name().ok().flatten().map(str::to_owned))
        .filter(|name| name.starts_with("metagpt/"))
        .collect()
}
