//! The control API under `/_sim/…` and the consent pages (see the crate docs for the table).

use crate::api::take_pre_auth_code;
use crate::state::{self, ActiveFault, AuditQuota};
use crate::{AccountKind, AccountSpec, AuditOutcome, Fault, Inner};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wxopen::domain::AppId;

type S = State<Arc<Inner>>;

/// WeChat's consent pages (on hosts apart from the API in production): pages a merchant opens,
/// not API calls, so the client declares no endpoint for them.
pub(crate) const CONSENT_PAGES: [&str; 3] = [
    "/cgi-bin/componentloginpage",
    "/safe/bindcomponent",
    "/wxaopen/safe/bindcomponent",
];

pub fn router(inner: Arc<Inner>) -> Router {
    let pages = CONSENT_PAGES
        .iter()
        .fold(Router::new(), |r, page| r.route(page, get(consent_page)));
    pages
        .route("/_sim/config", get(config))
        .route("/_sim/ticket", post(push_ticket).get(get_ticket))
        .route("/_sim/accounts", post(add_account).get(list_accounts))
        .route("/_sim/accounts/{appid}", get(get_account))
        .route("/_sim/accounts/{appid}/authorize", post(authorize))
        .route(
            "/_sim/accounts/{appid}/update_authorization",
            post(update_authorization),
        )
        .route("/_sim/accounts/{appid}/unauthorize", post(unauthorize))
        .route("/_sim/accounts/{appid}/audit/decide", post(decide))
        .route("/_sim/counters", get(counters).delete(reset_counters))
        .route(
            "/_sim/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sim/quotas", post(set_quotas))
        .route("/_sim/audit_quota", post(set_audit_quota))
        .route("/_sim/templates", post(add_template))
        .route("/_sim/drafts", post(add_draft))
        .route("/_sim/tokens/expire", post(expire_tokens))
        .route("/_sim/clock", get(clock))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/pushes", get(pushes).delete(clear_pushes))
        .route("/_sim/fast_register", post(fast_register))
        .route("/_sim/server_domains", post(set_server_domains))
        .route("/_sim/privacy_applications", post(privacy_applications))
        .route(
            "/_sim/accounts/{appid}/privacy_applications/decide",
            post(decide_privacy_application),
        )
        .route("/_sim/consent/approve", post(approve))
        .with_state(inner)
}

fn bad(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": msg.to_string()}))).into_response()
}

/// A 400 answer from a control-API input check.
struct Rejection(String);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        bad(StatusCode::BAD_REQUEST, self.0)
    }
}

fn parse_appid(s: &str) -> Result<AppId, Rejection> {
    AppId::parse(s).map_err(|e| Rejection(e.to_string()))
}

async fn config(State(inner): S) -> Json<Value> {
    let c = &inner.config;
    Json(json!({
        "component_appid": c.component_appid,
        "component_appsecret": c.component_appsecret,
        "token": c.token,
        "encoding_aes_key": c.encoding_aes_key,
        "auth_event_url": c.auth_event_url,
        "message_url": c.message_url,
        "rotate_refresh_tokens": c.rotate_refresh_tokens,
    }))
}

async fn push_ticket(State(inner): S) -> Json<Value> {
    Json(json!({"ticket": inner.push_ticket().await}))
}

async fn get_ticket(State(inner): S) -> Json<Value> {
    let st = inner.lock();
    let n = st.tickets.len();
    Json(json!({
        "ticket": st.tickets.last(),
        "previous": if n >= 2 { st.tickets.get(n - 2) } else { None },
    }))
}

async fn add_account(State(inner): S, body: Bytes) -> Response {
    let spec: AccountSpec = if body.is_empty() {
        AccountSpec::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(s) => s,
            Err(e) => return bad(StatusCode::BAD_REQUEST, e),
        }
    };
    let appid = inner.add_account(spec);
    let st = inner.lock();
    let acc = &st.accounts[&appid];
    Json(json!({"appid": appid, "user_name": acc.user_name, "kind": acc.kind})).into_response()
}

async fn list_accounts(State(inner): S) -> Json<Value> {
    let st = inner.lock();
    Json(json!(st.accounts.values().collect::<Vec<_>>()))
}

async fn get_account(State(inner): S, Path(appid): Path<String>) -> Response {
    let appid = match parse_appid(&appid) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let st = inner.lock();
    match st.accounts.get(&appid) {
        Some(a) => Json(json!(a)).into_response(),
        None => bad(StatusCode::NOT_FOUND, "unknown account"),
    }
}

#[derive(Deserialize, Default)]
struct FuncInfo {
    #[serde(default = "default_func_info")]
    func_info: Vec<u32>,
}

