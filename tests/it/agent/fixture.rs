//! Shared set-up for the agent tests: a repository directory, the recording stand-in interpreter
//! installed as `<venv>/bin/python`, and an [`AgentRun`] pointed at them.

use std::path::PathBuf;
use std::time::Duration;

use metagpt_bot::domain::Kind;
use metagpt_bot::run::agent::{AgentOptions, AgentRun};
use secrecy::SecretString;

use crate::support::interpreter::{self, StandIn};

pub const TOKEN: &str = "mgb-run-token-0123456789abcdef";

pub struct Fixture {
    pub root: tempfile::TempDir,
    pub repo: PathBuf,
    pub python: PathBuf,
}

impl Fixture {
    /// A repository `<root>/seed` and the recording stand-in as `<root>/venv/bin/python`.
    pub fn new() -> Fixture {
        let root = tempfile::tempdir().expect("tempdir");
        let repo = root.path().join("seed");
        std::fs::create_dir_all(repo.join("seed")).expect("repo");
        let python = interpreter::install(root.path(), StandIn::Recorder);
        Fixture { root, repo, python }
    }

    pub fn request(&self, idea: &str) -> AgentRun {
        AgentRun {
            run_id: "test-run".into(),
            python: self.python.clone(),
            repo: self.repo.clone(),
            idea: idea.into(),
            kind: Kind::Requirement,
            options: AgentOptions::default(),
            gateway_url: "http://127.0.0.1:9/v1".into(),
            gateway_socket: None,
            token: SecretString::from(TOKEN),
            model: "gpt-4o-mini".into(),
            price: None,
            source_dir: None,
            spec_dir: String::new(),
            tests_dir: "tests".into(),
            import_roots: vec![String::new(), "seed".into()],
            project_python: None,
            trace_path: self.root.path().join("trace.jsonl"),
            timeout: Duration::from_secs(120),
        }
    }

    pub fn dump(&self, name: &str) -> String {
        std::fs::read_to_string(self.repo.join(".fake-dump").join(name))
            .unwrap_or_else(|e| panic!("the fake interpreter did not record {name}: {e}"))
    }

    pub fn dump_path(&self, name: &str) -> PathBuf {
        self.repo.join(".fake-dump").join(name)
    }
}

/// Whether a process is gone (no such pid, or a zombie waiting for its reaper).
pub fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}
