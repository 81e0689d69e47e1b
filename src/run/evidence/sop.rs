//! Typed, lenient views of MetaGPT 0.8.2's SOP documents (`docs/prd`, `docs/system_design`, `docs/task`,
//! `docs/code_plan_and_change`, `test_outputs`).
//!
//! Each document is a JSON object written from an `ActionNode`; a first run uses the plain keys
//! (`Product Goals`) and an incremental run the refined ones (`Refined Product Goals`). Accessors read the
//! refined key first, then the plain one, like MetaGPT does. Invariants: any JSON object parses (unknown
//! keys are kept, missing keys read as empty); only a non-object is an error. Values of an unexpected
//! type read as empty rather than failing, so one odd field never hides the rest of a document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
