//! Artifact parsing and the quality gates against the fixture of a MetaGPT incremental run.

use super::support;

use metagpt_bot::domain::Kind;
use metagpt_bot::run::evidence::*;
use support::{Run, failed_detail};

#[test]
fn the_fixture_run_parses_into_typed_artifacts() {
    let run = Run::new();
    let a = collect(run.root(), &Places::default(), &run.changed).expect("collect");
    assert!(a.invalid.is_empty(), "{:?}", a.invalid);
    let prd = &a.prds[0];
    assert_eq!(prd.path, "docs/prd/20240601120000.json");
    assert!(prd.changed && prd.value.is_refined());
    assert_eq!(prd.value.goals().len(), 2);
    assert_eq!(prd.value.requirement_pool()[1].priority, "P0");
    assert_eq!(
        a.designs[0].value.file_list(),
        ["main.py", "calculator.py", "history.py"]
    );
    assert_eq!(
        a.tasks[0].value.task_list(),
        ["history.py", "calculator.py", "main.py"]
    );
    assert_eq!(a.code_plans[0].value.development_plan().len(), 2);
    assert_eq!(a.prd_markdown.len(), 1);
    assert!(
        a.code_summaries.is_empty(),
        "0.8.2 writes no code summaries"
    );
    assert_eq!(a.tests.len(), 3);
    assert!(judge_test_output(&a.test_output("test_history.py").expect("output").value).passed);
}

#[test]
fn every_gate_passes_on_a_clean_run_and_gates_json_has_the_contract_shape() {
    let report = Run::new().gates();
    assert!(report.passed, "{report:#?}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
    assert_eq!(json["passed"], true);
    let names: Vec<&str> = json["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .map(|g| g["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            PRD_VALID,
            DESIGN_PRESENT,
            TASKS_COVER_CHANGES,
            CODE_REVIEWED,
            TESTS_WRITTEN,
            TESTS_PASS,
            WITHIN_BUDGET,
            PROTECTED_PATHS,
            NO_SECRETS_IN_DIFF
        ]
    );
    assert!(
        json["gates"][0]["detail"]
            .as_str()
            .expect("detail")
            .contains("docs/prd/20240601120000.json")
    );
}

#[test]
fn invalid_prd_json_fails_prd_valid_naming_the_file() {
    let mut run = Run::new();
    run.write(
        "docs/prd/20240601120000.json",
        "{\"Refined Requirements\": ",
    );
    let detail = failed_detail(&run.gates(), PRD_VALID);
    assert!(
        detail.starts_with("docs/prd/20240601120000.json is not valid"),
        "{detail}"
    );
}

#[test]
fn a_prd_without_goals_fails_prd_valid_naming_the_key() {
    let mut run = Run::new();
    run.write(
        "docs/prd/20240601120000.json",
        r#"{"Refined Requirements": "x", "Refined Requirement Pool": [["P0", "y"]]}"#,
    );
    let detail = failed_detail(&run.gates(), PRD_VALID);
    assert!(
        detail.contains("`Refined Product Goals` or `Product Goals`"),
        "{detail}"
    );
}

#[test]
fn a_requirement_run_that_wrote_no_design_fails_but_a_bug_fix_keeps_the_old_one() {
    let mut run = Run::new();
    run.changed
        .retain(|p| !p.starts_with("docs/system_design/"));
    let detail = failed_detail(&run.gates(), DESIGN_PRESENT);
    assert!(detail.contains("did not write or update"), "{detail}");
    run.kind = Kind::Bugfix;
    run.changed.retain(|p| !p.starts_with("docs/prd/"));
    let report = run.gates();
    assert!(
        report.get(DESIGN_PRESENT).expect("gate").passed,
        "{report:#?}"
    );
    assert!(
        report
            .get(PRD_VALID)
            .expect("gate")
            .detail
            .contains("kept from an earlier run")
    );
}

#[test]
fn a_changed_file_outside_the_task_list_fails_tasks_cover_changes() {
    let mut run = Run::new();
    run.write("calc/extra.py", "X = 1\n");
    let detail = failed_detail(&run.gates(), TASKS_COVER_CHANGES);
    assert_eq!(detail, "changed but not in the task list: calc/extra.py");
}

