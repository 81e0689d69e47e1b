//! `/metagpt` commands in comment bodies, found by parsing the markdown (pulldown-cmark), never by grep.
//!
//! Invariants:
//! - Only a line of a top-level paragraph counts: text inside block quotes, fenced or indented code
//!   blocks, inline code, HTML (comments included), headings, list items and tables never does, so quoting
//!   or documenting a command does not run it.
//! - The line must start with plain text whose first word is exactly `/metagpt` (case-sensitive;
//!   `/metagpters` or `/metagpt:` are not commands).
//! - The first command of a comment wins; later `/metagpt` lines are part of its feedback.
//! - `/metagpt retry` and `/metagpt stop`: the rest of that line is exactly the word (ASCII
//!   case-insensitive, surrounding spaces ignored); what follows on later lines is not read.
//!   `/metagpt stop using globals` is feedback, not a stop.
//! - Any other `/metagpt …`: the feedback is the markdown source from after `/metagpt` to the end of the
//!   comment, trimmed. Feedback often spans several paragraphs, lists and code samples, and the agent
//!   reads markdown, so it is kept verbatim rather than cut at the paragraph's end.
//! - `/metagpt` with nothing after it in the whole comment is a [`CommandError::Empty`].

use pulldown_cmark::{Event, Options, Parser, Tag};

const PREFIX: &str = "/metagpt";

/// What a comment asks the bot to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Another iteration with this feedback (markdown source, trimmed, never empty).
    Iterate {
        feedback: String,
    },
    Retry,
    Stop,
}

/// A `/metagpt` line that is not a usable command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("empty command; write `/metagpt <feedback>`, `/metagpt retry` or `/metagpt stop`")]
    Empty,
}

/// The first `/metagpt` command of `body`; `None` when the comment holds none.
pub fn parse_command(body: &str) -> Option<Result<Command, CommandError>> {
    let start = find_command_line(body)?;
    let after_prefix = start + PREFIX.len();
    let line_end = body[after_prefix..]
        .find('\n')
        .map_or(body.len(), |i| after_prefix + i);
    let rest_of_line = body[after_prefix..line_end].trim();
    if rest_of_line.eq_ignore_ascii_case("retry") {
        return Some(Ok(Command::Retry));
    }
    if rest_of_line.eq_ignore_ascii_case("stop") {
        return Some(Ok(Command::Stop));
    }
    let feedback = body[after_prefix..].trim();
    if feedback.is_empty() {
        return Some(Err(CommandError::Empty));
    }
    Some(Ok(Command::Iterate {
        feedback: feedback.to_owned(),
    }))
}

/// Byte offset in `body` of the first `/metagpt` that starts a line of a top-level paragraph.
fn find_command_line(body: &str) -> Option<usize> {
    // Nesting of open tags: a top-level paragraph opens at depth 0, its own text sits at depth 1.
    let mut depth = 0usize;
    let mut in_top_paragraph = false;
    let mut at_line_start = false;
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        match event {
            Event::Start(tag) => {
                if depth == 0 && tag == Tag::Paragraph {
                    in_top_paragraph = true;
                    at_line_start = true;
                } else {
                    at_line_start = false;
                }
                depth += 1;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_top_paragraph = false;
                }
            }
            Event::SoftBreak | Event::HardBreak => at_line_start = true,
            Event::Text(text) if in_top_paragraph && at_line_start && depth == 1 => {
                if text.starts_with(PREFIX) && starts_with_command_word(&body[range.start..]) {
                    return Some(range.start);
                }
                at_line_start = false;
            }
            _ => at_line_start = false,
        }
    }
    None
}

/// Whether `source` starts with `/metagpt` followed by whitespace or nothing.
fn starts_with_command_word(source: &str) -> bool {
    source
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.chars().next().is_none_or(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iterate(feedback: &str) -> Option<Result<Command, CommandError>> {
        Some(Ok(Command::Iterate {
            feedback: feedback.to_owned(),
        }))
    }

    #[test]
    fn retry_and_stop_are_exact_words_in_any_case() {
        assert_eq!(parse_command("/metagpt retry"), Some(Ok(Command::Retry)));
        assert_eq!(parse_command("/metagpt RETRY  "), Some(Ok(Command::Retry)));
        assert_eq!(
            parse_command("/metagpt Stop\nbecause it is wrong"),
            Some(Ok(Command::Stop))
        );
        assert_eq!(
            parse_command("/metagpt stop using globals"),
            iterate("stop using globals")
        );
        assert_eq!(parse_command("/metagpt retrying"), iterate("retrying"));
    }

    #[test]
    fn feedback_runs_from_the_command_to_the_end_of_the_comment() {
        assert_eq!(
            parse_command("/metagpt add a dark mode"),
            iterate("add a dark mode")
        );
        let body = "Thanks!\n/metagpt make the button *blue*\nand bigger\n\n```css\n.b{}\n```\n";
        assert_eq!(
            parse_command(body),
            iterate("make the button *blue*\nand bigger\n\n```css\n.b{}\n```")
        );
        assert_eq!(
            parse_command("/metagpt\nmake it blue"),
            iterate("make it blue")
        );
    }

    #[test]
    fn first_command_wins() {
        assert_eq!(
            parse_command("/metagpt retry\n\n/metagpt stop"),
            Some(Ok(Command::Retry))
        );
        assert_eq!(
            parse_command("> /metagpt stop\n\n/metagpt retry"),
            Some(Ok(Command::Retry))
        );
    }

    #[test]
    fn bare_command_is_an_error() {
        assert_eq!(parse_command("/metagpt"), Some(Err(CommandError::Empty)));
        assert_eq!(
            parse_command("Hello\n/metagpt   \n"),
            Some(Err(CommandError::Empty))
        );
        let message = CommandError::Empty.to_string();
        assert!(message.contains("`/metagpt retry`"), "{message}");
    }

    #[test]
    fn commands_outside_plain_paragraph_lines_do_not_count() {
        let cases = [
            "> /metagpt retry",
            "> quoted\n> /metagpt retry",
            "```\n/metagpt retry\n```",
            "~~~md\n/metagpt retry\n~~~",
            "    /metagpt retry",
            "`/metagpt retry`",
            "please run /metagpt retry",
            "*/metagpt retry*",
            "- /metagpt retry",
            "1. /metagpt retry",
            "# /metagpt retry",
            "/metagpt retry\n---",
            "<!-- /metagpt retry -->",
            "<details>\n/metagpt retry\n</details>",
            "| a |\n|---|\n| /metagpt retry |",
            "/metagpters retry",
            "/metagpt:retry",
            "/METAGPT retry",
            "[/metagpt retry](https://example.com)",
            "Nothing to see here.",
            "",
        ];
        for body in cases {
            assert_eq!(
                parse_command(body),
                None,
                "body {body:?} must not be a command"
            );
        }
    }

    #[test]
    fn a_command_on_a_later_line_of_a_paragraph_counts() {
        assert_eq!(
            parse_command("Looks good.\n/metagpt stop"),
            Some(Ok(Command::Stop))
        );
        assert_eq!(
            parse_command("Looks good.  \n/metagpt stop"),
            Some(Ok(Command::Stop))
        );
        assert_eq!(parse_command("   /metagpt retry"), Some(Ok(Command::Retry)));
    }
}
