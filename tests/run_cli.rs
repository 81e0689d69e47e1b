//! `metagpt-bot run` end to end with the real binary, a temporary git repository, a fast stand-in for
//! MetaGPT's interpreter that calls the bot's gateway, and the scripted LLM as the upstream provider.

#[path = "run/fixture.rs"]
mod fixture;
#[path = "support/scripted_llm.rs"]
mod scripted_llm;

#[path = "run/refusals.rs"]
mod refusals;

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

#[tokio::test]
async fn a_requirement_run_commits_code_and_evidence_on_its_branch() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let out = fx.root.path().join("out");
    let ran = run_requirement(&fx, &llm, Some(&out)).await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stdout.contains("gates: passed"), "{}", ran.stdout);

    let git = fx.git();
    let branch = format!("metagpt/local-{SLUG}");
    let head = git.head().unwrap();
    assert_eq!(
        head.shorthand().ok(),
        Some(branch.as_str()),
        "the run's branch is checked out"
    );
    let tip = branch_tip(&fx, &branch);
    let commit = git.find_commit(tip).unwrap();
    assert_eq!(
        commit.parent_id(0).unwrap(),
        fx.seed,
        "exactly one commit on top of the seed"
    );
    assert_eq!(commit.author().name().ok(), Some("metagpt-bot"));
    assert!(
        commit
            .message()
            .unwrap()
            .starts_with(&format!("metagpt: local run {SLUG}, iteration 1")),
        "{:?}",
        commit.message()
    );

    let dir = format!(".metagpt/runs/local-{SLUG}/1");
    for name in [
        "trace.jsonl",
        "llm.jsonl",
        "cost.json",
        "gates.json",
        "summary.md",
    ] {
        assert!(
            file_in(&git, tip, &format!("{dir}/{name}")).is_some(),
            "{name} committed"
        );
    }
    assert_eq!(
        file_in(&git, tip, "docs/requirement.txt").as_deref(),
        Some(REQUIREMENT)
    );
    assert!(
        file_in(&git, tip, "shop/feature.py").is_some(),
        "the agent's code is committed"
    );

    let cost = json(&file_in(&git, tip, &format!("{dir}/cost.json")).unwrap());
    assert_eq!(cost["total"]["calls"], CALLS);
    assert_eq!(cost["total"]["prompt_tokens"], CALLS * PROMPT_TOKENS);
    assert_eq!(
        cost["total"]["completion_tokens"],
        CALLS * COMPLETION_TOKENS
    );
    let total = cost["total"]["cost_usd"].as_f64().unwrap();
    assert!((total - expected_cost(CALLS)).abs() < 1e-12, "{total}");
    assert_eq!(cost["by_role"][0]["model"], MODEL);
    let gates = json(&file_in(&git, tip, &format!("{dir}/gates.json")).unwrap());
    assert_eq!(gates["passed"], true, "{gates:#}");
    let ledger = file_in(&git, tip, &format!("{dir}/llm.jsonl")).unwrap();
    assert_eq!(ledger.lines().count() as u64, CALLS);

    let trace = file_in(&git, tip, &format!("{dir}/trace.jsonl")).unwrap();
    assert_eq!(trace.lines().count(), 3, "{trace}");
    assert!(
        trace.contains("[REDACTED]") && !trace.contains("mgb-"),
        "run token redacted: {trace}"
    );

    for name in ["pr-body.md", "cost.json", "gates.json", "trace.jsonl"] {
        assert!(out.join(name).is_file(), "--out holds {name}");
    }
    let out_cost = json(&std::fs::read_to_string(out.join("cost.json")).unwrap());
    assert_eq!(out_cost, cost, "--out cost.json is the committed one");
    let body = std::fs::read_to_string(out.join("pr-body.md")).unwrap();
    assert!(body.contains("discount code"), "{body}");

    let requests = llm.requests();
    assert_eq!(requests.len() as u64, CALLS);
    assert_eq!(
        requests[0].headers["authorization"].to_str().unwrap(),
        format!("Bearer {KEY}"),
        "the gateway used the real key upstream"
    );
    assert!(fixture_clean(&fx), "everything the run wrote was committed");
}

fn fixture_clean(fx: &Fixture) -> bool {
    let git = fx.git();
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true);
    git.statuses(Some(&mut options)).unwrap().is_empty()
}

