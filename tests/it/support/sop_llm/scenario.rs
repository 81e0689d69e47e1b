//! What the scripted team decides in one run: the requirement, whether the run is a bug fix, which file
//! the reviewer rejects once, which test fails once, and who a failing test run is sent to; and, for a
//! project other than the seed, its [`Script`]: the task files, the full new text of each and the tests
//! of each.
//!
//! The answers follow from these choices only, so two runs of the same scenario get the same replies.

use serde_json::{Map, Value, json};

use super::python;

#[derive(Debug, Clone)]
pub struct Scenario {
    /// The text the PRD quotes as its requirement.
    pub requirement: String,
    /// The engineer writes the bug-fix versions of the code and tests.
    pub bugfix: bool,
    /// The first review of this file is LBTM (the first version of it is buggy); the rewrite is LGTM.
    pub reject_review_once: Option<&'static str>,
    /// The first tests QA writes for this code file fail; the debug step fixes them.
    pub fail_test_once: Option<&'static str>,
    /// Who a failing test run is sent to (`## Send To:`); MetaGPT 0.8.2 only acts on `QaEngineer`.
    pub send_failures_to: &'static str,
    /// The change on a real project; `None` is the seed's calculator.
    pub script: Option<Script>,
    /// The package the code lives in (`src/<package>/`): code and tests import `<package>.calc` instead
    /// of the bare `calc` of MetaGPT's flat layout.
    pub package: Option<&'static str>,
    /// Every code, rewrite, test and debug block starts with a `## <file>` line, as MetaGPT's format
    /// example shows it (a model that follows it writes that line into the file).
    pub header_lines: bool,
}

/// What the team writes on a real project: the task list (file names relative to the source folder, as
/// MetaGPT's task list has them), the full new text of each task file, and the unittest file for each.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// `(file, what it does)` in dependency order: the task list and the logic analysis.
    pub tasks: Vec<(String, String)>,
    /// The development plan, one step per entry.
    pub plan: Vec<String>,
    /// The incremental change, one fenced diff per file.
    pub change: Vec<String>,
    /// `(task file, its whole new text)`.
    pub code: Vec<(String, String)>,
    /// `(task file, the tests QA writes for it)`: each starts with `# test_<file>` (see `python.rs`).
    pub tests: Vec<(String, String)>,
}

impl Script {
    fn task_files(&self) -> Vec<&str> {
        self.tasks.iter().map(|(file, _)| file.as_str()).collect()
    }

    fn find<'a>(pairs: &'a [(String, String)], file: &str) -> Option<&'a str> {
        let found = pairs.iter().find(|(name, _)| name == file);
        found.map(|(_, text)| text.as_str())
    }
}

impl Scenario {
    /// Scenario (a): "add a subtract function" on the seed repository, everything right first time.
    pub fn requirement(text: &str) -> Scenario {
        Scenario {
            requirement: text.to_owned(),
            bugfix: false,
            reject_review_once: None,
            fail_test_once: None,
            send_failures_to: "QaEngineer",
            script: None,
            package: None,
            header_lines: false,
        }
    }

    /// A requirement (or, `bugfix`, a bug report) on a real project, answered from `script`. The
    /// engineer's code starts with the `## <file>` line of WriteCode's format example, as a model that
    /// follows the example writes it.
    pub fn project(text: &str, bugfix: bool, script: Script) -> Scenario {
        Scenario {
            bugfix,
            script: Some(script),
            ..Scenario::requirement(text)
        }
    }

    /// Scenario (d): a bug report on a repository a requirement run already worked on.
    pub fn bugfix(text: &str) -> Scenario {
        Scenario {
            bugfix: true,
            ..Scenario::requirement(text)
        }
    }

    /// Scenario (b): the reviewer rejects `file` once.
    pub fn reject_review_once(mut self, file: &'static str) -> Scenario {
        self.reject_review_once = Some(file);
        self
    }

    /// Scenario (c): the first tests of `file` fail and QA fixes them.
    pub fn fail_test_once(mut self, file: &'static str) -> Scenario {
        self.fail_test_once = Some(file);
        self
    }

    /// The code and tests import the modules as `<package>.<module>`.
    pub fn in_package(mut self, package: &'static str) -> Scenario {
        self.package = Some(package);
        self
    }

