//! Rendering the templates (`templates/*.md.j2`, built in; a directory given at run time overrides any
//! of them by file name) with minijinja.
//!
//! Invariants: every value printed by a template is escaped for markdown ([`markdown::inline`]) unless a
//! filter made it safe (`quote`, `code`, `usd`, `check`); so a template, built in or overridden, cannot
//! print untrusted text raw by accident. The PR section is wrapped by [`marks::pr_section`] with the
//! issue marker, so an overridden template cannot lose or forge the markers.

use std::path::Path;

use minijinja::{Environment, Value, syntax::SyntaxConfig};

use super::error::{EvidenceError, io};
use super::markdown;
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
    /// The built-in templates, each replaced by `<overrides>/<name>` when that file exists.
    pub fn new(overrides: Option<&Path>) -> Result<Self, EvidenceError> {
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
        for (name, built_in) in BUILT_IN {
            let source = match overrides.map(|dir| dir.join(name)) {
                Some(path) if path.is_file() => {
                    std::fs::read_to_string(&path).map_err(io("reading the template", &path))?
                }
                _ => (*built_in).to_owned(),
            };
            env.add_template_owned(*name, source)
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
