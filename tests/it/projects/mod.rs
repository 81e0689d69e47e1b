//! `metagpt-bot run` end to end on real public projects MetaGPT never saw (`support/projects.rs`): the
//! real binary drives the real MetaGPT 0.8.2 against the scripted team (`sop_llm::changes`) on
//! 127.0.0.1, with no configuration in the repository.
//!
//! What a maintainer relies on, checked on every run by [`Bed::assert_mergeable`]: exit 0; the commit
//! holds the change under the source folder, new test files and `.metagpt/`, nothing else; no MetaGPT
//! `## <file>` line; dependency files and every existing test file byte-identical; the gates
//! `existing_tests_kept`, `project_tests_pass` and `tests_pass` passed; the user's branch, HEAD and work
//! tree as they were; MetaGPT's venv unchanged (a `pip freeze` before and after).
//!
//! The flows, one file each: a requirement, then a bug report after the bot's branch was merged
//! (`after_merge`); a bug report on the never-touched repository (`bug_report`); runs a maintainer would
//! refuse, each failing its gate honestly (`gates`). Skipped, with the reason
//! printed, without a MetaGPT interpreter (fails under `CI`). Each run takes a minute or more (MetaGPT,
//! plus the project's own environment installed from PyPI), so there is one test per project and flow.

mod after_merge;
mod bug_report;
mod fixtures;
mod gates;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use metagpt_bot::marks::slug;
use serde_json::Value;

use crate::support::fixture::{Ran, agent_settings, file_in, run};
use crate::support::projects::{Project, git, tree_files as files};
use crate::support::scripted_llm::ScriptedLlm;
use crate::support::sop_llm::harness::PRICE;
use crate::support::sop_llm::{Scenario, Sop, changes};

const MODEL: &str = "gpt-4o-mini";
/// The gates a run on a real project must pass, whatever else it checks.
const GATES: [&str; 3] = ["existing_tests_kept", "project_tests_pass", "tests_pass"];

/// A project cloned as a maintainer has it, a private `HOME`, MetaGPT's interpreter and the scripted
/// model as the binary's provider.
pub struct Bed {
    _dir: tempfile::TempDir,
    pub project: Project,
    /// The maintainer's work tree, on `main`.
    pub repo: PathBuf,
    home: PathBuf,
    python: PathBuf,
    llm: ScriptedLlm,
}

/// What a successful run left: its start commit, the bot's commit and branch, and `--out`.
pub struct Done {
    pub out: PathBuf,
    pub start: git2::Oid,
    pub tip: git2::Oid,
    pub branch: String,
}

impl Bed {
    pub async fn new(project: Project, python: PathBuf) -> Bed {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = project.clone_into(dir.path());
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        Bed {
            _dir: dir,
            project,
            repo,
            home,
            python,
            llm: ScriptedLlm::start().await,
        }
    }

    pub fn git(&self) -> git2::Repository {
        git2::Repository::open(&self.repo).expect("open repo")
    }

    fn head(&self) -> (Option<String>, git2::Oid) {
        let git = self.git();
        let head = git.head().expect("HEAD");
        let commit = head.peel_to_commit().expect("a commit").id();
        (head.name().ok().map(str::to_owned), commit)
    }

    /// `git status --porcelain` of the maintainer's work tree, untracked files included.
    fn status(&self) -> String {
        git(
            &self.repo,
            &["status", "--porcelain", "--untracked-files=all"],
        )
    }

    /// Runs the binary with `flag` (`--requirement` or `--bugfix`) and the scenario's text, checks the
    /// script read every prompt, and returns the run with the bot's commit on its branch.
    pub async fn run(&self, flag: &str, scenario: Scenario, out: &Path) -> Done {
        let (ran, done) = self.launch(flag, scenario, out).await;
        assert_eq!(
            ran.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            ran.stdout, ran.stderr
        );
        done
    }

    /// Runs the binary as [`Bed::run`] does, whatever its exit code; checks the script read every prompt,
    /// the user's checkout and MetaGPT's venv are as they were and the bot committed on its branch.
    pub async fn launch(&self, flag: &str, scenario: Scenario, out: &Path) -> (Ran, Done) {
        self.launch_with(flag, scenario, out, &[]).await
    }