#[tokio::test]
async fn a_second_run_is_iteration_two_with_cumulative_cost() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    for _ in 0..2 {
        let ran = run_requirement(&fx, &llm, None).await;
        assert_eq!(
            ran.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            ran.stdout, ran.stderr
        );
    }
    let git = fx.git();
    let tip = branch_tip(&fx, &format!("metagpt/local-{SLUG}"));
    let commit = git.find_commit(tip).unwrap();
    assert!(commit.message().unwrap().contains("iteration 2"));
    assert_eq!(
        git.find_commit(commit.parent_id(0).unwrap())
            .unwrap()
            .parent_id(0)
            .unwrap(),
        fx.seed,
        "two bot commits on the seed"
    );
    let cost = json(
        &file_in(
            &git,
            tip,
            &format!(".metagpt/runs/local-{SLUG}/2/cost.json"),
        )
        .unwrap(),
    );
    assert_eq!(cost["iteration"], 2);
    assert_eq!(cost["total"]["calls"], CALLS);
    assert_eq!(cost["cumulative"]["calls"], 2 * CALLS);
    let cumulative = cost["cumulative"]["cost_usd"].as_f64().unwrap();
    assert!(
        (cumulative - expected_cost(2 * CALLS)).abs() < 1e-12,
        "{cumulative}"
    );
    assert!(
        file_in(
            &git,
            tip,
            &format!(".metagpt/runs/local-{SLUG}/1/cost.json")
        )
        .is_some()
    );
}

#[tokio::test]
async fn the_real_key_never_reaches_the_repository_the_commit_the_out_files_or_stderr() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let out = fx.root.path().join("out");
    let ran = run_requirement(&fx, &llm, Some(&out)).await;
    assert_eq!(ran.code, 0, "stderr:\n{}", ran.stderr);
    assert!(!ran.stderr.contains(KEY) && !ran.stdout.contains(KEY));
    let git = fx.git();
    let tip = branch_tip(&fx, &format!("metagpt/local-{SLUG}"));
    let files = all_files(&git, tip);
    assert!(files.len() > 10, "{} files", files.len());
    for (path, text) in files {
        assert!(!text.contains(KEY), "{path} holds the key");
    }
    assert!(
        !git.find_commit(tip)
            .unwrap()
            .message()
            .unwrap()
            .contains(KEY)
    );
    for entry in walk(&fx.repo).into_iter().chain(walk(&out)) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "{} holds the key",
            entry.display()
        );
    }
    for request in llm.requests() {
        assert!(
            !String::from_utf8_lossy(&request.raw).contains(KEY),
            "key in a prompt"
        );
    }
}

/// Every regular file under `dir`, `.git` included (loose objects are compressed, so the commit is
/// checked through git above).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files.extend(walk(&entry.path()));
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    files
}

#[tokio::test]
async fn a_changed_workflow_fails_the_gate_and_is_not_committed() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let text = "Speed up TOUCH_WORKFLOW builds";
    let ran = run(
        &fx.home,
        args(&fx, &["--requirement", text], None),
        fx.env(llm.base_url().as_str()),
    )
    .await;
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stdout.contains("protected_paths"), "{}", ran.stdout);
    let git = fx.git();
    let tip = branch_tip(&fx, "metagpt/local-speed-up-touch-workflow-builds");
    assert_ne!(tip, fx.seed, "the evidence of a gate failure is committed");
    assert!(
        file_in(&git, tip, ".github/workflows/ci.yml").is_none(),
        "workflow not committed"
    );
    assert!(
        !fx.repo.join(".github/workflows/ci.yml").exists(),
        "and removed from the work tree"
    );
    let gates = json(
        &file_in(
            &git,
            tip,
            ".metagpt/runs/local-speed-up-touch-workflow-builds/1/gates.json",
        )
        .unwrap(),
    );
    let gate = gates["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "protected_paths")
        .unwrap();
    assert_eq!(gate["passed"], false);
    assert!(
        gate["detail"]
            .as_str()
            .unwrap()
            .contains(".github/workflows/ci.yml"),
        "{gate}"
    );
}

#[tokio::test]
async fn an_issue_file_marked_bug_writes_the_bugfix_text() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let file = fx.root.path().join("issue.md");
    std::fs::write(&file, "Checkout crashes on empty cart\n\nSteps: ...\n").unwrap();
    let ran = run(
        &fx.home,
        args(
            &fx,
            &["--issue-file", &file.display().to_string(), "--bug"],
            None,
        ),
        fx.env(llm.base_url().as_str()),
    )
    .await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let git = fx.git();
    let tip = branch_tip(&fx, "metagpt/local-checkout-crashes-on-empty-cart-steps");
    let text = file_in(&git, tip, "docs/bugfix.txt").expect("docs/bugfix.txt committed");
    assert!(text.starts_with("Checkout crashes on empty cart"));
}
