//! Every page `/setup` shows: the registration form and each outcome of GitHub's redirect back.
//!
//! Invariants:
//! - Every value put into a page is HTML-escaped ([`escape`]), the manifest included; no page shows a
//!   secret (the private key and webhook secret never reach this module).
//! - Each page has one status: the form 200; a bad organisation, a missing, wrong or used `state` and a
//!   callback after setup 400; `/setup` after setup 410 (gone); a failed conversion 502; a `.env` that
//!   cannot be written 500.
//! - The form needs no script: it posts the manifest (a hidden `manifest` field) to GitHub's "new App"
//!   page; choosing an organisation is a plain `GET /setup?organization=NAME` that renders the form again.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// One page, with what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The form: posts `manifest` to `action` (GitHub's "new App" page with the `state`).
    Register {
        action: String,
        manifest: String,
        /// The organisation the App is registered for; `None`: the operator's personal account.
        organization: Option<String>,
        webhook_url: String,
    },
    /// `?organization=` is not an organisation name.
    BadOrganization { given: String },
    /// The callback without `code` or `state`.
    MissingParameters,
    /// A `state` this server did not hand out, or one already used or expired.
    UnknownState,
    /// Settings `/setup` would save are set in the server's environment, which would win over `.env` at
    /// the next start; nothing was registered.
    ShadowedByEnvironment { keys: Vec<String> },
    /// `/setup` once the App's credentials exist.
    AlreadySetUp,
    /// The callback once the App's credentials exist.
    AlreadyUsed,
    /// The `.env` file (or its directory) cannot be written; nothing was sent to GitHub yet.
    EnvNotWritable { path: String, error: String },
    /// GitHub did not exchange the code for the App's credentials.
    ConversionFailed { error: String },
    /// GitHub registered the App, but its credentials could not be saved.
    NotSaved {
        path: String,
        error: String,
        app_url: String,
    },
}

impl Page {
    pub fn status(&self) -> StatusCode {
        match self {
            Page::Register { .. } => StatusCode::OK,
            Page::BadOrganization { .. }
            | Page::MissingParameters
            | Page::UnknownState
            | Page::AlreadyUsed => StatusCode::BAD_REQUEST,
            Page::AlreadySetUp => StatusCode::GONE,
            Page::ShadowedByEnvironment { .. } => StatusCode::CONFLICT,
            Page::ConversionFailed { .. } => StatusCode::BAD_GATEWAY,
            Page::EnvNotWritable { .. } | Page::NotSaved { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The page's HTML.
    pub fn render(&self) -> String {
        let (title, body) = match self {
            Page::Register {
                action,
                manifest,
                organization,
                webhook_url,
            } => ("Register the GitHub App", register(action, manifest, organization.as_deref(), webhook_url)),
            Page::BadOrganization { given } => (
                "Not an organisation name",
                format!(
                    "<p><code>{}</code> is not a GitHub organisation name (letters, digits and single hyphens, at most 39).</p>\n<p><a href=\"/setup\">Back to the setup page</a></p>",
                    escape(given)
                ),
            ),
            Page::MissingParameters => (
                "Incomplete link",
                "<p>This page is where GitHub sends you back after creating the App, with a <code>code</code> and a <code>state</code>; this link has neither.</p>\n<p><a href=\"/setup\">Start the setup</a></p>".to_owned(),
            ),
            Page::UnknownState => (
                "This setup link is not valid",
                "<p>Its <code>state</code> was not handed out to this browser by this server, was already used, or has expired (after one hour). Nothing was registered or saved; if GitHub created an App on the way, delete it in your GitHub settings (Developer settings → GitHub Apps).</p>\n<p><a href=\"/setup\">Start the setup again</a></p>".to_owned(),
            ),
            Page::ShadowedByEnvironment { keys } => (
                "Settings in the environment would win",
                format!(
                    "<p>{} {} set in this server's environment. The setup saves the new App's settings in <code>.env</code>, and at the next start the environment's values would win over them (webhooks would be refused with the old secret).</p>\n<p>Remove {} from the server's environment (or its service definition), restart it, then <a href=\"/setup\">start the setup again</a>. Nothing was registered.</p>",
                    keys.iter().map(|k| format!("<code>{}</code>", escape(k))).collect::<Vec<_>>().join(", "),
                    if keys.len() == 1 { "is" } else { "are" },
                    if keys.len() == 1 { "it" } else { "them" },
                ),
            ),
            Page::AlreadySetUp => (
                "The App is already set up",
                "<p>This server has its GitHub App's credentials, so it does not register another. To register a new App, remove <code>APP_ID</code>, the private key and <code>WEBHOOK_SECRET</code> from its settings and restart it.</p>".to_owned(),
            ),
            Page::AlreadyUsed => (
                "This setup link was already used",
                "<p>The App is set up; a setup link works once. Nothing was changed.</p>".to_owned(),
            ),
            Page::EnvNotWritable { path, error } => (
                "The settings file cannot be written",
                format!(
                    "<p>The App's credentials go to <code>{}</code>, which cannot be written: {}.</p>\n<p>Nothing was registered yet. Make the file and its directory writable by this server, then reload this page (GitHub's code stays valid for an hour).</p>",
                    escape(path),
                    escape(error)
                ),
            ),
            Page::ConversionFailed { error } => (
                "GitHub did not register the App",
                format!(
                    "<p>GitHub did not exchange the code for the App's credentials: {}.</p>\n<p>A code works once and for one hour. <a href=\"/setup\">Start the setup again</a>.</p>",
                    escape(error)
                ),
            ),
            Page::NotSaved { path, error, app_url } => (
                "The App's credentials could not be saved",
                format!(
                    "<p>GitHub registered the App, but its credentials could not be written to <code>{}</code>: {}.</p>\n<p>GitHub shows the private key only once. Delete <a href=\"{}\">the App</a> on its settings page (Advanced, Delete GitHub App), make the file writable, and <a href=\"/setup\">start the setup again</a>.</p>",
                    escape(path),
                    escape(error),
                    escape(app_url)
                ),
            ),
        };
        format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>metagpt-bot: {title}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}button{{font-size:1rem;padding:.5rem 1rem}}</style>\n</head>\n<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
        )
    }
}

fn register(action: &str, manifest: &str, organization: Option<&str>, webhook_url: &str) -> String {
    let owner = match organization {
        Some(org) => format!(
            "the organisation <strong>{}</strong> (<a href=\"/setup\">use my personal account instead</a>)",
            escape(org)
        ),
        None => "your personal account".to_owned(),
    };
    format!(
        "<p>metagpt-bot turns issues labelled <code>metagpt</code> into MetaGPT runs and pull requests. Register its GitHub App in one click: GitHub shows the App's name, permissions and events, you confirm, and this server saves the App's credentials and starts.</p>
<p>The App is registered for {owner}. GitHub will send its webhooks to <code>{}</code>.</p>
<form id=\"register\" method=\"post\" action=\"{}\">
<input type=\"hidden\" name=\"manifest\" value=\"{}\">
<button type=\"submit\">Register GitHub App</button>
</form>
<form id=\"organization\" method=\"get\" action=\"/setup\">
<p><label>Register it for an organisation instead: <input name=\"organization\" placeholder=\"organisation name\" required></label>
<button type=\"submit\">Use this organisation</button></p>
</form>",
        escape(webhook_url),
        escape(action),
        escape(manifest),
    )
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (self.status(), Html(self.render())).into_response()
    }
}

