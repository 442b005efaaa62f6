//! `/ops/apps/{appid}/…`: one mini program. The [`AuthorizedApp`] extractor answers 404 for an
//! unknown app and 409 for one not authorized; the code lifecycle's rules and records are
//! [`ops::code`]'s; the settings beside the code (visit status, gray release, domains, testers,
//! privacy) are one WeChat call each, recorded in the app's activity.

use super::error::ApiError;
use super::routes::declare_routes;
use super::{
    listing, views, Acting, ApiResult, AuthorizedApp, JsonBody, KnownApp, OpsQuery, Paged, S,
};
use crate::ops::{self, code, OpsError};
use crate::Deps;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wxopen::domain::AuditId;
use wxopen::lifecycle::{Action, Stage};
use wxopen::store::{Activity, AuthorizerStatus};
use wxopen::wechat::endpoint::AuthorizerEndpoint;
use wxopen::wechat::wxa::{
    BindTester, ChangeVisitstatus, DomainAction, GetCategory, GetExperiencer, GetGrayReleasePlan,
    GetHistoryVersion, GetPage, GetPrivacySetting, GetQrcode, GetVersionInfo, GetVisitstatus,
    GrayRelease, ModifyDomain, RevertCodeRelease, RevertGrayRelease, ServerDomains,
    SetPrivacySetting, SetWebviewDomain, SubmitAudit, UnbindTester, VisitAction, WebviewDomains,
    PRIVACY_DEVELOPMENT, PRIVACY_ONLINE,
};

declare_routes! {
    RULES, routes;
    GET "/ops/apps/{appid}" => show: Viewer, ONE;
    POST "/ops/apps/{appid}/commit" => commit: Op, ONE;
    GET "/ops/apps/{appid}/qrcode" => qrcode: Viewer, ONE;
    GET "/ops/apps/{appid}/categories" => categories: Viewer, ONE;
    GET "/ops/apps/{appid}/pages" => pages: Viewer, ONE;
    GET "/ops/apps/{appid}/audits" => list_audits: Viewer, ONE;
    POST "/ops/apps/{appid}/audits" => submit: Op, ONE;
    GET "/ops/apps/{appid}/audits/latest" => latest: Viewer, ONE;
    POST "/ops/apps/{appid}/audits/latest/undo" => undo: Op, ONE;
    POST "/ops/apps/{appid}/audits/latest/speedup" => speedup: Op, ONE;
    GET "/ops/apps/{appid}/audits/{auditid}" => show_audit: Viewer, ONE;
    POST "/ops/apps/{appid}/release" => release: Op, ONE;
    GET "/ops/apps/{appid}/versions" => versions: Viewer, ONE;
    POST "/ops/apps/{appid}/revert" => revert: Admin, ONE;
    GET "/ops/apps/{appid}/visit-status" => visit_status: Viewer, ONE;
    PUT "/ops/apps/{appid}/visit-status" => set_visit_status: Admin, ONE;
    GET "/ops/apps/{appid}/gray-release" => gray_release: Viewer, ONE;
    PUT "/ops/apps/{appid}/gray-release" => start_gray_release: Admin, ONE;
    DELETE "/ops/apps/{appid}/gray-release" => revert_gray_release: Admin, ONE;
    GET "/ops/apps/{appid}/domains" => domains::<ServerDomains>: Viewer, ONE;
    PUT "/ops/apps/{appid}/domains" => set_domains: Op, ONE;
    GET "/ops/apps/{appid}/webview-domains" => domains::<WebviewDomains>: Viewer, ONE;
    PUT "/ops/apps/{appid}/webview-domains" => set_webview_domains: Op, ONE;
    GET "/ops/apps/{appid}/testers" => testers: Viewer, ONE;
    POST "/ops/apps/{appid}/testers" => bind_tester: Op, ONE;
    DELETE "/ops/apps/{appid}/testers" => unbind_tester: Op, ONE;
    GET "/ops/apps/{appid}/privacy" => privacy: Viewer, ONE;
    PUT "/ops/apps/{appid}/privacy" => set_privacy: Op, ONE;
    GET "/ops/apps/{appid}/activity" => activity: Viewer, ONE;
}

