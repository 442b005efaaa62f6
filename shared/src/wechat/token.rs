//! The token manager: cached component and authorizer tokens, refreshed under a lease held in the
//! store so that WeChat sees one refresh per token lifetime however many functions ask at once.
//!
//! Reading a token:
//! 1. Fast path: the stored token is valid beyond the safety margin → return it.
//! 2. Otherwise (one caller per process at a time, behind a local lock) take the lease with a
//!    conditional write (`lease_until = now + lease_secs`, expected = the version read).
//!    - The winner calls WeChat and writes the new token conditioned on the lease version, which
//!      also clears the lease.
//!    - Losers (a conflict, or a live lease held by someone else) return the stored token if it is
//!      still usable, else poll the store until the winner's token appears.
//! 3. A token WeChat rejected (40001/42001/40014) is replaced the same way, unless someone already
//!    replaced it; the call is then retried once ([`TokenManager::with_authorizer_token`]).

use super::client::WechatClient;
use super::component::{
    self, AuthorizationInfo, AuthorizerAccessToken, AuthorizerInfoResponse, AuthorizerListItem,
    AUTHORIZER_LIST_MAX_COUNT,
};
use super::endpoint::{AuthorizerEndpoint, ComponentEndpoint, Token};
use super::error::{WechatError, WechatResult};
use crate::domain::{AppId, Clock, UnixTime};
use crate::store::{AuthorizerStore, StoreError, Ticket, TokenKey, TokenState, VersionedToken};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A `component_verify_ticket` stays valid this long after WeChat pushed it.
pub const TICKET_VALIDITY_SECS: i64 = 12 * 3600;

pub use crate::store::TokenBackend;

/// Timing of the token manager.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// Refresh when less than this is left (default 600 s: a 7200 s token lives 1 h 50 min).
    pub margin_secs: i64,
    /// How long a refresher holds the lease (default 60 s). The WeChat calls made under it must
    /// end `call_margin_secs` before it does: one attempt of a call that is not safe to repeat
    /// (10 s), a nested component-token refresh and the recovery read all fit.
    pub lease_secs: i64,
    /// The calls under a lease are abandoned this long before the lease ends (default 10 s), so
    /// nobody else can take the lease while one of ours may still reach WeChat.
    pub call_margin_secs: i64,
    /// While someone else refreshes, a stored token with at least this much left is returned
    /// rather than waited for (default 60 s).
    pub min_usable_secs: i64,
    /// How often a waiting caller re-reads the store (default 100 ms).
    pub poll_interval: Duration,
    /// How long a caller waits for another refresher before giving up (default 8 s).
    pub max_wait: Duration,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy {
            margin_secs: 600,
            lease_secs: 60,
            call_margin_secs: 10,
            min_usable_secs: 60,
            poll_interval: Duration::from_millis(100),
            max_wait: Duration::from_secs(8),
        }
    }
}

/// How long a token handed out by [`TokenManager::issue`] is served from this instance's memory
/// before the store is read again: another instance may have replaced it (a reported rejection),
/// so it is not trusted until its margin, only for this long.
pub const ISSUED_REVALIDATE_SECS: i64 = 60;

