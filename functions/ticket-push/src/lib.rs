//! `ticket-push`: WeChat → us. Both push URLs land here:
//!
//! - `POST /wechat/component` (授权事件接收URL): `component_verify_ticket` every 10 minutes and
//!   authorization changes;
//! - `POST /wechat/apps/{appid}` (消息与事件接收URL, configured as `…/wechat/apps/$APPID$`):
//!   events of one authorized mini program, such as audit results.
//!
//! Every push is verified (`msg_signature`, timestamp window), decrypted, applied to the store and
//! answered with the plain string `success`. A bad push gets a 4xx JSON body and changes nothing; a
//! push that could not be stored gets a 5xx so that WeChat retries. WeChat repeats a push up to three
//! times: a push already applied is answered `success` without being applied again.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use sha1::{Digest, Sha1};
use std::sync::Arc;
use wxopen::crypto::{CryptoError, MsgCrypt};
use wxopen::domain::{AppId, AuditStatus, Clock, UnixTime};
use wxopen::events::{
    open_push_with_previous_key, AuthorizerEvent, ComponentEvent, PushError, PushQuery,
};
use wxopen::http::error;
use wxopen::onboarding::{Onboarding, OnboardingError};
use wxopen::secrets::SecretsSource;
use wxopen::store::{AuditUpdate, Revocation, Store, StoreError, Ticket};
use wxopen::wechat::reconcile;
use wxopen::wechat::WechatError;

/// How far a push's timestamp may lag behind our clock (WeChat retries within seconds).
pub const MAX_PUSH_AGE_SECS: i64 = 600;
/// How far ahead of our clock a timestamp may be (clock skew).
pub const MAX_PUSH_SKEW_SECS: i64 = 300;
/// How long a push digest is remembered for de-duplication.
pub const PUSH_MEMORY_SECS: i64 = 3600;

/// What the handler needs, built once per Lambda instance.
pub struct Deps {
    /// Token, EncodingAESKey and component appid; cached by the source, so rotations apply.
    pub secrets: Arc<dyn SecretsSource>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Exchanges the codes of `authorized` / `updateauthorized` pushes (with a short wait: a
    /// push is answered within WeChat's 5 s).
    pub onboarding: Arc<Onboarding>,
}

/// The per-request view of the secrets that push handling needs.
struct Platform {
    crypt: MsgCrypt,
    /// Under the EncodingAESKey in use before the last change, while one is configured.
    previous: Option<MsgCrypt>,
    component_appid: AppId,
}

async fn platform(deps: &Deps) -> Result<Platform, Rejection> {
    let unavailable = |what: &str| {
        tracing::error!(what, "platform secrets unusable");
        reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "secrets_unavailable",
            "platform secrets are unavailable; retry",
        )
    };
    let s = deps
        .secrets
        .load()
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let crypt_for = |key: &secrecy::SecretString| {
        MsgCrypt::new(
            s.token.expose_secret(),
            key.expose_secret(),
            s.component_appid.as_str(),
        )
        .map_err(|e| unavailable(e.name()))
    };
    Ok(Platform {
        crypt: crypt_for(&s.encoding_aes_key)?,
        previous: s
            .encoding_aes_key_previous
            .as_ref()
            .map(crypt_for)
            .transpose()?,
        component_appid: s.component_appid.clone(),
    })
}

/// Why a push is refused: rendered as a JSON error body.
struct Rejection {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn reject(status: StatusCode, code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        code,
        message: message.into(),
    }
}

impl Rejection {
    fn into_response(self) -> Response<Body> {
        error(self.status, self.code, &self.message)
    }
}

enum Route {
    Component,
    App(AppId),
}

fn route(path: &str) -> Result<Route, Rejection> {
    let path = path.trim_end_matches('/');
    if path == "/wechat/component" {
        return Ok(Route::Component);
    }
    if let Some(appid) = path.strip_prefix("/wechat/apps/") {
        return AppId::parse(appid)
            .map(Route::App)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, "invalid_appid", e.to_string()));
    }
    Err(reject(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such push URL",
    ))
}

fn push_query(req: &Request) -> Result<PushQuery, Rejection> {
    let mut q = PushQuery::default();
    let mut encrypt_type = None;
    for (k, v) in url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "msg_signature" => q.msg_signature = v.into_owned(),
            "timestamp" => q.timestamp = v.into_owned(),
            "nonce" => q.nonce = v.into_owned(),
            "encrypt_type" => encrypt_type = Some(v.into_owned()),
            _ => {}
        }
    }
    for (name, value) in [
        ("msg_signature", &q.msg_signature),
        ("timestamp", &q.timestamp),
        ("nonce", &q.nonce),
    ] {
        if value.is_empty() {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "missing_parameter",
                format!("query parameter {name} is required"),
            ));
        }
    }
    if encrypt_type.as_deref().is_some_and(|t| t != "aes") {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "unsupported_encrypt_type",
            "third-party platforms push in safe mode only (encrypt_type=aes)",
        ));
    }
    Ok(q)
}

