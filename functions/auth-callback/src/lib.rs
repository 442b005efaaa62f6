//! The `auth-callback` function: the pages a merchant sees when authorizing the platform.
//!
//! - `GET /auth/start?invite=ID`: checks the invitation, asks WeChat for two fresh single-use
//!   `pre_auth_code`s and shows a page with the PC and mobile consent links; their `redirect_uri`
//!   carries a `state` bound to the invitation (stored single-use).
//! - `GET /auth/callback?auth_code=&expires_in=&state=`: consumes the state once, completes the
//!   authorization through [`wxopen::onboarding`] (shared with the `authorized` push, so whichever
//!   comes second only binds its customer), marks the invitation used and shows the result.
//!   Reloading shows the stored result again; the same state with another code is refused.
//!
//! `main.rs` hands [`router`] to `lambda_http::run`; `wxopen-local` merges the same router.

pub mod pages;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use pages::Advice;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wxopen::domain::{AppId, Clock};
use wxopen::onboarding::{Onboarding, OnboardingError};
use wxopen::store::{CustomerBinding, InvitationState, SingleUseKind, Store, StoreError};
use wxopen::wechat::consent::{ConsentHosts, ConsentRequest};

/// How long a state (one opening of the start page) stays usable: the consent page's
/// `pre_auth_code` lives 30 minutes; the merchant may take a little longer to come back.
pub const STATE_TTL_SECS: i64 = 3600;

/// What the handlers need, built once per Lambda instance.
pub struct Deps {
    pub onboarding: Arc<Onboarding>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub consent: ConsentHosts,
    /// The base URL merchants reach this API at (`WXOPEN_PUBLIC_URL`), for the `redirect_uri`;
    /// `None`: taken from the request's `Host`.
    pub public_url: Option<String>,
}

pub fn router(deps: Arc<Deps>) -> Router {
    Router::new()
        .route("/auth/start", get(start))
        .route("/auth/callback", get(callback))
        .with_state(deps)
}

#[derive(Deserialize)]
struct StartQuery {
    invite: Option<String>,
}

async fn start(
    State(deps): State<Arc<Deps>>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(id) = q.invite.filter(|i| !i.is_empty() && i.len() <= 128) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "missing_invitation",
            "链接不完整：缺少邀请码",
            "The link is incomplete: the invitation is missing.",
            Advice::OpenLinkAgain,
        );
    };
    let now = deps.clock.now();
    let invitation = match deps.store.get_invitation(&id).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return pages::error(
                StatusCode::NOT_FOUND,
                "unknown_invitation",
                "邀请链接无效",
                "This invitation link is not valid.",
                Advice::AskForNewLink,
            )
        }
        Err(e) => return store_failed(&e),
    };
    match invitation.state(now) {
        InvitationState::Active => {}
        InvitationState::Expired => {
            return pages::error(
                StatusCode::GONE,
                "invitation_expired",
                "邀请链接已过期",
                "This invitation link has expired.",
                Advice::AskForNewLink,
            )
        }
        InvitationState::Used => {
            return pages::error(
                StatusCode::CONFLICT,
                "invitation_used",
                "邀请链接已被使用：授权已完成",
                "This invitation link was already used: the authorization is complete.",
                Advice::AskForNewLink,
            )
        }
        InvitationState::Revoked => {
            return pages::error(
                StatusCode::GONE,
                "invitation_revoked",
                "邀请链接已被服务商撤销",
                "This invitation link was revoked by the service provider.",
                Advice::AskForNewLink,
            )
        }
    }
    let Some(base) = public_base(&deps, &headers) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "no_host",
            "无法确定本站地址",
            "The request names no host.",
            Advice::TryLater,
        );
    };
    // One pre_auth_code per link: each is single use at WeChat.
    let component = deps.onboarding.token_manager().component();
    let (pc, mobile) = tokio::join!(
        component.create_preauthcode(),
        component.create_preauthcode()
    );
    let (pc, mobile) = match (pc, mobile) {
        (Ok(pc), Ok(mobile)) => (pc, mobile),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "api_create_preauthcode failed");
            return pages::error(
                StatusCode::BAD_GATEWAY,
                "wechat_unavailable",
                "暂时无法连接微信",
                "WeChat could not be reached.",
                Advice::TryLater,
            );
        }
    };
    let state = new_state();
    let payload = serde_json::json!({
        "invitation_id": invitation.id,
        "customer_id": invitation.customer_id,
    });
    if let Err(e) = deps
        .store
        .create_single_use(
            SingleUseKind::AuthState,
            &state,
            &payload,
            now,
            now + STATE_TTL_SECS,
        )
        .await
    {
        return store_failed(&e);
    }
    let mut redirect = format!("{base}/auth/callback?");
    redirect.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("state", &state)
            .finish(),
    );
    let link = |code: &SecretString, mobile: bool| {
        let r = ConsentRequest {
            component_appid: deps.onboarding.token_manager().component_appid(),
            pre_auth_code: code.expose_secret(),
            redirect_uri: &redirect,
            auth_type: invitation.auth_type,
            biz_appid: invitation.biz_appid.as_ref(),
        };
        if mobile {
            deps.consent.mobile_link(&r)
        } else {
            deps.consent.pc_link(&r)
        }
    };
    let pc_link = link(&pc.pre_auth_code, false);
    let mobile_link = link(&mobile.pre_auth_code, true);
    // The customer, not the invitation id: an unused invitation is a capability to authorize.
    tracing::info!(customer = %invitation.customer_id, "authorization page shown");
    pages::start(&pc_link, &mobile_link, invitation.auth_type)
}

