//! What a successful run commits: one bot commit on `metagpt/local-<slug>` with the agent's work and the
//! evidence, the `--out` copies, iteration numbers and cumulative cost across runs, and the bug-fix text.

use super::*;

#[tokio::test]
async fn a_requirement_run_commits_code_and_evidence_on_its_branch() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let out = fx.root.path().join("out");
    let before = checked_out(&fx);
    let ran = run_requirement(&fx, &llm, Some(&out)).await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stdout.contains("gates: passed"), "{}", ran.stdout);

    let git = fx.git();
    let branch = format!("metagpt/local-{SLUG}");
    assert_eq!(
        checked_out(&fx),
        before,
        "the user's branch is checked out again"
    );
    assert!(
        ran.stdout.contains(&format!(
            "checkout: back on {before}; the run's work is on {branch}"
        )),
        "{}",
        ran.stdout
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
        "report.json",
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