fn default_func_info() -> Vec<u32> {
    vec![17, 18]
}

fn func_info_body(body: &Bytes) -> Result<Vec<u32>, Rejection> {
    if body.is_empty() {
        return Ok(default_func_info());
    }
    serde_json::from_slice::<FuncInfo>(body)
        .map(|f| f.func_info)
        .map_err(|e| Rejection(e.to_string()))
}

async fn authorize(State(inner): S, Path(appid): Path<String>, body: Bytes) -> Response {
    let (appid, fi) = match (parse_appid(&appid), func_info_body(&body)) {
        (Ok(a), Ok(f)) => (a, f),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let pre = state::random_token("preauthcode@@@");
    match inner.authorize(&appid, &fi, &pre).await {
        Ok(code) => Json(json!({"auth_code": code, "expires_in": state::CODE_TTL})).into_response(),
        Err(e) => bad(StatusCode::NOT_FOUND, e),
    }
}

async fn update_authorization(State(inner): S, Path(appid): Path<String>, body: Bytes) -> Response {
    let (appid, fi) = match (parse_appid(&appid), func_info_body(&body)) {
        (Ok(a), Ok(f)) => (a, f),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    match inner.update_authorization(&appid, &fi).await {
        Ok(code) => Json(json!({"auth_code": code, "expires_in": state::CODE_TTL})).into_response(),
        Err(e) => bad(StatusCode::CONFLICT, e),
    }
}

async fn unauthorize(State(inner): S, Path(appid): Path<String>) -> Response {
    let appid = match parse_appid(&appid) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    match inner.unauthorize(&appid).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => bad(StatusCode::CONFLICT, e),
    }
}

async fn decide(State(inner): S, Path(appid): Path<String>, body: Bytes) -> Response {
    let appid = match parse_appid(&appid) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let outcome: AuditOutcome = match serde_json::from_slice(&body) {
        Ok(o) => o,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    match inner.decide_audit(&appid, outcome).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => bad(StatusCode::CONFLICT, e),
    }
}

async fn counters(State(inner): S) -> Json<Value> {
    Json(json!(inner.lock().calls))
}

async fn reset_counters(State(inner): S) -> Json<Value> {
    let mut st = inner.lock();
    st.calls.clear();
    st.daily_calls.clear();
    Json(json!({}))
}

#[derive(Deserialize)]
struct FaultJson {
    endpoint: Option<String>,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    error_rate: f64,
    #[serde(default)]
    timeout: bool,
    #[serde(default)]
    lose_answer: bool,
    #[serde(default)]
    apply_late: bool,
    #[serde(default)]
    after: u32,
    meanwhile: Option<crate::Meanwhile>,
    errcode: Option<i64>,
    errmsg: Option<String>,
    times: Option<u32>,
}

async fn add_fault(State(inner): S, body: Bytes) -> Response {
    let f: FaultJson = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let fault = Fault {
        endpoint: f.endpoint,
        latency: Duration::from_millis(f.latency_ms),
        error_rate: f.error_rate,
        timeout: f.timeout,
        lose_answer: f.lose_answer,
        forced_errcode: f
            .errcode
            .map(|c| (c, f.errmsg.unwrap_or_else(|| "simulated error".to_owned()))),
        times: f.times,
        apply_late: f.apply_late,
        after: f.after,
        meanwhile: f.meanwhile,
    };
    let remaining = fault.times;
    inner.lock().faults.push(ActiveFault { fault, remaining });
    Json(json!({})).into_response()
}

async fn list_faults(State(inner): S) -> Json<Value> {
    let st = inner.lock();
    let list: Vec<Value> = st
        .faults
        .iter()
        .map(|f| {
            json!({
                "endpoint": f.fault.endpoint,
                "latency_ms": f.fault.latency.as_millis() as u64,
                "error_rate": f.fault.error_rate,
                "timeout": f.fault.timeout,
                "lose_answer": f.fault.lose_answer,
                "apply_late": f.fault.apply_late,
                "after": f.fault.after,
                "meanwhile": f.fault.meanwhile,
                "errcode": f.fault.forced_errcode.as_ref().map(|e| e.0),
                "errmsg": f.fault.forced_errcode.as_ref().map(|e| e.1.clone()),
                "remaining": f.remaining,
            })
        })
        .collect();
    Json(json!(list))
}

async fn clear_faults(State(inner): S) -> Json<Value> {
    inner.lock().faults.clear();
    Json(json!({}))
}

async fn fast_register(State(inner): S, body: Bytes) -> Response {
    let result: crate::FastRegisterResult = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    match inner.fast_register(result).await {
        Ok(r) => Json(json!(r)).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn set_server_domains(State(inner): S, body: Bytes) -> Response {
    match serde_json::from_slice::<Vec<String>>(&body) {
        Ok(hosts) => {
            inner.lock().server_domains = Some((hosts.clone(), hosts));
            Json(json!({})).into_response()
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct Required {
    required: bool,
}

async fn privacy_applications(State(inner): S, body: Bytes) -> Response {
    match serde_json::from_slice::<Required>(&body) {
        Ok(r) => {
            inner.lock().privacy_applications_required = r.required;
            Json(json!({})).into_response()
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct PrivacyDecision {
    api_name: String,
    approve: bool,
    #[serde(default)]
    fail_reason: String,
}

async fn decide_privacy_application(
    State(inner): S,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let appid = match parse_appid(&appid) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let d: PrivacyDecision = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let mut st = inner.lock();
    let Some(acc) = st.accounts.get_mut(&appid) else {
        return bad(StatusCode::NOT_FOUND, format!("unknown account {appid}"));
    };
    let Some(app) = acc.code.privacy_applications.get_mut(&d.api_name) else {
        return bad(
            StatusCode::CONFLICT,
            format!("{appid} never applied for {}", d.api_name),
        );
    };
    app.status = if d.approve { 5 } else { 4 };
    app.fail_reason = if d.approve {
        String::new()
    } else {
        d.fail_reason
    };
    Json(json!({})).into_response()
}

async fn set_quotas(State(inner): S, body: Bytes) -> Response {
    match serde_json::from_slice::<HashMap<String, u64>>(&body) {
        Ok(q) => {
            inner.lock().daily_quotas.extend(q);
            Json(json!({})).into_response()
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct AuditQuotaJson {
    rest: u64,
    limit: u64,
    speedup_rest: u64,
    speedup_limit: u64,
}

async fn set_audit_quota(State(inner): S, body: Bytes) -> Response {
    match serde_json::from_slice::<AuditQuotaJson>(&body) {
        Ok(q) => {
            inner.lock().audit_quota = Some(AuditQuota {
                rest: q.rest,
                limit: q.limit,
                speedup_rest: q.speedup_rest,
                speedup_limit: q.speedup_limit,
            });
            Json(json!({})).into_response()
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct TemplateJson {
    #[serde(alias = "draft_id")]
    template_id: u64,
    user_version: String,
    user_desc: Option<String>,
    #[serde(default)]
    template_type: u8,
    pages: Option<Vec<String>>,
}

async fn add_template(State(inner): S, body: Bytes) -> Response {
    let t: TemplateJson = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let now = inner.now();
    inner.lock().templates.insert(
        t.template_id,
        state::Template {
            template_id: t.template_id,
            user_desc: t
                .user_desc
                .unwrap_or_else(|| format!("template {}", t.template_id)),
            user_version: t.user_version,
            create_time: now,
            template_type: t.template_type,
            pages: t.pages.unwrap_or_else(state::default_template_pages),
            private_apis: Vec::new(),
        },
    );
    Json(json!({})).into_response()
}

async fn add_draft(State(inner): S, body: Bytes) -> Response {
    let t: TemplateJson = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let now = inner.now();
    inner.lock().drafts.insert(
        t.template_id,
        state::Draft {
            draft_id: t.template_id,
            user_desc: t
                .user_desc
                .unwrap_or_else(|| format!("draft {}", t.template_id)),
            user_version: t.user_version,
            create_time: now,
        },
    );
    Json(json!({})).into_response()
}

async fn expire_tokens(State(inner): S) -> Json<Value> {
    let now = inner.now();
    for t in inner.lock().tokens.values_mut() {
        t.expires_at = t.expires_at.min(now);
    }
    Json(json!({}))
}

async fn clock(State(inner): S) -> Json<Value> {
    let offset = inner.lock().clock_offset;
    Json(json!({"now": inner.now(), "offset": offset}))
}

#[derive(Deserialize)]
struct Advance {
    secs: i64,
}

async fn advance_clock(State(inner): S, body: Bytes) -> Response {
    match serde_json::from_slice::<Advance>(&body) {
        Ok(a) => {
            inner.lock().clock_offset += a.secs;
            inner.run_auto_approvals().await;
            Json(json!({"now": inner.now()})).into_response()
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn pushes(State(inner): S) -> Json<Value> {
    Json(json!(inner.lock().pushes))
}

async fn clear_pushes(State(inner): S) -> Json<Value> {
    inner.lock().pushes.clear();
    Json(json!({}))
}

// ---------------------------------------------------------------------------------------------
// Consent pages

/// Permission sets offered on the consent page (17 and 18 checked by default).
const FUNC_SETS: &[(u32, &str)] = &[
    (1, "消息管理权限"),
    (2, "用户管理权限"),
    (17, "帐号管理权限(小程序)"),
    (18, "开发管理与数据分析权限(小程序)"),
    (19, "客服消息管理权限(小程序)"),
    (25, "开放平台帐号管理权限"),
    (30, "小程序基本信息设置权限"),
];

fn error_page(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>授权失败</title></head><body><h1 class=\"weui-msg__title\">请求参数错误</h1><p id=\"error\">{}</p></body></html>",
            esc(msg)
        )),
    )
        .into_response()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn consent_page(State(inner): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if get("component_appid") != inner.config.component_appid {
        return error_page("component_appid is invalid");
    }
    let redirect_uri = get("redirect_uri");
    if url::Url::parse(redirect_uri).is_err() {
        return error_page("redirect_uri is missing or invalid");
    }
    let pre = get("pre_auth_code");
    let now = inner.now();
    let st = inner.lock();
    let mut st = st;
    if let Err(e) = take_pre_auth_code(&mut st, pre, now, false) {
        return error_page(&e);
    }
    let auth_type = get("auth_type");
    let biz = get("biz_appid");
    let mut rows = String::new();
    for acc in st.accounts.values() {
        let kind_ok = match auth_type {
            "1" => acc.kind == AccountKind::OfficialAccount,
            "2" => acc.kind == AccountKind::MiniProgram,
            _ => true,
        };
        if !kind_ok || (!biz.is_empty() && acc.appid.as_str() != biz) {
            continue;
        }
        let kind = match acc.kind {
            AccountKind::MiniProgram => "小程序",
            AccountKind::OfficialAccount => "公众号",
        };
        let boxes: String = FUNC_SETS
            .iter()
            .map(|(id, name)| {
                let checked = if *id == 17 || *id == 18 { " checked" } else { "" };
                format!("<label><input type=\"checkbox\" name=\"func_info\" value=\"{id}\"{checked}> {id} {name}</label><br>")
            })
            .collect();
        rows.push_str(&format!(
            "<form class=\"account\" method=\"post\" action=\"/_sim/consent/approve\" data-appid=\"{appid}\">\
<h2>{nick} <small>({kind}, {appid})</small></h2>\
<input type=\"hidden\" name=\"pre_auth_code\" value=\"{pre}\">\
<input type=\"hidden\" name=\"redirect_uri\" value=\"{redir}\">\
<input type=\"hidden\" name=\"appid\" value=\"{appid}\">{boxes}\
<button type=\"submit\">授权</button></form>",
            appid = acc.appid,
            nick = esc(&acc.nick_name),
            pre = esc(pre),
            redir = esc(redirect_uri),
        ));
    }
    if rows.is_empty() {
        rows.push_str("<p id=\"no-accounts\">没有可授权的帐号</p>");
    }
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>公众平台帐号授权</title></head><body><h1>授权给第三方平台 {}</h1>{rows}</body></html>",
        esc(&inner.config.component_appid)
    ))
    .into_response()
}

async fn approve(State(inner): S, body: Bytes) -> Response {
    let mut pre = String::new();
    let mut redirect_uri = String::new();
    let mut appid = String::new();
    let mut func_info = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "pre_auth_code" => pre = v.into_owned(),
            "redirect_uri" => redirect_uri = v.into_owned(),
            "appid" => appid = v.into_owned(),
            "func_info" => match v.parse::<u32>() {
                Ok(n) => func_info.push(n),
                Err(_) => return error_page("func_info must be numbers"),
            },
            _ => {}
        }
    }
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return error_page("redirect_uri is missing or invalid");
    };
    let Ok(appid) = AppId::parse(&appid) else {
        return error_page("appid is invalid");
    };
    let now = inner.now();
    {
        let mut st = inner.lock();
        if !st.accounts.contains_key(&appid) {
            return error_page("unknown account");
        }
        if let Err(e) = take_pre_auth_code(&mut st, &pre, now, true) {
            return error_page(&e);
        }
    }
    let code = match inner.authorize(&appid, &func_info, &pre).await {
        Ok(c) => c,
        Err(e) => return error_page(&e.to_string()),
    };
    target
        .query_pairs_mut()
        .append_pair("auth_code", &code)
        .append_pair("expires_in", &state::CODE_TTL.to_string());
    (
        StatusCode::FOUND,
        [(header::LOCATION, target.to_string())],
        "",
    )
        .into_response()
}
