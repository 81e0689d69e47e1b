//! The bed of the `metagpt-bot run` tests that drive the real MetaGPT: the seed repository, a private
//! `HOME`, the interpreter, and the scripted model on 127.0.0.1 as the binary's provider, priced by the
//! SOP model's price. Each test file adds its own way of running on it.

use std::path::PathBuf;

use crate::support::fixture::agent_settings;
use crate::support::scripted_llm::ScriptedLlm;
use crate::support::sop_llm::harness::PRICE;
use crate::support::sop_llm::seed;

pub struct Bed {
    _dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub home: PathBuf,
    pub python: PathBuf,
    pub llm: ScriptedLlm,
}

impl Bed {
    pub async fn new(python: PathBuf) -> Bed {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = seed::seed_repository(dir.path());
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        Bed {
            _dir: dir,
            repo,
            home,
            python,
            llm: ScriptedLlm::start().await,
        }
    }

    /// The complete settings of a run against the scripted model, as `model` with provider key `key`.
    pub fn settings(&self, key: &str, model: &str) -> Vec<(String, String)> {
        let url = self.llm.base_url().to_string();
        let price = (PRICE.prompt_per_million, PRICE.completion_per_million);
        agent_settings(&self.python, &url, key, model, price)
    }

    pub fn git(&self) -> git2::Repository {
        git2::Repository::open(&self.repo).expect("open repo")
    }

    pub fn head(&self) -> git2::Oid {
        let git = self.git();
        let head = git.head().and_then(|h| h.peel_to_commit());
        head.expect("HEAD").id()
    }

    pub fn tip(&self, branch: &str) -> git2::Oid {
        self.git()
            .refname_to_id(&format!("refs/heads/{branch}"))
            .unwrap_or_else(|_| panic!("no branch {branch}"))
    }
}
