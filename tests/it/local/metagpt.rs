//! `metagpt-bot run` end to end: the real binary drives the real MetaGPT 0.8.2 on the seed repository
//! against the scripted SOP model (`support/sop_llm`) on 127.0.0.1, which is the binary's upstream
//! provider (`LLM_BASE_URL`), priced by `LLM_PRICE_*`.
//!
//! What a user relies on: a requirement run (with a review that rejects a file once and a test that fails
//! once) and a later bug report on the same branch each end in one bot commit holding MetaGPT's spec, code
//! and tests and the evidence (trace of every role, passed gates, costs equal to what the model reported,
//! cumulative over the iterations); a provider failing mid-run ends in exit 1, a message naming the
//! failure, no commit, and in `--out` what was spent (the exact tokens), the redacted trace so far and
//! `failure.md`.
//!
//! Skipped, with the reason printed, without a MetaGPT interpreter (fails under `CI`). Each run takes
//! tens of seconds, so the scenarios are few and each checks much.

use super::metagpt_bed;
use crate::support::fixture;
use crate::support::sop_llm;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use fixture::{Ran, all_files, file_in, run};
use metagpt_bed::Bed;
use metagpt_bot::marks::slug;
use metagpt_bot::run::gateway::Step;
use serde_json::Value;
use sop_llm::harness::{PRICE, metagpt_python};
use sop_llm::{Scenario, Sop, python};

/// Both texts share the first 40 characters of their slug, so the bug report is iteration 2 of the
/// requirement's branch.
const REQUIREMENT: &str =
    "Calculator improvements for the seed project: add a subtract function and a main program";
const BUG: &str = "Calculator improvements for the seed project: add(\"2\", \"3\") returns \"23\" \
                   instead of refusing strings";
const MODEL: &str = "gpt-4o-mini";
const TEAM: [&str; 5] = [
    "Product Manager",
    "Architect",
    "Project Manager",
    "Engineer",
    "QaEngineer",
];
/// The roles the gateway's ledger names for the team's calls.
const LEDGER_ROLES: [&str; 5] = [
    "Architect",
    "Engineer",
    "ProductManager",
    "ProjectManager",
    "QaEngineer",
];

impl Bed {
    fn env(&self) -> Vec<(String, String)> {
        self.settings("sk-fake-provider-key-for-the-e2e-test", MODEL)
    }

