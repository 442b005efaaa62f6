//! Completing an authorization: one authorization code exchanged once, its tokens and profile
//! stored, its customer bound, whichever path brings the code first.
//!
//! A merchant's consent reaches us twice: the browser is redirected to the callback with
//! `auth_code`, and WeChat pushes `authorized` (or `updateauthorized`) with the same
//! `AuthorizationCode` to the authorization-event URL. Either may come first, or only one may come
//! at all (the merchant closed the browser; the push was lost). Both call [`Onboarding::complete`]:
//!
//! 1. The first to arrive claims the code in the store (single-use item keyed by the code's
//!    SHA-256, never the code itself) and exchanges it (`api_query_auth`, never repeated; a lost
//!    answer is read back from WeChat, see [`TokenManager::exchange_auth_code`]); then it fetches
//!    the profile (`api_get_authorizer_info`) and records it with
//!    [`Authorizer::merge_authorization`], and leaves the outcome (the appid) under the code.
//! 2. The second finds the claim taken, waits for the outcome, and only binds its customer (the
//!    callback carries the invitation's customer; the push carries none).
//!
//! A claim whose exchange provably never left (connection refused) is given back, so the other
//! path can still use the code.

use crate::domain::{AppId, Clock, UnixTime};
use crate::store::{
    Authorizer, AuthorizerStatus, CustomerBinding, SingleUseKind, Store, StoreError,
    UNASSIGNED_CUSTOMER,
};
use crate::wechat::{TokenManager, WechatError};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// WeChat's authorization codes live an hour (`expires_in` 3600 on the redirect).
const CLAIM_SECS: i64 = 3600;
/// How long the outcome is kept for the path that comes second, and for reloads.
const OUTCOME_SECS: i64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The other path holds the code and has not finished yet.
    #[error("this authorization is still being completed; try again in a moment")]
    InProgress,
}

/// What `complete` stored.
#[derive(Debug, Clone)]
pub struct Onboarded {
    pub authorizer: Authorizer,
    /// Whether this call exchanged the code (false: the other path had).
    pub exchanged: bool,
}

pub struct Onboarding {
    mgr: Arc<TokenManager>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// How long the path that comes second waits for the first one's outcome.
    wait: Duration,
}

impl Onboarding {
    pub fn new(mgr: Arc<TokenManager>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Onboarding {
            mgr,
            store,
            clock,
            wait: Duration::from_secs(8),
        }
    }

    /// How long the second path waits for the first (tests shorten it).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    pub fn token_manager(&self) -> &TokenManager {
        &self.mgr
    }

    /// Completes the authorization that `code` stands for. `hint`: the appid when the caller
    /// knows it (the push); `binding`: the invitation's customer (the callback); `at`: when the
    /// authorization happened (the push's CreateTime, or now).
    pub async fn complete(
        &self,
        code: &SecretString,
        hint: Option<&AppId>,
        binding: Option<&CustomerBinding>,
        at: UnixTime,
    ) -> Result<Onboarded, OnboardingError> {
        let id = code_id(code);
        let now = self.clock.now();
        let claim = serde_json::json!({ "claimed_at": now });
        match self
            .store
            .create_single_use(
                SingleUseKind::AuthCodeClaim,
                &id,
                &claim,
                now,
                now + CLAIM_SECS,
            )
            .await
        {
            Ok(()) => self.exchange(code, &id, hint, binding, at).await,
            Err(StoreError::Conflict) => self.second(&id, binding).await,
            Err(e) => Err(e.into()),
        }
    }

    async fn exchange(
        &self,
        code: &SecretString,
        id: &str,
        hint: Option<&AppId>,
        binding: Option<&CustomerBinding>,
        at: UnixTime,
    ) -> Result<Onboarded, OnboardingError> {
        let info = match self.mgr.exchange_auth_code(code, hint).await {
            Ok(info) => info,
            Err(e) => {
                if e.never_sent() {
                    // The code was never presented: give the claim back for the other path.
                    self.store
                        .delete_single_use(SingleUseKind::AuthCodeClaim, id)
                        .await?;
                }
                return Err(e.into());
            }
        };
        let appid = info.authorizer_appid.clone();
        let now = self.clock.now();
        let fresh = match self.mgr.component().get_authorizer_info(&appid).await {
            Ok(resp) => resp.to_authorizer(Some(UNASSIGNED_CUSTOMER.to_owned()), at, now),
            Err(e) => {
                // The tokens are stored; the profile can wait for the next update, the
                // authorization must not.
                tracing::warn!(authorizer = %appid, error = %e, "profile not fetched; recorded without it");
                Authorizer {
                    appid: appid.clone(),
                    status: AuthorizerStatus::Authorized,
                    customer_id: Some(UNASSIGNED_CUSTOMER.to_owned()),
                    nick_name: String::new(),
                    user_name: String::new(),
                    principal_name: String::new(),
                    is_mini_program: false,
                    func_info: info.granted_permission_ids(),
                    profile: serde_json::Value::Null,
                    authorized_at: at,
                    updated_at: now,
                    customer_moves: Vec::new(),
                }
            }
        };
        let stored = self
            .store
            .update_authorizer(&appid, &|cur| {
                Some(Authorizer::merge_authorization(cur, fresh.clone(), binding))
            })
            .await?
            .ok_or(StoreError::NotFound)?;
        let outcome = serde_json::json!({ "appid": appid.as_str() });
        match self
            .store
            .create_single_use(
                SingleUseKind::AuthCodeOutcome,
                id,
                &outcome,
                now,
                now + OUTCOME_SECS,
            )
            .await
        {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(authorizer = %appid, customer = stored.customer_id.as_deref().unwrap_or("-"), "authorization stored");
        Ok(Onboarded {
            authorizer: stored,
            exchanged: true,
        })
    }

    /// The other path has the code: wait for its outcome and bind our customer to it.
    async fn second(
        &self,
        id: &str,
        binding: Option<&CustomerBinding>,
    ) -> Result<Onboarded, OnboardingError> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let appid = loop {
            if let Some(item) = self
                .store
                .peek_single_use(SingleUseKind::AuthCodeOutcome, id, self.clock.now())
                .await?
            {
                let appid = item
                    .payload
                    .get("appid")
                    .and_then(|v| v.as_str())
                    .and_then(|s| AppId::parse(s).ok())
                    .ok_or(StoreError::NotFound)?;
                break appid;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(OnboardingError::InProgress);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        };
        let now = self.clock.now();
        let stored = self
            .store
            .update_authorizer(&appid, &|cur| {
                let mut a = cur?.clone();
                let b = binding?;
                a.bind_customer(b, now).then_some(a)
            })
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(Onboarded {
            authorizer: stored,
            exchanged: false,
        })
    }
}

/// The store's id for a code: its SHA-256, so no code value is ever stored or logged.
fn code_id(code: &SecretString) -> String {
    hex::encode(Sha256::digest(code.expose_secret().as_bytes()))
}