#[test]
fn a_file_whose_last_review_is_lbtm_fails_code_reviewed() {
    let mut run = Run::new();
    run.reviews.push(ReviewVerdict {
        file: "calculator.py".into(),
        verdict: Verdict::Lbtm,
    });
    let detail = failed_detail(&run.gates(), CODE_REVIEWED);
    assert_eq!(
        detail,
        "not approved: calc/calculator.py (last of 2 reviews: LBTM)"
    );
    run.reviews.retain(|r| r.file != "main.py");
    assert!(failed_detail(&run.gates(), CODE_REVIEWED).contains("calc/main.py (never reviewed)"));
}

#[test]
fn an_lbtm_followed_by_lgtm_passes_code_reviewed() {
    let mut run = Run::new();
    run.reviews.insert(
        0,
        ReviewVerdict {
            file: "./calculator.py".into(),
            verdict: Verdict::Lbtm,
        },
    );
    assert!(run.gates().get(CODE_REVIEWED).expect("gate").passed);
}

#[test]
fn a_missing_test_fails_tests_written() {
    let mut run = Run::new();
    std::fs::remove_file(run.root().join("tests/test_main.py")).expect("rm");
    run.changed.retain(|p| p != "tests/test_main.py");
    assert_eq!(
        failed_detail(&run.gates(), TESTS_WRITTEN),
        "missing: tests/test_main.py"
    );
}

#[test]
fn a_failing_test_output_fails_tests_pass_naming_the_file() {
    let mut run = Run::new();
    let failing = serde_json::json!({
        "summary": "## Status:\nFAIL\n## Send To:\nEngineer",
        "stdout": "",
        "stderr": "F\n----\nRan 1 test in 0.001s\n\nFAILED (failures=1)\n"
    });
    run.write("test_outputs/test_history.py.json", &failing.to_string());
    let detail = failed_detail(&run.gates(), TESTS_PASS);
    assert_eq!(
        detail,
        "failed: test_outputs/test_history.py.json: the test runner reported `FAILED (failures=1)`"
    );
}

#[test]
fn budget_exhaustion_and_overspending_fail_within_budget() {
    let mut run = Run::new();
    run.budget.exhausted = true;
    assert!(
        failed_detail(&run.gates(), WITHIN_BUDGET)
            .starts_with("budget exhausted: spent $0.0019 of $3.00")
    );
    run.budget = Budget {
        spent_usd: 3.5,
        max_usd: 3.0,
        exhausted: false,
    };
    assert!(failed_detail(&run.gates(), WITHIN_BUDGET).starts_with("over budget"));
}

#[test]
fn a_touched_workflow_fails_protected_paths() {
    let mut run = Run::new();
    run.protected = vec![".github/workflows/ci.yml".into()];
    assert_eq!(
        failed_detail(&run.gates(), PROTECTED_PATHS),
        "protected paths changed: .github/workflows/ci.yml"
    );
}

#[test]
fn a_planted_github_token_fails_no_secrets_without_revealing_it() {
    let mut run = Run::new();
    let token = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
    run.write(
        "calc/history.py",
        &format!("class History:\n    TOKEN = \"{token}\"\n"),
    );
    let detail = failed_detail(&run.gates(), NO_SECRETS_IN_DIFF);
    assert_eq!(
        detail,
        "calc/history.py line 2: a credential-shaped token (`ghp_…`)"
    );
    assert!(!detail.contains(&token));
}

#[test]
fn known_secret_values_and_private_keys_fail_no_secrets() {
    let mut run = Run::new();
    run.write("calc/main.py", "KEY = 'sk-provider-key-0123456789'\n");
    run.write(
        "deploy/key.pem",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
    );
    let detail = failed_detail(&run.gates(), NO_SECRETS_IN_DIFF);
    assert!(
        detail.contains("calc/main.py line 1: a known secret value"),
        "{detail}"
    );
    assert!(
        detail.contains("deploy/key.pem line 1: a private key"),
        "{detail}"
    );
}
