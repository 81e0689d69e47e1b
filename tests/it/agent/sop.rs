//! End to end: the real MetaGPT 0.8.2 runs an incremental SOP on the seed repository through the LLM
//! gateway, against a scripted model that answers every step in MetaGPT's formats (`support/sop_llm`).
//!
//! Each test checks what a user of the bot relies on: the run succeeds; MetaGPT wrote the PRD, design,
//! tasks, the code of the task list, tests and passing test outputs; every role spoke in the trace; and
//! the gateway's ledger holds exactly the calls the script answered, with their usage and its price.
//!
//! Skipped, with the reason printed, when neither `METAGPT_PYTHON` nor `.venv-metagpt/bin/python` exists
//! (`scripts/install-metagpt.sh` installs it), unless `CI` is set: then a missing interpreter fails.

use crate::support::sop_llm;

use metagpt_bot::config::SandboxMode;
use metagpt_bot::domain::Flow;
use metagpt_bot::domain::Kind;
use metagpt_bot::run::gateway::Step;
use sop_llm::harness::{Bench, assert_code, assert_test_passed, json_docs, metagpt_python, read};
use sop_llm::{Scenario, python, seed};

const TEAM: [&str; 5] = [
    "Product Manager",
    "Architect",
    "Project Manager",
    "Engineer",
    "QaEngineer",
];

#[tokio::test]
async fn a_requirement_run_writes_the_whole_sop_and_a_later_bugfix_run_fixes_the_code() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bench = Bench::start(python).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = seed::seed_repository(dir.path());

    // (a) a requirement, right first time.
    let idea = "Add a subtract function to the calculator and a main program";
    let ran = bench
        .run(&repo, Kind::Requirement, idea, Scenario::requirement(idea))
        .await;
    assert_eq!(ran.outcome.flow, Flow::Requirement);
    assert!(ran.outcome.idle, "the team stopped before it was done");
    let prd = json_docs(&repo, "docs/prd");
    assert_eq!(prd.len(), 1);
    assert_eq!(prd[0]["Original Requirements"], idea);
    assert_eq!(json_docs(&repo, "docs/system_design").len(), 1);
    let tasks = json_docs(&repo, "docs/task");
    assert_eq!(tasks[0]["Task list"], serde_json::json!(python::TASK_FILES));
    assert_eq!(json_docs(&repo, "docs/code_plan_and_change").len(), 1);
    assert_code(&repo, "seed/calc.py", python::CALC);
    assert_code(&repo, "seed/main.py", python::MAIN);
    assert_code(&repo, "tests/test_calc.py", python::TEST_CALC);
    assert_code(&repo, "tests/test_main.py", python::TEST_MAIN);
    assert_test_passed(&repo, "test_calc.py");
    assert_test_passed(&repo, "test_main.py");
    assert!(
        ran.served()
            .iter()
            .all(|s| !s.contains("LBTM") && !s.contains("FAIL")),
        "{:?}",
        ran.served()
    );
    ran.assert_roles_spoke(&TEAM);
    ran.assert_costs_match_the_script();
    assert_eq!(
        seed::commit_messages(&repo),
        vec!["seed".to_owned()],
        "MetaGPT committed"
    );

    // (d) a bug report on the repository the requirement run worked on, once its result is committed.
    crate::support::fixture::commit_all(&repo, "requirement run");
    let bug = "calc accepts strings: add(\"2\", \"3\") returns \"23\" instead of refusing them";
    let ran = bench
        .run(&repo, Kind::Bugfix, bug, Scenario::bugfix(bug))
        .await;
    assert_eq!(ran.outcome.flow, Flow::Bugfix);
    assert!(ran.outcome.idle, "the team stopped before it was done");
    assert_eq!(read(&repo.join("docs/bugfix.txt")), bug);
    let steps = ran.steps();
    assert!(
        !steps
            .iter()
            .any(|s| matches!(s, Step::Prd | Step::Design | Step::Tasks)),
        "a bug run writes no spec: {steps:?}"
    );
    assert_code(&repo, "seed/calc.py", python::CALC_FIXED);
    // The tests the first run left (and the user committed) are the project's now: kept as they are,
    // the bug fix's tests go to a new file.
    assert_code(&repo, "tests/test_calc.py", python::TEST_CALC);
    assert_code(&repo, "tests/test_calc_metagpt.py", python::TEST_CALC_FIXED);
    assert_test_passed(&repo, "test_calc_metagpt.py");
    ran.assert_roles_spoke(&["Engineer", "QaEngineer"]);
    ran.assert_costs_match_the_script();
}

