//! The image's HEALTHCHECK command, taken from the Dockerfile, run outside Docker against the real
//! `metagpt-bot serve` on 127.0.0.1: it passes while the App serves, and fails when nothing answers.

use super::dockerfile;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

/// The HEALTHCHECK of the App stage as an argv (exec form after `CMD`).
fn healthcheck() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("Dockerfile");
    let stages = dockerfile::stages(&text);
    let app = stages.iter().find(|s| s.name == "app").expect("app stage");
    let check = app.last("HEALTHCHECK").expect("HEALTHCHECK");
    let (_, command) = check.split_once("CMD ").expect("HEALTHCHECK … CMD [...]");
    dockerfile::exec_form(command)
}

fn run_check(argv: &[String], port: u16) -> bool {
    Command::new(&argv[0])
        .args(&argv[1..])
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {argv:?}: {e}"))
        .success()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_healthcheck_passes_against_serve_and_fails_when_nothing_answers() {
    let argv = healthcheck();
    let port = free_port();
    assert!(
        !run_check(&argv, port),
        "the check passed with nothing listening"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}/bot.db", dir.path().display());
    let mut serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_metagpt-bot"))
            .arg("serve")
            .env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATABASE_URL", database)
            .env("WORKERS", "0")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start metagpt-bot serve"),
    );
    // serve logs that it listens once it does: wait for that line, then the check must pass.
    let log = BufReader::new(serve.0.stderr.take().expect("serve's stderr"));
    let mut lines = log.lines();
    let mut seen = String::new();
    while !seen.contains("listening") {
        let Some(Ok(line)) = lines.next() else {
            panic!("serve exited before it listened:\n{seen}")
        };
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(
        run_check(&argv, port),
        "the HEALTHCHECK {argv:?} failed against serve listening on port {port}:\n{seen}"
    );
}
