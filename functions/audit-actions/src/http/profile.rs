//! `/ops/apps/{appid}/profile` (GET, PUT), `/ops/categories` and the category changes of
//! `/ops/apps/{appid}/categories` (POST, PATCH, DELETE; its GET, the code-management list, is
//! in `apps`): each route one call of [`ops::profile`] (the rules, the reviews and the
//! lost-answer doubts are there).

use super::routes::declare_routes;
use super::{Acting, ApiResult, AuthorizedApp, JsonBody, OpsQuery, S};
use crate::ops::profile::{
    self, CategoryBody, CategoryChange, CategoryKey, ProfileChange, AVATAR_MAX_BYTES,
};
use crate::ops::{self};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

/// An avatar and a licence (or a few qualification files) in base64 with their JSON around.
const PROFILE_BODY_LIMIT: usize = 3 * (AVATAR_MAX_BYTES / 3 * 4) + 64 * 1024;

// The profile a first audit needs: operators change it (as they commit code), anyone reads.
declare_routes! {
    RULES, routes;
    GET "/ops/apps/{appid}/profile" => view: Viewer, ONE;
    PUT "/ops/apps/{appid}/profile" => change: Op, ONE, layer DefaultBodyLimit::max(PROFILE_BODY_LIMIT);
    GET "/ops/categories" => all_categories: Viewer, ONE;
    POST "/ops/apps/{appid}/categories" => add_category: Op, ONE, layer DefaultBodyLimit::max(PROFILE_BODY_LIMIT);
    PATCH "/ops/apps/{appid}/categories" => modify_category: Op, ONE, layer DefaultBodyLimit::max(PROFILE_BODY_LIMIT);
    DELETE "/ops/apps/{appid}/categories" => delete_category: Op, ONE, layer DefaultBodyLimit::max(PROFILE_BODY_LIMIT);
}

async fn view(State(deps): S, AuthorizedApp(app): AuthorizedApp) -> ApiResult {
    Ok(Json(json!(profile::view(&deps, &app).await?)))
}

async fn change(
    State(deps): S,
    Acting { op, app }: Acting,
    JsonBody(b): JsonBody<ProfileChange>,
) -> ApiResult {
    Ok(Json(json!(
        profile::change(&deps, &op.label, &app, b).await?
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableQuery {
    appid: Option<String>,
}

/// The tree is the platform's, but WeChat answers it with an authorizer's token: the named app,
/// or the first authorized one.
async fn all_categories(State(deps): S, OpsQuery(q): OpsQuery<TableQuery>) -> ApiResult {
    let appid = match q.appid.filter(|a| !a.is_empty()) {
        Some(a) => Some(ops::app::parse_appid(&a)?),
        None => None,
    };
    Ok(Json(profile::all_categories(&deps, appid.as_ref()).await?))
}

async fn add_category(
    State(deps): S,
    Acting { op, app }: Acting,
    JsonBody(b): JsonBody<CategoryBody>,
) -> ApiResult<Response> {
    let done = profile::change_category(&deps, &op.label, &app, CategoryChange::Add(b)).await?;
    Ok((StatusCode::CREATED, Json(done)).into_response())
}

async fn modify_category(
    State(deps): S,
    Acting { op, app }: Acting,
    JsonBody(b): JsonBody<CategoryBody>,
) -> ApiResult {
    Ok(Json(json!(
        profile::change_category(&deps, &op.label, &app, CategoryChange::Modify(b)).await?
    )))
}

async fn delete_category(
    State(deps): S,
    Acting { op, app }: Acting,
    OpsQuery(k): OpsQuery<CategoryKey>,
) -> ApiResult {
    Ok(Json(json!(
        profile::change_category(&deps, &op.label, &app, CategoryChange::Delete(k)).await?
    )))
}
