//! `ticket-push`: WeChat → us. Both push URLs land here:
//!
//! - `POST /wechat/component` (授权事件接收URL): `component_verify_ticket` every 10 minutes and
//!   authorization changes;
//! - `POST /wechat/apps/{appid}` (消息与事件接收URL, configured as `…/wechat/apps/$APPID$`):
//!   events of one authorized mini program, such as audit results.
//!
//! Every push is verified (`msg_signature`, timestamp window), decrypted, applied to the store
//! ([`wxopen::push_apply`]) and answered with the plain string `success`. A bad push gets a 4xx
//! JSON body and changes nothing; a push that could not be stored gets a 5xx so that WeChat
//! retries ([`refusal`]). WeChat repeats a push up to three times: a push already applied is
//! answered `success` without being applied again.
//!
//! `main.rs` hands [`router`] to `lambda_http::run`; `wxopen-local` merges the same router.

pub mod refusal;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use refusal::PushRefusal;
use secrecy::ExposeSecret;
use std::sync::Arc;
use wxopen::crypto::{CryptoError, MsgCrypt};
use wxopen::domain::{AppId, Clock, UnixTime};
use wxopen::events::{open_push_with_previous_key, PushError, PushQuery, MAX_PUSH_BYTES};
use wxopen::onboarding::Onboarding;
use wxopen::push_apply::{apply_once, ApplyDeps, PushTarget};
use wxopen::secrets::SecretsSource;
use wxopen::store::Store;

pub use wxopen::push_apply::PUSH_MEMORY_SECS;

/// How far a push's timestamp may lag behind our clock (WeChat retries within seconds).
pub const MAX_PUSH_AGE_SECS: i64 = 600;
/// How far ahead of our clock a timestamp may be (clock skew).
pub const MAX_PUSH_SKEW_SECS: i64 = 300;

/// What the router needs, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    /// Token, EncodingAESKey and component appid; cached by the source, so rotations apply.
    pub secrets: Arc<dyn SecretsSource>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Exchanges the codes of `authorized` / `updateauthorized` pushes (with a short wait: a
    /// push is answered within WeChat's 5 s).
    pub onboarding: Arc<Onboarding>,
}

/// The push URLs, as the template routes them. Any other path under `/wechat/` is a JSON 404,
/// any method but POST a JSON 405. Bodies are read up to the largest push ([`MAX_PUSH_BYTES`]).
pub fn router(deps: Arc<Deps>) -> Router {
    Router::new()
        .route(
            "/wechat/component",
            post(component_push).fallback(method_not_allowed),
        )
        .route(
            "/wechat/apps/{appid}",
            post(app_push).fallback(method_not_allowed),
        )
        .route(
            "/wechat/{*rest}",
            post(not_found).fallback(method_not_allowed),
        )
        .layer(DefaultBodyLimit::max(MAX_PUSH_BYTES))
        .with_state(deps)
}

async fn method_not_allowed() -> PushRefusal {
    PushRefusal::MethodNotAllowed
}

async fn not_found() -> PushRefusal {
    PushRefusal::UnknownUrl
}

/// A push to the authorization-event URL.
async fn component_push(
    State(deps): State<Arc<Deps>>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(receive(&deps, PushTarget::Component, &uri, body).await)
}

/// A push to one account's message URL. The appid is read from the path as sent (not
/// percent-decoded): WeChat puts it there as it is.
async fn app_push(
    State(deps): State<Arc<Deps>>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let appid = uri.path().strip_prefix("/wechat/apps/").unwrap_or_default();
    let received = match AppId::parse(appid) {
        Ok(appid) => receive(&deps, PushTarget::App(appid), &uri, body).await,
        Err(e) => Err(PushRefusal::InvalidAppid(e)),
    };
    answer(received)
}

fn answer(received: Result<(), PushRefusal>) -> Response {
    match received {
        Ok(()) => success(),
        Err(refusal) => refusal.into_response(),
    }
}

/// What WeChat waits for: anything else, it delivers the push again.
fn success() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "success",
    )
        .into_response()
}

/// Verifies, opens and applies one push (or finds it applied before).
async fn receive(
    deps: &Deps,
    target: PushTarget,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), PushRefusal> {
    let q = push_query(uri)?;
    let now = deps.clock.now();
    check_fresh(&q.timestamp, now)?;
    let platform = platform(deps).await?;
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            PushRefusal::TooLarge
        }
        _ => PushRefusal::UnreadableBody,
    })?;
    let xml = open_push_with_previous_key(&platform.crypt, platform.previous.as_ref(), &body, &q)
        .map_err(|e| match e {
        PushError::TooLarge => PushRefusal::TooLarge,
        PushError::Crypto(CryptoError::ValidateSignature) => {
            tracing::warn!(error = %e, "refused a push: bad signature");
            PushRefusal::InvalidSignature(e)
        }
        e => {
            tracing::warn!(error = %e, "refused a push");
            PushRefusal::InvalidPush(e)
        }
    })?;
    let with = ApplyDeps {
        store: &*deps.store,
        onboarding: &deps.onboarding,
        clock: &*deps.clock,
        component_appid: &platform.component_appid,
    };
    apply_once(&target, &xml, now, &with).await?;
    Ok(())
}

/// The per-request view of the secrets that push handling needs.
struct Platform {
    crypt: MsgCrypt,
    /// Under the EncodingAESKey in use before the last change, while one is configured.
    previous: Option<MsgCrypt>,
    component_appid: AppId,
}

async fn platform(deps: &Deps) -> Result<Platform, PushRefusal> {
    let unavailable = |what: &str| {
        tracing::error!(what, "platform secrets unusable");
        PushRefusal::SecretsUnavailable
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

fn push_query(uri: &Uri) -> Result<PushQuery, PushRefusal> {
    let mut q = PushQuery::default();
    let mut encrypt_type = None;
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
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
            return Err(PushRefusal::MissingParameter(name));
        }
    }
    if encrypt_type.as_deref().is_some_and(|t| t != "aes") {
        return Err(PushRefusal::UnsupportedEncryptType);
    }
    Ok(q)
}

fn check_fresh(timestamp: &str, now: UnixTime) -> Result<(), PushRefusal> {
    let ts: UnixTime = timestamp
        .parse()
        .map_err(|_| PushRefusal::InvalidTimestamp)?;
    if ts < now - MAX_PUSH_AGE_SECS || ts > now + MAX_PUSH_SKEW_SECS {
        return Err(PushRefusal::StaleTimestamp);
    }
    Ok(())
}
