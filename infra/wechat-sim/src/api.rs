//! The WeChat API surface: one list of routes ([`ROUTES`]: path, method, token, handler) over
//! WeChat's own paths.
//!
//! Per request: count the call, apply a matching fault, check the daily quota (45009), check the
//! HTTP method (43001/43002), check the token (41001/40001/42001, 61007 without permission set 18),
//! then run the route's handler.

use crate::form::Form;
use crate::state::{
    self, day_of, random_token, AccessToken, Account, Audit, Commit, GrayPlan, PreAuthCode, State,
    TokenKind, Version, CODE_TTL, HISTORY_LEN, QUOTA_RESETS_PER_MONTH, TICKET_TTL, TOKEN_TTL,
    UNDO_PER_DAY, UNDO_PER_MONTH,
};
use crate::{qrcode, AccountKind, Inner, TIMEOUT_HOLD};
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use wxopen::domain::{AppId, AuditStatus, UnixTime};

pub fn router(inner: Arc<Inner>) -> Router {
    // uploadmedia takes videos up to 10 MB (axum's default body limit is 2 MB).
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(16 << 20))
        .with_state(inner)
}

/// A WeChat error answer.
#[derive(Debug, Clone)]
pub struct WxErr(pub i64, pub String);

impl WxErr {
    fn new(code: i64, msg: &str) -> Self {
        WxErr(code, msg.to_owned())
    }
}

type WxResult = Result<Value, WxErr>;

/// The token a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// None: the appsecret in the body is the credential, or nothing is.
    None,
    Component,
    /// An authorizer's token, of a mini program granting permission set 18.
    Authorizer,
    /// Either token (`openapi/quota/get`, `openapi/rid/get`, `clear_quota`): the account is the
    /// token's.
    Any,
}

/// The HTTP method a route takes (43001 / 43002 for the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteMethod {
    Get,
    Post,
}

impl RouteMethod {
    fn is(self, m: &Method) -> bool {
        match self {
            RouteMethod::Get => *m == Method::GET,
            RouteMethod::Post => *m == Method::POST,
        }
    }
}

/// What answers a route, after the method and token checks.
#[derive(Clone, Copy)]
pub(crate) enum Handler {
    /// A JSON answer from the state, without an account (no token, or the platform's).
    Platform(fn(&mut State, &Ctx) -> WxResult),
    /// A JSON answer for the authorizer whose token the call carries.
    Account(fn(&mut State, &Ctx, &AppId) -> WxResult),
    /// A JSON answer for whichever account's token the call carries (`None`: the platform).
    Either(fn(&mut State, &Ctx, Option<AppId>) -> WxResult),
    /// An answer that is not plain JSON (an image, a push after the answer): checks its own
    /// credentials.
    Raw(fn(&Ctx) -> Response),
}

/// One WeChat API path the simulator answers.
#[derive(Clone, Copy)]
pub(crate) struct Route {
    pub(crate) path: &'static str,
    pub(crate) method: RouteMethod,
    pub(crate) auth: Auth,
    pub(crate) handler: Handler,
}

const fn route(path: &'static str, method: RouteMethod, auth: Auth, handler: Handler) -> Route {
    Route {
        path,
        method,
        auth,
        handler,
    }
}

/// Every WeChat API path the simulator answers: one list, held equal to the client's
/// `ENDPOINTS` by a test. Any other path (besides the control API and the consent pages) is a
/// 404.
#[rustfmt::skip]
pub(crate) const ROUTES: &[Route] = {
    use crate::account as acct;
    use crate::icp;
    use crate::services as sv;
    use crate::violations as vi;
    use Auth::{Any, Authorizer, Component, None as NoToken};
    use Handler::{Account, Either, Platform, Raw};
    use RouteMethod::{Get, Post};
    &[
        route("/cgi-bin/component/api_component_token", Post, NoToken, Platform(api_component_token)),
        route("/cgi-bin/component/api_start_push_ticket", Post, NoToken, Raw(api_start_push_ticket)),
        route("/cgi-bin/component/clear_quota/v2", Post, NoToken, Platform(clear_quota_v2)),
        route("/cgi-bin/component/api_create_preauthcode", Post, Component, Platform(api_create_preauthcode)),
        route("/cgi-bin/component/api_query_auth", Post, Component, Platform(api_query_auth)),
        route("/cgi-bin/component/api_authorizer_token", Post, Component, Platform(api_authorizer_token)),
        route("/cgi-bin/component/api_get_authorizer_info", Post, Component, Platform(api_get_authorizer_info)),
        route("/cgi-bin/component/api_get_authorizer_list", Post, Component, Platform(api_get_authorizer_list)),
        route("/wxa/gettemplatedraftlist", Get, Component, Platform(gettemplatedraftlist)),
        route("/wxa/addtotemplate", Post, Component, Platform(addtotemplate)),
        route("/wxa/gettemplatelist", Get, Component, Platform(gettemplatelist)),
        route("/wxa/deletetemplate", Post, Component, Platform(deletetemplate)),
        route("/cgi-bin/component/modify_wxa_jump_domain", Post, Component, Platform(modify_wxa_jump_domain)),
        route("/cgi-bin/component/modify_wxa_server_domain", Post, Component, Platform(modify_wxa_server_domain)),
        route("/cgi-bin/component/get_domain_confirmfile", Post, Component, Platform(get_domain_confirmfile)),
        route("/sns/component/jscode2session", Get, Component, Platform(sv::jscode2session)),
        route("/cgi-bin/openapi/quota/get", Post, Any, Either(quota_get)),
        route("/cgi-bin/openapi/rid/get", Post, Any, Either(rid_get)),
        route("/cgi-bin/clear_quota", Post, Any, Either(clear_quota)),
        route("/wxa/commit", Post, Authorizer, Account(commit)),
        route("/wxa/get_qrcode", Get, Authorizer, Raw(get_qrcode)),
        route("/wxa/get_category", Get, Authorizer, Account(get_category)),
        route("/wxa/get_page", Get, Authorizer, Account(get_page)),
        route("/wxa/submit_audit", Post, Authorizer, Account(submit_audit)),
        route("/wxa/get_auditstatus", Post, Authorizer, Account(get_auditstatus)),
        route("/wxa/get_latest_auditstatus", Get, Authorizer, Account(get_latest_auditstatus)),
        route("/wxa/undocodeaudit", Get, Authorizer, Account(undocodeaudit)),
        route("/wxa/speedupaudit", Post, Authorizer, Account(speedupaudit)),
        route("/wxa/release", Post, Authorizer, Account(release)),
        route("/wxa/revertcoderelease", Get, Authorizer, Account(revertcoderelease)),
        route("/wxa/change_visitstatus", Post, Authorizer, Account(change_visitstatus)),
        route("/wxa/getvisitstatus", Post, Authorizer, Account(getvisitstatus)),
        route("/wxa/getversioninfo", Post, Authorizer, Account(getversioninfo)),
        route("/wxa/grayrelease", Post, Authorizer, Account(grayrelease)),
        route("/wxa/getgrayreleaseplan", Get, Authorizer, Account(getgrayreleaseplan)),
        route("/wxa/revertgrayrelease", Get, Authorizer, Account(revertgrayrelease)),
        route("/wxa/modify_domain", Post, Authorizer, Account(modify_domain)),
        route("/wxa/modify_domain_directly", Post, Authorizer, Account(modify_domain_directly)),
        route("/wxa/get_effective_domain", Post, Authorizer, Account(get_effective_domain)),
        route("/wxa/setwebviewdomain", Post, Authorizer, Account(setwebviewdomain)),
        route("/wxa/setwebviewdomain_directly", Post, Authorizer, Account(setwebviewdomain_directly)),
        route("/wxa/bind_tester", Post, Authorizer, Account(bind_tester)),
        route("/wxa/unbind_tester", Post, Authorizer, Account(unbind_tester)),
        route("/wxa/memberauth", Post, Authorizer, Account(memberauth)),
        route("/cgi-bin/component/setprivacysetting", Post, Authorizer, Account(setprivacysetting)),
        route("/cgi-bin/component/getprivacysetting", Post, Authorizer, Account(getprivacysetting)),
        route("/wxa/security/apply_privacy_interface", Post, Authorizer, Account(apply_privacy_interface)),
        route("/wxa/security/get_privacy_interface", Get, Authorizer, Account(get_privacy_interface)),
        route("/wxa/security/get_code_privacy_info", Get, Authorizer, Account(get_code_privacy_info)),
        route("/wxa/queryquota", Get, Authorizer, Account(queryquota)),
        route("/wxa/uploadmedia", Post, Authorizer, Account(uploadmedia)),
        route("/wxa/getwxacodeunlimit", Post, Authorizer, Raw(getwxacodeunlimit)),
        // The limited codes: getQRCode and createQRCode, 100,000 per app together.
        route("/wxa/getwxacode", Post, Authorizer, Raw(getwxacode)),
        route("/cgi-bin/wxaapp/createwxaqrcode", Post, Authorizer, Raw(createwxaqrcode)),
        route("/wxa/business/getuserphonenumber", Post, Authorizer, Account(sv::get_user_phone_number)),
        route("/wxaapi/newtmpl/getcategory", Get, Authorizer, Account(sv::get_category)),
        route("/wxaapi/newtmpl/getpubtemplatetitles", Get, Authorizer, Account(sv::get_pub_template_titles)),
        route("/wxaapi/newtmpl/getpubtemplatekeywords", Get, Authorizer, Account(sv::get_pub_template_keywords)),
        route("/wxaapi/newtmpl/addtemplate", Post, Authorizer, Account(sv::add_template)),
        route("/wxaapi/newtmpl/deltemplate", Post, Authorizer, Account(sv::del_template)),
        route("/wxaapi/newtmpl/gettemplate", Get, Authorizer, Account(sv::get_template)),
        route("/cgi-bin/message/subscribe/send", Post, Authorizer, Account(sv::subscribe_send)),
        // ICP filing: raw, for permission set 156 besides 18 and refusals carrying `hints`.
        route(icp::ENTRANCE_INFO, Get, Authorizer, Raw(icp::entrance_info)),
        route(icp::ONLINE_ORDER, Get, Authorizer, Raw(icp::online_order)),
        route(icp::SUBJECT_TYPES, Get, Authorizer, Raw(icp::subject_types)),
        route(icp::CERTIFICATE_TYPES, Get, Authorizer, Raw(icp::certificate_types)),
        route(icp::DISTRICT_CODE, Get, Authorizer, Raw(icp::district_code)),
        route(icp::NRLX_TYPES, Get, Authorizer, Raw(icp::nrlx_types)),
        route(icp::SERVICE_CONTENT_TYPES, Get, Authorizer, Raw(icp::service_content_types)),
        route(icp::UPLOAD_MEDIA, Post, Authorizer, Raw(icp::upload_icp_media)),
        route(icp::CREATE_VERIFY_TASK, Post, Authorizer, Raw(icp::create_icp_verifytask)),
        route(icp::QUERY_VERIFY_TASK, Post, Authorizer, Raw(icp::query_icp_verifytask)),
        route(icp::APPLY, Post, Authorizer, Raw(icp::apply_icp_filing)),
        route(icp::CANCEL_APPLY, Post, Authorizer, Raw(icp::cancel_apply_icp_filing)),
        route(icp::SUBMIT_AUTH_AND_ICP, Post, Authorizer, Raw(icp::submit_auth_and_icp)),
        route(icp::QUERY_AUTH_AND_ICP, Post, Authorizer, Raw(icp::query_auth_and_icp)),
        // Violations (permission sets 18 and 76).
        route("/wxa/getillegalrecords", Post, Authorizer, Account(vi::getillegalrecords)),
        route("/wxa/getappealrecords", Post, Authorizer, Account(vi::getappealrecords)),
        // Account setup: raw, for their own permission sets (30, or 18 for the search status)
        // and the component token on the registrations.
        route(acct::FAST_REGISTER, Post, Component, Raw(acct::fast_register)),
        route(acct::FAST_REGISTER_PERSONAL, Post, Component, Raw(acct::fast_register_personal)),
        route(acct::FAST_REGISTER_BETA, Post, Component, Raw(acct::fast_register_beta)),
        route(acct::REUSE_OFFICIAL_ACCOUNT, Post, Authorizer, Raw(acct::reuse_official_account)),
        route(acct::VERIFY_BETA, Post, Authorizer, Raw(acct::verify_beta)),
        route(acct::SET_BETA_NICKNAME, Post, Authorizer, Raw(acct::set_beta_nickname)),
        route(acct::BASIC_INFO, Post, Authorizer, Raw(acct::basic_info)),
        route(acct::SET_NICKNAME, Post, Authorizer, Raw(acct::set_nickname)),
        route(acct::QUERY_NICKNAME, Post, Authorizer, Raw(acct::query_nickname)),
        route(acct::CHECK_NICKNAME, Post, Authorizer, Raw(acct::check_nickname)),
        route(acct::MEDIA_UPLOAD, Post, Authorizer, Raw(acct::media_upload)),
        route(acct::HEAD_IMAGE, Post, Authorizer, Raw(acct::head_image)),
        route(acct::SIGNATURE, Post, Authorizer, Raw(acct::signature)),
        route(acct::GET_SEARCH_STATUS, Get, Authorizer, Raw(acct::get_search_status)),
        route(acct::CHANGE_SEARCH_STATUS, Post, Authorizer, Raw(acct::change_search_status)),
        route(acct::ALL_CATEGORIES, Get, Authorizer, Raw(acct::all_categories)),
        route(acct::SETTING_CATEGORIES, Get, Authorizer, Raw(acct::setting_categories)),
        route(acct::ADD_CATEGORY, Post, Authorizer, Raw(acct::add_category)),
        route(acct::DELETE_CATEGORY, Post, Authorizer, Raw(acct::delete_category)),
        route(acct::MODIFY_CATEGORY, Post, Authorizer, Raw(acct::modify_category)),
    ]
};

