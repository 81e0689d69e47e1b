//! The `POST $WEBHOOK_PATH` handler: decide, record, answer. A decision is a pure function from a typed
//! payload to "enqueue this trigger" or "ignore, because …" ([`decide`]).
//!
//! Invariants:
//! - Every answered delivery that carries an `X-GitHub-Delivery` id is recorded with [`crate::queue::Queue::record`]
//!   (accepted, ignored and rejected alike), and the answer is sent only after that call returned: an
//!   accepted trigger is durable before GitHub hears 202.
//! - A database error while recording an accepted or ignored delivery answers 503 (GitHub shows it and the
//!   operator can redeliver). A rejected delivery keeps its 4xx answer even if recording it failed: a
//!   redelivery would be refused again.
//! - Nothing slow happens here: no GitHub API call, no permission check (the worker does those). A
//!   `/metagpt stop` is stored as a control job like any trigger (202 with its `job_id`); nothing is
//!   cancelled before its worker has checked the sender's permission. Another label than the trigger
//!   label is stored as a control job too (a label check, 202), and nothing on GitHub hears of it.
//! - Refusals are logged at warn with their delivery id, never with the secret or the body.
//!
//! Decisions ([`decide`]):
//! - No I/O there: no API calls, no database, no logging. Permission checks need the API and are done by the
//!   worker later; the trigger keeps the sender's numeric id and login for that.
//! - `issues.labeled` with the trigger label (ASCII case-insensitive) on an open issue that is not a pull
//!   request is a run; a bugfix run when the issue also carries a bug label, else a requirement run.
//!   Adding a bug label to an issue that already has the trigger label does nothing: the kind is read when
//!   the trigger label is added (remove and re-add it to run again as a bugfix).
//! - Any other label on an open issue is, in the App ([`IntakeConfig::label_checks`]), a label check: a
//!   control job that later reads the repository's `.github/metagpt.yml`, whose `trigger_label` may name
//!   that label. Intake cannot read the file itself (no API call before the answer). The Action decides
//!   with its `trigger-label` input alone and ignores other labels.
//! - `issue_comment.created` (never `edited` or `deleted`) with a `/metagpt` command (see
//!   [`crate::http::command`]) on an issue or a pull request is an iterate / retry / stop trigger, unless the bot
//!   wrote the comment: its App id, its login, or its hidden marker [`MARKER_PREFIX`] in the body.
//! - Every other delivery is ignored with a reason a person can read in the deliveries table.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use secrecy::SecretString;

use super::AppState;
use super::command::{Command, parse_command};
use super::payloads::{
    Account, COMMENTS_ACTED_ON, ISSUES_ACTED_ON, InstallationRef, IssueCommentEvent, IssuesEvent,
    Repository, WebhookEvent,
};
use super::probes::DeliveryLabels;
use super::webhook::{Delivery, WebhookRejection};
use crate::domain::{ControlRequest, Kind, RepoRef, Request, RunRequest, Trigger};
use crate::marks::{MARKER_PREFIX, marked_issue};
use crate::queue::{DeliveryOutcome, DeliveryRecord, Recorded};

pub(crate) async fn receive(
    State(state): State<AppState>,
    delivery: Result<Delivery, WebhookRejection>,
) -> Response {
    match delivery {
        Ok(delivery) => handle(&state, delivery).await,
        Err(rejection) => refuse(&state, rejection).await,
    }
}

