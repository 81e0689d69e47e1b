//! Errors in `.github/metagpt.yml`, worded for the person who will fix the file (they are posted on the
//! issue).
//!
//! Invariants: `line` and `column` are 1-based and present whenever the YAML parser or the value gave a
//! position; the message names the key and says what to write instead; an unknown key lists the known
//! ones and suggests the closest when it looks like a typo. Messages hold no control characters.

use serde_saphyr::{Error as YamlError, Location, MessageFormatter, UserMessageFormatter};

/// What is wrong with `.github/metagpt.yml`, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfigError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for RepoConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`", super::PATH)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " line {line}, column {column}")?,
            (Some(line), None) => write!(f, " line {line}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RepoConfigError {}

impl RepoConfigError {
    /// An error at `location` (a position of 0 means unknown).
    pub(super) fn at(location: Location, message: impl Into<String>) -> Self {
        let known = |n: u64| usize::try_from(n).ok().filter(|n| *n > 0);
        Self {
            line: known(location.line()),
            column: known(location.column()),
            message: clean(&message.into()),
        }
    }

    /// A problem with the file as a whole (it cannot be read as text at all), so no line or column.
    pub fn whole_file(message: impl Into<String>) -> Self {
        Self {
            line: None,
            column: None,
            message: clean(&message.into()),
        }
    }

    /// The parser's error on `text`, reworded where it helps.
    pub(super) fn from_yaml(error: YamlError, text: &str) -> Self {
        let error = error.without_snippet();
        let location = error.location().unwrap_or(Location::UNKNOWN);
        let message = match error {
            YamlError::SerdeUnknownField {
                field, expected, ..
            } => unknown_key(field, expected),
            YamlError::DuplicateMappingKey { key, .. } => format!(
                "the key `{}` is set twice; keep one of them",
                key.as_deref().unwrap_or("?")
            ),
            other => {
                let found = UserMessageFormatter.format_message(other);
                let key = key_above(text, location.line());
                match key.and_then(|key| HINTS.iter().find(|(k, _)| *k == key)) {
                    Some((key, hint)) => format!("`{key}` must be {hint} ({found})"),
                    None => format!(
                        "{found}; the file must be a mapping of settings such as `n_round: 20` \
                         (every key is described in metagpt-bot's config/metagpt.example.yml)"
                    ),
                }
            }
        };
        Self::at(location, message)
    }
}

/// What each key takes, for type errors.
const HINTS: &[(&str, &str)] = &[
    (
        "trigger_label",
        "a label name, e.g. `trigger_label: metagpt`",
    ),
    (
        "bugfix_labels",
        "a list of label names, e.g. `bugfix_labels: [bug, bugfix]`",
    ),
    ("source_dir", "a folder path, e.g. `source_dir: src/app`"),
    (
        "n_round",
        "a whole number from 1 to 100, e.g. `n_round: 20`",
    ),
    (
        "max_cost_usd",
        "a number of dollars above 0, e.g. `max_cost_usd: 3.0`",
    ),
    ("code_review", "true or false, e.g. `code_review: true`"),
    ("run_tests", "true or false, e.g. `run_tests: true`"),
    (
        "protected_paths",
        "a list of globs, e.g. `protected_paths: [.github/workflows/**]`",
    ),
    ("llm_model", "a model name, e.g. `llm_model: gpt-4o-mini`"),
    ("spec_dir", "a folder path, e.g. `spec_dir: .metagpt`"),
    (
        "setup",
        "a list of commands, e.g. `setup: [\"pip install -e .[test]\"]`",
    ),
    (
        "project_tests",
        "a command, e.g. `project_tests: python -m pytest -q`",
    ),
    (
        "max_changed_lines",
        "a whole number above 0, e.g. `max_changed_lines: 400`",
    ),
];

/// The top-level key whose value holds `line` (1-based): the nearest unindented `key:` at or above it.
fn key_above(text: &str, line: u64) -> Option<&str> {
    let line = usize::try_from(line).ok()?;
    text.lines()
        .take(line)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|l| l.starts_with(|c: char| c.is_alphanumeric() || c == '"' || c == '\''))
        .and_then(|l| l.split_once(':'))
        .map(|(key, _)| key.trim().trim_matches(|c| c == '"' || c == '\''))
}

fn unknown_key(field: &str, known: &[&str]) -> String {
    let list = known.join(", ");
    match closest(field, known) {
        Some(guess) => format!("unknown key `{field}`; did you mean `{guess}`? Known keys: {list}"),
        None => format!("unknown key `{field}`; remove it. Known keys: {list}"),
    }
}

/// The known key within a small edit distance of `field` (a typo), if any.
fn closest<'a>(field: &str, known: &[&'a str]) -> Option<&'a str> {
    let field = field.to_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (edit_distance(&field, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// `text` with control characters (the file's own, quoted back) made visible.
fn clean(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}
