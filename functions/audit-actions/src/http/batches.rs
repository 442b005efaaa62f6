//! `/ops/batches`: one action (commit, submit_audit, release) over many apps. The request is
//! checked and stored by [`ops::batches::create`] and answered 202 at once; the runner does the
//! work ([`ops::batches::run_open_batches`]).

use super::error::ApiError;
use super::routes::declare_routes;
use super::{page_limit, JsonBody, OpsQuery};
use super::{ApiResult, S};
use crate::ops::{self, OpsError};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use wxopen::operator_auth::Operator;
use wxopen::store::{BatchOutcome, BatchProgress};

declare_routes! {
    RULES, routes;
    GET "/ops/batches" => list: Admin, ALL;
    POST "/ops/batches" => create: Admin, ALL;
    GET "/ops/batches/{batch_id}" => show: Admin, ALL;
}

/// The `Idempotency-Key` header naming one batch request (1 to 255 characters).
struct IdempotencyKey(String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let key = parts.headers.get("idempotency-key");
        match key.and_then(|v| v.to_str().ok()).map(str::trim) {
            Some(k) if !k.is_empty() && k.len() <= 255 => Ok(IdempotencyKey(k.to_owned())),
            _ => Err(ApiError::bad(
                "missing_idempotency_key",
                "send an Idempotency-Key header (1 to 255 characters) naming this batch request",
            )),
        }
    }
}

async fn create(
    State(deps): S,
    Extension(op): Extension<Operator>,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(req): JsonBody<ops::batches::NewBatch>,
) -> ApiResult<Response> {
    let created = ops::batches::create(&deps, &op.label, &key, req).await?;
    Ok((StatusCode::ACCEPTED, Json(created)).into_response())
}

/// A batch as operators see it: counts, then every app's outcome.
fn view(p: &BatchProgress) -> Value {
    let mut counts = json!({ "ok": 0, "skipped": 0, "failed": 0, "running": 0, "pending": 0 });
    let items: Vec<Value> = p
        .items
        .iter()
        .map(|i| {
            let state = match (&i.result, i.claimed_at) {
                (Some(r), _) => match r.outcome {
                    BatchOutcome::Ok => "ok",
                    BatchOutcome::Skipped => "skipped",
                    BatchOutcome::Failed => "failed",
                },
                (None, Some(_)) => "running",
                (None, None) => "pending",
            };
            counts[state] = json!(counts[state].as_u64().unwrap_or(0) + 1);
            json!({
                "appid": i.appid,
                "state": state,
                "detail": i.result.as_ref().map(|r| &r.detail),
                "at": i.result.as_ref().map(|r| r.at),
            })
        })
        .collect();
    json!({
        "batch_id": p.batch.id,
        "action": p.batch.operation,
        "params": p.batch.params,
        "operator": p.batch.operator,
        "created_at": p.batch.created_at,
        "finished_at": p.batch.finished_at,
        "status": if p.batch.finished_at.is_some() { "done" } else { "running" },
        "total": p.items.len(),
        "counts": counts,
        "items": items,
    })
}

async fn show(State(deps): S, Path(batch_id): Path<String>) -> ApiResult {
    let p = deps
        .store
        .get_batch(&batch_id)
        .await?
        .ok_or(OpsError::NotFound { what: "batch" })?;
    Ok(Json(view(&p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    open: bool,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(State(deps): S, OpsQuery(q): OpsQuery<ListQuery>) -> ApiResult {
    let page = deps
        .store
        .list_batches(q.open, q.cursor.as_deref(), page_limit(q.limit)?)
        .await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|b| {
            json!({
                "batch_id": b.id,
                "action": b.operation,
                "apps": b.appids.len(),
                "operator": b.operator,
                "created_at": b.created_at,
                "finished_at": b.finished_at,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": page.next })))
}