    /// Runs the binary with `request` (e.g. `--requirement TEXT`) and `--out <out>`.
    async fn run(&self, request: &[&str], out: &Path, sop: &Sop) -> Ran {
        let mut args = vec!["--repo".to_owned(), self.repo.display().to_string()];
        args.extend(request.iter().map(|s| s.to_string()));
        args.extend(["--out".to_owned(), out.display().to_string()]);
        let started = Instant::now();
        let ran = run(&self.home, args, self.env()).await;
        println!(
            "{request:?}: exit {} in {:.1} s, served {:?}",
            ran.code,
            started.elapsed().as_secs_f64(),
            sop.served().iter().map(|s| &s.what).collect::<Vec<_>>()
        );
        assert!(sop.unreadable().is_empty(), "{:#?}", sop.unreadable());
        ran
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn succeeded(ran: &Ran) {
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stdout.contains("gates: passed"), "{}", ran.stdout);
}

/// The committed file `path`, which must exist.
fn committed(git: &git2::Repository, tip: git2::Oid, path: &str) -> String {
    file_in(git, tip, path).unwrap_or_else(|| panic!("{path} is not committed"))
}

/// The code as MetaGPT saved it (it strips the fenced block's last newline).
fn assert_committed_code(git: &git2::Repository, tip: git2::Oid, path: &str, expected: &str) {
    assert_eq!(
        committed(git, tip, path).trim_end(),
        expected.trim_end(),
        "{path}"
    );
}

/// The JSON documents committed under `dir/`.
fn committed_docs(git: &git2::Repository, tip: git2::Oid, dir: &str) -> Vec<Value> {
    all_files(git, tip)
        .into_iter()
        .filter(|(path, _)| {
            path.strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/') && rest.ends_with(".json"))
        })
        .map(|(_, text)| json(&text))
        .collect()
}

/// The evidence of iteration `k`: every file is committed, every gate passed, every role in `roles`
/// spoke in the trace, and `cost.json`'s total is exactly the script's usage priced by [`PRICE`], split
/// by role. Returns `cost.json`.
fn assert_evidence(
    git: &git2::Repository,
    tip: git2::Oid,
    dir: &str,
    sop: &Sop,
    roles: &[&str],
) -> Value {
    for name in [
        "trace.jsonl",
        "llm.jsonl",
        "cost.json",
        "gates.json",
        "summary.md",
        "report.json",
    ] {
        committed(git, tip, &format!("{dir}/{name}"));
    }
    let gates = json(&committed(git, tip, &format!("{dir}/gates.json")));
    assert_eq!(gates["passed"], true, "{gates:#}");
    let gates = gates["gates"].as_array().expect("gates");
    assert!(gates.iter().all(|g| g["passed"] == true), "{gates:#?}");

    let trace = committed(git, tip, &format!("{dir}/trace.jsonl"));
    let spoke: Vec<String> = trace
        .lines()
        .map(|line| json(line)["role"].as_str().unwrap_or_default().to_owned())
        .collect();
    for role in roles {
        let named = format!("({role})");
        assert!(
            spoke.iter().any(|r| r == role || r.ends_with(&named)),
            "no message from {role} in {spoke:?}"
        );
    }

    let served = sop.served();
    let (prompt, completion) = sop.usage_total();
    let cost = json(&committed(git, tip, &format!("{dir}/cost.json")));
    assert_eq!(cost["currency"], "USD");
    assert_eq!(cost["total"]["calls"], served.len() as u64, "{cost:#}");
    assert_eq!(cost["total"]["prompt_tokens"], prompt, "{cost:#}");
    assert_eq!(cost["total"]["completion_tokens"], completion, "{cost:#}");
    let total = cost["total"]["cost_usd"].as_f64().expect("cost_usd");
    assert!(total > 0.0);
    assert!(
        (total - PRICE.cost_usd(prompt, completion)).abs() < 1e-9,
        "{total}"
    );
    let by_role = cost["by_role"].as_array().expect("by_role");
    let calls: u64 = by_role.iter().filter_map(|r| r["calls"].as_u64()).sum();
    assert_eq!(calls, served.len() as u64, "{by_role:#?}");
    assert!(by_role.iter().all(|r| r["model"] == MODEL), "{by_role:#?}");
    let ledger = committed(git, tip, &format!("{dir}/llm.jsonl"));
    assert_eq!(ledger.lines().count(), served.len(), "{ledger}");
    cost
}

fn by_role_names(cost: &Value) -> Vec<String> {
    cost["by_role"]
        .as_array()
        .expect("by_role")
        .iter()
        .filter_map(|r| r["role"].as_str().map(str::to_owned))
        .collect()
}

/// `pr-body.md` in `out` holds the gates table and the cost table with the run's total.
fn assert_pr_body(out: &Path, cost: &Value) {
    let body = std::fs::read_to_string(out.join("pr-body.md")).expect("--out pr-body.md");
    assert!(
        body.contains("### Quality gates\n| gate | | detail |"),
        "{body}"
    );
    assert!(body.contains("| `code_reviewed` |"), "{body}");
    assert!(
        body.contains("### Cost\n| role | model | calls |"),
        "{body}"
    );
    let total = format!(
        "| **total** | | {} | {} | {} |",
        cost["total"]["calls"], cost["total"]["prompt_tokens"], cost["total"]["completion_tokens"]
    );
    assert!(body.contains(&total), "no {total:?} in {body}");
    for name in ["cost.json", "gates.json", "trace.jsonl"] {
        assert!(out.join(name).is_file(), "--out holds {name}");
    }
}

#[tokio::test]
async fn a_requirement_run_and_a_bugfix_run_commit_reviewed_tested_code_with_evidence() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bed = Bed::new(python).await;
    let seed_commit = bed.head();
    let branch = format!("metagpt/local-{}", slug(REQUIREMENT));
    let dir = format!(".metagpt/runs/local-{}", slug(REQUIREMENT));

    // Iteration 1: the reviewer rejects calc.py once; the first tests of calc.py fail and QA fixes them.
    let sop = Sop::new(
        Scenario::requirement(REQUIREMENT)
            .reject_review_once("calc.py")
            .fail_test_once("calc.py"),
    );
    sop.install(&bed.llm);
    let out = bed.repo.with_file_name("out-1");
    let ran = bed.run(&["--requirement", REQUIREMENT], &out, &sop).await;
    succeeded(&ran);
    let served: Vec<String> = sop.served().into_iter().map(|s| s.what).collect();
    for step in [
        "review calc.py LBTM",
        "rewrite calc.py",
        "summary test_calc.py FAIL",
        "debug test_calc.py",
    ] {
        assert!(served.iter().any(|s| s == step), "no {step:?}: {served:?}");
    }

    let git = bed.git();
    let first = bed.tip(&branch);
    let commit = git.find_commit(first).expect("commit");
    assert_eq!(commit.parent_id(0).expect("parent"), seed_commit);
    assert_eq!(commit.author().name().ok(), Some("metagpt-bot"));
    assert_eq!(committed(&git, first, "docs/requirement.txt"), REQUIREMENT);
    let prd = committed_docs(&git, first, "docs/prd");
    assert_eq!(prd.len(), 1, "{prd:?}");
    assert_eq!(prd[0]["Original Requirements"], REQUIREMENT);
    assert_eq!(committed_docs(&git, first, "docs/system_design").len(), 1);
    let tasks = committed_docs(&git, first, "docs/task");
    assert_eq!(tasks[0]["Task list"], serde_json::json!(python::TASK_FILES));
    assert_committed_code(&git, first, "seed/calc.py", python::CALC);
    assert_committed_code(&git, first, "seed/main.py", python::MAIN);
    assert_committed_code(&git, first, "tests/test_calc.py", python::TEST_CALC);
    assert_committed_code(&git, first, "tests/test_main.py", python::TEST_MAIN);

