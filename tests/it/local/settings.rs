//! The repository's `.github/metagpt.yml`, as the checked-out commit has it, sets a local run's knobs
//! like the App's; a flag given on the command line wins over its key; a file that does not parse is a
//! usage error naming its line and column, before anything is spent or any branch is touched.

use super::*;

/// Commits `.github/metagpt.yml` with `text` (and `app/main.py`, a second source folder) on the seed.
fn commit_settings(fx: &Fixture, text: &str) -> git2::Oid {
    std::fs::create_dir_all(fx.repo.join(".github")).unwrap();
    std::fs::write(fx.repo.join(".github/metagpt.yml"), text).unwrap();
    std::fs::create_dir_all(fx.repo.join("app")).unwrap();
    std::fs::write(fx.repo.join("app/main.py"), "print('app')\n").unwrap();
    fixture::commit_all(&fx.repo, "settings")
}

async fn run_with(fx: &Fixture, llm: &ScriptedLlm, request: &str, flags: &[&str]) -> fixture::Ran {
    let mut request = vec!["--requirement", request];
    request.extend_from_slice(flags);
    run(
        &fx.home,
        args(fx, &request, None),
        fx.env(llm.base_url().as_str()),
    )
    .await
}

#[tokio::test]
async fn the_committed_settings_apply_and_a_flag_given_wins_over_its_key() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    // One call costs more than this budget: a run on the file's budget is refused at its second call.
    commit_settings(&fx, "source_dir: app\nmax_cost_usd: 0.000001\n");
    let git = fx.git();

    let ran = run_with(&fx, &llm, "Add a greeting", &["--max-cost-usd", "3"]).await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let tip = branch_tip(&fx, "metagpt/local-add-a-greeting");
    assert!(
        file_in(&git, tip, "app/feature.py").is_some(),
        "the file's source_dir: the code went to app/"
    );
    assert_eq!(llm.requests().len() as u64, CALLS, "the flag's budget");

    let ran = run_with(
        &fx,
        &llm,
        "Add a farewell",
        &["--max-cost-usd", "3", "--source-dir", "shop"],
    )
    .await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let tip = branch_tip(&fx, "metagpt/local-add-a-farewell");
    assert!(
        file_in(&git, tip, "shop/feature.py").is_some(),
        "--source-dir won"
    );
    assert!(file_in(&git, tip, "app/feature.py").is_none());

    let ran = run_with(&fx, &llm, "Add a toast", &[]).await;
    assert_eq!(ran.code, 1, "the file's budget: {}", ran.stderr);
    assert!(ran.stderr.contains("budget exhausted"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("of $0.00."),
        "the file's max_cost_usd: {}",
        ran.stderr
    );
    assert_eq!(llm.requests().len() as u64, 2 * CALLS + 1);
}

#[tokio::test]
async fn the_files_llm_model_is_asked_for_unless_the_flag_names_another() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    commit_settings(&fx, "source_dir: shop\nllm_model: no-such-model\n");
    let before = checked_out(&fx);
    let ran = run_with(&fx, &llm, REQUIREMENT, &[]).await;
    assert_eq!(
        ran.code, 2,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(
        ran.stderr
            .contains("`llm_model: no-such-model` has no known price"),
        "{}",
        ran.stderr
    );
    assert_eq!(llm.requests().len(), 0);
    assert_eq!(run_branches(&fx), Vec::<String>::new());
    assert_eq!(checked_out(&fx), before);

    let ran = run_with(&fx, &llm, REQUIREMENT, &["--llm-model", MODEL]).await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let models: Vec<String> = llm
        .requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(models, vec![MODEL.to_owned(); CALLS as usize]);
}

#[tokio::test]
async fn a_settings_file_that_does_not_parse_is_a_usage_error_with_its_line_and_column() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let commit = commit_settings(&fx, "n_round: 9\nn_rounds: 3\n");
    let before = checked_out(&fx);
    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(
        ran.code, 2,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(
        ran.stderr.contains(
            "`.github/metagpt.yml` line 2, column 1: unknown key `n_rounds`; did you mean `n_round`?"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(llm.requests().len(), 0, "nothing spent");
    assert_eq!(run_branches(&fx), Vec::<String>::new(), "no branch");
    assert_eq!(checked_out(&fx), before);
    assert_eq!(
        fx.git().head().unwrap().peel_to_commit().unwrap().id(),
        commit
    );
}
