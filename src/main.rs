//! The `metagpt-bot` command line: `serve` (the GitHub App) and `doctor` (check the settings).
//!
//! Exit codes follow the contract: 0 success or ready, 1 not ready, 2 usage or configuration error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use metagpt_bot::config::Settings;
use metagpt_bot::{doctor, serve, telemetry};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    forbid_same_user_inspection();
    metagpt_bot::gateway::install_crypto_provider();
    let settings = match Settings::load(cli.config.as_deref()) {
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

/// Makes this process non-dumpable: its `/proc/<pid>/environ` and memory can then not be read by other
/// processes of the same user, such as the code MetaGPT's QA role runs (the bot's secrets live here).
fn forbid_same_user_inspection() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes no pointers and only changes this process's dumpable flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}
