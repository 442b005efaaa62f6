//! `/ops/apps/{appid}/…`: one mini program's code lifecycle. Every handler first checks the app
//! is known (404) and authorized (409), then applies the seed's rules before WeChat is called:
//! no new audit while one is pending, release only an approved, unreleased version. Every
//! action is recorded with its operator in the app's activity.

use crate::error::ApiError;
use crate::{json_body, page_limit, views, Deps, OpsQuery, PageQuery};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wxopen::domain::{beijing_day_start, beijing_month_start, AppId, AuditId, AuditStatus};
use wxopen::lifecycle::{actions, Stage};
use wxopen::operator_auth::Operator;
use wxopen::store::{Activity, AuditRecord, AuditUpdate, Authorizer, AuthorizerStatus, StoreError};
use wxopen::wechat::reconcile::{self, Submission};
use wxopen::wechat::wxa::{
    BindTester, CommitRequest, DomainAction, GetExperiencer, GetPrivacySetting, GrayReleaseRequest,
    ServerDomains, SetPrivacySetting, SubmitAuditRequest, UnbindTester, VisitAction,
    WebviewDomains, PRIVACY_DEVELOPMENT, PRIVACY_ONLINE,
};

type S = State<Arc<Deps>>;
type Op = Extension<Operator>;
type ApiResult<T = Json<Value>> = Result<T, ApiError>;

pub fn routes() -> Router<Arc<Deps>> {
    Router::new()
        .route("/ops/apps/{appid}", get(show))
        .route("/ops/apps/{appid}/commit", post(commit))
        .route("/ops/apps/{appid}/qrcode", get(qrcode))
        .route("/ops/apps/{appid}/categories", get(categories))
        .route("/ops/apps/{appid}/pages", get(pages))
        .route("/ops/apps/{appid}/audits", get(list_audits).post(submit))
        .route("/ops/apps/{appid}/audits/latest", get(latest))
        .route("/ops/apps/{appid}/audits/latest/undo", post(undo))
        .route("/ops/apps/{appid}/audits/latest/speedup", post(speedup))
        .route("/ops/apps/{appid}/audits/{auditid}", get(show_audit))
        .route("/ops/apps/{appid}/release", post(release))
        .route("/ops/apps/{appid}/versions", get(versions))
        .route("/ops/apps/{appid}/revert", post(revert))
        .route(
            "/ops/apps/{appid}/visit-status",
            get(visit_status).put(set_visit_status),
        )
        .route(
            "/ops/apps/{appid}/gray-release",
            get(gray_release)
                .put(start_gray_release)
                .delete(revert_gray_release),
        )
        .route("/ops/apps/{appid}/domains", get(domains).put(set_domains))
        .route(
            "/ops/apps/{appid}/webview-domains",
            get(webview_domains).put(set_webview_domains),
        )
        .route(
            "/ops/apps/{appid}/testers",
            get(testers).post(bind_tester).delete(unbind_tester),
        )
        .route("/ops/apps/{appid}/privacy", get(privacy).put(set_privacy))
        .route("/ops/apps/{appid}/activity", get(activity))
}

/// The app, known and authorized.
pub(crate) async fn authorized(deps: &Deps, appid: &str) -> Result<Authorizer, ApiError> {
    let a = known(deps, appid).await?;
    if a.status != AuthorizerStatus::Authorized {
        return Err(ApiError::conflict(
            "not_authorized",
            format!("the app is {}", a.status.as_str()),
            json!({ "status": a.status.as_str() }),
        ));
    }
    Ok(a)
}

/// Records what an operator did; a failure to record never undoes what WeChat did.
async fn record(
    deps: &Deps,
    operator: &str,
    appid: &AppId,
    action: &str,
    f: impl FnOnce(&mut Activity),
) {
    let mut a = Activity {
        appid: appid.clone(),
        at: deps.clock.now(),
        operator: operator.to_owned(),
        action: action.to_owned(),
        template_id: None,
        user_version: None,
        auditid: None,
        details: Value::Null,
    };
    f(&mut a);
    if let Err(e) = deps.store.record_activity(&a).await {
        tracing::warn!(%appid, action, error = %e, "activity not recorded");
    }
}

/// How much recent activity the stage is folded from: a commit further back than this many
/// actions is not seen (the stage then starts from the latest audit).
const LIFECYCLE_ACTIVITY: u32 = 100;

/// The app's recent activity, newest first.
async fn recent_activity(deps: &Deps, appid: &AppId) -> Result<Vec<Activity>, ApiError> {
    Ok(deps
        .store
        .list_activity(appid, None, LIFECYCLE_ACTIVITY)
        .await?
        .items)
}