/// A token as handed to a caller that passes it on (the provider's backends), with its expiry.
/// `Debug` hides the token.
#[derive(Clone)]
pub struct Issued {
    pub access_token: SecretString,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Issued {
    fn new(access_token: &SecretString, state: &TokenState) -> Self {
        Issued {
            access_token: access_token.clone(),
            expires_at: state.expires_at,
        }
    }

    /// The stored token when there is one, else ours (`fetched`, expiring at `expires_at`).
    fn of(state: &TokenState, fetched: SecretString, expires_at: UnixTime) -> Self {
        match &state.access_token {
            Some(t) => Issued::new(t, state),
            None => Issued {
                access_token: fetched,
                expires_at,
            },
        }
    }
}

/// A token obtained from WeChat, before it is stored.
struct Fetched {
    access: SecretString,
    expires_in: i64,
    refresh: Option<SecretString>,
}

/// See the module documentation.
pub struct TokenManager {
    client: WechatClient,
    store: Arc<dyn TokenBackend>,
    component_appid: AppId,
    component_appsecret: SecretString,
    clock: Arc<dyn Clock>,
    policy: TokenPolicy,
    /// Distinguishes this manager's leases in the store (for logs and diagnosis).
    instance: String,
    seq: AtomicU64,
    /// Refresh tokens adopted from what WeChat reports (see `adopt_live_refresh_token`).
    recoveries: AtomicU64,
    /// The component token this process last saw valid, and when it expires.
    component_cache: std::sync::Mutex<Option<(SecretString, UnixTime)>>,
    /// See [`TokenManager::with_authorizers`].
    authorizers: Option<Arc<dyn AuthorizerStore>>,
    /// What [`TokenManager::issue`] handed out, and when it was read from the store.
    issued: std::sync::Mutex<HashMap<TokenKey, (Issued, UnixTime)>>,
    /// How many [`TokenManager::issue`] calls were not answered from memory.
    issue_lookups: AtomicU64,
    /// One refresher per key inside this process; the store lease covers other processes.
    local: std::sync::Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("component_appid", &self.component_appid)
            .field("instance", &self.instance)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn key_name(key: &TokenKey) -> String {
    match key {
        TokenKey::Component(a) => format!("component {a}"),
        TokenKey::Authorizer(a) => format!("authorizer {a}"),
    }
}

fn same_secret(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

impl TokenManager {
    pub fn new(
        client: WechatClient,
        store: Arc<dyn TokenBackend>,
        component_appid: AppId,
        component_appsecret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Self {
        TokenManager {
            client,
            store,
            component_appid,
            component_appsecret,
            clock,
            policy: TokenPolicy::default(),
            instance: format!("{:016x}", rand::random::<u64>()),
            seq: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            component_cache: std::sync::Mutex::new(None),
            authorizers: None,
            issued: std::sync::Mutex::new(HashMap::new()),
            issue_lookups: AtomicU64::new(0),
            local: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn with_policy(mut self, policy: TokenPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where authorizer profiles live: when a refresh token is found dead for good, the
    /// authorizer's status becomes `needs_reauthorization` there too (whoever hit it: the
    /// refresher, an operator call, a push), not only the token item's mark.
    pub fn with_authorizers(mut self, authorizers: Arc<dyn AuthorizerStore>) -> Self {
        self.authorizers = Some(authorizers);
        self
    }

    pub fn client(&self) -> &WechatClient {
        &self.client
    }

    pub fn component_appid(&self) -> &AppId {
        &self.component_appid
    }

    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// How many stale refresh tokens this manager replaced by the live one WeChat reports.
    pub fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// The component token, valid beyond the margin; refreshed (once across all callers) if not.
    pub async fn component_access_token(&self) -> WechatResult<SecretString> {
        self.obtain(&TokenKey::Component(self.component_appid.clone()), None)
            .await
    }

    /// The authorizer's token, valid beyond the margin; refreshed with its stored refresh token
    /// (once across all callers) if not. `NoRefreshToken` or errcode 61023
    /// ([`WechatError::needs_reauthorization`]) mean the merchant must authorize again.
    pub async fn authorizer_access_token(&self, appid: &AppId) -> WechatResult<SecretString> {
        self.obtain(&TokenKey::Authorizer(appid.clone()), None)
            .await
    }

    /// The token for a caller outside wxopen (the provider's backends), with its expiry: valid
    /// beyond the margin, refreshed under the lease (once across all callers and the scheduled
    /// refresher) only when within it. Served from this instance's memory until its margin, or
    /// for [`ISSUED_REVALIDATE_SECS`] since it was read, whichever comes first: a warm instance
    /// reads the store at most once a minute per token.
    pub async fn issue(&self, key: &TokenKey) -> WechatResult<Issued> {
        let now = self.clock.now();
        if let Some(hit) = self.issued_cached(key, now) {
            return Ok(hit);
        }
        self.issue_lookups.fetch_add(1, Ordering::Relaxed);
        let issued = self.obtain_issued(key, None).await?;
        self.remember_issued(key, &issued, now);
        Ok(issued)
    }

    /// How many [`TokenManager::issue`] calls went to the store (one token read each, more only
    /// when it was refreshed) rather than being answered from this instance's memory.
    pub fn issue_lookups(&self) -> u64 {
        self.issue_lookups.load(Ordering::Relaxed)
    }

    /// A caller reports that WeChat refused `rejected` (40001/42001): the next token handed out
    /// is a fresh one. Single flight: however many callers report the same token at once, it is
    /// refreshed once (the others get the replacement); a report naming a token that is no
    /// longer current refreshes nothing and answers the current one.
    pub async fn report_rejected(
        &self,
        key: &TokenKey,
        rejected: &SecretString,
    ) -> WechatResult<Issued> {
        let now = self.clock.now();
        {
            let mut cache = self.issued.lock().unwrap_or_else(|p| p.into_inner());
            if cache
                .get(key)
                .is_some_and(|(i, _)| same_secret(&i.access_token, rejected))
            {
                cache.remove(key);
            }
        }
        let issued = self.obtain_issued(key, Some(rejected)).await?;
        self.remember_issued(key, &issued, now);
        Ok(issued)
    }

    fn issued_cached(&self, key: &TokenKey, now: UnixTime) -> Option<Issued> {
        let cache = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        let (issued, read_at) = cache.get(key)?;
        let fresh = issued.expires_at - self.policy.margin_secs > now
            && now - read_at < ISSUED_REVALIDATE_SECS;
        fresh.then(|| issued.clone())
    }

    fn remember_issued(&self, key: &TokenKey, issued: &Issued, read_at: UnixTime) {
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), (issued.clone(), read_at));
    }

    /// Replaces a token WeChat rejected; if another caller already replaced it, returns theirs.
    pub async fn replace_rejected(
        &self,
        key: &TokenKey,
        rejected: &SecretString,
    ) -> WechatResult<SecretString> {
        self.obtain(key, Some(rejected)).await
    }

    /// Refreshes the token now, whatever its expiry (still once across concurrent callers).
    pub async fn force_refresh(&self, key: &TokenKey) -> WechatResult<SecretString> {
        let current = self
            .store
            .get_token(key)
            .await?
            .and_then(|v| v.state.access_token);
        match current {
            Some(t) => self.obtain(key, Some(&t)).await,
            None => self.obtain(key, None).await,
        }
    }

    /// For the scheduled refresher: refreshes the authorizer's token if it is within the margin of
    /// expiring. Returns whether it was due (and is now refreshed, by us or a concurrent caller).
    pub async fn refresh_authorizer_if_due(&self, appid: &AppId) -> WechatResult<bool> {
        let key = TokenKey::Authorizer(appid.clone());
        let now = self.clock.now();
        if let Some(v) = self.store.get_token(&key).await? {
            if v.state.access_token.is_some() && v.state.expires_at - self.policy.margin_secs > now
            {
                return Ok(false);
            }
        }
        self.obtain(&key, None).await?;
        Ok(true)
    }

    fn cached_component(
        &self,
        rejected: Option<&SecretString>,
        now: UnixTime,
        margin: i64,
    ) -> Option<Issued> {
        let cache = self
            .component_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (t, expires_at) = cache.as_ref()?;
        let fresh = *expires_at - margin > now && !rejected.is_some_and(|r| same_secret(r, t));
        fresh.then(|| Issued {
            access_token: t.clone(),
            expires_at: *expires_at,
        })
    }

    fn cache_component(&self, key: &TokenKey, state: &TokenState) {
        if let (TokenKey::Component(_), Some(t)) = (key, &state.access_token) {
            *self
                .component_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some((t.clone(), state.expires_at));
        }
    }

    /// For the scheduled refresher: makes sure the token stays valid at least `within_secs`
    /// more, refreshing it (once across all callers, under the lease) if not. Returns whether this
    /// call refreshed it at WeChat: `false` when it was fresh enough, or another refresher did it
    /// meanwhile.
    pub async fn refresh_if_expiring(
        &self,
        key: &TokenKey,
        within_secs: i64,
    ) -> WechatResult<bool> {
        Ok(self.obtain_within(key, None, within_secs).await?.1)
    }

    /// [`TokenManager::refresh_if_expiring`] from a state the caller has just read (the
    /// refresher reads a page of due tokens in one request, [`crate::store::TokenStore::get_tokens`]): one
    /// store read fewer per token. The read is only a starting point: the lease is still a
    /// write conditional on its version, so a stale read costs a retry, never a double refresh.
    pub async fn refresh_if_expiring_from(
        &self,
        key: &TokenKey,
        read: Option<VersionedToken>,
        within_secs: i64,
    ) -> WechatResult<bool> {
        Ok(self.obtain_from(key, None, within_secs, read).await?.1)
    }

    /// The latest ticket, if it is still within its 12 h validity.
    pub async fn current_ticket(&self) -> WechatResult<Ticket> {
        let ticket = self
            .store
            .latest_ticket(&self.component_appid)
            .await?
            .ok_or_else(|| WechatError::NoTicket {
                component: self.component_appid.clone(),
            })?;
        let age = self.clock.now() - ticket.received_at;
        if age >= TICKET_VALIDITY_SECS {
            return Err(WechatError::TicketExpired {
                component: self.component_appid.clone(),
                received_at: ticket.received_at,
                age_secs: age,
            });
        }
        Ok(ticket)
    }

    /// Stores the tokens `api_query_auth` (or `api_get_authorizer_info`) handed out at
    /// authorization time, as of now. See [`TokenManager::save_authorization_at`].
    pub async fn save_authorization(&self, info: &AuthorizationInfo) -> WechatResult<()> {
        self.save_authorization_at(info, self.clock.now()).await
    }

    /// Stores the tokens of an authorization that happened at `at` (the `authorized` push's
    /// CreateTime, or when the callback exchanged the code), clearing any needs-reauthorization
    /// mark. An authorization change recorded after `at` (e.g. a later `unauthorized`) wins:
    /// nothing is written. Without a refresh token (no API permissions) nothing is stored.
    pub async fn save_authorization_at(
        &self,
        info: &AuthorizationInfo,
        at: UnixTime,
    ) -> WechatResult<()> {
        let Some(refresh) = info.authorizer_refresh_token.clone() else {
            return Ok(());
        };
        let key = TokenKey::Authorizer(info.authorizer_appid.clone());
        let now = self.clock.now();
        let (access, expires_at) = match (&info.authorizer_access_token, info.expires_in) {
            (Some(a), Some(e)) => (Some(a.clone()), now + e),
            _ => (None, 0),
        };
        for _ in 0..8 {
            let cur = self.store.get_token(&key).await?;
            if cur.as_ref().is_some_and(|c| c.state.auth_changed_at > at) {
                tracing::info!(authorizer = %info.authorizer_appid, "authorization older than the stored change; not stored");
                return Ok(());
            }
            let mut state = TokenState {
                access_token: access.clone(),
                refresh_token: Some(refresh.clone()),
                expires_at,
                refreshed_at: if access.is_some() { now } else { 0 },
                auth_changed_at: at,
                ..TokenState::default()
            };
            if let Some(c) = &cur {
                if c.state.lease_until > now {
                    state.lease_until = c.state.lease_until;
                    state.lease_owner = c.state.lease_owner.clone();
                }
            }
            match self
                .store
                .put_token(&key, &state, cur.map(|c| c.version))
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(WechatError::Store(StoreError::Conflict))
    }

    /// Runs `f` with the component token; if WeChat rejects the token, refreshes it once and runs
    /// `f` once more.
    pub async fn with_component_token<T, F, Fut>(&self, f: F) -> WechatResult<T>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = WechatResult<T>>,
    {
        let key = TokenKey::Component(self.component_appid.clone());
        self.with_token(&key, f).await
    }

    /// Runs `f` with the authorizer's token; if WeChat rejects the token, refreshes it once and
    /// runs `f` once more.
    pub async fn with_authorizer_token<T, F, Fut>(&self, appid: &AppId, f: F) -> WechatResult<T>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = WechatResult<T>>,
    {
        let key = TokenKey::Authorizer(appid.clone());
        self.with_token(&key, f).await
    }

    async fn with_token<T, F, Fut>(&self, key: &TokenKey, f: F) -> WechatResult<T>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = WechatResult<T>>,
    {
        let token = self.obtain(key, None).await?;
        match f(token.clone()).await {
            Err(e) if e.is_token_rejected() => {
                tracing::warn!(token = %key_name(key), errcode = ?e.errcode(), "token rejected by WeChat; refreshing once and retrying once");
                let fresh = self.obtain(key, Some(&token)).await?;
                f(fresh).await
            }
            other => other,
        }
    }

    /// The component endpoints and the template library, with automatic token handling.
    pub fn component(&self) -> ComponentApi<'_> {
        ComponentApi { mgr: self }
    }

    /// Code management of one authorized mini program, with automatic token handling.
    pub fn wxa(&self, appid: &AppId) -> WxaApi<'_> {
        WxaApi {
            mgr: self,
            appid: appid.clone(),
        }
    }

    fn local_lock(&self, key: &TokenKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.clone()).or_default().clone()
    }

    /// Is this stored state what the caller wants (valid beyond the margin, not the rejected one)?
    fn good<'s>(
        &self,
        state: &'s TokenState,
        rejected: Option<&SecretString>,
        now: UnixTime,
        left: i64,
    ) -> Option<&'s SecretString> {
        let t = state.access_token.as_ref()?;
        if state.expires_at - left <= now {
            return None;
        }
        if rejected.is_some_and(|r| same_secret(r, t)) {
            return None;
        }
        Some(t)
    }

