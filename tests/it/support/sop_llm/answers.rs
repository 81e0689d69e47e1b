//! Reading MetaGPT 0.8.2's prompts and writing replies in exactly the shapes its parsers accept.
//!
//! - ActionNode steps: the reply is MetaGPT's own `## format example` JSON, between `[CONTENT]` and
//!   `[/CONTENT]`, with the scenario's values put in for the keys it names; so every key is present and
//!   typed as the node expects, whatever subset of keys (`exclude`) the prompt asked for.
//! - Code, rewrite, test and debug steps: the first fenced block becomes the whole file
//!   (`CodeParser.parse_code`), so a reply holds exactly one block.
//! - Review: `## Code Review Result` followed by `LGTM` or `LBTM` (`CodeParser.parse_block`).
//! - Test-run summary: `## Send To: <role>` (`parse_recipient`).
//! - Code summary (`SummarizeCode`): MetaGPT's format example with nothing left to do, and `YES` to the
//!   question whether anything needs to be done (`Engineer._is_pass` looks for `YES`).

use serde_json::{Map, Value};

/// The file a prompt names after `marker`, up to the first whitespace, backquote or comma.
pub fn file_after(prompt: &str, marker: &str) -> Option<String> {
    let (_, rest) = prompt.rsplit_once(marker)?;
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '`' | ','))
        .collect();
    let name = name.trim_end_matches('.');
    (!name.is_empty()).then(|| name.to_owned())
}

/// The ActionNode answer: the format example's JSON with `values` put in for the keys it has.
pub fn node(prompt: &str, values: &Map<String, Value>) -> Option<String> {
    let (_, example) = prompt.rsplit_once("## format example")?;
    let start = example.find("[CONTENT]")? + "[CONTENT]".len();
    let end = start + example[start..].find("[/CONTENT]")?;
    let mut shape: Map<String, Value> = serde_json::from_str(example[start..end].trim()).ok()?;
    for (key, value) in shape.iter_mut() {
        if let Some(chosen) = values.get(key) {
            *value = chosen.clone();
        }
    }
    let json = serde_json::to_string_pretty(&Value::Object(shape)).ok()?;
    Some(format!("[CONTENT]\n{json}\n[/CONTENT]"))
}

fn fenced(heading: &str, code: &str) -> String {
    format!("## {heading}\n```python\n{code}```\n")
}

/// With `header`, the block starts with `## <file>`, the first line of WriteCode's format example
/// (which MetaGPT saves into the file as is).
fn with_header(file: &str, code: &str, header: bool) -> String {
    if header {
        format!("## {file}\n{code}")
    } else {
        code.to_owned()
    }
}

pub fn code(file: &str, code: &str, header: bool) -> String {
    fenced(&format!("Code: {file}"), &with_header(file, code, header))
}

pub fn rewrite(file: &str, code: &str, header: bool) -> String {
    fenced(
        &format!("Rewrite Code: {file}"),
        &with_header(file, code, header),
    )
}

pub fn tests(test_file: &str, code: &str) -> String {
    fenced(test_file, code)
}

pub fn debug(test_file: &str, code: &str) -> String {
    fenced(
        &format!("file name of the code to rewrite: {test_file}"),
        code,
    )
}

/// A review of `file`: LGTM, or LBTM with the reason (without `##`, which would split the sections).
pub fn review(file: &str, rejection: Option<&str>) -> String {
    match rejection {
        None => format!(
            "## Code Review: {file}\n1. Yes.\n2. Yes.\n3. Yes.\n4. Yes.\n5. Yes.\n6. Yes.\n## Actions\npass\n## Code Review Result\nLGTM\n"
        ),
        Some(reason) => format!(
            "## Code Review: {file}\n1. No, {reason}\n2. No.\n3. Yes.\n4. Yes.\n5. Yes.\n6. Yes.\n## Actions\n1. {reason}\n## Code Review Result\nLBTM\n"
        ),
    }
}

/// Whether the test run quoted in a summary prompt passed: unittest's `Ran N tests … OK` on stderr.
pub fn run_passed(prompt: &str) -> bool {
    let errs = prompt
        .split_once("standard errors:")
        .map_or("", |(_, rest)| rest);
    errs.contains("\n\nOK") && !errs.contains("FAILED") && !errs.contains("Traceback")
}

pub fn summary(test_file: &str, passed: bool, send_failures_to: &str) -> String {
    let (instruction, status, to) = if passed {
        ("All tests passed; nothing to fix.", "PASS", "NoOne")
    } else {
        (
            "The test code expects a wrong value; fix the expectation.",
            "FAIL",
            send_failures_to,
        )
    };
    format!(
        "---\n## instruction:\n{instruction}\n## File To Rewrite:\n{test_file}\n## Status:\n{status}\n## Send To:\n{to}\n---\n"
    )
}

/// What only SummarizeCode's prompt asks for.
pub const SUMMARIZE_CODE: &str = "## Code Review All: Please read all historical files";

/// What only the engineer's question after a code summary (`IS_PASS_PROMPT`) asks.
pub const IS_PASS: &str = "Does the above log indicate anything that needs to be done?";

/// A code summary in SummarizeCode's format, with nothing left to do.
pub fn code_summary() -> String {
    "## Code Review All\nThe change is complete; every function is implemented and called correctly.\n\n\
     ## Call flow\n```mermaid\nsequenceDiagram\n    participant User\n```\n\n\
     ## Summary\nThe requested change and nothing else.\n\n## TODOs\n```python\n{}\n```\n"
        .to_owned()
}
