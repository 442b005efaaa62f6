//! The daily API quota tools (45009): `POST /ops/apps/{appid}/quota/clear` (the app's counts,
//! with its token), `POST /ops/component/quota/clear` (the platform's, with the appsecret),
//! `GET /ops/apps/{appid}/quota?cgi_path=…` (one API's count and the month's resets) and
//! `GET /ops/rid/{rid}` (what WeChat kept of a failed call). The rules are [`ops::quota`]'s.

use super::routes::declare_routes;
use super::{Acting, ApiResult, AuthorizedApp, OpsQuery, OptionalJsonBody, S};
use crate::ops::{self, quota::Reset};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use wxopen::operator_auth::Operator;
use wxopen::store::{QuotaAccount, QUOTA_RESETS_PER_MONTH};

declare_routes! {
    RULES, routes;
    GET "/ops/apps/{appid}/quota" => show: Viewer, ONE;
    POST "/ops/apps/{appid}/quota/clear" => clear_app: Op, ONE;
    POST "/ops/component/quota/clear" => clear_platform: Admin, ALL;
    GET "/ops/rid/{rid}" => rid: Op, ALL;
}

/// A reset's optional body: the API that ran out, read before and after so that a lost answer
/// can be settled.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClearBody {
    cgi_path: Option<String>,
}

/// A clear's body: none at all (a reset needs nothing), or `{"cgi_path": ...}`.
type Clear = OptionalJsonBody<ClearBody>;

fn cgi_path(b: ClearBody) -> ApiResult<Option<String>> {
    Ok(b.cgi_path
        .map(|p| ops::quota::parse_cgi_path(&p))
        .transpose()?)
}

fn shown(r: Reset) -> Json<serde_json::Value> {
    Json(json!(r))
}

async fn clear_app(State(deps): S, by: Acting, OptionalJsonBody(b): Clear) -> ApiResult {
    let cgi_path = cgi_path(b)?;
    let account = QuotaAccount::App(by.app.appid.clone());
    let r = ops::quota::clear(&deps, &by.op.label, &account, cgi_path.as_deref()).await?;
    Ok(shown(r))
}

async fn clear_platform(
    State(deps): S,
    Extension(op): Extension<Operator>,
    OptionalJsonBody(b): Clear,
) -> ApiResult {
    let cgi_path = cgi_path(b)?;
    let r = ops::quota::clear(
        &deps,
        &op.label,
        &QuotaAccount::Platform,
        cgi_path.as_deref(),
    )
    .await?;
    Ok(shown(r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaQuery {
    cgi_path: Option<String>,
}

/// One API's count today (when `cgi_path` is given) and the month's resets of the app.
async fn show(
    State(deps): S,
    OpsQuery(q): OpsQuery<QuotaQuery>,
    AuthorizedApp(a): AuthorizedApp,
) -> ApiResult {
    let account = QuotaAccount::App(a.appid.clone());
    let quota = match q.cgi_path.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = ops::quota::parse_cgi_path(p)?;
            Some(ops::quota::count(&deps, &account, &p).await?)
        }
        None => None,
    };
    let ledger = ops::quota::ledger(&deps, &account).await?;
    Ok(Json(json!({
        "appid": a.appid,
        "cgi_path": q.cgi_path,
        "quota": quota.map(|q| json!({ "daily_limit": q.daily_limit, "used": q.used, "remain": q.remain })),
        "resets": {
            "spent": ledger.spent(QUOTA_RESETS_PER_MONTH),
            "limit": QUOTA_RESETS_PER_MONTH,
            "exhausted_at_wechat": ledger.exhausted_at_wechat,
            "uses": ledger.uses,
        },
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RidQuery {
    appid: Option<String>,
}

/// `?appid=`: the app's rid (asked with its token); without: the platform's.
async fn rid(
    State(deps): S,
    Path(rid): Path<String>,
    OpsQuery(q): OpsQuery<RidQuery>,
) -> ApiResult {
    let rid = ops::quota::parse_rid(&rid)?;
    let appid = match q.appid.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(ops::app::authorized(deps.store.as_ref(), a).await?.appid),
        None => None,
    };
    let request = ops::quota::rid(&deps, &rid, appid.as_ref()).await?;
    Ok(Json(
        json!({ "rid": rid, "appid": appid, "request": request }),
    ))
}
