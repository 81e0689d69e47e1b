//! Rendering the templates (`templates/*.md.j2`, built into the binary) with minijinja.
//!
//! Invariants: every value printed by a template is escaped for markdown ([`markdown::inline`]) unless a
//! filter made it safe (`quote`, `code`, `usd`, `check`); so no template can print untrusted text raw by
//! accident. The PR section is wrapped by [`marks::pr_section`] with the issue marker, so a template
//! cannot lose or forge the markers.

use minijinja::{Environment, Value, syntax::SyntaxConfig};

use super::error::EvidenceError;
use super::report::Report;
use crate::marks;

pub const PR_BODY: &str = "pr_body.md.j2";
pub const CHECK_RUN: &str = "check_run.md.j2";
pub const SUMMARY: &str = "summary.md.j2";

const BUILT_IN: &[(&str, &str)] = &[
    (PR_BODY, include_str!("../../../templates/pr_body.md.j2")),
    (
        CHECK_RUN,
        include_str!("../../../templates/check_run.md.j2"),
    ),
    (SUMMARY, include_str!("../../../templates/summary.md.j2")),
];

/// The loaded templates.
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// The built-in templates.
    pub fn new() -> Result<Self, EvidenceError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| EvidenceError::template("(syntax)", &e))?;
        env.set_syntax(syntax);
        env.set_formatter(|out, _state, value| {
            let text = if value.is_safe() || value.is_number() || value.is_undefined() {
                value.to_string()
            } else if value.is_none() {
                String::new()
            } else {
                markdown::inline(&value.to_string())
            };
            out.write_str(&text).map_err(minijinja::Error::from)
        });
        env.add_filter("quote", |text: String| {
            Value::from_safe_string(markdown::quote(&text))
        });
        env.add_filter("code", |text: String| {
            Value::from_safe_string(markdown::code(&text))
        });
        env.add_filter("usd", |amount: f64| {
            Value::from_safe_string(format!("${amount:.4}"))
        });
        env.add_filter("check", |passed: bool| {
            Value::from_safe_string(if passed { "✅" } else { "❌" }.to_owned())
        });
        for (name, source) in BUILT_IN {
            env.add_template(name, source)
                .map_err(|e| EvidenceError::template(name, &e))?;
        }
        Ok(Self { env })
    }

    /// Renders template `name` with `report`.
    pub fn render(&self, name: &str, report: &Report) -> Result<String, EvidenceError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| EvidenceError::template(name, &e))?;
        let mut text = template
            .render(Value::from(minijinja::value::Serde(report)))
            .map_err(|e| EvidenceError::template(name, &e))?;
        text.truncate(text.trim_end().len());
        text.push('\n');
        Ok(text)
    }

    /// The bot's section of the PR body: markers, the issue marker and the rendered `pr_body.md.j2`.
    /// Merge it into an existing body with [`marks::merge_body`].
    pub fn pr_section(&self, report: &Report) -> Result<String, EvidenceError> {
        let body = self.render(PR_BODY, report)?;
        Ok(marks::pr_section(report.issue, &body))
    }

    /// The check run's summary (markdown with the gates table).
    pub fn check_run_summary(&self, report: &Report) -> Result<String, EvidenceError> {
        self.render(CHECK_RUN, report)
    }

    /// `summary.md` of the evidence folder.
    pub fn summary(&self, report: &Report) -> Result<String, EvidenceError> {
        self.render(SUMMARY, report)
    }
}

pub mod markdown {
    //! Markdown for untrusted text (issue text, LLM output), as the templates print it.
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
                // `<` alone opens HTML (and the bot's markers); `>` stays, so `requests>=2.31` reads
                // as written.
                '<' => '‹',
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
}
