//! What a MetaGPT run left in the repository, read back: its SOP documents (typed, lenient views of
//! `docs/prd`, `docs/system_design`, `docs/task`, `docs/code_plan_and_change`, `test_outputs`), the
//! changed source files, what changed in the PRD, and the message trace (`trace.jsonl`).
//!
//! Invariants:
//! - Only plain files directly inside the known folders are read (symlinks are skipped, never
//!   followed). For each document kind the run's own documents are the changed ones; when the run
//!   changed none (a bug run writes no PRD, design or tasks), the newest existing one (MetaGPT names them
//!   by timestamp) stands in, marked `changed: false`.
//! - Any JSON object parses as a document (unknown keys are kept, missing keys read as empty; values of
//!   an unexpected type read as empty, so one odd field never hides the rest of a document). A document
//!   that is not a JSON object is recorded in `invalid` with the parser's message and never stops the
//!   collection; only an unreadable folder does.
//! - Accessors read the refined key first (`Refined Product Goals`, written by an incremental run), then
//!   the plain one (`Product Goals`), like MetaGPT does.
//! - A trace line that is not a trace object is an error naming its line number; unknown keys are
//!   ignored and `send_to` may be a string or a list (MetaGPT keeps a set).

use std::collections::BTreeSet;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{EvidenceError, io};

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
    /// Where they were looked for.
    pub places: Places,
}

/// Where a run's artifacts live, relative to the repository root: MetaGPT's project folder (`""`: the
/// root) and the folder of the project's tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    pub spec_dir: String,
    pub tests_dir: String,
}

impl Default for Places {
    /// MetaGPT's own layout: everything at the root, tests in `tests/`.
    fn default() -> Self {
        Places {
            spec_dir: String::new(),
            tests_dir: TESTS_DIR.to_owned(),
        }
    }
}

impl Places {
    /// `dir` (one of the `*_DIR` of MetaGPT's bookkeeping) inside MetaGPT's project folder.
    pub fn spec(&self, dir: &str) -> String {
        crate::workspace::within(&self.spec_dir, dir)
    }
}

impl Artifacts {
    /// The invalid documents under `dir`.
    pub fn invalid_in<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a Invalid> + 'a {
        let dir = self.places.spec(dir);
        self.invalid
            .iter()
            .filter(move |i| i.path.starts_with(&dir) && i.path[dir.len()..].starts_with('/'))
    }

    /// The test output for a test file name such as `test_game.py`.
    pub fn test_output(&self, test_file: &str) -> Option<&Doc<TestOutput>> {
        let path = format!("{}/{test_file}.json", self.places.spec(TEST_OUTPUTS_DIR));
        self.test_outputs.iter().find(|doc| doc.path == path)
    }
}