    /// Every block the engineer and QA write starts with a `## <file>` line.
    pub fn with_header_lines(mut self) -> Scenario {
        self.header_lines = true;
        self
    }

    /// A test or debug block's text as this scenario writes it for `file`: imports through the package,
    /// and the `## <file>` header line when asked (code blocks get theirs from `answers`).
    pub fn block(&self, file: &str, text: &str) -> String {
        let mut text = self.in_package_text(text);
        if self.header_lines && !text.is_empty() {
            text = format!("## {file}\n{text}");
        }
        text
    }

    /// Values for ActionNode keys; keys not listed keep the value of MetaGPT's own format example.
    pub fn node_values(&self) -> Map<String, Value> {
        let (files, logic, plan, change) = match &self.script {
            None => (
                json!(python::TASK_FILES),
                json!([
                    ["calc.py", "Contains add and subtract"],
                    ["main.py", "Contains main(), from calc import add, subtract"]
                ]),
                json!([
                    "Add `subtract(a, b)` to calc.py next to `add`",
                    "Write main.py, whose main() prints a sum and a difference"
                ]),
                json!([
                    "```diff\n--- Old/calc.py\n+++ New/calc.py\n+def subtract(a: float, b: float) -> float:\n+    return a - b\n```"
                ]),
            ),
            Some(script) => (
                json!(script.task_files()),
                json!(script.tasks),
                json!(script.plan),
                json!(script.change),
            ),
        };
        let approach = "Plain Python standard library; one module per concern.";
        let values = json!({
            "issue_type": if self.bugfix { "BUG" } else { "REQUIREMENT" },
            "is_relative": "YES",
            "reason": "scripted",
            "Original Requirements": self.requirement,
            "Refined Requirements": self.requirement,
            "Implementation approach": approach,
            "Refined Implementation Approach": approach,
            "File list": files,
            "Refined File list": files,
            "Task list": files,
            "Refined Task list": files,
            "Logic Analysis": logic,
            "Refined Logic Analysis": logic,
            "Required packages": [],
            "Development Plan": plan,
            "Incremental Change": change,
            "Anything UNCLEAR": "",
        });
        match values {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }

    /// The code the engineer writes for `file` the `nth` time (1-based) it is asked; `None` for a file
    /// a project's script does not change.
    pub fn code(&self, file: &str, nth: u32) -> Option<&str> {
        if let Some(script) = &self.script {
            return Script::find(&script.code, file);
        }
        Some(match file {
            "calc.py" if self.bugfix => python::CALC_FIXED,
            "calc.py" if nth == 1 && self.reject_review_once == Some("calc.py") => {
                python::CALC_BUGGY
            }
            "calc.py" => python::CALC,
            "main.py" => python::MAIN,
            _ => "",
        })
    }

    /// The code file a QA test file is for: `test_<file>`, or `test_<stem>_metagpt[_<n>].py` written
    /// beside a `test_<file>` the project already had.
    pub fn code_file_of(test_file: &str) -> String {
        let code_file = test_file.strip_prefix("test_").unwrap_or(test_file);
        match code_file.split_once("_metagpt") {
            Some((stem, _)) => format!("{stem}.py"),
            None => code_file.to_owned(),
        }
    }

    /// Imports through the package, for the seed's code in a `src/<package>/` layout.
    pub fn in_package_text(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Some(package) = self.package {
            for module in ["calc", "main"] {
                text = text.replace(
                    &format!("from {module} import"),
                    &format!("from {package}.{module} import"),
                );
            }
        }
        text
    }

    /// Whether the engineer's code starts with WriteCode's `## <file>` line.
    pub fn code_header(&self) -> bool {
        self.script.is_some() || self.header_lines
    }

    /// The tests QA writes for the code file `code_file` the `nth` time (1-based); `None` for a file a
    /// project's script has no tests for.
    pub fn tests(&self, code_file: &str, nth: u32) -> Option<&str> {
        if let Some(script) = &self.script {
            return Script::find(&script.tests, code_file);
        }
        Some(match code_file {
            "calc.py" if self.bugfix => python::TEST_CALC_FIXED,
            "calc.py" if nth == 1 && self.fail_test_once == Some("calc.py") => {
                python::TEST_CALC_WRONG
            }
            "calc.py" => python::TEST_CALC,
            "main.py" => python::TEST_MAIN,
            _ => "",
        })
    }
}
