//! Errors of the workspace, each worded so that the person reading it knows what to do next.

/// Why [`super::Workspace::preflight`] refused the tree. MetaGPT 0.8.2 edits code in one source folder
/// (found as `super::layout` says, or the configured `source_dir`), needs a `.gitignore`, and stops on
/// files in the source folder that git does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "the repository has no folder `{folder}/` with source files: MetaGPT 0.8.2 edits code only in \
         <repo>/<repo-name>/ (here `{folder}/`); move the code there or set `source_dir` in {settings}",
        settings = crate::marks::SETTINGS_PATH
    )]
    MissingSourceFolder { folder: String },
    #[error(
        "the source folder `{folder}/` holds no file: MetaGPT 0.8.2 needs at least one source file there \
         to work incrementally; add the code (or a first module) to it"
    )]
    EmptySourceFolder { folder: String },
    #[error("`source_dir: {source_dir}` in {settings} {reason}", settings = crate::marks::SETTINGS_PATH)]
    InvalidSourceDir { source_dir: String, reason: String },
    #[error(
        "several folders could hold the code MetaGPT should edit ({}): set `source_dir` in {settings} to \
         the one the issues are about",
        candidates.iter().map(|c| format!("`{c}/`")).collect::<Vec<_>>().join(", "),
        settings = crate::marks::SETTINGS_PATH
    )]
    SeveralPackages { candidates: Vec<String> },
    #[error(
        "the repository has Python files but no package folder (no `src/<package>/` and no top-level \
         folder with an `__init__.py`): MetaGPT 0.8.2 edits code inside one folder; set `source_dir` in \
         {settings} to the folder that holds the code",
        settings = crate::marks::SETTINGS_PATH
    )]
    NoPackage,
    #[error(
        "the repository has no Python package{}: MetaGPT 0.8.2's QA writes and runs Python tests only, so \
         a run would spend money and then fail; to run anyway, set `source_dir` in {settings} (and \
         `run_tests: false`)",
        if found.is_empty() { String::new() } else { format!(" (its code is mostly {})", found.join(", ")) },
        settings = crate::marks::SETTINGS_PATH
    )]
    NotPython { found: Vec<String> },
    #[error(
        "the repository has no `.gitignore` at its root: MetaGPT 0.8.2 refuses to work on a git repository \
         without one; commit a .gitignore (even an empty one)"
    )]
    MissingGitignore,
    #[error(
        "the source folder `{folder}/` has files git does not know or that differ from the last commit \
         ({}): MetaGPT 0.8.2 stops on source code \"from an unknown origin\"; commit or remove them",
        paths.join(", ")
    )]
    DirtySourceFolder { folder: String, paths: Vec<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(
        "the token was refused by {url}: check that it is valid, not expired, and allowed to read and \
         push to the repository"
    )]
    TokenRefused { url: String },
    #[error("{url} asks for credentials but no token was given")]
    TokenMissing { url: String },
    /// The work tree's git config sent the operation elsewhere than the clone's remote (a `pushurl` or
    /// `url.*.insteadOf` written during a run): the token was not sent.
    #[error(
        "the token was not sent to {url}: the repository's git config (`.git/config`) points it away from \
         {pinned}, where the work tree was cloned from; something in the run rewrote it. Remove the work \
         tree (the bot clones it again)"
    )]
    TokenDiverted { url: String, pinned: String },
    #[error(
        "the repository URL carries credentials; pass the token separately (it must never be written to \
         .git/config)"
    )]
    CredentialsInUrl,
    #[error(
        "the workspace {dir} is a clone of {found}, not of {expected}; remove it or use another directory"
    )]
    OtherOrigin {
        dir: String,
        found: String,
        expected: String,
    },
    #[error(
        "the remote branch `{branch}` moved since it was fetched (someone else pushed to it); the bot never \
         force-pushes: fetch, build on top of it (Workspace::integrate_remote) and push again"
    )]
    RemoteMoved { branch: String },
    #[error("the remote refused the update of `{refname}`: {reason}")]
    PushRejected { refname: String, reason: String },
    #[error(
        "the remote branch `{branch}` and the bot's work conflict in {}: merge them by hand and run again",
        paths.join(", ")
    )]
    MergeConflict { branch: String, paths: Vec<String> },
    #[error(
        "checking out `{branch}` would overwrite local changes: commit or discard them first ({source})"
    )]
    DirtyCheckout { branch: String, source: git2::Error },
    #[error("refusing to write `{path}`: {reason}")]
    UnsafePath { path: String, reason: String },
    #[error("invalid protected path pattern `{pattern}`: {source}")]
    Pattern {
        pattern: String,
        source: globset::Error,
    },
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error("{action}: {source}")]
    Git { action: String, source: git2::Error },
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
}

/// `map_err` adapter: a git2 error while doing `action`.
pub(super) fn git(action: &str) -> impl FnOnce(git2::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Git {
        action: action.to_owned(),
        source,
    }
}

/// `map_err` adapter: an I/O error while doing `action`.
pub(super) fn io(action: String) -> impl FnOnce(std::io::Error) -> WorkspaceError {
    move |source| WorkspaceError::Io { action, source }
}
