//! The bot's own overhead per run, beside the git command line doing the same: `bench/run.sh` runs it.
//!
//! `run_overhead <root> <name> [runs]` serves the bare repository `<root>/<name>` over git's smart HTTP
//! (`git http-backend` behind the tests' server, on 127.0.0.1, token in HTTP Basic) and, `runs` times
//! each, alternating:
//! - the bot: the public `Workspace` calls a run makes, with a no-op agent — `clone_or_open` into a fresh
//!   directory, `prepare_branch`, `write_issue_text`, `commit_all`, `push`;
//! - the git command line: `git clone --depth 1`, `git checkout -b`, write the same file, `git add -A`,
//!   `git commit`, `git push`.
//!
//! It prints the median of each step and of the whole, and the ratio bot / git. Each run pushes its own
//! branch (named after the run and the start time), so every push creates a branch as a first run does;
//! `bench/run.sh` deletes them before it starts. Nothing leaves 127.0.0.1.

#[allow(dead_code)] // the tests use more of it
#[path = "../tests/it/support/git_server.rs"]
mod git_server;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use metagpt_bot::domain::Kind;
use metagpt_bot::marks::{local_branch, slug};
use metagpt_bot::workspace::{
    CommitRequest, CommitSubject, Credentials, DEFAULT_BOT_EMAIL, Workspace,
};
use secrecy::SecretString;

const TOKEN: &str = "bench-token";
const STEPS: [&str; 5] = ["clone", "branch", "write", "commit", "push"];

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(root), Some(name)) = (args.get(1), args.get(2)) else {
        return Err("usage: run_overhead <root of bare repositories> <name.git> [runs]".into());
    };
    let runs: usize = args.get(3).map_or(Ok(5), |r| r.parse())?;
    let server = git_server::GitServer::start(Path::new(root), TOKEN);
    let url = server.url(name);
    let scratch = tempfile::Builder::new().prefix("run-overhead-").tempdir()?;
    let repo_name = name.trim_end_matches(".git");
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();

    let mut bot = Vec::new();
    let mut cli = Vec::new();
    for run in 0..runs {
        let dir = scratch.path().join(format!("bot-{run}")).join(repo_name);
        bot.push(bot_run(&url, &dir, &request_text(started, run))?);
        std::fs::remove_dir_all(scratch.path().join(format!("bot-{run}")))?;
        let dir = scratch.path().join(format!("cli-{run}")).join(repo_name);
        cli.push(cli_run(&url, &dir, &request_text(started, run))?);
        std::fs::remove_dir_all(scratch.path().join(format!("cli-{run}")))?;
        eprintln!(
            "run {}: bot {:.2} s, git {:.2} s",
            run + 1,
            total(&bot[run]),
            total(&cli[run])
        );
    }
    println!("median of {runs} runs (seconds)");
    println!("{:<8} {:>8} {:>8}", "step", "bot", "git");
    for (i, step) in STEPS.iter().enumerate() {
        let b = median(bot.iter().map(|t| t[i]).collect());
        let c = median(cli.iter().map(|t| t[i]).collect());
        println!("{step:<8} {b:>8.2} {c:>8.2}");
    }
    let b = median(bot.iter().map(total).collect());
    let c = median(cli.iter().map(total).collect());
    println!("{:<8} {b:>8.2} {c:>8.2}", "total");
    println!("ratio bot / git: {:.2} (target: at most 1.5)", b / c);
    Ok(())
}

fn request_text(started: u64, run: usize) -> String {
    format!("Bench {started} run {run}: add a --version flag")
}

/// The bot's calls, timed step by step.
fn bot_run(url: &str, dir: &Path, text: &str) -> Result<[f64; 5], Error> {
    let mut times = [0.0; 5];
    let mut clock = Instant::now();
    let credentials = Credentials::token(SecretString::from(TOKEN));
    let workspace = Workspace::clone_or_open(url, dir, credentials)?;
    times[0] = lap(&mut clock);
    let branch = workspace.prepare_branch(&local_branch(text))?;
    times[1] = lap(&mut clock);
    workspace.write_issue_text("", Kind::Requirement, text)?;
    times[2] = lap(&mut clock);
    workspace.commit_all(&CommitRequest {
        subject: CommitSubject::Local(slug(text)),
        iteration: 1,
        body: "bench",
        email: DEFAULT_BOT_EMAIL,
    })?;
    times[3] = lap(&mut clock);
    workspace.push(&branch.name)?;
    times[4] = lap(&mut clock);
    Ok(times)
}

/// The git command line doing the same, timed step by step.
fn cli_run(url: &str, dir: &Path, text: &str) -> Result<[f64; 5], Error> {
    let branch = format!("cli/{}", slug(text));
    let authed = url.replacen("http://", &format!("http://x-access-token:{TOKEN}@"), 1);
    let mut times = [0.0; 5];
    let mut clock = Instant::now();
    let parent = dir.parent().ok_or("no parent")?;
    std::fs::create_dir_all(parent)?;
    let target = dir.to_str().ok_or("a non-UTF-8 directory")?;
    git(
        parent,
        &["clone", "--quiet", "--depth", "1", &authed, target],
    )?;
    times[0] = lap(&mut clock);
    git(dir, &["checkout", "--quiet", "-b", &branch])?;
    times[1] = lap(&mut clock);
    std::fs::create_dir_all(dir.join("docs"))?;
    std::fs::write(dir.join("docs/requirement.txt"), text)?;
    times[2] = lap(&mut clock);
    git(dir, &["add", "-A"])?;
    git(
        dir,
        &[
            "-c",
            "user.name=metagpt-bot",
            "-c",
            &format!("user.email={DEFAULT_BOT_EMAIL}"),
            "commit",
            "--quiet",
            "-m",
            "bench",
        ],
    )?;
    times[3] = lap(&mut clock);
    git(dir, &["push", "--quiet", "origin", &branch])?;
    times[4] = lap(&mut clock);
    Ok(times)
}

/// Seconds since `clock`, which restarts.
fn lap(clock: &mut Instant) -> f64 {
    let elapsed = clock.elapsed().as_secs_f64();
    *clock = Instant::now();
    elapsed
}

fn git(dir: &Path, args: &[&str]) -> Result<(), Error> {
    let status = Command::new("git").args(args).current_dir(dir).status()?;
    if !status.success() {
        return Err(format!("git {} failed: {status}", args.join(" ")).into());
    }
    Ok(())
}

fn total(times: &[f64; 5]) -> f64 {
    times.iter().sum()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
