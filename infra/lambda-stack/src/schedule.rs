//! What a schedule sends its function, and the control port that fires one now.
//!
//! An EventBridge Scheduler schedule (`ScheduleV2`) with an `Input` delivers that JSON as it
//! is; without one it delivers its default notification, an empty JSON object. An EventBridge
//! rule (`Schedule`) without `Input` delivers the `Scheduled Event` envelope
//! (`detail-type`, `source: aws.events`, `time`, `resources`). The template's two schedules
//! are `ScheduleV2` without `Input`; the test of the scheduled functions sends them both forms.

use crate::template::ScheduleKind;
use crate::{Logs, RunningFunction};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// The event a schedule of `kind` sends (`input`: its `Input`, JSON text).
pub fn event(kind: ScheduleKind, input: Option<&str>, function: &str) -> anyhow::Result<Value> {
    if let Some(input) = input {
        return serde_json::from_str(input)
            .map_err(|e| anyhow::anyhow!("a schedule's Input is not JSON: {e}"));
    }
    Ok(match kind {
        ScheduleKind::Scheduler => json!({}),
        ScheduleKind::Rule => scheduled_event(function),
    })
}

/// The `Scheduled Event` an EventBridge rule sends.
pub fn scheduled_event(function: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    json!({
        "version": "0",
        "id": crate::runtime_api::request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": crate::ACCOUNT_ID,
        "time": crate::front::iso_time(now),
        "region": crate::REGION,
        "resources": [format!("arn:aws:events:{}:{}:rule/{function}", crate::REGION, crate::ACCOUNT_ID)],
        "detail": {},
    })
}

struct Control {
    functions: Arc<Vec<RunningFunction>>,
    logs: Logs,
}

/// `POST /schedules/{function}/run`: the function's scheduled event now (by binary or logical
/// id); answers the function's result. `GET /invocations`: events handed to each function.
pub fn control_router(functions: Arc<Vec<RunningFunction>>, logs: Logs) -> Router {
    Router::new()
        .route("/schedules/{function}/run", post(run))
        .route("/invocations", get(invocations))
        .with_state(Arc::new(Control { functions, logs }))
}

async fn run(State(c): State<Arc<Control>>, Path(name): Path<String>) -> Response {
    let Some(f) = crate::find(&c.functions, &name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": format!("no function {name}") })),
        )
            .into_response();
    };
    match crate::fire(f, &c.logs).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "message": format!("{e:#}") })),
        )
            .into_response(),
    }
}

async fn invocations(State(c): State<Arc<Control>>) -> Json<Value> {
    Json(json!(crate::invocations(&c.functions)))
}
