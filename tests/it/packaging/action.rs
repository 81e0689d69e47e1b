//! `action.yml` against the contract and the binary, and the example workflow's triggers, permissions
//! and concurrency.

use super::files;

use std::collections::BTreeSet;

use files::yaml;
use serde_json::json;

/// CONTRACT.md's Action inputs (and those added beside them): name, required, default.
const CONTRACT_INPUTS: &[(&str, bool, Option<&str>)] = &[
    ("github-token", false, Some("${{ github.token }}")),
    // Added beside the contract's: act as a GitHub App.
    ("app-id", false, Some("")),
    ("private-key", false, Some("")),
    ("llm-api-key", true, None),
    ("llm-base-url", false, Some("")),
    ("llm-model", false, Some("")),
    ("llm-api-type", false, Some("")),
    ("trigger-label", false, Some("metagpt")),
    ("n-round", false, Some("20")),
    ("max-cost-usd", false, Some("3")),
    ("code-review", false, Some("true")),
    ("run-tests", false, Some("true")),
];

#[test]
fn action_yml_declares_exactly_the_contract_inputs_and_outputs() {
    let action = yaml("action.yml");
    for key in ["name", "description", "author"] {
        assert!(action[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    assert!(action["branding"]["icon"].is_string() && action["branding"]["color"].is_string());
    let inputs = action["inputs"].as_object().expect("inputs");
    // (serde_json's map is sorted, so names are compared as sets.)
    let names: BTreeSet<&str> = inputs.keys().map(String::as_str).collect();
    let contract: BTreeSet<&str> = CONTRACT_INPUTS.iter().map(|(name, ..)| *name).collect();
    assert_eq!(names, contract);
    for (name, required, default) in CONTRACT_INPUTS {
        let input = &inputs[*name];
        assert!(
            input["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        assert_eq!(input["required"], json!(required), "{name}");
        assert_eq!(input["default"].as_str(), *default, "{name}");
    }
    let outputs: BTreeSet<&str> = action["outputs"]
        .as_object()
        .expect("outputs")
        .iter()
        .inspect(|(name, o)| assert!(o["description"].is_string(), "{name}"))
        .map(|(name, _)| name.as_str())
        .collect();
    let contract = BTreeSet::from([
        "pr-number",
        "pr-url",
        "cost-usd",
        "gates-passed",
        "branch-name",
        "evidence-dir",
    ]);
    assert_eq!(outputs, contract);
    let written = BTreeSet::from(metagpt_bot::faces::action::OUTPUTS);
    assert_eq!(outputs, written, "what the binary writes");
}

#[test]
fn action_yml_defaults_mean_what_the_binary_assumes_for_an_empty_input() {
    let action = yaml("action.yml");
    let runner = |inputs: &dyn Fn(&str, &str) -> String| {
        let mut vars = vec![
            ("GITHUB_EVENT_NAME".to_owned(), "issues".to_owned()),
            ("GITHUB_EVENT_PATH".to_owned(), "/e.json".to_owned()),
            ("GITHUB_REPOSITORY".to_owned(), "o/r".to_owned()),
            ("GITHUB_OUTPUT".to_owned(), "/o".to_owned()),
            ("GITHUB_STEP_SUMMARY".to_owned(), "/s".to_owned()),
            ("INPUT_GITHUB-TOKEN".to_owned(), "ghs_x".to_owned()),
            ("INPUT_LLM-API-KEY".to_owned(), "sk-x".to_owned()),
        ];
        for (name, input) in action["inputs"].as_object().expect("inputs") {
            if let Some(default) = input["default"].as_str().filter(|d| !d.contains("${{")) {
                vars.push((
                    format!("INPUT_{}", name.to_uppercase()),
                    inputs(name, default),
                ));
            }
        }
        metagpt_bot::faces::action::ActionEnv::from_env(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|problems| panic!("{problems:#?}"))
    };
    let with_defaults = runner(&|_, default| default.to_owned());
    let with_empty = runner(&|_, _| String::new());
    let fields = |e: &metagpt_bot::faces::action::ActionEnv| {
        format!(
            "{:?} {:?} {:?} {} {} {} {} {}",
            e.llm_base_url,
            e.llm_model,
            e.llm_api_type,
            e.trigger_label,
            e.n_round,
            e.max_cost_usd,
            e.code_review,
            e.run_tests
        )
    };
    assert_eq!(fields(&with_defaults), fields(&with_empty));
}

#[test]
fn the_example_workflow_triggers_on_labels_and_comments_with_least_permissions() {
    let workflow = yaml("examples/workflows/metagpt.yml");
    assert_eq!(workflow["on"]["issues"]["types"], json!(["labeled"]));
    assert_eq!(workflow["on"]["issue_comment"]["types"], json!(["created"]));
    assert_eq!(
        workflow["permissions"],
        json!({"contents": "write", "pull-requests": "write", "issues": "write", "checks": "write"})
    );
    let job = &workflow["jobs"]["metagpt"];
    assert_eq!(job["needs"], "route");
    let concurrency = &job["concurrency"];
    assert_eq!(concurrency["cancel-in-progress"], json!(false));
    assert_eq!(
        concurrency["queue"], "max",
        "requests wait in order, none is dropped"
    );
    let group = concurrency["group"].as_str().expect("concurrency group");
    assert_eq!(group, "metagpt-issue-${{ needs.route.outputs.issue }}");
    let steps = job["steps"].as_array().expect("steps");
    let step = steps
        .iter()
        .find(|s| s["uses"] == "org/metagpt-action@v1")
        .expect("a step using org/metagpt-action@v1");
    assert_eq!(step["with"]["llm-api-key"], "${{ secrets.OPENAI_API_KEY }}");
    assert_eq!(
        step["with"]["trigger-label"], "${{ needs.route.outputs.label }}",
        "the label is named in one place, the route job"
    );
}

/// The example workflow's route step, run by bash as the runner runs it: which events go on, with which
/// issue as the concurrency group (a comment on the bot's pull request: the issue its body's marker
/// names) and which label.
#[test]
fn the_example_workflows_route_step_groups_pull_request_comments_by_their_issue() {
    let workflow = yaml("examples/workflows/metagpt.yml");
    let step = &workflow["jobs"]["route"]["steps"][0];
    let script = step["run"].as_str().expect("the route script");
    let label = step["env"]["LABEL"].as_str().expect("LABEL");
    assert_eq!(label, "metagpt");
    let route = |event: &str, added: &str, number: &str, pull: bool, body: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("output");
        let ran = std::process::Command::new("bash")
            .args(["-e", "-c", script])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GITHUB_OUTPUT", &output)
            .env("LABEL", label)
            .env("EVENT", event)
            .env("ADDED", added)
            .env("NUMBER", number)
            .env("IS_PULL_REQUEST", pull.to_string())
            .env("BODY", body)
            .status()
            .expect("bash");
        assert!(ran.success());
        std::fs::read_to_string(output).expect("the step's outputs")
    };
    assert_eq!(
        route("issues", "metagpt", "5", false, "Add a history."),
        "run=true\nissue=5\nlabel=metagpt\n"
    );
    assert_eq!(
        route("issues", "bug", "5", false, ""),
        "run=false\nissue=5\nlabel=metagpt\n"
    );
    assert_eq!(
        route("issue_comment", "", "5", false, "x"),
        "run=true\nissue=5\nlabel=metagpt\n"
    );
    let body = format!(
        "Reviewer notes.\n\n{}\n{}\nCloses #5",
        metagpt_bot::marks::SECTION_START,
        metagpt_bot::marks::issue_marker(5)
    );
    assert_eq!(
        route("issue_comment", "", "12", true, &body),
        "run=true\nissue=5\nlabel=metagpt\n",
        "a comment on PR #12 queues behind issue #5"
    );
    assert_eq!(
        route("issue_comment", "", "12", true, "someone else's PR"),
        "run=true\nissue=12\nlabel=metagpt\n"
    );
}
