//! A run whose code runs away: the agent (a stand-in that fills memory, `StandIn::Hostile`) hits
//! `AGENT_MEMORY_MB`, or the project's own suite after the run spins past `AGENT_CPU_SECS`; `run` exits 1
//! naming the limit, commits nothing and leaves `failure.md` in `--out` saying so; and `doctor` names the
//! limits and how this host enforces them.

use super::*;

use crate::support::interpreter::{self, StandIn};

#[tokio::test]
async fn a_run_that_fills_memory_fails_naming_the_limit_and_commits_nothing() {
    let fx = Fixture::new(true);
    interpreter::install(fx.root.path(), StandIn::Hostile);
    let llm = llm().await;
    let out = fx.root.path().join("out");
    let mut env = fx.env(llm.base_url().as_str());
    env.push(("AGENT_MEMORY_MB".into(), "128".into()));
    let ran = run(
        &fx.home,
        args(&fx, &["--requirement", "MEMORY_HOG in a test"], Some(&out)),
        env,
    )
    .await;
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let said = "the run's code and tests used more than 128 MiB of memory and were stopped \
                (AGENT_MEMORY_MB=128;";
    assert!(ran.stderr.contains(said), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Nothing was committed"),
        "{}",
        ran.stderr
    );
    let failure = std::fs::read_to_string(out.join("failure.md")).expect("failure.md");
    assert!(failure.contains(said), "{failure}");
    assert!(
        failure.contains("the operator can raise AGENT_MEMORY_MB"),
        "{failure}"
    );
    for branch in run_branches(&fx) {
        assert_eq!(branch_tip(&fx, &branch), fx.seed, "{branch} has no commit");
    }
}

#[test]
fn doctor_names_the_run_limits_and_how_they_are_enforced() {
    let dir = tempfile::tempdir().expect("cwd");
    let doctor = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(fixture::BIN)
            .arg("doctor")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .expect("doctor runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find(|l| l.contains("run limits:"))
            .unwrap_or_else(|| panic!("no limits line in:\n{text}"))
            .to_owned()
    };
    let line = doctor(&[]);
    assert!(
        line.contains(
            "run limits: memory 2048 MiB, processes 512, CPU 1800 s per process, wall 3600 s; by "
        ),
        "{line}"
    );
    assert!(
        line.contains("cgroup") || line.contains("rlimits"),
        "names the mechanism: {line}"
    );
    let line = doctor(&[("AGENT_MAX_PROCESSES", "0"), ("RUN_TIMEOUT_SECS", "60")]);
    assert!(
        line.starts_with("warn  run limits: memory 2048 MiB, processes none,"),
        "{line}"
    );
    assert!(
        line.contains("wall 60 s") && line.contains("AGENT_MAX_PROCESSES = 0: no limit"),
        "{line}"
    );
}

#[tokio::test]
async fn a_project_suite_that_spins_after_the_run_fails_it_naming_the_limit() {
    let fx = Fixture::new(true);
    // The project's own suite loops once the run's code is there (the stand-in writes shop/feature.py):
    // the code it tests ran away. Before the run it passes. No setup command: the venv only.
    std::fs::create_dir_all(fx.repo.join(".github")).unwrap();
    std::fs::write(
        fx.repo.join(".github/metagpt.yml"),
        "setup: []\nproject_tests: \"test ! -e shop/feature.py || python -c 'while True: pass'\"\n",
    )
    .unwrap();
    let start = fixture::commit_all(&fx.repo, "settings");
    let llm = llm().await;
    let out = fx.root.path().join("out");
    let mut env = fx.env(llm.base_url().as_str());
    // Enough for making the venv (ensurepip takes 2–4 s of CPU in one process here), not for the loop.
    env.push(("AGENT_CPU_SECS".into(), "8".into()));
    let ran = run(
        &fx.home,
        args(&fx, &["--requirement", REQUIREMENT], Some(&out)),
        env,
    )
    .await;
    assert_eq!(
        ran.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let said = "the run's code and tests used more than 8 s of CPU in one process and were stopped \
                (AGENT_CPU_SECS=8;";
    assert!(ran.stderr.contains(said), "{}", ran.stderr);
    let failure = std::fs::read_to_string(out.join("failure.md")).expect("failure.md");
    assert!(failure.contains(said), "{failure}");
    assert!(!out.join("pr-body.md").exists(), "no verdict, no PR body");
    assert_eq!(
        branch_tip(&fx, &format!("metagpt/local-{SLUG}")),
        start,
        "nothing committed"
    );
}