/// Collects the artifacts under `root`, at `places`; `changed_paths` are the paths (`/`-separated,
/// relative to `root`) that differ from the run's base commit. Every path in the result is relative to
/// `root`.
pub fn collect(
    root: &Path,
    places: &Places,
    changed_paths: &[String],
) -> Result<Artifacts, EvidenceError> {
    let changed: BTreeSet<&str> = changed_paths.iter().map(String::as_str).collect();
    let mut invalid = Vec::new();
    let at = |dir: &str| places.spec(dir);
    let mut artifacts = Artifacts {
        prds: documents(root, &at(PRD_DIR), &changed, &mut invalid)?,
        prd_markdown: files(root, &at(PRD_MARKDOWN_DIR), &changed, |n| {
            n.ends_with(".md")
        })?,
        designs: documents(root, &at(DESIGN_DIR), &changed, &mut invalid)?,
        tasks: documents(root, &at(TASK_DIR), &changed, &mut invalid)?,
        code_plans: documents(root, &at(CODE_PLAN_DIR), &changed, &mut invalid)?,
        code_summaries: files(root, &at(CODE_SUMMARY_DIR), &changed, |n| {
            n.ends_with(".json")
        })?,
        tests: files(root, &places.tests_dir, &changed, |n| {
            n.starts_with("test_") && n.ends_with(".py")
        })?,
        test_outputs: Vec::new(),
        invalid: Vec::new(),
        places: places.clone(),
    };
    for file in files(root, &at(TEST_OUTPUTS_DIR), &changed, |n| {
        n.ends_with(".json")
    })? {
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

// ---- SOP documents ----
// Each document is a JSON object written from an `ActionNode`; a first run uses the plain keys
// (`Product Goals`) and an incremental run the refined ones (`Refined Product Goals`).

/// The keys of one document, with lenient typed accessors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Map<String, Value>);

impl Fields {
    /// The first of `keys` that is present and not null.
    pub fn get(&self, keys: &[&str]) -> Option<&Value> {
        keys.iter()
            .find_map(|key| self.0.get(*key).filter(|v| !v.is_null()))
    }

    /// Text of the first present key; a list of strings is joined by new lines.
    pub fn text(&self, keys: &[&str]) -> String {
        match self.get(keys) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(items)) => {
                items.iter().map(value_text).collect::<Vec<_>>().join("\n")
            }
            Some(other) => value_text(other),
            None => String::new(),
        }
    }

    /// A list of strings (a single string reads as a one-element list).
    pub fn list(&self, keys: &[&str]) -> Vec<String> {
        match self.get(keys) {
            Some(Value::Array(items)) => items.iter().map(value_text).collect(),
            Some(Value::String(text)) if !text.trim().is_empty() => vec![text.clone()],
            _ => Vec::new(),
        }
    }

    /// A list of lists of strings, as in `[["P0", "text"]]` or `[["game.py", "what it holds"]]`.
    pub fn rows(&self, keys: &[&str]) -> Vec<Vec<String>> {
        match self.get(keys) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Array(cells) => cells.iter().map(value_text).collect(),
                    other => vec![value_text(other)],
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The keys of `required` (each a set of alternatives) that are absent or empty.
    pub fn missing(&self, required: &[&[&str]]) -> Vec<String> {
        required
            .iter()
            .filter(|alternatives| self.get(alternatives).is_none_or(is_empty))
            .map(|alternatives| alternatives.join("` or `"))
            .collect()
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// One entry of the PRD's requirement pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolItem {
    pub priority: String,
    pub text: String,
}

/// `docs/prd/<ts>.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Prd {
    pub fields: Fields,
}

impl Prd {
    pub const REQUIRED: &[&[&str]] = &[
        &["Refined Requirements", "Original Requirements"],
        &["Refined Product Goals", "Product Goals"],
        &["Refined Requirement Pool", "Requirement Pool"],
    ];

    pub fn is_refined(&self) -> bool {
        self.fields.get(&["Refined Requirements"]).is_some()
    }
    pub fn project_name(&self) -> String {
        self.fields.text(&["Project Name"])
    }
    pub fn requirements(&self) -> String {
        self.fields.text(Self::REQUIRED[0])
    }
    pub fn goals(&self) -> Vec<String> {
        self.fields.list(Self::REQUIRED[1])
    }
    pub fn user_stories(&self) -> Vec<String> {
        self.fields.list(&["Refined User Stories", "User Stories"])
    }
    pub fn requirement_pool(&self) -> Vec<PoolItem> {
        self.fields
            .rows(Self::REQUIRED[2])
            .into_iter()
            .map(|mut row| match row.len() {
                0 => PoolItem {
                    priority: String::new(),
                    text: String::new(),
                },
                1 => PoolItem {
                    priority: String::new(),
                    text: row.remove(0),
                },
                _ => PoolItem {
                    priority: row.remove(0),
                    text: row.join(" "),
                },
            })
            .filter(|item| !item.text.trim().is_empty())
            .collect()
    }
}

/// `docs/system_design/<ts>.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Design {
    pub fields: Fields,
}

impl Design {
    pub const REQUIRED: &[&[&str]] = &[
        &["Refined Implementation Approach", "Implementation approach"],
        &["Refined File list", "File list"],
    ];

    pub fn approach(&self) -> String {
        self.fields.text(Self::REQUIRED[0])
    }
    pub fn file_list(&self) -> Vec<String> {
        self.fields.list(Self::REQUIRED[1])
    }
}

/// `docs/task/<ts>.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tasks {
    pub fields: Fields,
}

impl Tasks {
    /// The files the Engineer writes, in order (MetaGPT reads `Task list`, then `Refined Task list`).
    pub fn task_list(&self) -> Vec<String> {
        self.fields.list(&["Task list", "Refined Task list"])
    }
    /// `(file, what it holds)` from the logic analysis.
    pub fn logic_analysis(&self) -> Vec<(String, String)> {
        self.fields
            .rows(&["Refined Logic Analysis", "Logic Analysis"])
            .into_iter()
            .filter_map(|mut row| {
                (!row.is_empty()).then(|| {
                    let file = row.remove(0);
                    (file, row.join(" "))
                })
            })
            .collect()
    }
    pub fn required_packages(&self) -> Vec<String> {
        self.fields
            .list(&["Required packages", "Required Python packages"])
    }
}

