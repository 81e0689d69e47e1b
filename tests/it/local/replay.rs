//! `metagpt-bot run --replay`: a real MetaGPT 0.8.2 run with tests, recorded against the scripted SOP
//! model, is audited offline from the `llm.jsonl` it committed: no provider, no key, the same code and
//! tests and the same `cost.json`; a run that asks something else is stopped where it diverges.
//!
//! The recorded run's first tests fail, so QA's summary and debug prompts quote a traceback naming the
//! run's temporary work tree and unittest's timing: the replay (in another temporary directory) sends
//! those calls with other paths and timings, and they are answered after normalisation, flagged so in
//! the replay's ledger and in the summary line `run --replay` prints.
//! Skipped, with the reason printed, without a MetaGPT interpreter (fails under `CI`).

use crate::support::fixture;
use crate::support::scripted_llm;
use crate::support::sop_llm;

use std::path::{Path, PathBuf};

use fixture::{Ran, run};
use metagpt_bot::marks::slug;
use metagpt_bot::run::gateway::{Fold, ReplayMatch, Step, read_jsonl};
use scripted_llm::ScriptedLlm;
use sop_llm::harness::{PRICE, metagpt_python};
use sop_llm::{Scenario, Sop, seed};

const REQUIREMENT: &str =
    "Calculator improvements for the seed project: add a subtract function and a main program";

/// A fresh seed repository (in its own temporary folder, so paths differ between runs) and a home.
struct Bed {
    dir: tempfile::TempDir,
    repo: PathBuf,
}

impl Bed {
    fn new() -> Bed {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = seed::seed_repository(dir.path());
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        Bed { dir, repo }
    }

    async fn run(&self, requirement: &str, extra: &[&str], env: Vec<(String, String)>) -> Ran {
        let mut args: Vec<String> = ["--repo", &self.repo.display().to_string(), "--requirement"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(requirement.to_owned());
        args.extend(["--run-tests".to_owned(), "true".to_owned()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        run(&self.dir.path().join("home"), args, env).await
    }

    /// `path` as the run of `requirement` committed it on its branch (the checkout is back on the seed).
    fn committed(&self, requirement: &str, path: &str) -> String {
        let git = git2::Repository::open(&self.repo).expect("open repo");
        let branch = format!("refs/heads/metagpt/local-{}", slug(requirement));
        let tip = git.refname_to_id(&branch).expect("the run's branch");
        fixture::file_in(&git, tip, path).unwrap_or_else(|| panic!("{path} is not committed"))
    }

    /// An evidence file of the first iteration of `requirement`'s run, as committed.
    fn evidence(&self, requirement: &str, file: &str) -> String {
        let dir = format!(".metagpt/runs/local-{}/1", slug(requirement));
        self.committed(requirement, &format!("{dir}/{file}"))
    }
}

fn python_env(python: &Path) -> Vec<(String, String)> {
    vec![
        ("METAGPT_PYTHON".to_owned(), python.display().to_string()),
        (
            "AGENT_UID".to_owned(),
            crate::support::interpreter::agent_uid_for(python).to_string(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_committed_llm_jsonl_replays_the_run_offline_and_stops_where_a_run_diverges() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let keep = tempfile::tempdir().expect("tempdir");
    let recording = keep.path().join("llm.jsonl");

    let recorded = Bed::new();
    let llm = ScriptedLlm::start().await;
    let sop = Sop::new(
        Scenario::requirement(REQUIREMENT)
            .reject_review_once("calc.py")
            .fail_test_once("calc.py"),
    );
    sop.install(&llm);
    let mut env = python_env(&python);
    env.extend(
        [
            ("LLM_BASE_URL", llm.base_url().to_string()),
            (
                "LLM_API_KEY",
                "sk-fake-provider-key-for-the-e2e-test".to_owned(),
            ),
            ("LLM_MODEL", "gpt-4o-mini".to_owned()),
            ("LLM_PRICE_PROMPT", PRICE.prompt_per_million.to_string()),
            (
                "LLM_PRICE_COMPLETION",
                PRICE.completion_per_million.to_string(),
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let ran = recorded.run(REQUIREMENT, &[], env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    std::fs::write(&recording, recorded.evidence(REQUIREMENT, "llm.jsonl")).expect("llm.jsonl");
    drop(llm); // the provider is gone from here on

    let replayed = Bed::new();
    let ran = replayed
        .run(
            REQUIREMENT,
            &["--replay", &recording.display().to_string()],
            python_env(&python),
        )
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let cost = |bed: &Bed| bed.evidence(REQUIREMENT, "cost.json");
    assert_eq!(cost(&replayed), cost(&recorded), "the same cost.json");
    let replayed_ledger = keep.path().join("replayed.jsonl");
    std::fs::write(
        &replayed_ledger,
        replayed.evidence(REQUIREMENT, "llm.jsonl"),
    )
    .expect("ledger");
    let ledger = read_jsonl(&replayed_ledger).expect("ledger");
    assert!(
        ledger.iter().all(|r| r.replayed),
        "every call came from the recording"
    );
    assert!(ledger.iter().any(|r| r.step == Step::RewriteCode));
    assert!(
        ledger.iter().any(|r| r.step == Step::Debug),
        "QA ran and fixed the tests"
    );
    let normalised: Vec<_> = ledger
        .iter()
        .filter(|r| r.replay == Some(ReplayMatch::Normalised))
        .collect();
    assert!(
        normalised
            .iter()
            .all(|r| matches!(r.step, Step::SummarizeRun | Step::Debug) && !r.tolerated.is_empty()),
        "only calls quoting a test run are normalised: {normalised:?}"
    );
    assert!(
        normalised
            .iter()
            .any(|r| r.tolerated.contains(&Fold::TempDir)),
        "the traceback of the failing test names the recorded run's temporary work tree: {normalised:?}"
    );
    let exact = ledger.len() - normalised.len();
    assert!(
        ledger
            .iter()
            .filter(|r| r.replay == Some(ReplayMatch::Exact))
            .count()
            == exact
    );
    let line = format!(
        "replay: {} calls answered from the recording: {exact} exactly, {} after normalising",
        ledger.len(),
        normalised.len()
    );
    assert!(ran.stdout.contains(&line), "{line}\n{}", ran.stdout);
    for file in [
        "seed/calc.py",
        "seed/main.py",
        "tests/test_calc.py",
        "tests/test_main.py",
    ] {
        assert_eq!(
            replayed.committed(REQUIREMENT, file),
            recorded.committed(REQUIREMENT, file),
            "{file}"
        );
    }

    let diverging = Bed::new();
    let other = "Calculator improvements for the seed project: add a multiply function";
    let ran = diverging
        .run(
            other,
            &["--replay", &recording.display().to_string()],
            python_env(&python),
        )
        .await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(
        ran.stderr
            .contains("not in the recording: the run diverged at call 1, step prd"),
        "{}",
        ran.stderr
    );
}
