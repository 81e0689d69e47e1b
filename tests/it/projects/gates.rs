//! Gates that fail honestly on a real project: a run whose change a maintainer would refuse ends with
//! exit 1, the one gate that catches it failing and saying why (the lost test id, the project runner's
//! summary, the path outside the lanes), every other gate passing, and the evidence still written to
//! `--out` and committed on the bot's branch for the maintainer to look at.
//!
//! The changes are `sop_llm::overreach`'s on jmespath.py (no configuration): the scripted requirement
//! plus one mistake each. And the converse: a suite that already failed before the run is not the
//! run's doing, so it fails no gate.

use serde_json::Value;

use super::{Bed, Done};
use crate::support::projects::Project;
use crate::support::sop_llm::harness::metagpt_python;
use crate::support::sop_llm::overreach::{self, Overreach};

/// What `--out` holds after any run that got to its verdict.
const OUT_FILES: [&str; 4] = ["pr-body.md", "cost.json", "gates.json", "trace.jsonl"];

/// Runs `make`'s change on jmespath.py; checks the run failed `gate` only, naming what it must.
/// Returns the PR body for the flow's own checks; `None` without a MetaGPT interpreter.
async fn fails_its_gate(make: fn(&std::path::Path) -> Overreach) -> Option<String> {
    fails_its_gate_with(make, &[]).await
}

/// [`fails_its_gate`] with `extra` flags for `run`.
async fn fails_its_gate_with(
    make: fn(&std::path::Path) -> Overreach,
    extra: &[&str],
) -> Option<String> {
    let python = metagpt_python()?;
    let bed = Bed::new(Project::Jmespath, python).await;
    let Overreach {
        scenario,
        gate,
        named,
    } = make(&bed.repo);
    let out = bed.repo.with_file_name("out");
    let (ran, done) = bed
        .launch_with("--requirement", scenario, &out, extra)
        .await;

    let gates_json = std::fs::read_to_string(out.join("gates.json")).unwrap_or_default();
    let said = format!(
        "stdout:\n{}\nstderr:\n{}\ngates.json:\n{gates_json}",
        ran.stdout, ran.stderr
    );
    assert_eq!(ran.code, 1, "{said}");
    assert!(
        ran.stdout.contains(&format!("gates: failed ({gate})")),
        "only {gate} failed, and the verdict says so: {said}"
    );
    for file in OUT_FILES {
        let path = out.join(file);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "--out has no {file}: {said}");
    }

    let gates = std::fs::read_to_string(out.join("gates.json")).expect("gates.json");
    let gates: Value = serde_json::from_str(&gates).expect("gates.json is JSON");
    assert_eq!(gates["passed"], false, "{gates:#}");
    let list = gates["gates"].as_array().expect("a list of gates");
    let failed: Vec<&str> = list
        .iter()
        .filter(|g| g["passed"] == false)
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(failed, [gate], "{gates:#}");
    let detail = list
        .iter()
        .find(|g| g["name"] == gate)
        .and_then(|g| g["detail"].as_str())
        .expect("the gate's detail")
        .to_owned();
    assert!(
        detail.contains(&named),
        "{gate} does not name {named:?}: {detail}"
    );

    let body = std::fs::read_to_string(out.join("pr-body.md")).expect("pr-body.md");
    let row = format!("| `{gate}` | ❌ | ");
    let shown = body
        .lines()
        .find(|line| line.starts_with(&row))
        .map(as_read)
        .unwrap_or_default();
    assert!(
        shown.contains(&detail),
        "the PR body shows {gate} failing and why ({detail}):\n{body}"
    );
    let committed = format!(
        "{}/1/gates.json",
        done_dir(&done).expect("the run's evidence folder")
    );
    let in_commit = crate::support::fixture::file_in(&bed.git(), done.tip, &committed);
    assert!(
        in_commit.is_some(),
        "{committed} is not in the bot's commit"
    );
    Some(body)
}

/// A line of markdown as a reader sees it: the renderer's backslash escapes dropped.
fn as_read(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(next) if c == '\\' && next.is_ascii_punctuation() => {}
            _ => out.push(c),
        }
    }
    out
}

