//! Opening the queue's database: which backend a URL names, its connection settings, its migrations.
//!
//! Invariants:
//! - `sqlite://PATH` creates the file and its parent folder on first start, runs in WAL mode with
//!   `synchronous=FULL` (a commit is on disk before it returns, so before `record` answers) and waits on a busy database
//!   instead of failing at once.
//! - `postgres://…` (or `postgresql://…`) may be shared by several processes on several machines.
//! - Migrations run before the queue is handed out; both backends carry the same tables and indexes.
//! - On SQLite the group-commit writer opens the same file with a connection of its own on its own thread
//!   (`writer`, same settings); [`Backend::sqlite_file`] names that file, and refuses an in-memory
//!   database, which a second connection could not see (and a queue must survive restarts anyway).
//! - Both backends share their SQL text (`$N` placeholders work on both); [`on_pool!`] compiles one body
//!   once per backend, so no query logic is written twice.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// How long a SQLite connection waits for another writer before giving up.
pub(super) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound of pooled connections per process (workers, claims, inspection; not the record path).
const MAX_CONNECTIONS: u32 = 8;

/// The database behind a [`super::Queue`]. Cheap to clone (pools are shared handles).
#[derive(Clone, Debug)]
pub(super) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend `$backend` holds.
/// The body is type-checked and compiled once per backend, so it must only use SQL both accept.
macro_rules! on_pool {
    ($backend:expr, $pool:ident => $body:expr) => {
        match $backend {
            $crate::queue::backend::Backend::Sqlite($pool) => $body,
            $crate::queue::backend::Backend::Postgres($pool) => $body,
        }
    };
}
pub(super) use on_pool;

impl Backend {
    /// Connects to `url` and runs the migrations of its backend.
    pub(super) async fn connect(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            connect_sqlite(url).await.map(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            connect_postgres(url).await.map(Backend::Postgres)
        } else {
            anyhow::bail!(
                "DATABASE_URL must start with `sqlite://` (for example `sqlite://data/metagpt-bot.db`) \
                 or `postgres://` (for example `postgres://user:password@host:5432/metagpt`)"
            )
        }
    }

    /// The database file behind a `sqlite:` URL, for the writer's own connection.
    pub(super) fn sqlite_file(url: &str) -> anyhow::Result<std::path::PathBuf> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        anyhow::ensure!(
            !in_memory,
            "DATABASE_URL `{url}` names an in-memory SQLite database, which the queue cannot use: jobs must \
             survive a restart. Name a file instead, for example `sqlite://data/metagpt-bot.db`"
        );
        Ok(sqlite_options(url)?.get_filename().to_path_buf())
    }
}

fn sqlite_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .with_context(|| format!("DATABASE_URL `{url}` is not a valid SQLite URL"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true))
}

async fn connect_sqlite(url: &str) -> anyhow::Result<SqlitePool> {
    let options = sqlite_options(url)?;
    create_parent_folder(options.get_filename())?;
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open the SQLite database `{url}`"))?;
    sqlx::migrate!("migrations/sqlite")
        .run(&pool)
        .await
        .with_context(|| format!("cannot migrate the SQLite database `{url}`"))?;
    Ok(pool)
}

fn create_parent_folder(file: &Path) -> anyhow::Result<()> {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the database folder `{}`", parent.display())),
        _ => Ok(()),
    }
}

async fn connect_postgres(url: &str) -> anyhow::Result<PgPool> {
    let options =
        PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid Postgres URL")?;
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .context("cannot connect to the Postgres database named by DATABASE_URL (is it running and reachable?)")?;
    sqlx::migrate!("migrations/postgres")
        .run(&pool)
        .await
        .context("cannot migrate the Postgres database named by DATABASE_URL")?;
    Ok(pool)
}

/// Now, in unix milliseconds (the unit of every timestamp column).
pub(super) fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// `now + duration` in unix milliseconds, saturating.
pub(super) fn ms_after(now: i64, duration: Duration) -> i64 {
    now.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn the_writer_opens_the_urls_file_and_refuses_an_in_memory_database() {
        let file = Backend::sqlite_file("sqlite://data/metagpt-bot.db").unwrap();
        assert_eq!(file, std::path::Path::new("data/metagpt-bot.db"));
        for url in ["sqlite::memory:", "sqlite://?mode=memory"] {
            let error = Backend::sqlite_file(url).unwrap_err().to_string();
            assert!(
                error.contains("in-memory") && error.contains("sqlite://data/"),
                "{error}"
            );
        }
    }
}