/// The route of a path, if the simulator answers it.
pub(crate) fn find_route(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.path == path)
}

pub fn json_answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

pub(crate) fn err_answer(e: WxErr) -> Response {
    json_answer(
        StatusCode::OK,
        json!({"errcode": e.0, "errmsg": format!("{} rid: {}", e.1, state::wechat_rid())}),
    )
}

pub(crate) fn ok_answer(v: Value) -> Response {
    let mut map = match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    map.insert("errcode".into(), json!(0));
    map.insert("errmsg".into(), json!("ok"));
    json_answer(StatusCode::OK, Value::Object(map))
}

async fn handle(
    AxState(inner): AxState<Arc<Inner>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let path = uri.path().to_owned();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let Some(route) = find_route(&path) else {
        return json_answer(
            StatusCode::NOT_FOUND,
            json!({"errcode": -1, "errmsg": format!("system error: the simulator has no endpoint {path}")}),
        );
    };
    // Checked before anything is counted or done: WeChat refuses an unlisted address outright
    // (the errmsg names it, as WeChat's does, so the operator knows what to whitelist).
    let ip = peer.ip();
    let refused = inner
        .lock()
        .ip_whitelist
        .as_ref()
        .is_some_and(|list| !list.contains(&ip));
    if refused {
        return err_answer(WxErr(
            61004,
            format!("access clientip is not registered, invalid ip {ip}, not in whitelist"),
        ));
    }
    inner.run_auto_approvals().await;
    inner.run_icp_timers().await;
    inner.run_setup_timers().await;
    let now = inner.now();
    let (over_quota, account) = {
        let mut st = inner.lock();
        *st.calls.entry(path.clone()).or_default() += 1;
        let day = day_of(now);
        let account = account_of(&st, &query);
        let n = st
            .daily_calls
            .entry((path.clone(), account.clone(), day))
            .or_default();
        *n += 1;
        let n = *n;
        (st.daily_quotas.get(&path).is_some_and(|q| n > *q), account)
    };
    let request = Request {
        method,
        route,
        path,
        query,
        headers,
        body,
        now,
        over_quota,
        account,
        started,
        raw_query: uri.query().unwrap_or("").to_owned(),
        ip,
    };
    let fault = matching_fault(&inner, &request.path);
    if !fault.as_ref().is_some_and(|f| f.apply_late) {
        // A caller that gives up cancels the request here: whatever had not run yet never does.
        return respond(inner, fault, request).await;
    }
    // Detached from the connection: the call is applied even if its caller has gone, as WeChat
    // (behind its proxies) may apply a request whose client timed out.
    let late = LateCall::start(&inner);
    let task = tokio::spawn(async move {
        let _late = late;
        respond(inner, fault, request).await
    });
    task.await
        .unwrap_or_else(|_| err_answer(WxErr::new(-1, "system error")))
}

/// One counted request, owned, so that its work can outlive the connection.
struct Request {
    method: Method,
    route: &'static Route,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
    now: UnixTime,
    over_quota: bool,
    account: String,
    started: std::time::Instant,
    raw_query: String,
    ip: std::net::IpAddr,
}

/// Counts a detached (`apply_late`) request until its work is done, for
/// [`crate::Simulator::settle_late_calls`].
struct LateCall(Arc<Inner>);

impl LateCall {
    fn start(inner: &Arc<Inner>) -> LateCall {
        inner.late_calls.send_modify(|n| *n += 1);
        LateCall(Arc::clone(inner))
    }
}

impl Drop for LateCall {
    fn drop(&mut self) {
        self.0.late_calls.send_modify(|n| *n -= 1);
    }
}

/// The answer to a counted request: its fault (if any), then the endpoint.
async fn respond(inner: Arc<Inner>, fault: Option<crate::Fault>, r: Request) -> Response {
    let apply_late = fault.as_ref().is_some_and(|f| f.apply_late);
    let resp = match apply_fault(&inner, fault).await {
        FaultOutcome::Answer(resp) => resp,
        outcome => {
            // Applied late: at the sim time it is applied, not the time it arrived.
            let now = if apply_late { inner.now() } else { r.now };
            let resp = answer(
                &inner,
                &r.method,
                r.route,
                &r.query,
                &r.headers,
                &r.body,
                now,
                r.over_quota,
            )
            .await;
            if matches!(outcome, FaultOutcome::LoseAnswer) {
                // Applied; the answer never reaches the caller (whose timeout is shorter than this).
                tokio::time::sleep(TIMEOUT_HOLD).await;
                err_answer(WxErr::new(-1, "system error"))
            } else {
                resp
            }
        }
    };
    let seen = Seen {
        account: r.account,
        invoke_time: r.now,
        started: r.started,
        query: r.raw_query,
        body: &r.body,
        ip: r.ip,
    };
    record_rid(&inner, resp, seen).await
}

/// The account a request counts against: the authorizer whose token it carries, else the
/// platform ([`COMPONENT_ACCOUNT`]).
fn account_of(st: &State, query: &HashMap<String, String>) -> String {
    account_key(
        query
            .get("access_token")
            .and_then(|t| st.tokens.get(t))
            .and_then(|t| t.appid.as_ref()),
    )
}

struct Seen<'a> {
    account: String,
    invoke_time: UnixTime,
    started: std::time::Instant,
    query: String,
    body: &'a Bytes,
    ip: std::net::IpAddr,
}

/// Keeps an error answer's request under the rid its errmsg carries, for `openapi/rid/get`
/// (getRidInfo: the request's query, body, answer, caller's address, time and duration).
async fn record_rid(inner: &Inner, resp: Response, seen: Seen<'_>) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    // Only error answers carry a rid.
    let rid = bytes
        .windows(6)
        .any(|w| w == b" rid: ")
        .then(|| serde_json::from_slice::<Value>(&bytes).ok())
        .flatten()
        .and_then(|v| v["errmsg"].as_str().map(str::to_owned))
        .and_then(|m| m.rsplit_once(" rid: ").map(|(_, r)| r.trim().to_owned()));
    if let Some(rid) = rid {
        let record = state::RidRecord {
            account: seen.account,
            invoke_time: seen.invoke_time,
            cost_in_ms: seen.started.elapsed().as_millis() as u64,
            request_url: seen.query,
            request_body: String::from_utf8_lossy(seen.body).into_owned(),
            response_body: String::from_utf8_lossy(&bytes).into_owned(),
            client_ip: seen.ip.to_string(),
        };
        let mut st = inner.lock();
        if st.rids.len() >= MAX_RIDS {
            // A long-running simulator forgets what WeChat would have forgotten, then all.
            let now = seen.invoke_time;
            st.rids.retain(|_, r| now - r.invoke_time < RID_TTL);
            if st.rids.len() >= MAX_RIDS {
                st.rids.clear();
            }
        }
        st.rids.insert(rid, record);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The answer to one counted request, after faults: the quota, the method, the token, then the
/// route's handler.
#[allow(clippy::too_many_arguments)]
async fn answer(
    inner: &Arc<Inner>,
    method: &Method,
    route: &'static Route,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    now: UnixTime,
    over_quota: bool,
) -> Response {
    if over_quota {
        return err_answer(WxErr::new(45009, "reach max api daily quota limit"));
    }
    if !route.method.is(method) {
        return match route.method {
            RouteMethod::Get => err_answer(WxErr::new(43001, "require GET method")),
            RouteMethod::Post => err_answer(WxErr::new(43002, "require POST method")),
        };
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let form = Form::parse(content_type, body).await;
    let ctx = Ctx {
        inner,
        query,
        body,
        now,
        form: form.as_ref(),
    };
    let result = match route.handler {
        Handler::Raw(respond) => return respond(&ctx),
        handler => {
            let mut st = inner.lock();
            caller(&st, route.auth, query, now).and_then(|appid| match (handler, appid) {
                (Handler::Platform(f), _) => f(&mut st, &ctx),
                (Handler::Account(f), Some(appid)) => f(&mut st, &ctx, &appid),
                (Handler::Either(f), appid) => f(&mut st, &ctx, appid),
                (Handler::Account(_), None) | (Handler::Raw(_), _) => {
                    Err(WxErr::new(40001, "invalid credential"))
                }
            })
        }
    };
    match result {
        Ok(v) => ok_answer(v),
        Err(e) => err_answer(e),
    }
}

/// Checks the token `auth` asks for: the authorizer it names (with permission set 18, as a
/// mini program) for [`Auth::Authorizer`], whichever account's for [`Auth::Any`], none
/// otherwise.
fn caller(
    st: &State,
    auth: Auth,
    query: &HashMap<String, String>,
    now: UnixTime,
) -> Result<Option<AppId>, WxErr> {
    match auth {
        Auth::None => Ok(None),
        Auth::Component => check_token(st, query, TokenKind::Component, now).map(|_| None),
        Auth::Authorizer => {
            let appid = check_token(st, query, TokenKind::Authorizer, now)?
                .ok_or_else(|| WxErr::new(40001, "invalid credential"))?;
            check_code_permission(st, &appid)?;
            Ok(Some(appid))
        }
        Auth::Any => check_token(st, query, TokenKind::Component, now)
            .or_else(|_| check_token(st, query, TokenKind::Authorizer, now)),
    }
}

/// `/wxa/get_qrcode`: the experience version's QR code, a JPEG.
fn get_qrcode(ctx: &Ctx) -> Response {
    match qrcode(ctx.inner, ctx.query, ctx.now) {
        Ok(jpeg) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"QRCode.jpg\"",
                ),
            ],
            jpeg,
        )
            .into_response(),
        Err(e) => err_answer(e),
    }
}

/// `/wxa/getwxacodeunlimit`: a mini-program code, a PNG, as WeChat answers it.
fn getwxacodeunlimit(ctx: &Ctx) -> Response {
    match wxacode_unlimit(ctx) {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => err_answer(e),
    }
}

/// `/wxa/getwxacode`: a limited mini-program code, a PNG.
fn getwxacode(ctx: &Ctx) -> Response {
    match limited_code(ctx, LimitedKind::Code) {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => err_answer(e),
    }
}

