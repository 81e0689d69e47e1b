//! Classification of real MetaGPT 0.8.2 prompt shapes.

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