#[derive(Deserialize)]
struct CallbackQuery {
    auth_code: Option<String>,
    state: Option<String>,
}

async fn callback(State(deps): State<Arc<Deps>>, Query(q): Query<CallbackQuery>) -> Response {
    let Some(state) = q.state.filter(|s| is_state(s)) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "bad_state",
            "链接无效：缺少或无法识别的 state",
            "The link is not valid: its state is missing or malformed.",
            Advice::OpenLinkAgain,
        );
    };
    let Some(code) = q
        .auth_code
        .filter(|c| !c.is_empty() && c.len() <= 512)
        .map(SecretString::from)
    else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "missing_auth_code",
            "微信未返回授权码：授权可能已取消",
            "WeChat returned no authorization code: the authorization may have been cancelled.",
            Advice::OpenLinkAgain,
        );
    };
    let now = deps.clock.now();
    let code_digest = hex::encode(Sha256::digest(code.expose_secret().as_bytes()));
    let payload = match deps
        .store
        .consume_single_use(SingleUseKind::AuthState, &state, now)
        .await
    {
        Ok(payload) => {
            // Bind the state to this code at once: a reload may repeat it, nothing else may.
            let bound = serde_json::json!({ "code": code_digest });
            if let Err(e) = deps
                .store
                .create_single_use(
                    SingleUseKind::AuthStateOutcome,
                    &state,
                    &bound,
                    now,
                    now + STATE_TTL_SECS * 24,
                )
                .await
            {
                return store_failed(&e);
            }
            payload
        }
        Err(StoreError::AlreadyConsumed) => match reload(&deps, &state, &code_digest).await {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                return pages::error(
                    StatusCode::CONFLICT,
                    "state_used",
                    "此授权链接已被使用",
                    "This authorization link was already used.",
                    Advice::OpenLinkAgain,
                )
            }
            Err(e) => return store_failed(&e),
        },
        Err(StoreError::NotFound) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "unknown_state",
                "链接无效或已过期",
                "The link is not valid or has expired.",
                Advice::OpenLinkAgain,
            )
        }
        Err(e) => return store_failed(&e),
    };
    let binding = match serde_json::from_value::<CustomerBinding>(payload) {
        Ok(b) => b,
        Err(_) => return store_failed(&StoreError::Backend(anyhow_corrupt())),
    };
    match deps
        .onboarding
        .complete(&code, None, Some(&binding), now)
        .await
    {
        Ok(done) => {
            let appid = done.authorizer.appid.clone();
            if let Err(e) = mark_used(&deps, &binding.invitation_id, &appid, now).await {
                // The authorization is stored; a stale "active" invitation is only cosmetic.
                tracing::warn!(error = %e, "could not mark the invitation used");
            }
            pages::success(&done.authorizer)
        }
        Err(OnboardingError::InProgress) => pages::pending(),
        Err(OnboardingError::Wechat(e)) => {
            tracing::error!(error = %e, "completing an authorization failed at WeChat");
            pages::error(
                StatusCode::BAD_GATEWAY,
                "wechat_failed",
                "微信未能完成授权",
                "WeChat could not complete the authorization.",
                Advice::OpenLinkAgain,
            )
        }
        Err(OnboardingError::Store(e)) => store_failed(&e),
    }
}

/// A reload of a consumed state: allowed with the very code it was first used with, and then
/// it completes (idempotently) with the state's own binding.
async fn reload(
    deps: &Deps,
    state: &str,
    code_digest: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let now = deps.clock.now();
    let bound = deps
        .store
        .peek_single_use(SingleUseKind::AuthStateOutcome, state, now)
        .await?;
    if bound
        .as_ref()
        .and_then(|b| b.payload.get("code"))
        .and_then(|c| c.as_str())
        != Some(code_digest)
    {
        return Ok(None);
    }
    Ok(deps
        .store
        .peek_single_use(SingleUseKind::AuthState, state, now)
        .await?
        .map(|s| s.payload))
}

async fn mark_used(
    deps: &Deps,
    invitation_id: &str,
    appid: &AppId,
    now: i64,
) -> Result<(), StoreError> {
    deps.store
        .update_invitation(invitation_id, &|inv| {
            if inv.used_at.is_none() {
                inv.used_at = Some(now);
                inv.used_by = Some(appid.clone());
            }
            Ok(())
        })
        .await
        .map(|_| ())
}

fn anyhow_corrupt() -> anyhow::Error {
    anyhow::anyhow!("corrupt authorization state")
}

fn store_failed(e: &StoreError) -> Response {
    tracing::error!(error = %e, "store failed on an authorization page");
    pages::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "服务暂时不可用",
        "The service is temporarily unavailable.",
        Advice::TryLater,
    )
}

/// 32 random bytes, hex: unguessable, and nothing else is needed (the state is stored).
fn new_state() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    hex::encode(b)
}

fn is_state(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The configured public URL, or `https://{Host}` (`http` for a loopback host, as local runs are).
fn public_base(deps: &Deps, headers: &HeaderMap) -> Option<String> {
    wxopen::http::public_base_url(deps.public_url.as_deref(), headers)
}
