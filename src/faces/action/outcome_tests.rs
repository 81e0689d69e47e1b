use super::*;
use crate::faces::action::test_support::{job_vars, read};

struct Job {
    _dir: tempfile::TempDir,
    env: ActionEnv,
}

impl Job {
    fn new() -> Job {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output").display().to_string();
        let summary = dir.path().join("summary").display().to_string();
        let env = read(&job_vars("/github/workflow/event.json", &output, &summary)).unwrap();
        Job { _dir: dir, env }
    }
    fn outputs(&self) -> String {
        std::fs::read_to_string(&self.env.output_file).unwrap()
    }
    fn summary(&self) -> String {
        std::fs::read_to_string(&self.env.summary_file).unwrap()
    }
}

fn outcome(gates_passed: bool) -> ActionOutcome {
    ActionOutcome {
        pr_number: Some(12),
        pr_url: Some("https://github.com/octo/hello/pull/12".to_owned()),
        cost_usd: 0.123456,
        gates_passed,
        summary_markdown: "## MetaGPT\n\n| gate | result |\n|---|---|\n| tests | passed |"
            .to_owned(),
    }
}

#[test]
fn a_passing_run_writes_every_output_and_the_summary_and_exits_0() {
    let job = Job::new();
    let mut out = Vec::new();
    assert_eq!(finish(&job.env, &Ok(outcome(true)), &mut out), 0);
    assert_eq!(
        job.outputs(),
        "pr-number=12\npr-url=https://github.com/octo/hello/pull/12\ncost-usd=0.1235\ngates-passed=true\n"
    );
    assert!(job.summary().starts_with("## MetaGPT\n\n| gate | result |"));
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn failed_gates_exit_1_with_gates_passed_false() {
    let job = Job::new();
    assert_eq!(finish(&job.env, &Ok(outcome(false)), &mut Vec::new()), 1);
    assert!(job.outputs().ends_with("gates-passed=false\n"));
}

#[test]
fn a_failed_run_annotates_summarises_and_exits_1() {
    let job = Job::new();
    let mut out = Vec::new();
    let error = ActionError::Failed("MetaGPT exited with 3\nsee the log".to_owned());
    assert_eq!(finish(&job.env, &Err(error), &mut out), 1);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "::error title=MetaGPT run failed::MetaGPT exited with 3%0Asee the log\n"
    );
    assert_eq!(
        job.outputs(),
        "pr-number=\npr-url=\ncost-usd=\ngates-passed=false\n"
    );
    assert!(job.summary().contains("MetaGPT exited with 3"));
}

#[test]
fn a_misconfiguration_found_during_the_run_exits_2() {
    let job = Job::new();
    let error = ActionError::Misconfigured("the token cannot write checks".to_owned());
    assert_eq!(finish(&job.env, &Err(error), &mut Vec::new()), 2);
}

#[test]
fn nothing_to_do_leaves_gates_passed_empty_and_one_summary_line() {
    let job = Job::new();
    let mut out = Vec::new();
    let reason = "label `bug` is not the trigger label `metagpt`";
    assert_eq!(nothing_to_do(&job.env, reason, &mut out), 0);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "::notice::nothing to do: label `bug` is not the trigger label `metagpt`\n"
    );
    assert_eq!(
        job.outputs(),
        "pr-number=\npr-url=\ncost-usd=0\ngates-passed=\n"
    );
    assert_eq!(
        job.summary(),
        "MetaGPT: nothing to do: label `bug` is not the trigger label `metagpt`\n"
    );
}

#[test]
fn unwritable_outputs_turn_success_into_failure() {
    let mut job = Job::new();
    job.env.output_file = "/nonexistent-dir/output".into();
    let mut out = Vec::new();
    assert_eq!(finish(&job.env, &Ok(outcome(true)), &mut out), 1);
    let printed = String::from_utf8(out).unwrap();
    assert!(printed.starts_with("::error title=MetaGPT action outputs::could not write"));
    assert!(printed.contains("/nonexistent-dir/output"), "{printed}");
}