async fn handle(state: &AppState, delivery: Delivery) -> Response {
    let decision = match &delivery.payload {
        Some(payload) => {
            log_installation_change(&delivery.id, payload);
            decide(&state.config, &delivery.id, payload)
        }
        None => Decision::Ignore(format!("event `{}` is not handled", delivery.event)),
    };
    let labels = DeliveryLabels::verified(&delivery.event);
    let (outcome, trigger) = match decision {
        Decision::Trigger(trigger) => (DeliveryOutcome::Accepted, Some(trigger)),
        Decision::Ignore(reason) => (DeliveryOutcome::Ignored { reason }, None),
    };
    let record = DeliveryRecord {
        delivery_id: delivery.id.clone(),
        event: delivery.event.clone(),
        action: delivery.action.clone(),
        outcome: outcome.clone(),
    };
    let action_name = trigger.as_ref().map(|t: &Trigger| t.request.name());
    let for_announcer = state
        .queued
        .as_ref()
        .and(trigger.clone())
        .filter(|t| !t.request.is_control());
    let recorded = match state.queue.record(record, trigger).await {
        Ok(recorded) => recorded,
        Err(error) => {
            tracing::error!(
                delivery = %delivery.id, event = %delivery.event, error = %format!("{error:#}"),
                "could not record the delivery; answering 503 so it can be redelivered"
            );
            let reason = "the delivery could not be stored; redeliver it later";
            let body = json!({"outcome": "error", "reason": reason});
            return labels.attach("error", (StatusCode::SERVICE_UNAVAILABLE, Json(body)));
        }
    };
    if matches!(
        recorded,
        Recorded::Stored {
            job_id: Some(_),
            ..
        }
    ) {
        // Run workers and the control loop share this signal: wake them all, so a stop is not taken
        // by a run worker's wake-up (and a run not by the control loop's). Each registers before it
        // claims, so none misses a job enqueued meanwhile.
        state.job_notify.notify_waiters();
    }
    if let (Recorded::Stored { queued_behind, .. }, Some(queued), Some(trigger)) =
        (&recorded, &state.queued, for_announcer)
        && *queued_behind > 0
        && queued.try_send(trigger).is_err()
    {
        tracing::debug!("the announcer is busy; the queued note waits for the run's next edit");
    }
    let (outcome_label, status, body) = answer(outcome, &recorded, action_name);
    if outcome_label == "ignored" {
        tracing::debug!(
            delivery = %delivery.id, event = %delivery.event, answer = %body, "delivery ignored"
        );
    } else {
        tracing::info!(
            delivery = %delivery.id, event = %delivery.event, answer = %body, "delivery {outcome_label}"
        );
    }
    labels.attach(outcome_label, (status, Json(body)))
}

/// The metrics outcome, status and JSON body that answer a recorded delivery.
fn answer(
    outcome: DeliveryOutcome,
    recorded: &Recorded,
    action: Option<&str>,
) -> (&'static str, StatusCode, Value) {
    match (outcome, recorded) {
        (DeliveryOutcome::Ignored { reason }, _) => (
            "ignored",
            StatusCode::OK,
            json!({"outcome": "ignored", "reason": reason}),
        ),
        (
            _,
            Recorded::Stored {
                job_id,
                queued_behind,
            },
        ) => (
            "accepted",
            StatusCode::ACCEPTED,
            json!({"outcome": "accepted", "action": action, "job_id": job_id,
                "queued_behind": queued_behind}),
        ),
        (_, Recorded::Duplicate { job_id }) => (
            "duplicate",
            StatusCode::OK,
            json!({"outcome": "duplicate", "job_id": job_id}),
        ),
    }
}

async fn refuse(state: &AppState, rejection: WebhookRejection) -> Response {
    let WebhookRejection {
        status,
        verified,
        delivery_id,
        event,
        action,
        reason,
    } = rejection;
    tracing::warn!(
        delivery = delivery_id.as_deref().unwrap_or("-"), event = event.as_deref().unwrap_or("-"),
        status = status.as_u16(), %reason, "webhook delivery refused"
    );
    // Only a verified delivery's event name becomes a metrics label (bounded cardinality).
    let labels = if verified {
        DeliveryLabels::verified(event.as_deref().unwrap_or("unknown"))
    } else {
        DeliveryLabels::unverified()
    };
    if let Some(delivery_id) = delivery_id {
        let record = DeliveryRecord {
            delivery_id: delivery_id.clone(),
            event: event.unwrap_or_default(),
            action,
            outcome: DeliveryOutcome::Rejected {
                reason: reason.clone(),
            },
        };
        if let Err(error) = state.queue.record(record, None).await {
            let error = format!("{error:#}");
            tracing::error!(delivery = %delivery_id, %error, "could not record a refused delivery");
        }
    }
    labels.attach(
        "rejected",
        (
            status,
            Json(json!({"outcome": "rejected", "reason": reason})),
        ),
    )
}