/// The newest commit recorded for the app.
async fn last_commit(deps: &Deps, appid: &AppId) -> Result<Option<Activity>, ApiError> {
    Ok(recent_activity(deps, appid)
        .await?
        .into_iter()
        .find(|a| a.action == actions::COMMIT))
}

/// Where the app's code stands ([`Stage::fold`] of its activity and latest audit).
pub(crate) async fn lifecycle(deps: &Deps, appid: &AppId) -> Result<Stage, ApiError> {
    let recent = recent_activity(deps, appid).await?;
    let latest = deps.store.latest_audit(appid).await?;
    Ok(Stage::fold(&recent, latest.as_ref()))
}

async fn show(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = with_complete_profile(&deps, known(&deps, &appid).await?).await;
    let appid = a.appid.clone();
    let token = views::token_health(deps.store.as_ref(), &appid).await?;
    let mut v = views::authorizer(&a, token, false);
    // One read of each: the latest audit, the last commit and the stage all come from them.
    let latest = deps.store.latest_audit(&appid).await?;
    let recent = recent_activity(&deps, &appid).await?;
    v["latest_audit"] = json!(latest.as_ref().map(views::audit));
    v["last_commit"] = json!(recent.iter().find(|a| a.action == actions::COMMIT));
    v["lifecycle"] = json!(Stage::fold(&recent, latest.as_ref()));
    v["pending_batches"] = json!(crate::batches::pending_for(&deps, &appid).await?);
    // The versions come from WeChat; an app that cannot be asked still shows what is stored.
    v["versions"] = if a.status == AuthorizerStatus::Authorized {
        match deps.mgr.wxa(&appid).getversioninfo().await {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitBody {
    template_id: u64,
    ext_json: serde_json::Map<String, Value>,
    user_version: String,
    user_desc: String,
}

impl CommitBody {
    /// What serde cannot say: the version's length and what ext_json may hold
    /// ([`crate::ext_json::check`]).
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        if self.user_version.is_empty() || self.user_version.chars().count() > 64 {
            return Err(ApiError::bad(
                "invalid_user_version",
                "user_version must be 1 to 64 characters",
            ));
        }
        crate::ext_json::check(&self.ext_json)
    }

    /// What only WeChat's template library can say: a standard template takes only three
    /// ext_json keys. One `gettemplatelist` call; when it fails the commit goes on unchecked
    /// (WeChat still refuses a wrong ext_json itself).
    pub(crate) async fn check_template(&self, deps: &Deps) -> Result<(), ApiError> {
        match deps
            .mgr
            .component()
            .get_template_list(Some(wxopen::wechat::component::TemplateType::Standard))
            .await
        {
            Ok(list) if list.iter().any(|t| t.template_id == self.template_id) => {
                crate::ext_json::check_standard(&self.ext_json)
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "template library not read: ext_json not checked against the template's type");
                Ok(())
            }
        }
    }
}

/// What serde cannot say about a submission: at most 5 pages.
pub(crate) fn check_submission(req: &SubmitAuditRequest) -> Result<(), ApiError> {
    if req.item_list.len() > 5 {
        return Err(ApiError::bad(
            "invalid_item_list",
            "item_list takes at most 5 pages",
        ));
    }
    Ok(())
}

async fn commit(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let b: CommitBody = json_body(&headers, &body)?;
    b.check()?;
    b.check_template(&deps).await?;
    Ok(Json(commit_app(&deps, &op.label, &a, b).await?))
}

/// Commits a template to one app (inputs checked); shared by the route and batches.
pub(crate) async fn commit_app(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    b: CommitBody,
) -> Result<Value, ApiError> {
    let ext = Value::Object(b.ext_json);
    let req = CommitRequest::new(b.template_id, &ext, b.user_version.clone(), b.user_desc);
    deps.mgr.wxa(&a.appid).commit(&req).await?;
    let digest = hex::encode(Sha256::digest(req.ext_json.as_bytes()));
    record(deps, operator, &a.appid, actions::COMMIT, |x| {
        x.template_id = Some(b.template_id);
        x.user_version = Some(b.user_version.clone());
        x.details = json!({ "ext_json_sha256": digest });
    })
    .await;
    Ok(json!({
        "status": "committed",
        "template_id": b.template_id,
        "user_version": b.user_version,
        "lifecycle": lifecycle(deps, &a.appid).await?,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QrQuery {
    path: Option<String>,
}

async fn qrcode(
    State(deps): S,
    Path(appid): Path<String>,
    OpsQuery(q): OpsQuery<QrQuery>,
) -> ApiResult<Response> {
    let a = authorized(&deps, &appid).await?;
    let img = deps
        .mgr
        .wxa(&a.appid)
        .get_qrcode(q.path.as_deref().filter(|p| !p.is_empty()))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, img.content_type),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        img.bytes,
    )
        .into_response())
}

async fn categories(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let c = deps.mgr.wxa(&a.appid).get_category().await?;
    Ok(Json(json!({ "categories": c })))
}

async fn pages(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let p = deps.mgr.wxa(&a.appid).get_page().await?;
    Ok(Json(json!({ "pages": p })))
}

/// The profile, completed from WeChat when it was stored without WeChat's details (its read
/// failed at onboarding); as it was when WeChat cannot be asked now.
pub(crate) async fn with_complete_profile(deps: &Deps, a: Authorizer) -> Authorizer {
    if !a.user_name.is_empty() || a.status != AuthorizerStatus::Authorized {
        return a;
    }
    match reconcile::complete_profile(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &a.appid,
    )
    .await
    {
        Ok(Some(completed)) => completed,
        Ok(None) => a,
        Err(e) => {
            tracing::warn!(appid = %a.appid, error = %e, "an incomplete profile could not be completed; the next read tries again");
            a
        }
    }
}

/// Settles the app's submission in doubt from WeChat, if there is one, so that the pending rule
/// sees an audit WeChat took. When WeChat cannot be asked the doubt stays: a submission then
/// meets WeChat's own 85009 and adopts the pending audit.
async fn settle_submission_in_doubt(deps: &Deps, appid: &AppId) -> Result<(), ApiError> {
    match reconcile::settle_submission(&deps.mgr, deps.store.as_ref(), deps.clock.as_ref(), appid)
        .await
    {
        Ok(_) => Ok(()),
        Err(wxopen::wechat::WechatError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "a submission in doubt could not be settled now");
            Ok(())
        }
    }
}

/// The latest audit as WeChat reports it now, written back to the store (a lost push is caught
/// up here). `None` when the app has never been audited (85058).
pub(crate) async fn refresh_latest(
    deps: &Deps,
    appid: &AppId,
) -> Result<Option<AuditRecord>, ApiError> {
    let latest = match deps.mgr.wxa(appid).get_latest_auditstatus().await {
        Ok(l) => l,
        Err(e) if e.errcode() == Some(85058) => {
            reconcile::settle_submission_with(
                deps.store.as_ref(),
                deps.clock.as_ref(),
                appid,
                None,
            )
            .await?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    // A submission in doubt is recorded with what we know of it (template, version).
    reconcile::settle_submission_with(
        deps.store.as_ref(),
        deps.clock.as_ref(),
        appid,
        Some(&latest),
    )
    .await?;
    let Some(status) = latest.audit_status() else {
        return Err(ApiError::Wechat(wxopen::wechat::WechatError::Decode {
            endpoint: "/wxa/get_latest_auditstatus",
            detail: format!("unknown status {}", latest.status),
        }));
    };
    let now = deps.clock.now();
    let update = AuditUpdate {
        status,
        reason: latest.reason.clone(),
        screenshots: latest.screenshots(),
        at: now,
    };
    match deps
        .store
        .update_audit(appid, latest.auditid, &update)
        .await
    {
        Ok(()) | Err(StoreError::OutOfOrder) => {}
        Err(StoreError::NotFound) => {
            // Submitted elsewhere (WeChat's console, another tool): adopted into the history.
            let submitted = latest.submit_audit_time.unwrap_or(now);
            let record = AuditRecord {
                appid: appid.clone(),
                auditid: latest.auditid,
                status,
                reason: latest.reason.clone(),
                screenshots: latest.screenshots(),
                template_id: None,
                user_version: latest.user_version.clone(),
                user_desc: latest.user_desc.clone(),
                submitted_at: submitted,
                updated_at: now,
                released_at: None,
            };
            match deps.store.record_audit(&record).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(find_audit(deps, appid, latest.auditid).await?)
}

/// An audit of the app from the store, looked up through its history (newest first).
async fn find_audit(
    deps: &Deps,
    appid: &AppId,
    auditid: AuditId,
) -> Result<Option<AuditRecord>, StoreError> {
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let page = deps
            .store
            .list_audits(appid, cursor.as_deref(), 100)
            .await?;
        if let Some(r) = page.items.into_iter().find(|r| r.auditid == auditid) {
            return Ok(Some(r));
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(None)
}

/// The latest audit, refreshed from WeChat when the store still thinks it is pending (its push
/// may have been lost).
pub(crate) async fn current_audit(
    deps: &Deps,
    appid: &AppId,
) -> Result<Option<AuditRecord>, ApiError> {
    settle_submission_in_doubt(deps, appid).await?;
    match deps.store.latest_audit(appid).await? {
        Some(r) if r.status.is_pending() => refresh_latest(deps, appid).await,
        other => Ok(other),
    }
}

async fn submit(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let a = authorized(&deps, &appid).await?;
    let req: SubmitAuditRequest = json_body(&headers, &body)?;
    check_submission(&req)?;
    let v = submit_app(&deps, &op.label, &a, &req).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Submits one app's experience version for audit (inputs checked), unless an audit is
/// pending; shared by the route and batches.
pub(crate) async fn submit_app(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    req: &SubmitAuditRequest,
) -> Result<Value, ApiError> {
    if let Some(r) = current_audit(deps, &a.appid).await? {
        if r.status.is_pending() {
            return Err(ApiError::conflict(
                "audit_pending",
                format!(
                    "audit {} is {}: wait for its result or undo it",
                    r.auditid,
                    r.status.as_str()
                ),
                json!({ "auditid": r.auditid, "status": r.status.as_str() }),
            ));
        }
    }
    let commit = last_commit(deps, &a.appid).await?;
    // The version WeChat holds as the experience version is what is submitted.
    let exp = deps.mgr.wxa(&a.appid).getversioninfo().await?.exp_info;
    let submission = Submission {
        template_id: commit.as_ref().and_then(|c| c.template_id),
        user_version: exp
            .as_ref()
            .map(|e| e.exp_version.clone())
            .or_else(|| commit.as_ref().and_then(|c| c.user_version.clone())),
        user_desc: exp.map(|e| e.exp_desc),
    };
    // Before the submission (which counts against the platform's monthly quota): WeChat's
    // privacy detection of the commit has finished, and found no undeclared interface. A
    // submission that says the code uses none (privacy_api_not_use) is not asked about.
    if req.privacy_api_not_use != Some(true) {
        match deps
            .mgr
            .wxa(&a.appid)
            .call(&wxopen::wechat::wxa::GetCodePrivacyInfo)
            .await
        {
            Ok(info) if !info.without_conf_list.is_empty() => {
                return Err(privacy_interfaces_undeclared(info));
            }
            Ok(_) => {}
            Err(e) if e.errcode() == Some(61039) => {
                return Err(detection_pending(deps, operator, a, &submission).await);
            }
            // Not known now (no commit yet, a hiccup): WeChat's submit answers for itself.
            Err(e) => {
                tracing::info!(appid = %a.appid, error = %e, "privacy detection result not read before the submission")
            }
        }
    }
    let audit = match reconcile::submit_audit(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &a.appid,
        req,
        &submission,
    )
    .await
    {
        Ok(audit) => audit,
        // The detection WeChat runs after each commit has not finished: a wait, not a failure.
        Err(e) if e.errcode() == Some(61039) => {
            return Err(detection_pending(deps, operator, a, &submission).await)
        }
        // The code uses privacy interfaces ext.json does not declare: name them (one more call,
        // only on this refusal) so the operator knows what to add.
        // An audit is pending at WeChat that is not this submission (one from WeChat's console,
        // or an earlier one): adopted into the history and named, as the pending rule does.
        Err(e) if e.errcode() == Some(85009) => {
            let pending = refresh_latest(deps, &a.appid).await?;
            return Err(ApiError::conflict(
                "audit_pending",
                "WeChat holds an audit of this app that is still pending: wait for its result or undo it",
                json!({
                    "auditid": pending.as_ref().map(|r| r.auditid),
                    "status": pending.as_ref().map(|r| r.status.as_str()),
                }),
            ));
        }
        Err(e) if e.errcode() == Some(61040) => {
            let info = deps
                .mgr
                .wxa(&a.appid)
                .call(&wxopen::wechat::wxa::GetCodePrivacyInfo)
                .await
                .unwrap_or_default();
            return Err(privacy_interfaces_undeclared(info));
        }
        Err(e) => return Err(e.into()),
    };
    record(deps, operator, &a.appid, actions::SUBMIT_AUDIT, |x| {
        x.auditid = Some(audit.auditid);
        x.template_id = audit.template_id;
        x.user_version = audit.user_version.clone();
    })
    .await;
    Ok(json!({
        "auditid": audit.auditid,
        "status": "submitted",
        "user_version": audit.user_version,
        "lifecycle": lifecycle(deps, &a.appid).await?,
    }))
}

/// The 61039 wait, kept in the activity (once per wait) so the app's stage shows it.
async fn detection_pending(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    submission: &Submission,
) -> ApiError {
    let waiting = matches!(
        lifecycle(deps, &a.appid).await,
        Ok(Stage::PrivacyDetectionPending { .. })
    );
    if !waiting {
        record(
            deps,
            operator,
            &a.appid,
            actions::PRIVACY_DETECTION_PENDING,
            |x| x.user_version = submission.user_version.clone(),
        )
        .await;
    }
    privacy_detection_pending()
}

/// The code uses privacy interfaces ext_json does not declare (WeChat: 61040), named.
fn privacy_interfaces_undeclared(info: wxopen::wechat::wxa::CodePrivacyInfo) -> ApiError {
    ApiError::conflict(
        "privacy_interfaces_undeclared",
        format!(
            "the committed code uses privacy interfaces ext_json does not declare ({}): add them to ext_json's requiredPrivateInfos and commit again, or submit with privacy_api_not_use: true if the code never calls them (61040)",
            info.without_conf_list.join(", ")
        ),
        json!({
            "errcode": 61040,
            "without_conf_list": info.without_conf_list,
            "without_auth_list": info.without_auth_list,
        }),
    )
}

async fn list_audits(
    State(deps): S,
    Path(appid): Path<String>,
    OpsQuery(q): OpsQuery<PageQuery>,
) -> ApiResult {
    let a = known(&deps, &appid).await?;
    let page = deps
        .store
        .list_audits(&a.appid, q.cursor.as_deref(), page_limit(q.limit)?)
        .await?;
    Ok(Json(json!({
        "items": page.items.iter().map(views::audit).collect::<Vec<_>>(),
        "next": page.next,
    })))
}

/// Known (any status): history stays readable after a revocation.
async fn known(deps: &Deps, appid: &str) -> Result<Authorizer, ApiError> {
    let appid = AppId::parse(appid).map_err(|e| ApiError::bad("invalid_appid", e.to_string()))?;
    deps.store
        .get_authorizer(&appid)
        .await?
        .ok_or(ApiError::NotFound { what: "app" })
}

async fn latest(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let r = refresh_latest(&deps, &a.appid)
        .await?
        .ok_or(ApiError::NotFound { what: "audit" })?;
    Ok(Json(views::audit(&r)))
}

async fn show_audit(State(deps): S, Path((appid, auditid)): Path<(String, String)>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let auditid =
        AuditId::parse(&auditid).map_err(|e| ApiError::bad("invalid_auditid", e.to_string()))?;
    let stored = find_audit(&deps, &a.appid, auditid)
        .await?
        .ok_or(ApiError::NotFound { what: "audit" })?;
    let info = deps.mgr.wxa(&a.appid).get_auditstatus(auditid).await?;
    let mut r = stored;
    if let Some(status) = info.audit_status() {
        let update = AuditUpdate {
            status,
            reason: info.reason.clone(),
            screenshots: info.screenshots(),
            at: deps.clock.now(),
        };
        if r.status != status {
            match deps.store.update_audit(&a.appid, auditid, &update).await {
                Ok(()) | Err(StoreError::OutOfOrder) => {}
                Err(e) => return Err(e.into()),
            }
        }
        r.status = status;
        r.reason = update.reason;
        r.screenshots = update.screenshots;
    }
    Ok(Json(views::audit(&r)))
}

/// The app's pending audit (refreshed from WeChat if stored as pending), or 409 when none is.
async fn pending_audit(deps: &Deps, appid: &AppId) -> Result<AuditRecord, ApiError> {
    current_audit(deps, appid)
        .await?
        .filter(|r| r.status.is_pending())
        .ok_or_else(|| ApiError::conflict("no_pending_audit", "no audit is pending", json!({})))
}

/// WeChat's undo limits (undocodeaudit.html): 5 a day and 10 a calendar month, Beijing time.
const UNDO_PER_DAY: usize = 5;
const UNDO_PER_MONTH: usize = 10;

/// Undos made through wxopen today and this month (Beijing time), from the app's activity.
/// One made in WeChat's own console is not seen here; WeChat then answers 87013 itself.
async fn undo_counts(deps: &Deps, appid: &AppId) -> Result<(usize, usize), ApiError> {
    let now = deps.clock.now();
    let (day, month) = (beijing_day_start(now), beijing_month_start(now));
    let (mut today, mut this_month) = (0, 0);
    let mut cursor: Option<String> = None;
    loop {
        let page = deps
            .store
            .list_activity(appid, cursor.as_deref(), 100)
            .await?;
        for a in &page.items {
            if a.at < month {
                return Ok((today, this_month));
            }
            if a.action == "undo_audit" {
                this_month += 1;
                today += usize::from(a.at >= day);
            }
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok((today, this_month)),
        }
    }
}

async fn undo(State(deps): S, Extension(op): Op, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let pending = pending_audit(&deps, &a.appid).await?;
    let (today, this_month) = undo_counts(&deps, &a.appid).await?;
    if today >= UNDO_PER_DAY || this_month >= UNDO_PER_MONTH {
        return Err(ApiError::conflict(
            "undo_limit",
            format!(
                "WeChat allows {UNDO_PER_DAY} undos a day and {UNDO_PER_MONTH} a month (Beijing time); this app has used {today} today and {this_month} this month"
            ),
            json!({
                "undone_today": today,
                "undone_this_month": this_month,
                "per_day": UNDO_PER_DAY,
                "per_month": UNDO_PER_MONTH,
            }),
        ));
    }
    deps.mgr.wxa(&a.appid).undocodeaudit().await?;
    let update = AuditUpdate {
        status: AuditStatus::Withdrawn,
        reason: None,
        screenshots: vec![],
        at: deps.clock.now(),
    };
    match deps
        .store
        .update_audit(&a.appid, pending.auditid, &update)
        .await
    {
        Ok(()) | Err(StoreError::OutOfOrder) => {}
        Err(e) => return Err(e.into()),
    }
    record(&deps, &op.label, &a.appid, actions::UNDO_AUDIT, |x| {
        x.auditid = Some(pending.auditid);
    })
    .await;
    Ok(Json(
        json!({ "auditid": pending.auditid, "status": "withdrawn" }),
    ))
}

async fn speedup(State(deps): S, Extension(op): Op, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let pending = pending_audit(&deps, &a.appid).await?;
    // speedupaudit.html: 89405 when the month's speed-ups are used; said before WeChat is asked.
    let quota = deps
        .mgr
        .wxa(&a.appid)
        .call(&wxopen::wechat::wxa::QueryQuota)
        .await?;
    if quota.speedup_rest <= 0 {
        return Err(ApiError::conflict(
            "speedup_quota",
            format!(
                "no speed-up left this month (of {}); the audit goes on at its normal pace",
                quota.speedup_limit
            ),
            json!({ "speedup_rest": quota.speedup_rest, "speedup_limit": quota.speedup_limit }),
        ));
    }
    deps.mgr.wxa(&a.appid).speedupaudit(pending.auditid).await?;
    record(&deps, &op.label, &a.appid, "speedup_audit", |x| {
        x.auditid = Some(pending.auditid);
    })
    .await;
    Ok(Json(
        json!({ "auditid": pending.auditid, "status": "sped_up" }),
    ))
}

async fn release(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    if !body.is_empty() {
        let _: EmptyBody = json_body(&headers, &body)?;
    }
    Ok(Json(release_app(&deps, &op.label, &a).await?))
}

/// The release body: `{}`, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmptyBody {}

/// How long to wait before submitting again while WeChat's privacy detection runs.
const PRIVACY_RETRY_SECS: i64 = wxopen::lifecycle::PRIVACY_RETRY_SECS;

/// The refusal while the privacy detection after a commit runs (61039).
pub(crate) fn privacy_detection_pending() -> ApiError {
    ApiError::conflict(
        PRIVACY_DETECTION_PENDING,
        "WeChat is still checking the committed code's privacy interfaces (61039): submit again in a minute",
        json!({ "errcode": 61039, "retry_after_secs": PRIVACY_RETRY_SECS }),
    )
}

/// The error code of [`privacy_detection_pending`], which a batch waits out instead of skipping.
pub(crate) const PRIVACY_DETECTION_PENDING: &str = "privacy_detection_pending";

/// Releases one app's approved, unreleased version; shared by the route and batches.
pub(crate) async fn release_app(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
) -> Result<Value, ApiError> {
    if let Some(v) = release_in_doubt_went_online(deps, operator, a).await? {
        return Ok(v);
    }
    let latest = current_audit(deps, &a.appid).await?;
    let Some(r) = latest.filter(|r| r.status == AuditStatus::Approved && r.released_at.is_none())
    else {
        let latest = deps.store.latest_audit(&a.appid).await?;
        return Err(ApiError::conflict(
            "not_approved",
            "only an approved, unreleased version can be released",
            json!({
                "auditid": latest.as_ref().map(|r| r.auditid),
                "status": latest.as_ref().map(|r| r.status.as_str()),
                "released_at": latest.and_then(|r| r.released_at),
            }),
        ));
    };
    // The domains the template's code calls are on the app's lists (when set for it).
    crate::requirements::check_before_release(deps, &a.appid, r.template_id).await?;
    let at = reconcile::release(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &a.appid,
        r.auditid,
        r.user_version.as_deref(),
    )
    .await?;
    record(deps, operator, &a.appid, actions::RELEASE, |x| {
        x.auditid = Some(r.auditid);
        x.template_id = r.template_id;
        x.user_version = r.user_version.clone();
    })
    .await;
    Ok(json!({
        "status": "released",
        "auditid": r.auditid,
        "user_version": r.user_version,
        "released_at": at,
        "lifecycle": lifecycle(deps, &a.appid).await?,
    }))
}

/// A release in doubt (its answer lost, the read after it failed) settled from WeChat first:
/// when its version went online, that is this release's answer. When WeChat cannot be asked the
/// doubt stays; a release then meets WeChat's own answer (85052) and settles it.
async fn release_in_doubt_went_online(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
) -> Result<Option<Value>, ApiError> {
    let settled = match reconcile::settle_release(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &a.appid,
    )
    .await
    {
        Ok(s) => s,
        Err(wxopen::wechat::WechatError::Store(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(appid = %a.appid, error = %e, "a release in doubt could not be settled now");
            return Ok(None);
        }
    };
    let reconcile::ReleaseSettlement::Released {
        auditid,
        user_version,
        at,
    } = settled
    else {
        return Ok(None);
    };
    // An audit approved since is another version, for this request to release.
    let latest = deps.store.latest_audit(&a.appid).await?;
    if latest.is_some_and(|r| r.auditid != auditid) {
        return Ok(None);
    }
    record(deps, operator, &a.appid, actions::RELEASE, |x| {
        x.auditid = Some(auditid);
        x.user_version = user_version.clone();
        x.details = json!({ "reconciled": true });
    })
    .await;
    Ok(Some(json!({
        "status": "released",
        "auditid": auditid,
        "user_version": user_version,
        "released_at": at,
        "reconciled": true,
        "lifecycle": lifecycle(deps, &a.appid).await?,
    })))
}

async fn versions(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let v = deps.mgr.wxa(&a.appid).get_history_version().await?;
    Ok(Json(json!({ "versions": v })))
}

/// Exactly one of them: a named version, or the previous one said out loud.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevertBody {
    app_version: Option<u64>,
    #[serde(default)]
    previous: bool,
}

async fn revert(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let b: RevertBody = json_body(&headers, &body)?;
    let target = match (b.app_version, b.previous) {
        (Some(v), false) => Some(v),
        (None, true) => None,
        _ => {
            return Err(ApiError::bad(
                "invalid_revert",
                "name the version to roll back to ({\"app_version\": N}) or ask for the previous one ({\"previous\": true})",
            ))
        }
    };
    deps.mgr.wxa(&a.appid).revertcoderelease(target).await?;
    record(&deps, &op.label, &a.appid, actions::REVERT, |x| {
        x.details = json!({ "app_version": target, "previous": target.is_none() });
    })
    .await;
    Ok(Json(json!({ "status": "reverted", "app_version": target })))
}

async fn visit_status(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let v = deps.mgr.wxa(&a.appid).getvisitstatus().await?;
    Ok(Json(
        json!({ "status": if v.is_paused() { "paused" } else { "open" } }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisitBody {
    action: VisitAction,
}

async fn set_visit_status(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let b: VisitBody = json_body(&headers, &body)?;
    deps.mgr.wxa(&a.appid).change_visitstatus(b.action).await?;
    record(&deps, &op.label, &a.appid, "change_visitstatus", |x| {
        x.details = json!({ "action": b.action });
    })
    .await;
    Ok(Json(
        json!({ "status": match b.action { VisitAction::Open => "open", VisitAction::Close => "paused" } }),
    ))
}

async fn gray_release(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let plan = deps.mgr.wxa(&a.appid).getgrayreleaseplan().await?;
    Ok(Json(json!({ "plan": plan })))
}

async fn start_gray_release(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let b: GrayReleaseRequest = json_body(&headers, &body)?;
    if b.gray_percentage > 100 {
        return Err(ApiError::bad(
            "invalid_gray_percentage",
            "gray_percentage must be 0 to 100",
        ));
    }
    deps.mgr.wxa(&a.appid).grayrelease(&b).await?;
    record(&deps, &op.label, &a.appid, actions::GRAY_RELEASE, |x| {
        x.details = json!({ "gray_percentage": b.gray_percentage });
    })
    .await;
    Ok(Json(
        json!({ "status": "gray", "gray_percentage": b.gray_percentage }),
    ))
}

async fn revert_gray_release(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    deps.mgr.wxa(&a.appid).revertgrayrelease().await?;
    record(
        &deps,
        &op.label,
        &a.appid,
        actions::REVERT_GRAY_RELEASE,
        |_| {},
    )
    .await;
    Ok(Json(json!({ "status": "gray_release_reverted" })))
}

async fn domains(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let d = deps
        .mgr
        .wxa(&a.appid)
        .modify_domain(DomainAction::Get, &ServerDomains::default())
        .await?;
    Ok(Json(json!(d)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainsBody {
    action: DomainAction,
    #[serde(flatten)]
    domains: ServerDomains,
}

async fn set_domains(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let b: DomainsBody = json_body(&headers, &body)?;
    if b.action == DomainAction::Get {
        return Err(ApiError::bad(
            "invalid_action",
            "use GET to read the domains",
        ));
    }
    let d = deps
        .mgr
        .wxa(&a.appid)
        .modify_domain(b.action, &b.domains)
        .await?;
    record(&deps, &op.label, &a.appid, "modify_domain", |x| {
        x.details = json!({ "action": b.action, "domains": b.domains });
    })
    .await;
    Ok(Json(json!(d)))
}

async fn webview_domains(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let d = deps
        .mgr
        .wxa(&a.appid)
        .setwebviewdomain(DomainAction::Get, &WebviewDomains::default())
        .await?;
    Ok(Json(json!(d)))
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
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let b: WebviewBody = json_body(&headers, &body)?;
    if b.action == DomainAction::Get {
        return Err(ApiError::bad(
            "invalid_action",
            "use GET to read the domains",
        ));
    }
    let d = WebviewDomains {
        webviewdomain: b.webviewdomain,
    };
    let got = deps
        .mgr
        .wxa(&a.appid)
        .setwebviewdomain(b.action, &d)
        .await?;
    record(&deps, &op.label, &a.appid, "setwebviewdomain", |x| {
        x.details = json!({ "action": b.action, "webviewdomain": d.webviewdomain });
    })
    .await;
    Ok(Json(json!(got)))
}

async fn activity(
    State(deps): S,
    Path(appid): Path<String>,
    OpsQuery(q): OpsQuery<PageQuery>,
) -> ApiResult {
    let a = known(&deps, &appid).await?;
    let page = deps
        .store
        .list_activity(&a.appid, q.cursor.as_deref(), page_limit(q.limit)?)
        .await?;
    Ok(Json(json!({ "items": page.items, "next": page.next })))
}

async fn testers(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
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
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let a = authorized(&deps, &appid).await?;
    let b: TesterBody = json_body(&headers, &body)?;
    let wechatid = b.wechatid.trim().to_owned();
    if wechatid.is_empty() || wechatid.len() > 64 {
        return Err(ApiError::bad(
            "invalid_wechatid",
            "wechatid must be 1 to 64 characters",
        ));
    }
    let bound = deps
        .mgr
        .wxa(&a.appid)
        .call(&BindTester { wechatid })
        .await?;
    record(&deps, &op.label, &a.appid, "bind_tester", |x| {
        x.details = json!({ "userstr": bound.userstr });
    })
    .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "userstr": bound.userstr })),
    )
        .into_response())
}

/// Exactly one of them names the member.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnbindBody {
    wechatid: Option<String>,
    userstr: Option<String>,
}

async fn unbind_tester(
    State(deps): S,
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let b: UnbindBody = json_body(&headers, &body)?;
    if b.wechatid.is_some() == b.userstr.is_some() {
        return Err(ApiError::bad(
            "invalid_tester",
            "name the member by exactly one of wechatid or userstr",
        ));
    }
    let by_userstr = b.userstr.clone();
    deps.mgr
        .wxa(&a.appid)
        .call(&UnbindTester {
            wechatid: b.wechatid,
            userstr: b.userstr,
        })
        .await?;
    record(&deps, &op.label, &a.appid, "unbind_tester", |x| {
        x.details = json!({ "userstr": by_userstr });
    })
    .await;
    Ok(Json(json!({ "status": "unbound" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyQuery {
    privacy_ver: Option<u8>,
}

fn privacy_ver(v: u8) -> Result<u8, ApiError> {
    match v {
        PRIVACY_ONLINE | PRIVACY_DEVELOPMENT => Ok(v),
        _ => Err(ApiError::bad(
            "invalid_privacy_ver",
            "privacy_ver must be 1 (online) or 2 (development)",
        )),
    }
}

async fn privacy(
    State(deps): S,
    Path(appid): Path<String>,
    OpsQuery(q): OpsQuery<PrivacyQuery>,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
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
    Extension(op): Op,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let a = authorized(&deps, &appid).await?;
    let b: SetPrivacySetting = json_body(&headers, &body)?;
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
    deps.mgr.wxa(&a.appid).call(&b).await?;
    record(&deps, &op.label, &a.appid, "setprivacysetting", |x| {
        x.details = json!({
            "privacy_ver": b.privacy_ver,
            "privacy_keys": b.setting_list.iter().map(|i| i.privacy_key.as_str()).collect::<Vec<_>>(),
        });
    })
    .await;
    Ok(Json(
        json!({ "status": "set", "privacy_ver": b.privacy_ver }),
    ))
}