/// `/cgi-bin/wxaapp/createwxaqrcode`: a square QR code; createQRCode's example answers
/// `contentType: image/jpeg`.
fn createwxaqrcode(ctx: &Ctx) -> Response {
    match limited_code(ctx, LimitedKind::QrCode) {
        Ok(jpeg) => ([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response(),
        Err(e) => err_answer(e),
    }
}

/// `/cgi-bin/component/api_start_push_ticket`: answers, then pushes a ticket.
fn api_start_push_ticket(ctx: &Ctx) -> Response {
    match check_component_secret(ctx, "component_secret") {
        Ok(()) => {
            let inner = Arc::clone(ctx.inner);
            tokio::spawn(async move {
                inner.push_ticket().await;
            });
            ok_answer(json!({}))
        }
        Err(e) => err_answer(e),
    }
}

enum FaultOutcome {
    /// The fault answers instead of the endpoint.
    Answer(Response),
    /// The endpoint runs, then its answer is lost.
    LoseAnswer,
    None,
}

async fn apply_fault(inner: &Inner, fault: Option<crate::Fault>) -> FaultOutcome {
    let Some(fault) = fault else {
        return FaultOutcome::None;
    };
    if let Some(change) = &fault.meanwhile {
        let done = match change {
            crate::Meanwhile::Unauthorize(appid) => inner.unauthorize(appid).await,
            crate::Meanwhile::Authorize(appid) => {
                let pre = random_token("preauthcode@@@");
                inner.authorize(appid, &[17, 18], &pre).await.map(drop)
            }
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "fault: the change meant to happen meanwhile did not");
        }
    }
    if !fault.latency.is_zero() {
        tokio::time::sleep(fault.latency).await;
    }
    if fault.timeout {
        tokio::time::sleep(TIMEOUT_HOLD).await;
        return FaultOutcome::Answer(err_answer(WxErr::new(-1, "system error")));
    }
    if fault.lose_answer {
        return FaultOutcome::LoseAnswer;
    }
    if let Some((code, msg)) = fault.forced_errcode {
        return FaultOutcome::Answer(err_answer(WxErr(code, msg)));
    }
    if fault.error_rate > 0.0 && rand::random::<f64>() < fault.error_rate {
        return FaultOutcome::Answer(err_answer(WxErr::new(-1, "system error")));
    }
    FaultOutcome::None
}

fn matching_fault(inner: &Inner, path: &str) -> Option<crate::Fault> {
    let fault = {
        let mut st = inner.lock();
        let mut chosen = None;
        for (idx, f) in st.faults.iter_mut().enumerate() {
            if f.fault.endpoint.as_deref().is_some_and(|e| e != path) || f.remaining == Some(0) {
                continue;
            }
            if f.fault.after > 0 {
                // Let through untouched by this fault.
                f.fault.after -= 1;
                continue;
            }
            chosen = Some(idx);
            break;
        }
        let idx = chosen?;
        let f = &mut st.faults[idx];
        if let Some(r) = f.remaining.as_mut() {
            *r -= 1;
        }
        let fault = f.fault.clone();
        if f.remaining == Some(0) {
            st.faults.remove(idx);
        }
        fault
    };
    Some(fault)
}

/// What a handler sees of its request.
pub(crate) struct Ctx<'a> {
    pub(crate) inner: &'a Arc<Inner>,
    pub(crate) query: &'a HashMap<String, String>,
    pub(crate) body: &'a Bytes,
    pub(crate) now: UnixTime,
    /// The body's parts when it is multipart/form-data (the uploads).
    pub(crate) form: Option<&'a Form>,
}

impl Ctx<'_> {
    /// The JSON body: empty → 44002, not a JSON object → 47001.
    fn body(&self) -> Result<Map<String, Value>, WxErr> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(WxErr::new(44002, "empty post data"));
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(WxErr::new(47001, "data format error")),
        }
    }

    /// The body must be exactly an empty JSON object (release, getvisitstatus): else 44002.
    fn empty_object_body(&self) -> Result<(), WxErr> {
        match self.body() {
            Ok(m) if m.is_empty() => Ok(()),
            Ok(_) => Err(WxErr::new(44002, "empty post data")),
            Err(e) => Err(e),
        }
    }

    fn component_appid(&self, body: &Map<String, Value>) -> Result<(), WxErr> {
        match body.get("component_appid").and_then(Value::as_str) {
            None | Some("") => Err(WxErr::new(41002, "appid missing")),
            Some(a) if a == self.inner.config.component_appid => Ok(()),
            Some(_) => Err(WxErr::new(61011, "invalid component")),
        }
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

/// A number, or a string holding one (WeChat accepts both for ids).
fn u64_field(m: &Map<String, Value>, k: &str) -> Option<u64> {
    match m.get(k)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn check_token(
    st: &State,
    query: &HashMap<String, String>,
    kind: TokenKind,
    now: UnixTime,
) -> Result<Option<AppId>, WxErr> {
    let token = query
        .get("component_access_token")
        .or_else(|| query.get("access_token"))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| WxErr::new(41001, "access_token missing"))?;
    let invalid = || {
        WxErr::new(
            40001,
            "invalid credential, access_token is invalid or not latest",
        )
    };
    let t: &AccessToken = st.tokens.get(token).ok_or_else(invalid)?;
    if t.kind != kind {
        return Err(invalid());
    }
    if t.superseded_at
        .is_some_and(|at| now >= at + state::SUPERSEDED_GRACE)
    {
        return Err(invalid());
    }
    if t.expires_at <= now {
        return Err(WxErr::new(42001, "access_token expired"));
    }
    Ok(t.appid.clone())
}

/// 86001: the mini program has no code committed.
fn no_commit() -> WxErr {
    WxErr::new(86001, "no third-party code committed")
}

/// 85012: no such audit.
fn bad_auditid() -> WxErr {
    WxErr::new(85012, "invalid audit id")
}

/// The audit the body's `auditid` names (85012 for none).
fn named_audit<'a>(code: &'a mut state::CodeState, ctx: &Ctx) -> Result<&'a mut Audit, WxErr> {
    let id = u64_field(&ctx.body()?, "auditid").ok_or_else(bad_auditid)?;
    code.audits
        .iter_mut()
        .find(|a| a.auditid == id)
        .ok_or_else(bad_auditid)
}

/// The account a call with either token counts against: the authorizer's, else the platform
/// ([`COMPONENT_ACCOUNT`]).
fn account_key(appid: Option<&AppId>) -> String {
    appid.map_or_else(|| COMPONENT_ACCOUNT.to_owned(), ToString::to_string)
}

/// The account an authorizer's call is for (its token named it).
fn account<'a>(st: &'a mut State, appid: &AppId) -> Result<&'a mut Account, WxErr> {
    st.accounts
        .get_mut(appid)
        .ok_or_else(|| WxErr::new(40001, "invalid credential"))
}

fn check_code_permission(st: &State, appid: &AppId) -> Result<(), WxErr> {
    let acc = st
        .accounts
        .get(appid)
        .ok_or_else(|| WxErr::new(40001, "invalid credential"))?;
    let granted = acc
        .authorization
        .as_ref()
        .is_some_and(|a| a.func_info.contains(&18));
    if !granted {
        // Without permission set 18 the component is not authorized for code management.
        return Err(WxErr::new(61007, "api is unauthorized to component"));
    }
    if acc.kind != AccountKind::MiniProgram {
        return Err(WxErr::new(
            86000,
            "should be called only from third party on behalf of a mini program",
        ));
    }
    Ok(())
}

fn check_component_secret(ctx: &Ctx, secret_field: &str) -> Result<(), WxErr> {
    let m = ctx.body()?;
    ctx.component_appid(&m)?;
    match str_field(&m, secret_field) {
        None | Some("") => Err(WxErr::new(41004, "appsecret missing")),
        Some(s) if s == ctx.inner.config.component_appsecret => Ok(()),
        Some(_) => Err(WxErr::new(40125, "invalid appsecret")),
    }
}

/// `/cgi-bin/component/api_component_token`.
fn api_component_token(st: &mut State, ctx: &Ctx) -> WxResult {
    check_component_secret(ctx, "component_appsecret")?;
    let m = ctx.body()?;
    let ticket = str_field(&m, "component_verify_ticket").unwrap_or_default();
    let found = st
        .tickets
        .iter()
        .find(|t| !ticket.is_empty() && t.value == ticket)
        .ok_or_else(|| WxErr::new(61006, "component ticket is invalid"))?;
    if ctx.now - found.issued_at >= TICKET_TTL {
        return Err(WxErr::new(61005, "component ticket is expired"));
    }
    let token = st.issue_token(TokenKind::Component, None, ctx.now);
    Ok(json!({"component_access_token": token, "expires_in": TOKEN_TTL}))
}

/// `/cgi-bin/component/clear_quota/v2`.
fn clear_quota_v2(st: &mut State, ctx: &Ctx) -> WxResult {
    // api_componentclearquota_v2.html: the platform's own counts, or (with `appid`) an
    // authorized account's; the reset counts against that account's 10 a month.
    check_component_secret(ctx, "appsecret")?;
    let m = ctx.body()?;
    let account = match str_field(&m, "appid") {
        None | Some("") => COMPONENT_ACCOUNT.to_owned(),
        Some(a) if a == ctx.inner.config.component_appid => COMPONENT_ACCOUNT.to_owned(),
        Some(a) => AppId::parse(a)
            .ok()
            .filter(|a| st.accounts.contains_key(a))
            .ok_or_else(|| WxErr::new(40013, "invalid appid"))?
            .to_string(),
    };
    clear_daily_quota(st, &account, ctx.now)?;
    Ok(json!({}))
}

fn func_info_json(ids: &[u32]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({"funcscope_category": {"id": id}}))
            .collect(),
    )
}

fn authorizer_appid(st: &State, m: &Map<String, Value>) -> Result<AppId, WxErr> {
    str_field(m, "authorizer_appid")
        .and_then(|s| AppId::parse(s).ok())
        .filter(|a| st.accounts.contains_key(a))
        .ok_or_else(|| WxErr::new(40013, "invalid appid"))
}

/// `/cgi-bin/component/api_create_preauthcode`.
fn api_create_preauthcode(st: &mut State, ctx: &Ctx) -> WxResult {
    let now = ctx.now;
    ctx.component_appid(&ctx.body()?)?;
    let code = random_token("preauthcode@@@");
    st.pre_auth_codes.insert(
        code.clone(),
        PreAuthCode {
            expires_at: now + CODE_TTL,
            used: false,
        },
    );
    Ok(json!({"pre_auth_code": code, "expires_in": CODE_TTL}))
}

/// `/cgi-bin/component/api_query_auth`.
fn api_query_auth(st: &mut State, ctx: &Ctx) -> WxResult {
    let now = ctx.now;
    let m = ctx.body()?;
    ctx.component_appid(&m)?;
    let code = str_field(&m, "authorization_code").unwrap_or_default();
    let c = st
        .auth_codes
        .get_mut(code)
        .filter(|c| !c.used)
        .ok_or_else(|| WxErr::new(61009, "code is invalid"))?;
    if c.expires_at <= now {
        return Err(WxErr::new(61010, "code is expired"));
    }
    c.used = true;
    let appid = c.appid.clone();
    let auth = st
        .accounts
        .get(&appid)
        .and_then(|a| a.authorization.clone())
        .ok_or_else(|| WxErr::new(61009, "code is invalid"))?;
    let token = st.issue_token(TokenKind::Authorizer, Some(appid.clone()), now);
    Ok(json!({"authorization_info": {
        "authorizer_appid": appid.as_str(),
        "authorizer_access_token": token,
        "expires_in": TOKEN_TTL,
        "authorizer_refresh_token": auth.refresh_token,
        "func_info": func_info_json(&auth.func_info),
    }}))
}

/// `/cgi-bin/component/api_authorizer_token`.
fn api_authorizer_token(st: &mut State, ctx: &Ctx) -> WxResult {
    let now = ctx.now;
    let m = ctx.body()?;
    ctx.component_appid(&m)?;
    let invalid = || WxErr::new(61023, "refresh_token is invalid");
    let appid = str_field(&m, "authorizer_appid")
        .and_then(|s| AppId::parse(s).ok())
        .ok_or_else(|| WxErr::new(40013, "invalid appid"))?;
    let given = str_field(&m, "authorizer_refresh_token").unwrap_or_default();
    if !given.is_empty() && !st.presented_refresh_tokens.insert(given.to_owned()) {
        st.refresh_token_reuses += 1;
    }
    let rotate = ctx.inner.config.rotate_refresh_tokens;
    let refresh = {
        let auth = st
            .accounts
            .get_mut(&appid)
            .and_then(|a| a.authorization.as_mut())
            .filter(|a| !given.is_empty() && a.refresh_token == given)
            .ok_or_else(invalid)?;
        if rotate {
            auth.refresh_token = random_token("refreshtoken@@@");
        }
        auth.refresh_token.clone()
    };
    let token = st.issue_token(TokenKind::Authorizer, Some(appid), now);
    Ok(json!({
        "authorizer_access_token": token,
        "expires_in": TOKEN_TTL,
        "authorizer_refresh_token": refresh,
    }))
}