    async fn obtain(
        &self,
        key: &TokenKey,
        rejected: Option<&SecretString>,
    ) -> WechatResult<SecretString> {
        Ok(self.obtain_issued(key, rejected).await?.access_token)
    }

    /// [`TokenManager::obtain`], with the token's expiry.
    async fn obtain_issued(
        &self,
        key: &TokenKey,
        rejected: Option<&SecretString>,
    ) -> WechatResult<Issued> {
        Ok(self
            .obtain_within(key, rejected, self.policy.margin_secs)
            .await?
            .0)
    }

    /// [`TokenManager::obtain`] for a token that must stay valid at least `margin` seconds; also
    /// says whether this call refreshed it at WeChat (rather than finding or awaiting another's).
    async fn obtain_within(
        &self,
        key: &TokenKey,
        rejected: Option<&SecretString>,
        margin: i64,
    ) -> WechatResult<(Issued, bool)> {
        // Fastest path: the component token this process already holds (one store read fewer on
        // every call that needs it, such as each authorizer refresh).
        let now = self.clock.now();
        if matches!(key, TokenKey::Component(_)) {
            if let Some(issued) = self.cached_component(rejected, now, margin) {
                return Ok((issued, false));
            }
        }
        // Fast path, no lock.
        let first = self.store.get_token(key).await?;
        self.obtain_from(key, rejected, margin, first).await
    }