fn log_installation_change(delivery_id: &str, payload: &WebhookEvent) {
    match payload {
        WebhookEvent::Installation(event) => {
            let account = event
                .installation
                .account
                .as_ref()
                .map(|a| a.login.as_str())
                .unwrap_or("-");
            let repositories: Vec<&str> = event
                .repositories
                .iter()
                .flatten()
                .map(|r| r.full_name.as_str())
                .collect();
            tracing::info!(
                delivery = %delivery_id, installation = event.installation.id, account,
                action = %event.action, ?repositories, "installation changed"
            );
        }
        WebhookEvent::InstallationRepositories(event) => {
            let added: Vec<&str> = event
                .repositories_added
                .iter()
                .map(|r| r.full_name.as_str())
                .collect();
            let removed: Vec<&str> = event
                .repositories_removed
                .iter()
                .map(|r| r.full_name.as_str())
                .collect();
            tracing::info!(
                delivery = %delivery_id, installation = event.installation.id, action = %event.action,
                ?added, ?removed, "installation repositories changed"
            );
        }
        _ => {}
    }
}

// ---- the decision ----

/// What the webhook intake needs to know. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Where GitHub posts deliveries (`WEBHOOK_PATH`).
    pub webhook_path: String,
    /// Any of these may have signed a delivery (several during a rotation).
    pub webhook_secrets: Vec<SecretString>,
    pub trigger_label: String,
    pub bugfix_labels: Vec<String>,
    /// The App's id, to recognise comments the App wrote.
    pub app_id: Option<u64>,
    /// The bot's login (e.g. `metagpt-bot[bot]`), to recognise its own comments.
    pub bot_login: Option<String>,
    /// Whether another label than `trigger_label` becomes a label check (the App, which honours the
    /// repository's `trigger_label`) or is ignored (the Action).
    pub label_checks: bool,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            webhook_path: "/api/github/webhooks".to_owned(),
            webhook_secrets: Vec::new(),
            trigger_label: "metagpt".to_owned(),
            bugfix_labels: vec!["bug".to_owned(), "bugfix".to_owned()],
            app_id: None,
            bot_login: None,
            label_checks: true,
        }
    }
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Trigger(Trigger),
    Ignore(String),
}

/// Decides what a correctly signed delivery of a handled event asks for.
pub fn decide(config: &IntakeConfig, delivery_id: &str, event: &WebhookEvent) -> Decision {
    match event {
        WebhookEvent::Issues(issues) => decide_issues(config, delivery_id, issues),
        WebhookEvent::IssueComment(comment) => decide_issue_comment(config, delivery_id, comment),
        WebhookEvent::PullRequest(pr) => {
            Decision::Ignore(format!("pull_request.{} is not a trigger", pr.action))
        }
        WebhookEvent::Installation(i) => {
            Decision::Ignore(format!("installation.{}: nothing to enqueue", i.action))
        }
        WebhookEvent::InstallationRepositories(i) => Decision::Ignore(format!(
            "installation_repositories.{}: nothing to enqueue",
            i.action
        )),
        WebhookEvent::Ping(_) => Decision::Ignore("ping: the webhook is configured".to_owned()),
        WebhookEvent::NotActedOn { event, action } => {
            Decision::Ignore(format!("{event}.{action} is not a trigger"))
        }
    }
}

