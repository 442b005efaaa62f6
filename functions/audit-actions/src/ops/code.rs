//! One mini program's code lifecycle: commit, submit for audit, undo, speed up, release. Each
//! step applies the rules before WeChat is called (no new audit while one is pending, release
//! only an approved, unreleased version of a filed app, the undo and speed-up limits, the privacy detection
//! after a commit, the domains a template needs), and is recorded with its operator in the
//! app's activity. Shared by the single-app routes and the batch runner.

use super::app::{lifecycle, recent_activity, undo_counts};
use super::error::{UNDO_PER_DAY, UNDO_PER_MONTH};
use super::{audits, ext_json, filing, profile, requirements, OpsError};
use crate::Deps;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use wxopen::domain::{AppId, AuditId, AuditStatus, UnixTime};
use wxopen::lifecycle::{Action, Stage, PRIVACY_RETRY_SECS};
use wxopen::store::{AuditRecord, AuditUpdate, Authorizer, BatchOutcome};
use wxopen::wechat::component::{GetTemplateList, TemplateType};
use wxopen::wechat::reconcile::{self, ReleaseSettlement, Submission};
use wxopen::wechat::wxa::{
    CodePrivacyInfo, Commit, GetCodePrivacyInfo, GetVersionInfo, QueryQuota, SpeedupAudit,
    SubmitAudit, UndoCodeAudit,
};

/// A commit's input, as the route's body and a batch's params carry it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitBody {
    template_id: u64,
    ext_json: Map<String, Value>,
    user_version: String,
    user_desc: String,
}

impl CommitBody {
    /// What serde cannot say: the version's length and what ext_json may hold
    /// ([`ext_json::check`]).
    pub fn check(&self) -> Result<(), OpsError> {
        if self.user_version.is_empty() || self.user_version.chars().count() > 64 {
            return Err(OpsError::invalid(
                "invalid_user_version",
                "user_version must be 1 to 64 characters",
            ));
        }
        ext_json::check(&self.ext_json)
    }

