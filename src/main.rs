//! The `metagpt-bot` command line: `serve` (the GitHub App), `action` (one run in a GitHub Actions job),
//! `run` (a local run on a repository on disk) and `doctor` (check the settings).
//!
//! Exit codes follow the contract: 0 success or ready, 1 not ready, 2 usage or configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use metagpt_bot::config::{self, Settings};
use metagpt_bot::env_file;
use metagpt_bot::faces::{doctor, local, serve};
use metagpt_bot::telemetry;

#[derive(Parser)]
#[command(
    name = "metagpt-bot",
    version,
    about = "Turns labelled GitHub issues into incremental MetaGPT runs and reviewable pull requests"
)]
struct Cli {
    /// A TOML file with the same keys as the environment (APP_ID, WEBHOOK_SECRET, …); the environment wins.
    #[arg(long, global = true, env = "METAGPT_BOT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the GitHub App: webhook server, durable queue and workers, until SIGTERM or SIGINT.
    Serve,
    /// Check settings, credentials, database and the MetaGPT install; print each problem with its fix.
    Doctor,
    /// One MetaGPT run on a repository on disk, without GitHub: branch `metagpt/local-<slug>` from the
    /// checked-out commit, evidence in `.metagpt/runs/local-<slug>/<k>/`, one commit, then the checkout
    /// back. Exit 0 gates passed, 1 failed, 2 usage/config.
    Run(Box<local::RunArgs>),
    /// One run inside a GitHub Actions job, from the event that started the job (GITHUB_EVENT_PATH) and
    /// the inputs as INPUT_* variables. Exit 0 done or nothing to do, 1 failed, 2 misconfigured.
    Action,
    /// The Landlock launcher the bot starts the agent through (AGENT_SANDBOX=landlock): confines itself
    /// with Landlock and seccomp as the policy says, then executes the program. Exit 126: not confined,
    /// nothing run.
    #[command(hide = true)]
    Confine {
        /// What the program may reach, as JSON.
        #[arg(long)]
        policy: String,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        argv: Vec<std::ffi::OsString>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Confine { policy, argv } = &cli.command {
        // A fresh single-threaded process: nothing else runs before it confines itself and executes.
        let error = metagpt_bot::run::agent::confine_main(policy, argv);
        eprintln!("metagpt-bot confine: {error} (nothing was executed)");
        return ExitCode::from(metagpt_bot::run::agent::CONFINE_EXIT_UNCONFINED);
    }
    forbid_same_user_inspection();
    metagpt_bot::run::gateway::install_crypto_provider();
    if matches!(cli.command, Command::Action) {
        // Before anything that could print: the secrets must be masked first. No `.env` here: the job's
        // working directory is the user's repository, whose `.env` belongs to their project; the
        // Action's settings are its inputs.
        return ExitCode::from(run_action());
    }
    // First, while this is the only thread: `.env` sets what the environment does not.
    if let Err(e) = env_file::load(std::path::Path::new(config::ENV_FILE)) {
        eprintln!("metagpt-bot: invalid settings: {e}");
        return ExitCode::from(2);
    }
    let config_file = cli
        .config
        .or_else(|| std::env::var_os("METAGPT_BOT_CONFIG").map(PathBuf::from));
    let settings = match Settings::load(config_file.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("metagpt-bot: invalid settings: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("metagpt-bot: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve => {
            if let Err(e) = telemetry::init_logging(&settings.log_level, settings.log_format) {
                eprintln!("metagpt-bot: {e}");
                return ExitCode::from(2);
            }
            match runtime.block_on(serve::serve(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("metagpt-bot: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Run(args) => {
            if let Err(e) = telemetry::init_logging(&settings.log_level, settings.log_format) {
                eprintln!("metagpt-bot: {e}");
                return ExitCode::from(2);
            }
            runtime.block_on(run_local(&args, &settings))
        }
        Command::Action | Command::Confine { .. } => {
            unreachable!("handled before the settings are loaded")
        }
        Command::Doctor => {
            let report = runtime.block_on(doctor::run(&settings));
            println!("{report}");
            if report.ready() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// `metagpt-bot run`: Ctrl-C (or SIGTERM) cancels the agent (nothing is committed); prints the verdict.
async fn run_local(args: &local::RunArgs, settings: &Settings) -> ExitCode {
    let cancel = tokio_util::sync::CancellationToken::new();
    tokio::spawn(metagpt_bot::faces::cancel_on_signal(
        cancel.clone(),
        "stopping the run (nothing is committed)",
    ));
    match local::run(args, settings, cancel).await {
        Ok(summary) => {
            println!("{summary}");
            if summary.gates_passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("metagpt-bot run: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `metagpt-bot action`: the steps of [`metagpt_bot::faces::action`], in order; returns the exit code.
fn run_action() -> u8 {
    use metagpt_bot::faces::action::{self, ActionEnv, ActionError, runner};
    use metagpt_bot::http::intake::Decision;
    let lookup = |name: &str| std::env::var(name).ok();
    for secret in action::secrets_to_mask(lookup) {
        println!("{}", runner::add_mask(&secret));
    }
    let misconfigured = |problems: Vec<String>| {
        for problem in problems {
            println!("{}", runner::error(action::MISCONFIGURED, &problem));
        }
        2
    };
    let level = lookup("LOG_LEVEL").unwrap_or_else(|| "info".to_owned());
    if let Err(e) = telemetry::init_logging(&level, Default::default()) {
        return misconfigured(vec![format!("LOG_LEVEL: {e}")]);
    }
    let env = match ActionEnv::from_env(lookup) {
        Ok(env) => env,
        Err(problems) => return misconfigured(problems),
    };
    let trigger = match env.decision() {
        Ok(Decision::Trigger(trigger)) => trigger,
        Ok(Decision::Ignore(reason)) => {
            return action::nothing_to_do(&env, &reason, &mut std::io::stdout());
        }
        Err(problem) => return misconfigured(vec![problem]),
    };
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(async {
            let cancel = tokio_util::sync::CancellationToken::new();
            tokio::spawn(metagpt_bot::faces::cancel_on_signal(
                cancel.clone(),
                "the job is being cancelled: stopping the run",
            ));
            action::run(&env, trigger, cancel).await
        }),
        Err(e) => Err(ActionError::Failed(format!(
            "cannot start the async runtime: {e}"
        ))),
    };
    action::finish(&env, &result, &mut std::io::stdout())
}

/// Makes this process non-dumpable: its `/proc/<pid>/environ` and memory can then not be read by other
/// processes of the same user, such as the code MetaGPT's QA role runs (the bot's secrets live here).
fn forbid_same_user_inspection() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes no pointers and only changes this process's dumpable flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}
