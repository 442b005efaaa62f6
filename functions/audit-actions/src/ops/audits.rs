//! One app's audits as WeChat reports them now: the latest refreshed from WeChat (a lost push
//! is caught up here) and written back to the store, an audit found in the history, the
//! submission in doubt settled first.

use super::OpsError;
use crate::Deps;
use wxopen::domain::{AppId, AuditId};
use wxopen::store::{AuditRecord, AuditStore, AuditUpdate, StoreError};
use wxopen::wechat::reconcile;
use wxopen::wechat::wxa::{GetAuditstatus, GetLatestAuditstatus};
use wxopen::wechat::WechatError;

/// Writes an audit's news; news older than what is stored changes nothing.
pub async fn update(
    store: &dyn AuditStore,
    appid: &AppId,
    auditid: AuditId,
    update: &AuditUpdate,
) -> Result<(), StoreError> {
    match store.update_audit(appid, auditid, update).await {
        Ok(()) | Err(StoreError::OutOfOrder) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The latest audit as WeChat reports it now, written back to the store (a lost push is caught
/// up here). `None` when the app has never been audited (85058).
pub async fn refresh_latest(deps: &Deps, appid: &AppId) -> Result<Option<AuditRecord>, OpsError> {
    let (store, clock) = (deps.store.as_ref(), deps.clock.as_ref());
    let latest = match deps.mgr.wxa(appid).call(&GetLatestAuditstatus).await {
        Ok(l) => l,
        Err(e) if e.errcode() == Some(85058) => {
            reconcile::settle_submission_with(store, clock, appid, None).await?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    // A submission in doubt is recorded with what we know of it (template, version).
    reconcile::settle_submission_with(store, clock, appid, Some(&latest)).await?;
    let Some(status) = latest.audit_status() else {
        return Err(OpsError::Wechat(WechatError::Decode {
            endpoint: "/wxa/get_latest_auditstatus",
            detail: format!("unknown status {}", latest.status),
        }));
    };
    let now = clock.now();
    let news = AuditUpdate {
        status,
        reason: latest.reason.clone(),
        screenshots: latest.screenshots(),
        at: now,
    };
    match store.update_audit(appid, latest.auditid, &news).await {
        Ok(()) | Err(StoreError::OutOfOrder) => {}
        Err(StoreError::NotFound) => {
            // Submitted elsewhere (WeChat's console, another tool): adopted into the history.
            let record = AuditRecord {
                appid: appid.clone(),
                auditid: latest.auditid,
                status,
                reason: latest.reason.clone(),
                screenshots: latest.screenshots(),
                template_id: None,
                user_version: latest.user_version.clone(),
                user_desc: latest.user_desc.clone(),
                submitted_at: latest.submit_audit_time.unwrap_or(now),
                updated_at: now,
                released_at: None,
            };
            match store.record_audit(&record).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(find(store, appid, latest.auditid).await?)
}

/// An audit of the app from the store, looked up through its history (newest first).
pub async fn find(
    store: &dyn AuditStore,
    appid: &AppId,
    auditid: AuditId,
) -> Result<Option<AuditRecord>, StoreError> {
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let page = store.list_audits(appid, cursor.as_deref(), 100).await?;
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

/// One stored audit with WeChat's word on it now (written back when it moved).
pub async fn refresh_one(
    deps: &Deps,
    appid: &AppId,
    auditid: AuditId,
) -> Result<AuditRecord, OpsError> {
    let mut r = find(deps.store.as_ref(), appid, auditid)
        .await?
        .ok_or(OpsError::NotFound { what: "audit" })?;
    let info = deps
        .mgr
        .wxa(appid)
        .call(&GetAuditstatus { auditid })
        .await?;
    if let Some(status) = info.audit_status() {
        let news = AuditUpdate {
            status,
            reason: info.reason.clone(),
            screenshots: info.screenshots(),
            at: deps.clock.now(),
        };
        if r.status != status {
            update(deps.store.as_ref(), appid, auditid, &news).await?;
        }
        r.status = status;
        r.reason = news.reason;
        r.screenshots = news.screenshots;
    }
    Ok(r)
}

/// A failure of WeChat left for later (logged with `what`); the store's failures stand.
pub(crate) fn wechat_later<T>(
    appid: &AppId,
    what: &str,
    r: Result<T, WechatError>,
) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(WechatError::Store(e)) => Err(e),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "{what} could not be settled now");
            Ok(None)
        }
    }
}

/// The latest audit, refreshed from WeChat when the store still thinks it is pending (its push
/// may have been lost). The submission in doubt is settled first, so that the pending rule
/// sees an audit WeChat took; when WeChat cannot be asked the doubt stays (a submission then
/// meets WeChat's own 85009 and adopts the pending audit).
pub async fn current(deps: &Deps, appid: &AppId) -> Result<Option<AuditRecord>, OpsError> {
    let settled =
        reconcile::settle_submission(&deps.mgr, deps.store.as_ref(), deps.clock.as_ref(), appid)
            .await;
    wechat_later(appid, "a submission in doubt", settled)?;
    match deps.store.latest_audit(appid).await? {
        Some(r) if r.status.is_pending() => refresh_latest(deps, appid).await,
        other => Ok(other),
    }
}

/// The app's pending audit (refreshed from WeChat if stored as pending), or
/// [`OpsError::NoPendingAudit`].
pub async fn pending(deps: &Deps, appid: &AppId) -> Result<AuditRecord, OpsError> {
    current(deps, appid)
        .await?
        .filter(|r| r.status.is_pending())
        .ok_or(OpsError::NoPendingAudit)
}
