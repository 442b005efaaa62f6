//! The token manager against the stub, with a manual clock, on the real embedded redb store (the
//! store the contract suite checks; a test double of its own would be a third, unchecked one).

use crate::support::*;
use std::sync::Arc;
use std::time::Duration;
use wxopen::domain::{AppId, Clock, ManualClock};
use wxopen::store::embedded::EmbeddedStore;
use wxopen::store::{Ticket, TokenKey, TokenState};
use wxopen::wechat::wxa::Commit;
use wxopen::wechat::{ErrorKind, TokenBackend, TokenManager, TokenPolicy, WechatError};

const T0: i64 = 1_700_000_000;
const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";

fn fast_policy() -> TokenPolicy {
    TokenPolicy {
        poll_interval: Duration::from_millis(10),
        max_wait: Duration::from_secs(5),
        ..TokenPolicy::default()
    }
}

struct Env {
    stub: Stub,
    store: Arc<dyn TokenBackend>,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl Env {
    /// The real embedded (redb) store.
    async fn embedded() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        Env {
            stub: Stub::start().await,
            store: Arc::new(store),
            clock: ManualClock::new(T0),
            _dir: dir,
        }
    }

    /// One manager = one process (one Lambda instance).
    fn manager(&self) -> TokenManager {
        TokenManager::new(
            self.stub.client(),
            self.store.clone(),
            appid(COMPONENT_APPID),
            secret("appsecret"),
            Arc::new(self.clock.clone()),
        )
        .with_policy(fast_policy())
    }

    async fn ticket(&self, received_at: i64) {
        self.store
            .save_ticket(
                &appid(COMPONENT_APPID),
                &Ticket {
                    value: secret("ticket@@@abc"),
                    received_at,
                    created_at: received_at,
                },
            )
            .await
            .unwrap();
    }

    async fn authorizer(&self, access: Option<&str>, expires_at: i64, refresh: Option<&str>) {
        let key = TokenKey::Authorizer(appid(APP));
        let cur = self.store.get_token(&key).await.unwrap().map(|v| v.version);
        self.store
            .put_token(
                &key,
                &TokenState {
                    access_token: access.map(secret),
                    refresh_token: refresh.map(secret),
                    expires_at,
                    lease_until: 0,
                    lease_owner: None,
                    ..TokenState::default()
                },
                cur,
            )
            .await
            .unwrap();
    }

    async fn stored(&self, key: &TokenKey) -> TokenState {
        self.store.get_token(key).await.unwrap().unwrap().state
    }
}

fn app() -> AppId {
    appid(APP)
}

async fn the_component_token_is_fetched_once_and_reused_until_the_margin(env: Env) {
    env.ticket(T0 - 60).await;
    let m = env.manager();
    let t = m.component_access_token().await.unwrap();
    assert_eq!(expose(&t), "ctok-1");
    assert_eq!(
        env.stub.last(COMPONENT_TOKEN).json()["component_verify_ticket"],
        "ticket@@@abc"
    );
    env.clock.advance(7200 - 600 - 1);
    assert_eq!(expose(&m.component_access_token().await.unwrap()), "ctok-1");
    assert_eq!(env.stub.count(COMPONENT_TOKEN), 1);
    env.clock.advance(1);
    assert_eq!(expose(&m.component_access_token().await.unwrap()), "ctok-2");
    assert_eq!(env.stub.count(COMPONENT_TOKEN), 2);
    let s = env
        .stored(&TokenKey::Component(appid(COMPONENT_APPID)))
        .await;
    assert_eq!(s.expires_at, T0 + 6600 + 7200);
    assert_eq!(s.lease_until, 0, "the lease is cleared by the write");
}

async fn fifty_concurrent_callers_on_a_cold_cache_make_one_component_token_call(env: Env) {
    env.ticket(T0).await;
    env.stub.set_token_delay(Duration::from_millis(100));
    let m = Arc::new(env.manager());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move { m.component_access_token().await })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        assert_eq!(expose(&t.unwrap().unwrap()), "ctok-1");
    }
    assert_eq!(env.stub.count(COMPONENT_TOKEN), 1);
}

