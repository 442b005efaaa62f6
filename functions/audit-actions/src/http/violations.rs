//! `GET /ops/apps/{appid}/violations` (the penalties and appeals pushed, and WeChat's records)
//! and `GET /ops/apps/{appid}/violations/{illegal_record_id}/appeals`. The reads are
//! [`ops::violations`]'.

use super::routes::declare_routes;
use super::{ApiResult, AuthorizedApp, KnownApp, OpsQuery, S};
use crate::ops;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use wxopen::domain::UnixTime;

declare_routes! {
    RULES, routes;
    GET "/ops/apps/{appid}/violations" => show: Viewer, ONE;
    GET "/ops/apps/{appid}/violations/{illegal_record_id}/appeals" => appeals: Viewer, ONE;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Window {
    start_time: Option<UnixTime>,
    end_time: Option<UnixTime>,
}

async fn show(State(deps): S, OpsQuery(w): OpsQuery<Window>, KnownApp(a): KnownApp) -> ApiResult {
    let v = ops::violations::of_app(&deps, &a, w.start_time, w.end_time).await?;
    let summary = ops::violations::summary(&v.penalties);
    Ok(Json(json!({
        "appid": a.appid,
        "summary": summary,
        "penalties": v.penalties,
        "appeals": v.appeals,
        "wechat_records": v.wechat.map(|r| r.records),
    })))
}

async fn appeals(
    State(deps): S,
    Path((_, id)): Path<(String, String)>,
    AuthorizedApp(a): AuthorizedApp,
) -> ApiResult {
    let r = ops::violations::appeals(&deps, &a, &id).await?;
    Ok(Json(
        json!({ "appid": a.appid, "illegal_record_id": id, "records": r.records }),
    ))
}