/// `issues`: only `labeled` starts work: a run for the trigger label, a label check for another label.
pub fn decide_issues(config: &IntakeConfig, delivery_id: &str, event: &IssuesEvent) -> Decision {
    if event.action != ISSUES_ACTED_ON {
        return Decision::Ignore(format!("issues.{} is not a trigger", event.action));
    }
    let Some(label) = &event.label else {
        return Decision::Ignore("issues.labeled without a label".to_owned());
    };
    let issue = &event.issue;
    let is_trigger = label.name.eq_ignore_ascii_case(&config.trigger_label);
    if !is_trigger {
        if is_bug_label(config, &label.name) && issue.has_label(&config.trigger_label) {
            return Decision::Ignore(format!(
                "bug label `{}` added to an issue that already has `{}`: the kind is read when the trigger \
                 label is added; remove and add `{}` again to run as a bugfix",
                label.name, config.trigger_label, config.trigger_label
            ));
        }
        if !config.label_checks {
            return Decision::Ignore(format!(
                "label `{}` is not the trigger label `{}`",
                label.name, config.trigger_label
            ));
        }
    }
    if issue.is_pull_request() {
        return Decision::Ignore(format!(
            "#{} is a pull request; label an issue instead",
            issue.number
        ));
    }
    if !issue.is_open() {
        return Decision::Ignore(format!("issue #{} is {}", issue.number, issue.state));
    }
    let request = if is_trigger {
        let kind = if issue.labels.iter().any(|l| is_bug_label(config, &l.name)) {
            Kind::Bugfix
        } else {
            Kind::Requirement
        };
        Request::Run(RunRequest::Labeled {
            kind,
            label: Some(label.name.clone()),
        })
    } else {
        Request::Control(ControlRequest::LabelCheck {
            label: label.name.clone(),
        })
    };
    Decision::Trigger(trigger(
        delivery_id,
        event.installation.as_ref(),
        &event.repository,
        issue.number,
        false,
        &event.sender,
        request,
    ))
}

/// `issue_comment`: only `created` comments with a `/metagpt` command that the bot did not write.
pub fn decide_issue_comment(
    config: &IntakeConfig,
    delivery_id: &str,
    event: &IssueCommentEvent,
) -> Decision {
    if event.action != COMMENTS_ACTED_ON {
        return Decision::Ignore(format!(
            "issue_comment.{} is not a trigger (only new comments are read)",
            event.action
        ));
    }
    let comment = &event.comment;
    let body = comment.body.as_deref().unwrap_or_default();
    if written_by_bot(config, event, body) {
        return Decision::Ignore("comment written by the bot itself".to_owned());
    }
    let command = match parse_command(body) {
        None => return Decision::Ignore("comment has no /metagpt command".to_owned()),
        Some(Err(error)) => return Decision::Ignore(error.to_string()),
        Some(Ok(command)) => command,
    };
    let comment_id = comment.id;
    let request = match command {
        Command::Iterate { feedback } => Request::Run(RunRequest::Iterate {
            feedback,
            comment_id,
        }),
        Command::Retry => Request::Run(RunRequest::Retry { comment_id }),
        Command::Stop => Request::Control(ControlRequest::Stop { comment_id }),
    };
    let issue = &event.issue;
    let mut trigger = trigger(
        delivery_id,
        event.installation.as_ref(),
        &event.repository,
        issue.number,
        issue.is_pull_request(),
        &event.sender,
        request,
    );
    if issue.is_pull_request() {
        trigger.work_issue = issue.body.as_deref().and_then(marked_issue);
    }
    Decision::Trigger(trigger)
}

fn is_bug_label(config: &IntakeConfig, name: &str) -> bool {
    config
        .bugfix_labels
        .iter()
        .any(|bug| bug.eq_ignore_ascii_case(name))
}

fn written_by_bot(config: &IntakeConfig, event: &IssueCommentEvent, body: &str) -> bool {
    let by_app = matches!(
        (config.app_id, &event.comment.performed_via_github_app),
        (Some(ours), Some(app)) if app.id == ours
    );
    let by_login = config.bot_login.as_deref().is_some_and(|bot| {
        event.comment.user.login.eq_ignore_ascii_case(bot)
            || event.sender.login.eq_ignore_ascii_case(bot)
    });
    by_app || by_login || body.contains(MARKER_PREFIX)
}

fn trigger(
    delivery_id: &str,
    installation: Option<&InstallationRef>,
    repository: &Repository,
    issue_number: u64,
    is_pull_request: bool,
    sender: &Account,
    request: Request,
) -> Trigger {
    Trigger {
        delivery_id: delivery_id.to_owned(),
        installation_id: installation.map(|i| i.id),
        repo: RepoRef {
            id: repository.id,
            owner: repository.owner.login.clone(),
            name: repository.name.clone(),
        },
        issue_number,
        is_pull_request,
        sender_id: sender.id,
        sender_login: sender.login.clone(),
        request,
        work_issue: None,
    }
}
