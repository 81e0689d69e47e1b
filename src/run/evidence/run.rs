//! What a run is about: its target (an issue or a local slug), iteration, kind and the MetaGPT flow used.

use serde::Serialize;

use crate::domain::{Kind, RunTarget};

/// Which MetaGPT flow ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// ProductManager → Architect → ProjectManager → Engineer → QA.
    Requirement,
    /// MetaGPT's bug flow (`docs/bugfix.txt`): Engineer and QA only.
    Bugfix,
    /// A bug report run through the requirement flow (the repository had no MetaGPT documents yet).
    BugAsRequirement,
}

impl Flow {
    pub fn describe(self) -> &'static str {
        match self {
            Flow::Requirement => "requirement flow (PRD → design → tasks → code → review → tests)",
            Flow::Bugfix => {
                "bug-fix flow (`docs/bugfix.txt`: code → review → tests, existing spec kept)"
            }
            Flow::BugAsRequirement => {
                "requirement flow used for a bug report (the repository had no MetaGPT spec for the bug flow)"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub target: RunTarget,
    /// 1-based.
    pub iteration: u32,
    pub kind: Kind,
    pub flow: Flow,
    /// The title (or the first line of a local request).
    pub title: String,
    /// The text MetaGPT was given (the issue body, plus feedback on later iterations).
    pub request: String,
}

/// A changed file with its line counts (from the pipeline's diff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub added: u64,
    pub removed: u64,
}
