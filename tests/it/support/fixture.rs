//! The seed of the tests that run the bot with the fast stand-in agent (the App and Action harness, the
//! local run): a git repository in MetaGPT's layout, the stand-in as `<venv>/bin/python`, a `HOME`, the
//! provider settings; and the binary run with exactly the environment given.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::interpreter::{self, StandIn};

pub const BIN: &str = env!("CARGO_BIN_EXE_metagpt-bot");
pub const KEY: &str = "sk-real-provider-key-0123456789abcdef";
pub const MODEL: &str = "house-model";
/// USD per million tokens.
pub const PRICE_PROMPT: f64 = 2.0;
pub const PRICE_COMPLETION: f64 = 8.0;

pub struct Fixture {
    pub root: tempfile::TempDir,
    /// `<root>/shop`, a git repository with `shop/app.py` and a `.gitignore`.
    pub repo: PathBuf,
    pub python: PathBuf,
    pub home: PathBuf,
    pub seed: git2::Oid,
}

impl Fixture {
    /// A seed repository; `layout: false` leaves out the source folder MetaGPT needs.
    pub fn new(layout: bool) -> Fixture {
        let root = tempfile::tempdir().expect("tempdir");
        let repo = root.path().join("shop");
        std::fs::create_dir_all(&repo).expect("repo dir");
        std::fs::write(repo.join(".gitignore"), "__pycache__/\n").expect("gitignore");
        std::fs::write(repo.join("README.md"), "# shop\n").expect("readme");
        if layout {
            std::fs::create_dir_all(repo.join("shop")).expect("source folder");
            std::fs::write(repo.join("shop/app.py"), "print('shop')\n").expect("app");
        }
        let seed = commit_all(&repo, "seed");
        let python = interpreter::install(root.path(), StandIn::Team);
        let home = root.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        Fixture {
            root,
            repo,
            python,
            home,
            seed,
        }
    }

    /// The complete settings of a run against `llm_base_url`.
    pub fn env(&self, llm_base_url: &str) -> Vec<(String, String)> {
        let price = (PRICE_PROMPT, PRICE_COMPLETION);
        agent_settings(&self.python, llm_base_url, KEY, MODEL, price)
    }

    pub fn git(&self) -> git2::Repository {
        git2::Repository::open(&self.repo).expect("open repo")
    }
}

/// The settings that point the agent at `python` and the bot's gateway at the provider at `llm_base_url`
/// (`METAGPT_PYTHON` and `LLM_*`), with `price` in USD per million (prompt, completion) tokens.
pub fn agent_settings(
    python: &Path,
    llm_base_url: &str,
    key: &str,
    model: &str,
    (prompt, completion): (f64, f64),
) -> Vec<(String, String)> {
    [
        ("METAGPT_PYTHON", python.display().to_string()),
        (
            "AGENT_UID",
            super::interpreter::agent_uid_for(python).to_string(),
        ),
        ("LLM_BASE_URL", llm_base_url.to_owned()),
        ("LLM_API_KEY", key.to_owned()),
        ("LLM_MODEL", model.to_owned()),
        ("LLM_PRICE_PROMPT", prompt.to_string()),
        ("LLM_PRICE_COMPLETION", completion.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What the binary did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with `args` and exactly `env` (plus PATH and HOME), off the async runtime so the
/// scripted LLM keeps answering.
pub async fn run(home: &Path, args: Vec<String>, env: Vec<(String, String)>) -> Ran {
    run_adjusted(home, args, env, |_| {}).await
}

/// [`run`], with `adjust` applied to the command before it starts.
pub async fn run_adjusted(
    home: &Path,
    args: Vec<String>,
    env: Vec<(String, String)>,
    adjust: fn(&mut Command),
) -> Ran {
    let home = home.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        adjust(&mut command);
        let output = command
            .arg("run")
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .envs(env)
            .current_dir(&home)
            .output()
            .expect("the binary starts");
        Ran {
            code: output.status.code().expect("exited"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("binary thread")
}

/// Stages everything in `repo` (deletions included; a repository is created if there is none) and
/// commits it on HEAD as a human.
pub fn commit_all(repo: &Path, message: &str) -> git2::Oid {
    let git = git2::Repository::open(repo)
        .or_else(|_| git2::Repository::init(repo))
        .expect("git repo");
    let mut index = git.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"], None).expect("stage deletions");
    index.write().expect("write index");
    let tree = git
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let me = git2::Signature::now("Tester", "tester@example.com").expect("signature");
    let parent = git.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    git.commit(Some("HEAD"), &me, &me, message, &tree, &parents)
        .expect("commit")
}

/// The text of `path` in `commit`'s tree, if it has it.
pub fn file_in(git: &git2::Repository, commit: git2::Oid, path: &str) -> Option<String> {
    let tree = git.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = git.find_blob(entry.id()).ok()?;
    Some(String::from_utf8_lossy(blob.content()).into_owned())
}

/// Every blob of `commit`'s tree, as (path, text).
pub fn all_files(git: &git2::Repository, commit: git2::Oid) -> Vec<(String, String)> {
    let tree = git.find_commit(commit).unwrap().tree().unwrap();
    let mut files = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if let Ok(blob) = entry.to_object(git).and_then(|o| o.peel_to_blob()) {
            let path = format!("{dir}{}", entry.name().unwrap_or(""));
            files.push((path, String::from_utf8_lossy(blob.content()).into_owned()));
        }
        git2::TreeWalkResult::Ok
    })
    .unwrap();
    files
}