/// `docs/code_plan_and_change/<ts>.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodePlan {
    pub fields: Fields,
}

impl CodePlan {
    pub fn development_plan(&self) -> Vec<String> {
        self.fields.list(&["Development Plan"])
    }
    pub fn incremental_change(&self) -> Vec<String> {
        self.fields.list(&["Incremental Change"])
    }
}

/// `test_outputs/test_<file>.py.json`: MetaGPT's `RunCodeResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutput {
    /// QA's LLM summary of the run (`## Status: PASS|FAIL`, `## Send To: NoOne|Engineer|QaEngineer`).
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
}

// ---- changed source files: changed paths that still exist as plain files under the source folder ----
// Named the way MetaGPT names them (relative to the source folder, `/`-separated).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the repository root.
    pub path: String,
    /// Relative to the source folder (as in the task list and review prompts).
    pub name: String,
}

pub fn changed_sources(root: &Path, source_dir: &str, changed_paths: &[String]) -> Vec<SourceFile> {
    let dir = source_dir.trim_matches('/');
    changed_paths
        .iter()
        .filter_map(|path| {
            let name = path.strip_prefix(dir)?.strip_prefix('/')?;
            let is_file = root
                .join(path)
                .symlink_metadata()
                .is_ok_and(|m| m.is_file());
            (is_file && !name.is_empty()).then(|| SourceFile {
                path: path.clone(),
                name: name.to_owned(),
            })
        })
        .collect()
}

/// A task-list or review entry as a name relative to the source folder (`./a.py`, `<dir>/a.py` → `a.py`).
pub fn normalise(entry: &str, source_dir: &str) -> String {
    let entry = entry.trim().trim_start_matches("./");
    let dir = source_dir.trim_matches('/');
    entry
        .strip_prefix(dir)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(entry)
        .to_owned()
}

// ---- what changed in the PRD between the base commit and the run ----
// Goals and pool requirements added or removed, and whether the requirement text changed. Entries
// compare after trimming, in order.

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecChange {
    pub added_goals: Vec<String>,
    pub removed_goals: Vec<String>,
    pub added_requirements: Vec<String>,
    pub removed_requirements: Vec<String>,
    pub requirements_text_changed: bool,
}

impl SpecChange {
    pub fn is_empty(&self) -> bool {
        self == &SpecChange::default()
    }
}

pub fn prd_change(previous: &Prd, current: &Prd) -> SpecChange {
    let pool = |prd: &Prd| -> Vec<String> {
        prd.requirement_pool()
            .into_iter()
            .map(|i| {
                if i.priority.is_empty() {
                    i.text
                } else {
                    format!("{}: {}", i.priority, i.text)
                }
            })
            .collect()
    };
    let (old_goals, new_goals) = (previous.goals(), current.goals());
    let (old_pool, new_pool) = (pool(previous), pool(current));
    SpecChange {
        added_goals: minus(&new_goals, &old_goals),
        removed_goals: minus(&old_goals, &new_goals),
        added_requirements: minus(&new_pool, &old_pool),
        removed_requirements: minus(&old_pool, &new_pool),
        requirements_text_changed: previous.requirements().trim() != current.requirements().trim(),
    }
}

fn minus(a: &[String], b: &[String]) -> Vec<String> {
    a.iter()
        .filter(|x| !b.iter().any(|y| y.trim() == x.trim()))
        .cloned()
        .collect()
}

// ---- trace.jsonl (CONTRACT.md): one published agent message per line ----
// `{"ts","role","sent_from","send_to","cause_by","content"}`.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    #[serde(default)]
    pub ts: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub sent_from: String,
    #[serde(default)]
    pub send_to: Value,
    #[serde(default)]
    pub cause_by: String,
    #[serde(default)]
    pub content: String,
}

pub fn read_trace(path: &Path) -> Result<Vec<TraceEntry>, EvidenceError> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| parse_json(&format!("{} line {}", path.display(), n + 1), line))
        .collect()
}
