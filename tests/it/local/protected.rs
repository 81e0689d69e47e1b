//! A run that changes a protected path fails its gate; the evidence is committed but the protected file
//! is neither committed nor left in the work tree.

use super::*;

#[tokio::test]
async fn a_changed_workflow_fails_the_gate_and_is_not_committed() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let text = "Speed up TOUCH_WORKFLOW builds";
    let ran = run(
        &fx.home,
        args(&fx, &["--requirement", text], None),
        fx.env(llm.base_url().as_str()),
    )
    .await;
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stdout.contains("protected_paths"), "{}", ran.stdout);
    let git = fx.git();
    let tip = branch_tip(&fx, "metagpt/local-speed-up-touch-workflow-builds");
    assert_ne!(tip, fx.seed, "the evidence of a gate failure is committed");
    assert!(
        file_in(&git, tip, ".github/workflows/ci.yml").is_none(),
        "workflow not committed"
    );
    assert!(
        !fx.repo.join(".github/workflows/ci.yml").exists(),
        "and removed from the work tree"
    );
    let gates = json(
        &file_in(
            &git,
            tip,
            ".metagpt/runs/local-speed-up-touch-workflow-builds/1/gates.json",
        )
        .unwrap(),
    );
    let gate = gates["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "protected_paths")
        .unwrap();
    assert_eq!(gate["passed"], false);
    assert!(
        gate["detail"]
            .as_str()
            .unwrap()
            .contains(".github/workflows/ci.yml"),
        "{gate}"
    );
}
