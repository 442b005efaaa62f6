//! `/ops/notifications`: the outbox (filtered by status), the routing rules, a test send and a
//! retry of a failed notification, over [`ops::notifications`].

use super::routes::declare_routes;
use super::{page_limit, ApiResult, JsonBody, OpsQuery, S};
use crate::ops::{self, notifications::parse_status};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use wxopen::operator_auth::Operator;

declare_routes! {
    RULES, routes;
    GET "/ops/notifications" => list: Viewer, ALL;
    GET "/ops/notifications/rules" => rules: Admin, ALL;
    PUT "/ops/notifications/rules" => put_rules: Admin, ALL;
    POST "/ops/notifications/test" => test: Admin, ALL;
    POST "/ops/notifications/{id}/retry" => retry: Op, ALL;
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
