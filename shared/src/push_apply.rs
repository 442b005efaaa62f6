//! Applying a verified, decrypted push to our state, once: what a `component_verify_ticket`, an
//! authorization change or an audit result changes in the store.
//!
//! ticket-push only routes, verifies and answers; this module is what a push *does*, so that
//! every way a push arrives (the Lambda, `wxopen-local`) applies it the same way. Each step takes
//! the store traits it touches: de-duplication the [`PushLog`], component events the
//! [`TicketStore`] and [`AuthorizerStore`]; only audit results take the whole [`Store`], because
//! settling a submission in doubt ([`reconcile`]) reads and writes audits, authorizers and the
//! activity log together.
//!
//! A push that could not be applied is an [`ApplyError`]: answered with a 5xx so that WeChat
//! delivers it again, and applied then (it is remembered only once applied).

use crate::domain::{AppId, AuditStatus, Clock, UnixTime};
use crate::events::{
    AppealRecord, AuthorizerEvent, ComponentEvent, FastRegisterResult, IcpFilingResult,
    IcpVerifyResult, Punishment,
};
use crate::failure::{Classify, Failure, StatusCode};
use crate::notifications::{self, Event, ReviewSubject};
use crate::onboarding::{Onboarding, OnboardingError};
use crate::store::registration::{self, change_registration};
use crate::store::{
    update_profile_state, CategoryReview, NicknameReview, ProfileStore, ReviewStatus,
};
use crate::store::{
    Appeal, AppealStatus, AuditRecord, AuditStore, AuditUpdate, AuthorizerStore, FilingState,
    FilingStore, NotificationStore, Penalty, PenaltyKind, PushLog, Revocation, Store, StoreError,
    Ticket, TicketStore,
};
use crate::store::{Registration, RegistrationStatus, RegistrationStore, UNASSIGNED_CUSTOMER};
use crate::wechat::{reconcile, WechatError};
use secrecy::SecretString;
use sha1::{Digest, Sha1};

/// How long a push digest is remembered for de-duplication (WeChat retries within seconds, three
/// times at most).
pub const PUSH_MEMORY_SECS: i64 = 3600;

/// The push URL a push came to: the authorization-event URL (授权事件接收URL) or one authorized
/// account's message URL (消息与事件接收URL, `…/wechat/apps/$APPID$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTarget {
    Component,
    App(AppId),
}

/// What became of a push that [`apply_once`] was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Applied now (or acknowledged and ignored, for an event that changes nothing).
    Applied,
    /// The same push was applied before: WeChat retried it; nothing was done again.
    Repeated,
}

/// Why a verified push could not be applied now: each is answered with a 5xx, so that WeChat
/// delivers the push again.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the push could not be stored; retry")]
    Store(#[source] StoreError),
    /// The callback holds the pushed authorization code right now: by WeChat's retry, the
    /// outcome is there.
    #[error("this authorization is being stored by the callback")]
    AuthorizationInProgress,
    #[error("this authorization could not be recovered yet; retry")]
    AuthorizationUnfinished,
    #[error("exchanging the authorization code failed")]
    CodeExchange(#[source] WechatError),
    /// An audit result for an app whose submission is in doubt, and WeChat could not be asked
    /// which audit it is (the hourly check settles the doubt meanwhile).
    #[error("a submission of this app is in doubt and WeChat could not be asked; retry")]
    AuditInDoubt(#[source] WechatError),
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "push could not be stored; WeChat will retry");
        ApplyError::Store(e)
    }
}

/// Each failure asks WeChat to push again: 503 when we (or the callback) are the ones to wait
/// for, 502 when WeChat itself failed the code exchange. The codes are the push URLs' own
/// (monitoring matches on them), not onboarding's merchant-facing ones.
impl Classify for ApplyError {
    fn classify(&self) -> Failure {
        let (status, code) = match self {
            ApplyError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            ApplyError::AuthorizationInProgress => (StatusCode::SERVICE_UNAVAILABLE, "in_progress"),
            ApplyError::AuthorizationUnfinished => (StatusCode::SERVICE_UNAVAILABLE, "unfinished"),
            ApplyError::CodeExchange(_) => (StatusCode::BAD_GATEWAY, "wechat_failed"),
            ApplyError::AuditInDoubt(_) => (StatusCode::SERVICE_UNAVAILABLE, "audit_in_doubt"),
        };
        Failure::new(status, code)
    }
}

/// The de-duplication key of a verified push: the URL it came to and its decrypted message (a
/// retried push is the same message; two different events never are: each carries its
/// CreateTime and content). Keyed on what was decrypted, not on the query as sent: the
/// signature's hex verifies in any letter case, so a replay in upper case is still the push
/// already applied.
pub fn push_digest(target: &PushTarget, xml: &str) -> String {
    let to = match target {
        PushTarget::Component => "component",
        PushTarget::App(appid) => appid.as_str(),
    };
    hex::encode(Sha1::digest(format!("{to}|{xml}").as_bytes()))
}

/// What applying a push needs beside the store: the onboarding that exchanges pushed
/// authorization codes (with a short wait: a push is answered within WeChat's 5 s) and the clock.
pub struct ApplyDeps<'a> {
    pub store: &'a dyn Store,
    pub onboarding: &'a Onboarding,
    pub clock: &'a dyn Clock,
    /// Our component appid: a ticket pushed for another platform is not stored.
    pub component_appid: &'a AppId,
}

