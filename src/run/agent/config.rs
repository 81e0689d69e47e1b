//! The run's private directory: `HOME` (with `.metagpt/config2.yaml`), `METAGPT_PROJECT_ROOT` (MetaGPT's
//! logs), the wrapper script with the module it imports, and the job and result files.
//!
//! Invariants: the directory is created fresh (mode 0700) for each run outside the repository and removed
//! when the [`PrivateDir`] is dropped; `config2.yaml` is mode 0600 and holds the per-run gateway token as
//! its only credential. MetaGPT's own time-out per LLM call is the run's wall-clock limit: the gateway
//! times out and retries provider calls, so MetaGPT's client must never give up (and retry) first. Values are written as JSON strings, which YAML reads as double-quoted scalars, so
//! no input can inject keys.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use tempfile::TempDir;

use super::job::JobFiles;

/// The per-run directories; deleted on drop.
pub(crate) struct PrivateDir {
    /// Held for its `Drop`, which deletes everything below.
    _dir: TempDir,
    /// The directory holding everything below (the agent may write it).
    pub root: PathBuf,
    pub home: PathBuf,
    pub project_root: PathBuf,
    pub wrapper: PathBuf,
    pub files: JobFiles,
}

/// What `config2.yaml` says about the LLM.
pub(crate) struct LlmConfig<'a> {
    pub base_url: &'a str,
    pub token: &'a SecretString,
    pub model: &'a str,
    /// MetaGPT's time-out per LLM call, in seconds.
    pub timeout_secs: u64,
}

impl PrivateDir {
    /// Creates the directories and writes the wrapper and `config2.yaml`; refuses a temporary directory
    /// that lies inside `repo` (the token must never land in the repository).
    pub fn create(repo: &Path, llm: &LlmConfig<'_>, wrapper_source: &str) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("metagpt-run-").tempdir()?;
        if let (Ok(tmp), Ok(repo)) = (dir.path().canonicalize(), repo.canonicalize())
            && tmp.starts_with(&repo)
        {
            return Err(std::io::Error::other(format!(
                "the temporary directory {} is inside the repository; point TMPDIR elsewhere",
                tmp.display()
            )));
        }
        let home = dir.path().join("home");
        let project_root = dir.path().join("metagpt-root");
        let job_dir = dir.path().join("job");
        for d in [&home.join(".metagpt"), &project_root, &job_dir] {
            std::fs::create_dir_all(d)?;
        }
        write_private(
            &home.join(".metagpt").join("config2.yaml"),
            config_yaml(llm).as_bytes(),
        )?;
        let wrapper = dir.path().join("metagpt_wrapper.py");
        write_private(&wrapper, wrapper_source.as_bytes())?;
        for (name, source) in [
            ("wrapper_errors.py", super::WRAPPER_ERRORS_PY),
            ("gateway_relay.py", super::GATEWAY_RELAY_PY),
        ] {
            write_private(&dir.path().join(name), source.as_bytes())?;
        }
        Ok(Self {
            files: JobFiles::in_dir(&job_dir),
            root: dir.path().to_path_buf(),
            _dir: dir,
            home,
            project_root,
            wrapper,
        })
    }
}

/// Writes a new file readable by its owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// MetaGPT's `config2.yaml`: the gateway as an OpenAI-compatible provider, without streaming so token
/// usage comes from the response, and with the run's wall-clock limit as the time-out of each call.
pub(crate) fn config_yaml(llm: &LlmConfig<'_>) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "llm:\n  api_type: \"openai\"\n  base_url: {}\n  api_key: {}\n  model: {}\n  stream: false\n  timeout: {}\n",
        quote(llm.base_url),
        quote(llm.token.expose_secret()),
        quote(llm.model),
        llm.timeout_secs.max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_quoted_scalars() {
        let token = SecretString::from("mgb-abc\"\nllm: evil");
        let yaml = config_yaml(&LlmConfig {
            base_url: "http://127.0.0.1:1/v1",
            token: &token,
            model: "gpt-4o",
            timeout_secs: 3600,
        });
        assert_eq!(yaml.lines().count(), 7, "{yaml}");
        assert!(yaml.ends_with("  timeout: 3600\n"), "{yaml}");
        assert!(
            yaml.contains(r#"api_key: "mgb-abc\"\nllm: evil""#),
            "{yaml}"
        );
    }
}