/// `text` safe inside HTML text and double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> Vec<(&'static str, Page)> {
        vec![
            (
                "register_personal",
                Page::Register {
                    action: "https://github.com/settings/apps/new?state=STATE".into(),
                    manifest: r#"{"name":"metagpt-bot","url":"https://bot.example.com"}"#.into(),
                    organization: None,
                    webhook_url: "https://bot.example.com/api/github/webhooks".into(),
                },
            ),
            (
                "register_organization",
                Page::Register {
                    action: "https://github.com/organizations/acme/settings/apps/new?state=STATE"
                        .into(),
                    manifest: "{}".into(),
                    organization: Some("acme".into()),
                    webhook_url: "https://bot.example.com/api/github/webhooks".into(),
                },
            ),
            (
                "bad_organization",
                Page::BadOrganization {
                    given: "<b>x</b>".into(),
                },
            ),
            ("missing_parameters", Page::MissingParameters),
            ("unknown_state", Page::UnknownState),
            ("already_set_up", Page::AlreadySetUp),
            ("already_used", Page::AlreadyUsed),
            (
                "env_not_writable",
                Page::EnvNotWritable {
                    path: "/srv/bot/.env".into(),
                    error: "Is a directory (os error 21)".into(),
                },
            ),
            (
                "conversion_failed",
                Page::ConversionFailed {
                    error: "GitHub answered 404 to the App manifest conversion: Not Found".into(),
                },
            ),
            (
                "shadowed_by_environment",
                Page::ShadowedByEnvironment {
                    keys: vec!["APP_ID".into(), "WEBHOOK_SECRET".into()],
                },
            ),
            (
                "not_saved",
                Page::NotSaved {
                    path: "/srv/bot/.env".into(),
                    error: "No space left on device (os error 28)".into(),
                    app_url: "https://github.com/apps/metagpt-bot".into(),
                },
            ),
        ]
    }

    #[test]
    fn every_page_reads_as_reviewed() {
        for (name, page) in pages() {
            insta::assert_snapshot!(name, format!("{}\n{}", page.status(), page.render()));
        }
    }

    #[test]
    fn values_are_escaped_so_the_manifest_survives_the_attribute() {
        let manifest = r#"{"description":"a <b> & 'c' \"d\""}"#;
        let html = Page::Register {
            action: "https://github.com/settings/apps/new?state=s&x=1".into(),
            manifest: manifest.into(),
            organization: None,
            webhook_url: "u".into(),
        }
        .render();
        let value = html
            .split("name=\"manifest\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let unescaped = value
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        assert_eq!(unescaped, manifest);
        assert!(html.contains("state=s&amp;x=1"), "{html}");
    }
}