fn check_fresh(timestamp: &str, now: UnixTime) -> Result<(), Rejection> {
    let ts: UnixTime = timestamp.parse().map_err(|_| {
        reject(
            StatusCode::BAD_REQUEST,
            "invalid_timestamp",
            "timestamp must be Unix seconds",
        )
    })?;
    if ts < now - MAX_PUSH_AGE_SECS || ts > now + MAX_PUSH_SKEW_SECS {
        // Not authenticated: a replayed or forged push, like a bad signature.
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            "stale_timestamp",
            "timestamp is outside the accepted window",
        ));
    }
    Ok(())
}

fn success() -> Response<Body> {
    let mut r = Response::new(Body::from("success"));
    r.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl From<StoreError> for Rejection {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "push could not be stored; WeChat will retry");
        reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the push could not be stored; retry",
        )
    }
}

/// Handles one push request.
pub async fn handler(req: Request, deps: &Deps) -> Response<Body> {
    handle(req, deps)
        .await
        .unwrap_or_else(Rejection::into_response)
}

async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Rejection> {
    if req.method() != Method::POST {
        return Err(reject(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "pushes are POSTed",
        ));
    }
    let route = route(req.uri().path())?;
    let q = push_query(&req)?;
    let now = deps.clock.now();
    check_fresh(&q.timestamp, now)?;
    let platform = platform(deps).await?;
    let xml = open_push_with_previous_key(
        &platform.crypt,
        platform.previous.as_ref(),
        req.body().as_ref(),
        &q,
    )
    .map_err(|e| match e {
        PushError::TooLarge => reject(
            StatusCode::BAD_REQUEST,
            "push_too_large",
            "push body is over 64 KiB",
        ),
        PushError::Crypto(CryptoError::ValidateSignature) => {
            tracing::warn!(error = %e, "refused a push: bad signature");
            reject(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string())
        }
        e => {
            tracing::warn!(error = %e, "refused a push");
            reject(StatusCode::BAD_REQUEST, "invalid_push", e.to_string())
        }
    })?;
    // Keyed on what was decrypted, not on the query as sent: the signature's hex verifies in
    // any letter case, so a replay in upper case must still be the push already applied.
    let digest = push_digest(&route, &xml);
    // A probe: with `expires_at = now` nothing lasting is recorded, but a digest remembered from an
    // earlier, applied delivery answers `false`. The lasting record is written after applying.
    if !deps.store.record_push_if_new(&digest, now, now).await? {
        tracing::info!("repeated push: already applied");
        return Ok(success());
    }
    match route {
        Route::Component => apply_component(&xml, &platform.component_appid, deps, now).await?,
        Route::App(appid) => apply_app(&xml, &appid, deps).await?,
    }
    // Remembered only once applied, so a failed apply is retried by WeChat and applied then.
    if let Err(e) = deps
        .store
        .record_push_if_new(&digest, now, now + PUSH_MEMORY_SECS)
        .await
    {
        tracing::warn!(error = %e, "push applied but not remembered; a retry re-applies it idempotently");
    }
    Ok(success())
}

/// The de-duplication key of a verified push: the URL it came to and its decrypted message
/// (a retried push is the same message; two different events never are: each carries its
/// CreateTime and content).
fn push_digest(route: &Route, xml: &str) -> String {
    let to = match route {
        Route::Component => "component",
        Route::App(appid) => appid.as_str(),
    };
    hex::encode(Sha1::digest(format!("{to}|{xml}").as_bytes()))
}

/// A push that verified and decrypted (so it came from WeChat) but whose known event is
/// malformed: logged (the error names the field, never a value) and acknowledged, since a 4xx
/// would only have WeChat retry the same push for ever. Nothing is stored.
fn signed_but_unusable(e: &dyn std::fmt::Display) {
    tracing::error!(error = %e, "a signed push carries a malformed event; acknowledged and ignored");
}