/// One read from WeChat about the app, answered as `{key: what WeChat said}`.
fn shown<T: Serialize>(key: &'static str, got: T) -> ApiResult {
    Ok(Json(Value::Object(
        [(key.to_owned(), json!(got))].into_iter().collect(),
    )))
}

/// Records a setting the operator changed, with its details.
async fn note(deps: &Deps, by: &Acting, action: Action, details: Value) {
    let set = |x: &mut Activity| x.details = details;
    deps.record(&by.op.label, &by.app.appid, action, set).await;
}

async fn show(State(deps): S, KnownApp(a): KnownApp) -> ApiResult {
    let a = ops::app::with_complete_profile(&deps, a).await;
    let appid = a.appid.clone();
    let token = views::token_health(deps.store.as_ref(), &appid).await?;
    let mut v = views::authorizer(&a, token, false);
    // One read of each: the latest audit, the last commit and the stage all come from them.
    let latest = deps.store.latest_audit(&appid).await?;
    let recent = ops::app::recent_activity(deps.store.as_ref(), &appid).await?;
    v["latest_audit"] = json!(latest.as_ref().map(views::audit));
    v["last_commit"] = json!(recent.iter().find(|a| a.is(Action::Commit)));
    v["lifecycle"] = json!(Stage::fold(&recent, latest.as_ref()));
    v["pending_batches"] = json!(ops::batches::pending_for(deps.store.as_ref(), &appid).await?);
    let penalties = deps.store.list_penalties(&appid).await?;
    v["penalties"] = json!(ops::violations::summary(&penalties));
    // The filing stage beside the code stage, as stored (GET .../filing asks WeChat when never
    // checked): an operator sees a release coming that the filing will refuse.
    v["filing"] = json!(deps
        .store
        .get_filing(&appid)
        .await?
        .as_ref()
        .map(ops::filing::view));
    // The versions come from WeChat; an app that cannot be asked still shows what is stored.
    v["versions"] = if a.status == AuthorizerStatus::Authorized {
        match deps.mgr.wxa(&appid).call(&GetVersionInfo {}).await {
            Ok(info) => json!({
                "experience": info.exp_info.map(|e| json!({ "user_version": e.exp_version, "desc": e.exp_desc, "time": e.exp_time })),
                "online": info.release_info.map(|r| json!({ "user_version": r.release_version, "desc": r.release_desc, "time": r.release_time })),
            }),
            Err(e) => json!({ "error": e.to_string() }),
        }
    } else {
        Value::Null
    };
    Ok(Json(v))
}

