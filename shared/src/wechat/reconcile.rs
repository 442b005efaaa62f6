//! State-changing code-management calls whose answer may be lost, made safe by reconciling.
//!
//! `submit_audit` is never repeated after an ambiguous failure (see
//! [`super::endpoint::Endpoint::SAFE_TO_REPEAT`]): a repeat would answer 85009 ("already submitted") with the
//! first auditid never known. Instead this asks WeChat what happened and records it, so an auditid
//! is never lost. `release` is reconciled from `getversioninfo` the same way.
//!
//! The recovery read may fail too (a second fault), and WeChat may apply a call after its client
//! gave up. So the doubt is written to the store BEFORE the call ([`SubmissionDoubt`],
//! [`ReleaseDoubt`]) and removed only once WeChat's answer settles it: a definite answer, or what
//! WeChat reports afterwards ([`settle_submission`], [`settle_release`]), read by the next action
//! on the app, its next audit push, and the hourly check of stale audits. A doubt that WeChat
//! still shows no trace of after [`APPLY_LATE_SECS`] is dropped: the call was never applied.

use super::error::{WechatError, WechatResult};
use super::token::TokenManager;
use super::wxa::{LatestAuditStatus, SubmitAudit};
use crate::domain::{AppId, AuditId, AuditStatus, Clock, UnixTime};
use crate::store::{AuditRecord, Authorizer, SingleUseKind, Store, StoreError, StoreResult};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// How far WeChat's `submit_audit_time` may lag our clock when matching a lost submission.
const SUBMIT_TIME_SKEW_SECS: i64 = 300;
/// How long after a call WeChat may still apply it (a request held behind a proxy): until then
/// a doubt that WeChat shows no trace of is kept.
pub const APPLY_LATE_SECS: i64 = 600;
/// How long a doubt is kept at most; the hourly check settles it long before.
const DOUBT_KEEP_SECS: i64 = 30 * 86_400;
/// How many pages of an app's audit history are searched for an auditid.
const HISTORY_PAGES: usize = 5;

/// What the caller knows about the version being submitted, recorded with the audit.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub template_id: Option<u64>,
    pub user_version: Option<String>,
    pub user_desc: Option<String>,
}

/// A `submit_audit` that may have reached WeChat, recorded before the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionDoubt {
    /// When the earliest submission still in doubt was sent.
    pub since: UnixTime,
    pub template_id: Option<u64>,
    pub user_version: Option<String>,
    pub user_desc: Option<String>,
}

/// A `release` that may have put the audit's version online, recorded before the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseDoubt {
    pub since: UnixTime,
    pub auditid: AuditId,
    pub user_version: Option<String>,
}

/// How a submission in doubt stands after asking WeChat.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmissionSettlement {
    /// None was in doubt.
    NoDoubt,
    /// WeChat took it: its audit is now recorded.
    Adopted(AuditRecord),
    /// WeChat shows no audit of it; `dropped`: too long ago to be applied late, so the doubt is
    /// gone, else it is kept.
    NotTaken { dropped: bool },
}

/// How a release in doubt stands after asking WeChat.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseSettlement {
    NoDoubt,
    /// The audit's version is online: the audit is now marked released at `at`.
    Released {
        auditid: AuditId,
        user_version: Option<String>,
        at: UnixTime,
    },
    NotReleased {
        dropped: bool,
    },
}

/// A doubt's record: `id` is the appid, or `{appid}#{name}` for one of the app's names (the
/// ICP filing's doubt reuses these).
pub async fn read_doubt<T: DeserializeOwned>(
    store: &dyn Store,
    kind: SingleUseKind,
    id: &str,
    now: UnixTime,
) -> StoreResult<Option<T>> {
    match store.peek_single_use(kind, id, now).await? {
        Some(item) => serde_json::from_value(item.payload)
            .map(Some)
            .map_err(|e| StoreError::Backend(anyhow::anyhow!("a doubt record is corrupt: {e}"))),
        None => Ok(None),
    }
}

