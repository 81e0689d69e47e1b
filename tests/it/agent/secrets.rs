//! The agent's environment holds no secret: a stand-in interpreter records what it was given.
//!
//! The secrets must be in the bot's own environment. Setting environment variables is unsound while
//! other threads run (`cargo test` runs tests on threads), so the test runs itself again in a process of
//! its own whose environment holds them from its start.

use std::process::Command;

use super::fixture;

use fixture::{Fixture, TOKEN};
use tokio_util::sync::CancellationToken;

/// Set in the process the test starts of itself.
const CHILD: &str = "METAGPT_BOT_TEST_SECRETS_CHILD";

const SECRETS: &[(&str, &str)] = &[
    ("LLM_API_KEY", "sk-real-provider-key-must-not-leak"),
    ("GITHUB_TOKEN", "ghs_installation-token-must-not-leak"),
    ("WEBHOOK_SECRET", "webhook-secret-must-not-leak"),
    (
        "PRIVATE_KEY",
        "-----BEGIN RSA PRIVATE KEY----- must-not-leak",
    ),
    ("OPENAI_API_KEY", "sk-openai-key-must-not-leak"),
];

const ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "METAGPT_PROJECT_ROOT",
    "LANG",
    "LC_ALL",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "TZ",
];

#[test]
fn the_agent_sees_no_secret_and_its_config_lives_outside_the_repository() {
    if std::env::var_os(CHILD).is_none() {
        return in_a_process_holding_the_secrets(
            "the_agent_sees_no_secret_and_its_config_lives_outside_the_repository",
        );
    }
    for (name, value) in SECRETS {
        assert_eq!(std::env::var(name).as_deref(), Ok(*value), "{name}");
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fx = Fixture::new();
    let outcome = runtime
        .block_on(metagpt_bot::run::agent::run(
            fx.request("add a feature"),
            CancellationToken::new(),
        ))
        .expect("the fake run succeeds");
    assert_eq!(outcome.rounds, 7);

    // Only allow-listed variables reach the child (sh adds PWD/SHLVL/_ itself).
    let env = fx.dump("env");
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| !matches!(*k, "PWD" | "SHLVL" | "_" | "OLDPWD"))
        .collect();
    for name in &names {
        assert!(ALLOWED.contains(name), "{name} reached the agent:\n{env}");
    }
    let everything = [
        fx.dump("env"),
        fx.dump("argv"),
        fx.dump("config2.yaml"),
        fx.dump("job.json"),
    ]
    .join("\n");
    for (name, value) in SECRETS {
        assert!(
            !everything.contains(value),
            "{name}'s value reached the agent"
        );
    }

    // PATH starts with the interpreter's own bin directory; the child runs in the repository.
    let bin = fx.python.parent().expect("bin").display().to_string();
    assert!(env.contains(&format!("PATH={bin}:")), "{env}");
    assert_eq!(
        fx.dump("cwd").trim(),
        fx.repo.canonicalize().expect("repo").display().to_string()
    );

    // The config holds the gateway URL and the run token, is private and lies outside the repository.
    let config = fx.dump("config2.yaml");
    assert!(
        config.contains(&format!("api_key: \"{TOKEN}\"")),
        "{config}"
    );
    assert!(
        config.contains("base_url: \"http://127.0.0.1:9/v1\""),
        "{config}"
    );
    assert!(config.contains("stream: false"), "{config}");
    assert_eq!(fx.dump("config2.mode").trim(), "600");
    let config_path = std::path::PathBuf::from(fx.dump("config2.path").trim());
    assert!(
        !config_path.starts_with(&fx.repo),
        "{}",
        config_path.display()
    );
    assert!(
        !fx.dump("job.json").contains(TOKEN),
        "the job file must not carry the token"
    );
    assert!(
        !env.contains(TOKEN),
        "the token must not be in the environment"
    );

    // HOME and METAGPT_PROJECT_ROOT are per-run and gone with the run.
    assert!(!config_path.exists(), "the private HOME outlived the run");
    assert!(
        env.lines().any(|l| l.starts_with("METAGPT_PROJECT_ROOT=/")),
        "{env}"
    );
}

/// Runs test `name` of this module in a new process of this test binary with [`SECRETS`] in its
/// environment, and fails if it did not run there and pass.
fn in_a_process_holding_the_secrets(name: &str) {
    let module = module_path!().split_once("::").expect("crate::module").1;
    let test = format!("{module}::{name}");
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(SECRETS.iter().copied())
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run in the child process:\n{stdout}\n{stderr}"
    );
}
