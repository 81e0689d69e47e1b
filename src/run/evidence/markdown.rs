//! Markdown for untrusted text (issue text, LLM output).
//!
//! Invariants: after escaping, untrusted text can open no HTML (every `<` becomes `&lt;`, or `‹` inside
//! code where entities are not decoded), so it can neither forge the bot's `<!-- metagpt-bot… -->` markers
//! nor hide the rest of the body in a comment; inline text cannot break out of a table cell or start a
//! heading, list or link. (The bot's section of a PR body and its markers: `crate::marks`.)

/// At most this many characters of a quoted text are shown.
pub const MAX_QUOTE_CHARS: usize = 4000;

/// Text for inline use (a sentence, a table cell): one line, markdown and HTML neutralised.
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            // A `#` starts a heading only at the start of a line (where a template may put a value).
            '#' | '+' | '-' | '=' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Text as a block quote, line breaks kept, HTML neutralised, truncated at [`MAX_QUOTE_CHARS`].
pub fn quote(text: &str) -> String {
    let total = text.chars().count();
    let shown: String = text.chars().take(MAX_QUOTE_CHARS).collect();
    let mut lines: Vec<String> = shown
        .lines()
        .map(|line| {
            let line = line.replace('&', "&amp;").replace('<', "&lt;");
            let line: String = line
                .chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect();
            if line.trim().is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect();
    if total > MAX_QUOTE_CHARS {
        lines.push(">".to_owned());
        lines.push(format!(
            "> … ({} more characters not shown)",
            total - MAX_QUOTE_CHARS
        ));
    }
    if lines.is_empty() {
        lines.push("> (empty)".to_owned());
    }
    lines.join("\n")
}

/// Text as an inline code span (a path or file name).
pub fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    let longest = longest_run(&text, '`');
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut current) = (0, 0);
    for x in text.chars() {
        current = if x == c { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    longest
}