/// Applies the push `xml` that came to `target`, unless the same push was applied before.
pub async fn apply_once(
    target: &PushTarget,
    xml: &str,
    now: UnixTime,
    deps: &ApplyDeps<'_>,
) -> Result<Delivery, ApplyError> {
    remembered_once(deps.store, &push_digest(target, xml), now, async {
        match target {
            PushTarget::Component => {
                apply_component_push(deps.store, deps.onboarding, deps.component_appid, xml, now)
                    .await
            }
            PushTarget::App(appid) => {
                apply_app_push(deps.store, deps.onboarding, deps.clock, appid, xml).await
            }
        }
    })
    .await
}

/// Runs `apply` unless the push with `digest` was applied before, and remembers it once applied
/// (so that a failed apply is retried by WeChat and applied then).
async fn remembered_once<L: PushLog + ?Sized>(
    log: &L,
    digest: &str,
    now: UnixTime,
    apply: impl std::future::Future<Output = Result<(), ApplyError>>,
) -> Result<Delivery, ApplyError> {
    // A probe: with `expires_at = now` nothing lasting is recorded, but a digest remembered from
    // an earlier, applied delivery answers `false`. The lasting record is written after applying.
    if !log.record_push_if_new(digest, now, now).await? {
        tracing::info!("repeated push: already applied");
        return Ok(Delivery::Repeated);
    }
    apply.await?;
    if let Err(e) = log
        .record_push_if_new(digest, now, now + PUSH_MEMORY_SECS)
        .await
    {
        tracing::warn!(error = %e, "push applied but not remembered; a retry re-applies it idempotently");
    }
    Ok(Delivery::Applied)
}

/// A push that verified and decrypted (so it came from WeChat) but whose known event is
/// malformed: logged (the error names the field, never a value) and acknowledged, since a refusal
/// would only have WeChat retry the same push for ever. Nothing is stored.
fn signed_but_unusable(e: &dyn std::fmt::Display) {
    tracing::error!(error = %e, "a signed push carries a malformed event; acknowledged and ignored");
}

/// Applies a push to the authorization-event URL: stores a ticket, takes on an authorization,
/// revokes one.
pub async fn apply_component_push<
    S: TicketStore + AuthorizerStore + FilingStore + NotificationStore + RegistrationStore + ?Sized,
>(
    store: &S,
    onboarding: &Onboarding,
    component_appid: &AppId,
    xml: &str,
    now: UnixTime,
) -> Result<(), ApplyError> {
    let event = match ComponentEvent::parse(xml) {
        Ok(event) => event,
        Err(e) => {
            signed_but_unusable(&e);
            return Ok(());
        }
    };
    match event {
        ComponentEvent::VerifyTicket {
            component_appid: ticket_appid,
            ticket,
            create_time,
        } => {
            if ticket_appid != component_appid.as_str() {
                // Signed with our token and key, yet naming another platform: nothing to store,
                // and refusing it would only make WeChat retry it.
                tracing::error!("a signed ticket push names another component appid; ignored");
                return Ok(());
            }
            store
                .save_ticket(
                    component_appid,
                    &Ticket {
                        value: ticket,
                        received_at: now,
                        created_at: create_time,
                    },
                )
                .await?;
            tracing::info!("component_verify_ticket stored");
        }
        ComponentEvent::Authorized(change) | ComponentEvent::UpdateAuthorized(change) => {
            // Exchanged here as well as at the callback: a merchant who closed the browser before
            // the redirect is still on board. Whichever comes second only finds the outcome.
            take_on(
                onboarding,
                &change.authorization_code,
                &change.authorizer_appid,
                change.create_time,
            )
            .await?;
        }
        ComponentEvent::Unauthorized {
            authorizer_appid,
            create_time,
            ..
        } => {
            // Status and token removal in one transaction, and only if nothing newer happened
            // (WeChat retrying an old push after the merchant authorized again changes nothing).
            match store
                .revoke_authorization(&authorizer_appid, create_time)
                .await?
            {
                Revocation::Revoked => {
                    tracing::info!(authorizer = %authorizer_appid, "authorization revoked; tokens dropped");
                    // In the outbox before the push is answered (a failed write has WeChat push
                    // again, and the revocation, idempotent, is applied and notified then); keyed
                    // by the revocation's CreateTime, so a retried push notifies once.
                    let id = format!("unauthorized:{authorizer_appid}:{create_time}");
                    let event = Event::Unauthorized {
                        appid: authorizer_appid.clone(),
                    };
                    notifications::emit(store, event, &id, now).await?;
                }
                Revocation::Stale => {
                    tracing::info!(authorizer = %authorizer_appid, "unauthorized push older than the authorization stored; ignored")
                }
            }
        }
        ComponentEvent::FastRegister(r) => {
            tracing::info!(
                appid = r.appid.as_ref().map(AppId::as_str),
                status = r.status,
                msg = %r.msg,
                "fast registration result"
            );
            let i = &r.info;
            let subject = if !i.wxuser.is_empty() {
                Some(registration::personal_subject(&i.idname, &i.wxuser))
            } else if !i.name.is_empty() {
                Some(registration::enterprise_subject(
                    &i.name,
                    &i.legal_persona_wechat,
                    &i.legal_persona_name,
                ))
            } else {
                None
            };
            registration_result(store, onboarding, &r, subject, now).await?;
        }
        ComponentEvent::FastRegisterBeta(r) => {
            tracing::info!(
                appid = r.appid.as_ref().map(AppId::as_str),
                status = r.status,
                msg = %r.msg,
                "trial registration result"
            );
            let subject = Some(&r.info.unique_id)
                .filter(|u| !u.is_empty())
                .map(|u| registration::beta_subject(u));
            registration_result(store, onboarding, &r, subject, now).await?;
        }
        ComponentEvent::FastVerifyBeta(r) => {
            tracing::info!(
                appid = r.appid.as_ref().map(AppId::as_str),
                status = r.status,
                msg = %r.msg,
                "trial verification result"
            );
            verification_result(store, &r, now).await?;
        }
        ComponentEvent::IcpFilingResult(r) => match r.authorizer_appid.clone() {
            Some(appid) => apply_filing_result(store, onboarding, &appid, &r, now).await?,
            None => tracing::warn!("a filing result naming no authorizer_appid; ignored"),
        },
        ComponentEvent::IcpVerifyResult(r) => face_check_finished(&r),
        ComponentEvent::Unknown { info_type, .. } => {
            tracing::info!(%info_type, "ignored a component push of an unhandled type");
        }
    }
    Ok(())
}

