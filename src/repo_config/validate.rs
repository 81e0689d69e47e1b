//! The rules each value of `.github/metagpt.yml` must follow, checked after the YAML is read.
//!
//! Invariants: a value that breaks a rule is an error at that value's line and column, saying what is
//! allowed; a value that is absent (or YAML `null`) takes its default; no value is ever clamped or
//! corrected silently.

use std::path::{Component, Path};

use serde_saphyr::Spanned;

use super::{Raw, RepoConfig, RepoConfigError};
use crate::workspace::protected_matcher;

/// A GitHub label is at most 50 characters.
const MAX_LABEL_CHARS: usize = 50;

/// The settings of `raw`, defaults filled in, or the first rule it breaks.
pub(super) fn settle(raw: Raw) -> Result<RepoConfig, RepoConfigError> {
    let mut config = RepoConfig::default();
    if let Some(label) = raw.trigger_label {
        config.trigger_label = label_of(&label, "trigger_label")?;
    }
    if let Some(labels) = raw.bugfix_labels {
        config.bugfix_labels = labels
            .iter()
            .map(|l| label_of(l, "bugfix_labels"))
            .collect::<Result<_, _>>()?;
    }
    if let Some(dir) = raw.source_dir {
        config.source_dir = Some(source_dir(&dir)?);
    }
    if let Some(n) = raw.n_round {
        config.n_round = u32::try_from(n.value)
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                at(
                    &n,
                    format!(
                        "`n_round` must be a whole number from 1 to 100, not {}; a full incremental run \
                         needs 7 to 11 rounds (default 20)",
                        n.value
                    ),
                )
            })?;
    }
    if let Some(usd) = raw.max_cost_usd {
        if !usd.value.is_finite() || usd.value <= 0.0 {
            return Err(at(
                &usd,
                format!(
                    "`max_cost_usd` must be a number of dollars above 0, not {}; write e.g. `max_cost_usd: 3.0`",
                    usd.value
                ),
            ));
        }
        config.max_cost_usd = usd.value;
    }
    if let Some(flag) = raw.code_review {
        config.code_review = flag.value;
    }
    if let Some(flag) = raw.run_tests {
        config.run_tests = flag.value;
    }
    if let Some(globs) = raw.protected_paths {
        config.protected_paths = protected_paths(&globs)?;
    }
    if let Some(model) = raw.llm_model {
        let name = model.value.trim();
        if name.is_empty() {
            return Err(at(
                &model,
                "`llm_model` is empty; name a model (e.g. `llm_model: gpt-4o-mini`) or remove the key \
                 to use the operator's",
            ));
        }
        config.llm_model = Some(name.to_owned());
    }
    if let Some(dir) = raw.spec_dir {
        config.spec_dir = Some(spec_dir(&dir)?);
    }
    if let Some(commands) = raw.setup {
        config.setup = Some(
            commands
                .iter()
                .map(|c| command(c, "setup", "`setup: [\"pip install -e .[test]\"]`"))
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(tests) = raw.project_tests {
        config.project_tests = Some(command(
            &tests,
            "project_tests",
            "`project_tests: python -m pytest -q tests`",
        )?);
    }
    if let Some(n) = raw.max_changed_lines {
        config.max_changed_lines = u32::try_from(n.value).ok().filter(|n| *n >= 1).ok_or_else(
            || {
                at(
                    &n,
                    format!(
                        "`max_changed_lines` must be a whole number above 0, not {} (default {})",
                        n.value,
                        super::DEFAULT_MAX_CHANGED_LINES
                    ),
                )
            },
        )?;
    }
    Ok(config)
}

/// A shell command: one line, not blank.
fn command(value: &Spanned<String>, key: &str, example: &str) -> Result<String, RepoConfigError> {
    command_text(&value.value, key, example).map_err(|why| at(value, why))
}

fn command_text(value: &str, key: &str, example: &str) -> Result<String, String> {
    let text = value.trim();
    if text.is_empty() || text.contains('\n') {
        return Err(format!(
            "`{key}` needs one command per entry, on one line, e.g. {example}; not {value:?}"
        ));
    }
    Ok(text.to_owned())
}

/// A `setup` or `project_tests` command given elsewhere (the local run's flags), under the file's rule.
pub fn checked_command(value: &str) -> Result<String, String> {
    command_text(value, "setup", "`setup: [\"pip install -e .[test]\"]`")
}

/// `spec_dir`: `.` (or `/`) for the repository root, else a folder like [`source_dir`].
fn spec_dir(dir: &Spanned<String>) -> Result<String, RepoConfigError> {
    checked_spec_dir(&dir.value).map_err(|why| at(dir, why))
}

/// A `spec_dir` given elsewhere (the local run's flag), under the file's rule: "" is the root.
pub fn checked_spec_dir(value: &str) -> Result<String, String> {
    if matches!(value.trim(), "." | "./" | "/") {
        return Ok(String::new());
    }
    folder_text(
        value,
        "spec_dir",
        "`spec_dir: .metagpt`, or `spec_dir: .` for the root",
    )
}

fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> RepoConfigError {
    RepoConfigError::at(value.referenced, message)
}

/// `label`, trimmed, if it can be a GitHub label.
fn label_of(spanned: &Spanned<String>, key: &str) -> Result<String, RepoConfigError> {
    let label = spanned.value.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(at(
            spanned,
            format!(
                "`{key}` needs label names of 1 to {MAX_LABEL_CHARS} characters, not {label:?}; write \
                 the label exactly as it appears on GitHub"
            ),
        ));
    }
    Ok(label.to_owned())
}

/// A relative path inside the repository, without `..`, written with `/`.
fn source_dir(dir: &Spanned<String>) -> Result<String, RepoConfigError> {
    relative_folder(dir, "source_dir", "`source_dir: src/app`")
}

fn relative_folder(
    dir: &Spanned<String>,
    key: &str,
    example: &str,
) -> Result<String, RepoConfigError> {
    folder_text(&dir.value, key, example).map_err(|why| at(dir, why))
}

fn folder_text(raw: &str, key: &str, example: &str) -> Result<String, String> {
    let value = raw.trim().trim_end_matches('/');
    let path = Path::new(value);
    let inside = !value.is_empty()
        && !value.contains('\\')
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(format!(
            "`{key}` must be a folder inside the repository, relative to its root and without `..` \
             (e.g. {example}), not {raw:?}"
        ));
    }
    Ok(value.trim_start_matches("./").to_owned())
}

/// Each glob compiles the way the `protected_paths` gate builds it.
fn protected_paths(globs: &[Spanned<String>]) -> Result<Vec<String>, RepoConfigError> {
    globs
        .iter()
        .map(|glob| {
            if glob.value.trim().is_empty() {
                return Err(at(
                    glob,
                    "`protected_paths` has an empty glob; remove it or write a path such as `.github/**`",
                ));
            }
            match protected_matcher(std::slice::from_ref(&glob.value)) {
                Ok(_) => Ok(glob.value.clone()),
                Err(e) => Err(at(
                    glob,
                    format!(
                        "{e}; write globs like `.github/workflows/**` or `secrets/*.env`"
                    ),
                )),
            }
        })
        .collect()
}