async fn commit(
    State(deps): S,
    Acting { op, app: a }: Acting,
    JsonBody(b): JsonBody<code::CommitBody>,
) -> ApiResult<Json<code::Done>> {
    b.check()?;
    b.check_template(&deps).await?;
    Ok(Json(code::commit(&deps, &op.label, &a, b).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QrQuery {
    path: Option<String>,
}

async fn qrcode(
    State(deps): S,
    OpsQuery(q): OpsQuery<QrQuery>,
    AuthorizedApp(a): AuthorizedApp,
) -> ApiResult<Response> {
    let path = q.path.filter(|p| !p.is_empty());
    let img = deps.mgr.wxa(&a.appid).call(&GetQrcode { path }).await?;
    let headers = [
        (header::CONTENT_TYPE, img.content_type),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, img.bytes).into_response())
}

async fn categories(State(deps): S, AuthorizedApp(a): AuthorizedApp) -> ApiResult {
    let got = deps.mgr.wxa(&a.appid).call(&GetCategory).await?;
    shown("categories", got.category_list)
}

async fn pages(State(deps): S, AuthorizedApp(a): AuthorizedApp) -> ApiResult {
    let got = deps.mgr.wxa(&a.appid).call(&GetPage).await?;
    shown("pages", got.page_list)
}

async fn submit(
    State(deps): S,
    Acting { op, app: a }: Acting,
    JsonBody(req): JsonBody<SubmitAudit>,
) -> ApiResult<Response> {
    code::check_submission(&req)?;
    let done = code::submit(&deps, &op.label, &a, &req).await?;
    ops::notifications::audit_quota_after_submit(&deps, &a.appid).await;
    Ok((StatusCode::CREATED, Json(done)).into_response())
}

async fn list_audits(State(deps): S, OpsQuery(q): Paged, KnownApp(a): KnownApp) -> ApiResult {
    let page = deps.store.list_audits(&a.appid, q.cursor(), q.limit()?);
    Ok(listing(page.await?, views::audit))
}

async fn latest(State(deps): S, AuthorizedApp(a): AuthorizedApp) -> ApiResult {
    let r = ops::audits::refresh_latest(&deps, &a.appid)
        .await?
        .ok_or(OpsError::NotFound { what: "audit" })?;
    Ok(Json(views::audit(&r)))
}

async fn show_audit(
    State(deps): S,
    AuthorizedApp(a): AuthorizedApp,
    Path((_, auditid)): Path<(String, String)>,
) -> ApiResult {
    let auditid =
        AuditId::parse(&auditid).map_err(|e| ApiError::bad("invalid_auditid", e.to_string()))?;
    let r = ops::audits::refresh_one(&deps, &a.appid, auditid).await?;
    Ok(Json(views::audit(&r)))
}

async fn undo(State(deps): S, Acting { op, app: a }: Acting) -> ApiResult {
    let auditid = code::undo(&deps, &op.label, &a.appid).await?;
    Ok(Json(json!({ "auditid": auditid, "status": "withdrawn" })))
}

async fn speedup(State(deps): S, Acting { op, app: a }: Acting) -> ApiResult {
    let auditid = code::speedup(&deps, &op.label, &a.appid).await?;
    Ok(Json(json!({ "auditid": auditid, "status": "sped_up" })))
}

async fn release(
    State(deps): S,
    Acting { op, app: a }: Acting,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<code::Done>> {
    // No body, or `{}`.
    if !body.is_empty() {
        let _: ops::batches::EmptyBody = super::json_body(&headers, &body)?;
    }
    Ok(Json(code::release(&deps, &op.label, &a).await?))
}

async fn versions(State(deps): S, AuthorizedApp(a): AuthorizedApp) -> ApiResult {
    let got = deps.mgr.wxa(&a.appid).call(&GetHistoryVersion).await?;
    shown("versions", got.version_list)
}

/// Exactly one of them: a named version, or the previous one said out loud.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevertBody {
    app_version: Option<u64>,
    #[serde(default)]
    previous: bool,
}

async fn revert(State(deps): S, by: Acting, JsonBody(b): JsonBody<RevertBody>) -> ApiResult {
    let target = code::revert_target(b.app_version, b.previous)?;
    deps.mgr
        .wxa(&by.app.appid)
        .call(&RevertCodeRelease {
            app_version: target,
        })
        .await?;
    let details = json!({ "app_version": target, "previous": target.is_none() });
    note(&deps, &by, Action::Revert, details).await;
    Ok(Json(json!({ "status": "reverted", "app_version": target })))
}

async fn visit_status(State(deps): S, AuthorizedApp(a): AuthorizedApp) -> ApiResult {
    let v = deps.mgr.wxa(&a.appid).call(&GetVisitstatus {}).await?;
    let status = if v.is_paused() { "paused" } else { "open" };
    Ok(Json(json!({ "status": status })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisitBody {
    action: VisitAction,
}

async fn set_visit_status(
    State(deps): S,
    by: Acting,
    JsonBody(b): JsonBody<VisitBody>,
) -> ApiResult {
    deps.mgr
        .wxa(&by.app.appid)
        .call(&ChangeVisitstatus { action: b.action })
        .await?;
    let details = json!({ "action": b.action });
    note(&deps, &by, Action::ChangeVisitStatus, details).await;
    let status = match b.action {
        VisitAction::Open => "open",
        VisitAction::Close => "paused",
    };
    Ok(Json(json!({ "status": status })))
}

async fn gray_release(State(deps): S, AuthorizedApp(a): AuthorizedApp) -> ApiResult {
    let got = deps.mgr.wxa(&a.appid).call(&GetGrayReleasePlan).await?;
    shown("plan", got.gray_release_plan)
}

async fn start_gray_release(
    State(deps): S,
    by: Acting,
    JsonBody(b): JsonBody<GrayRelease>,
) -> ApiResult {
    ApiError::unless(
        b.gray_percentage <= 100,
        "invalid_gray_percentage",
        "gray_percentage must be 0 to 100",
    )?;
    deps.mgr.wxa(&by.app.appid).call(&b).await?;
    let details = json!({ "gray_percentage": b.gray_percentage });
    note(&deps, &by, Action::GrayRelease, details).await;
    Ok(Json(
        json!({ "status": "gray", "gray_percentage": b.gray_percentage }),
    ))
}

async fn revert_gray_release(State(deps): S, by: Acting) -> ApiResult {
    deps.mgr.wxa(&by.app.appid).call(&RevertGrayRelease).await?;
    note(&deps, &by, Action::RevertGrayRelease, Value::Null).await;
    Ok(Json(json!({ "status": "gray_release_reverted" })))
}

/// The two domain lists an app keeps (server domains, web-view domains), each read (action
/// `get`) and changed through its own WeChat endpoint.
trait DomainList: Default + Send + Sync + 'static {
    /// The activity a change records.
    const CHANGE: Action;
    type Request: AuthorizerEndpoint<Response: Serialize>;

    /// The request sending `action`, with this list unless it reads.
    fn request(&self, action: DomainAction) -> Self::Request;
}

impl DomainList for ServerDomains {
    const CHANGE: Action = Action::ModifyDomain;
    type Request = ModifyDomain;

    fn request(&self, action: DomainAction) -> ModifyDomain {
        let domains = (action != DomainAction::Get).then(|| self.clone());
        ModifyDomain { action, domains }
    }
}

impl DomainList for WebviewDomains {
    const CHANGE: Action = Action::SetWebviewDomain;
    type Request = SetWebviewDomain;

    fn request(&self, action: DomainAction) -> SetWebviewDomain {
        let webviewdomain = (action != DomainAction::Get).then(|| self.webviewdomain.clone());
        SetWebviewDomain {
            action,
            webviewdomain,
        }
    }
}

async fn domains<L: DomainList>(State(deps): S, AuthorizedApp(a): AuthorizedApp) -> ApiResult {
    let read = L::default().request(DomainAction::Get);
    let got = deps.mgr.wxa(&a.appid).call(&read).await?;
    Ok(Json(json!(got)))
}

/// Changes a domain list (a read is a GET) and records the change.
async fn change_domains<L: DomainList>(
    deps: &Deps,
    by: &Acting,
    action: DomainAction,
    list: L,
    details: Value,
) -> ApiResult {
    let reads = action == DomainAction::Get;
    ApiError::unless(!reads, "invalid_action", "use GET to read the domains")?;
    let got = deps
        .mgr
        .wxa(&by.app.appid)
        .call(&list.request(action))
        .await?;
    note(deps, by, L::CHANGE, details).await;
    Ok(Json(json!(got)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainsBody {
    action: DomainAction,
    #[serde(flatten)]
    domains: ServerDomains,
}

async fn set_domains(State(deps): S, by: Acting, JsonBody(b): JsonBody<DomainsBody>) -> ApiResult {
    let details = json!({ "action": b.action, "domains": b.domains });
    change_domains(&deps, &by, b.action, b.domains, details).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebviewBody {
    action: DomainAction,
    #[serde(default)]
    webviewdomain: Vec<String>,
}

async fn set_webview_domains(
    State(deps): S,
    by: Acting,
    JsonBody(b): JsonBody<WebviewBody>,
) -> ApiResult {
    let details = json!({ "action": b.action, "webviewdomain": b.webviewdomain });
    let list = WebviewDomains {
        webviewdomain: b.webviewdomain,
    };
    change_domains(&deps, &by, b.action, list, details).await
}

async fn activity(State(deps): S, OpsQuery(q): Paged, KnownApp(a): KnownApp) -> ApiResult {
    let page = deps.store.list_activity(&a.appid, q.cursor(), q.limit()?);
    Ok(listing(page.await?, |x| json!(x)))
}

async fn testers(State(deps): S, AuthorizedApp(a): AuthorizedApp) -> ApiResult {
    let list = deps
        .mgr
        .wxa(&a.appid)
        .call(&GetExperiencer::default())
        .await?;
    Ok(Json(json!({ "members": list.members })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TesterBody {
    wechatid: String,
}

/// Binds a WeChat user as an experience member. The WeChat id is personal data: the activity
/// log keeps only the member's `userstr`.
async fn bind_tester(
    State(deps): S,
    by: Acting,
    JsonBody(b): JsonBody<TesterBody>,
) -> ApiResult<Response> {
    let wechatid = b.wechatid.trim().to_owned();
    let fits = !wechatid.is_empty() && wechatid.len() <= 64;
    ApiError::unless(
        fits,
        "invalid_wechatid",
        "wechatid must be 1 to 64 characters",
    )?;
    let bound = deps
        .mgr
        .wxa(&by.app.appid)
        .call(&BindTester { wechatid })
        .await?;
    let details = json!({ "userstr": bound.userstr });
    note(&deps, &by, Action::BindTester, details).await;
    let body = Json(json!({ "userstr": bound.userstr }));
    Ok((StatusCode::CREATED, body).into_response())
}

/// Exactly one of them names the member.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnbindBody {
    wechatid: Option<String>,
    userstr: Option<String>,
}

async fn unbind_tester(State(deps): S, by: Acting, JsonBody(b): JsonBody<UnbindBody>) -> ApiResult {
    ApiError::unless(
        b.wechatid.is_some() != b.userstr.is_some(),
        "invalid_tester",
        "name the member by exactly one of wechatid or userstr",
    )?;
    let details = json!({ "userstr": b.userstr });
    let unbind = UnbindTester {
        wechatid: b.wechatid,
        userstr: b.userstr,
    };
    deps.mgr.wxa(&by.app.appid).call(&unbind).await?;
    note(&deps, &by, Action::UnbindTester, details).await;
    Ok(Json(json!({ "status": "unbound" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyQuery {
    privacy_ver: Option<u8>,
}

fn privacy_ver(v: u8) -> Result<u8, ApiError> {
    let known = matches!(v, PRIVACY_ONLINE | PRIVACY_DEVELOPMENT);
    let why = "privacy_ver must be 1 (online) or 2 (development)";
    ApiError::unless(known, "invalid_privacy_ver", why)?;
    Ok(v)
}

async fn privacy(
    State(deps): S,
    OpsQuery(q): OpsQuery<PrivacyQuery>,
    AuthorizedApp(a): AuthorizedApp,
) -> ApiResult {
    let privacy_ver = privacy_ver(q.privacy_ver.unwrap_or(PRIVACY_DEVELOPMENT))?;
    let got = deps
        .mgr
        .wxa(&a.appid)
        .call(&GetPrivacySetting { privacy_ver })
        .await?;
    let mut v = json!(got);
    v["privacy_ver"] = json!(privacy_ver);
    Ok(Json(v))
}

async fn set_privacy(
    State(deps): S,
    by: Acting,
    JsonBody(b): JsonBody<SetPrivacySetting>,
) -> ApiResult {
    privacy_ver(b.privacy_ver)?;
    if b.owner_setting
        .get("notice_method")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::invalid_body(
            "owner_setting.notice_method".into(),
            "owner_setting.notice_method: how users are told of changes is required".into(),
        ));
    }
    deps.mgr.wxa(&by.app.appid).call(&b).await?;
    let keys: Vec<&str> = b
        .setting_list
        .iter()
        .map(|i| i.privacy_key.as_str())
        .collect();
    let details = json!({ "privacy_ver": b.privacy_ver, "privacy_keys": keys });
    note(&deps, &by, Action::SetPrivacySetting, details).await;
    Ok(Json(
        json!({ "status": "set", "privacy_ver": b.privacy_ver }),
    ))
}
