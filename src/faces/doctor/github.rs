//! `doctor`'s checks of the GitHub App as GitHub has it: the App's JWT accepted (`GET /app`), the
//! permissions and webhook events it was granted against what the bot needs (the manifest,
//! `config/app.yml`), its installations, and where GitHub delivers its webhooks.
//!
//! Invariants: nothing runs without both `APP_ID` and a key (the settings check already says what is
//! missing); a missing permission or event fails (runs, or their trigger, would fail), no installation
//! or a webhook URL that is not this server's only warns; each request is bounded by the check timeout
//! and no answer prints a secret (the hook's secret is never read).

use crate::config::Settings;
use crate::github::app::{AppInfo, GitHubApp};
use crate::github::manifest;

use super::{CHECK_TIMEOUT, Check};

/// The App's checks; none when its credentials are not set at all.
pub(super) async fn check(settings: &Settings) -> Vec<Check> {
    let (Some(app_id), Some(key)) = (settings.app_id, settings.private_key.as_ref()) else {
        return Vec::new();
    };
    let api = &settings.github_api_url;
    let app = match GitHubApp::new(app_id, key, api) {
        Ok(app) => app,
        Err(e) => {
            return vec![Check::fail(
                format!("{e}"),
                "correct the setting the message names (APP_ID, PRIVATE_KEY or PRIVATE_KEY_PATH, GITHUB_API_URL)",
            )];
        }
    };
    let info = match tokio::time::timeout(CHECK_TIMEOUT, app.get_app()).await {
        Ok(Ok(info)) => info,
        Ok(Err(e)) if e.status() == Some(401) => {
            return vec![Check::fail(
                format!("GitHub at {api} refused the App's JWT: {e}"),
                "APP_ID and the private key do not belong together, or the key was revoked: check both on the App's settings page",
            )];
        }
        Ok(Err(e)) if e.status() == Some(404) => {
            return vec![Check::fail(
                format!("{api} answered 404 for GET /app: it is not a GitHub REST API root"),
                "set GITHUB_API_URL to https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server",
            )];
        }
        Ok(Err(e)) => {
            return vec![Check::fail(
                format!("GitHub API at {api} cannot be used: {e}"),
                "check GITHUB_API_URL and that this host can reach it (proxy, firewall, DNS)",
            )];
        }
        Err(_) => {
            return vec![Check::fail(
                format!("GitHub API at {api} did not answer within {CHECK_TIMEOUT:?}"),
                "check GITHUB_API_URL and that this host can reach it (proxy, firewall, DNS)",
            )];
        }
    };
    vec![
        Check::ok(format!(
            "GitHub at {api} accepts the App's JWT (app {:?}, id {app_id})",
            info.slug
        )),
        grants(&info),
        installations(&app, &info).await,
        webhook(&app, settings).await,
    ]
}

/// The App's permissions and events against the manifest's.
fn grants(info: &AppInfo) -> Check {
    let (permissions, events) = manifest::missing(&info.permissions, &info.events);
    if permissions.is_empty() && events.is_empty() {
        return Check::ok(format!(
            "the App has the permissions and events the bot needs ({})",
            manifest::needs().events.join(", ")
        ));
    }
    let mut lacks: Vec<String> = permissions
        .iter()
        .map(|(name, needed, has)| format!("`{name}: {needed}` (it has {has})"))
        .collect();
    lacks.extend(events.iter().map(|e| format!("the `{e}` event")));
    let settings = if info.html_url.is_empty() {
        "the App's settings".to_owned()
    } else {
        format!("{}'s settings", info.html_url.trim_end_matches('/'))
    };
    Check::fail(
        format!("the App lacks {}", lacks.join(", ")),
        format!(
            "in {settings} → Permissions & events, grant what is missing and save; then accept the new \
             permissions on each installation (its page asks)"
        ),
    )
}

async fn installations(app: &GitHubApp, info: &AppInfo) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, app.installation_count()).await {
        Ok(Ok(0)) => Check::warn(
            "the App is not installed anywhere yet: no repository can send it an issue",
            format!(
                "install it on the repositories MetaGPT should work on: {}/installations/new",
                info.html_url.trim_end_matches('/')
            ),
        ),
        Ok(Ok(n)) => Check::ok(format!("the App has {n} installation(s)")),
        Ok(Err(e)) => Check::warn(
            format!("the App's installations could not be listed: {e}"),
            "check that GitHub is reachable; `doctor` will tell again",
        ),
        Err(_) => Check::warn(
            format!("listing the App's installations took over {CHECK_TIMEOUT:?}"),
            "check that GitHub is reachable; `doctor` will tell again",
        ),
    }
}

/// Where GitHub delivers the App's webhooks, against `PUBLIC_URL` when it is set.
async fn webhook(app: &GitHubApp, settings: &Settings) -> Check {
    let wanted = settings
        .public_url
        .as_deref()
        .map(|public| format!("{}{}", public.trim_end_matches('/'), settings.webhook_path));
    let hook = match tokio::time::timeout(CHECK_TIMEOUT, app.hook_config()).await {
        Ok(Ok(hook)) => hook,
        Ok(Err(e)) => {
            return Check::warn(
                format!("the App's webhook settings could not be read: {e}"),
                "check the webhook URL on the App's settings page",
            );
        }
        Err(_) => {
            return Check::warn(
                format!("reading the App's webhook settings took over {CHECK_TIMEOUT:?}"),
                "check the webhook URL on the App's settings page",
            );
        }
    };
    match (hook.url.filter(|u| !u.trim().is_empty()), wanted) {
        (None, _) => Check::fail(
            "the App has no webhook URL: GitHub sends it no event",
            "set the App's webhook URL to this server's PUBLIC_URL + WEBHOOK_PATH (App settings → General → Webhook)",
        ),
        (Some(url), Some(wanted)) if url != wanted => Check::warn(
            format!("GitHub delivers the App's webhooks to {url}, not to this server's {wanted}"),
            "set the App's webhook URL to PUBLIC_URL + WEBHOOK_PATH, or PUBLIC_URL to where GitHub reaches this server",
        ),
        (Some(url), _) => Check::ok(format!("GitHub delivers the App's webhooks to {url}")),
    }
}
