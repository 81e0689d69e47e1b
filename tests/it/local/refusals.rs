//! Runs refused before any LLM call (exit 2, nothing spent, nothing committed): a repository without
//! MetaGPT's layout, a dirty tree, missing or incomplete settings. A refused run touches no branch and
//! leaves the checkout where it was.

use super::*;

#[tokio::test]
async fn a_repository_without_the_layout_is_refused_before_any_llm_call_or_branch() {
    let fx = Fixture::new(false);
    let llm = llm().await;
    let before = checked_out(&fx);
    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(ran.code, 2, "stderr:\n{}", ran.stderr);
    assert!(
        ran.stderr.contains("has no Python package")
            && ran
                .stderr
                .contains("set `source_dir` in .github/metagpt.yml"),
        "says why and how to run anyway: {}",
        ran.stderr
    );
    assert_eq!(llm.requests().len(), 0, "no LLM call was made");
    assert_eq!(
        fx.git().head().unwrap().peel_to_commit().unwrap().id(),
        fx.seed
    );
    assert_eq!(checked_out(&fx), before, "the checkout is untouched");
    assert_eq!(run_branches(&fx), Vec::<String>::new(), "no run branch");
    assert!(fixture_clean(&fx), "nothing written");
}

#[tokio::test]
async fn a_dirty_tree_is_refused_before_any_branch() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let before = checked_out(&fx);
    std::fs::write(fx.repo.join("notes.txt"), "mine\n").unwrap();
    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(ran.code, 2, "stderr:\n{}", ran.stderr);
    assert!(ran.stderr.contains("notes.txt"), "{}", ran.stderr);
    assert_eq!(llm.requests().len(), 0);
    assert_eq!(checked_out(&fx), before, "the checkout is untouched");
    assert_eq!(run_branches(&fx), Vec::<String>::new(), "no run branch");
    assert_eq!(
        std::fs::read_to_string(fx.repo.join("notes.txt")).unwrap(),
        "mine\n"
    );
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
