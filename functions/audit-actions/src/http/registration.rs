//! `/ops/registrations`: registering a mini program for a merchant who has none (start, list,
//! follow) and making a trial formal, each route one call of [`ops::registration`] (the field
//! rules, the doubt before the create and its settling are there).

use super::error::ApiError;
use super::routes::declare_routes;
use super::{listing, page_limit, ApiResult, JsonBody, OpsQuery, S};
use crate::ops::registration;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use wxopen::operator_auth::Operator;

// Operators start one for a customer and make a trial formal, anyone reads; each within the
// key's customers.
declare_routes! {
    RULES, routes;
    GET "/ops/registrations" => list: Viewer, ONE;
    POST "/ops/registrations" => start: Op, ONE;
    GET "/ops/registrations/{id}" => show: Viewer, ONE;
    POST "/ops/registrations/{id}/verify" => verify: Op, ONE;
}

async fn start(
    State(deps): S,
    Extension(op): Extension<Operator>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let req = registration::parse_new(&body)?;
    if !op.sees_customer(Some(&req.customer_id)) {
        return Err(ApiError::out_of_scope(&op));
    }
    let started = registration::start(&deps, &op.label, req).await?;
    // In doubt: accepted, not yet known to be created at WeChat.
    let status = if started.in_doubt {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(started)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(deps): S,
    Extension(op): Extension<Operator>,
    OpsQuery(q): OpsQuery<ListQuery>,
) -> ApiResult {
    let limit = page_limit(q.limit)?;
    let page =
        registration::list(&deps, &op, q.status.as_deref(), q.cursor.as_deref(), limit).await?;
    Ok(listing(page, registration::view))
}

async fn show(
    State(deps): S,
    Extension(op): Extension<Operator>,
    Path(id): Path<String>,
) -> ApiResult {
    let r = registration::show(&deps, &op, &id).await?;
    Ok(Json(registration::view(&r)))
}

async fn verify(
    State(deps): S,
    Extension(op): Extension<Operator>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let req = registration::parse_verify(&body)?;
    let r = registration::verify(&deps, &op, &id, req).await?;
    Ok((StatusCode::ACCEPTED, Json(registration::view(&r))).into_response())
}
