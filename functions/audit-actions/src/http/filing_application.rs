//! `/ops/apps/{appid}/filing` (POST, DELETE), `.../filing/media`, `.../filing/verify-task` and
//! `.../auth-and-filing`: filing on the merchant's behalf, each route one call of
//! [`ops::filing_application`] (the rules, the reference tables and the lost-answer doubt are
//! there).

use super::routes::declare_routes;
use super::{Acting, ApiResult, AuthorizedApp, JsonBody, OpsQuery, OptionalJsonBody, S};
use crate::ops::filing_application::{
    self as filing, AuthAndFilingApplication, FilingApplication, MediaBody, VerifyTaskBody,
};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// A 5 MB file in base64 with its JSON around it.
const MEDIA_BODY_LIMIT: usize = filing::MEDIA_MAX_BYTES / 3 * 4 + 64 * 1024;

declare_routes! {
    RULES, routes;
    POST "/ops/apps/{appid}/filing" => apply: Op, ONE;
    DELETE "/ops/apps/{appid}/filing" => cancel: Op, ONE;
    POST "/ops/apps/{appid}/filing/media" => upload_media: Op, ONE, layer DefaultBodyLimit::max(MEDIA_BODY_LIMIT);
    POST "/ops/apps/{appid}/filing/verify-task" => start_verify_task: Op, ONE;
    GET "/ops/apps/{appid}/filing/verify-task" => verify_task: Viewer, ONE;
    POST "/ops/apps/{appid}/auth-and-filing" => apply_with_auth: Op, ONE;
    GET "/ops/apps/{appid}/auth-and-filing" => auth_and_filing: Viewer, ONE;
}

async fn upload_media(
    State(deps): S,
    Acting { op, app }: Acting,
    JsonBody(b): JsonBody<MediaBody>,
) -> ApiResult<Response> {
    let media = filing::upload_media(&deps, &op.label, &app, b).await?;
    Ok((StatusCode::CREATED, Json(media)).into_response())
}

async fn start_verify_task(
    State(deps): S,
    Acting { op, app }: Acting,
    // None starts a face check for a filing.
    OptionalJsonBody(b): OptionalJsonBody<VerifyTaskBody>,
) -> ApiResult<Response> {
    let started = filing::start_verify_task(&deps, &op.label, &app, b).await?;
    Ok((StatusCode::CREATED, Json(started)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskQuery {
    task_id: Option<String>,
}

async fn verify_task(
    State(deps): S,
    AuthorizedApp(app): AuthorizedApp,
    OpsQuery(q): OpsQuery<TaskQuery>,
) -> ApiResult {
    let state = filing::verify_task_state(&deps, &app, q.task_id).await?;
    Ok(Json(json!(state)))
}

async fn apply(
    State(deps): S,
    Acting { op, app }: Acting,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let application: FilingApplication = filing::parse_application(&body)?;
    let applied = filing::apply(&deps, &op.label, &app, application).await?;
    Ok((StatusCode::ACCEPTED, Json(applied)).into_response())
}

async fn cancel(State(deps): S, Acting { op, app }: Acting) -> ApiResult {
    let cancelled = filing::cancel(&deps, &op.label, &app).await?;
    Ok(Json(json!(cancelled)))
}

async fn apply_with_auth(
    State(deps): S,
    Acting { op, app }: Acting,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let application: AuthAndFilingApplication = filing::parse_application(&body)?;
    let applied = filing::apply_with_auth(&deps, &op.label, &app, application).await?;
    Ok((StatusCode::ACCEPTED, Json(applied)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcedureQuery {
    procedure_id: Option<String>,
}

async fn auth_and_filing(
    State(deps): S,
    AuthorizedApp(app): AuthorizedApp,
    OpsQuery(q): OpsQuery<ProcedureQuery>,
) -> ApiResult {
    let progress = filing::auth_and_filing_progress(&deps, &app, q.procedure_id).await?;
    Ok(Json(progress))
}