/// Records a doubt of `kind` for the app before a call whose answer may be lost.
pub async fn write_doubt<T: Serialize>(
    store: &dyn Store,
    kind: SingleUseKind,
    id: &str,
    doubt: &T,
    now: UnixTime,
) -> StoreResult<()> {
    let payload = serde_json::to_value(doubt)
        .map_err(|e| StoreError::Backend(anyhow::anyhow!("encoding a doubt: {e}")))?;
    store.delete_single_use(kind, id).await?;
    match store
        .create_single_use(kind, id, &payload, now, now + DOUBT_KEEP_SECS)
        .await
    {
        // Another caller recorded one between the two writes: a doubt is recorded either way.
        Ok(()) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes a settled doubt (a failure is logged: the next settlement removes it).
pub async fn clear_doubt(store: &dyn Store, kind: SingleUseKind, id: &str) {
    // A doubt left behind is settled again later (and then found settled): never an error here.
    if let Err(e) = store.delete_single_use(kind, id).await {
        tracing::warn!(doubt = id, error = %e, "a settled doubt was not removed; the next settlement removes it");
    }
}

/// The app's submission in doubt, if any.
pub async fn submission_in_doubt(
    store: &dyn Store,
    appid: &AppId,
    now: UnixTime,
) -> StoreResult<Option<SubmissionDoubt>> {
    read_doubt(
        store,
        SingleUseKind::AuditSubmissionInDoubt,
        appid.as_str(),
        now,
    )
    .await
}

/// The app's release in doubt, if any.
pub async fn release_in_doubt(
    store: &dyn Store,
    appid: &AppId,
    now: UnixTime,
) -> StoreResult<Option<ReleaseDoubt>> {
    read_doubt(store, SingleUseKind::ReleaseInDoubt, appid.as_str(), now).await
}

/// Whether `auditid` is in the app's recorded history (searched newest first).
async fn is_recorded(store: &dyn Store, appid: &AppId, auditid: AuditId) -> StoreResult<bool> {
    let mut cursor: Option<String> = None;
    for _ in 0..HISTORY_PAGES {
        let page = store.list_audits(appid, cursor.as_deref(), 100).await?;
        if page.items.iter().any(|r| r.auditid == auditid) {
            return Ok(true);
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(false)
}

/// Whether WeChat's latest audit can be the submission in doubt: submitted since it was sent,
/// of its version when known, not withdrawn (an undone audit is an earlier one), and not an
/// audit already recorded (that one was an earlier submission, not this one).
async fn is_the_doubted_submission(
    store: &dyn Store,
    appid: &AppId,
    doubt: &SubmissionDoubt,
    latest: &LatestAuditStatus,
) -> StoreResult<bool> {
    let matches = latest
        .submit_audit_time
        .is_some_and(|t| t >= doubt.since - SUBMIT_TIME_SKEW_SECS)
        && match (&doubt.user_version, &latest.user_version) {
            (Some(want), Some(got)) => want == got,
            _ => true,
        }
        && latest.audit_status() != Some(AuditStatus::Withdrawn);
    Ok(matches && !is_recorded(store, appid, latest.auditid).await?)
}

/// Settles the app's submission in doubt against `latest`, WeChat's latest audit (`None`: the
/// app was never audited), already read by the caller.
pub async fn settle_submission_with(
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
    latest: Option<&LatestAuditStatus>,
) -> StoreResult<SubmissionSettlement> {
    let now = clock.now();
    let Some(doubt) = submission_in_doubt(store, appid, now).await? else {
        return Ok(SubmissionSettlement::NoDoubt);
    };
    if let Some(latest) = latest {
        if is_the_doubted_submission(store, appid, &doubt, latest).await? {
            let record = AuditRecord {
                appid: appid.clone(),
                auditid: latest.auditid,
                status: latest.audit_status().unwrap_or(AuditStatus::Auditing),
                reason: latest.reason.clone(),
                screenshots: latest.screenshots(),
                template_id: doubt.template_id,
                user_version: doubt.user_version.clone().or(latest.user_version.clone()),
                user_desc: doubt.user_desc.clone().or(latest.user_desc.clone()),
                submitted_at: doubt.since,
                updated_at: now.max(doubt.since),
                released_at: None,
            };
            match store.record_audit(&record).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
            clear_doubt(store, SingleUseKind::AuditSubmissionInDoubt, appid.as_str()).await;
            tracing::info!(%appid, auditid = %record.auditid, "a submission in doubt was taken by WeChat; recorded");
            return Ok(SubmissionSettlement::Adopted(record));
        }
    }
    let dropped = now - doubt.since >= APPLY_LATE_SECS;
    if dropped {
        clear_doubt(store, SingleUseKind::AuditSubmissionInDoubt, appid.as_str()).await;
        tracing::info!(%appid, "a submission in doubt was never taken by WeChat; dropped");
    }
    Ok(SubmissionSettlement::NotTaken { dropped })
}

/// Asks WeChat (`get_latest_auditstatus`) about the app's submission in doubt, if there is one.
/// A failed read leaves the doubt for the next chance.
pub async fn settle_submission(
    mgr: &TokenManager,
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
) -> WechatResult<SubmissionSettlement> {
    if submission_in_doubt(store, appid, clock.now())
        .await?
        .is_none()
    {
        return Ok(SubmissionSettlement::NoDoubt);
    }
    let latest = match mgr
        .wxa(appid)
        .call(&crate::wechat::wxa::GetLatestAuditstatus)
        .await
    {
        Ok(l) => Some(l),
        Err(e) if e.errcode() == Some(85058) => None,
        Err(e) => return Err(e),
    };
    Ok(settle_submission_with(store, clock, appid, latest.as_ref()).await?)
}

/// Submits the app's committed version for audit and records the audit. The submission is
/// recorded as in doubt first; if the answer is lost, or WeChat answers 85009 (an audit is
/// pending: perhaps this one's earlier try), `get_latest_auditstatus` tells whether WeChat took
/// it, and that auditid is recorded and returned as if the answer had arrived. When that read
/// fails too, the doubt stays for the next action, push or hourly check to settle.
pub async fn submit_audit(
    mgr: &TokenManager,
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
    req: &SubmitAudit,
    submission: &Submission,
) -> WechatResult<AuditRecord> {
    let started = clock.now();
    // An earlier try still in doubt keeps its start: WeChat may yet show that one.
    let since = submission_in_doubt(store, appid, started)
        .await?
        .map_or(started, |d| d.since.min(started));
    let doubt = SubmissionDoubt {
        since,
        template_id: submission.template_id,
        user_version: submission.user_version.clone(),
        user_desc: submission.user_desc.clone(),
    };
    write_doubt(
        store,
        SingleUseKind::AuditSubmissionInDoubt,
        appid.as_str(),
        &doubt,
        started,
    )
    .await?;
    let auditid = match mgr.wxa(appid).call(req).await {
        Ok(submitted) => submitted.auditid,
        Err(e) if e.outcome_unknown() || e.errcode() == Some(85009) => {
            tracing::warn!(%appid, error = %e, "submit_audit answer lost or refused as already submitted; asking WeChat for the latest audit");
            return match settle_submission(mgr, store, clock, appid).await {
                Ok(SubmissionSettlement::Adopted(record)) => Ok(record),
                // Settled meanwhile by another path (the hourly check, a push): what it recorded
                // from this doubt is this submission's audit.
                Ok(SubmissionSettlement::NoDoubt) => match store.latest_audit(appid).await? {
                    Some(r) if r.submitted_at == since && r.status != AuditStatus::Withdrawn => {
                        Ok(r)
                    }
                    _ => Err(e),
                },
                Ok(_) => {
                    if !e.outcome_unknown() {
                        // 85009 for an audit that is not this one: this call was refused.
                        clear_doubt(store, SingleUseKind::AuditSubmissionInDoubt, appid.as_str())
                            .await;
                    }
                    Err(e)
                }
                Err(WechatError::Store(se)) => Err(WechatError::Store(se)),
                // The read failed too: the doubt stays, and the caller hears the first fault.
                Err(read) => {
                    tracing::warn!(%appid, error = %read, "the latest audit could not be read; the submission stays in doubt");
                    Err(e)
                }
            };
        }
        Err(e) => {
            // WeChat's definite answer: nothing was submitted.
            clear_doubt(store, SingleUseKind::AuditSubmissionInDoubt, appid.as_str()).await;
            return Err(e);
        }
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
    match store.record_audit(&record).await {
        Ok(()) | Err(StoreError::Conflict) => {
            clear_doubt(store, SingleUseKind::AuditSubmissionInDoubt, appid.as_str()).await;
            Ok(record)
        }
        // The doubt stays: the next settlement adopts the audit from WeChat.
        Err(e) => Err(WechatError::Store(e)),
    }
}

/// Asks WeChat (`getversioninfo`) about the app's release in doubt, if there is one: released
/// when the online version is the audit's and went online since the release was sent.
pub async fn settle_release(
    mgr: &TokenManager,
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
) -> WechatResult<ReleaseSettlement> {
    let now = clock.now();
    let Some(doubt) = release_in_doubt(store, appid, now).await? else {
        return Ok(ReleaseSettlement::NoDoubt);
    };
    let info = mgr
        .wxa(appid)
        .call(&crate::wechat::wxa::GetVersionInfo {})
        .await?;
    let went_online = info.release_info.is_some_and(|r| {
        r.release_time >= doubt.since - SUBMIT_TIME_SKEW_SECS
            && doubt
                .user_version
                .as_deref()
                .is_none_or(|v| v == r.release_version)
    });
    if went_online {
        match store.mark_released(appid, doubt.auditid, doubt.since).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(WechatError::Store(e)),
        }
        clear_doubt(store, SingleUseKind::ReleaseInDoubt, appid.as_str()).await;
        tracing::info!(%appid, auditid = %doubt.auditid, "a release in doubt went online; recorded");
        return Ok(ReleaseSettlement::Released {
            auditid: doubt.auditid,
            user_version: doubt.user_version,
            at: doubt.since,
        });
    }
    let dropped = now - doubt.since >= APPLY_LATE_SECS;
    if dropped {
        clear_doubt(store, SingleUseKind::ReleaseInDoubt, appid.as_str()).await;
        tracing::info!(%appid, auditid = %doubt.auditid, "a release in doubt never went online; dropped");
    }
    Ok(ReleaseSettlement::NotReleased { dropped })
}

/// Releases the approved version of `auditid` and marks it released. The release is recorded
/// as in doubt first; if the answer is lost (or WeChat answers 85052, already released),
/// `getversioninfo` tells whether it went online. When that read fails too, the doubt stays for
/// the next action or the hourly check. (A blind repeat would answer 85052, or release a
/// version nobody asked for.)
pub async fn release(
    mgr: &TokenManager,
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
    auditid: AuditId,
    user_version: Option<&str>,
) -> WechatResult<UnixTime> {
    let started = clock.now();
    let doubt = ReleaseDoubt {
        since: started,
        auditid,
        user_version: user_version.map(str::to_owned),
    };
    write_doubt(
        store,
        SingleUseKind::ReleaseInDoubt,
        appid.as_str(),
        &doubt,
        started,
    )
    .await?;
    match mgr.wxa(appid).call(&crate::wechat::wxa::Release {}).await {
        Ok(_) => {}
        Err(e) if e.outcome_unknown() || e.errcode() == Some(85052) => {
            tracing::warn!(%appid, error = %e, "release answer lost or refused as already released; asking WeChat for the online version");
            return match settle_release(mgr, store, clock, appid).await {
                Ok(ReleaseSettlement::Released { at, .. }) => Ok(at),
                // Settled meanwhile by another path (the hourly check): it marked the audit
                // released at this release's start.
                Ok(ReleaseSettlement::NoDoubt) => match store.latest_audit(appid).await? {
                    Some(r) if r.auditid == auditid && r.released_at == Some(started) => {
                        Ok(started)
                    }
                    _ => Err(e),
                },
                Ok(_) => Err(e),
                Err(WechatError::Store(se)) => Err(WechatError::Store(se)),
                Err(read) => {
                    tracing::warn!(%appid, error = %read, "the online version could not be read; the release stays in doubt");
                    Err(e)
                }
            };
        }
        Err(e) => {
            clear_doubt(store, SingleUseKind::ReleaseInDoubt, appid.as_str()).await;
            return Err(e);
        }
    }
    store
        .mark_released(appid, auditid, started)
        .await
        .map_err(WechatError::Store)?;
    clear_doubt(store, SingleUseKind::ReleaseInDoubt, appid.as_str()).await;
    Ok(started)
}

/// An `addtemplate` that may have added a subscribe template with its priTmplId unknown,
/// recorded before the call: the title and keywords asked for, and the app's templates at
/// WeChat just before (what is not among them, and not already named, can be this one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscribeTemplateDoubt {
    pub since: UnixTime,
    pub tid: u64,
    pub kid_list: Vec<u64>,
    /// The priTmplIds the app held at WeChat before the call.
    pub known: Vec<String>,
}

/// How an `addtemplate` ended: its template, or still in doubt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateAddition {
    /// WeChat holds the template. `reconciled`: its answer was lost and `gettemplate` showed it.
    /// The doubt stays until the caller has recorded the name
    /// ([`clear_subscribe_template_doubt`]): a name not recorded is adopted again next time.
    Added {
        pri_tmpl_id: String,
        /// What was added (an earlier add's, when its doubt is what settled).
        tid: u64,
        kid_list: Vec<u64>,
        reconciled: bool,
    },
    /// An earlier add of this name may still be applied by WeChat (its answer was lost and
    /// `gettemplate` shows nothing yet): no second add before [`APPLY_LATE_SECS`] have passed.
    InDoubt { since: UnixTime },
}

fn subscribe_doubt_id(appid: &AppId, name: &str) -> String {
    format!("{appid}#{name}")
}

/// The keyword ids of a template's `content` (`订单号:{{character_string1.DATA}}\n…`: the
/// number ending each key is its kid), sorted.
fn content_kids(content: &str) -> Vec<u64> {
    let mut kids: Vec<u64> = content
        .split("{{")
        .skip(1)
        .filter_map(|rest| {
            let key = rest.split(".DATA}}").next()?;
            let digits = key.trim_start_matches(|c: char| !c.is_ascii_digit());
            digits.parse().ok()
        })
        .collect();
    kids.sort_unstable();
    kids
}

/// Settles the app's add of `name` in doubt, if any, from `gettemplate`: a template the app did
/// not hold before the call, with the keywords asked for, and named by none of the app's other
/// names, is the one added. None yet: kept, or dropped after [`APPLY_LATE_SECS`] (answers
/// `None` then, as when there was no doubt). A failed read leaves the doubt.
pub async fn settle_subscribe_template(
    mgr: &TokenManager,
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
    name: &str,
) -> WechatResult<Option<TemplateAddition>> {
    let id = subscribe_doubt_id(appid, name);
    let now = clock.now();
    let Some(doubt) = read_doubt::<SubscribeTemplateDoubt>(
        store,
        SingleUseKind::SubscribeTemplateInDoubt,
        &id,
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    let held = mgr
        .wxa(appid)
        .call(&super::services::GetSubscribeTemplates::default())
        .await?;
    let named: Vec<String> = store
        .list_subscribe_templates(appid)
        .await?
        .into_iter()
        .map(|t| t.pri_tmpl_id)
        .collect();
    let mut want = doubt.kid_list.clone();
    want.sort_unstable();
    let found = held.data.into_iter().find(|t| {
        !doubt.known.contains(&t.pri_tmpl_id)
            && !named.contains(&t.pri_tmpl_id)
            && content_kids(&t.content) == want
    });
    if let Some(t) = found {
        tracing::info!(%appid, name, "an addtemplate in doubt was applied by WeChat; adopting its template");
        return Ok(Some(TemplateAddition::Added {
            pri_tmpl_id: t.pri_tmpl_id,
            tid: doubt.tid,
            kid_list: doubt.kid_list,
            reconciled: true,
        }));
    }
    if now - doubt.since >= APPLY_LATE_SECS {
        clear_doubt(store, SingleUseKind::SubscribeTemplateInDoubt, &id).await;
        tracing::info!(%appid, name, "an addtemplate in doubt was never applied by WeChat; dropped");
        return Ok(None);
    }
    Ok(Some(TemplateAddition::InDoubt { since: doubt.since }))
}

/// Removes the doubt of `name` once its template is recorded under that name.
pub async fn clear_subscribe_template_doubt(store: &dyn Store, appid: &AppId, name: &str) {
    let id = subscribe_doubt_id(appid, name);
    clear_doubt(store, SingleUseKind::SubscribeTemplateInDoubt, &id).await;
}

/// Adds a subscribe template that will be recorded as `name`, never twice: an earlier add of
/// that name still in doubt is settled first ([`settle_subscribe_template`]); then the app's
/// templates are read and the add is recorded as in doubt before `addtemplate` is sent. A lost
/// answer is settled from `gettemplate` (a blind repeat would add a second priTmplId); when
/// that read fails too, the doubt stays and the caller hears the first fault. WeChat's definite
/// refusal clears the doubt.
pub async fn add_subscribe_template(
    mgr: &TokenManager,
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
    name: &str,
    req: &super::services::AddSubscribeTemplate,
    tid: u64,
) -> WechatResult<TemplateAddition> {
    if let Some(earlier) = settle_subscribe_template(mgr, store, clock, appid, name).await? {
        return Ok(earlier);
    }
    let known = mgr
        .wxa(appid)
        .call(&super::services::GetSubscribeTemplates::default())
        .await?
        .data
        .into_iter()
        .map(|t| t.pri_tmpl_id)
        .collect();
    let started = clock.now();
    let doubt = SubscribeTemplateDoubt {
        since: started,
        tid,
        kid_list: req.kid_list.clone(),
        known,
    };
    let id = subscribe_doubt_id(appid, name);
    write_doubt(
        store,
        SingleUseKind::SubscribeTemplateInDoubt,
        &id,
        &doubt,
        started,
    )
    .await?;
    match mgr.wxa(appid).call(req).await {
        Ok(added) => Ok(TemplateAddition::Added {
            pri_tmpl_id: added.pri_tmpl_id,
            tid,
            kid_list: req.kid_list.clone(),
            reconciled: false,
        }),
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(%appid, name, error = %e, "addtemplate answer lost; asking WeChat for the app's templates");
            match settle_subscribe_template(mgr, store, clock, appid, name).await {
                Ok(Some(added @ TemplateAddition::Added { .. })) => Ok(added),
                Ok(_) => Err(e),
                Err(WechatError::Store(se)) => Err(WechatError::Store(se)),
                Err(read) => {
                    tracing::warn!(%appid, name, error = %read, "the app's templates could not be read; the add stays in doubt");
                    Err(e)
                }
            }
        }
        Err(e) => {
            clear_doubt(store, SingleUseKind::SubscribeTemplateInDoubt, &id).await;
            Err(e)
        }
    }
}

/// The app's profile, filled in from WeChat (`api_get_authorizer_info`) when it was stored
/// without one (its read failed at onboarding): audit pushes name the app by the original id
/// it lacks. Status, customer and history are kept as stored.
pub async fn complete_profile(
    mgr: &TokenManager,
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
) -> WechatResult<Option<Authorizer>> {
    let Some(cur) = store.get_authorizer(appid).await? else {
        return Ok(None);
    };
    if !cur.user_name.is_empty() {
        return Ok(Some(cur));
    }
    let info = mgr
        .component()
        .call(&crate::wechat::component::ApiGetAuthorizerInfo {
            component_appid: mgr.component_appid(),
            authorizer_appid: appid,
        })
        .await?;
    let fresh = info.to_authorizer(cur.customer_id.clone(), cur.authorized_at, clock.now());
    let stored = store
        .update_authorizer(appid, &|c| {
            let c = c.filter(|c| c.user_name.is_empty())?;
            let mut completed = Authorizer::merge_authorization(Some(c), fresh.clone(), None);
            completed.status = c.status;
            completed.authorized_at = c.authorized_at;
            Some(completed)
        })
        .await?;
    tracing::info!(%appid, "a profile stored without WeChat's details was completed");
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::content_kids;

    #[test]
    fn a_templates_keyword_ids_are_read_from_its_content() {
        let content = "订单号:{{character_string1.DATA}}\n物流公司:{{thing2.DATA}}\n发货时间:{{time3.DATA}}\n";
        assert_eq!(content_kids(content), vec![1, 2, 3]);
        assert_eq!(
            content_kids("{{thing12.DATA}} {{amount4.DATA}}"),
            vec![4, 12]
        );
        assert!(content_kids("no keys").is_empty());
    }
}