/// A registration's result pushed (`notify_third_fasteregister`,
/// `notify_third_fastregisterbetaapp`): a new mini program is taken on (its code exchanged, as
/// an `authorized` push's is); when the push's subject is a registration of ours, the app is
/// bound to the registration's customer (unless an operator bound one already), the
/// registration records the outcome and the operators are told. Each step is idempotent, so a
/// repeated push (even with another CreateTime) takes the app on once and notifies once. A
/// result matching no registration (one started in WeChat's console) leaves the app
/// `unassigned`, as before.
async fn registration_result<
    S: AuthorizerStore + NotificationStore + RegistrationStore + ?Sized,
>(
    store: &S,
    onboarding: &Onboarding,
    r: &FastRegisterResult,
    subject: Option<String>,
    now: UnixTime,
) -> Result<(), ApplyError> {
    if let (true, Some(code), Some(appid)) = (r.succeeded(), &r.auth_code, &r.appid) {
        take_on(onboarding, code, appid, r.create_time).await?;
    }
    let found = match &subject {
        Some(s) => store.find_registration_by_subject(s).await?,
        None => None,
    };
    let Some(found) = found else {
        tracing::info!("a registration result matching no registration of ours; the app (if any) stays unassigned");
        return Ok(());
    };
    let reg = found.registration;
    let id = reg.registration_id.clone();
    let appid = r.appid.clone().filter(|_| r.succeeded());
    if let Some(appid) = &appid {
        bind_registered(store, appid, &reg.customer_id, now).await?;
    }
    let status = match &appid {
        Some(a) => RegistrationStatus::Succeeded {
            appid: Some(a.clone()),
        },
        None => RegistrationStatus::Failed {
            reason: if r.msg.is_empty() {
                format!("WeChat pushed status {}", r.status)
            } else {
                r.msg.clone()
            },
            errcode: Some(r.status),
        },
    };
    let settled =
        change_registration(store, &id, |cur| settle_registration(cur, &status, now)).await?;
    tracing::info!(registration = %id, status = ?settled.as_ref().map(|x| x.status.state()), "registration result recorded");
    let (approved, detail) = match &appid {
        Some(a) => (
            true,
            format!(
                "registration {id} for customer {}: mini program {a} created",
                reg.customer_id
            ),
        ),
        None => (
            false,
            format!(
                "registration {id} for customer {} failed (status {}): {}",
                reg.customer_id, r.status, r.msg
            ),
        ),
    };
    let event = Event::RegistrationResult {
        appid,
        approved,
        detail,
    };
    let key = format!(
        "registration:{id}:{}",
        if approved { "succeeded" } else { "failed" }
    );
    notifications::emit(store, event, &key, now).await?;
    Ok(())
}

/// The registration as `status` (pushed or read) leaves it, `None` when that changes nothing: a
/// success names its appid once; a known appid is never lost, and a success is never undone by
/// a late failure. A trial's appid becomes a subject as well: its verification push names it.
pub fn settle_registration(
    cur: &Registration,
    status: &RegistrationStatus,
    now: UnixTime,
) -> Option<Registration> {
    let keep = match (&cur.status, status) {
        (RegistrationStatus::Succeeded { appid: Some(_) }, _) => true,
        (RegistrationStatus::Succeeded { .. }, RegistrationStatus::Failed { .. }) => true,
        (a, b) => a == b,
    };
    let taken_on = cur.taken_on || status.appid().is_some();
    if keep && taken_on == cur.taken_on {
        return None;
    }
    let mut next = cur.clone();
    if !keep {
        next.status = status.clone();
    }
    next.taken_on = taken_on;
    if let (registration::Applicant::Beta { .. }, Some(a)) = (&next.applicant, next.status.appid())
    {
        next.subject = Some(registration::app_subject(a));
    }
    next.updated_at = now;
    Some(next)
}

