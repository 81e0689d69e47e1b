//! Runs that start and fail: the provider answers 500, never answers, or the budget runs out. Each ends in
//! exit 1, a message saying what happened and that nothing was committed, and the run's branch still at
//! the seed commit.

use super::*;

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
    let mut args = args(&fx, &["--requirement", REQUIREMENT], None);
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
}