async fn fifty_processes_sharing_the_store_make_one_component_token_call(env: Env) {
    env.ticket(T0).await;
    env.stub.set_token_delay(Duration::from_millis(100));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let m = env.manager();
            tokio::spawn(async move { m.component_access_token().await })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        assert_eq!(expose(&t.unwrap().unwrap()), "ctok-1");
    }
    assert_eq!(env.stub.count(COMPONENT_TOKEN), 1);
}

async fn fifty_concurrent_callers_for_one_authorizer_make_one_authorizer_token_call(env: Env) {
    env.ticket(T0).await;
    env.authorizer(None, 0, Some("rtok-0")).await;
    env.stub.set_token_delay(Duration::from_millis(100));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            // Each caller is its own process (Lambda instance): only the store lease serialises.
            let m = env.manager();
            tokio::spawn(async move { m.authorizer_access_token(&app()).await })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for t in futures::future::join_all(tasks).await {
        tokens.insert(expose(&t.unwrap().unwrap()).to_owned());
    }
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 1);
    assert_eq!(env.stub.count(COMPONENT_TOKEN), 1);
    let call = env.stub.last(AUTHORIZER_TOKEN);
    assert_eq!(call.param("component_access_token"), Some("ctok-1"));
    assert_eq!(call.json()["authorizer_refresh_token"], "rtok-0");
    assert_eq!(call.json()["authorizer_appid"], APP);

    let m = Arc::new(env.manager());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move { m.authorizer_access_token(&app()).await })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        assert!(tokens.contains(expose(&t.unwrap().unwrap())));
    }
    assert_eq!(
        env.stub.count(AUTHORIZER_TOKEN),
        1,
        "cached after the first refresh"
    );
}

async fn no_ticket_yet_is_a_clear_error_and_calls_nothing(env: Env) {
    let e = env.manager().component_access_token().await.unwrap_err();
    assert!(matches!(e, WechatError::NoTicket { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("no component_verify_ticket received yet"),
        "{msg}"
    );
    assert!(msg.contains("every 10 minutes"), "{msg}");
    assert_eq!(env.stub.calls().len(), 0);
    // The lease taken meanwhile was released: a ticket arriving now works at once.
    env.ticket(T0).await;
    assert_eq!(
        expose(&env.manager().component_access_token().await.unwrap()),
        "ctok-1"
    );
}

async fn a_ticket_older_than_12_hours_is_a_clear_error_and_a_younger_one_is_used(env: Env) {
    env.ticket(T0 - 12 * 3600).await;
    let e = env.manager().component_access_token().await.unwrap_err();
    assert!(matches!(e, WechatError::TicketExpired { .. }), "{e:?}");
    assert!(e.to_string().contains("12 h"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert_eq!(env.stub.count(COMPONENT_TOKEN), 0);

    env.ticket(T0 - 11 * 3600).await;
    assert!(env.manager().component_access_token().await.is_ok());
}

async fn a_rejected_authorizer_token_is_refreshed_once_and_the_call_retried_once(env: Env) {
    env.ticket(T0).await;
    env.authorizer(Some("atok-old"), T0 + 7000, Some("rtok-0"))
        .await;
    env.stub.revoke("atok-old");
    let m = env.manager();
    let req = Commit::new(1, &serde_json::json!({}), "v1", "d");
    m.wxa(&app()).call(&req).await.unwrap();
    let commits = env.stub.calls_to("/wxa/commit");
    assert_eq!(commits.len(), 2);
    assert_eq!(commits[0].param("access_token"), Some("atok-old"));
    assert_eq!(commits[1].param("access_token"), Some("atok-2"));
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 1);

    // A token rejected twice in a row: one refresh, one retry, then the error.
    env.stub
        .queue("/wxa/release", Canned::fixture("errcode_40001"));
    env.stub
        .queue("/wxa/release", Canned::fixture("errcode_40001"));
    let e = m
        .wxa(&app())
        .call(&wxopen::wechat::wxa::Release {})
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenRejected);
    assert_eq!(env.stub.count("/wxa/release"), 2);
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 2);
}

async fn concurrent_rejections_of_one_token_cause_one_refresh(env: Env) {
    env.ticket(T0).await;
    env.authorizer(Some("atok-old"), T0 + 7000, Some("rtok-0"))
        .await;
    env.stub.revoke("atok-old");
    env.stub.set_token_delay(Duration::from_millis(50));
    let m = Arc::new(env.manager());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move { m.wxa(&app()).call(&wxopen::wechat::wxa::GetPage).await })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        assert_eq!(t.unwrap().unwrap().page_list.len(), 3);
    }
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 1);
}

