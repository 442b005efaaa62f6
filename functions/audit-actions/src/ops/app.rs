//! One app as the operations see it: known (any status) or authorized, its activity (what
//! operators did, each action recorded with its operator) and the stage its code stands at.

use super::OpsError;
use crate::Deps;
use wxopen::domain::{beijing_day_start, beijing_month_start, AppId, Clock};
use wxopen::lifecycle::{Action, Stage};
use wxopen::store::{
    Activity, ActivityLog, Authorizer, AuthorizerFilter, AuthorizerStatus, AuthorizerStore,
};
use wxopen::wechat::reconcile;

/// Parses an appid from a path or a request, or 400 `invalid_appid`.
pub fn parse_appid(raw: &str) -> Result<AppId, OpsError> {
    AppId::parse(raw).map_err(|e| OpsError::invalid("invalid_appid", e.to_string()))
}

/// Every authorized app, of any customer (batches over all, the hourly check, the quota).
pub fn authorized_only() -> AuthorizerFilter {
    AuthorizerFilter {
        status: Some(AuthorizerStatus::Authorized),
        customer_id: None,
    }
}

/// Known (any status): history stays readable after a revocation.
pub async fn known(store: &dyn AuthorizerStore, appid: &str) -> Result<Authorizer, OpsError> {
    store
        .get_authorizer(&parse_appid(appid)?)
        .await?
        .ok_or(OpsError::NotFound { what: "app" })
}

/// The app, known and authorized.
pub async fn authorized(store: &dyn AuthorizerStore, appid: &str) -> Result<Authorizer, OpsError> {
    still_authorized(known(store, appid).await?)
}

/// A known app, if it is authorized now.
pub fn still_authorized(a: Authorizer) -> Result<Authorizer, OpsError> {
    if a.status != AuthorizerStatus::Authorized {
        return Err(OpsError::NotAuthorized { status: a.status });
    }
    Ok(a)
}

/// Records what an operator did; a failure to record never undoes what WeChat did.
pub async fn record(
    log: &dyn ActivityLog,
    clock: &dyn Clock,
    operator: &str,
    appid: &AppId,
    action: Action,
    f: impl FnOnce(&mut Activity),
) {
    let mut a = Activity {
        appid: appid.clone(),
        at: clock.now(),
        operator: operator.to_owned(),
        action: action.as_str().to_owned(),
        template_id: None,
        user_version: None,
        auditid: None,
        details: serde_json::Value::Null,
    };
    f(&mut a);
    if let Err(e) = log.record_activity(&a).await {
        tracing::warn!(%appid, action = action.as_str(), error = %e, "activity not recorded");
    }
}

/// How much recent activity the stage is folded from: a commit further back than this many
/// actions is not seen (the stage then starts from the latest audit).
const LIFECYCLE_ACTIVITY: u32 = 100;

/// The app's recent activity, newest first.
pub async fn recent_activity(
    log: &dyn ActivityLog,
    appid: &AppId,
) -> Result<Vec<Activity>, OpsError> {
    Ok(log
        .list_activity(appid, None, LIFECYCLE_ACTIVITY)
        .await?
        .items)
}

/// Where the app's code stands ([`Stage::fold`] of its activity and latest audit).
pub async fn lifecycle(deps: &Deps, appid: &AppId) -> Result<Stage, OpsError> {
    let recent = recent_activity(deps.store.as_ref(), appid).await?;
    let latest = deps.store.latest_audit(appid).await?;
    Ok(Stage::fold(&recent, latest.as_ref()))
}

/// Undos made through wxopen today and this month (Beijing time), from the app's activity.
/// One made in WeChat's own console is not seen here; WeChat then answers 87013 itself.
pub async fn undo_counts(
    log: &dyn ActivityLog,
    now: i64,
    appid: &AppId,
) -> Result<(usize, usize), OpsError> {
    let (day, month) = (beijing_day_start(now), beijing_month_start(now));
    let (mut today, mut this_month) = (0, 0);
    let mut cursor: Option<String> = None;
    loop {
        let page = log.list_activity(appid, cursor.as_deref(), 100).await?;
        for a in &page.items {
            if a.at < month {
                return Ok((today, this_month));
            }
            if a.is(Action::UndoAudit) {
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

/// The profile, completed from WeChat when it was stored without WeChat's details (its read
/// failed at onboarding); as it was when WeChat cannot be asked now.
pub async fn with_complete_profile(deps: &Deps, a: Authorizer) -> Authorizer {
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
