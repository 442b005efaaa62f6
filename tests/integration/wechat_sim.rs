//! The WeChat client and the token manager against the in-process simulator (`wechat-sim`):
//! every endpoint, every error class, retry-once on a rejected token, and the "one WeChat call
//! per token lifetime" promise checked by the simulator's own call counters.
//!
//! The simulator and the token manager share one [`ManualClock`], so token lifetimes, ticket
//! ages and margins line up; the token store is the real embedded (redb) store.

mod account;
mod concurrency;
mod errors;
mod fidelity;
mod flow;
mod icp;
mod lost_answers;
mod quota;
mod services;
mod wxa;

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use wechat_sim::{AccountSpec, SimConfig, Simulator};
use wxopen::domain::{AppId, Clock, ManualClock};
use wxopen::store::embedded::EmbeddedStore;
use wxopen::store::{Ticket, TicketStore};
use wxopen::wechat::{ClientConfig, TokenBackend, TokenManager, TokenPolicy, WechatClient};

/// 2024-01-01 00:00:00 UTC.
pub const T0: i64 = 1_704_067_200;
/// A token's lifetime as WeChat (and the simulator) hands it out.
pub const TOKEN_TTL: i64 = 7200;

use wxopen::wechat::component::{
    ApiAuthorizerToken, ApiComponentToken, ApiCreatePreauthcode, ApiGetAuthorizerInfo,
};
use wxopen::wechat::endpoint::Endpoint;

/// Paths as their declarations give them.
pub const AUTHORIZER_TOKEN: &str = <ApiAuthorizerToken<'static> as Endpoint>::PATH;
pub const COMPONENT_TOKEN: &str = <ApiComponentToken<'static> as Endpoint>::PATH;
pub const CREATE_PREAUTHCODE: &str = <ApiCreatePreauthcode<'static> as Endpoint>::PATH;
pub const GET_AUTHORIZER_INFO: &str = <ApiGetAuthorizerInfo<'static> as Endpoint>::PATH;

/// One simulator, one embedded store, one clock shared by both.
pub struct Env {
    pub sim: Simulator,
    pub clock: ManualClock,
    pub store: Arc<EmbeddedStore>,
    pub component: AppId,
    _dir: tempfile::TempDir,
}

impl Env {
    /// A simulator without push URLs (tickets are only recorded) and an empty store.
    pub async fn cold() -> Env {
        Env::cold_with(|_| {}).await
    }

    /// [`Env::cold`] with simulator settings changed by `configure`.
    pub async fn cold_with(configure: impl FnOnce(&mut SimConfig)) -> Env {
        let clock = ManualClock::new(T0);
        let mut config = SimConfig {
            clock: Arc::new(clock.clone()),
            ..SimConfig::default()
        };
        configure(&mut config);
        let sim = Simulator::start(config).await.expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let component = AppId::parse(&sim.config().component_appid).unwrap();
        Env {
            sim,
            clock,
            store,
            component,
            _dir: dir,
        }
    }

    /// [`Env::cold`] plus a fresh ticket issued by the simulator and stored (as the
    /// authorization-event handler would have stored it).
    pub async fn with_ticket() -> Env {
        let env = Env::cold().await;
        env.store_new_ticket().await;
        env
    }

    /// Has the simulator issue a ticket and stores it as received now.
    pub async fn store_new_ticket(&self) -> String {
        let ticket = self.sim.push_ticket().await.unwrap();
        self.store
            .save_ticket(
                &self.component,
                &Ticket {
                    value: SecretString::from(ticket.clone()),
                    received_at: self.clock.now(),
                    created_at: self.clock.now(),
                },
            )
            .await
            .unwrap();
        ticket
    }

    /// Test settings: the simulator's URL, a short timeout, a tiny retry delay.
    pub fn client_config(&self) -> ClientConfig {
        client_config_for(&self.sim)
    }

    pub fn client(&self) -> WechatClient {
        WechatClient::new(self.client_config()).unwrap()
    }

    /// One manager = one process (one Lambda instance), with its own client.
    pub fn manager(&self) -> TokenManager {
        self.manager_with(self.client())
    }

    pub fn manager_with(&self, client: WechatClient) -> TokenManager {
        self.manager_on(self.store.clone(), client)
            .with_authorizers(self.store.clone())
    }

    /// A manager on another store (e.g. DynamoDB on moto) sharing this simulator and clock.
    pub fn manager_on(&self, store: Arc<dyn TokenBackend>, client: WechatClient) -> TokenManager {
        manager_for(&self.sim, &self.clock, store, client)
    }

    /// A mini program authorized with permission sets 17 and 18, its tokens exchanged with
    /// `api_query_auth` and stored.
    pub async fn authorized_mini_program(&self, mgr: &TokenManager) -> AppId {
        self.authorized(mgr, AccountSpec::mini_program(), &[17, 18])
            .await
    }

    pub async fn authorized(
        &self,
        mgr: &TokenManager,
        spec: AccountSpec,
        func_info: &[u32],
    ) -> AppId {
        let appid = self.sim.add_account(spec);
        let code = self.sim.authorize(&appid, func_info).await.unwrap();
        let auth = mgr
            .component()
            .call(&wxopen::wechat::component::ApiQueryAuth {
                component_appid: mgr.component_appid(),
                authorization_code: &code,
            })
            .await
            .unwrap();
        assert_eq!(auth.authorization_info.authorizer_appid, appid);
        mgr.save_authorization(&auth.authorization_info)
            .await
            .unwrap();
        appid
    }

    pub fn calls(&self, path: &str) -> u64 {
        self.sim.calls(path)
    }
}

/// Test settings for a client of `sim`: its URL, a short timeout, a tiny retry delay.
pub fn client_config_for(sim: &Simulator) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        retry_base_delay: Duration::from_millis(1),
        ..ClientConfig::with_base_url(sim.base_url())
    }
}

/// One process's token manager for `sim`'s component, on `store`, reading `clock`, with
/// [`fast_policy`].
pub fn manager_for(
    sim: &Simulator,
    clock: &ManualClock,
    store: Arc<dyn TokenBackend>,
    client: WechatClient,
) -> TokenManager {
    let config = sim.config();
    TokenManager::new(
        client,
        store,
        AppId::parse(&config.component_appid).expect("the simulator's component appid"),
        SecretString::from(config.component_appsecret.clone()),
        Arc::new(clock.clone()),
    )
    .with_policy(fast_policy())
}

/// Waiting callers re-read the store often; nobody waits long.
pub fn fast_policy() -> TokenPolicy {
    TokenPolicy {
        poll_interval: Duration::from_millis(10),
        max_wait: Duration::from_secs(10),
        ..TokenPolicy::default()
    }
}

pub fn expose(s: &SecretString) -> &str {
    s.expose_secret()
}
