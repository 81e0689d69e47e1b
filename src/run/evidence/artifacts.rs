//! Finding and parsing the SOP artifacts a MetaGPT run left in the repository.
//!
//! Invariants: only plain files directly inside the known folders are read (symlinks are skipped, never
//! followed). For each document kind the run's own documents are the changed ones; when the run changed
//! none (a bug run writes no PRD, design or tasks), the newest existing one (MetaGPT names them by
//! timestamp) stands in, marked `changed: false`. A document that is not a JSON object is recorded in
//! `invalid` with the parser's message and never stops the collection; only an unreadable folder does.

use std::collections::BTreeSet;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::error::{EvidenceError, io};
use super::sop::{CodePlan, Design, Prd, Tasks, TestOutput};

pub const PRD_DIR: &str = "docs/prd";
pub const PRD_MARKDOWN_DIR: &str = "resources/prd";
pub const DESIGN_DIR: &str = "docs/system_design";
pub const TASK_DIR: &str = "docs/task";
pub const CODE_PLAN_DIR: &str = "docs/code_plan_and_change";
pub const CODE_SUMMARY_DIR: &str = "docs/code_summary";
pub const TESTS_DIR: &str = "tests";
pub const TEST_OUTPUTS_DIR: &str = "test_outputs";

/// One parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc<T> {
    /// `/`-separated, relative to the repository root.
    pub path: String,
    /// Whether this run wrote or changed it.
    pub changed: bool,
    pub value: T,
}

/// A document that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub error: String,
}

/// A file that exists, with whether this run changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub path: String,
    pub changed: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Artifacts {
    pub prds: Vec<Doc<Prd>>,
    pub prd_markdown: Vec<FileRef>,
    pub designs: Vec<Doc<Design>>,
    pub tasks: Vec<Doc<Tasks>>,
    pub code_plans: Vec<Doc<CodePlan>>,
    /// `docs/code_summary/*.json`; MetaGPT 0.8.2 never writes them, so this is normally empty.
    pub code_summaries: Vec<FileRef>,
    /// Every `tests/test_*.py`.
    pub tests: Vec<FileRef>,
    /// Every `test_outputs/*.json`.
    pub test_outputs: Vec<Doc<TestOutput>>,
    pub invalid: Vec<Invalid>,
}

impl Artifacts {
    /// The invalid documents under `dir`.
    pub fn invalid_in<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a Invalid> + 'a {
        self.invalid
            .iter()
            .filter(move |i| i.path.starts_with(dir) && i.path[dir.len()..].starts_with('/'))
    }

    /// The test output for a test file name such as `test_game.py`.
    pub fn test_output(&self, test_file: &str) -> Option<&Doc<TestOutput>> {
        let path = format!("{TEST_OUTPUTS_DIR}/{test_file}.json");
        self.test_outputs.iter().find(|doc| doc.path == path)
    }
}

/// Collects the artifacts under `root`; `changed_paths` are the paths (`/`-separated, relative to
/// `root`) that differ from the run's base commit.
pub fn collect(root: &Path, changed_paths: &[String]) -> Result<Artifacts, EvidenceError> {
    let changed: BTreeSet<&str> = changed_paths.iter().map(String::as_str).collect();
    let mut invalid = Vec::new();
    let mut artifacts = Artifacts {
        prds: documents(root, PRD_DIR, &changed, &mut invalid)?,
        prd_markdown: files(root, PRD_MARKDOWN_DIR, &changed, |n| n.ends_with(".md"))?,
        designs: documents(root, DESIGN_DIR, &changed, &mut invalid)?,
        tasks: documents(root, TASK_DIR, &changed, &mut invalid)?,
        code_plans: documents(root, CODE_PLAN_DIR, &changed, &mut invalid)?,
        code_summaries: files(root, CODE_SUMMARY_DIR, &changed, |n| n.ends_with(".json"))?,
        tests: files(root, TESTS_DIR, &changed, |n| {
            n.starts_with("test_") && n.ends_with(".py")
        })?,
        test_outputs: Vec::new(),
        invalid: Vec::new(),
    };
    for file in files(root, TEST_OUTPUTS_DIR, &changed, |n| n.ends_with(".json"))? {
        if let Some(doc) = parse(root, file, &mut invalid)? {
            artifacts.test_outputs.push(doc);
        }
    }
    artifacts.invalid = invalid;
    Ok(artifacts)
}

/// The run's documents in `dir`: the changed ones, else the newest.
fn documents<T: DeserializeOwned>(
    root: &Path,
    dir: &str,
    changed: &BTreeSet<&str>,
    invalid: &mut Vec<Invalid>,
) -> Result<Vec<Doc<T>>, EvidenceError> {
    let all = files(root, dir, changed, |n| n.ends_with(".json"))?;
    let selected: Vec<FileRef> = if all.iter().any(|f| f.changed) {
        all.into_iter().filter(|f| f.changed).collect()
    } else {
        all.into_iter().last().into_iter().collect()
    };
    let mut docs = Vec::new();
    for file in selected {
        if let Some(doc) = parse(root, file, invalid)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

fn parse<T: DeserializeOwned>(
    root: &Path,
    file: FileRef,
    invalid: &mut Vec<Invalid>,
) -> Result<Option<Doc<T>>, EvidenceError> {
    let full = root.join(&file.path);
    let text = std::fs::read_to_string(&full).map_err(io("reading", &full))?;
    match parse_json::<T>(&file.path, &text) {
        Ok(value) => Ok(Some(Doc {
            path: file.path,
            changed: file.changed,
            value,
        })),
        Err(EvidenceError::Json { path, message }) => {
            invalid.push(Invalid {
                path,
                error: message,
            });
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// Parses `text` (the content of `path`) as `T`, naming the failing field and position on error.
pub fn parse_json<T: DeserializeOwned>(path: &str, text: &str) -> Result<T, EvidenceError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| EvidenceError::Json {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// The plain files directly in `dir` whose name passes `keep`, sorted by name.
fn files(
    root: &Path,
    dir: &str,
    changed: &BTreeSet<&str>,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<FileRef>, EvidenceError> {
    let full = root.join(dir);
    let entries = match std::fs::read_dir(&full) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("listing", &full)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("listing", &full))?;
        let is_file = entry.file_type().map_err(io("listing", &full))?.is_file();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if is_file && keep(&name) {
            let path = format!("{dir}/{name}");
            let changed = changed.contains(path.as_str());
            found.push(FileRef { path, changed });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}
