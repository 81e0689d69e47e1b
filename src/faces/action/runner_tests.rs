use super::*;

/// Reads a `GITHUB_OUTPUT` file the way the runner does: `name=value` lines, or `name<<DELIM` blocks that
/// end at the first line equal to `DELIM`.
fn parse_outputs(text: &str) -> Vec<(String, String)> {
    let mut outputs = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let equals = line.find('=');
        match (heredoc, equals) {
            (Some(h), e) if e.is_none_or(|e| h < e) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                let mut value = Vec::new();
                for next in lines.by_ref() {
                    if next == delimiter {
                        break;
                    }
                    value.push(next);
                }
                outputs.push((name.to_owned(), value.join("\n")));
            }
            (_, Some(e)) => outputs.push((line[..e].to_owned(), line[e + 1..].to_owned())),
            _ => panic!("invalid output line {line:?}"),
        }
    }
    outputs
}

#[test]
fn data_escaping_matches_the_toolkit() {
    assert_eq!(
        escape_data("50% done\r\nnext: a,b"),
        "50%25 done%0D%0Anext: a,b"
    );
}

#[test]
fn property_escaping_also_escapes_colon_and_comma() {
    assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
}

#[test]
fn error_annotation_escapes_title_and_message() {
    assert_eq!(
        error(
            "Input missing: llm-api-key, token",
            "line one\nline two 100%"
        ),
        "::error title=Input missing%3A llm-api-key%2C token::line one%0Aline two 100%25"
    );
}

#[test]
fn warning_notice_and_mask_have_no_properties() {
    assert_eq!(warning("a:b"), "::warning::a:b");
    assert_eq!(notice("nothing to do"), "::notice::nothing to do");
    assert_eq!(add_mask("sk-abc%\n"), "::add-mask::sk-abc%25%0A");
}

#[test]
fn a_message_cannot_start_a_second_command() {
    let line = warning("harmless\n::add-mask::x\n::error::forged");
    assert_eq!(line.lines().count(), 1);
    assert!(line.starts_with("::warning::harmless%0A"));
}

#[test]
fn single_line_output_is_name_equals_value() {
    assert_eq!(output_entry("pr-number", "42").unwrap(), "pr-number=42\n");
    assert_eq!(output_entry("pr-number", "").unwrap(), "pr-number=\n");
}

#[test]
fn multi_line_output_uses_a_delimiter_absent_from_the_value() {
    let value = "line one\nghadelimiter_\nEOF\nline = four";
    let entry = output_entry("summary", value).unwrap();
    let first = entry.lines().next().unwrap();
    let delimiter = first.strip_prefix("summary<<").unwrap();
    assert!(delimiter.len() > "ghadelimiter_".len());
    assert!(!value.contains(delimiter));
    assert!(entry.ends_with(&format!("\n{delimiter}\n")));
    assert_eq!(
        parse_outputs(&entry),
        vec![("summary".to_owned(), value.to_owned())]
    );
}

#[test]
fn a_value_cannot_set_another_output() {
    let value = "x\npr-url=https://evil.example\ngates-passed=true";
    let text = output_entry("summary", value).unwrap() + &output_entry("pr-number", "7").unwrap();
    assert_eq!(
        parse_outputs(&text),
        vec![
            ("summary".to_owned(), value.to_owned()),
            ("pr-number".to_owned(), "7".to_owned())
        ]
    );
}

#[test]
fn output_names_that_would_break_the_file_are_refused() {
    for name in ["", "a=b", "a<<b", "a\nb"] {
        assert!(output_entry(name, "v").is_err(), "{name:?}");
    }
}

#[test]
fn files_are_appended_to_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("output");
    let summary = dir.path().join("summary");
    std::fs::write(&outputs, "earlier=1\n").unwrap();
    append_output(&outputs, "pr-number", "3").unwrap();
    append_output(&outputs, "gates-passed", "true").unwrap();
    assert_eq!(
        std::fs::read_to_string(&outputs).unwrap(),
        "earlier=1\npr-number=3\ngates-passed=true\n"
    );
    append_summary(&summary, "# One").unwrap();
    append_summary(&summary, "two\n").unwrap();
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), "# One\ntwo\n");
}

#[test]
fn an_unwritable_file_names_its_path() {
    let error = append_summary(Path::new("/nonexistent-dir/summary"), "x").unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent-dir/summary"),
        "{error}"
    );
}
