//! `metagpt-bot run` with the real MetaGPT 0.8.2 against a model that fails in the two ways a provider
//! does besides erroring: it answers garbage (text that is not the format the SOP step asks for), or it
//! accepts the request and never answers.
//!
//! What a user relies on: either way the run ends in exit 1 with a message that says what happened and at
//! which step (MetaGPT itself would exit 0), nothing is committed, and no `pr-body.md` is written; `--out`
//! holds what was spent (the exact tokens), the redacted trace and `failure.md`. A model
//! that hangs costs exactly the gateway's attempts (`--llm-timeout` each), not MetaGPT's retries on top.
//!
//! Skipped, with the reason printed, without a MetaGPT interpreter (fails under `CI`). Each run takes
//! 20–60 s (MetaGPT's import, and its back-off between the garbage answers).

use super::metagpt_bed;
use crate::support::fixture;
use crate::support::scripted_llm;
use crate::support::sop_llm;

use std::path::PathBuf;

use fixture::{Ran, run};
use metagpt_bed::Bed;
use metagpt_bot::marks::slug;
use scripted_llm::Reply;
use sop_llm::harness::metagpt_python;

const REQUIREMENT: &str = "Add a subtract function to the calculator";
const GARBAGE: &str = "I am sorry, but I cannot help with that request.";

impl Bed {
    /// `run --requirement REQUIREMENT --out <out> <extra>` against the scripted model.
    async fn run_requirement(&self, extra: &[&str]) -> Ran {
        let mut args = vec![
            "--repo".to_owned(),
            self.repo.display().to_string(),
            "--requirement".to_owned(),
            REQUIREMENT.to_owned(),
            "--out".to_owned(),
            self.out().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let env = self.settings("sk-fake-provider-key", "gpt-4o-mini");
        run(&self.home, args, env).await
    }

    fn out(&self) -> PathBuf {
        self.repo.with_file_name("out")
    }

    /// Exit 1, the message's pieces in stderr, and no commit anywhere: HEAD and the run's branch are still
    /// at `seed`, and no `pr-body.md` was written.
    fn assert_failed_without_commit(&self, ran: &Ran, seed: git2::Oid, says: &[&str]) {
        assert_eq!(
            ran.code, 1,
            "stdout:\n{}\nstderr:\n{}",
            ran.stdout, ran.stderr
        );
        for piece in ["metagpt-bot run: MetaGPT failed", "Nothing was committed"]
            .iter()
            .chain(says)
        {
            assert!(
                ran.stderr.contains(piece),
                "no {piece:?} in:\n{}",
                ran.stderr
            );
        }
        assert_eq!(self.head(), seed, "HEAD moved");
        let git = git2::Repository::open(&self.repo).expect("open repo");
        let branch = format!("refs/heads/metagpt/local-{}", slug(REQUIREMENT));
        let tip = git.refname_to_id(&branch).expect("the run's branch");
        assert_eq!(tip, seed, "{branch} has a new commit");
        assert!(
            !self.out().join("pr-body.md").exists(),
            "a pr-body.md was written"
        );
    }

    /// `--out` holds `cost.json` with exactly the tokens the model reported, a redacted trace and
    /// `failure.md` naming the last call's step.
    fn assert_account_in_out(&self, tokens: (u64, u64), step: &str) {
        let read = |name: &str| {
            std::fs::read_to_string(self.out().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let cost: serde_json::Value = serde_json::from_str(&read("cost.json")).expect("cost.json");
        assert_eq!(cost["total"]["prompt_tokens"], tokens.0, "{cost:#}");
        assert_eq!(cost["total"]["completion_tokens"], tokens.1, "{cost:#}");
        let trace = read("trace.jsonl");
        assert!(
            !trace.contains("sk-fake-provider-key") && !trace.contains("mgb-"),
            "{trace}"
        );
        let failure = read("failure.md");
        assert!(failure.contains(&format!("at step `{step}`")), "{failure}");
        assert!(failure.contains("Nothing was committed"), "{failure}");
    }
}

#[tokio::test]
async fn garbage_answers_end_in_exit_1_naming_the_unparsable_step_and_commit_nothing() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bed = Bed::new(python).await;
    bed.llm.set_fallback(|_| Reply::chat(GARBAGE, 40, 12));
    let seed = bed.head();
    let ran = bed.run_requirement(&[]).await;

    bed.assert_failed_without_commit(
        &ran,
        seed,
        &[
            "the LLM's answers could not be parsed at step WritePRD (Product Manager) after 6 attempts",
            "try a stronger model (LLM_MODEL)",
        ],
    );
    // MetaGPT retried its PRD step six times, each a new paid call; no later step was reached.
    assert_eq!(bed.llm.requests().len(), 6);
    bed.assert_account_in_out((6 * 40, 6 * 12), "prd");
}

#[tokio::test]
async fn a_model_that_never_answers_ends_in_exit_1_after_the_gateway_attempts_only() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bed = Bed::new(python).await;
    bed.llm.set_fallback(|_| Reply::Hang);
    let seed = bed.head();
    let ran = bed.run_requirement(&["--llm-timeout", "1"]).await;

    bed.assert_failed_without_commit(
        &ran,
        seed,
        &[
            "the LLM call at step WritePRD (Product Manager) failed and the gateway gave up on it",
            "did not answer in time after 4 attempt(s)",
        ],
    );
    // The gateway's 4 attempts and nothing more: neither the openai client nor MetaGPT retried on top.
    assert_eq!(bed.llm.requests().len(), 4);
    bed.assert_account_in_out((0, 0), "prd");
}
