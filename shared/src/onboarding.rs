//! Completing an authorization: one authorization code exchanged once, its tokens and profile
//! stored, its customer bound through its invitation, whichever path brings the code first, and
//! recovered from WeChat when the path that took it never finished.
//!
//! A merchant's consent reaches us twice: the browser is redirected to the callback with
//! `auth_code`, and WeChat pushes `authorized` (or `updateauthorized`) with the same
//! `AuthorizationCode` to the authorization-event URL. Either may come first, or only one may come
//! at all (the merchant closed the browser; the push was lost). Both call [`Onboarding::complete`]:
//!
//! 1. The first to arrive claims the code in the store (single-use item keyed by the code's
//!    SHA-256, never the code itself). The claim records its owner, a deadline
//!    ([`CLAIM_DEADLINE_SECS`], shorter than the functions' timeout, so the owner is stopped by
//!    then), the appid when the push named it, and the invitation when the callback brought it.
//!    The owner exchanges the code (`api_query_auth`, never repeated; a lost answer is read back
//!    with `api_get_authorizer_info`), stores the tokens (a store error is retried until the
//!    deadline), records the profile ([`Authorizer::merge_authorization`]) and binds the customer
//!    through the invitation ([`InvitationStore::bind_invitation`]), and leaves the outcome (the
//!    appid) under the code.
//! 2. The second finds the claim taken, waits for the outcome, and only binds its customer (the
//!    callback carries the invitation; the push carries none).
//! 3. A path that finds the claim past its deadline without an outcome (the owner lost an answer
//!    and its read-back failed, was killed, or could not store) recovers the authorization from
//!    WeChat: `api_get_authorizer_info` gives the refresh token and the permission sets, and the
//!    claim's invitation binds the customer. A failed recovery leaves the claim as it is, for the
//!    next path (the push's retry, the merchant's reload) to try again.
//!
//! A claim whose exchange provably never left (connection refused) is given back, so the other
//! path can still use the code.

use crate::domain::{AppId, Clock, UnixTime};
use crate::store::{
    Authorizer, AuthorizerStatus, CustomerBinding, InvitationBinding, InvitationRefusal,
    SingleUseKind, Store, StoreError, UNASSIGNED_CUSTOMER,
};
use crate::wechat::component::{AuthorizationInfo, AuthorizerInfoResponse};
use crate::wechat::{TokenManager, WechatError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// How long the path that claimed a code has to finish. The functions' timeout (template.yaml)
/// is longer, so a claim past its deadline belongs to a path that stopped or died; one WeChat
/// call and the read that recovers it fit inside it (a test holds the three together).
pub const CLAIM_DEADLINE_SECS: i64 = 25;
/// WeChat's authorization codes live an hour (`expires_in` 3600 on the redirect): the claim is
/// kept that long, for the path that recovers it.
const CLAIM_RECORD_SECS: i64 = 3600;
/// How long the outcome is kept for the path that comes second, and for reloads.
const OUTCOME_SECS: i64 = 86_400;
/// How far WeChat's `auth_time` may lag our clock when matching a lost exchange.
const AUTH_TIME_SKEW_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The other path holds the code and has not finished yet (its deadline has not passed).
    #[error("this authorization is still being completed; try again in a moment")]
    InProgress,
    /// The path that took the code never finished, and what WeChat reports does not say which
    /// account it authorized (no appid to read back): the merchant opens the link again.
    #[error("this authorization could not be completed; open the link again")]
    Unfinished,
}

/// What `complete` stored.
#[derive(Debug, Clone)]
pub struct Onboarded {
    pub authorizer: Authorizer,
    /// Whether this call exchanged the code (false: the other path had, or it was recovered).
    pub exchanged: bool,
    /// Why the invitation did not bind this account (it is kept as it was, `unassigned` when
    /// new); `None`: bound, or no invitation came with the code.
    pub refusal: Option<InvitationRefusal>,
}