    /// What only WeChat's template library can say: a standard template takes only three
    /// ext_json keys. One `gettemplatelist` call; when it fails the commit goes on unchecked
    /// (WeChat still refuses a wrong ext_json itself).
    pub async fn check_template(&self, deps: &Deps) -> Result<(), OpsError> {
        let standard = GetTemplateList {
            template_type: Some(TemplateType::Standard),
        };
        match deps
            .mgr
            .component()
            .call(&standard)
            .await
            .map(|l| l.template_list)
        {
            Ok(list) if list.iter().any(|t| t.template_id == self.template_id) => {
                ext_json::check_standard(&self.ext_json)
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
pub fn check_submission(req: &SubmitAudit) -> Result<(), OpsError> {
    if req.item_list.len() > 5 {
        return Err(OpsError::invalid(
            "invalid_item_list",
            "item_list takes at most 5 pages",
        ));
    }
    Ok(())
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a step of the code lifecycle did (the route's answer and a batch item's outcome).
/// `reconciled`: the step had been done already (its answer lost), as WeChat now says;
/// `lifecycle`: the app's stage afterwards (not read by a runner taking over).
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Done {
    Committed {
        template_id: u64,
        user_version: String,
        lifecycle: Stage,
    },
    Submitted {
        auditid: AuditId,
        user_version: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        lifecycle: Option<Stage>,
        #[serde(skip_serializing_if = "is_false")]
        reconciled: bool,
    },
    Released {
        #[serde(skip_serializing_if = "Option::is_none")]
        auditid: Option<AuditId>,
        user_version: Option<String>,
        released_at: UnixTime,
        #[serde(skip_serializing_if = "Option::is_none")]
        lifecycle: Option<Stage>,
        #[serde(skip_serializing_if = "is_false")]
        reconciled: bool,
    },
    /// A fleet subscribe batch's app: the template under the provider's name. `added`: this
    /// batch added it (else the app had it already, and is counted skipped).
    SubscribeTemplate {
        name: String,
        pri_tmpl_id: String,
        added: bool,
        #[serde(skip_serializing_if = "is_false")]
        reconciled: bool,
    },
    /// The app has the name already, for another title or keywords: left as it is (skipped).
    SubscribeTemplateNameTaken { name: String },
}

impl Done {
    /// How a batch counts it: a step done, or nothing to do (the app had it already).
    pub fn batch_outcome(&self) -> BatchOutcome {
        match self {
            Done::SubscribeTemplate { added: false, .. }
            | Done::SubscribeTemplateNameTaken { .. } => BatchOutcome::Skipped,
            _ => BatchOutcome::Ok,
        }
    }
}

/// Commits a template to one app (inputs checked).
pub async fn commit(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    b: CommitBody,
) -> Result<Done, OpsError> {
    let ext = Value::Object(b.ext_json);
    let req = Commit::new(b.template_id, &ext, b.user_version.clone(), b.user_desc);
    deps.mgr.wxa(&a.appid).call(&req).await?;
    let digest = hex::encode(Sha256::digest(req.ext_json.as_bytes()));
    deps.record(operator, &a.appid, Action::Commit, |x| {
        x.template_id = Some(b.template_id);
        x.user_version = Some(b.user_version.clone());
        x.details = json!({ "ext_json_sha256": digest });
    })
    .await;
    Ok(Done::Committed {
        template_id: b.template_id,
        user_version: b.user_version,
        lifecycle: lifecycle(deps, &a.appid).await?,
    })
}

/// Submits one app's experience version for audit (inputs checked), unless an audit is
/// pending or WeChat's privacy detection says no.
pub async fn submit(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    req: &SubmitAudit,
) -> Result<Done, OpsError> {
    if let Some(r) = audits::current(deps, &a.appid).await? {
        if r.status.is_pending() {
            return Err(OpsError::AuditPending {
                auditid: r.auditid,
                status: r.status,
            });
        }
    }
    // A name, an avatar, a signature and an approved category, or WeChat refuses the audit:
    // refused here, before the submission spends the platform's monthly quota.
    profile::require_complete(deps, &a.appid).await?;
    let commit = recent_activity(deps.store.as_ref(), &a.appid)
        .await?
        .into_iter()
        .find(|x| x.is(Action::Commit));
    // The version WeChat holds as the experience version is what is submitted.
    let exp = deps
        .mgr
        .wxa(&a.appid)
        .call(&GetVersionInfo {})
        .await?
        .exp_info;
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
        match deps.mgr.wxa(&a.appid).call(&GetCodePrivacyInfo).await {
            Ok(info) if !info.without_conf_list.is_empty() => return Err(undeclared(info)),
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
    let submitted = reconcile::submit_audit(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &a.appid,
        req,
        &submission,
    )
    .await;
    let audit = match submitted {
        Ok(audit) => audit,
        // The detection WeChat runs after each commit has not finished: a wait, not a failure.
        Err(e) if e.errcode() == Some(61039) => {
            return Err(detection_pending(deps, operator, a, &submission).await)
        }
        // An audit is pending at WeChat that is not this submission (one from WeChat's console,
        // or an earlier one): adopted into the history and named, as the pending rule does.
        Err(e) if e.errcode() == Some(85009) => {
            let pending = audits::refresh_latest(deps, &a.appid).await?;
            return Err(OpsError::AuditPendingAtWechat {
                auditid: pending.as_ref().map(|r| r.auditid),
                status: pending.as_ref().map(|r| r.status),
            });
        }
        // The code uses privacy interfaces ext.json does not declare: name them (one more call,
        // only on this refusal) so the operator knows what to add.
        Err(e) if e.errcode() == Some(61040) => {
            let info = deps
                .mgr
                .wxa(&a.appid)
                .call(&GetCodePrivacyInfo)
                .await
                .unwrap_or_default();
            return Err(undeclared(info));
        }
        Err(e) => return Err(e.into()),
    };
    record_audit_step(deps, operator, Action::SubmitAudit, &audit).await;
    Ok(Done::Submitted {
        auditid: audit.auditid,
        user_version: audit.user_version,
        lifecycle: Some(lifecycle(deps, &a.appid).await?),
        reconciled: false,
    })
}

/// A step taken on an audit (its submission, its release), recorded with the audit's template
/// and version.
async fn record_audit_step(deps: &Deps, operator: &str, action: Action, r: &AuditRecord) {
    deps.record(operator, &r.appid, action, |x| {
        x.auditid = Some(r.auditid);
        x.template_id = r.template_id;
        x.user_version = r.user_version.clone();
    })
    .await;
}

/// The 61039 wait, kept in the activity (once per wait) so the app's stage shows it.
async fn detection_pending(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    submission: &Submission,
) -> OpsError {
    let waiting = matches!(
        lifecycle(deps, &a.appid).await,
        Ok(Stage::PrivacyDetectionPending { .. })
    );
    if !waiting {
        deps.record(operator, &a.appid, Action::PrivacyDetectionPending, |x| {
            x.user_version = submission.user_version.clone()
        })
        .await;
    }
    OpsError::PrivacyDetectionPending {
        retry_after: PRIVACY_RETRY_SECS,
    }
}

fn undeclared(info: CodePrivacyInfo) -> OpsError {
    OpsError::PrivacyInterfacesUndeclared {
        without_conf_list: info.without_conf_list,
        without_auth_list: info.without_auth_list,
    }
}

/// Releases one app's approved, unreleased version.
pub async fn release(deps: &Deps, operator: &str, a: &Authorizer) -> Result<Done, OpsError> {
    if let Some(done) = release_in_doubt_went_online(deps, operator, a).await? {
        return Ok(done);
    }
    let latest = audits::current(deps, &a.appid).await?;
    let Some(r) = latest.filter(|r| r.status == AuditStatus::Approved && r.released_at.is_none())
    else {
        let latest = deps.store.latest_audit(&a.appid).await?;
        return Err(OpsError::NotApproved {
            auditid: latest.as_ref().map(|r| r.auditid),
            status: latest.as_ref().map(|r| r.status),
            released_at: latest.and_then(|r| r.released_at),
        });
    };
    // An app not filed may not go live: refused before WeChat is asked to release.
    filing::require_filed(deps, &a.appid).await?;
    // The domains the template's code calls are on the app's lists (when set for it).
    requirements::check_before_release(deps, &a.appid, r.template_id).await?;
    let at = reconcile::release(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &a.appid,
        r.auditid,
        r.user_version.as_deref(),
    )
    .await?;
    record_audit_step(deps, operator, Action::Release, &r).await;
    super::notifications::release_done(deps, &a.appid, Some(r.auditid), r.user_version.clone(), at)
        .await;
    Ok(Done::Released {
        auditid: Some(r.auditid),
        user_version: r.user_version,
        released_at: at,
        lifecycle: Some(lifecycle(deps, &a.appid).await?),
        reconciled: false,
    })
}

/// A release in doubt (its answer lost, the read after it failed) settled from WeChat first:
/// when its version went online, that is this release's answer. When WeChat cannot be asked the
/// doubt stays; a release then meets WeChat's own answer (85052) and settles it.
async fn release_in_doubt_went_online(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
) -> Result<Option<Done>, OpsError> {
    let settled = reconcile::settle_release(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &a.appid,
    )
    .await;
    let Some(ReleaseSettlement::Released {
        auditid,
        user_version,
        at,
    }) = audits::wechat_later(&a.appid, "a release in doubt", settled)?
    else {
        return Ok(None);
    };
    // An audit approved since is another version, for this request to release.
    let latest = deps.store.latest_audit(&a.appid).await?;
    if latest.is_some_and(|r| r.auditid != auditid) {
        return Ok(None);
    }
    deps.record(operator, &a.appid, Action::Release, |x| {
        x.auditid = Some(auditid);
        x.user_version = user_version.clone();
        x.details = json!({ "reconciled": true });
    })
    .await;
    Ok(Some(Done::Released {
        auditid: Some(auditid),
        user_version,
        released_at: at,
        lifecycle: Some(lifecycle(deps, &a.appid).await?),
        reconciled: true,
    }))
}

/// Withdraws the app's pending audit, within WeChat's undo limits; the withdrawn auditid.
pub async fn undo(deps: &Deps, operator: &str, appid: &AppId) -> Result<AuditId, OpsError> {
    let pending = audits::pending(deps, appid).await?;
    let (log, clock) = (deps.store.as_ref(), deps.clock.as_ref());
    let (day, month) = undo_counts(log, clock.now(), appid).await?;
    if day >= UNDO_PER_DAY || month >= UNDO_PER_MONTH {
        return Err(OpsError::UndoLimit { day, month });
    }
    deps.mgr.wxa(appid).call(&UndoCodeAudit).await?;
    let update = AuditUpdate {
        status: AuditStatus::Withdrawn,
        reason: None,
        screenshots: vec![],
        at: clock.now(),
    };
    audits::update(deps.store.as_ref(), appid, pending.auditid, &update).await?;
    deps.record(operator, appid, Action::UndoAudit, |x| {
        x.auditid = Some(pending.auditid);
    })
    .await;
    Ok(pending.auditid)
}

/// Speeds up the app's pending audit while the month's speed-ups last (speedupaudit.html:
/// 89405 when they are used; said before WeChat is asked); the sped-up auditid.
pub async fn speedup(deps: &Deps, operator: &str, appid: &AppId) -> Result<AuditId, OpsError> {
    let pending = audits::pending(deps, appid).await?;
    let quota = deps.mgr.wxa(appid).call(&QueryQuota).await?;
    super::notifications::audit_quota_seen(deps, quota.rest, quota.limit).await;
    if quota.speedup_rest <= 0 {
        return Err(OpsError::SpeedupQuota {
            rest: quota.speedup_rest,
            limit: quota.speedup_limit,
        });
    }
    let auditid = pending.auditid;
    deps.mgr.wxa(appid).call(&SpeedupAudit { auditid }).await?;
    deps.record(operator, appid, Action::SpeedupAudit, |x| {
        x.auditid = Some(pending.auditid);
    })
    .await;
    Ok(pending.auditid)
}

/// The version a roll-back goes to: exactly one of a named version or the previous one said
/// out loud (`None`: the previous one).
pub fn revert_target(app_version: Option<u64>, previous: bool) -> Result<Option<u64>, OpsError> {
    match (app_version, previous) {
        (Some(v), false) => Ok(Some(v)),
        (None, true) => Ok(None),
        _ => Err(OpsError::InvalidRevert),
    }
}