/// `/cgi-bin/component/api_get_authorizer_info`.
fn api_get_authorizer_info(st: &mut State, ctx: &Ctx) -> WxResult {
    let m = ctx.body()?;
    ctx.component_appid(&m)?;
    let appid = authorizer_appid(st, &m)?;
    let acc = &st.accounts[&appid];
    let auth = acc
        .authorization
        .as_ref()
        .ok_or_else(|| WxErr::new(61003, "component is not authorized by this account"))?;
    let mut info = json!({
        "nick_name": acc.nick_name,
        "head_img": acc.head_img,
        "service_type_info": {"id": if acc.kind == AccountKind::MiniProgram { 0 } else { 2 }},
        "verify_type_info": {"id": 0},
        "user_name": acc.user_name,
        "alias": "",
        "qrcode_url": format!("http://mmbiz.qpic.cn/mmbiz_jpg/{}/0", acc.user_name),
        "business_info": {"open_pay": 0, "open_shake": 0, "open_scan": 0, "open_card": 0, "open_store": 0},
        "idc": 1,
        "principal_name": acc.principal_name,
        "signature": acc.signature,
        // getAuthorizerInfo's current fields: the account's status (1 正常), how a mini program
        // was registered, and whether its phone and e-mail are set.
        "account_status": 1,
    });
    if acc.kind == AccountKind::MiniProgram {
        let register_type = st.setup.profile_register_type(&appid);
        info["register_type"] = json!(register_type);
        info["basic_config"] =
            json!({"is_phone_configured": true, "is_email_configured": register_type == 0});
    }
    if acc.kind == AccountKind::MiniProgram {
        let d = &acc.code.domains;
        info["MiniProgramInfo"] = json!({
            "network": {
                "RequestDomain": d.requestdomain,
                "WsRequestDomain": d.wsrequestdomain,
                "UploadDomain": d.uploaddomain,
                "DownloadDomain": d.downloaddomain,
                "BizDomain": acc.code.webviewdomain,
                "UDPDomain": d.udpdomain,
                "TCPDomain": d.tcpdomain,
            },
            "categories": acc.categories.iter()
                .map(|c| json!({"first": c.first_class, "second": c.second_class}))
                .collect::<Vec<_>>(),
            "visit_status": if acc.code.visit_open { 0 } else { 1 },
        });
    }
    Ok(json!({
        "authorizer_info": info,
        "authorization_info": {
            "authorizer_appid": appid.as_str(),
            "authorizer_refresh_token": auth.refresh_token,
            "func_info": func_info_json(&auth.func_info),
        }
    }))
}

/// `/cgi-bin/component/api_get_authorizer_list`.
fn api_get_authorizer_list(st: &mut State, ctx: &Ctx) -> WxResult {
    let m = ctx.body()?;
    ctx.component_appid(&m)?;
    let offset = u64_field(&m, "offset").unwrap_or(0) as usize;
    let count = u64_field(&m, "count").unwrap_or(100);
    if count == 0 || count > 500 {
        return Err(WxErr::new(
            47001,
            "data format error: count must be 1..=500",
        ));
    }
    let mut all: Vec<(UnixTime, &AppId, &str)> = st
        .accounts
        .values()
        .filter_map(|a| {
            a.authorization
                .as_ref()
                .map(|z| (z.auth_time, &a.appid, z.refresh_token.as_str()))
        })
        .collect();
    all.sort();
    let list: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(count as usize)
        .map(
            |(t, a, r)| json!({"authorizer_appid": a.as_str(), "refresh_token": r, "auth_time": t}),
        )
        .collect();
    Ok(json!({"total_count": all.len(), "list": list}))
}

/// `/wxa/gettemplatedraftlist`.
fn gettemplatedraftlist(st: &mut State, _ctx: &Ctx) -> WxResult {
    let list: Vec<Value> = st
        .drafts
        .values()
        .map(|d| {
            json!({
                "create_time": d.create_time, "user_version": d.user_version,
                "user_desc": d.user_desc, "draft_id": d.draft_id,
                "source_miniprogram_appid": "wx0000000000000000",
                "source_miniprogram": "模板开发小程序", "developer": "sim",
            })
        })
        .collect();
    Ok(json!({"draft_list": list}))
}

/// `/wxa/addtotemplate`.
fn addtotemplate(st: &mut State, ctx: &Ctx) -> WxResult {
    let now = ctx.now;
    let m = ctx.body()?;
    let draft_id =
        u64_field(&m, "draft_id").ok_or_else(|| WxErr::new(47001, "data format error"))?;
    let template_type = u64_field(&m, "template_type").unwrap_or(0);
    if template_type > 1 {
        return Err(WxErr::new(47001, "data format error"));
    }
    let d = st
        .drafts
        .get(&draft_id)
        .cloned()
        .ok_or_else(|| WxErr::new(85064, "template not found"))?;
    if st.templates.len() >= 200 {
        return Err(WxErr::new(85065, "template list is full"));
    }
    let id = st.templates.keys().max().map_or(1, |k| k + 1);
    st.templates.insert(
        id,
        state::Template {
            template_id: id,
            user_version: d.user_version,
            user_desc: d.user_desc,
            create_time: now,
            template_type: template_type as u8,
            pages: state::default_template_pages(),
            private_apis: Vec::new(),
        },
    );
    Ok(json!({}))
}

/// `/wxa/gettemplatelist`.
fn gettemplatelist(st: &mut State, ctx: &Ctx) -> WxResult {
    let filter = ctx
        .query
        .get("template_type")
        .and_then(|t| t.parse::<u8>().ok());
    let list: Vec<Value> = st
        .templates
        .values()
        .filter(|t| filter.is_none_or(|f| f == t.template_type))
        .map(|t| {
            json!({
                "create_time": t.create_time, "user_version": t.user_version,
                "user_desc": t.user_desc, "template_id": t.template_id,
                "template_type": t.template_type,
                "source_miniprogram_appid": "wx0000000000000000",
                "source_miniprogram": "模板开发小程序", "developer": "sim",
                "category_list": [], "audit_scene": 0, "audit_status": 0, "reason": "",
            })
        })
        .collect();
    Ok(json!({"template_list": list}))
}

/// `/cgi-bin/component/modify_wxa_jump_domain`.
fn modify_wxa_jump_domain(st: &mut State, ctx: &Ctx) -> WxResult {
    // api_modifythirdpartyjumpdomain: hosts without scheme, ';'-separated; both the
    // testing and the published lists are answered (one list here).
    let m = ctx.body()?;
    let action =
        str_field(&m, "action").ok_or_else(|| WxErr::new(47001, "data format error: action"))?;
    let given: Option<Vec<String>> = str_field(&m, "wxa_jump_h5_domain").map(|s| {
        s.split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect()
    });
    if given
        .iter()
        .flatten()
        .any(|d| d.contains("://") || d.contains('/'))
    {
        return Err(WxErr::new(47001, "data format error: wxa_jump_h5_domain"));
    }
    apply_list_action(action, &mut st.jump_domains, given)?;
    let list = st.jump_domains.join(";");
    Ok(json!({ "testing_wxa_jump_h5_domain": list, "published_wxa_jump_h5_domain": list }))
}

/// `/cgi-bin/component/modify_wxa_server_domain`.
fn modify_wxa_server_domain(st: &mut State, ctx: &Ctx) -> WxResult {
    // modify_server_domain.html: hosts without scheme, ';'-separated, up to 1000;
    // `is_modify_published_together` changes the published list too; a host that does
    // not pass validation is answered in `invalid_wxa_server_domain` (not an error).
    let m = ctx.body()?;
    let action =
        str_field(&m, "action").ok_or_else(|| WxErr::new(47001, "data format error: action"))?;
    let together = m
        .get("is_modify_published_together")
        .and_then(Value::as_bool)
        == Some(true);
    let (valid, invalid): (Vec<String>, Vec<String>) = str_field(&m, "wxa_server_domain")
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .partition(|d| is_bare_host(d));
    let given = m.contains_key("wxa_server_domain").then_some(valid);
    let (mut testing, mut published) = st.server_domains.clone().unwrap_or_default();
    apply_list_action(action, &mut testing, given.clone())?;
    if together {
        apply_list_action(action, &mut published, given)?;
    }
    if action != "get" {
        st.server_domains = Some((testing.clone(), published.clone()));
    }
    let mut v = json!({ "testing_wxa_server_domain": testing.join(";") });
    if !published.is_empty() {
        v["published_wxa_server_domain"] = json!(published.join(";"));
    }
    if !invalid.is_empty() {
        v["invalid_wxa_server_domain"] = json!(invalid.join(";"));
    }
    Ok(v)
}

/// `/cgi-bin/component/get_domain_confirmfile`.
fn get_domain_confirmfile(_st: &mut State, ctx: &Ctx) -> WxResult {
    // get_domain_confirmfile.html: the business-domain check file (no body needed).
    let name = format!("{}.txt", &ctx.inner.config.component_appid[2..12]);
    Ok(
        json!({ "file_name": name, "file_content": confirm_file_content(&ctx.inner.config.component_appid) }),
    )
}

/// `/wxa/deletetemplate`.
fn deletetemplate(st: &mut State, ctx: &Ctx) -> WxResult {
    let m = ctx.body()?;
    let id = u64_field(&m, "template_id").ok_or_else(|| WxErr::new(47001, "data format error"))?;
    st.templates
        .remove(&id)
        .map(|_| json!({}))
        .ok_or_else(|| WxErr::new(85064, "template not found"))
}

fn qrcode(inner: &Inner, query: &HashMap<String, String>, now: UnixTime) -> Result<Vec<u8>, WxErr> {
    let st = inner.lock();
    let appid = check_token(&st, query, TokenKind::Authorizer, now)?
        .ok_or_else(|| WxErr::new(40001, "invalid credential"))?;
    check_code_permission(&st, &appid)?;
    let acc = &st.accounts[&appid];
    let commit = acc
        .code
        .commit
        .as_ref()
        .ok_or_else(|| WxErr::new(86001, "no third-party code committed"))?;
    let path = query.get("path").cloned().unwrap_or_default();
    Ok(qrcode::qr_like_jpeg(&format!(
        "{appid}|{}|{path}",
        commit.user_version
    )))
}

/// Experience members per mini program. The bind_tester page names the limit (85002) but not the
/// number; this is an assumption, not a documented figure.
const TESTER_LIMIT: usize = 90;

/// set_privacy_setting.html's owner_setting contact fields, of which one at least is required.
const PRIVACY_CONTACT_FIELDS: [&str; 4] = [
    "contact_email",
    "contact_phone",
    "contact_qq",
    "contact_weixin",
];

/// The privacy keys setPrivacySetting.html lists.
const PRIVACY_KEYS: &[&str] = &[
    "UserInfo",
    "Location",
    "Address",
    "Invoice",
    "RunData",
    "Record",
    "Album",
    "Camera",
    "PhoneNumber",
    "Contact",
    "DeviceInfo",
    "EXIDNumber",
    "EXOrderInfo",
    "EXUserPublishContent",
    "EXUserFollowAcct",
    "EXUserOpLog",
    "AlbumWriteOnly",
    "LicensePlate",
    "BlueTooth",
    "CalendarWriteOnly",
    "Email",
    "MessageFile",
    "ChooseLocation",
    "Accelerometer",
    "Compass",
    "DeviceMotion",
    "Gyroscope",
    "Clipboard",
];