    /// [`TokenManager::obtain_within`] from `first`, the state as last read.
    async fn obtain_from(
        &self,
        key: &TokenKey,
        rejected: Option<&SecretString>,
        margin: i64,
        first: Option<VersionedToken>,
    ) -> WechatResult<(Issued, bool)> {
        let now = self.clock.now();
        if let Some(v) = &first {
            if let Some(t) = self.good(&v.state, rejected, now, margin) {
                self.cache_component(key, &v.state);
                return Ok((Issued::new(t, &v.state), false));
            }
        }
        let lock = self.local_lock(key);
        // Uncontended, the first read is still the latest this process knows: reuse it.
        let (_guard, mut known) = match lock.clone().try_lock_owned() {
            Ok(g) => (g, first),
            Err(_) => (lock.lock_owned().await, None),
        };
        let deadline = tokio::time::Instant::now() + self.policy.max_wait;
        let mut superseded = 0;
        loop {
            let now = self.clock.now();
            let cur = match known.take() {
                Some(v) => Some(v),
                None => self.store.get_token(key).await?,
            };
            if let Some(v) = &cur {
                if let Some(t) = self.good(&v.state, rejected, now, margin) {
                    self.cache_component(key, &v.state);
                    return Ok((Issued::new(t, &v.state), false));
                }
            }
            if let TokenKey::Authorizer(appid) = key {
                let state = cur.as_ref().map(|v| &v.state);
                if state.is_some_and(|s| s.needs_reauthorization) {
                    return Err(WechatError::NeedsReauthorization {
                        appid: appid.clone(),
                    });
                }
                if state.and_then(|s| s.refresh_token.as_ref()).is_none() {
                    return Err(WechatError::NoRefreshToken {
                        appid: appid.clone(),
                    });
                }
            }
            let lease_live = cur.as_ref().is_some_and(|v| v.state.lease_until > now);
            if !lease_live {
                // A lease that ran out without being released: its holder died or gave up while
                // a call may have reached WeChat, so the stored refresh token is in doubt.
                let in_doubt = cur
                    .as_ref()
                    .is_some_and(|v| v.state.lease_owner.is_some() && v.state.lease_until != 0);
                let owner = format!(
                    "{}-{}",
                    self.instance,
                    self.seq.fetch_add(1, Ordering::Relaxed)
                );
                let mut leased = cur.as_ref().map(|v| v.state.clone()).unwrap_or_default();
                leased.lease_until = now + self.policy.lease_secs;
                leased.lease_owner = Some(owner.clone());
                match self
                    .store
                    .put_token(key, &leased, cur.as_ref().map(|v| v.version))
                    .await
                {
                    Ok(lease_version) => {
                        let lease = Lease {
                            state: leased,
                            version: lease_version,
                            in_doubt,
                        };
                        match self.refresh_under_lease(key, lease).await? {
                            Refreshed::Token(issued) => return Ok((issued, true)),
                            // WeChat refused the token of a grant that is no longer the stored
                            // one: judge what is stored now.
                            Refreshed::Superseded(e) => {
                                superseded += 1;
                                if superseded > MAX_SUPERSEDED {
                                    return Err(e);
                                }
                                continue;
                            }
                        }
                    }
                    // Someone wrote in between (a token or a lease): look again at once.
                    Err(StoreError::Conflict) if tokio::time::Instant::now() < deadline => {
                        continue;
                    }
                    Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // Someone else is refreshing. A token that is still usable will do meanwhile.
            if let Some(v) = &cur {
                if let Some(t) = self.good(&v.state, rejected, now, self.policy.min_usable_secs) {
                    return Ok((Issued::new(t, &v.state), false));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WechatError::LeaseWaitTimeout {
                    what: key_name(key),
                });
            }
            tokio::time::sleep(self.policy.poll_interval).await;
        }
    }

    /// We hold the lease: fetch from WeChat within the lease's time and store the result,
    /// conditioned on the lease's version (a version never reused, so on the lease itself).
    async fn refresh_under_lease(
        &self,
        key: &TokenKey,
        mut lease: Lease,
    ) -> WechatResult<Refreshed> {
        let started = self.clock.now();
        // Every call under the lease ends `call_margin_secs` before the lease does: nobody else
        // may take the lease while a call of ours can still reach WeChat.
        let budget = (lease.state.lease_until - started - self.policy.call_margin_secs).max(1);
        let fetched = match tokio::time::timeout(
            Duration::from_secs(budget as u64),
            self.fetch(key, &mut lease),
        )
        .await
        {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                let authorizer = matches!(key, TokenKey::Authorizer(_));
                if e.needs_reauthorization() {
                    if self.mark_needs_reauthorization(key, &lease).await == Mark::Superseded {
                        return Ok(Refreshed::Superseded(e));
                    }
                } else {
                    // After an unknown outcome the refresh token may have rotated, and after an
                    // unconfirmed refusal the stored one is known dead: the lease is ended but
                    // left "unreleased", so whoever takes it next asks WeChat for the live
                    // refresh token before presenting one.
                    let unconfirmed = matches!(e, WechatError::RefusalUnconfirmed { .. });
                    let in_doubt =
                        authorizer && (lease.in_doubt || e.outcome_unknown() || unconfirmed);
                    self.end_lease(key, &lease, in_doubt).await;
                }
                return Err(e);
            }
            Err(_elapsed) => {
                tracing::warn!(token = %key_name(key), budget_secs = budget, "WeChat did not answer within the lease; leaving the lease to run out");
                return Err(WechatError::LeaseWaitTimeout {
                    what: key_name(key),
                });
            }
        };
        tracing::info!(token = %key_name(key), expires_in = fetched.expires_in, "token refreshed");
        let mut new = TokenState {
            access_token: Some(fetched.access.clone()),
            refresh_token: fetched
                .refresh
                .clone()
                .or(lease.state.refresh_token.clone()),
            expires_at: started + fetched.expires_in,
            refreshed_at: started,
            needs_reauthorization: false,
            ..lease.state.clone()
        };
        new.lease_until = 0;
        new.lease_owner = None;
        let mut expected = Some(lease.version);
        let mut backoff = Duration::from_millis(50);
        for attempt in 0..8 {
            match self.store.put_token(key, &new, expected).await {
                Ok(_) => {
                    self.cache_component(key, &new);
                    return Ok(Refreshed::Token(Issued {
                        access_token: fetched.access,
                        expires_at: new.expires_at,
                    }));
                }
                Err(StoreError::Conflict) => {}
                // A throttle or a blip: the rotated refresh token exists only in this process,
                // so try hard before giving up (the next run still recovers it from WeChat).
                Err(e) if attempt < 4 => {
                    tracing::warn!(token = %key_name(key), error = %e, "storing the refreshed token failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            // Our lease ran out and someone else wrote.
            tracing::warn!(token = %key_name(key), "lease lost before the refreshed token was written; merging");
            let Some(cur) = self.store.get_token(key).await? else {
                expected = None;
                continue;
            };
            if matches!(key, TokenKey::Authorizer(_))
                && (cur.state.is_tombstone()
                    || cur.state.auth_changed_at != lease.state.auth_changed_at)
            {
                // Revoked or authorized anew meanwhile: our tokens belong to an older grant and
                // must not be written back over it.
                return Ok(Refreshed::Token(Issued::of(
                    &cur.state,
                    fetched.access,
                    new.expires_at,
                )));
            }
            let now = self.clock.now();
            let theirs_newer =
                cur.state.access_token.is_some() && cur.state.expires_at >= new.expires_at;
            if theirs_newer {
                if cur.state.refresh_token.is_some() || new.refresh_token.is_none() {
                    return Ok(Refreshed::Token(Issued::of(
                        &cur.state,
                        fetched.access,
                        new.expires_at,
                    )));
                }
                // Theirs lacks the refresh token we hold: add it to their state.
                let mut merged = cur.state.clone();
                merged.refresh_token = new.refresh_token.clone();
                new = merged;
            } else {
                if new.refresh_token.is_none() {
                    new.refresh_token = cur.state.refresh_token.clone();
                }
                if cur.state.lease_until > now {
                    new.lease_until = cur.state.lease_until;
                    new.lease_owner = cur.state.lease_owner.clone();
                } else {
                    new.lease_until = 0;
                    new.lease_owner = None;
                }
            }
            expected = Some(cur.version);
        }
        Err(WechatError::Store(StoreError::Conflict))
    }

    /// Ends our lease. `in_doubt`: the refresh token may have rotated at WeChat without our
    /// knowing; the lease is left expired but not released (owner kept), which is how the next
    /// holder learns it must read the live refresh token from WeChat first.
    async fn end_lease(&self, key: &TokenKey, lease: &Lease, in_doubt: bool) {
        if !in_doubt {
            return self.release_lease(key, lease).await;
        }
        let mut ended = lease.state.clone();
        ended.lease_until = self.clock.now().min(ended.lease_until);
        if let Err(e) = self.store.put_token(key, &ended, Some(lease.version)).await {
            tracing::warn!(token = %key_name(key), error = %e, "could not end the token lease; it expires by itself");
        }
    }

    async fn release_lease(&self, key: &TokenKey, lease: &Lease) {
        let mut released = lease.state.clone();
        released.lease_until = 0;
        released.lease_owner = None;
        if let Err(e) = self
            .store
            .put_token(key, &released, Some(lease.version))
            .await
        {
            tracing::warn!(token = %key_name(key), error = %e, "could not release the token lease; it expires by itself");
        }
    }

    /// WeChat refused the refresh token and reports no other: only the merchant can fix it.
    /// The mark keeps the token out of the due index until a new authorization is saved. It is
    /// conditioned on the lease's version, so it lands only on the grant that was judged: with
    /// the authorizer store, the token and the profile are marked in one write
    /// ([`AuthorizerStore::mark_needs_reauthorization`]), and a profile that records a later
    /// authorization is left alone.
    async fn mark_needs_reauthorization(&self, key: &TokenKey, lease: &Lease) -> Mark {
        let TokenKey::Authorizer(appid) = key else {
            self.release_lease(key, lease).await;
            return Mark::Marked;
        };
        let mut marked = lease.state.clone();
        marked.lease_until = 0;
        marked.lease_owner = None;
        marked.needs_reauthorization = true;
        let written = match &self.authorizers {
            Some(a) => {
                a.mark_needs_reauthorization(appid, &marked, lease.version, self.clock.now())
                    .await
            }
            None => {
                self.store
                    .put_token(key, &marked, Some(lease.version))
                    .await
            }
        };
        match written {
            Ok(_) => {
                tracing::error!(token = %key_name(key), "refresh token refused by WeChat and none other known: the merchant must authorize again");
                Mark::Marked
            }
            Err(StoreError::Conflict) => {
                tracing::info!(token = %key_name(key), "refresh token refused, but the stored token changed meanwhile (a new grant, a revocation): not marked");
                Mark::Superseded
            }
            Err(e) => {
                tracing::warn!(token = %key_name(key), error = %e, "could not mark the token as needing re-authorization");
                Mark::Failed
            }
        }
    }

    async fn fetch(&self, key: &TokenKey, lease: &mut Lease) -> WechatResult<Fetched> {
        match key {
            TokenKey::Component(_) => {
                let ticket = self.current_ticket().await?;
                let r = self
                    .client
                    .call(
                        None,
                        &component::ApiComponentToken {
                            component_appid: &self.component_appid,
                            component_appsecret: &self.component_appsecret,
                            component_verify_ticket: &ticket.value,
                        },
                    )
                    .await?;
                Ok(Fetched {
                    access: r.component_access_token,
                    expires_in: valid_expires_in("api_component_token", r.expires_in)?,
                    refresh: None,
                })
            }
            TokenKey::Authorizer(appid) => {
                let no_refresh = || WechatError::NoRefreshToken {
                    appid: appid.clone(),
                };
                if lease.in_doubt {
                    // Someone's call may have rotated it: ask before presenting it.
                    self.adopt_live_refresh_token(key, appid, lease).await?;
                }
                let refresh = lease.state.refresh_token.clone().ok_or_else(no_refresh)?;
                let r = match self.call_authorizer_token(appid, &refresh).await {
                    Ok(r) => r,
                    Err(e) if e.needs_reauthorization() || e.outcome_unknown() => {
                        // 61023, or a lost answer that may have rotated it: WeChat still knows
                        // the live refresh token. Adopt it (stored at once) and try once more.
                        tracing::warn!(authorizer = %appid, errcode = ?e.errcode(), "api_authorizer_token failed; recovering the live refresh token from WeChat");
                        let changed = match self.adopt_live_refresh_token(key, appid, lease).await {
                            Ok(changed) => changed,
                            Err(re) if re.needs_reauthorization() => return Err(re),
                            // Recovery could not ask WeChat: the stored token stays as it is,
                            // unmarked (only WeChat's answer says the merchant must act).
                            Err(re) if e.needs_reauthorization() => {
                                return Err(WechatError::RefusalUnconfirmed {
                                    appid: appid.clone(),
                                    recovery: Box::new(re),
                                })
                            }
                            Err(_) => return Err(e),
                        };
                        if !changed && e.needs_reauthorization() {
                            return Err(e);
                        }
                        let live = lease.state.refresh_token.clone().ok_or_else(no_refresh)?;
                        self.call_authorizer_token(appid, &live).await?
                    }
                    Err(e) => return Err(e),
                };
                if let Some(new_refresh) = &r.authorizer_refresh_token {
                    if !same_secret(new_refresh, &refresh) {
                        tracing::info!(authorizer = %appid, "authorizer_refresh_token rotated");
                    }
                }
                Ok(Fetched {
                    access: r.authorizer_access_token,
                    expires_in: valid_expires_in("api_authorizer_token", r.expires_in)?,
                    refresh: r.authorizer_refresh_token,
                })
            }
        }
    }

    /// Reads the refresh token WeChat holds for `appid` (`api_get_authorizer_info`'s
    /// authorization_info) and, if it differs from the leased one, stores it under the lease at
    /// once, so it survives whatever happens next. Returns whether it differed. An account that no
    /// longer authorizes us (or reports no refresh token) needs re-authorization.
    async fn adopt_live_refresh_token(
        &self,
        key: &TokenKey,
        appid: &AppId,
        lease: &mut Lease,
    ) -> WechatResult<bool> {
        let info = match self.call_get_authorizer_info(appid).await {
            Ok(info) => info,
            Err(e) if e.errcode() == Some(AUTHORIZATION_REVOKED) => {
                return Err(WechatError::NeedsReauthorization {
                    appid: appid.clone(),
                })
            }
            Err(e) => return Err(e),
        };
        let Some(live) = info.authorization_info.authorizer_refresh_token else {
            return Err(WechatError::NeedsReauthorization {
                appid: appid.clone(),
            });
        };
        lease.in_doubt = false;
        if lease
            .state
            .refresh_token
            .as_ref()
            .is_some_and(|r| same_secret(r, &live))
        {
            return Ok(false);
        }
        tracing::warn!(authorizer = %appid, "the stored refresh token was stale; adopted the live one WeChat reports");
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        let mut adopted = lease.state.clone();
        adopted.refresh_token = Some(live);
        lease.version = self
            .store
            .put_token(key, &adopted, Some(lease.version))
            .await?;
        lease.state = adopted;
        Ok(true)
    }

    /// Exchanges an authorization code (`api_query_auth`) and stores the tokens, without ever
    /// losing them: the code is single use and the call is never repeated, so after an answer
    /// that may have been lost the authorization is read back from what WeChat reports
    /// (`api_get_authorizer_info` for `authorizer_hint`, e.g. the `authorized` push's appid; else
    /// the one entry of `api_get_authorizer_list` authorized since the call began).
    pub async fn exchange_auth_code(
        &self,
        authorization_code: &SecretString,
        authorizer_hint: Option<&AppId>,
    ) -> WechatResult<AuthorizationInfo> {
        let started = self.clock.now();
        let code = authorization_code.expose_secret();
        let exchange = component::ApiQueryAuth {
            component_appid: &self.component_appid,
            authorization_code: code,
        };
        match self.component().call(&exchange).await {
            Ok(q) => {
                self.save_authorization_at(&q.authorization_info, started)
                    .await?;
                Ok(q.authorization_info)
            }
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(error = %e, "api_query_auth answer lost; reading the authorization back from WeChat");
                let appid = match authorizer_hint {
                    Some(a) => a.clone(),
                    None => self
                        .only_authorizer_since(started - AUTH_TIME_SKEW_SECS)
                        .await?
                        .ok_or(e)?,
                };
                let read = component::ApiGetAuthorizerInfo {
                    component_appid: &self.component_appid,
                    authorizer_appid: &appid,
                };
                let info = self.component().call(&read).await?.authorization_info;
                self.save_authorization_at(&info, started).await?;
                Ok(info)
            }
            Err(e) => Err(e),
        }
    }

    /// The one authorizer authorized at or after `since`; none if there is none or more than one
    /// (two merchants authorizing at once: guessing could bind tokens to the wrong customer, so
    /// the `authorized` push, which names the appid, settles it instead).
    async fn only_authorizer_since(&self, since: UnixTime) -> WechatResult<Option<AppId>> {
        let mut found: Vec<AppId> = self
            .all_listed_authorizers()
            .await?
            .iter()
            .filter(|item| item.auth_time >= since)
            .filter_map(|item| item.appid())
            .collect();
        Ok(match found.len() {
            1 => found.pop(),
            _ => None,
        })
    }

    /// Every authorizer `api_get_authorizer_list` lists, page by page (500 at most per page),
    /// each once. The list is paged by offset: when its total changes during the walk (a merchant
    /// authorized or revoked), entries shift and one may slip out of view, so the walk starts
    /// again, a few times at most. Even a walk whose total held may miss one (a revocation and an
    /// authorization at once, or a re-authorization moving an entry to the end): absence from it
    /// is never proof ([`TokenManager::authorization_status`] is).
    pub async fn all_listed_authorizers(&self) -> WechatResult<Vec<AuthorizerListItem>> {
        let mut walks = 0;
        loop {
            walks += 1;
            let (items, steady) = self.walk_authorizer_list().await?;
            if steady || walks >= LIST_WALKS {
                if !steady {
                    tracing::warn!(walks, "api_get_authorizer_list kept changing while it was paged; using the last walk");
                }
                return Ok(items);
            }
            tracing::info!(
                walks,
                "api_get_authorizer_list changed while it was paged; walking it again"
            );
        }
    }

    /// One walk of the list: its entries (first sighting of each appid) and whether every page
    /// reported the same total.
    async fn walk_authorizer_list(&self) -> WechatResult<(Vec<AuthorizerListItem>, bool)> {
        let mut out: Vec<AuthorizerListItem> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut offset = 0u32;
        let mut total: Option<u64> = None;
        let mut steady = true;
        loop {
            let page = self
                .component()
                .call(&component::ApiGetAuthorizerList {
                    component_appid: &self.component_appid,
                    offset,
                    count: AUTHORIZER_LIST_MAX_COUNT,
                })
                .await?;
            steady &= total.is_none_or(|t| t == page.total_count);
            total = Some(page.total_count);
            let n = page.list.len();
            offset += n as u32;
            for item in page.list {
                if seen.insert(item.authorizer_appid.clone()) {
                    out.push(item);
                }
            }
            if n == 0 || u64::from(offset) >= page.total_count {
                return Ok((out, steady));
            }
        }
    }

    /// Whether `appid` authorizes the platform now, as `api_get_authorizer_info` answers: the
    /// answer that may act on an authorizer missing from the list. `Ok(None)`: WeChat says it
    /// does not (61003); an error: no answer, nothing proven.
    pub async fn authorization_status(
        &self,
        appid: &AppId,
    ) -> WechatResult<Option<AuthorizerInfoResponse>> {
        match self.call_get_authorizer_info(appid).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.errcode() == Some(AUTHORIZATION_REVOKED) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Walks of `api_get_authorizer_list` before its last one is used although it kept changing.
const LIST_WALKS: u32 = 3;

/// `api_get_authorizer_info` answers this when the account no longer authorizes the platform.
const AUTHORIZATION_REVOKED: i64 = 61003;
/// How far WeChat's `auth_time` may lag our clock when matching a lost exchange.
const AUTH_TIME_SKEW_SECS: i64 = 300;

/// What a refresh under a lease came to.
enum Refreshed {
    Token(Issued),
    /// WeChat refused the refresh token, but the stored token changed before the mark could
    /// land (a new grant, a revocation): the refusal judged a grant that is gone.
    Superseded(WechatError),
}

/// How marking a refused token ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Marked,
    /// The token changed since the lease: nothing was marked.
    Superseded,
    /// The store failed: nothing was marked; the lease runs out by itself.
    Failed,
}

/// How often a refresh judges a newly stored grant after its refusal was superseded.
const MAX_SUPERSEDED: u32 = 3;

/// The lease a refresher holds, and whether the refresh token it guards is in doubt.
struct Lease {
    state: TokenState,
    version: u64,
    /// A previous holder's lease ran out unreleased: a call of theirs may have rotated the token.
    in_doubt: bool,
}

/// WeChat documents 7200 s; anything outside (0, 2 days] would make a refresh storm or a token
/// trusted for too long, so it is an error, never stored.
fn valid_expires_in(endpoint: &'static str, expires_in: i64) -> WechatResult<i64> {
    if expires_in > 0 && expires_in <= 2 * 86_400 {
        Ok(expires_in)
    } else {
        Err(WechatError::Decode {
            endpoint,
            detail: format!("expires_in {expires_in} is outside 1..=172800 seconds"),
        })
    }
}

impl TokenManager {
    /// `api_get_authorizer_info` with the component token (boxed, as below).
    fn call_get_authorizer_info<'a>(
        &'a self,
        appid: &'a AppId,
    ) -> Pin<Box<dyn Future<Output = WechatResult<AuthorizerInfoResponse>> + Send + 'a>> {
        Box::pin(self.with_component_token(move |ctoken| async move {
            self.client
                .call(
                    Some(&ctoken),
                    &component::ApiGetAuthorizerInfo {
                        component_appid: &self.component_appid,
                        authorizer_appid: appid,
                    },
                )
                .await
        }))
    }

    /// `api_authorizer_token` with the component token (boxed: obtaining the component token
    /// goes through the same machinery that called us).
    fn call_authorizer_token<'a>(
        &'a self,
        appid: &'a AppId,
        refresh: &'a SecretString,
    ) -> Pin<Box<dyn Future<Output = WechatResult<AuthorizerAccessToken>> + Send + 'a>> {
        Box::pin(self.with_component_token(move |ctoken| async move {
            self.client
                .call(
                    Some(&ctoken),
                    &component::ApiAuthorizerToken {
                        component_appid: &self.component_appid,
                        authorizer_appid: appid,
                        authorizer_refresh_token: refresh,
                    },
                )
                .await
        }))
    }
}

/// Component endpoints and templates with automatic component-token handling.
#[derive(Debug, Clone, Copy)]
pub struct ComponentApi<'a> {
    mgr: &'a TokenManager,
}

