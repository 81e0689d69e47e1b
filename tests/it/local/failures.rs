//! Runs that start and fail: the provider answers 500, never answers, or the budget runs out. Each ends in
//! exit 1, a message saying what happened and that nothing was committed, and the run's branch still at
//! the seed commit; with `--out`, what was spent, the trace so far and the failure are left there.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

#[tokio::test]
async fn a_run_failing_mid_way_leaves_what_it_spent_its_trace_and_the_failure_in_out() {
    let fx = Fixture::new(true);
    let llm = ScriptedLlm::start().await;
    let answered = AtomicUsize::new(0);
    llm.set_fallback(move |_| {
        if answered.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::chat("done", PROMPT_TOKENS, COMPLETION_TOKENS)
        } else {
            Reply::error(500, "upstream broke")
        }
    });
    let out = fx.root.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("pr-body.md"), "an earlier run's body\n").unwrap();
    let ran = run_requirement(&fx, &llm, Some(&out)).await;
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(
        ran.stderr.contains(&format!(
            "What was spent, the trace so far and the failure are in {}/",
            out.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(&format!(
            "Before it failed, the last step finished was ProductManager: stand-in; 2 LLM call(s), \
             {PROMPT_TOKENS} prompt and {COMPLETION_TOKENS} completion tokens."
        )),
        "how far it got: {}",
        ran.stderr
    );

    let cost = json(&std::fs::read_to_string(out.join("cost.json")).expect("cost.json"));
    assert_eq!(cost["iteration"], 1);
    assert_eq!(cost["total"]["prompt_tokens"], PROMPT_TOKENS, "{cost:#}");
    assert_eq!(cost["total"]["completion_tokens"], COMPLETION_TOKENS);
    let spent = cost["total"]["cost_usd"].as_f64().unwrap();
    assert!((spent - expected_cost(1)).abs() < 1e-12, "{spent}");
    assert_eq!(cost["cumulative"], cost["total"]);

    let trace = std::fs::read_to_string(out.join("trace.jsonl")).expect("trace.jsonl");
    assert_eq!(trace.lines().count(), 1, "the one answered role: {trace}");
    assert!(trace.contains("ProductManager done"), "{trace}");
    assert!(
        trace.contains("[REDACTED]") && !trace.contains("mgb-") && !trace.contains(KEY),
        "redacted: {trace}"
    );

    let failure = std::fs::read_to_string(out.join("failure.md")).expect("failure.md");
    for piece in [
        "Nothing was committed",
        &format!("Run `local-{SLUG}`, iteration 1"),
        "- Last step finished: `ProductManager: stand-in`",
        "HTTP 502: LLM provider unavailable after 4 attempt(s): last answer 500",
        "upstream broke",
        &format!("Spent: ${:.4} of $3.00", expected_cost(1)),
        &format!("{PROMPT_TOKENS} prompt and {COMPLETION_TOKENS} completion tokens"),
    ] {
        assert!(failure.contains(piece), "no {piece:?} in:\n{failure}");
    }
    assert!(!failure.contains("mgb-") && !failure.contains(KEY));
    assert!(
        !out.join("pr-body.md").exists(),
        "a failed run has no PR body"
    );
    assert!(!out.join("gates.json").exists());
}

#[tokio::test]
async fn an_agent_that_crashes_mid_way_leaves_what_it_spent_its_trace_and_the_failure_in_out() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let out = fx.root.path().join("out");
    let request = ["--requirement", "Add a discount code CRASH_MIDWAY"];
    let ran = run(
        &fx.home,
        args(&fx, &request, Some(&out)),
        fx.env(llm.base_url().as_str()),
    )
    .await;
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    for piece in [
        // `signal: 9` unsandboxed, `exit status: 137` from bwrap, whose child it was.
        "the MetaGPT wrapper exited (",
        "without writing its result",
        &format!(
            "Before it failed, the last step finished was ProductManager: stand-in; 1 LLM call(s), \
             {PROMPT_TOKENS} prompt and {COMPLETION_TOKENS} completion tokens."
        ),
        &format!(
            "spent ${:.4} of $3.00. Nothing was committed.",
            expected_cost(1)
        ),
    ] {
        assert!(
            ran.stderr.contains(piece),
            "no {piece:?} in:\n{}",
            ran.stderr
        );
    }
    let cost = json(&std::fs::read_to_string(out.join("cost.json")).expect("cost.json"));
    assert_eq!(cost["total"]["prompt_tokens"], PROMPT_TOKENS, "{cost:#}");
    let trace = std::fs::read_to_string(out.join("trace.jsonl")).expect("trace.jsonl");
    assert_eq!(trace.lines().count(), 1, "the one answered role: {trace}");
    let failure = std::fs::read_to_string(out.join("failure.md")).expect("failure.md");
    assert!(
        failure.contains("- Last step finished: `ProductManager: stand-in`")
            && failure.contains("without writing its result"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_failing_llm_ends_in_exit_1_and_no_commit() {
    let fx = Fixture::new(true);
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::error(500, "upstream broke"));
    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(ran.code, 1, "stderr:\n{}", ran.stderr);
    assert!(
        ran.stderr.contains("Nothing was committed"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("500"),
        "says what the LLM answered: {}",
        ran.stderr
    );
    assert!(!llm.requests().is_empty(), "the LLM was asked");
    assert_eq!(
        branch_tip(&fx, &format!("metagpt/local-{SLUG}")),
        fx.seed,
        "no commit"
    );
    assert!(!ran.stderr.contains(KEY) && !ran.stdout.contains(KEY));
}

#[tokio::test]
async fn a_provider_that_never_answers_ends_in_exit_1_after_the_gateway_attempts() {
    let fx = Fixture::new(true);
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::Hang);
    let mut args = args(&fx, &["--requirement", REQUIREMENT], None);
    args.extend(["--llm-timeout".to_owned(), "1".to_owned()]);
    let ran = run(&fx.home, args, fx.env(llm.base_url().as_str())).await;
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(
        ran.stderr.contains("504") && ran.stderr.contains("Nothing was committed"),
        "says the provider timed out and nothing was committed: {}",
        ran.stderr
    );
    assert_eq!(llm.requests().len(), 4, "the gateway's 4 attempts, no more");
    assert_eq!(
        branch_tip(&fx, &format!("metagpt/local-{SLUG}")),
        fx.seed,
        "no commit"
    );
}

#[tokio::test]
async fn an_exhausted_budget_ends_in_exit_1_and_no_commit() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let out = fx.root.path().join("out");
    let mut args = args(&fx, &["--requirement", REQUIREMENT], Some(&out));
    // One call costs more than this, so the gateway refuses the second one.
    args.extend(["--max-cost-usd".to_owned(), "0.000001".to_owned()]);
    let ran = run(&fx.home, args, fx.env(llm.base_url().as_str())).await;
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stderr.contains("budget exhausted"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Nothing was committed"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        llm.requests().len(),
        1,
        "no call was forwarded past the budget"
    );
    assert_eq!(
        branch_tip(&fx, &format!("metagpt/local-{SLUG}")),
        fx.seed,
        "no commit"
    );

    // What the one call cost, its trace and the failure are left in --out.
    let cost = json(&std::fs::read_to_string(out.join("cost.json")).expect("cost.json"));
    assert_eq!(cost["total"]["prompt_tokens"], PROMPT_TOKENS, "{cost:#}");
    assert_eq!(cost["total"]["completion_tokens"], COMPLETION_TOKENS);
    let trace = std::fs::read_to_string(out.join("trace.jsonl")).expect("trace.jsonl");
    assert_eq!(trace.lines().count(), 1, "the one answered role: {trace}");
    let failure = std::fs::read_to_string(out.join("failure.md")).expect("failure.md");
    assert!(failure.contains("The budget was exhausted"), "{failure}");
    assert!(
        failure.contains(&format!("Spent: ${:.4}", expected_cost(1))),
        "{failure}"
    );
}