/// A WeChat id as WeChat lets users pick one: 6 to 20 letters, digits, `_` or `-`, starting with
/// a letter.
fn is_wechat_id(s: &str) -> bool {
    (6..=20).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The account a call without an authorizer token counts against: the platform itself.
const COMPONENT_ACCOUNT: &str = "component";

/// api_getcodeprivacyinfo.html: 61039 while the detection after a commit runs.
fn privacy_pending() -> WxErr {
    WxErr::new(61039, "隐私接口检查任务未完成,请稍等一分钟再重试")
}

fn version_json(v: &Version) -> Value {
    json!({"commit_time": v.commit_time, "user_version": v.user_version, "user_desc": v.user_desc, "app_version": v.app_version})
}

/// `/wxa/commit`.
fn commit(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let now = ctx.now;
    let m = ctx.body()?;
    let template_id =
        u64_field(&m, "template_id").ok_or_else(|| WxErr::new(85014, "template not exist"))?;
    let user_version = str_field(&m, "user_version").unwrap_or_default();
    if user_version.is_empty() || user_version.chars().count() > 64 {
        return Err(WxErr::new(47001, "data format error: user_version"));
    }
    let ext_json = match m.get("ext_json") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(WxErr::new(
                47001,
                "data format error: ext_json must be a string",
            ))
        }
    };
    // commit.html: 85048 when ext_json does not parse (as a JSON object), 85045 when a
    // path in it (pages, extPages, tabBar.list[].pagePath) is not in the template.
    let mut ext_pages: Option<Vec<String>> = None;
    let mut named: Vec<String> = Vec::new();
    let mut declared: Vec<String> = Vec::new();
    if !ext_json.is_empty() {
        let ext: Value = serde_json::from_str(&ext_json)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| WxErr::new(85048, "parse ext_json fail"))?;
        if let Some(p) = ext.get("pages").and_then(Value::as_array) {
            let p: Vec<String> = p
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect();
            named.extend(p.iter().cloned());
            if !p.is_empty() {
                ext_pages = Some(p);
            }
        }
        if let Some(o) = ext.get("extPages").and_then(Value::as_object) {
            named.extend(o.keys().cloned());
        }
        if let Some(d) = ext.get("requiredPrivateInfos").and_then(Value::as_array) {
            declared.extend(d.iter().filter_map(|x| x.as_str().map(str::to_owned)));
        }
        let tabs = ext.pointer("/tabBar/list").and_then(Value::as_array);
        for t in tabs.into_iter().flatten() {
            if let Some(p) = t.get("pagePath").and_then(Value::as_str) {
                named.push(p.to_owned());
            }
        }
    }
    // Checked last: the template library lives outside the account.
    let user_desc = str_field(&m, "user_desc").unwrap_or_default().to_owned();
    let commit = Commit {
        template_id,
        user_version: user_version.to_owned(),
        user_desc,
        ext_json,
        commit_time: now,
        pages: ext_pages.unwrap_or_default(),
        undeclared_private_apis: Vec::new(),
        private_apis: Vec::new(),
    };
    commit_code(st, appid, commit, &named, &declared)
}

/// `/wxa/get_category`.
fn get_category(st: &mut State, _ctx: &Ctx, appid: &AppId) -> WxResult {
    let acc = account(st, appid)?;
    let list: Vec<Value> = acc
        .categories
        .iter()
        .map(|c| json!({"first_class": c.first_class, "second_class": c.second_class, "first_id": c.first_id, "second_id": c.second_id}))
        .collect();
    Ok(json!({"category_list": list}))
}

/// `/wxa/get_page`.
fn get_page(st: &mut State, _ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    let c = code.commit.as_ref().ok_or_else(no_commit)?;
    Ok(json!({"page_list": c.pages}))
}

/// `/wxa/submit_audit`.
fn submit_audit(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let now = ctx.now;
    let auto = ctx
        .inner
        .config
        .audit_auto_approve_after
        .map(|d| d.as_secs() as i64);
    let quota = st.quota().clone();
    let privacy_detection = st.privacy_detection_secs;
    let privacy_required = st.privacy_applications_required;
    let next_auditid = st.next_auditid;
    let code = &mut account(st, appid)?.code;
    let m = ctx.body()?;
    // submit_audit.html: 85086 "must commit before submit audit".
    let c = code
        .commit
        .clone()
        .ok_or_else(|| WxErr::new(85086, "must commit before submit audit"))?;
    if code.audits.iter().any(|a| a.status.is_pending()) {
        return Err(WxErr::new(85009, "already submit a version under auditing"));
    }
    // getCodePrivacyInfo.html / a developer's capture: submitting while the
    // privacy-interface detection after a commit still runs answers 61039.
    if now < c.commit_time + privacy_detection {
        return Err(privacy_pending());
    }
    // api_getcodeprivacyinfo.html / submit_audit.html: code using privacy interfaces
    // ext.json does not declare is refused with 61040, unless privacy_api_not_use.
    let not_use = m.get("privacy_api_not_use").and_then(Value::as_bool) == Some(true);
    let no_auth = without_auth(code, &c, privacy_required);
    if !no_auth.is_empty() && !not_use {
        return Err(WxErr(
            61040,
            format!(
                "ext.json配置的隐私接口{}无权限,请申请权限后再提交审核",
                no_auth.join(",")
            ),
        ));
    }
    if !c.undeclared_private_apis.is_empty() && !not_use {
        return Err(WxErr(
            61040,
            format!(
                "代码中含有ext.json未配置隐私接口{},请配置并申请权限或者承诺不使用这些接口后再提交审核",
                c.undeclared_private_apis.join(",")
            ),
        ));
    }
    if m.get("item_list")
        .and_then(Value::as_array)
        .is_some_and(|l| l.len() > 5)
    {
        // submit_audit.html: 85023 "item size is not in valid range" (at most 5).
        return Err(WxErr::new(85023, "item size is not in valid range"));
    }
    if quota.rest == 0 {
        return Err(WxErr::new(85085, "submit audit reach limit"));
    }
    let auditid = next_auditid + 1;
    code.audits.push(Audit {
        auditid,
        status: AuditStatus::Auditing,
        reason: String::new(),
        screenshot: String::new(),
        user_version: c.user_version,
        user_desc: c.user_desc,
        commit_time: c.commit_time,
        submit_audit_time: now,
        sped_up: false,
        released: false,
        auto_approve_at: auto.map(|a| now + a),
    });
    st.next_auditid = auditid;
    st.quota().rest -= 1;
    Ok(json!({"auditid": auditid}))
}

/// `/wxa/get_auditstatus`.
fn get_auditstatus(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    let a = named_audit(code, ctx)?;
    let mut v = json!({"status": a.status.code()});
    match a.status {
        AuditStatus::Rejected => {
            v["reason"] = json!(a.reason);
            v["screenshot"] = json!(a.screenshot);
        }
        AuditStatus::Delayed => v["reason"] = json!(a.reason),
        _ => {}
    }
    Ok(v)
}

/// `/wxa/get_latest_auditstatus`.
fn get_latest_auditstatus(st: &mut State, _ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    // get_latest_auditstatus.html: 85058 "no valid audit_id exist" before any audit.
    let a = code
        .latest_audit()
        .ok_or_else(|| WxErr::new(85058, "no valid audit_id exist"))?;
    Ok(json!({
        "auditid": a.auditid, "status": a.status.code(), "reason": a.reason,
        "ScreenShot": a.screenshot, "user_version": a.user_version,
        "user_desc": a.user_desc, "submit_audit_time": a.submit_audit_time,
    }))
}

/// `/wxa/undocodeaudit`.
fn undocodeaudit(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let now = ctx.now;
    let code = &mut account(st, appid)?.code;
    let day = day_of(now);
    let used = if code.undo.0 == day { code.undo.1 } else { 0 };
    let month = state::month_of(now);
    let used_month = if code.undo_month.0 == month {
        code.undo_month.1
    } else {
        0
    };
    if used >= UNDO_PER_DAY || used_month >= UNDO_PER_MONTH {
        return Err(WxErr::new(87013, "no quota to undo code"));
    }
    let a = code
        .pending_audit_mut()
        .ok_or_else(|| WxErr::new(87012, "forbid revert this version release"))?;
    a.status = AuditStatus::Withdrawn;
    a.auto_approve_at = None;
    code.undo = (day, used + 1);
    code.undo_month = (month, used_month + 1);
    Ok(json!({}))
}

/// `/wxa/speedupaudit`.
fn speedupaudit(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let quota = st.quota().clone();
    let code = &mut account(st, appid)?.code;
    let a = named_audit(code, ctx)?;
    if !a.status.is_pending() {
        return Err(WxErr::new(89402, "the audit is not in the queue"));
    }
    if a.sped_up {
        return Err(WxErr::new(89404, "the audit has already been sped up"));
    }
    if quota.speedup_rest == 0 {
        return Err(WxErr::new(89405, "no speedup quota left this month"));
    }
    a.sped_up = true;
    st.quota().speedup_rest -= 1;
    Ok(json!({}))
}

/// `/wxa/release`.
fn release(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    ctx.empty_object_body()?;
    let app_version = code.next_app_version;
    let a = code
        .latest_audit_mut()
        .ok_or_else(|| WxErr::new(85019, "no audited version"))?;
    match (a.status, a.released) {
        (AuditStatus::Approved, false) => {}
        // WeChat answers "app is already released" for a version already online
        // (seen in captures; release.html lists only 85019/85020).
        (AuditStatus::Approved, true) => return Err(WxErr::new(85052, "app is already released")),
        (AuditStatus::Rejected, _) => return Err(WxErr::new(85020, "status not allowed")),
        _ => return Err(WxErr::new(85019, "no audited version")),
    }
    a.released = true;
    let v = Version {
        app_version,
        user_version: a.user_version.clone(),
        user_desc: a.user_desc.clone(),
        commit_time: a.commit_time,
        release_time: ctx.now,
        pages: code
            .commit
            .as_ref()
            .map(|c| c.pages.clone())
            .unwrap_or_default(),
    };
    code.next_app_version += 1;
    code.reverted = false;
    // The development privacy guide goes online with the release.
    if let Some(dev) = code.privacy_dev.clone() {
        code.privacy_online = Some(dev);
    }
    if let Some(old) = code.online.replace(v) {
        code.history.insert(0, old);
        code.history.truncate(HISTORY_LEN);
    }
    if let Some(g) = code.gray.as_mut() {
        if g.status == 1 {
            g.status = 3;
        }
    }
    Ok(json!({}))
}

/// `/wxa/revertcoderelease`.
fn revertcoderelease(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    // revertcoderelease.html: 87011 while a gray release runs; 87012 when there is no
    // earlier version, the version is not revertible, or the online version is itself a
    // revert (after a revert, no revert and no history until the next release).
    let cannot = || WxErr::new(87012, "forbid revert this version release");
    Ok(
        if ctx.query.get("action").map(String::as_str) == Some("get_history_version") {
            let list: Vec<Value> = if code.reverted {
                vec![]
            } else {
                code.history.iter().map(version_json).collect()
            };
            json!({"version_list": list})
        } else {
            if code.gray.as_ref().is_some_and(|g| g.status == 1) {
                return Err(WxErr::new(
                    87011,
                    "the current version is in gray release, cannot revert",
                ));
            }
            if code.reverted {
                return Err(cannot());
            }
            let idx = match ctx.query.get("app_version") {
                Some(v) => {
                    let v: u64 = v
                        .parse()
                        .map_err(|_| WxErr::new(47001, "data format error"))?;
                    code.history
                        .iter()
                        .position(|h| h.app_version == v)
                        .ok_or_else(cannot)?
                }
                None if code.history.is_empty() => return Err(cannot()),
                None => 0,
            };
            let target = code.history.remove(idx);
            code.online = Some(target);
            code.reverted = true;
            json!({})
        },
    )
}

/// `/wxa/change_visitstatus`.
fn change_visitstatus(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    let m = ctx.body()?;
    match str_field(&m, "action") {
        Some("open") => code.visit_open = true,
        Some("close") => code.visit_open = false,
        _ => {
            return Err(WxErr::new(
                47001,
                "data format error: action must be open or close",
            ))
        }
    }
    Ok(json!({}))
}

/// `/wxa/getvisitstatus`.
fn getvisitstatus(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    ctx.empty_object_body()?;
    Ok(json!({"status": if code.visit_open { 1 } else { 0 }}))
}

/// `/wxa/getversioninfo` (get_versioninfo.html): the body must be `{}` (44002 otherwise); the
/// experience version is the last commit, the release the online version.
fn getversioninfo(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    ctx.empty_object_body()?;
    let mut v = json!({});
    if let Some(c) = &code.commit {
        v["exp_info"] = json!({"exp_time": c.commit_time, "exp_version": c.user_version, "exp_desc": c.user_desc});
    }
    if let Some(o) = &code.online {
        v["release_info"] = json!({"release_time": o.release_time, "release_version": o.user_version, "release_desc": o.user_desc});
    }
    Ok(v)
}