    let cost_1 = assert_evidence(&git, first, &format!("{dir}/1"), &sop, &TEAM);
    assert_eq!(cost_1["iteration"], 1);
    assert_eq!(by_role_names(&cost_1), LEDGER_ROLES);
    assert_eq!(cost_1["cumulative"], cost_1["total"]);
    let gates = json(&committed(&git, first, &format!("{dir}/1/gates.json")));
    let reviewed = gates["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "code_reviewed"))
        .expect("a code_reviewed gate");
    let detail = reviewed["detail"].as_str().unwrap_or_default();
    for file in ["seed/calc.py", "seed/main.py"] {
        assert!(detail.contains(file), "{file} not named in {reviewed}");
    }
    assert_pr_body(&out, &cost_1);

    // Iteration 2: a bug report on the same branch.
    let sop_2 = Sop::new(Scenario::bugfix(BUG));
    sop_2.install(&bed.llm);
    let out = bed.repo.with_file_name("out-2");
    let ran = bed.run(&["--bugfix", BUG], &out, &sop_2).await;
    succeeded(&ran);
    let second = bed.tip(&branch);
    let commit = git.find_commit(second).expect("commit");
    assert_eq!(commit.parent_id(0).expect("parent"), first);
    assert!(
        commit.message().unwrap_or_default().contains("iteration 2"),
        "{:?}",
        commit.message()
    );
    assert_eq!(committed(&git, second, "docs/bugfix.txt"), BUG);
    assert_committed_code(&git, second, "seed/calc.py", python::CALC_FIXED);
    assert_committed_code(&git, second, "tests/test_calc.py", python::TEST_CALC_FIXED);
    let cost_2 = assert_evidence(
        &git,
        second,
        &format!("{dir}/2"),
        &sop_2,
        &["Engineer", "QaEngineer"],
    );
    assert_eq!(cost_2["iteration"], 2);
    for count in ["calls", "prompt_tokens", "completion_tokens"] {
        let sum = cost_1["total"][count].as_u64().unwrap_or_default()
            + cost_2["total"][count].as_u64().unwrap_or_default();
        assert_eq!(cost_2["cumulative"][count], sum, "cumulative {count}");
    }
    let sum = cost_1["total"]["cost_usd"].as_f64().unwrap_or_default()
        + cost_2["total"]["cost_usd"].as_f64().unwrap_or_default();
    let cumulative = cost_2["cumulative"]["cost_usd"]
        .as_f64()
        .unwrap_or_default();
    assert!((cumulative - sum).abs() < 1e-9, "{cumulative} != {sum}");
    assert_pr_body(&out, &cost_2);
}

#[tokio::test]
async fn an_llm_failing_mid_run_exits_1_with_the_failure_named_and_commits_nothing() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bed = Bed::new(python).await;
    let seed_commit = bed.head();
    let sop: Arc<Sop> = Sop::new(Scenario::requirement(REQUIREMENT));
    sop.install_failing_from(&bed.llm, Step::Design);
    let out = bed.repo.with_file_name("out");
    let ran = bed.run(&["--requirement", REQUIREMENT], &out, &sop).await;

    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(
        sop.served().iter().any(|s| s.step == Step::Prd),
        "the outage came mid-run, after the PRD: {:?}",
        sop.served()
    );
    assert!(
        ran.stderr.contains("metagpt-bot run:") && ran.stderr.contains("scripted outage"),
        "stderr does not name the failure:\n{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("Nothing was committed"),
        "{}",
        ran.stderr
    );
    assert_eq!(bed.head(), seed_commit, "HEAD moved");
    let branch = format!("metagpt/local-{}", slug(REQUIREMENT));
    if let Ok(tip) = bed.git().refname_to_id(&format!("refs/heads/{branch}")) {
        assert_eq!(tip, seed_commit, "{branch} has a new commit");
    }
    assert!(!out.join("pr-body.md").exists(), "a pr-body.md was written");

    // What the run spent, its trace so far and the failure are left in --out.
    let cost = json(&std::fs::read_to_string(out.join("cost.json")).expect("cost.json"));
    let (prompt, completion) = sop.usage_total();
    assert!(prompt > 0, "the PRD was paid for");
    assert_eq!(cost["total"]["prompt_tokens"], prompt, "{cost:#}");
    assert_eq!(cost["total"]["completion_tokens"], completion, "{cost:#}");
    let trace = std::fs::read_to_string(out.join("trace.jsonl")).expect("trace.jsonl");
    assert!(trace.lines().count() >= 1, "MetaGPT's messages so far");
    assert!(
        !trace.contains("sk-fake-provider-key") && !trace.contains("mgb-"),
        "the trace is redacted"
    );
    let failure = std::fs::read_to_string(out.join("failure.md")).expect("failure.md");
    for piece in [
        "Nothing was committed",
        "scripted outage",
        "- Last step finished: `",
        "at step `design` (Architect), HTTP 502",
    ] {
        assert!(failure.contains(piece), "no {piece:?} in:\n{failure}");
    }
}
