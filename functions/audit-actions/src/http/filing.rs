//! `GET /ops/apps/{appid}/filing`: where the app's ICP filing (小程序备案) stands, as stored (or
//! asked of WeChat when never checked; `?refresh=true` asks now). The rules are
//! [`ops::filing`]'s.

use super::routes::declare_routes;
use super::{ApiResult, KnownApp, OpsQuery, S};
use crate::ops;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

declare_routes! {
    RULES, routes;
    GET "/ops/apps/{appid}/filing" => show: Viewer, ONE;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilingQuery {
    #[serde(default)]
    refresh: bool,
}

async fn show(
    State(deps): S,
    KnownApp(a): KnownApp,
    OpsQuery(q): OpsQuery<FilingQuery>,
) -> ApiResult {
    let state = ops::filing::current(&deps, &a.appid, q.refresh).await?;
    Ok(Json(ops::filing::view(&state)))
}