/// `/wxa/grayrelease`.
fn grayrelease(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let now = ctx.now;
    let code = &mut account(st, appid)?.code;
    let m = ctx.body()?;
    let pct = m
        .get("gray_percentage")
        .and_then(Value::as_u64)
        .filter(|p| *p <= 100)
        .ok_or_else(|| WxErr::new(85081, "invalid gray percentage"))?;
    let exp = m
        .get("support_experiencer_first")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let dbg = m
        .get("support_debuger_first")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if pct == 0 && !exp && !dbg {
        return Err(WxErr::new(85081, "invalid gray percentage"));
    }
    if code.online.is_none() {
        return Err(WxErr::new(85079, "miniprogram has no online release"));
    }
    if !code
        .latest_audit()
        .is_some_and(|a| a.status == AuditStatus::Approved && !a.released)
    {
        return Err(WxErr::new(85080, "miniprogram commit not approved"));
    }
    if let Some(g) = code.gray.as_ref().filter(|g| g.status == 1) {
        if pct <= g.gray_percentage {
            return Err(WxErr::new(
                85082,
                "gray percentage must be higher than before",
            ));
        }
    }
    code.gray = Some(GrayPlan {
        status: 1,
        create_timestamp: now,
        gray_percentage: pct,
        support_experiencer_first: exp,
        support_debuger_first: dbg,
    });
    Ok(json!({}))
}

/// `/wxa/getgrayreleaseplan`.
fn getgrayreleaseplan(st: &mut State, _ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    let g = code.gray.clone().unwrap_or(GrayPlan {
        status: 0,
        create_timestamp: 0,
        gray_percentage: 0,
        support_experiencer_first: false,
        support_debuger_first: false,
    });
    Ok(json!({"gray_release_plan": g}))
}

/// `/wxa/revertgrayrelease`.
fn revertgrayrelease(st: &mut State, _ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    if let Some(g) = code.gray.as_mut().filter(|g| g.status == 1) {
        g.status = 4;
    }
    Ok(json!({}))
}

/// `/wxa/modify_domain`.
fn modify_domain(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let platform_servers: Option<Vec<String>> = st
        .server_domains
        .as_ref()
        .map(|(t, p)| t.iter().chain(p).cloned().collect());
    let st_refusal = st.server_domain_refusal;
    let code = &mut account(st, appid)?.code;
    // modifyServerDomain.html: once the platform registered its server domains
    // (modify_wxa_server_domain), only those hosts, with the list's scheme, may be
    // given; the others are answered in `invalid_<list>`, and when nothing given passes,
    // 85017 "no domain to modify after filtered" (the code and message as WeChat
    // answers them, per its community answers). Never registered: no check (as before).
    let m = ctx.body()?;
    let action = str_field(&m, "action").unwrap_or_default();
    let mut out = Map::new();
    let mut given_any = false;
    let mut passed_any = false;
    let mut invalid: Vec<(&str, Vec<String>)> = Vec::new();
    let mut plan: Vec<Option<Vec<String>>> = Vec::new();
    for name in DOMAIN_LISTS {
        let given = string_list(&m, name)?;
        let (ok, bad): (Vec<String>, Vec<String>) = match (&platform_servers, &given) {
            (Some(p), Some(g)) if matches!(action, "add" | "set") => g
                .iter()
                .cloned()
                .partition(|d| allowed_server_domain(name, d, p)),
            (_, g) => (g.clone().unwrap_or_default(), Vec::new()),
        };
        given_any |= !ok.is_empty() || !bad.is_empty();
        passed_any |= !ok.is_empty();
        invalid.push((name, bad));
        plan.push(given.map(|_| ok));
    }
    if platform_servers.is_some() && matches!(action, "add" | "set") && given_any && !passed_any {
        // 85017 (the older code, the default) or 85301 with the rule of domains, as captures
        // since 2021 show it (`/_sim/server_domains/refusal`).
        return Err(match st_refusal {
            Some(85301) => WxErr::new(
                85301,
                "no domain to modify after filtered, please confirm the domain has been set in miniprogram or open, and follows the rule of domains",
            ),
            _ => WxErr::new(
                85017,
                "no domain to modify after filtered, please confirm the domain has been set in miniprogram or open",
            ),
        });
    }
    for ((name, list), given) in DOMAIN_LISTS
        .into_iter()
        .zip(domain_lists(&mut code.domains))
        .zip(plan)
    {
        apply_list_action(action, list, given)?;
        out.insert(name.into(), json!(list));
    }
    if platform_servers.is_some() {
        for (name, bad) in invalid {
            out.insert(format!("invalid_{name}"), json!(bad));
        }
    }
    Ok(Value::Object(out))
}

/// `/wxa/modify_domain_directly`.
fn modify_domain_directly(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    // modifyServerDomainDirectly.html: set on the mini program itself, not limited to
    // the platform's list (the usual mini-program rules apply; not checked here).
    let m = ctx.body()?;
    let action = str_field(&m, "action").unwrap_or_default();
    for (name, list) in DOMAIN_LISTS
        .into_iter()
        .zip(domain_lists(&mut code.direct_domains))
    {
        apply_list_action(action, list, string_list(&m, name)?)?;
    }
    Ok(if action == "get" {
        domains_json(&code.direct_domains)
    } else {
        json!({})
    })
}

/// `/wxa/get_effective_domain`.
fn get_effective_domain(st: &mut State, _ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    // getEffectiveServerDomain: the lists by where they were set; `effective_domain`
    // here is the union of the third-party and the direct ones (WeChat's takes effect
    // with the next commit or release; the simulator does not wait for that).
    let mut effective = code.domains.clone();
    for (list, direct) in domain_lists(&mut effective)
        .into_iter()
        .zip(domain_lists(&mut code.direct_domains.clone()))
    {
        for d in direct.iter() {
            if !list.contains(d) {
                list.push(d.clone());
            }
        }
    }
    Ok(json!({
        "mp_domain": domains_json(&state::Domains::default()),
        "third_domain": domains_json(&code.domains),
        "direct_domain": domains_json(&code.direct_domains),
        "effective_domain": domains_json(&effective),
    }))
}

/// `/wxa/setwebviewdomain_directly`.
fn setwebviewdomain_directly(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    // modifyJumpDomainDirectly.html: the domain's check file must be in place (the
    // simulator assumes it always is); not limited to the platform's business domains.
    let m = ctx.body()?;
    let action = str_field(&m, "action").unwrap_or_default();
    apply_list_action(
        action,
        &mut code.direct_webviewdomain,
        string_list(&m, "webviewdomain")?,
    )?;
    Ok(if action == "get" {
        json!({ "webviewdomain": code.direct_webviewdomain })
    } else {
        json!({})
    })
}

/// `/wxa/setwebviewdomain`.
fn setwebviewdomain(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let jump_domains = st.jump_domains.clone();
    let code = &mut account(st, appid)?.code;
    let m = ctx.body()?;
    // api_modifyjumpdomain.html: without an action every business domain the platform
    // registered is added; a domain given must be https and the platform's (or a
    // subdomain of one), else 89021 "request domain is not open's webview domain!".
    let given = string_list(&m, "webviewdomain")?;
    let Some(action) = str_field(&m, "action") else {
        for d in &jump_domains {
            let url = format!("https://{d}");
            if !code.webviewdomain.contains(&url) {
                code.webviewdomain.push(url);
            }
        }
        return Ok(json!({"webviewdomain": code.webviewdomain}));
    };
    if matches!(action, "add" | "set") {
        let platform_s = |url: &String| {
            url.strip_prefix("https://")
                .filter(|host| !host.contains('/') && !host.contains(':'))
                .is_some_and(|host| {
                    jump_domains
                        .iter()
                        .any(|d| host == d || host.ends_with(&format!(".{d}")))
                })
        };
        if !given.iter().flatten().all(platform_s) {
            return Err(WxErr::new(
                89021,
                "request domain is not open's webview domain!",
            ));
        }
    }
    apply_list_action(action, &mut code.webviewdomain, given)?;
    Ok(json!({"webviewdomain": code.webviewdomain}))
}

/// `/wxa/bind_tester`.
fn bind_tester(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    // api_bindtester.html: 85001 no such (or unsearchable) WeChat id, 85002 the mini
    // program's member limit, 85004 already bound.
    let m = ctx.body()?;
    let wechatid = str_field(&m, "wechatid").unwrap_or_default().to_owned();
    if !is_wechat_id(&wechatid) {
        return Err(WxErr::new(
            85001,
            "user not exist or user cannot be searched",
        ));
    }
    if code.testers.iter().any(|(w, _)| *w == wechatid) {
        return Err(WxErr::new(85004, "user already bind"));
    }
    if code.testers.len() >= TESTER_LIMIT {
        return Err(WxErr::new(85002, "number of tester reach bind limit"));
    }
    let userstr = state::random_lower_alnum(32);
    code.testers.push((wechatid, userstr.clone()));
    Ok(json!({ "userstr": userstr }))
}

/// `/wxa/unbind_tester`.
fn unbind_tester(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    // unbind_tester.html: wechatid or userstr; a name that is not bound answers -1 (as
    // reported for a member whose WeChat id changed; the page lists no code for it).
    let m = ctx.body()?;
    let wechatid = str_field(&m, "wechatid");
    let userstr = str_field(&m, "userstr");
    if wechatid.is_none() && userstr.is_none() {
        return Err(WxErr::new(47001, "data format error: wechatid or userstr"));
    }
    let before = code.testers.len();
    code.testers
        .retain(|(w, u)| Some(w.as_str()) != wechatid && Some(u.as_str()) != userstr);
    if code.testers.len() == before {
        return Err(WxErr::new(-1, "system error"));
    }
    Ok(json!({}))
}

/// `/wxa/memberauth`.
fn memberauth(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    let m = ctx.body()?;
    if str_field(&m, "action") != Some("get_experiencer") {
        return Err(WxErr::new(47001, "data format error: action"));
    }
    let members: Vec<Value> = code
        .testers
        .iter()
        .map(|(_, u)| json!({ "userstr": u }))
        .collect();
    Ok(json!({ "members": members }))
}