/// Binds a registered mini program to its registration's customer, unless it has one (an
/// operator's binding is never replaced).
async fn bind_registered<S: AuthorizerStore + ?Sized>(
    store: &S,
    appid: &AppId,
    customer_id: &str,
    now: UnixTime,
) -> Result<(), ApplyError> {
    store
        .update_authorizer(appid, &|cur| {
            let mut a = cur?.clone();
            if a.customer_id
                .as_deref()
                .is_some_and(|c| c != UNASSIGNED_CUSTOMER)
            {
                return None;
            }
            a.customer_id = Some(customer_id.to_owned());
            a.updated_at = a.updated_at.max(now);
            Some(a)
        })
        .await?;
    Ok(())
}

/// A trial made formal (or not): the registration that created the trial records it.
async fn verification_result<S: NotificationStore + RegistrationStore + ?Sized>(
    store: &S,
    r: &FastRegisterResult,
    now: UnixTime,
) -> Result<(), ApplyError> {
    let Some(appid) = &r.appid else {
        tracing::warn!("a trial verification result naming no appid; ignored");
        return Ok(());
    };
    let Some(found) = store
        .find_registration_by_subject(&registration::app_subject(appid))
        .await?
    else {
        tracing::info!(%appid, "a trial verification result for a trial not registered through wxopen; ignored");
        return Ok(());
    };
    let id = found.registration.registration_id.clone();
    let status = if r.succeeded() {
        RegistrationStatus::Succeeded {
            appid: Some(appid.clone()),
        }
    } else {
        RegistrationStatus::Failed {
            reason: if r.msg.is_empty() {
                format!("WeChat pushed status {}", r.status)
            } else {
                r.msg.clone()
            },
            errcode: Some(r.status),
        }
    };
    change_registration(store, &id, |cur| {
        let v = cur.verification.as_ref()?;
        if v.status == status || matches!(v.status, RegistrationStatus::Succeeded { .. }) {
            return None;
        }
        let mut next = cur.clone();
        if let Some(v) = next.verification.as_mut() {
            v.status = status.clone();
            v.updated_at = now;
        }
        next.updated_at = now;
        Some(next)
    })
    .await?;
    let event = Event::RegistrationResult {
        appid: Some(appid.clone()),
        approved: r.succeeded(),
        detail: format!(
            "registration {id}: the trial mini program {appid} {}",
            if r.succeeded() {
                "was made formal".to_owned()
            } else {
                format!("was not made formal (status {}): {}", r.status, r.msg)
            }
        ),
    };
    let key = format!(
        "registration:{id}:verification:{}",
        if r.succeeded() { "succeeded" } else { "failed" }
    );
    notifications::emit(store, event, &key, now).await?;
    Ok(())
}

/// Exchanges a pushed authorization code and stores the authorizer (through the onboarding the
/// callback uses, so whichever of them comes second only finds the outcome).
async fn take_on(
    onboarding: &Onboarding,
    code: &SecretString,
    appid: &AppId,
    at: UnixTime,
) -> Result<(), ApplyError> {
    match onboarding.complete(code, Some(appid), None, at).await {
        Ok(done) => {
            tracing::info!(authorizer = %appid, exchanged = done.exchanged, "authorization (re)granted and stored");
            Ok(())
        }
        Err(OnboardingError::InProgress) => Err(ApplyError::AuthorizationInProgress),
        Err(OnboardingError::Store(e)) => Err(e.into()),
        Err(OnboardingError::Unfinished) => Err(ApplyError::AuthorizationUnfinished),
        Err(OnboardingError::Wechat(e)) => {
            tracing::error!(authorizer = %appid, error = %e, "exchanging a pushed authorization code failed");
            Err(ApplyError::CodeExchange(e))
        }
    }
}