async fn a_rejected_component_token_is_refreshed_once_for_template_calls(env: Env) {
    env.ticket(T0).await;
    let m = env.manager();
    assert_eq!(expose(&m.component_access_token().await.unwrap()), "ctok-1");
    env.stub.revoke("ctok-1");
    let drafts = m
        .component()
        .call(&wxopen::wechat::component::GetTemplateDraftList)
        .await
        .unwrap()
        .draft_list;
    assert_eq!(drafts.len(), 1);
    let calls = env.stub.calls_to("/wxa/gettemplatedraftlist");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].param("access_token"), Some("ctok-2"));
    assert_eq!(env.stub.count(COMPONENT_TOKEN), 2);
}

async fn a_rotated_refresh_token_is_persisted_with_the_access_token(env: Env) {
    env.ticket(T0).await;
    env.authorizer(None, 0, Some("rtok-0")).await;
    env.stub.set_rotate_refresh(true);
    let m = env.manager();
    let t = m.authorizer_access_token(&app()).await.unwrap();
    let s = env.stored(&TokenKey::Authorizer(app())).await;
    assert_eq!(s.access_token.as_ref().map(expose), Some(expose(&t)));
    assert_eq!(s.refresh_token.as_ref().map(expose), Some("rtok-2"));
    assert_eq!(s.expires_at, T0 + 7200);
    // The next refresh uses the rotated one.
    assert!(!m.refresh_authorizer_if_due(&app()).await.unwrap());
    env.clock.advance(7200 - 600);
    assert!(m.refresh_authorizer_if_due(&app()).await.unwrap());
    assert_eq!(
        env.stub.last(AUTHORIZER_TOKEN).json()["authorizer_refresh_token"],
        "rtok-2"
    );
    let s = env.stored(&TokenKey::Authorizer(app())).await;
    let access = expose(s.access_token.as_ref().unwrap()).to_owned();
    let refresh = expose(s.refresh_token.as_ref().unwrap()).to_owned();
    assert_ne!(refresh, "rtok-2");
    assert_eq!(
        refresh.trim_start_matches("rtok-"),
        access.trim_start_matches("atok-")
    );
}

async fn a_rotated_refresh_token_survives_a_lost_lease(env: Env) {
    env.ticket(T0).await;
    let m = env.manager();
    m.component_access_token().await.unwrap(); // ctok-1, so only the authorizer call is slow
    env.authorizer(None, 0, Some("rtok-0")).await;
    env.stub.set_rotate_refresh(true);
    env.stub.set_token_delay(Duration::from_millis(300));
    let refresh = tokio::spawn({
        let m = Arc::new(m);
        async move { m.authorizer_access_token(&app()).await }
    });
    // While WeChat answers, the lease runs out and another process writes (takes the lease).
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.clock.advance(31);
    let key = TokenKey::Authorizer(app());
    let cur = env.store.get_token(&key).await.unwrap().unwrap();
    assert!(
        cur.state.lease_owner.is_some(),
        "the first refresher holds a lease"
    );
    let mut other = cur.state.clone();
    other.lease_until = env.clock.now() + 30;
    other.lease_owner = Some("other".into());
    env.store
        .put_token(&key, &other, Some(cur.version))
        .await
        .unwrap();

    let t = refresh.await.unwrap().unwrap();
    assert_eq!(expose(&t), "atok-2");
    let s = env.stored(&key).await;
    assert_eq!(s.access_token.as_ref().map(expose), Some("atok-2"));
    assert_eq!(
        s.refresh_token.as_ref().map(expose),
        Some("rtok-2"),
        "never dropped"
    );
    assert_eq!(
        s.lease_owner.as_deref(),
        Some("other"),
        "their live lease is kept"
    );
}

