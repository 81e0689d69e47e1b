//! The evidence module's errors: each names the file or template involved and what was being done, so
//! the message alone says what to fix.

use std::path::PathBuf;

use crate::workspace::WorkspaceError;

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON of the expected shape: {message}")]
    Json { path: String, message: String },
    #[error("template `{name}`: {message}")]
    Template { name: String, message: String },
    #[error("writing the evidence files: {0}")]
    Workspace(#[from] WorkspaceError),
    /// A recorded ledger (`llm.jsonl`) could not be read back; the message names the file and line.
    #[error("{0:#}")]
    Ledger(anyhow::Error),
}

/// Maps an I/O error to [`EvidenceError::Io`] for `path`.
pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> EvidenceError {
    let path = path.into();
    move |source| EvidenceError::Io {
        action,
        path,
        source,
    }
}

impl EvidenceError {
    pub(crate) fn template(name: &str, error: &minijinja::Error) -> Self {
        // `{:#}` includes the template line and the cause chain.
        EvidenceError::Template {
            name: name.to_owned(),
            message: format!("{error:#}"),
        }
    }
}
