//! The `auth-callback` function: the pages a merchant sees when authorizing the platform.
//!
//! - `GET /auth/start?invite=ID`: checks the invitation and shows a page with the PC and mobile
//!   consent links: one `pre_auth_code` for both, and a `state` bound to the invitation (stored
//!   single-use). Reloads reuse that page while its code lives; an invitation mints at most
//!   [`START_PAGES_PER_HOUR`] new pages an hour (then 429), so a link costs WeChat little.
//! - `GET /auth/callback?auth_code=&expires_in=&state=`: consumes the state once, refuses a code
//!   that first came with another state, completes the authorization through
//!   [`wxopen::onboarding`] (shared with the `authorized` push, so whichever comes second only
//!   binds its customer), binding the customer only if the invitation still admits this account
//!   (checked in the write that binds), and shows the result. Reloading shows the stored result
//!   again; the same state with another code is refused.
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
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wxopen::domain::Clock;
use wxopen::onboarding::{Onboarding, OnboardingError};
use wxopen::store::{
    CustomerBinding, Invitation, InvitationRefusal, InvitationState, SingleUseKind, Store,
    StoreError,
};
use wxopen::wechat::consent::{ConsentHosts, ConsentRequest};

/// How long a state (one opening of the start page) stays usable: the consent page's
/// `pre_auth_code` lives 30 minutes; the merchant may take a little longer to come back.
pub const STATE_TTL_SECS: i64 = 3600;
/// New consent pages (a `pre_auth_code` from WeChat and a state each) one invitation may mint an
/// hour; reloads reuse the page and cost nothing.
pub const START_PAGES_PER_HOUR: u32 = 10;
/// A stored page is reused until this long before its `pre_auth_code` expires.
const PAGE_MARGIN_SECS: i64 = 300;

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
    let page = match consent_page(&deps, &invitation, now).await {
        Ok(page) => page,
        Err(refusal) => return refusal,
    };
    let mut redirect = format!("{base}/auth/callback?");
    redirect.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("state", &page.state)
            .finish(),
    );
    let link = |mobile: bool| {
        let r = ConsentRequest {
            component_appid: deps.onboarding.token_manager().component_appid(),
            pre_auth_code: page.pre_auth_code.expose_secret(),
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
    // The customer, not the invitation id: an unused invitation is a capability to authorize.
    tracing::info!(customer = %invitation.customer_id, reused = page.reused, "authorization page shown");
    pages::start(&link(false), &link(true), invitation.auth_type)
}

/// The state and `pre_auth_code` a consent page shows: one pair per invitation for their
/// lifetime (reloads reuse it), at most [`START_PAGES_PER_HOUR`] new ones an hour.
struct ConsentPage {
    state: String,
    pre_auth_code: SecretString,
    reused: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredPage {
    state: String,
    pre_auth_code: String,
}

async fn consent_page(
    deps: &Deps,
    invitation: &Invitation,
    now: i64,
) -> Result<ConsentPage, Response> {
    let stored = deps
        .store
        .peek_single_use(SingleUseKind::AuthStartPage, &invitation.id, now)
        .await
        .map_err(|e| store_failed(&e))?;
    if let Some(p) = stored.and_then(|i| serde_json::from_value::<StoredPage>(i.payload).ok()) {
        return Ok(ConsentPage {
            state: p.state,
            pre_auth_code: SecretString::from(p.pre_auth_code),
            reused: true,
        });
    }
    take_page_slot(deps, invitation, now).await?;
    // One pre_auth_code serves both links: only one of them is used, and each code once.
    let pre = match deps
        .onboarding
        .token_manager()
        .component()
        .create_preauthcode()
        .await
    {
        Ok(pre) => pre,
        Err(e) => {
            tracing::error!(error = %e, "api_create_preauthcode failed");
            return Err(pages::error(
                StatusCode::BAD_GATEWAY,
                "wechat_unavailable",
                "暂时无法连接微信",
                "WeChat could not be reached.",
                Advice::TryLater,
            ));
        }
    };
    let state = new_state();
    let binding = serde_json::json!({
        "invitation_id": invitation.id,
        "customer_id": invitation.customer_id,
    });
    deps.store
        .create_single_use(
            SingleUseKind::AuthState,
            &state,
            &binding,
            now,
            now + STATE_TTL_SECS,
        )
        .await
        .map_err(|e| store_failed(&e))?;
    let page = StoredPage {
        state,
        pre_auth_code: pre.pre_auth_code.expose_secret().to_owned(),
    };
    // Reused while the pre_auth_code lives, less a margin for the merchant to use it.
    let lifetime = (pre.expires_in - PAGE_MARGIN_SECS).clamp(0, STATE_TTL_SECS - PAGE_MARGIN_SECS);
    let payload = serde_json::to_value(&page).map_err(|_| store_failed(&corrupt()))?;
    match deps
        .store
        .create_single_use(
            SingleUseKind::AuthStartPage,
            &invitation.id,
            &payload,
            now,
            now + lifetime,
        )
        .await
    {
        // A concurrent first opening stored its own: both pages work (each has its state).
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(store_failed(&e)),
    }
    Ok(ConsentPage {
        state: page.state,
        pre_auth_code: pre.pre_auth_code,
        reused: false,
    })
}

/// Takes one of the invitation's new-page slots of this hour (hours counted from its creation),
/// or answers the 429 page.
async fn take_page_slot(deps: &Deps, invitation: &Invitation, now: i64) -> Result<(), Response> {
    let window = (now - invitation.created_at).div_euclid(3600);
    let window_ends = invitation.created_at + (window + 1) * 3600;
    for slot in 0..START_PAGES_PER_HOUR {
        let id = format!("{}#{window}#{slot}", invitation.id);
        match deps
            .store
            .create_single_use(
                SingleUseKind::AuthStartQuota,
                &id,
                &serde_json::Value::Null,
                now,
                window_ends,
            )
            .await
        {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(store_failed(&e)),
        }
    }
    tracing::warn!("an invitation link was opened too often; refused for this hour");
    let mut page = pages::error(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_openings",
        "此邀请链接打开次数过多",
        "This invitation link was opened too many times.",
        Advice::TryLater,
    );
    let retry = window_ends - now;
    if let Ok(v) = axum::http::HeaderValue::from_str(&retry.to_string()) {
        page.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    Err(page)
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
            // This state's page is spent: the next opening of the invitation shows a new one.
            if let Some(inv) = payload.get("invitation_id").and_then(|v| v.as_str()) {
                if let Err(e) = deps
                    .store
                    .delete_single_use(SingleUseKind::AuthStartPage, inv)
                    .await
                {
                    tracing::warn!(error = %e, "a spent consent page was not forgotten; it expires on its own");
                }
            }
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
    // A code is replayed only for the state it first came with: a spent code brought with
    // another invitation's state never moves the account it authorized.
    match first_state_of_code(&deps, &code_digest, &state).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("an authorization code came back with another state; refused");
            return pages::error(
                StatusCode::CONFLICT,
                "code_used",
                "此授权码已被使用",
                "This authorization code was already used.",
                Advice::OpenLinkAgain,
            );
        }
        Err(e) => return store_failed(&e),
    }
    match deps
        .onboarding
        .complete(&code, None, Some(&binding), now)
        .await
    {
        Ok(done) => match &done.refusal {
            None => pages::success(&done.authorizer),
            Some(why) => refused(why),
        },
        Err(OnboardingError::InProgress) => pages::pending(),
        Err(OnboardingError::Unfinished) => pages::error(
            StatusCode::CONFLICT,
            "authorization_unfinished",
            "授权未能完成",
            "The authorization could not be completed.",
            Advice::OpenLinkAgain,
        ),
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

/// Records `state` as the first one `code_digest` came with; answers whether `state` is it.
async fn first_state_of_code(
    deps: &Deps,
    code_digest: &str,
    state: &str,
) -> Result<bool, StoreError> {
    let now = deps.clock.now();
    let first = serde_json::json!({ "state": state });
    match deps
        .store
        .create_single_use(
            SingleUseKind::AuthCodeState,
            code_digest,
            &first,
            now,
            now + STATE_TTL_SECS * 24,
        )
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict) => Ok(deps
            .store
            .peek_single_use(SingleUseKind::AuthCodeState, code_digest, now)
            .await?
            .is_some_and(|i| i.payload.get("state").and_then(|s| s.as_str()) == Some(state))),
        Err(e) => Err(e),
    }
}

/// The page for an authorization the invitation does not bind (the account is stored, not
/// bound to the invitation's customer).
fn refused(why: &InvitationRefusal) -> Response {
    match why {
        InvitationRefusal::UsedByAnother(_) => pages::error(
            StatusCode::CONFLICT,
            "invitation_used",
            "此邀请链接已被另一个帐号使用，本次授权未关联到服务商的客户",
            "This invitation link was already used by another account; this authorization was not linked to the provider's customer.",
            Advice::AskForNewLink,
        ),
        InvitationRefusal::ForAnotherApp(only) => pages::error(
            StatusCode::CONFLICT,
            "invitation_for_another_app",
            &format!("此邀请链接仅用于帐号 {only}，本次授权未关联到服务商的客户"),
            &format!("This invitation link is for account {only} only; this authorization was not linked to the provider's customer."),
            Advice::AskForNewLink,
        ),
        InvitationRefusal::WrongKind { auth_type } => {
            let (zh, en) = if *auth_type == 1 {
                ("公众号", "official accounts")
            } else {
                ("小程序", "mini programs")
            };
            pages::error(
                StatusCode::CONFLICT,
                "invitation_wrong_kind",
                &format!("此邀请链接仅用于{zh}，本次授权未关联到服务商的客户"),
                &format!("This invitation link is for {en} only; this authorization was not linked to the provider's customer."),
                Advice::AskForNewLink,
            )
        }
        InvitationRefusal::Revoked => pages::error(
            StatusCode::GONE,
            "invitation_revoked",
            "邀请链接已被服务商撤销，本次授权未关联到服务商的客户",
            "This invitation link was revoked by the service provider; this authorization was not linked to its customer.",
            Advice::AskForNewLink,
        ),
        InvitationRefusal::Expired => pages::error(
            StatusCode::GONE,
            "invitation_expired",
            "邀请链接已过期，本次授权未关联到服务商的客户",
            "This invitation link has expired; this authorization was not linked to the provider's customer.",
            Advice::AskForNewLink,
        ),
        InvitationRefusal::Unknown => pages::error(
            StatusCode::NOT_FOUND,
            "unknown_invitation",
            "邀请链接无效，本次授权未关联到服务商的客户",
            "This invitation link is not valid; this authorization was not linked to the provider's customer.",
            Advice::AskForNewLink,
        ),
    }
}

fn corrupt() -> StoreError {
    StoreError::Backend(anyhow_corrupt())
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