#[tokio::test]
async fn a_rejected_review_is_rewritten_and_a_failing_test_is_fixed_by_qa() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bench = Bench::start(python).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = seed::seed_repository(dir.path());
    let idea = "Add a subtract function to the calculator and a main program";
    // (b) the first calc.py swaps subtract's operands and is rejected once; (c) the first tests of
    // calc.py expect a wrong difference, fail, and QA's debug step fixes them.
    let scenario = Scenario::requirement(idea)
        .reject_review_once("calc.py")
        .fail_test_once("calc.py");
    let ran = bench.run(&repo, Kind::Requirement, idea, scenario).await;
    assert!(ran.outcome.idle, "the team stopped before it was done");

    let served = ran.served();
    let position = |what: &str| {
        served
            .iter()
            .position(|s| s == what)
            .unwrap_or_else(|| panic!("no {what:?} in {served:?}"))
    };
    assert!(position("review calc.py LBTM") < position("rewrite calc.py"));
    assert!(position("rewrite calc.py") < position("review calc.py LGTM"));
    assert_code(&repo, "seed/calc.py", python::CALC);

    assert!(position("summary test_calc.py FAIL") < position("debug test_calc.py"));
    assert!(position("debug test_calc.py") < position("summary test_calc.py PASS"));
    assert_code(&repo, "tests/test_calc.py", python::TEST_CALC);
    assert_test_passed(&repo, "test_calc.py");
    assert_test_passed(&repo, "test_main.py");

    let steps = ran.steps();
    assert_eq!(steps.iter().filter(|s| **s == Step::Debug).count(), 1);
    assert_eq!(
        steps.iter().filter(|s| **s == Step::CodeReview).count(),
        3,
        "calc.py: LBTM, LGTM; main.py: LGTM"
    );
    assert_eq!(
        steps.iter().filter(|s| **s == Step::RewriteCode).count(),
        1,
        "calc.py is rewritten once, after its LBTM"
    );
    ran.assert_roles_spoke(&TEAM);
    ran.assert_costs_match_the_script();
}

/// The same requirement run under Landlock and seccomp (`AGENT_SANDBOX=landlock`): MetaGPT, its LLM calls
/// through the gateway's TCP port and QA's test runs all work in the fallback sandbox.
#[tokio::test]
async fn a_requirement_run_under_landlock_writes_the_whole_sop_with_passing_tests() {
    let Some(python) = metagpt_python() else {
        return;
    };
    if !super::sandbox::landlock_works() {
        return;
    }
    let bench = Bench::start(python).await.sandboxed(SandboxMode::Landlock);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = seed::seed_repository(dir.path());
    let idea = "Add a subtract function to the calculator and a main program";
    let ran = bench
        .run(&repo, Kind::Requirement, idea, Scenario::requirement(idea))
        .await;
    assert_eq!(ran.outcome.flow, Flow::Requirement);
    assert!(ran.outcome.idle, "the team stopped before it was done");
    assert_eq!(json_docs(&repo, "docs/prd").len(), 1);
    assert_code(&repo, "seed/calc.py", python::CALC);
    assert_code(&repo, "tests/test_calc.py", python::TEST_CALC);
    assert_test_passed(&repo, "test_calc.py");
    assert_test_passed(&repo, "test_main.py");
    ran.assert_roles_spoke(&TEAM);
    ran.assert_costs_match_the_script();
}