/// Applies a push to one account's message URL: an audit result lands on the audit it concerns.
/// The whole [`Store`]: a submission in doubt is settled first ([`reconcile`]).
pub async fn apply_app_push(
    store: &dyn Store,
    onboarding: &Onboarding,
    clock: &dyn Clock,
    appid: &AppId,
    xml: &str,
) -> Result<(), ApplyError> {
    let event = match AuthorizerEvent::parse(xml) {
        Ok(event) => event,
        Err(e) => {
            signed_but_unusable(&e);
            return Ok(());
        }
    };
    let (header, update) = match event {
        AuthorizerEvent::AuditSuccess { header, succ_time } => (
            header,
            AuditUpdate {
                status: AuditStatus::Approved,
                reason: None,
                screenshots: vec![],
                at: succ_time,
            },
        ),
        AuthorizerEvent::AuditFail {
            header,
            reason,
            fail_time,
            screenshots,
        } => (
            header,
            AuditUpdate {
                status: AuditStatus::Rejected,
                reason: Some(reason),
                screenshots,
                at: fail_time,
            },
        ),
        AuthorizerEvent::AuditDelay {
            header,
            reason,
            delay_time,
        } => (
            header,
            AuditUpdate {
                status: AuditStatus::Delayed,
                reason: Some(reason),
                screenshots: vec![],
                at: delay_time,
            },
        ),
        AuthorizerEvent::Punished { punishment, .. } => {
            return record_penalty(store, clock, appid, punishment).await;
        }
        AuthorizerEvent::AppealRecord { header, appeal } => {
            return record_appeal(store, clock, appid, header.create_time, appeal).await;
        }
        AuthorizerEvent::IcpFilingResult { result, .. } => {
            if result.authorizer_appid.as_ref().is_some_and(|a| a != appid) {
                tracing::warn!(%appid, "a filing result naming another app than its URL; ignored");
                return Ok(());
            }
            return apply_filing_result(store, onboarding, appid, &result, clock.now()).await;
        }
        AuthorizerEvent::IcpVerifyResult { result, .. } => {
            face_check_finished(&result);
            return Ok(());
        }
        AuthorizerEvent::NicknameAudit { header, review } => {
            if !audit_push_is_this_apps(store, onboarding, clock, appid, &header.to_user_name)
                .await?
            {
                return Ok(());
            }
            let decision = NicknameDecision {
                nickname: review.nickname,
                status: review.status,
                reason: review.reason,
                at: header.create_time,
            };
            record_nickname_decision(store, appid, decision, clock.now()).await?;
            return Ok(());
        }
        AuthorizerEvent::CategoryAudit { header, review } => {
            if !audit_push_is_this_apps(store, onboarding, clock, appid, &header.to_user_name)
                .await?
            {
                return Ok(());
            }
            let decision = CategoryReview {
                first: review.first,
                second: review.second,
                status: review.status,
                reason: review.reason,
                at: header.create_time,
            };
            record_category_decision(store, appid, decision, clock.now()).await?;
            return Ok(());
        }
        AuthorizerEvent::Unknown {
            msg_type, event, ..
        } => {
            tracing::info!(%appid, %msg_type, event = event.as_deref().unwrap_or(""), "ignored an app push of an unhandled type");
            return Ok(());
        }
    };
    if !audit_push_is_this_apps(store, onboarding, clock, appid, &header.to_user_name).await? {
        return Ok(());
    }
    settle_submission_in_doubt(store, onboarding, clock, appid).await?;
    record_audit_result(store, appid, &update, clock.now()).await
}

/// A name review's result, pushed (`wxa_nickname_audit`) or polled (`api_wxa_querynickname`).
#[derive(Debug, Clone)]
pub struct NicknameDecision {
    pub nickname: String,
    pub status: ReviewStatus,
    pub reason: String,
    pub at: UnixTime,
}

/// Records a name review's result on the app's profile state and notifies it, once: a push
/// after the poll that settled it (or a repeated push) finds it recorded and changes nothing.
/// The stored profile read is dropped on a change, so the completeness guard reads WeChat again.
pub async fn record_nickname_decision<S: ProfileStore + NotificationStore + ?Sized>(
    store: &S,
    appid: &AppId,
    d: NicknameDecision,
    now: UnixTime,
) -> Result<(), StoreError> {
    let mut since = d.at;
    let mut changed = false;
    update_profile_state(store, appid, |s| {
        // The review wxopen keeps (the same name; or a push naming none while one is checked),
        // else one started in WeChat's own console.
        let mut r = match &s.nickname_review {
            Some(r)
                if r.nickname == d.nickname
                    || (d.nickname.is_empty() && r.status == ReviewStatus::Checking) =>
            {
                r.clone()
            }
            _ => NicknameReview {
                nickname: d.nickname.clone(),
                audit_id: None,
                status: ReviewStatus::Checking,
                reason: String::new(),
                since: d.at,
                decided_at: None,
            },
        };
        since = r.since;
        changed = r.status != d.status || r.reason != d.reason;
        if !changed {
            return false;
        }
        r.status = d.status;
        r.reason = d.reason.clone();
        r.decided_at = Some(d.at);
        s.nickname_review = Some(r);
        s.snapshot = None;
        true
    })
    .await?;
    if !changed {
        tracing::info!(%appid, "a name review's result already recorded");
        return Ok(());
    }
    let id = format!("profile:{appid}:name:{since}:{}", d.status.as_str());
    let event = Event::ProfileReview {
        appid: appid.clone(),
        subject: ReviewSubject::Name {
            nickname: d.nickname,
        },
        approved: d.status == ReviewStatus::Approved,
        reason: d.reason,
    };
    notifications::emit(store, event, &id, now).await?;
    Ok(())
}

/// Records a category review's result (pushed as `wxa_category_audit`, or read from
/// `getcategory`), and notifies a decision once, as [`record_nickname_decision`] does.
pub async fn record_category_decision<S: ProfileStore + NotificationStore + ?Sized>(
    store: &S,
    appid: &AppId,
    d: CategoryReview,
    now: UnixTime,
) -> Result<(), StoreError> {
    let mut since = d.at;
    let mut changed = false;
    update_profile_state(store, appid, |s| {
        let before = s.category_review(d.first, d.second).cloned();
        changed = before
            .as_ref()
            .is_none_or(|b| b.status != d.status || b.reason != d.reason);
        if !changed {
            return false;
        }
        since = match &before {
            Some(b) if b.status == ReviewStatus::Checking => b.at,
            _ => d.at,
        };
        s.set_category_review(d.clone());
        s.snapshot = None;
        true
    })
    .await?;
    if !changed || d.status == ReviewStatus::Checking {
        return Ok(());
    }
    let id = format!(
        "profile:{appid}:category:{}:{}:{since}:{}",
        d.first,
        d.second,
        d.status.as_str()
    );
    let event = Event::ProfileReview {
        appid: appid.clone(),
        subject: ReviewSubject::Category {
            first: d.first,
            second: d.second,
        },
        approved: d.status == ReviewStatus::Approved,
        reason: d.reason,
    };
    notifications::emit(store, event, &id, now).await?;
    Ok(())
}

