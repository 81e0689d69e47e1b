//! The Dockerfile through hadolint and against what the repository tests outside Docker; the example
//! workflow and CI through actionlint. (`action.rs` checks action.yml against the contract,
//! `healthcheck.rs` the image's health check against a real `serve`.)

mod dockerfile;
mod files;
mod install;
mod tools;

mod action;
mod healthcheck;

use std::path::Path;
use std::process::Command;

use dockerfile::{Stage, exec_form, stages};
use files::{read, repo, yaml};
use serde_json::json;

#[test]
fn the_dockerfile_passes_hadolint() {
    if let Some(hadolint) = tools::linter("hadolint") {
        tools::lint(&hadolint, &["--no-color", "Dockerfile"]);
    }
}

#[test]
fn the_example_workflow_ci_and_release_pass_actionlint() {
    if let Some(actionlint) = tools::linter("actionlint") {
        tools::lint(
            &actionlint,
            &[
                "-no-color",
                "examples/workflows/metagpt.yml",
                ".github/workflows/ci.yml",
                ".github/workflows/release.yml",
            ],
        );
    }
}

/// action.yml runs the image the release publishes for its major version, built from the Dockerfile's
/// `action` target with the binaries the release built for each platform, where the Dockerfile's
/// prebuilt stage looks for them.
#[test]
fn action_yml_runs_the_image_the_release_publishes_from_its_prebuilt_binaries() {
    let action = yaml("action.yml");
    assert_eq!(action["runs"]["using"], "docker");
    let release = yaml(".github/workflows/release.yml");
    let published = release["env"]["ACTION_IMAGE"]
        .as_str()
        .expect("ACTION_IMAGE");
    assert_eq!(
        action["runs"]["image"],
        json!(format!("docker://{published}:v1")),
        "the moving major tag of the published image"
    );
    let image_job = &release["jobs"]["image"];
    let targets: Vec<&str> = image_job["strategy"]["matrix"]["include"]
        .as_array()
        .expect("image matrix")
        .iter()
        .filter_map(|m| m["target"].as_str())
        .collect();
    assert!(
        targets.contains(&"action") && targets.contains(&"app"),
        "{targets:?}"
    );
    let build = image_job["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["uses"] == "docker/build-push-action@v6")
        .expect("the image build");
    assert_eq!(build["with"]["build-args"], "BINARY=prebuilt");
    assert_eq!(build["with"]["build-contexts"], "dist=./dist");
    assert_eq!(build["with"]["platforms"], "linux/amd64,linux/arm64");
    let tags = build["with"]["tags"].as_str().unwrap_or_default();
    assert_eq!(tags, "${{ steps.meta.outputs.tags }}");

    // The binaries land where the prebuilt stage copies from: dist/<arch>/metagpt-bot.
    let binary_job = &release["jobs"]["binary"];
    let arches: Vec<&str> = binary_job["strategy"]["matrix"]["include"]
        .as_array()
        .expect("binary matrix")
        .iter()
        .filter_map(|m| m["arch"].as_str())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"], "Docker's TARGETARCH names");
    let stages = stages(&read("Dockerfile"));
    let prebuilt = stage(&stages, "binary-prebuilt");
    assert_eq!(
        prebuilt.all("COPY"),
        ["--from=dist --chmod=0755 ${TARGETARCH}/metagpt-bot /metagpt-bot"]
    );
    let built = stage(&stages, "binary-built");
    assert_eq!(
        built.all("COPY"),
        ["--from=builder /usr/local/bin/metagpt-bot /metagpt-bot"]
    );
    assert!(
        read("Dockerfile").contains("ARG BINARY=built"),
        "a plain `docker build` builds the binary from source"
    );
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

/// Cargo checks the path of every target the manifest declares, even when it builds one binary.
#[test]
fn every_target_the_manifest_declares_is_copied_into_the_builder() {
    let stages = stages(&read("Dockerfile"));
    let copied: Vec<String> = stage(&stages, "builder")
        .all("COPY")
        .iter()
        .flat_map(|c| {
            let words: Vec<&str> = c.split(' ').collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let cargo: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml");
    let mut declared = Vec::new();
    for kind in ["lib", "bin", "example", "test", "bench"] {
        let targets = match cargo.get(kind) {
            Some(toml::Value::Array(targets)) => targets.clone(),
            Some(target) => vec![target.clone()],
            None => Vec::new(),
        };
        declared.extend(
            targets
                .iter()
                .filter_map(|t| t.get("path").and_then(|p| p.as_str()).map(str::to_owned)),
        );
    }
    assert!(
        !declared.is_empty(),
        "the manifest declares its lib and bin"
    );
    for path in declared {
        assert!(
            copied
                .iter()
                .any(|c| path == *c || path.starts_with(&format!("{c}/"))),
            "{path} is declared in Cargo.toml but not copied into the builder stage ({copied:?})"
        );
    }
}
