//! `/ops/apps/{appid}/profile` (GET, PUT), `/ops/categories` and the category changes of
//! `/ops/apps/{appid}/categories` (POST, PATCH, DELETE; its GET, the code-management list, is
//! in `apps`): each route one call of [`ops::profile`] (the rules, the reviews and the
//! lost-answer doubts are there).

use super::{Acting, ApiResult, AuthorizedApp, JsonBody, OpsQuery, S};
use crate::ops::profile::{self, CategoryBody, CategoryKey, ProfileChange, AVATAR_MAX_BYTES};
use crate::ops::{self};
use crate::Deps;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// An avatar and a licence (or a few qualification files) in base64 with their JSON around.
const PROFILE_BODY_LIMIT: usize = 3 * (AVATAR_MAX_BYTES / 3 * 4) + 64 * 1024;

pub fn routes() -> Router<Arc<Deps>> {
    Router::new()
        .route(
            "/ops/apps/{appid}/profile",
            get(view)
                .put(change)
                .layer(DefaultBodyLimit::max(PROFILE_BODY_LIMIT)),
        )
        .route("/ops/categories", get(all_categories))
        .route(
            "/ops/apps/{appid}/categories",
            post(add_category)
                .patch(modify_category)
                .delete(delete_category)
                .layer(DefaultBodyLimit::max(PROFILE_BODY_LIMIT)),
        )
}

async fn view(State(deps): S, AuthorizedApp(app): AuthorizedApp) -> ApiResult {
    Ok(Json(json!(profile::view(&deps, &app).await?)))
}

async fn change(
    State(deps): S,
    Acting { app, .. }: Acting,
    JsonBody(b): JsonBody<ProfileChange>,
) -> ApiResult {
    Ok(Json(json!(profile::change(&deps, &app, b).await?)))
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
    Acting { app, .. }: Acting,
    JsonBody(b): JsonBody<CategoryBody>,
) -> ApiResult<Response> {
    let done = profile::add_category(&deps, &app, b).await?;
    Ok((StatusCode::CREATED, Json(done)).into_response())
}

async fn modify_category(
    State(deps): S,
    Acting { app, .. }: Acting,
    JsonBody(b): JsonBody<CategoryBody>,
) -> ApiResult {
    Ok(Json(json!(profile::modify_category(&deps, &app, b).await?)))
}

async fn delete_category(
    State(deps): S,
    Acting { app, .. }: Acting,
    OpsQuery(k): OpsQuery<CategoryKey>,
) -> ApiResult {
    Ok(Json(json!(profile::delete_category(&deps, &app, k).await?)))
}