/// Puts an audit's result in the notification outbox, keyed by the audit and its status: the
/// same result pushed again (even with another CreateTime) is one notification.
async fn notify_audit_result<S: NotificationStore + ?Sized>(
    store: &S,
    audit: &AuditRecord,
    update: &AuditUpdate,
    now: UnixTime,
) -> Result<(), ApplyError> {
    let (appid, auditid) = (audit.appid.clone(), audit.auditid.0);
    let reason = update.reason.clone().unwrap_or_default();
    let event = match update.status {
        AuditStatus::Approved => Event::AuditApproved { appid, auditid },
        AuditStatus::Rejected => Event::AuditRejected {
            appid,
            auditid,
            reason,
        },
        AuditStatus::Delayed => Event::AuditDelayed {
            appid,
            auditid,
            reason,
        },
        _ => return Ok(()),
    };
    let id = format!(
        "audit:{}:{}:{}",
        audit.appid,
        auditid,
        update.status.as_str()
    );
    notifications::emit(store, event, &id, now).await?;
    Ok(())
}

/// A filing review decided: the app's filing state becomes what WeChat reports now (the push
/// carries the status only; `get_icp_entrance_info` adds the reasons and the SMS check), or,
/// when WeChat cannot be asked, what the push says. Either is stored only if nothing learned
/// later is stored, so a repeated or late push changes nothing. An app with no stored profile is
/// not ours: ignored.
async fn apply_filing_result<S: AuthorizerStore + FilingStore + NotificationStore + ?Sized>(
    store: &S,
    onboarding: &Onboarding,
    appid: &AppId,
    r: &IcpFilingResult,
    now: UnixTime,
) -> Result<(), ApplyError> {
    if store.get_authorizer(appid).await?.is_none() {
        tracing::warn!(%appid, "a filing result for an app with no stored profile; ignored");
        return Ok(());
    }
    let state = match crate::filing::check(onboarding.token_manager(), store, appid, now).await {
        Ok(state) => state,
        Err(WechatError::Store(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "filing status not read after its push; the push's status is stored");
            let pushed = FilingState::from_pushed_status(appid, r.status, r.create_time);
            crate::filing::record(store, pushed).await?
        }
    };
    tracing::info!(%appid, pushed = r.status.code(), status = state.status.as_str(), "filing result recorded");
    notify_filing(store, &state, r.create_time, now).await?;
    Ok(())
}

