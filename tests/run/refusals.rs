//! Runs that must not spend money or must not commit: refusals before any LLM call (exit 2) and failed
//! runs (exit 1, nothing committed).

use super::*;

#[tokio::test]
async fn a_repository_without_the_layout_is_refused_before_any_llm_call() {
    let fx = Fixture::new(false);
    let llm = llm().await;
    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(ran.code, 2, "stderr:\n{}", ran.stderr);
    assert!(
        ran.stderr.contains("shop/"),
        "names the missing folder: {}",
        ran.stderr
    );
    assert_eq!(llm.requests().len(), 0, "no LLM call was made");
    assert_eq!(
        fx.git().head().unwrap().peel_to_commit().unwrap().id(),
        fx.seed
    );
}

#[tokio::test]
async fn a_dirty_tree_is_refused() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    std::fs::write(fx.repo.join("notes.txt"), "mine\n").unwrap();
    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(ran.code, 2, "stderr:\n{}", ran.stderr);
    assert!(ran.stderr.contains("notes.txt"), "{}", ran.stderr);
    assert_eq!(llm.requests().len(), 0);
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
async fn missing_settings_are_usage_errors_with_their_fixes() {
    let fx = Fixture::new(true);
    let ran = run(
        &fx.home,
        args(&fx, &["--requirement", REQUIREMENT], None),
        vec![],
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    for key in ["METAGPT_PYTHON", "LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL"] {
        assert!(ran.stderr.contains(key), "names {key}: {}", ran.stderr);
    }
    let mut env = fx.env("http://127.0.0.1:9/v1");
    env.retain(|(k, _)| !k.starts_with("LLM_PRICE_"));
    let ran = run(
        &fx.home,
        args(&fx, &["--requirement", REQUIREMENT], None),
        env,
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("LLM_PRICE_PROMPT"),
        "an unpriced model: {}",
        ran.stderr
    );
    let ran = run(
        &fx.home,
        args(&fx, &[], None),
        fx.env("http://127.0.0.1:9/v1"),
    )
    .await;
    assert_eq!(ran.code, 2, "no request text: {}", ran.stderr);
    assert_eq!(
        fx.git().head().unwrap().peel_to_commit().unwrap().id(),
        fx.seed
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
