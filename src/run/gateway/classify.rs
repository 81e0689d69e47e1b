//! Who is asking and for which SOP step: read from the request's messages, never trusted for anything but
//! the ledger's labels.
//!
//! Invariants: classification never fails; an unrecognised request is step `other`. The role comes from
//! MetaGPT's role prefix ("You are a <Profile>, named <Name>, your goal is …") in any message, else from
//! the role that owns the step (per `METAGPT.md`), else `unknown`. The step is decided on the last user
//! message, and within it on the text after the last `## format example` when there is one, because that
//! part names only the keys of the answer being asked for while the context above quotes earlier documents.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// MetaGPT 0.8.2's SOP steps, in the order they occur in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    IssueType,
    IsRelative,
    Prd,
    Design,
    Tasks,
    CodePlan,
    WriteCode,
    CodeReview,
    /// The rewrite of a file after its review answered LBTM.
    RewriteCode,
    /// The engineer's summary of the code it wrote (SummarizeCode: bugs, call flow, TODOs).
    SummarizeCode,
    /// The engineer's question whether that summary leaves anything to do (`IS_PASS_PROMPT`).
    CheckSummary,
    WriteTest,
    SummarizeRun,
    Debug,
    Other,
}

/// Markers, most specific first: later documents quote earlier ones, so order decides.
const MARKERS: &[(&str, Step)] = &[
    // The check quotes the summary, and the summary prompt quotes the task list and the code.
    (
        "Does the above log indicate anything that needs to be done?",
        Step::CheckSummary,
    ),
    (
        "## Code Review All: Please read all historical files",
        Step::SummarizeCode,
    ),
    // The rewrite prompt quotes the LBTM review (with its `## Code Review Result`) before asking.
    ("# Instruction: rewrite the `", Step::RewriteCode),
    ("## Code Review Result", Step::CodeReview),
    ("rewrite the development code or the test code", Step::Debug),
    ("summarize the code running result", Step::SummarizeRun),
    (
        "write appropriate test cases using Python's unittest",
        Step::WriteTest,
    ),
    ("## Code: ", Step::WriteCode),
    ("\"Development Plan\"", Step::CodePlan),
    ("\"Refined Task list\"", Step::Tasks),
    ("\"Task list\"", Step::Tasks),
    ("\"Refined Implementation Approach\"", Step::Design),
    ("\"Implementation approach\"", Step::Design),
    ("\"Refined Requirements\"", Step::Prd),
    ("\"Product Goals\"", Step::Prd),
    ("\"is_relative\"", Step::IsRelative),
    ("\"issue_type\"", Step::IssueType),
];

impl Step {
    /// The MetaGPT role that makes this call.
    pub fn owner(self) -> Option<&'static str> {
        match self {
            Step::IssueType | Step::IsRelative | Step::Prd => Some("ProductManager"),
            Step::Design => Some("Architect"),
            Step::Tasks => Some("ProjectManager"),
            Step::CodePlan
            | Step::WriteCode
            | Step::CodeReview
            | Step::RewriteCode
            | Step::SummarizeCode
            | Step::CheckSummary => Some("Engineer"),
            Step::WriteTest | Step::SummarizeRun | Step::Debug => Some("QaEngineer"),
            Step::Other => None,
        }
    }
}

impl std::fmt::Display for Step {
    /// The name `llm.jsonl` records (`code_review`, `rewrite_code`, …).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self).unwrap_or_default();
        f.write_str(name.as_str().unwrap_or("other"))
    }
}

/// The labels the ledger records for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub role: String,
    pub step: Step,
}

