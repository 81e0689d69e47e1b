//! Runs the built `metagpt-bot action` the way a GitHub Actions runner runs a container action: a clean
//! environment holding only the runner's variables and `INPUT_*` inputs, an event file, and empty
//! `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files to read back afterwards.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const TOKEN: &str = "ghs_jobTokenSecret123";
pub const LLM_KEY: &str = "sk-llmKeySecret456";

/// One job: its temporary directory and the variables the binary will see.
pub struct ActionJob {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

/// What the job left behind.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The `GITHUB_OUTPUT` file as written.
    pub outputs: String,
    /// The `GITHUB_STEP_SUMMARY` file as written.
    pub summary: String,
}

impl ActionJob {
    /// A job started by event `event_name` with `payload`, all inputs given as the runner passes them
    /// (the token and the LLM key set, every other input empty).
    pub fn new(event_name: &str, payload: &Value) -> ActionJob {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |name: &str| dir.path().join(name).display().to_string();
        let (event, output, summary) = (path("event.json"), path("output"), path("summary"));
        std::fs::write(&event, payload.to_string()).expect("write event");
        std::fs::write(&output, "").expect("create GITHUB_OUTPUT");
        std::fs::write(&summary, "").expect("create GITHUB_STEP_SUMMARY");
        let mut job = ActionJob {
            dir,
            vars: Vec::new(),
        };
        job.set("GITHUB_OUTPUT", &output);
        job.set("GITHUB_STEP_SUMMARY", &summary);
        job.set("GITHUB_EVENT_NAME", event_name);
        job.set("GITHUB_EVENT_PATH", &event);
        job.set("GITHUB_REPOSITORY", "Codertocat/Hello-World");
        job.set("GITHUB_RUN_ID", "4242");
        job.set("GITHUB_ACTOR", "Codertocat");
        job.set("INPUT_GITHUB-TOKEN", TOKEN);
        job.set("INPUT_LLM-API-KEY", LLM_KEY);
        for input in [
            "LLM-BASE-URL",
            "LLM-MODEL",
            "LLM-API-TYPE",
            "TRIGGER-LABEL",
            "N-ROUND",
            "MAX-COST-USD",
            "CODE-REVIEW",
            "RUN-TESTS",
        ] {
            job.set(&format!("INPUT_{input}"), "");
        }
        job
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, name: &str, value: &str) -> &mut ActionJob {
        self.remove(name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn remove(&mut self, name: &str) -> &mut ActionJob {
        self.vars.retain(|(k, _)| k != name);
        self
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs `metagpt-bot action` to completion.
    pub fn run(&self) -> Finished {
        self.finish(self.spawn())
    }

    /// Starts `metagpt-bot action`, its output piped.
    pub fn spawn(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_metagpt-bot"))
            .arg("action")
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start metagpt-bot action")
    }

    /// Waits for `child` to exit and reads what the job left.
    pub fn finish(&self, child: Child) -> Finished {
        let output = child
            .wait_with_output()
            .expect("wait for metagpt-bot action");
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        Finished {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            outputs: read("output"),
            summary: read("summary"),
        }
    }
}