/// `.metagpt/runs/local-<slug>`, from the bot's branch name `metagpt/local-<slug>`.
fn done_dir(done: &Done) -> Option<String> {
    let slug = done.branch.strip_prefix("metagpt/local-")?;
    Some(format!(".metagpt/runs/local-{slug}"))
}

#[tokio::test]
async fn a_run_that_deletes_a_test_of_the_project_fails_existing_tests_kept_naming_it() {
    let Some(body) = fails_its_gate(overreach::deletes_a_test).await else {
        return;
    };
    assert!(body.contains("> [!WARNING]"), "{body}");
    assert!(
        body.contains("> - `tests/test_functions.py` ("),
        "the PR body lists the rewritten test file prominently:\n{body}"
    );
}

#[tokio::test]
async fn a_run_that_breaks_the_projects_suite_fails_project_tests_pass_with_the_runners_summary() {
    let Some(body) = fails_its_gate(overreach::breaks_the_suite).await else {
        return;
    };
    let (_, section) = body
        .split_once("### The project's own tests")
        .expect("the PR body's section on the project's tests");
    let line = section.trim_start().lines().next().unwrap_or_default();
    assert!(
        line.contains("❌") && line.contains(" failed"),
        "the section shows the suite failing with the runner's summary: {line}"
    );
}

#[tokio::test]
async fn a_run_that_edits_a_file_outside_its_scope_fails_diff_in_scope_naming_it() {
    let Some(body) = fails_its_gate(overreach::touches_outside).await else {
        return;
    };
    assert!(
        body.contains("> - `README.rst` ("),
        "the PR body lists the edited README prominently:\n{body}"
    );
}

/// The scripted requirement (about 35 changed lines of code and tests) under `--max-changed-lines 10`:
/// the flag reaches the run, which fails `within_size` saying the limit and where it comes from.
#[tokio::test]
async fn a_run_larger_than_max_changed_lines_fails_within_size() {
    fn oversized(work: &std::path::Path) -> Overreach {
        Overreach {
            scenario: crate::support::sop_llm::changes::requirement(Project::Jmespath, work),
            gate: "within_size",
            named: "(at most 10: `max_changed_lines`)".to_owned(),
        }
    }
    fails_its_gate_with(oversized, &["--max-changed-lines", "10"]).await;
}

/// The other side of honesty: a project whose suite already failed before the run (one broken test the
/// maintainer committed) does not get the run blamed for it. The run passes `project_tests_pass`, whose
/// detail names the test that was failing before, and the PR body says the suite failed before the run.
#[tokio::test]
async fn a_suite_already_failing_before_the_run_does_not_fail_project_tests_pass() {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bed = Bed::new(Project::Jmespath, python).await;
    let broken = "tests/test_already_broken.py";
    std::fs::write(
        bed.repo.join(broken),
        "def test_known_bug():\n    assert 1 + 1 == 3\n",
    )
    .expect("the broken test");
    crate::support::projects::git(&bed.repo, &["add", broken]);
    crate::support::projects::git(&bed.repo, &["commit", "--quiet", "-m", "A known bug"]);

    let scenario = crate::support::sop_llm::changes::requirement(Project::Jmespath, &bed.repo);
    let out = bed.repo.with_file_name("out");
    let done = bed.run("--requirement", scenario.clone(), &out).await;
    bed.assert_mergeable(&done, &scenario);

    let gates = std::fs::read_to_string(out.join("gates.json")).expect("gates.json");
    let gates: Value = serde_json::from_str(&gates).expect("gates.json is JSON");
    let gate = gates["gates"]
        .as_array()
        .and_then(|list| list.iter().find(|g| g["name"] == "project_tests_pass"))
        .expect("project_tests_pass")
        .clone();
    assert_eq!(gate["passed"], true, "{gate:#}");
    let detail = gate["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("1 failed")
            && detail.contains("already failing before the run")
            && detail.contains(&format!("{broken}::test_known_bug")),
        "{detail}"
    );
    let body = std::fs::read_to_string(out.join("pr-body.md")).expect("pr-body.md");
    let (_, section) = body
        .split_once("### The project's own tests")
        .expect("the PR body's section on the project's tests");
    let line = as_read(section.trim_start().lines().next().unwrap_or_default());
    assert!(
        line.contains("❌ 1 failed")
            && line.contains("(it already failed before this run: 1 failed"),
        "{line}"
    );
}