    /// [`Bed::launch`] with `extra` flags after the request.
    pub async fn launch_with(
        &self,
        flag: &str,
        scenario: Scenario,
        out: &Path,
        extra: &[&str],
    ) -> (Ran, Done) {
        let text = changes::request(&scenario).to_owned();
        let sop = Sop::new(scenario);
        sop.install(&self.llm);
        let (head_ref, start) = self.head();
        let status = self.status();
        let freeze = pip_freeze(&self.python);
        let mut args = vec![
            "--repo".to_owned(),
            self.repo.display().to_string(),
            flag.to_owned(),
            text.clone(),
            "--out".to_owned(),
            out.display().to_string(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let url = self.llm.base_url().to_string();
        let price = (PRICE.prompt_per_million, PRICE.completion_per_million);
        let env = agent_settings(&self.python, &url, "sk-fake-provider-key", MODEL, price);
        let started = Instant::now();
        let ran = run(&self.home, args, env).await;
        println!(
            "{} {flag}: exit {} in {:.1} s, served {:?}",
            self.project.repo_name(),
            ran.code,
            started.elapsed().as_secs_f64(),
            sop.served().iter().map(|s| &s.what).collect::<Vec<_>>()
        );
        println!("stdout:\n{}\nstderr:\n{}", ran.stdout, ran.stderr);
        assert!(sop.unreadable().is_empty(), "{:#?}", sop.unreadable());
        assert!(
            ran.stdout.contains("gates: "),
            "the run ended without a verdict (exit {}):\n{}",
            ran.code,
            ran.stderr
        );

        assert_eq!(self.head(), (head_ref, start), "the checkout moved");
        assert_eq!(self.status(), status, "the work tree changed");
        assert_eq!(pip_freeze(&self.python), freeze, "MetaGPT's venv changed");

        let branch = format!("metagpt/local-{}", slug(&text));
        let tip = self
            .git()
            .refname_to_id(&format!("refs/heads/{branch}"))
            .unwrap_or_else(|_| {
                panic!(
                    "no branch {branch}\nstdout:\n{}\nstderr:\n{}",
                    ran.stdout, ran.stderr
                )
            });
        let parent = self.git().find_commit(tip).expect("commit").parent_id(0);
        assert_eq!(parent.ok(), Some(start), "the bot's commit is on the start");
        let done = Done {
            out: out.to_owned(),
            start,
            tip,
            branch,
        };
        (ran, done)
    }

    /// Everything a maintainer checks before merging the bot's commit of `scenario`'s run (see the
    /// module's documentation).
    pub fn assert_mergeable(&self, done: &Done, scenario: &Scenario) {
        let git = self.git();
        let p = self.project;
        let before = files(&git, done.start);
        let after = files(&git, done.tip);
        let (code_file, code) = changes::changed_code(scenario);
        let code_path = format!("{}/{code_file}", p.source_dir());

        let mut changed = Vec::new();
        for (path, blob) in &after {
            if before.get(path) != Some(blob) {
                changed.push(path.clone());
            }
        }
        let deleted: Vec<&String> = before.keys().filter(|p| !after.contains_key(*p)).collect();
        assert!(deleted.is_empty(), "deleted: {deleted:?}");
        let spec = format!("{}/", p.spec_dir());
        let out_of_scope: Vec<&String> = changed
            .iter()
            .filter(|path| {
                let new_test = !before.contains_key(*path) && p.is_test_file(path);
                !(path.starts_with(&spec) || **path == code_path || new_test)
            })
            .collect();
        assert!(
            out_of_scope.is_empty(),
            "outside the change, its tests and {spec}: {out_of_scope:?} (all changed: {changed:?})"
        );

        let committed = |path: &str| file_in(&git, done.tip, path).unwrap_or_default();
        assert_eq!(
            committed(&code_path).trim_end(),
            code.trim_end(),
            "{code_path}"
        );
        let tests = changes::written_tests(scenario);
        let new_tests: Vec<&String> = changed
            .iter()
            .filter(|path| !path.starts_with(&spec) && p.is_test_file(path))
            .collect();
        assert!(
            new_tests
                .iter()
                .any(|path| committed(path).trim_end() == tests.trim_end()),
            "no new test file holds QA's tests: {new_tests:?}"
        );

        for path in changed.iter().filter(|path| !path.starts_with(&spec)) {
            let text = committed(path);
            let header = text.lines().find(|line| is_file_header(line));
            assert!(header.is_none(), "{path} holds {header:?}:\n{text}");
        }
        for name in Project::DEPENDENCY_NAMES {
            let created: Vec<&String> = changed
                .iter()
                .filter(|path| path.rsplit('/').next() == Some(name))
                .collect();
            assert!(created.is_empty(), "dependency files written: {created:?}");
        }
        for name in p.dependency_files() {
            assert!(before.contains_key(*name), "{name} is in the project");
            assert_eq!(before.get(*name), after.get(*name), "{name} changed");
        }
        for (path, blob) in before.iter().filter(|(path, _)| p.is_test_file(path)) {
            assert_eq!(
                after.get(path),
                Some(blob),
                "the existing test {path} changed"
            );
        }

        let dir = format!(".metagpt/runs/local-{}", slug(changes::request(scenario)));
        let gates = file_in(&git, done.tip, &format!("{dir}/1/gates.json"))
            .unwrap_or_else(|| panic!("no {dir}/1/gates.json in the commit"));
        let gates: Value = serde_json::from_str(&gates).expect("gates.json");
        let list = gates["gates"].as_array().expect("gates");
        for name in GATES {
            let gate = list.iter().find(|g| g["name"] == name);
            assert!(
                gate.is_some_and(|g| g["passed"] == true),
                "gate {name}: {gate:?}\n{gates:#}"
            );
        }
        let body = std::fs::read_to_string(done.out.join("pr-body.md")).expect("--out pr-body.md");
        for name in GATES {
            assert!(
                body.contains(&format!("`{name}`")),
                "{name} not in the PR body:\n{body}"
            );
        }
    }

    /// Merges the bot's branch into `main` as the maintainer would merge its PR, and pushes it.
    pub fn merge(&self, done: &Done) {
        let message = format!("Merge {}", done.branch);
        git(
            &self.repo,
            &["merge", "--no-ff", "--quiet", "-m", &message, &done.branch],
        );
        git(&self.repo, &["push", "--quiet", "origin", "main"]);
    }
}

/// A line as WriteCode's format example starts a file: `## <name>.py`.
fn is_file_header(line: &str) -> bool {
    line.strip_prefix("## ").is_some_and(|name| {
        let name = name.trim();
        name.ends_with(".py") && !name.contains(char::is_whitespace)
    })
}

/// `python -m pip freeze --all` of MetaGPT's venv.
fn pip_freeze(python: &Path) -> String {
    let output = Command::new(python)
        .args(["-m", "pip", "freeze", "--all"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .expect("pip starts");
    assert!(output.status.success(), "pip freeze failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
