//! `/ops/notifications`: the outbox (filtered by status), the routing rules, a test send and a
//! retry of a failed notification, over [`ops::notifications`].

use super::{page_limit, ApiResult, JsonBody, OpsQuery, S};
use crate::ops::{self, notifications::parse_status};
use crate::Deps;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use wxopen::operator_auth::Operator;

pub fn routes() -> Router<Arc<Deps>> {
    Router::new()
        .route("/ops/notifications", get(list))
        .route("/ops/notifications/rules", get(rules).put(put_rules))
        .route("/ops/notifications/test", post(test))
        .route("/ops/notifications/{id}/retry", post(retry))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(State(deps): S, OpsQuery(q): OpsQuery<ListQuery>) -> ApiResult {
    let status = q.status.as_deref().map(parse_status).transpose()?;
    let limit = page_limit(q.limit)?;
    Ok(Json(
        ops::notifications::list(&deps, status, q.cursor.as_deref(), limit).await?,
    ))
}

async fn rules(State(deps): S) -> ApiResult {
    Ok(Json(ops::notifications::rules(&deps).await?))
}

async fn put_rules(
    State(deps): S,
    Extension(op): Extension<Operator>,
    JsonBody(body): JsonBody<ops::notifications::RulesBody>,
) -> ApiResult {
    Ok(Json(
        ops::notifications::put_rules(&deps, &op.label, body).await?,
    ))
}

async fn test(
    State(deps): S,
    Extension(op): Extension<Operator>,
    JsonBody(body): JsonBody<ops::notifications::TestBody>,
) -> ApiResult {
    Ok(Json(
        ops::notifications::test(&deps, &op.label, body).await?,
    ))
}

async fn retry(State(deps): S, Path(id): Path<String>) -> ApiResult {
    Ok(Json(ops::notifications::retry(&deps, &id).await?))
}
