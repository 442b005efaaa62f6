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

pub mod page_error;
pub mod pages;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use page_error::PageError;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wxopen::domain::Clock;
use wxopen::onboarding::Onboarding;
use wxopen::store::{
    CustomerBinding, Invitation, InvitationRefusal, InvitationState, SingleUseKind, Store,
    StoreError,
};
use wxopen::wechat::component::ApiCreatePreauthcode;
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
) -> Result<Response, PageError> {
    let Some(id) = q.invite.filter(|i| !i.is_empty() && i.len() <= 128) else {
        return Err(PageError::MissingInvitation);
    };
    let now = deps.clock.now();
    let Some(invitation) = deps.store.get_invitation(&id).await? else {
        return Err(PageError::Invitation(InvitationRefusal::Unknown));
    };
    match invitation.state(now) {
        InvitationState::Active => {}
        InvitationState::Expired => return Err(PageError::Invitation(InvitationRefusal::Expired)),
        InvitationState::Used => return Err(PageError::InvitationUsed),
        InvitationState::Revoked => return Err(PageError::Invitation(InvitationRefusal::Revoked)),
    }
    let base = public_base(&deps, &headers).ok_or(PageError::NoHost)?;
    let page = consent_page(&deps, &invitation, now).await?;
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
    Ok(pages::start(
        &link(false),
        &link(true),
        invitation.auth_type,
    ))
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
) -> Result<ConsentPage, PageError> {
    let stored = deps
        .store
        .peek_single_use(SingleUseKind::AuthStartPage, &invitation.id, now)
        .await?;
    if let Some(p) = stored.and_then(|i| serde_json::from_value::<StoredPage>(i.payload).ok()) {
        return Ok(ConsentPage {
            state: p.state,
            pre_auth_code: SecretString::from(p.pre_auth_code),
            reused: true,
        });
    }
    take_page_slot(deps, invitation, now).await?;
    // One pre_auth_code serves both links: only one of them is used, and each code once.
    let mgr = deps.onboarding.token_manager();
    let pre = mgr
        .component()
        .call(&ApiCreatePreauthcode {
            component_appid: mgr.component_appid(),
        })
        .await
        .map_err(PageError::PreAuthCode)?;
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
        .await?;
    let page = StoredPage {
        state,
        pre_auth_code: pre.pre_auth_code.expose_secret().to_owned(),
    };
    // Reused while the pre_auth_code lives, less a margin for the merchant to use it.
    let lifetime = (pre.expires_in - PAGE_MARGIN_SECS).clamp(0, STATE_TTL_SECS - PAGE_MARGIN_SECS);
    let payload = serde_json::to_value(&page).map_err(|_| corrupt())?;
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
        Err(e) => return Err(e.into()),
    }
    Ok(ConsentPage {
        state: page.state,
        pre_auth_code: pre.pre_auth_code,
        reused: false,
    })
}

/// Takes one of the invitation's new-page slots of this hour (hours counted from its creation),
/// or refuses the opening until the next hour.
async fn take_page_slot(deps: &Deps, invitation: &Invitation, now: i64) -> Result<(), PageError> {
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
            Err(e) => return Err(e.into()),
        }
    }
    tracing::warn!("an invitation link was opened too often; refused for this hour");
    Err(PageError::TooManyOpenings {
        retry_after: u64::try_from(window_ends - now).unwrap_or(0),
    })
}

#[derive(Deserialize)]
struct CallbackQuery {
    auth_code: Option<String>,
    state: Option<String>,
}

async fn callback(
    State(deps): State<Arc<Deps>>,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let state = q.state.filter(|s| is_state(s)).ok_or(PageError::BadState)?;
    let code = q
        .auth_code
        .filter(|c| !c.is_empty() && c.len() <= 512)
        .map(SecretString::from)
        .ok_or(PageError::MissingAuthCode)?;
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
            deps.store
                .create_single_use(
                    SingleUseKind::AuthStateOutcome,
                    &state,
                    &bound,
                    now,
                    now + STATE_TTL_SECS * 24,
                )
                .await?;
            payload
        }
        Err(StoreError::AlreadyConsumed) => reload(&deps, &state, &code_digest)
            .await?
            .ok_or(PageError::StateUsed)?,
        Err(StoreError::NotFound) => return Err(PageError::UnknownState),
        Err(e) => return Err(e.into()),
    };
    let binding = serde_json::from_value::<CustomerBinding>(payload).map_err(|_| corrupt())?;
    // A code is replayed only for the state it first came with: a spent code brought with
    // another invitation's state never moves the account it authorized.
    if !first_state_of_code(&deps, &code_digest, &state).await? {
        tracing::warn!("an authorization code came back with another state; refused");
        return Err(PageError::CodeUsed);
    }
    let done = deps
        .onboarding
        .complete(&code, None, Some(&binding), now)
        .await?;
    match done.refusal {
        None => Ok(pages::success(&done.authorizer)),
        Some(why) => Err(PageError::NotBound(why)),
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

/// Authorization state that does not read back as it was written.
fn corrupt() -> StoreError {
    StoreError::Backend(anyhow::anyhow!("corrupt authorization state"))
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