async fn apply_component(
    xml: &str,
    component_appid: &AppId,
    deps: &Deps,
    now: UnixTime,
) -> Result<(), Rejection> {
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
            deps.store
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
                deps,
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
            match deps
                .store
                .revoke_authorization(&authorizer_appid, create_time)
                .await?
            {
                Revocation::Revoked => {
                    tracing::info!(authorizer = %authorizer_appid, "authorization revoked; tokens dropped")
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
            // A mini program registered through the platform comes authorized: its single-use
            // auth_code is exchanged at once, as an `authorized` push's is (customer
            // `unassigned` until an operator binds it).
            if let (true, Some(code), Some(appid)) = (r.succeeded(), &r.auth_code, &r.appid) {
                take_on(deps, code, appid, r.create_time).await?;
            }
        }
        ComponentEvent::Unknown { info_type, .. } => {
            tracing::info!(%info_type, "ignored a component push of an unhandled type");
        }
    }
    Ok(())
}

/// Exchanges a pushed authorization code and stores the authorizer (through the onboarding the
/// callback uses, so whichever of them comes second only finds the outcome).
async fn take_on(
    deps: &Deps,
    code: &SecretString,
    appid: &AppId,
    at: UnixTime,
) -> Result<(), Rejection> {
    match deps.onboarding.complete(code, Some(appid), None, at).await {
        Ok(done) => {
            tracing::info!(authorizer = %appid, exchanged = done.exchanged, "authorization (re)granted and stored");
            Ok(())
        }
        Err(OnboardingError::InProgress) => {
            // The callback holds the code right now: have WeChat retry the push, by which time
            // the outcome is there.
            Err(reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "in_progress",
                "this authorization is being stored by the callback",
            ))
        }
        Err(OnboardingError::Store(e)) => Err(e.into()),
        Err(OnboardingError::Unfinished) => Err(reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "unfinished",
            "this authorization could not be recovered yet; retry",
        )),
        Err(OnboardingError::Wechat(e)) => {
            tracing::error!(authorizer = %appid, error = %e, "exchanging a pushed authorization code failed");
            Err(reject(
                StatusCode::BAD_GATEWAY,
                "wechat_failed",
                "exchanging the authorization code failed",
            ))
        }
    }
}

async fn apply_app(xml: &str, appid: &AppId, deps: &Deps) -> Result<(), Rejection> {
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
        AuthorizerEvent::Unknown {
            msg_type, event, ..
        } => {
            tracing::info!(%appid, %msg_type, event = event.as_deref().unwrap_or(""), "ignored an app push of an unhandled type");
            return Ok(());
        }
    };
    if !audit_push_is_this_apps(appid, &header.to_user_name, deps).await? {
        return Ok(());
    }
    settle_submission_in_doubt(appid, deps).await?;
    // The audit it concerns: the newest one submitted before the result. A newer submission
    // stays untouched; the store re-checks the order inside the write.
    let audits = deps.store.list_audits(appid, None, 20).await?.items;
    let Some(audit) = audits.iter().find(|a| a.submitted_at <= update.at) else {
        tracing::warn!(%appid, "audit result older than every recorded audit; ignored");
        return Ok(());
    };
    if !audit.status.is_pending() {
        tracing::info!(%appid, auditid = %audit.auditid, "audit result for an audit no longer pending; kept as is");
        return Ok(());
    }
    match deps.store.update_audit(appid, audit.auditid, &update).await {
        Ok(()) => {
            tracing::info!(%appid, auditid = %audit.auditid, status = update.status.as_str(), "audit result recorded")
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
    appid: &AppId,
    to_user_name: &str,
    deps: &Deps,
) -> Result<bool, Rejection> {
    let Some(mut profile) = deps.store.get_authorizer(appid).await? else {
        tracing::warn!(%appid, "audit result for an app with no stored profile; ignored");
        return Ok(false);
    };
    if profile.user_name.is_empty() {
        let mgr = deps.onboarding.token_manager();
        match reconcile::complete_profile(mgr, &*deps.store, &*deps.clock, appid).await {
            Ok(Some(completed)) => profile = completed,
            Ok(None) => {}
            Err(WechatError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(%appid, error = %e, "an incomplete profile could not be completed; the push's URL names the app");
                return Ok(
                    match deps.store.authorizer_by_user_name(to_user_name).await? {
                        Some(other) if &other.appid != appid => {
                            tracing::warn!(%appid, "audit result whose ToUserName is another app's original id; ignored");
                            false
                        }
                        _ => true,
                    },
                );
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
async fn settle_submission_in_doubt(appid: &AppId, deps: &Deps) -> Result<(), Rejection> {
    let mgr = deps.onboarding.token_manager();
    match reconcile::settle_submission(mgr, &*deps.store, &*deps.clock, appid).await {
        Ok(_) => Ok(()),
        Err(WechatError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "audit result for a submission in doubt that WeChat could not confirm now; asked to push again");
            Err(reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_in_doubt",
                "a submission of this app is in doubt and WeChat could not be asked; retry",
            ))
        }
    }
}
