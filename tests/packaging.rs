//! Packaging: `action.yml` against the contract and the binary, the example workflow and CI through
//! actionlint, the Dockerfile through hadolint and against what the repository tests outside Docker.

#[path = "packaging/dockerfile.rs"]
mod dockerfile;
#[path = "packaging/tools.rs"]
mod tools;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use dockerfile::{Stage, exec_form, stages};
use serde_json::{Value, json};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs a linter from the repository root; fails the test with its report when it finds anything.
fn lint(linter: &Path, args: &[&str]) {
    let output = Command::new(linter)
        .args(args)
        .current_dir(repo("."))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", linter.display()));
    assert!(
        output.status.success(),
        "{} {args:?} found problems:\n{}{}",
        linter.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_image_action_yml_builds_passes_hadolint() {
    let action = yaml("action.yml");
    assert_eq!(action["runs"]["using"], "docker");
    let image = action["runs"]["image"].as_str().expect("runs.image");
    assert_eq!(image, "Dockerfile", "lint the image action.yml builds");
    if let Some(hadolint) = tools::linter("hadolint") {
        lint(&hadolint, &["--no-color", image]);
    }
}

#[test]
fn the_example_workflow_and_ci_pass_actionlint() {
    if let Some(actionlint) = tools::linter("actionlint") {
        lint(
            &actionlint,
            &[
                "-no-color",
                "examples/workflows/metagpt.yml",
                ".github/workflows/ci.yml",
            ],
        );
    }
}

/// CONTRACT.md's Action inputs: name, required, default.
const CONTRACT_INPUTS: &[(&str, bool, Option<&str>)] = &[
    ("github-token", false, Some("${{ github.token }}")),
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
    let contract = BTreeSet::from(["pr-number", "pr-url", "cost-usd", "gates-passed"]);
    assert_eq!(outputs, contract);
    let written = BTreeSet::from(metagpt_bot::action::OUTPUTS);
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
        metagpt_bot::action::ActionEnv::from_env(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|problems| panic!("{problems:#?}"))
    };
    let with_defaults = runner(&|_, default| default.to_owned());
    let with_empty = runner(&|_, _| String::new());
    let fields = |e: &metagpt_bot::action::ActionEnv| {
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
    let concurrency = &workflow["concurrency"];
    assert_eq!(concurrency["cancel-in-progress"], json!(false));
    let group = concurrency["group"].as_str().expect("concurrency group");
    assert!(group.contains("github.event.issue.number"), "{group}");
    let steps = workflow["jobs"]["metagpt"]["steps"]
        .as_array()
        .expect("steps");
    let step = steps
        .iter()
        .find(|s| s["uses"] == "org/metagpt-action@v1")
        .expect("a step using org/metagpt-action@v1");
    assert_eq!(step["with"]["llm-api-key"], "${{ secrets.OPENAI_API_KEY }}");
}

/// The stage named `name`.
fn stage<'a>(stages: &'a [Stage], name: &str) -> &'a Stage {
    stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage `{name}`"))
}

#[test]
fn the_dockerfile_runs_what_the_repository_tests() {
    let stages = stages(&read("Dockerfile"));
    let binary = Path::new(env!("CARGO_BIN_EXE_metagpt-bot"))
        .file_name()
        .and_then(|n| n.to_str())
        .expect("binary name");

    // The binary: the crate's own, built as CI builds it, with a toolchain the crate accepts.
    let builder = stage(&stages, "builder");
    let build = format!("cargo build --release --locked --bin {binary}");
    assert!(
        builder.all("RUN").iter().any(|r| r.contains(&build)),
        "{build}"
    );
    let cargo: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml");
    let wanted = cargo["package"]["rust-version"]
        .as_str()
        .expect("rust-version");
    let image = builder.base.strip_prefix("rust:").expect("a rust: image");
    let version =
        |v: &str| -> Vec<u32> { v.split(['.', '-']).map_while(|p| p.parse().ok()).collect() };
    assert!(
        version(image) >= version(wanted),
        "{image} older than {wanted}"
    );

    // MetaGPT: the project's install script and the constraints file it reads, into the venv the
    // runtime points METAGPT_PYTHON at.
    let metagpt = stage(&stages, "metagpt");
    let install = metagpt
        .all("RUN")
        .into_iter()
        .find(|r| r.contains("scripts/install-metagpt.sh"))
        .expect("MetaGPT installed by scripts/install-metagpt.sh");
    let venv = install.rsplit(' ').next().expect("venv argument");
    let script = read("scripts/install-metagpt.sh");
    let constraints = "python/metagpt-0.8.2-constraints.txt";
    assert!(script.contains(&format!("$here/{constraints}")));
    let copies = metagpt.all("COPY").join("\n");
    assert!(copies.contains("scripts/install-metagpt.sh ./scripts/install-metagpt.sh"));
    assert!(copies.contains(&format!("{constraints} ./{constraints}")));

    let app = stage(&stages, "app");
    assert!(
        app.all("COPY")
            .contains(&format!("--from=metagpt {venv} {venv}").as_str())
    );
    let env = app.all("ENV").join(" ");
    assert!(
        env.contains(&format!("METAGPT_PYTHON={venv}/bin/python")),
        "{env}"
    );
    assert_eq!(
        exec_form(app.last("ENTRYPOINT").expect("ENTRYPOINT")),
        [binary]
    );
    assert_eq!(exec_form(app.last("CMD").expect("CMD")), ["serve"]);
    let user = app.last("USER").expect("USER");
    assert!(
        !["root", "0", "0:0"].contains(&user),
        "the App runs as {user}"
    );
    assert_eq!(app.last("EXPOSE"), Some("3000"));

    // The Action: the default (last) target, whose command is action.yml's args.
    let action = stages.last().expect("stages");
    assert_eq!(action.name, "action");
    assert_eq!(exec_form(action.last("CMD").expect("CMD")), ["action"]);
    assert_eq!(yaml("action.yml")["runs"]["args"], json!(["action"]));

    // The subcommands the image runs exist in this binary.
    for command in ["serve", "action"] {
        let status = Command::new(env!("CARGO_BIN_EXE_metagpt-bot"))
            .args([command, "--help"])
            .output()
            .expect("run the binary");
        assert!(status.status.success(), "metagpt-bot {command} --help");
    }
}

#[test]
fn the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() {
    let ignore = read(".dockerignore");
    let mut lines = ignore
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    assert_eq!(
        lines.next(),
        Some("*"),
        "an allow-list: everything else stays out"
    );
    let allowed: Vec<&str> = lines
        .map(|l| {
            l.strip_prefix('!')
                .expect("only ! entries after *")
                .trim_end_matches('/')
        })
        .collect();
    for stage in stages(&read("Dockerfile")) {
        for copy in stage
            .all("COPY")
            .into_iter()
            .filter(|c| !c.starts_with("--from"))
        {
            let words: Vec<&str> = copy.split(' ').collect();
            for source in &words[..words.len() - 1] {
                assert!(
                    repo(source).exists(),
                    "COPY {source}: not in the repository"
                );
                assert!(
                    allowed
                        .iter()
                        .any(|a| source == a || source.starts_with(&format!("{a}/"))),
                    "COPY {source} is excluded by .dockerignore"
                );
            }
        }
        for setting in stage.all("ENV").into_iter().chain(stage.all("ARG")) {
            let upper = setting.to_uppercase();
            for secret in ["KEY", "SECRET", "TOKEN", "PASSWORD"] {
                assert!(
                    !upper.contains(secret),
                    "a secret-like setting in the image: {setting}"
                );
            }
        }
    }
}