/// `/cgi-bin/component/setprivacysetting`.
fn setprivacysetting(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let now = ctx.now;
    let code = &mut account(st, appid)?.code;
    // setPrivacySetting.html: privacy_ver 1 (online) or 2 (development, the default);
    // owner_setting with notice_method is required; a development guide goes online with
    // the next release.
    let m = ctx.body()?;
    let ver = u64_field(&m, "privacy_ver").unwrap_or(2);
    let owner = m.get("owner_setting").and_then(Value::as_object);
    let notice = owner
        .and_then(|o| o.get("notice_method"))
        .and_then(Value::as_str);
    if !(1..=2).contains(&ver) || notice.is_none_or(str::is_empty) {
        return Err(WxErr::new(
            47001,
            "data format error: owner_setting.notice_method",
        ));
    }
    // set_privacy_setting.html's owner_setting: at least one way to reach the developer
    // (captured answers: 86069).
    let has_contact = PRIVACY_CONTACT_FIELDS.iter().any(|f| {
        owner
            .and_then(|o| o.get(*f))
            .and_then(Value::as_str)
            .is_some_and(|v| !v.trim().is_empty())
    });
    if !has_contact {
        return Err(WxErr::new(
            86069,
            "owner_setting: at least one of contact_email, contact_phone, contact_qq, contact_weixin is required",
        ));
    }
    // set_privacy_setting.html note 5: privacy_ver=1 edits the online guide, which must
    // exist (86074); only its owner_setting changes, the setting_list stays.
    if ver == 1 && code.privacy_online.is_none() {
        return Err(WxErr::new(86074, "no online privacy setting"));
    }
    for item in m
        .get("setting_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = item
            .get("privacy_key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let text = item
            .get("privacy_text")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !PRIVACY_KEYS.contains(&key) || text.is_empty() {
            return Err(WxErr::new(47001, "data format error: setting_list"));
        }
    }
    let guide = json!({
        "owner_setting": m.get("owner_setting"),
        "setting_list": m.get("setting_list").cloned().unwrap_or(json!([])),
    });
    if let (1, Some((online, _))) = (ver, code.privacy_online.as_ref()) {
        let kept = online.get("setting_list").cloned().unwrap_or(json!([]));
        let guide = json!({ "owner_setting": m.get("owner_setting"), "setting_list": kept });
        code.privacy_online = Some((guide, now));
    } else {
        code.privacy_dev = Some((guide, now));
    }
    Ok(json!({}))
}

/// `/cgi-bin/component/getprivacysetting`.
fn getprivacysetting(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    let m = ctx.body()?;
    let ver = u64_field(&m, "privacy_ver").unwrap_or(2);
    let guide = if ver == 1 {
        &code.privacy_online
    } else {
        &code.privacy_dev
    };
    let (g, at) = guide.clone().unwrap_or((json!({}), 0));
    Ok(json!({
        "code_exist": i64::from(code.commit.is_some()),
        "privacy_list": [],
        "setting_list": g.get("setting_list").cloned().unwrap_or(json!([])),
        "update_time": at,
        "owner_setting": g.get("owner_setting").cloned().unwrap_or(json!({})),
        "privacy_desc": { "privacy_desc_list": PRIVACY_KEYS.iter().map(|k| json!({ "privacy_key": k, "privacy_desc": k })).collect::<Vec<_>>() },
    }))
}

/// `/wxa/security/apply_privacy_interface`.
fn apply_privacy_interface(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let now = ctx.now;
    let next_privacy_audit_id = st.next_privacy_audit_id;
    let code = &mut account(st, appid)?.code;
    // apply_privacy_interface.html: `api_name` (case-sensitive, one of the list),
    // `content` (at most 300 characters), optional url_list, pic_list (at most 10),
    // video_list; answers `audit_id`. The page lists no specific errcodes: a bad request
    // is the generic 47001.
    let m = ctx.body()?;
    let api = str_field(&m, "api_name").unwrap_or_default();
    let content = str_field(&m, "content").unwrap_or_default();
    if !PRIVACY_INTERFACES.iter().any(|(n, _)| *n == api) {
        return Err(WxErr::new(47001, "data format error: api_name"));
    }
    if content.is_empty() || content.chars().count() > 300 {
        return Err(WxErr::new(47001, "data format error: content"));
    }
    for k in ["url_list", "pic_list", "video_list"] {
        string_list(&m, k)?;
    }
    if string_list(&m, "pic_list")?.is_some_and(|l| l.len() > 10) {
        return Err(WxErr::new(47001, "data format error: pic_list"));
    }
    let audit_id = next_privacy_audit_id + 1;
    code.privacy_applications.insert(
        api.to_owned(),
        state::PrivacyApplication {
            status: 3,
            audit_id,
            apply_time: now,
            fail_reason: String::new(),
            content: content.to_owned(),
        },
    );
    st.next_privacy_audit_id = audit_id;
    Ok(json!({ "audit_id": audit_id }))
}

/// `/wxa/security/get_privacy_interface`.
fn get_privacy_interface(st: &mut State, _ctx: &Ctx, appid: &AppId) -> WxResult {
    let privacy_required = st.privacy_applications_required;
    let code = &mut account(st, appid)?.code;
    // get_privacy_interface.html: status 1 待申请开通, 3 申请中, 4 申请失败, 5 已开通;
    // apply_time/audit_id once applied, fail_reason when rejected. Without required
    // applications every interface is open (5).
    let list: Vec<Value> = PRIVACY_INTERFACES
        .iter()
        .map(|(name, ch)| {
            let mut v = json!({
                "api_name": name, "api_ch_name": ch, "api_desc": ch,
                "api_link": format!("https://developers.weixin.qq.com/miniprogram/dev/api/location/{}.html", name),
                "group_name": "地理位置",
            });
            match code.privacy_applications.get(*name) {
                Some(a) => {
                    v["status"] = json!(a.status);
                    v["apply_time"] = json!(a.apply_time);
                    v["audit_id"] = json!(a.audit_id);
                    if a.status == 4 {
                        v["fail_reason"] = json!(a.fail_reason);
                    }
                }
                None => v["status"] = json!(if privacy_required { 1 } else { 5 }),
            }
            v
        })
        .collect();
    Ok(json!({ "interface_list": list }))
}

/// `/wxa/uploadmedia`.
fn uploadmedia(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let code = &mut account(st, appid)?.code;
    // api_uploadmediatocodeaudit: multipart field `media`, an image (PNG, JPEG, GIF; at
    // most 2 MB) or an MP4 video (at most 10 MB); answers `type` and `mediaid`. Another
    // format 40005, too large 40006 (the page's codes); no media part 41005 (global).
    let media = ctx
        .form
        .and_then(|f| f.part("media"))
        .filter(|p| !p.data.is_empty())
        .ok_or_else(|| WxErr::new(41005, "media data missing"))?;
    let (kind, limit) = match media.content_type.as_deref().unwrap_or_default() {
        "image/png" | "image/jpeg" | "image/jpg" | "image/gif" => ("image", 2 << 20),
        "video/mp4" => ("video", 10 << 20),
        _ => return Err(WxErr::new(40005, "invalid file type")),
    };
    if media.data.len() > limit {
        return Err(WxErr::new(40006, "invalid meida size"));
    }
    let mediaid = state::random_alnum(64);
    code.media
        .insert(mediaid.clone(), (kind.to_owned(), media.data.len()));
    Ok(json!({ "type": kind, "mediaid": mediaid }))
}

/// `/wxa/security/get_code_privacy_info`.
fn get_code_privacy_info(st: &mut State, ctx: &Ctx, appid: &AppId) -> WxResult {
    let now = ctx.now;
    let privacy_detection = st.privacy_detection_secs;
    let privacy_required = st.privacy_applications_required;
    let code = &mut account(st, appid)?.code;
    let c = code.commit.as_ref().ok_or_else(no_commit)?;
    if now < c.commit_time + privacy_detection {
        return Err(privacy_pending());
    }
    Ok(json!({
        "without_auth_list": without_auth(code, c, privacy_required),
        "without_conf_list": c.undeclared_private_apis,
    }))
}

/// `/wxa/queryquota`.
fn queryquota(st: &mut State, _ctx: &Ctx, _appid: &AppId) -> WxResult {
    let quota = st.quota().clone();
    Ok(json!({
        "rest": quota.rest, "limit": quota.limit,
        "speedup_rest": quota.speedup_rest, "speedup_limit": quota.speedup_limit,
    }))
}

fn commit_code(
    st: &mut State,
    appid: &AppId,
    mut commit: Commit,
    named: &[String],
    declared: &[String],
) -> WxResult {
    let Some(template) = st.templates.get(&commit.template_id) else {
        return Err(WxErr::new(85014, "template not exist"));
    };
    if named.iter().any(|p| {
        !template
            .pages
            .iter()
            .any(|t| t == p.trim_start_matches('/'))
    }) {
        return Err(WxErr::new(85045, "some path in ext_json not exist"));
    }
    if commit.pages.is_empty() {
        commit.pages = template.pages.clone();
    }
    commit.private_apis = template.private_apis.clone();
    commit.undeclared_private_apis = template
        .private_apis
        .iter()
        .filter(|api| !declared.iter().any(|d| d == api.trim_start_matches("wx.")))
        .cloned()
        .collect();
    if let Some(acc) = st.accounts.get_mut(appid) {
        acc.code.commit = Some(commit);
    }
    Ok(json!({}))
}

/// A host as modify_wxa_server_domain wants it: no scheme, no path, no port, a dot, letters,
/// digits, `-` and `.` only.
fn is_bare_host(d: &str) -> bool {
    d.contains('.')
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The (simulated) content of the platform's domain check file: stable per platform.
fn confirm_file_content(component_appid: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    component_appid.hash(&mut h);
    format!("{:016x}{:016x}", h.finish(), h.finish().rotate_left(17))
}

/// The scheme each modify_domain list needs (modifyServerDomain.html: request, upload and
/// download domains are https, socket domains wss; udp and tcp domains are checked by host only).
fn domain_scheme(list: &str) -> Option<&'static str> {
    match list {
        "requestdomain" | "uploaddomain" | "downloaddomain" => Some("https://"),
        "wsrequestdomain" => Some("wss://"),
        _ => None,
    }
}

/// Whether a modify_domain entry may be given once the platform registered `platform`: the
/// list's scheme, then a host (a port allowed) among the platform's server domains.
fn allowed_server_domain(list: &str, d: &str, platform: &[String]) -> bool {
    let rest = match domain_scheme(list) {
        Some(scheme) => match d.strip_prefix(scheme) {
            Some(r) => r,
            None => return false,
        },
        None => d.split_once("://").map_or(d, |(_, r)| r),
    };
    if rest.contains('/') {
        return false;
    }
    let host = rest.split(':').next().unwrap_or_default();
    platform.iter().any(|p| p == host)
}

/// The six lists of a modify_domain body, answer or state, in WeChat's order.
const DOMAIN_LISTS: [&str; 6] = [
    "requestdomain",
    "wsrequestdomain",
    "uploaddomain",
    "downloaddomain",
    "udpdomain",
    "tcpdomain",
];

fn domain_lists(d: &mut state::Domains) -> [&mut Vec<String>; 6] {
    [
        &mut d.requestdomain,
        &mut d.wsrequestdomain,
        &mut d.uploaddomain,
        &mut d.downloaddomain,
        &mut d.udpdomain,
        &mut d.tcpdomain,
    ]
}

fn domains_json(d: &state::Domains) -> Value {
    json!({
        "requestdomain": d.requestdomain, "wsrequestdomain": d.wsrequestdomain,
        "uploaddomain": d.uploaddomain, "downloaddomain": d.downloaddomain,
        "udpdomain": d.udpdomain, "tcpdomain": d.tcpdomain,
    })
}

/// The privacy interfaces that need an application before use (get_privacy_interface.html's
/// list, the location interfaces): (api_name, api_ch_name, group_name).
const PRIVACY_INTERFACES: &[(&str, &str)] = &[
    ("wx.chooseAddress", "获取用户收货地址"),
    (
        "wx.choosePoi",
        "选择位置,支持模糊定位(精确到市)和精确定位混选",
    ),
    ("wx.chooseLocation", "打开地图选择位置"),
    ("wx.getLocation", "获取当前的地理位置、速度"),
    ("wx.getFuzzyLocation", "获取模糊地理位置"),
    ("wx.onLocationChange", "监听实时地理位置变化事件"),
    ("wx.startLocationUpdate", "开启小程序进入前台时接收位置消息"),
    (
        "wx.startLocationUpdateBackground",
        "开启小程序进入前后台时均接收位置消息",
    ),
];

/// The interfaces the code uses without an approved application (`without_auth_list`): none
/// unless applications are required.
fn without_auth(code: &state::CodeState, commit: &Commit, required: bool) -> Vec<String> {
    if !required {
        return Vec::new();
    }
    commit
        .private_apis
        .iter()
        .filter(|api| PRIVACY_INTERFACES.iter().any(|(n, _)| n == api))
        .filter(|api| {
            code.privacy_applications
                .get(*api)
                .is_none_or(|a| a.status != 5)
        })
        .cloned()
        .collect()
}

/// getUnlimitedQRCode (`/wxa/getwxacodeunlimit`): `scene` at most 32 visible characters (40169);
/// with `check_path` (the default) `page` must be a page of the released version (41030); the
/// answer is a PNG (the simulator's QR-looking image, [`qrcode::qr_like_png`]).
fn wxacode_unlimit(ctx: &Ctx) -> Result<Vec<u8>, WxErr> {
    let st = ctx.inner.lock();
    let appid = check_token(&st, ctx.query, TokenKind::Authorizer, ctx.now)?
        .ok_or_else(|| WxErr::new(40001, "invalid credential"))?;
    check_code_permission(&st, &appid)?;
    let m = ctx.body()?;
    let scene = str_field(&m, "scene").unwrap_or_default();
    if scene.is_empty() || scene.chars().count() > 32 {
        return Err(WxErr::new(
            40169,
            "invalid length for scene, or the data is not json string",
        ));
    }
    let page = str_field(&m, "page").unwrap_or_default();
    let check_path = m.get("check_path").and_then(Value::as_bool).unwrap_or(true);
    let env = str_field(&m, "env_version").unwrap_or("release");
    if !matches!(env, "release" | "trial" | "develop") {
        return Err(WxErr::new(47001, "data format error: env_version"));
    }
    if check_path {
        let online = st.accounts[&appid].code.online.as_ref();
        let ok = online.is_some_and(|v| page.is_empty() || v.pages.iter().any(|p| p == page));
        if !ok {
            return Err(WxErr::new(41030, "invalid page rid"));
        }
    }
    let style = code_style(&m)?;
    Ok(qrcode::qr_like_png_styled(
        &format!("{appid}|{env}|{page}|{scene}"),
        style,
    ))
}

/// The line colour and background asked for (getwxacodeunlimit, getwxacode): `line_color`
/// `{"r","g","b"}` (numbers or decimal strings, as the page's example) unless `auto_color`.
fn code_style(m: &Map<String, Value>) -> Result<qrcode::CodeStyle, WxErr> {
    let auto = m
        .get("auto_color")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let line = match m.get("line_color") {
        Some(c) if !auto => {
            let part = |k: &str| {
                u64_field(c.as_object().ok_or_else(bad_line)?, k)
                    .and_then(|v| u8::try_from(v).ok())
                    .ok_or_else(bad_line)
            };
            Some((part("r")?, part("g")?, part("b")?))
        }
        _ => None,
    };
    let hyaline = m
        .get("is_hyaline")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(qrcode::CodeStyle { line, hyaline })
}

fn bad_line() -> WxErr {
    WxErr::new(47001, "data format error: line_color")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitedKind {
    Code,
    QrCode,
}

/// getQRCode (`/wxa/getwxacode`: `path` at most 1024 characters, `env_version`, `width`,
/// colours) and createQRCode (`/cgi-bin/wxaapp/createwxaqrcode`: `path` at most 128 characters,
/// `width`): an empty or long path 40159, a width outside 280..=1280 40189, a bad env_version
/// 40097; only for a released mini program (41030 for a page it does not have); 45029 once the
/// app has made [`crate::services::LIMITED_CODES`] of the two together (a path asked again is
/// the same code). getwxacode answers a PNG, createwxaqrcode a JPEG.
/// <https://developers.weixin.qq.com/minigame/dev/api-backend/open-api/qr-code/wxacode.get.html>,
/// <https://developers.weixin.qq.com/miniprogram/dev/server/API/qrcode-link/qr-code/api_createqrcode.html>
fn limited_code(ctx: &Ctx, kind: LimitedKind) -> Result<Vec<u8>, WxErr> {
    let mut st = ctx.inner.lock();
    let appid = check_token(&st, ctx.query, TokenKind::Authorizer, ctx.now)?
        .ok_or_else(|| WxErr::new(40001, "invalid credential"))?;
    check_code_permission(&st, &appid)?;
    let m = ctx.body()?;
    let path = str_field(&m, "path").unwrap_or_default();
    let max = match kind {
        LimitedKind::Code => 1024,
        LimitedKind::QrCode => 128,
    };
    let n = path.chars().count();
    if n == 0 || n > max {
        return Err(WxErr::new(
            40159,
            "invalid length for path, or the data is not json string",
        ));
    }
    if m.get("width").is_some() {
        let w = u64_field(&m, "width").unwrap_or(0);
        if !(280..=1280).contains(&w) {
            return Err(WxErr::new(40189, "invalid length for width"));
        }
    }
    let env = match kind {
        LimitedKind::Code => str_field(&m, "env_version").unwrap_or("release"),
        LimitedKind::QrCode => "release",
    };
    if !matches!(env, "release" | "trial" | "develop") {
        return Err(WxErr::new(40097, "invalid args: env_version"));
    }
    let style = match kind {
        LimitedKind::Code => code_style(&m)?,
        LimitedKind::QrCode => qrcode::CodeStyle::default(),
    };
    if env == "release" {
        let page = path.split('?').next().unwrap_or_default();
        let online = st.accounts[&appid].code.online.as_ref();
        if !online.is_some_and(|v| page.is_empty() || v.pages.iter().any(|p| p == page)) {
            return Err(WxErr::new(41030, "invalid page rid"));
        }
    }
    let limit = st
        .services
        .limited_code_limit
        .unwrap_or(crate::services::LIMITED_CODES);
    let made = st.services.limited_codes.entry(appid.clone()).or_default();
    let key = format!("{kind:?}|{env}|{path}");
    if !made.contains(&key) {
        if made.len() >= limit {
            return Err(WxErr::new(45029, "qrcode count out of limit"));
        }
        made.insert(key);
    }
    let seed = format!("{appid}|{env}|{path}");
    Ok(match kind {
        LimitedKind::Code => qrcode::qr_like_png_styled(&seed, style),
        LimitedKind::QrCode => qrcode::qr_like_jpeg(&seed),
    })
}

/// `/cgi-bin/clear_quota`.
fn clear_quota(st: &mut State, ctx: &Ctx, appid: Option<AppId>) -> WxResult {
    let account = account_key(appid.as_ref());
    let m = ctx.body()?;
    // clear_quota.html: `appid` must be the token's own account (40013 otherwise); the
    // account's daily counts go back to zero, one of its 10 monthly resets spent (48006).
    let own = appid.map_or_else(
        || ctx.inner.config.component_appid.to_string(),
        |a| a.to_string(),
    );
    match str_field(&m, "appid") {
        None | Some("") => return Err(WxErr::new(41002, "appid missing")),
        Some(a) if a != own => return Err(WxErr::new(40013, "invalid appid")),
        Some(_) => {}
    }
    clear_daily_quota(st, &account, ctx.now)?;
    Ok(json!({}))
}

/// `/cgi-bin/openapi/quota/get`.
fn quota_get(st: &mut State, ctx: &Ctx, appid: Option<AppId>) -> WxResult {
    let account = account_key(appid.as_ref());
    let m = ctx.body()?;
    // getApiQuota (offiaccount/openApi/get_api_quota.html): `cgi_path` without the host;
    // 76021 for a path not found; 76022 when the token is not of the account the API
    // belongs to (a component API asked with an authorizer token or the reverse).
    let cgi_path = str_field(&m, "cgi_path").unwrap_or_default();
    let Some(route) = find_route(cgi_path) else {
        return Err(WxErr::new(76021, "cgi_path not found, please check"));
    };
    let mismatch = match route.auth {
        Auth::Authorizer => account == COMPONENT_ACCOUNT,
        Auth::Component | Auth::None => account != COMPONENT_ACCOUNT,
        Auth::Any => false,
    };
    if mismatch {
        return Err(WxErr::new(
            76022,
            "could not use this cgi_path, no permission",
        ));
    }
    let used = st
        .daily_calls
        .get(&(cgi_path.to_owned(), account, day_of(ctx.now)))
        .copied()
        .unwrap_or(0);
    let limit = st
        .daily_quotas
        .get(cgi_path)
        .copied()
        .unwrap_or(DEFAULT_DAILY_LIMIT);
    Ok(
        json!({ "quota": { "daily_limit": limit, "used": used, "remain": limit.saturating_sub(used) } }),
    )
}

/// `/cgi-bin/openapi/rid/get`.
fn rid_get(st: &mut State, ctx: &Ctx, appid: Option<AppId>) -> WxResult {
    let account = account_key(appid.as_ref());
    let m = ctx.body()?;
    // getRidInfo (openApi/get_rid_info.html): 76002 for an empty or malformed rid, 76001
    // for one unknown or older than 7 days, 76003 for another account's.
    let rid = str_field(&m, "rid").unwrap_or_default();
    if !is_wechat_rid(rid) {
        return Err(WxErr::new(76002, "rid is error"));
    }
    let r = st
        .rids
        .get(rid)
        .filter(|r| ctx.now - r.invoke_time < RID_TTL)
        .ok_or_else(|| WxErr::new(76001, "rid not found"))?;
    if r.account != account {
        return Err(WxErr::new(76003, "could not query this rid,no permission"));
    }
    Ok(json!({ "request": {
        "invoke_time": r.invoke_time, "cost_in_ms": r.cost_in_ms,
        "request_url": r.request_url, "request_body": r.request_body,
        "response_body": r.response_body, "client_ip": r.client_ip,
    } }))
}

/// Spends one of `account`'s monthly resets (clear_quota.html: 10 a month per account, shared by
/// clear_quota and clear_quota/v2, then 48006) and zeroes its daily call counts.
fn clear_daily_quota(st: &mut State, account: &str, now: UnixTime) -> Result<(), WxErr> {
    let month = state::month_of(now);
    let used = match st.quota_resets.get(account) {
        Some(&(m, n)) if m == month => n,
        _ => 0,
    };
    if used >= QUOTA_RESETS_PER_MONTH {
        return Err(WxErr::new(
            48006,
            "forbid to clear quota because of reaching the limit",
        ));
    }
    st.quota_resets
        .insert(account.to_owned(), (month, used + 1));
    st.daily_calls.retain(|(_, a, _), _| a != account);
    Ok(())
}

/// What quota/get reports as `daily_limit` for an API without a quota set
/// (`set_daily_quota`): the simulator's assumption, not a WeChat figure.
const DEFAULT_DAILY_LIMIT: u64 = 1_000_000;
/// Whether `rid` has the form of WeChat's (`64dc7e85-258c9211-2604fd01`).
fn is_wechat_rid(rid: &str) -> bool {
    let groups: Vec<&str> = rid.split('-').collect();
    groups.len() == 3
        && groups
            .iter()
            .all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// getRidInfo: a rid can be looked up for 7 days.
const RID_TTL: i64 = 7 * 86400;
/// The most failed requests kept for rid/get (bounds a long-running simulator's memory).
const MAX_RIDS: usize = 50_000;

fn string_list(m: &Map<String, Value>, k: &str) -> Result<Option<Vec<String>>, WxErr> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| WxErr::new(47001, "data format error"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(WxErr::new(47001, "data format error")),
    }
}

fn apply_list_action(
    action: &str,
    list: &mut Vec<String>,
    given: Option<Vec<String>>,
) -> Result<(), WxErr> {
    match action {
        "get" => {}
        "add" => {
            for d in given.unwrap_or_default() {
                if !list.contains(&d) {
                    list.push(d);
                }
            }
        }
        "delete" => {
            let given = given.unwrap_or_default();
            list.retain(|d| !given.contains(d));
        }
        "set" => *list = given.unwrap_or_default(),
        _ => return Err(WxErr::new(47001, "data format error: action")),
    }
    Ok(())
}

/// Used by the consent page: a pre_auth_code is usable once and for 600 s.
pub fn take_pre_auth_code(
    st: &mut State,
    code: &str,
    now: UnixTime,
    consume: bool,
) -> Result<(), String> {
    let p = st
        .pre_auth_codes
        .get_mut(code)
        .ok_or_else(|| "unknown pre_auth_code".to_owned())?;
    if p.used {
        return Err("this pre_auth_code has already been used".into());
    }
    if p.expires_at <= now {
        return Err("this pre_auth_code has expired".into());
    }
    if consume {
        p.used = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wxopen::wechat::endpoint::{Token, Verb, ENDPOINTS};

    /// The simulator's paths that are not WeChat API calls, by an explicit list: its control API
    /// (`/_sim/…`) and WeChat's consent pages.
    fn not_an_api_call(path: &str) -> bool {
        path.starts_with("/_sim/") || crate::control::CONSENT_PAGES.contains(&path)
    }

    fn method_of(verb: Verb) -> RouteMethod {
        match verb {
            Verb::Get => RouteMethod::Get,
            Verb::Post | Verb::Multipart => RouteMethod::Post,
        }
    }

    /// Whether a route taking `auth` accepts the token the client sends.
    fn accepts(auth: Auth, token: Token) -> bool {
        match token {
            Token::None => auth == Auth::None,
            Token::Component | Token::ComponentAsAccessToken => {
                matches!(auth, Auth::Component | Auth::Any)
            }
            Token::Authorizer => matches!(auth, Auth::Authorizer | Auth::Any),
        }
    }

    #[test]
    fn the_routes_are_the_clients_endpoints() {
        for e in ENDPOINTS {
            let r = find_route(e.path)
                .unwrap_or_else(|| panic!("{} ({}) is not routed", e.path, e.name));
            assert_eq!(r.method, method_of(e.verb), "{}: {}", e.name, e.path);
            assert!(
                accepts(r.auth, e.token),
                "{}: the route takes {:?}, the client sends {:?}",
                e.name,
                r.auth,
                e.token
            );
        }
        for r in ROUTES {
            assert!(
                ENDPOINTS.iter().any(|e| e.path == r.path),
                "{} is routed but the client declares no endpoint for it",
                r.path
            );
        }
        for page in crate::control::CONSENT_PAGES {
            assert!(not_an_api_call(page));
            assert!(ENDPOINTS.iter().all(|e| e.path != page), "{page}");
        }
        assert!(ROUTES.iter().all(|r| !not_an_api_call(r.path)));
    }

    #[test]
    fn each_path_is_routed_once_with_the_handler_its_token_calls_for() {
        let mut paths: Vec<_> = ROUTES.iter().map(|r| r.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ROUTES.len(), "a path routed twice");
        for r in ROUTES {
            let fits = match r.handler {
                Handler::Platform(_) => matches!(r.auth, Auth::None | Auth::Component),
                Handler::Account(_) => r.auth == Auth::Authorizer,
                Handler::Either(_) => r.auth == Auth::Any,
                Handler::Raw(_) => true,
            };
            assert!(fits, "{}: {:?} with the wrong handler", r.path, r.auth);
        }
    }
}
