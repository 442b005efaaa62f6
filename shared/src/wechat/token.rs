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
    AuthorizationInfo, AuthorizerAccessToken, AuthorizerInfoResponse, AuthorizerList, PreAuthCode,
    QueryAuth, Template, TemplateDraft, TemplateType,
};
use super::error::{WechatError, WechatResult};
use super::wxa::{
    AuditQuota, AuditStatusInfo, Category, CommitRequest, DomainAction, GrayReleasePlan,
    GrayReleaseRequest, HistoryVersion, LatestAuditStatus, QrCode, ServerDomains,
    SubmitAuditRequest, VisitAction, VisitStatus, WebviewDomains,
};
use crate::domain::{AppId, AuditId, Clock, UnixTime};
use crate::store::{StoreError, Ticket, TicketStore, TokenKey, TokenState, TokenStore};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A `component_verify_ticket` stays valid this long after WeChat pushed it.
pub const TICKET_VALIDITY_SECS: i64 = 12 * 3600;

/// What the token manager needs from the store.
pub trait TokenBackend: TokenStore + TicketStore {}
impl<T: TokenStore + TicketStore + ?Sized> TokenBackend for T {}

/// Timing of the token manager.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// Refresh when less than this is left (default 600 s: a 7200 s token lives 1 h 50 min).
    pub margin_secs: i64,
    /// How long a refresher holds the lease (default 30 s).
    pub lease_secs: i64,
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
            lease_secs: 30,
            min_usable_secs: 60,
            poll_interval: Duration::from_millis(100),
            max_wait: Duration::from_secs(8),
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
            local: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn with_policy(mut self, policy: TokenPolicy) -> Self {
        self.policy = policy;
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
    /// authorization time. Without a refresh token (no API permissions) nothing is stored.
    pub async fn save_authorization(&self, info: &AuthorizationInfo) -> WechatResult<()> {
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
            let mut state = TokenState {
                access_token: access.clone(),
                refresh_token: Some(refresh.clone()),
                expires_at,
                lease_until: 0,
                lease_owner: None,
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
        // Fast path, no lock.
        let now = self.clock.now();
        if let Some(v) = self.store.get_token(key).await? {
            if let Some(t) = self.good(&v.state, rejected, now, self.policy.margin_secs) {
                return Ok(t.clone());
            }
        }
        let lock = self.local_lock(key);
        let _guard = lock.lock().await;
        let deadline = tokio::time::Instant::now() + self.policy.max_wait;
        loop {
            let now = self.clock.now();
            let cur = self.store.get_token(key).await?;
            if let Some(v) = &cur {
                if let Some(t) = self.good(&v.state, rejected, now, self.policy.margin_secs) {
                    return Ok(t.clone());
                }
            }
            if let TokenKey::Authorizer(appid) = key {
                if cur
                    .as_ref()
                    .and_then(|v| v.state.refresh_token.as_ref())
                    .is_none()
                {
                    return Err(WechatError::NoRefreshToken {
                        appid: appid.clone(),
                    });
                }
            }
            let lease_live = cur.as_ref().is_some_and(|v| v.state.lease_until > now);
            if !lease_live {
                let owner = format!(
                    "{}-{}",
                    self.instance,
                    self.seq.fetch_add(1, Ordering::Relaxed)
                );
                let mut leased = cur.as_ref().map(|v| v.state.clone()).unwrap_or(TokenState {
                    access_token: None,
                    refresh_token: None,
                    expires_at: 0,
                    lease_until: 0,
                    lease_owner: None,
                });
                leased.lease_until = now + self.policy.lease_secs;
                leased.lease_owner = Some(owner.clone());
                match self
                    .store
                    .put_token(key, &leased, cur.as_ref().map(|v| v.version))
                    .await
                {
                    Ok(lease_version) => {
                        return self.refresh_under_lease(key, leased, lease_version).await;
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
                    return Ok(t.clone());
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

    /// We hold the lease at `lease_version`: fetch from WeChat and store, conditioned on the lease.
    async fn refresh_under_lease(
        &self,
        key: &TokenKey,
        leased: TokenState,
        lease_version: u64,
    ) -> WechatResult<SecretString> {
        let started = self.clock.now();
        let fetched = match self.fetch(key, &leased).await {
            Ok(f) => f,
            Err(e) => {
                self.release_lease(key, &leased, lease_version).await;
                return Err(e);
            }
        };
        tracing::info!(token = %key_name(key), expires_in = fetched.expires_in, "token refreshed");
        let mut new = TokenState {
            access_token: Some(fetched.access.clone()),
            refresh_token: fetched.refresh.clone().or(leased.refresh_token.clone()),
            expires_at: started + fetched.expires_in,
            lease_until: 0,
            lease_owner: None,
        };
        let mut expected = Some(lease_version);
        for _ in 0..8 {
            match self.store.put_token(key, &new, expected).await {
                Ok(_) => return Ok(fetched.access),
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
            // Our lease expired and someone else wrote. Keep whichever token is newest (on a tie,
            // the stored one: e.g. a re-authorization saved meanwhile), and never drop the newest
            // refresh token.
            tracing::warn!(token = %key_name(key), "lease lost before the refreshed token was written; merging");
            let Some(cur) = self.store.get_token(key).await? else {
                if matches!(key, TokenKey::Authorizer(_)) {
                    // Deleted meanwhile (unauthorized): do not resurrect it.
                    return Ok(fetched.access);
                }
                expected = None;
                continue;
            };
            let now = self.clock.now();
            let theirs_newer =
                cur.state.access_token.is_some() && cur.state.expires_at >= new.expires_at;
            if theirs_newer {
                if cur.state.refresh_token.is_some() || new.refresh_token.is_none() {
                    return Ok(cur.state.access_token.clone().unwrap_or(fetched.access));
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

    async fn release_lease(&self, key: &TokenKey, leased: &TokenState, lease_version: u64) {
        let mut released = leased.clone();
        released.lease_until = 0;
        released.lease_owner = None;
        if let Err(e) = self
            .store
            .put_token(key, &released, Some(lease_version))
            .await
        {
            tracing::warn!(token = %key_name(key), error = %e, "could not release the token lease; it expires by itself");
        }
    }

    async fn fetch(&self, key: &TokenKey, leased: &TokenState) -> WechatResult<Fetched> {
        match key {
            TokenKey::Component(_) => {
                let ticket = self.current_ticket().await?;
                let r = self
                    .client
                    .api_component_token(
                        &self.component_appid,
                        &self.component_appsecret,
                        &ticket.value,
                    )
                    .await?;
                Ok(Fetched {
                    access: r.component_access_token,
                    expires_in: r.expires_in,
                    refresh: None,
                })
            }
            TokenKey::Authorizer(appid) => {
                let refresh =
                    leased
                        .refresh_token
                        .clone()
                        .ok_or_else(|| WechatError::NoRefreshToken {
                            appid: appid.clone(),
                        })?;
                let r = self.call_authorizer_token(appid, &refresh).await?;
                if let Some(new_refresh) = &r.authorizer_refresh_token {
                    if !same_secret(new_refresh, &refresh) {
                        tracing::info!(authorizer = %appid, "authorizer_refresh_token rotated");
                    }
                }
                Ok(Fetched {
                    access: r.authorizer_access_token,
                    expires_in: r.expires_in,
                    refresh: r.authorizer_refresh_token,
                })
            }
        }
    }
}

impl TokenManager {
    /// `api_authorizer_token` with the component token (boxed: obtaining the component token
    /// goes through the same machinery that called us).
    fn call_authorizer_token<'a>(
        &'a self,
        appid: &'a AppId,
        refresh: &'a SecretString,
    ) -> Pin<Box<dyn Future<Output = WechatResult<AuthorizerAccessToken>> + Send + 'a>> {
        Box::pin(self.with_component_token(move |ctoken| async move {
            self.client
                .api_authorizer_token(&ctoken, &self.component_appid, appid, refresh)
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
    pub async fn create_preauthcode(&self) -> WechatResult<PreAuthCode> {
        let m = self.mgr;
        m.with_component_token(|t| async move {
            m.client
                .api_create_preauthcode(&t, &m.component_appid)
                .await
        })
        .await
    }

    /// `api_query_auth`. Store the tokens with [`TokenManager::save_authorization`].
    pub async fn query_auth(&self, authorization_code: &str) -> WechatResult<QueryAuth> {
        let m = self.mgr;
        m.with_component_token(|t| async move {
            m.client
                .api_query_auth(&t, &m.component_appid, authorization_code)
                .await
        })
        .await
    }

    pub async fn get_authorizer_info(
        &self,
        authorizer_appid: &AppId,
    ) -> WechatResult<AuthorizerInfoResponse> {
        let m = self.mgr;
        m.with_component_token(|t| async move {
            m.client
                .api_get_authorizer_info(&t, &m.component_appid, authorizer_appid)
                .await
        })
        .await
    }

    pub async fn get_authorizer_list(
        &self,
        offset: u32,
        count: u32,
    ) -> WechatResult<AuthorizerList> {
        let m = self.mgr;
        m.with_component_token(|t| async move {
            m.client
                .api_get_authorizer_list(&t, &m.component_appid, offset, count)
                .await
        })
        .await
    }

    /// `api_start_push_ticket` (no token: works before the first ticket arrives).
    pub async fn start_push_ticket(&self) -> WechatResult<()> {
        let m = self.mgr;
        m.client
            .api_start_push_ticket(&m.component_appid, &m.component_appsecret)
            .await
    }

    pub async fn get_template_draft_list(&self) -> WechatResult<Vec<TemplateDraft>> {
        let m = self.mgr;
        m.with_component_token(|t| async move { m.client.get_template_draft_list(&t).await })
            .await
    }

    pub async fn add_to_template(
        &self,
        draft_id: u64,
        template_type: TemplateType,
    ) -> WechatResult<()> {
        let m = self.mgr;
        m.with_component_token(|t| async move {
            m.client.add_to_template(&t, draft_id, template_type).await
        })
        .await
    }

    pub async fn get_template_list(
        &self,
        template_type: Option<TemplateType>,
    ) -> WechatResult<Vec<Template>> {
        let m = self.mgr;
        m.with_component_token(
            |t| async move { m.client.get_template_list(&t, template_type).await },
        )
        .await
    }

    pub async fn delete_template(&self, template_id: u64) -> WechatResult<()> {
        let m = self.mgr;
        m.with_component_token(|t| async move { m.client.delete_template(&t, template_id).await })
            .await
    }
}

/// Code management of one mini program with automatic authorizer-token handling.
#[derive(Debug, Clone)]
pub struct WxaApi<'a> {
    mgr: &'a TokenManager,
    appid: AppId,
}

macro_rules! wxa_call {
    ($self:ident, |$c:ident, $t:ident| $call:expr) => {{
        let $c = &$self.mgr.client;
        $self
            .mgr
            .with_authorizer_token(&$self.appid, |$t| async move { $call.await })
            .await
    }};
}

impl WxaApi<'_> {
    pub fn appid(&self) -> &AppId {
        &self.appid
    }

    pub async fn commit(&self, req: &CommitRequest) -> WechatResult<()> {
        wxa_call!(self, |c, t| c.commit(&t, req))
    }

    pub async fn get_qrcode(&self, path: Option<&str>) -> WechatResult<QrCode> {
        wxa_call!(self, |c, t| c.get_qrcode(&t, path))
    }

    pub async fn get_category(&self) -> WechatResult<Vec<Category>> {
        wxa_call!(self, |c, t| c.get_category(&t))
    }

    pub async fn get_page(&self) -> WechatResult<Vec<String>> {
        wxa_call!(self, |c, t| c.get_page(&t))
    }

    pub async fn submit_audit(&self, req: &SubmitAuditRequest) -> WechatResult<AuditId> {
        wxa_call!(self, |c, t| c.submit_audit(&t, req))
    }

    pub async fn get_auditstatus(&self, auditid: AuditId) -> WechatResult<AuditStatusInfo> {
        wxa_call!(self, |c, t| c.get_auditstatus(&t, auditid))
    }

    pub async fn get_latest_auditstatus(&self) -> WechatResult<LatestAuditStatus> {
        wxa_call!(self, |c, t| c.get_latest_auditstatus(&t))
    }

    pub async fn undocodeaudit(&self) -> WechatResult<()> {
        wxa_call!(self, |c, t| c.undocodeaudit(&t))
    }

    pub async fn speedupaudit(&self, auditid: AuditId) -> WechatResult<()> {
        wxa_call!(self, |c, t| c.speedupaudit(&t, auditid))
    }

    pub async fn release(&self) -> WechatResult<()> {
        wxa_call!(self, |c, t| c.release(&t))
    }

    pub async fn revertcoderelease(&self, app_version: Option<u64>) -> WechatResult<()> {
        wxa_call!(self, |c, t| c.revertcoderelease(&t, app_version))
    }

    pub async fn get_history_version(&self) -> WechatResult<Vec<HistoryVersion>> {
        wxa_call!(self, |c, t| c.get_history_version(&t))
    }

    pub async fn change_visitstatus(&self, action: VisitAction) -> WechatResult<()> {
        wxa_call!(self, |c, t| c.change_visitstatus(&t, action))
    }

    pub async fn getvisitstatus(&self) -> WechatResult<VisitStatus> {
        wxa_call!(self, |c, t| c.getvisitstatus(&t))
    }

    pub async fn grayrelease(&self, req: &GrayReleaseRequest) -> WechatResult<()> {
        wxa_call!(self, |c, t| c.grayrelease(&t, req))
    }

    pub async fn getgrayreleaseplan(&self) -> WechatResult<GrayReleasePlan> {
        wxa_call!(self, |c, t| c.getgrayreleaseplan(&t))
    }

    pub async fn revertgrayrelease(&self) -> WechatResult<()> {
        wxa_call!(self, |c, t| c.revertgrayrelease(&t))
    }

    pub async fn modify_domain(
        &self,
        action: DomainAction,
        domains: &ServerDomains,
    ) -> WechatResult<ServerDomains> {
        wxa_call!(self, |c, t| c.modify_domain(&t, action, domains))
    }

    pub async fn setwebviewdomain(
        &self,
        action: DomainAction,
        domains: &WebviewDomains,
    ) -> WechatResult<WebviewDomains> {
        wxa_call!(self, |c, t| c.setwebviewdomain(&t, action, domains))
    }

    pub async fn queryquota(&self) -> WechatResult<AuditQuota> {
        wxa_call!(self, |c, t| c.queryquota(&t))
    }
}
