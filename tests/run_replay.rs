//! `metagpt-bot run --replay`: a real MetaGPT 0.8.2 run recorded against the scripted SOP model is
//! audited offline from the `llm.jsonl` it committed: no provider, no key, the same code and the same
//! `cost.json`; a run that asks something else is stopped where it diverges.
//!
//! The recorded run has no QA: a test-run summary prompt quotes the test output, whose timings differ
//! from run to run, so a run with tests replays only up to its first summary (and says so).
//! Skipped, with the reason printed, without a MetaGPT interpreter (fails under `CI`).

#[path = "run/fixture.rs"]
mod fixture;
#[path = "support/scripted_llm.rs"]
mod scripted_llm;
#[path = "support/sop_llm/mod.rs"]
mod sop_llm;

use std::path::{Path, PathBuf};

use fixture::{Ran, run};
use metagpt_bot::gateway::{Step, read_jsonl};
use metagpt_bot::workspace::slug;
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
        args.extend(["--run-tests".to_owned(), "false".to_owned()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        run(&self.dir.path().join("home"), args, env).await
    }

    fn evidence(&self, requirement: &str, file: &str) -> PathBuf {
        let dir = format!(".metagpt/runs/local-{}/1", slug(requirement));
        self.repo.join(dir).join(file)
    }

    fn read(&self, path: &Path) -> String {
        std::fs::read_to_string(self.repo.join(path)).expect("a file the run wrote")
    }
}

fn python_env(python: &Path) -> Vec<(String, String)> {
    vec![("METAGPT_PYTHON".to_owned(), python.display().to_string())]
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
    let sop = Sop::new(Scenario::requirement(REQUIREMENT).reject_review_once("calc.py"));
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
    std::fs::copy(recorded.evidence(REQUIREMENT, "llm.jsonl"), &recording).expect("llm.jsonl");
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
    let cost = |bed: &Bed| bed.read(&bed.evidence(REQUIREMENT, "cost.json"));
    assert_eq!(cost(&replayed), cost(&recorded), "the same cost.json");
    let ledger = read_jsonl(&replayed.evidence(REQUIREMENT, "llm.jsonl")).expect("ledger");
    assert!(
        ledger.iter().all(|r| r.replayed),
        "every call came from the recording"
    );
    assert!(ledger.iter().any(|r| r.step == Step::RewriteCode));
    for file in ["seed/calc.py", "seed/main.py"] {
        assert_eq!(
            replayed.read(Path::new(file)),
            recorded.read(Path::new(file)),
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
