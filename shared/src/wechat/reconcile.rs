//! State-changing code-management calls whose answer may be lost, made safe by reconciling.
//!
//! `submit_audit` is never repeated after an ambiguous failure (see
//! [`super::endpoint::Endpoint::SAFE_TO_REPEAT`]): a repeat would answer 85009 ("already submitted") with the
//! first auditid never known. Instead this asks WeChat what happened and records it, so an auditid
//! is never lost. `release` is reconciled from `getversioninfo` the same way.

use super::error::{WechatError, WechatResult};
use super::token::TokenManager;
use super::wxa::SubmitAuditRequest;
use crate::domain::{AppId, AuditId, AuditStatus, Clock, UnixTime};
use crate::store::{AuditRecord, AuditStore};

/// How far WeChat's `submit_audit_time` may lag our clock when matching a lost submission.
const SUBMIT_TIME_SKEW_SECS: i64 = 300;

/// What the caller knows about the version being submitted, recorded with the audit.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub template_id: Option<u64>,
    pub user_version: Option<String>,
    pub user_desc: Option<String>,
}

/// Submits the app's committed version for audit and records the audit. If the answer is lost,
/// `get_latest_auditstatus` tells whether WeChat took the submission (an audit submitted since
/// we started, of our `user_version` when we know it); if so that auditid is recorded and
/// returned as if the answer had arrived.
pub async fn submit_audit(
    mgr: &TokenManager,
    audits: &dyn AuditStore,
    clock: &dyn Clock,
    appid: &AppId,
    req: &SubmitAuditRequest,
    submission: &Submission,
) -> WechatResult<AuditRecord> {
    let started = clock.now();
    let auditid = match mgr.wxa(appid).submit_audit(req).await {
        Ok(id) => id,
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(%appid, error = %e, "submit_audit answer lost; asking WeChat for the latest audit");
            let latest = mgr.wxa(appid).get_latest_auditstatus().await?;
            let ours = latest
                .submit_audit_time
                .is_some_and(|t| t >= started - SUBMIT_TIME_SKEW_SECS)
                && match (&submission.user_version, &latest.user_version) {
                    (Some(want), Some(got)) => want == got,
                    _ => true,
                };
            if !ours {
                // WeChat has no newer audit: the submission never happened.
                return Err(e);
            }
            tracing::info!(%appid, auditid = %latest.auditid, "the lost submission was taken by WeChat; recorded");
            latest.auditid
        }
        Err(e) => return Err(e),
    };
    let record = AuditRecord {
        appid: appid.clone(),
        auditid,
        status: AuditStatus::Auditing,
        reason: None,
        screenshots: vec![],
        template_id: submission.template_id,
        user_version: submission.user_version.clone(),
        user_desc: submission.user_desc.clone(),
        submitted_at: started,
        updated_at: started,
        released_at: None,
    };
    match audits.record_audit(&record).await {
        Ok(()) | Err(crate::store::StoreError::Conflict) => Ok(record),
        Err(e) => Err(WechatError::Store(e)),
    }
}

/// Releases the approved version of `auditid` and marks it released. If the answer is lost,
/// `getversioninfo` tells whether it went online: an online version released since we started,
/// of the audit's `user_version` when we know it. (A repeat would answer 85052 "already
/// released", or release a version nobody asked for.)
pub async fn release(
    mgr: &TokenManager,
    audits: &dyn AuditStore,
    clock: &dyn Clock,
    appid: &AppId,
    auditid: AuditId,
    user_version: Option<&str>,
) -> WechatResult<UnixTime> {
    let started = clock.now();
    match mgr.wxa(appid).release().await {
        Ok(()) => {}
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(%appid, error = %e, "release answer lost; asking WeChat for the online version");
            let info = mgr.wxa(appid).getversioninfo().await?;
            let went_online = info.release_info.is_some_and(|r| {
                r.release_time >= started - SUBMIT_TIME_SKEW_SECS
                    && user_version.is_none_or(|v| v == r.release_version)
            });
            if !went_online {
                return Err(e);
            }
            tracing::info!(%appid, %auditid, "the lost release was applied by WeChat; recorded");
        }
        Err(e) => return Err(e),
    }
    audits
        .mark_released(appid, auditid, started)
        .await
        .map_err(WechatError::Store)?;
    Ok(started)
}