/// The claim on one code, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claim {
    /// Random, per claim: which path holds it (for logs; a recovery never needs it).
    #[serde(default)]
    owner: String,
    claimed_at: UnixTime,
    /// After this the owner has stopped; a claim written without one is past it.
    #[serde(default)]
    deadline: UnixTime,
    /// The push names the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    appid: Option<AppId>,
    /// The callback brings the invitation the customer is bound through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    binding: Option<CustomerBinding>,
}

pub struct Onboarding {
    mgr: Arc<TokenManager>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// How long the path that comes second waits for the first one's outcome.
    wait: Duration,
    /// How long the owner of a claim works before it stops (tests shorten it).
    deadline: Duration,
}

impl Onboarding {
    pub fn new(mgr: Arc<TokenManager>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Onboarding {
            mgr,
            store,
            clock,
            wait: Duration::from_secs(8),
            deadline: Duration::from_secs(CLAIM_DEADLINE_SECS as u64),
        }
    }

    /// How long the second path waits for the first (tests shorten it).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// How long the owner of a claim works before it stops and leaves the claim for recovery
    /// (tests shorten it; it is never longer than [`CLAIM_DEADLINE_SECS`]).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline.min(Duration::from_secs(CLAIM_DEADLINE_SECS as u64));
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
        let waiting_until = tokio::time::Instant::now() + self.wait;
        loop {
            let now = self.clock.now();
            let claim = Claim {
                owner: new_owner(),
                claimed_at: now,
                deadline: now + self.deadline.as_secs() as i64,
                appid: hint.cloned(),
                binding: binding.cloned(),
            };
            let payload =
                serde_json::to_value(&claim).map_err(|e| StoreError::Backend(e.into()))?;
            match self
                .store
                .create_single_use(
                    SingleUseKind::AuthCodeClaim,
                    &id,
                    &payload,
                    now,
                    now + CLAIM_RECORD_SECS,
                )
                .await
            {
                Ok(()) => return self.own(code, &id, &claim, at).await,
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
            // Taken: wait for the outcome, or recover a claim whose owner stopped.
            loop {
                if let Some(appid) = self.outcome(&id).await? {
                    return self.second(&appid, binding).await;
                }
                let now = self.clock.now();
                let Some(item) = self
                    .store
                    .peek_single_use(SingleUseKind::AuthCodeClaim, &id, now)
                    .await?
                else {
                    break; // given back (never sent): claim it afresh
                };
                let held: Claim = serde_json::from_value(item.payload)
                    .map_err(|_| StoreError::Backend(anyhow::anyhow!("corrupt code claim")))?;
                if held.deadline <= now {
                    // Bounded like an owner's work: a recovery cut short is tried again by the
                    // next path.
                    let recovery = self.recover(&id, &held, hint, binding);
                    return tokio::time::timeout(self.deadline, recovery)
                        .await
                        .unwrap_or(Err(OnboardingError::InProgress));
                }
                if tokio::time::Instant::now() >= waiting_until {
                    return Err(OnboardingError::InProgress);
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
    }

    /// The owner's work, stopped at the claim's deadline (then the claim is left for recovery).
    async fn own(
        &self,
        code: &SecretString,
        id: &str,
        claim: &Claim,
        at: UnixTime,
    ) -> Result<Onboarded, OnboardingError> {
        let work = self.exchange(code, id, claim, at);
        match tokio::time::timeout(self.deadline, work).await {
            Ok(done) => done,
            Err(_) => {
                tracing::warn!(owner = %claim.owner, "authorization not finished by its claim's deadline; left for recovery");
                Err(OnboardingError::InProgress)
            }
        }
    }

    async fn exchange(
        &self,
        code: &SecretString,
        id: &str,
        claim: &Claim,
        at: UnixTime,
    ) -> Result<Onboarded, OnboardingError> {
        let started = claim.claimed_at;
        let (info, profile) = match self
            .mgr
            .component()
            .call(&crate::wechat::component::ApiQueryAuth {
                component_appid: self.mgr.component_appid(),
                authorization_code: code.expose_secret(),
            })
            .await
        {
            Ok(q) => (q.authorization_info, None),
            Err(e) if e.never_sent() => {
                // The code was never presented: give the claim back for the other path.
                self.store
                    .delete_single_use(SingleUseKind::AuthCodeClaim, id)
                    .await?;
                return Err(e.into());
            }
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(error = %e, "api_query_auth answer lost; reading the authorization back from WeChat");
                let resp = self.read_back(claim.appid.as_ref(), started).await?;
                (resp.authorization_info.clone(), Some(resp))
            }
            Err(e) => return Err(e.into()),
        };
        self.save_tokens(&info, started).await?;
        let appid = info.authorizer_appid.clone();
        let profile = match profile {
            Some(p) => Ok(p),
            None => {
                self.mgr
                    .component()
                    .call(&crate::wechat::component::ApiGetAuthorizerInfo {
                        component_appid: self.mgr.component_appid(),
                        authorizer_appid: &appid,
                    })
                    .await
            }
        };
        let fresh = self.fresh_profile(&info, profile, at);
        let (stored, refusal) = self.record(fresh, claim.binding.as_ref()).await?;
        self.leave_outcome(id, &appid).await?;
        tracing::info!(authorizer = %appid, customer = stored.customer_id.as_deref().unwrap_or("-"), "authorization stored");
        Ok(Onboarded {
            authorizer: stored,
            exchanged: true,
            refusal,
        })
    }

    /// A claim past its deadline and no outcome: the authorization as WeChat holds it, bound
    /// through the claim's invitation (or this caller's).
    async fn recover(
        &self,
        id: &str,
        held: &Claim,
        hint: Option<&AppId>,
        binding: Option<&CustomerBinding>,
    ) -> Result<Onboarded, OnboardingError> {
        tracing::warn!(owner = %held.owner, "an authorization claim passed its deadline unfinished; recovering it from WeChat");
        let resp = self
            .read_back(hint.or(held.appid.as_ref()), held.claimed_at)
            .await?;
        let info = resp.authorization_info.clone();
        self.save_tokens(&info, held.claimed_at).await?;
        let appid = info.authorizer_appid.clone();
        let fresh = self.fresh_profile(&info, Ok(resp), held.claimed_at);
        let (stored, refusal) = self
            .record(fresh, held.binding.as_ref().or(binding))
            .await?;
        self.leave_outcome(id, &appid).await?;
        tracing::info!(authorizer = %appid, customer = stored.customer_id.as_deref().unwrap_or("-"), "authorization recovered");
        Ok(Onboarded {
            authorizer: stored,
            exchanged: false,
            refusal,
        })
    }

    /// The authorization of `appid` (or, without one, of the one account authorized since
    /// `since`) as WeChat reports it.
    async fn read_back(
        &self,
        appid: Option<&AppId>,
        since: UnixTime,
    ) -> Result<AuthorizerInfoResponse, OnboardingError> {
        let appid = match appid {
            Some(a) => a.clone(),
            None => {
                let mut found: Vec<AppId> = self
                    .mgr
                    .all_listed_authorizers()
                    .await?
                    .iter()
                    .filter(|item| item.auth_time >= since - AUTH_TIME_SKEW_SECS)
                    .filter_map(|item| item.appid())
                    .collect();
                // Two merchants at once: guessing could give one the other's account; the push,
                // which names the appid, settles it instead.
                if found.len() != 1 {
                    return Err(OnboardingError::Unfinished);
                }
                found.remove(0)
            }
        };
        Ok(self
            .mgr
            .component()
            .call(&crate::wechat::component::ApiGetAuthorizerInfo {
                component_appid: self.mgr.component_appid(),
                authorizer_appid: &appid,
            })
            .await?)
    }

    /// Stores the tokens, retrying store errors while the claim's time lasts: the code cannot be
    /// exchanged again, so these tokens must not be dropped for one failed write.
    async fn save_tokens(
        &self,
        info: &AuthorizationInfo,
        at: UnixTime,
    ) -> Result<(), OnboardingError> {
        let mut delay = Duration::from_millis(50);
        let mut left = self.deadline;
        loop {
            match self.mgr.save_authorization_at(info, at).await {
                Ok(()) => return Ok(()),
                Err(WechatError::Store(e)) if left > delay => {
                    tracing::warn!(error = %e, "storing an authorization's tokens failed; retrying");
                    tokio::time::sleep(delay).await;
                    left -= delay;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The profile to record: WeChat's, or without it (the read failed) the permission sets
    /// from the exchange, to be filled in by the next update.
    fn fresh_profile(
        &self,
        info: &AuthorizationInfo,
        profile: Result<AuthorizerInfoResponse, WechatError>,
        at: UnixTime,
    ) -> Authorizer {
        let now = self.clock.now();
        match profile {
            Ok(resp) => resp.to_authorizer(Some(UNASSIGNED_CUSTOMER.to_owned()), at, now),
            Err(e) => {
                tracing::warn!(authorizer = %info.authorizer_appid, error = %e, "profile not fetched; recorded without it");
                Authorizer {
                    appid: info.authorizer_appid.clone(),
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
        }
    }

    /// Records the profile; with an invitation, binds its customer in the same conditional write
    /// that marks the invitation used. A refused invitation leaves the account unbound by it.
    async fn record(
        &self,
        fresh: Authorizer,
        binding: Option<&CustomerBinding>,
    ) -> Result<(Authorizer, Option<InvitationRefusal>), OnboardingError> {
        let appid = fresh.appid.clone();
        let mut refusal = None;
        if let Some(b) = binding {
            let kind = (!fresh.profile.is_null()).then_some(fresh.is_mini_program);
            let now = self.clock.now();
            match self
                .store
                .bind_invitation(&b.invitation_id, &appid, kind, now, &|cur| {
                    Some(Authorizer::merge_authorization(cur, fresh.clone(), Some(b)))
                })
                .await?
            {
                InvitationBinding::Bound(Some(a)) => return Ok((a, None)),
                InvitationBinding::Bound(None) => return Err(StoreError::NotFound.into()),
                InvitationBinding::Refused(why) => {
                    tracing::warn!(authorizer = %appid, refusal = ?why, "the invitation does not bind this account; kept unassigned");
                    refusal = Some(why);
                }
            }
        }
        let stored = self
            .store
            .update_authorizer(&appid, &|cur| {
                Some(Authorizer::merge_authorization(cur, fresh.clone(), None))
            })
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((stored, refusal))
    }

    async fn leave_outcome(&self, id: &str, appid: &AppId) -> Result<(), OnboardingError> {
        let now = self.clock.now();
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
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn outcome(&self, id: &str) -> Result<Option<AppId>, OnboardingError> {
        let Some(item) = self
            .store
            .peek_single_use(SingleUseKind::AuthCodeOutcome, id, self.clock.now())
            .await?
        else {
            return Ok(None);
        };
        item.payload
            .get("appid")
            .and_then(|v| v.as_str())
            .and_then(|s| AppId::parse(s).ok())
            .map(Some)
            .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("corrupt code outcome")).into())
    }

    /// The other path stored the authorization: bind our invitation's customer to it.
    async fn second(
        &self,
        appid: &AppId,
        binding: Option<&CustomerBinding>,
    ) -> Result<Onboarded, OnboardingError> {
        let current = self
            .store
            .get_authorizer(appid)
            .await?
            .ok_or(StoreError::NotFound)?;
        let Some(b) = binding else {
            return Ok(Onboarded {
                authorizer: current,
                exchanged: false,
                refusal: None,
            });
        };
        let kind = (!current.profile.is_null()).then_some(current.is_mini_program);
        let now = self.clock.now();
        match self
            .store
            .bind_invitation(&b.invitation_id, appid, kind, now, &|cur| {
                let mut a = cur?.clone();
                a.bind_customer(b, now).then_some(a)
            })
            .await?
        {
            InvitationBinding::Bound(a) => Ok(Onboarded {
                authorizer: a.ok_or(StoreError::NotFound)?,
                exchanged: false,
                refusal: None,
            }),
            InvitationBinding::Refused(why) => Ok(Onboarded {
                authorizer: current,
                exchanged: false,
                refusal: Some(why),
            }),
        }
    }
}

/// The store's id for a code: its SHA-256, so no code value is ever stored or logged.
pub fn code_id(code: &SecretString) -> String {
    hex::encode(Sha256::digest(code.expose_secret().as_bytes()))
}

fn new_owner() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}
