//! The `POST $WEBHOOK_PATH` handler: decide, record, answer.
//!
//! Invariants:
//! - Every answered delivery that carries an `X-GitHub-Delivery` id is recorded with [`Queue::record`]
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

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::metrics::DeliveryLabels;
use super::webhook::{Delivery, WebhookRejection};
use crate::domain::Trigger;
use crate::http::intake::{Decision, decide};
use crate::http::payloads::WebhookEvent;
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