async fn refresh_token_invalid_61023_needs_reauthorization_and_releases_the_lease(env: Env) {
    env.ticket(T0).await;
    env.authorizer(Some("atok-old"), T0 + 100, Some("rtok-bad"))
        .await;
    env.stub
        .queue(AUTHORIZER_TOKEN, Canned::fixture("errcode_61023"));
    // WeChat reports the very token it refused: nothing to recover.
    let info = fixture("api_get_authorizer_info");
    let mut v: serde_json::Value = serde_json::from_str(&info).unwrap();
    v["authorization_info"]["authorizer_refresh_token"] = "rtok-bad".into();
    env.stub.queue(
        "/cgi-bin/component/api_get_authorizer_info",
        Canned::json(v.to_string()),
    );
    let m = env.manager();
    let e = m.authorizer_access_token(&app()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NeedsReauthorization);
    assert!(e.needs_reauthorization());
    assert_eq!(e.errcode(), Some(61023));
    let s = env.stored(&TokenKey::Authorizer(app())).await;
    assert_eq!(s.lease_until, 0, "lease released");
    assert!(s.needs_reauthorization, "marked: out of the due index");
    assert_eq!(
        s.refresh_token.as_ref().map(expose),
        Some("rtok-bad"),
        "kept for diagnosis"
    );
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 1, "not retried");
    // Marked: later callers are refused without asking WeChat.
    let e = m.authorizer_access_token(&app()).await.unwrap_err();
    assert!(e.needs_reauthorization());
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 1);
}

async fn an_authorizer_without_a_refresh_token_needs_reauthorization_without_calling_wechat(
    env: Env,
) {
    env.ticket(T0).await;
    let m = env.manager();
    let e = m.authorizer_access_token(&app()).await.unwrap_err();
    assert!(matches!(e, WechatError::NoRefreshToken { .. }), "{e:?}");
    assert!(e.needs_reauthorization());
    assert!(
        env.store
            .get_token(&TokenKey::Authorizer(app()))
            .await
            .unwrap()
            .is_none(),
        "no junk item"
    );
    env.authorizer(None, 0, None).await;
    assert!(m
        .authorizer_access_token(&app())
        .await
        .unwrap_err()
        .needs_reauthorization());
    assert_eq!(env.stub.calls().len(), 0);
}

async fn a_waiting_caller_takes_the_still_valid_token_while_another_holds_the_lease(env: Env) {
    env.ticket(T0).await;
    let key = TokenKey::Authorizer(app());
    env.store
        .put_token(
            &key,
            &TokenState {
                access_token: Some(secret("atok-old")),
                refresh_token: Some(secret("rtok-0")),
                expires_at: T0 + 300, // inside the margin, still usable
                lease_until: T0 + 30,
                lease_owner: Some("another-process".into()),
                ..TokenState::default()
            },
            None,
        )
        .await
        .unwrap();
    let m = env.manager();
    assert_eq!(
        expose(&m.authorizer_access_token(&app()).await.unwrap()),
        "atok-old"
    );
    assert_eq!(env.stub.calls().len(), 0);

    // The holder died: once its lease runs out, the next caller takes over.
    env.clock.advance(31);
    assert_eq!(
        expose(&m.authorizer_access_token(&app()).await.unwrap()),
        "atok-2"
    );
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 1);
}

