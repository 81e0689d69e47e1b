//! The GitHub Actions runner protocol: workflow commands printed on stdout (`::add-mask::`, `::error::`,
//! `::warning::`, `::notice::`) and the environment files the runner reads after the step (`GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY`).
//!
//! Invariants:
//! - A workflow command is one line. Its message is escaped as GitHub's toolkit does (`%` → `%25`, `\r` →
//!   `%0D`, `\n` → `%0A`); property values additionally escape `:` → `%3A` and `,` → `%2C`, so no text can
//!   end a command early or inject another one.
//! - An output is appended as `name=value` when the value is one line, else in the heredoc form
//!   `name<<DELIMITER` / value / `DELIMITER` with a random delimiter that occurs nowhere in the value, so a
//!   value can never close its own block or set another output.
//! - Files are only ever appended to (the runner creates them; other steps' content stays).
//! - Output names are fixed by `action.yml`: a name with `=`, `<` or a line break is refused.

use std::io::Write;
use std::path::Path;

use rand::Rng;

/// Escapes a workflow command's message (GitHub's `escapeData`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (GitHub's `escapeProperty`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command line, without the trailing newline: `::name key=value,key=value::message`.
pub fn command(name: &str, properties: &[(&str, &str)], message: &str) -> String {
    let properties = properties
        .iter()
        .map(|(key, value)| format!("{key}={}", escape_property(value)))
        .collect::<Vec<_>>()
        .join(",");
    let separator = if properties.is_empty() { "" } else { " " };
    format!("::{name}{separator}{properties}::{}", escape_data(message))
}

/// `::add-mask::<secret>`: the runner replaces the value with `***` in every later log line.
pub fn add_mask(secret: &str) -> String {
    command("add-mask", &[], secret)
}

/// `::error title=…::message`, an annotation on the run.
pub fn error(title: &str, message: &str) -> String {
    command("error", &[("title", title)], message)
}

/// `::warning::message`.
pub fn warning(message: &str) -> String {
    command("warning", &[], message)
}

/// `::notice::message`.
pub fn notice(message: &str) -> String {
    command("notice", &[], message)
}

/// A `GITHUB_OUTPUT` entry (with its final newline) for `name` and `value`.
pub fn output_entry(name: &str, value: &str) -> std::io::Result<String> {
    if name.is_empty() || name.contains(['=', '<', '\n', '\r']) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{name}` cannot be an output name"),
        ));
    }
    if !value.contains(['\n', '\r']) {
        return Ok(format!("{name}={value}\n"));
    }
    let delimiter = loop {
        let candidate = format!("ghadelimiter_{:032x}", rand::rng().random::<u128>());
        if !value.contains(&candidate) {
            break candidate;
        }
    };
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// Appends one output to the `GITHUB_OUTPUT` file.
pub fn append_output(file: &Path, name: &str, value: &str) -> std::io::Result<()> {
    append(file, &output_entry(name, value)?)
}

/// Appends markdown to the job summary (`GITHUB_STEP_SUMMARY`), ending it with a newline.
pub fn append_summary(file: &Path, markdown: &str) -> std::io::Result<()> {
    let mut text = markdown.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    append(file, &text)
}

fn append(file: &Path, text: &str) -> std::io::Result<()> {
    let mut handle = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
    handle.write_all(text.as_bytes())
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