impl ComponentApi<'_> {
    /// Sends any component endpoint with the component token (none for the two that carry
    /// none), refreshing the token once if WeChat rejects it.
    pub async fn call<E: ComponentEndpoint>(&self, req: &E) -> WechatResult<E::Response> {
        let m = self.mgr;
        if E::TOKEN == Token::None {
            return m.client.call(None, req).await;
        }
        m.with_component_token(|t| async move { m.client.call(Some(&t), req).await })
            .await
    }

    /// `api_start_push_ticket` (no token: works before the first ticket arrives). Kept as a
    /// method: it sends the appsecret the manager holds and its callers never see.
    pub async fn start_push_ticket(&self) -> WechatResult<()> {
        self.call(&component::ApiStartPushTicket {
            component_appid: &self.mgr.component_appid,
            component_secret: &self.mgr.component_appsecret,
        })
        .await
        .map(drop)
    }
}

/// Code management of one mini program with automatic authorizer-token handling.
#[derive(Debug, Clone)]
pub struct WxaApi<'a> {
    mgr: &'a TokenManager,
    appid: AppId,
}

impl WxaApi<'_> {
    pub fn appid(&self) -> &AppId {
        &self.appid
    }

    /// Sends any code-management endpoint with this mini program's token, refreshing the token
    /// once if WeChat rejects it.
    pub async fn call<E: AuthorizerEndpoint>(&self, req: &E) -> WechatResult<E::Response> {
        let c = &self.mgr.client;
        self.mgr
            .with_authorizer_token(&self.appid, |t| async move { c.call(Some(&t), req).await })
            .await
    }
}