/// Operators are told when a filing is filed or rejected, or waits for the responsible person's
/// SMS check; once per push (the outbox is keyed by the app, the status and the push's time), and
/// written before the push is answered, so a failed write has WeChat push again.
async fn notify_filing<S: NotificationStore + ?Sized>(
    store: &S,
    state: &FilingState,
    pushed_at: UnixTime,
    now: UnixTime,
) -> Result<(), ApplyError> {
    use crate::notifications::event::FilingOutcome;
    use crate::store::{FilingStatus, SmsVerify};
    let (outcome, detail) = match (state.status, state.sms_verify) {
        (FilingStatus::Filed, _) => (
            FilingOutcome::Filed,
            state.record_number.clone().unwrap_or_default(),
        ),
        (FilingStatus::PlatformRejected | FilingStatus::AdministrationRejected, _) => (
            FilingOutcome::Rejected,
            state
                .reasons
                .iter()
                .map(|r| format!("{}: {}", r.key_name, r.error))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        (FilingStatus::AdministrationReview, Some(SmsVerify::Waiting)) => (
            FilingOutcome::SmsWaiting,
            "the responsible person must answer the administration's SMS".to_owned(),
        ),
        _ => return Ok(()),
    };
    let id = format!("filing:{}:{}:{pushed_at}", state.appid, state.wechat_status);
    let event = notifications::Event::FilingResult {
        appid: state.appid.clone(),
        outcome,
        detail,
    };
    notifications::emit(store, event, &id, now).await?;
    Ok(())
}

/// A face check finished. The filing application (which started it) reads its outcome with
/// query_icp_verifytask; here it is only logged.
fn face_check_finished(r: &IcpVerifyResult) {
    tracing::info!(
        appid = r.verify_appid.as_ref().map(AppId::as_str),
        result = r.result.code(),
        "ICP face check finished"
    );
}

/// The audit a result concerns: the newest one submitted before the result. A newer submission
/// stays untouched; the store re-checks the order inside the write.
async fn record_audit_result<S: AuditStore + NotificationStore + ?Sized>(
    store: &S,
    appid: &AppId,
    update: &AuditUpdate,
    now: UnixTime,
) -> Result<(), ApplyError> {
    let audits = store.list_audits(appid, None, 20).await?.items;
    let Some(audit) = audits.iter().find(|a| a.submitted_at <= update.at) else {
        tracing::warn!(%appid, "audit result older than every recorded audit; ignored");
        return Ok(());
    };
    if !audit.status.is_pending() {
        tracing::info!(%appid, auditid = %audit.auditid, "audit result for an audit no longer pending; kept as is");
        // The same result again (WeChat retrying a push whose notification could not be
        // written): the outbox write is keyed, so this notifies at most once.
        if audit.status == update.status {
            notify_audit_result(store, audit, update, now).await?;
        }
        return Ok(());
    }
    match store.update_audit(appid, audit.auditid, update).await {
        Ok(()) => {
            tracing::info!(%appid, auditid = %audit.auditid, status = update.status.as_str(), "audit result recorded");
            notify_audit_result(store, audit, update, now).await?;
        }
        Err(StoreError::OutOfOrder | StoreError::NotFound) => {
            tracing::warn!(%appid, auditid = %audit.auditid, "audit result no longer matches its audit; ignored")
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The push names the mini program twice: the URL's appid and ToUserName (its gh_ id). They
/// must agree with the stored profile, or the result would land on another app's audit. A
/// profile stored without WeChat's details (its read failed at onboarding) is completed from
/// WeChat first; when WeChat cannot be asked now, the URL's appid is trusted unless another app
/// holds that original id: an audit result is never dropped for a profile we failed to read.
async fn audit_push_is_this_apps(
    store: &dyn Store,
    onboarding: &Onboarding,
    clock: &dyn Clock,
    appid: &AppId,
    to_user_name: &str,
) -> Result<bool, ApplyError> {
    let Some(mut profile) = store.get_authorizer(appid).await? else {
        tracing::warn!(%appid, "audit result for an app with no stored profile; ignored");
        return Ok(false);
    };
    if profile.user_name.is_empty() {
        let mgr = onboarding.token_manager();
        match reconcile::complete_profile(mgr, store, clock, appid).await {
            Ok(Some(completed)) => profile = completed,
            Ok(None) => {}
            Err(WechatError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(%appid, error = %e, "an incomplete profile could not be completed; the push's URL names the app");
                return Ok(match store.authorizer_by_user_name(to_user_name).await? {
                    Some(other) if &other.appid != appid => {
                        tracing::warn!(%appid, "audit result whose ToUserName is another app's original id; ignored");
                        false
                    }
                    _ => true,
                });
            }
        }
    }
    if profile.user_name != to_user_name {
        tracing::warn!(%appid, "audit result whose ToUserName is not this app's original id; ignored");
        return Ok(false);
    }
    Ok(true)
}

/// An audit result for an app whose submission is in doubt (its answer lost, the read after it
/// failed) may be that submission's: WeChat's latest audit settles it first, so the result finds
/// its audit recorded. When WeChat cannot be asked now, the push is refused with a 5xx so that
/// WeChat delivers it again (and the hourly check settles the doubt meanwhile).
async fn settle_submission_in_doubt(
    store: &dyn Store,
    onboarding: &Onboarding,
    clock: &dyn Clock,
    appid: &AppId,
) -> Result<(), ApplyError> {
    let mgr = onboarding.token_manager();
    match reconcile::settle_submission(mgr, store, clock, appid).await {
        Ok(_) => Ok(()),
        Err(WechatError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "audit result for a submission in doubt that WeChat could not confirm now; asked to push again");
            Err(ApplyError::AuditInDoubt(e))
        }
    }
}

// --- Violations (issue 27) ---

/// Stores a pushed penalty once, however often WeChat pushes it (keyed on its `punish_id`, so
/// a re-push with another CreateTime, which the push log would take for a new push, changes
/// nothing), and has it notified the first time only.
async fn record_penalty(
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
    p: Punishment,
) -> Result<(), ApplyError> {
    if &p.appid != appid {
        tracing::warn!(%appid, "a penalty push whose appid is not its URL's app; ignored");
        return Ok(());
    }
    let penalty = Penalty {
        appid: p.appid,
        kind: PenaltyKind::from_event_type(p.event_type),
        event_type: p.event_type,
        punish_id: p.punish_id,
        punish_time: p.punish_time,
        illegal_reason: p.illegal_reason,
        illegal_content: p.illegal_content,
        rule_name: p.rule_name,
        rule_url: p.rule_url,
        adjust_guide_url: p.adjust_guide_url,
        // A JSON string whose shape depends on event_type: kept parsed, or Null.
        detail: serde_json::from_str(&p.detail).unwrap_or(serde_json::Value::Null),
        received_at: clock.now(),
    };
    // Told before it is recorded (the outbox is keyed by the penalty's id): a failed record has
    // WeChat push again, and the repeat notifies nobody twice.
    notify_violation(store, &penalty, clock.now()).await?;
    if store.record_penalty(&penalty).await? {
        tracing::warn!(%appid, punish_id = %penalty.punish_id, kind = penalty.kind.as_str(), "WeChat penalised this app");
    } else {
        tracing::info!(%appid, punish_id = %penalty.punish_id, "penalty already recorded");
    }
    Ok(())
}

/// Records an appeal's state from its push (a push older than the state recorded changes
/// nothing).
async fn record_appeal(
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
    pushed_at: UnixTime,
    a: AppealRecord,
) -> Result<(), ApplyError> {
    if &a.appid != appid {
        tracing::warn!(%appid, "an appeal push whose appid is not its URL's app; ignored");
        return Ok(());
    }
    let appeal = Appeal {
        appid: a.appid,
        appeal_record_id: a.appeal_record_id,
        status: AppealStatus::from_code(a.appeal_status),
        appeal_time: a.appeal_time,
        appeal_count: a.appeal_count,
        appeal_from: a.appeal_from,
        audit_time: a.audit_time,
        audit_reason: a.audit_reason,
        punish_description: a.punish_description,
        pushed_at,
    };
    let recorded = store.record_appeal(&appeal).await?;
    tracing::info!(%appid, appeal_record_id = appeal.appeal_record_id, status = appeal.status.as_str(), recorded, "appeal push");
    // Told when this push is the appeal's state now: newly recorded, or the repeat of the push
    // recorded (WeChat pushing again after a failed answer; the outbox id makes it one
    // message). A push older than the recorded state tells nothing stale.
    let current = recorded
        || store.list_appeals(appid).await?.iter().any(|x| {
            x.appeal_record_id == appeal.appeal_record_id
                && x.pushed_at == appeal.pushed_at
                && x.status == appeal.status
        });
    if current {
        notifications::emit_appeal(
            store,
            appid,
            appeal.appeal_record_id,
            appeal.status,
            &appeal.audit_reason,
            clock.now(),
        )
        .await?;
    }
    Ok(())
}

/// The one place a penalty is notified: keyed by its `punish_id` (only the characters a
/// notification's id may carry in the retry route), so a repeat emits nothing.
async fn notify_violation(
    store: &dyn Store,
    penalty: &Penalty,
    now: UnixTime,
) -> Result<(), ApplyError> {
    let punish_id: String = penalty
        .punish_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let id = format!("violation:{}:{punish_id}", penalty.appid);
    let event = notifications::Event::Violation {
        appid: penalty.appid.clone(),
        detail: format!("{}: {}", penalty.kind.as_str(), penalty.illegal_reason),
    };
    notifications::emit(store, event, &id, now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_apply_failure_asks_wechat_to_push_again() {
        let e = WechatError::Http {
            endpoint: "/x",
            status: 500,
        };
        for (e, status, code) in [
            (
                ApplyError::Store(StoreError::Conflict),
                503,
                "store_unavailable",
            ),
            (ApplyError::AuthorizationInProgress, 503, "in_progress"),
            (ApplyError::AuthorizationUnfinished, 503, "unfinished"),
            (
                ApplyError::CodeExchange(WechatError::Http {
                    endpoint: "/x",
                    status: 500,
                }),
                502,
                "wechat_failed",
            ),
            (ApplyError::AuditInDoubt(e), 503, "audit_in_doubt"),
        ] {
            let f = e.classify();
            assert_eq!((f.status.as_u16(), f.code), (status, code), "{e}");
            assert!(f.status.is_server_error() && f.retry_after.is_none());
        }
    }

    #[test]
    fn a_push_is_keyed_on_its_url_and_message() {
        let app = PushTarget::App(AppId::parse("wxf8b4f85f3a794e77").unwrap());
        assert_eq!(
            push_digest(&PushTarget::Component, "<xml/>"),
            push_digest(&PushTarget::Component, "<xml/>")
        );
        assert_ne!(
            push_digest(&PushTarget::Component, "<xml/>"),
            push_digest(&app, "<xml/>")
        );
        assert_ne!(
            push_digest(&app, "<xml>1</xml>"),
            push_digest(&app, "<xml>2</xml>")
        );
    }
}

#[cfg(test)]
mod registration_tests {
    use super::*;
    use crate::store::{Applicant, Personal};

    fn beta(status: RegistrationStatus) -> Registration {
        let applicant = Applicant::Beta {
            name: "好店铺试用".into(),
            openid: Personal::new("o1"),
            unique_id: Some("u1".into()),
        };
        Registration {
            registration_id: "r1".into(),
            customer_id: "c".into(),
            subject: applicant.subject(),
            applicant,
            status,
            authorize_url: None,
            verification: None,
            taken_on: false,
            checked_at: None,
            operator: "ops".into(),
            created_at: 10,
            updated_at: 10,
        }
    }

    fn app() -> AppId {
        AppId::parse("wx0000000000000001").unwrap()
    }

    #[test]
    fn a_success_names_its_app_once_and_is_never_undone() {
        let succeeded = RegistrationStatus::Succeeded { appid: Some(app()) };
        let failed = RegistrationStatus::Failed {
            reason: "late".into(),
            errcode: Some(-1),
        };
        let waiting = beta(RegistrationStatus::WaitingForConfirmation);
        let done = settle_registration(&waiting, &succeeded, 20).unwrap();
        assert_eq!(done.status, succeeded);
        assert!(done.taken_on);
        assert_eq!(done.updated_at, 20);
        // The trial's appid becomes a subject: its verification push names only the appid.
        assert_eq!(done.subject, Some(registration::app_subject(&app())));
        // Repeated, or a late failure: nothing changes.
        assert!(settle_registration(&done, &succeeded, 30).is_none());
        assert!(settle_registration(&done, &failed, 30).is_none());
        // A read's success without an appid is completed by the push, never the reverse.
        let read = beta(RegistrationStatus::Succeeded { appid: None });
        assert_eq!(
            settle_registration(&read, &succeeded, 30).unwrap().status,
            succeeded
        );
        assert!(settle_registration(&read, &failed, 30).is_none());
        // A failure is replaced by a success WeChat reports later.
        let refused = beta(failed.clone());
        assert_eq!(
            settle_registration(&refused, &succeeded, 30)
                .unwrap()
                .status,
            succeeded
        );
    }
}