pub fn classify(request: &Value) -> Labels {
    let messages = request.get("messages").and_then(Value::as_array);
    let messages = messages.map(Vec::as_slice).unwrap_or_default();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(message_text)
        .unwrap_or_default();
    let step = step_of(&last_user);
    let role = messages
        .iter()
        .find_map(|m| role_prefix(&message_text(m)))
        .or_else(|| step.owner().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    Labels { role, step }
}

fn step_of(text: &str) -> Step {
    let asked = text
        .rsplit_once("## format example")
        .map_or(text, |(_, after)| after);
    [asked, text]
        .iter()
        .find_map(|scope| MARKERS.iter().find(|(marker, _)| scope.contains(marker)))
        .map_or(Step::Other, |&(_, step)| step)
}

/// `Product Manager` from "You are a Product Manager, named Alice, …", written as MetaGPT's class name.
fn role_prefix(text: &str) -> Option<String> {
    let start = text.find("You are a")?;
    let rest = &text[start + "You are a".len()..];
    let rest = rest.strip_prefix("n ").or_else(|| rest.strip_prefix(' '))?;
    let (profile, _) = rest.split_once(", named ")?;
    let role: String = profile.split_whitespace().collect();
    let plausible = !role.is_empty() && role.len() <= 40 && role.chars().all(char::is_alphanumeric);
    plausible.then_some(role)
}

/// The text of a message whose content is a string or an array of `{type:"text",text}` parts.
fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Classification of real MetaGPT 0.8.2 prompt shapes.
#[cfg(test)]
mod tests {

    use super::*;
    use serde_json::json;

    fn request(system: &str, user: &str) -> Value {
        json!({"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]})
    }

    #[test]
    fn role_comes_from_the_prefix_and_step_from_the_format_example() {
        let labels = classify(&request(
            "You are a Project Manager, named Eve, your goal is break down tasks",
            "## context\n{\"Implementation approach\": \"x\"}\n## format example\n[CONTENT]{\"Task list\": []}[/CONTENT]",
        ));
        assert_eq!(
            labels,
            Labels {
                role: "ProjectManager".into(),
                step: Step::Tasks
            }
        );
    }

    #[test]
    fn every_sop_step_is_recognised_by_its_marker() {
        let cases = [
            (
                "[CONTENT]{\"issue_type\": \"BUG\", \"reason\": \"\"}",
                Step::IssueType,
            ),
            ("[CONTENT]{\"is_relative\": \"YES\"}", Step::IsRelative),
            ("[CONTENT]{\"Product Goals\": []}", Step::Prd),
            ("[CONTENT]{\"Refined Requirements\": \"\"}", Step::Prd),
            (
                "[CONTENT]{\"Refined Implementation Approach\": \"\"}",
                Step::Design,
            ),
            ("[CONTENT]{\"Refined Task list\": []}", Step::Tasks),
            (
                "[CONTENT]{\"Development Plan\": [], \"Incremental Change\": []}",
                Step::CodePlan,
            ),
            ("## Code: game.py\n```python\n```", Step::WriteCode),
            ("## Code Review Result\nLGTM", Step::CodeReview),
            (
                "write appropriate test cases using Python's unittest",
                Step::WriteTest,
            ),
            ("summarize the code running result", Step::SummarizeRun),
            ("rewrite the development code or the test code", Step::Debug),
            (
                "## Code Review All: Please read all historical files and find possible bugs",
                Step::SummarizeCode,
            ),
            (
                "## Code Review All\n...\n----\nDoes the above log indicate anything that needs to be done?",
                Step::CheckSummary,
            ),
        ];
        for (asked, step) in cases {
            let text =
                format!("## context\n\"Task list\" \"Product Goals\"\n## format example\n{asked}");
            assert_eq!(classify(&request("", &text)).step, step, "{asked}");
        }
    }

    #[test]
    fn without_a_prefix_the_step_owner_is_the_role_and_unknown_is_other() {
        let labels = classify(&request(
            "You are a helpful assistant.",
            "## Code Review Result\nLGTM",
        ));
        assert_eq!(
            labels,
            Labels {
                role: "Engineer".into(),
                step: Step::CodeReview
            }
        );
        let labels = classify(&json!({"messages": "nonsense"}));
        assert_eq!(
            labels,
            Labels {
                role: "unknown".into(),
                step: Step::Other
            }
        );
    }

    /// The Engineer's system prompt in 0.8.2 (`Role._get_prefix`).
    const ENGINEER: &str = "You are a Engineer, named Alex, your goal is write elegant, readable, extensible, efficient code. \
     the constraint is the code should conform to standards like google-style and be modular and maintainable.";

    #[test]
    fn the_rewrite_after_an_lbtm_review_is_the_engineers_rewrite_step() {
        // Both prompts are built from the templates of metagpt/actions/write_code_review.py (0.8.2) the way
        // `write_code_review_and_rewrite` joins them: the review asks for a verdict; after LBTM the rewrite
        // prompt quotes the review answer (with its `## Code Review Result`) and asks for the file again.
        let review = classify(&request(
            ENGINEER,
            include_str!("fixtures/review_prompt.txt"),
        ));
        let rewrite = classify(&request(
            ENGINEER,
            include_str!("fixtures/rewrite_prompt.txt"),
        ));
        assert_eq!(review.step, Step::CodeReview);
        assert_eq!(
            rewrite,
            Labels {
                role: "Engineer".into(),
                step: Step::RewriteCode
            }
        );
        assert_eq!(
            serde_json::to_value(Step::RewriteCode).unwrap(),
            "rewrite_code",
            "the name llm.jsonl records"
        );
    }
}