async fn a_caller_waits_for_a_lease_holder_when_no_usable_token_exists(env: Env) {
    env.ticket(T0).await;
    let key = TokenKey::Component(appid(COMPONENT_APPID));
    let v = env
        .store
        .put_token(
            &key,
            &TokenState {
                access_token: None,
                refresh_token: None,
                expires_at: 0,
                lease_until: T0 + 30,
                lease_owner: Some("another-process".into()),
                ..TokenState::default()
            },
            None,
        )
        .await
        .unwrap();
    let m = Arc::new(env.manager());
    let waiter = tokio::spawn({
        let m = m.clone();
        async move { m.component_access_token().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    env.store
        .put_token(
            &key,
            &TokenState {
                access_token: Some(secret("from-the-holder")),
                refresh_token: None,
                expires_at: T0 + 7200,
                lease_until: 0,
                lease_owner: None,
                ..TokenState::default()
            },
            Some(v),
        )
        .await
        .unwrap();
    assert_eq!(expose(&waiter.await.unwrap().unwrap()), "from-the-holder");
    assert_eq!(env.stub.count(COMPONENT_TOKEN), 0);

    // A holder that never delivers: the waiter gives up after max_wait, retryably.
    let short = TokenManager::new(
        env.stub.client(),
        env.store.clone(),
        appid(COMPONENT_APPID),
        secret("appsecret"),
        Arc::new(env.clock.clone()),
    )
    .with_policy(TokenPolicy {
        poll_interval: Duration::from_millis(10),
        max_wait: Duration::from_millis(100),
        ..TokenPolicy::default()
    });
    let akey = TokenKey::Authorizer(app());
    env.store
        .put_token(
            &akey,
            &TokenState {
                access_token: None,
                refresh_token: Some(secret("r")),
                expires_at: 0,
                lease_until: T0 + 30,
                lease_owner: Some("stuck".into()),
                ..TokenState::default()
            },
            None,
        )
        .await
        .unwrap();
    let e = short.authorizer_access_token(&app()).await.unwrap_err();
    assert!(matches!(e, WechatError::LeaseWaitTimeout { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Retryable);
}

async fn force_refresh_replaces_a_valid_token_and_refresh_if_due_skips_fresh_ones(env: Env) {
    env.ticket(T0).await;
    env.authorizer(Some("atok-old"), T0 + 7200, Some("rtok-0"))
        .await;
    let m = env.manager();
    assert!(!m.refresh_authorizer_if_due(&app()).await.unwrap());
    assert_eq!(env.stub.calls().len(), 0);
    let t = m.force_refresh(&TokenKey::Authorizer(app())).await.unwrap();
    assert_eq!(expose(&t), "atok-2");
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 1);
    let c = m
        .force_refresh(&TokenKey::Component(appid(COMPONENT_APPID)))
        .await
        .unwrap();
    assert_eq!(expose(&c), "ctok-3");
}

async fn save_authorization_stores_the_tokens_from_query_auth(env: Env) {
    env.ticket(T0).await;
    let m = env.manager();
    let q = m
        .component()
        .call(&wxopen::wechat::component::ApiQueryAuth {
            component_appid: m.component_appid(),
            authorization_code: "auth_code_value",
        })
        .await
        .unwrap();
    m.save_authorization(&q.authorization_info).await.unwrap();
    let s = env.stored(&TokenKey::Authorizer(app())).await;
    assert!(expose(s.access_token.as_ref().unwrap()).starts_with("QXjUqNq"));
    assert_eq!(
        s.refresh_token.as_ref().map(expose),
        Some("dTo-YCXPL4llX-u1W1pPpnp8Hgm4wpJtlR6iV0doKdY")
    );
    assert_eq!(s.expires_at, T0 + 7200);
    // And it is served from the store.
    assert!(expose(&m.authorizer_access_token(&app()).await.unwrap()).starts_with("QXjUqNq"));
    assert_eq!(env.stub.count(AUTHORIZER_TOKEN), 0);
}

async fn the_manager_never_prints_its_secrets(env: Env) {
    env.ticket(T0).await;
    let m = env.manager();
    let t = m.component_access_token().await.unwrap();
    let shown = format!("{m:?} {t:?}");
    assert!(!shown.contains("appsecret"), "{shown}");
    assert!(!shown.contains("ctok-1"), "{shown}");
}

macro_rules! on_the_embedded_store {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Env::embedded().await).await
                }
            )*
        }
    };
}

on_the_embedded_store!(
    the_component_token_is_fetched_once_and_reused_until_the_margin,
    fifty_concurrent_callers_on_a_cold_cache_make_one_component_token_call,
    fifty_processes_sharing_the_store_make_one_component_token_call,
    fifty_concurrent_callers_for_one_authorizer_make_one_authorizer_token_call,
    no_ticket_yet_is_a_clear_error_and_calls_nothing,
    a_ticket_older_than_12_hours_is_a_clear_error_and_a_younger_one_is_used,
    a_rejected_authorizer_token_is_refreshed_once_and_the_call_retried_once,
    concurrent_rejections_of_one_token_cause_one_refresh,
    a_rejected_component_token_is_refreshed_once_for_template_calls,
    a_rotated_refresh_token_is_persisted_with_the_access_token,
    a_rotated_refresh_token_survives_a_lost_lease,
    refresh_token_invalid_61023_needs_reauthorization_and_releases_the_lease,
    an_authorizer_without_a_refresh_token_needs_reauthorization_without_calling_wechat,
    a_waiting_caller_takes_the_still_valid_token_while_another_holds_the_lease,
    a_caller_waits_for_a_lease_holder_when_no_usable_token_exists,
    force_refresh_replaces_a_valid_token_and_refresh_if_due_skips_fresh_ones,
    save_authorization_stores_the_tokens_from_query_auth,
    the_manager_never_prints_its_secrets,
);
