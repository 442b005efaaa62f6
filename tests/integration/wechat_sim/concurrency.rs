//! One WeChat call per token lifetime, however many callers ask at once, counted by the simulator;
//! and refreshes at expiry minus the margin, not before.

use super::*;
use futures::future::join_all;
use wechat_sim::Fault;
use wxopen::store::{TokenState, TokenStore};
use wxopen::wechat::WechatResult;

const CALLERS: usize = 50;

/// Slows the token endpoint down so that all callers pile up behind the first refresher.
fn slow(endpoint: &str) -> Fault {
    Fault {
        endpoint: Some(endpoint.to_owned()),
        latency: Duration::from_millis(150),
        ..Fault::default()
    }
}

/// All the answers are the same token.
fn assert_one_token(results: Vec<Result<WechatResult<SecretString>, tokio::task::JoinError>>) {
    let tokens: Vec<String> = results
        .into_iter()
        .map(|r| expose(&r.unwrap().unwrap()).to_owned())
        .collect();
    assert_eq!(tokens.len(), CALLERS);
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "every caller got the same token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_callers_on_a_cold_cache_make_exactly_one_component_token_call() {
    let env = Env::with_ticket().await;
    env.sim.set_fault(slow(COMPONENT_TOKEN));
    let mgr = Arc::new(env.manager());
    let tasks = (0..CALLERS).map(|_| {
        let mgr = mgr.clone();
        tokio::spawn(async move { mgr.component_access_token().await })
    });
    assert_one_token(join_all(tasks).await);
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_managers_sharing_one_store_make_exactly_one_component_token_call() {
    let env = Env::with_ticket().await;
    env.sim.set_fault(slow(COMPONENT_TOKEN));
    // 50 processes: 50 managers, 50 clients, one store.
    let tasks = (0..CALLERS).map(|_| {
        let mgr = env.manager();
        tokio::spawn(async move { mgr.component_access_token().await })
    });
    assert_one_token(join_all(tasks).await);
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_callers_for_one_expired_authorizer_make_exactly_one_authorizer_token_call(
) {
    let env = Env::with_ticket().await;
    let mgr = Arc::new(env.manager());
    let appid = env.authorized_mini_program(&mgr).await;
    env.clock.advance(TOKEN_TTL + 1);
    env.sim.reset_calls();
    env.sim.set_fault(slow(AUTHORIZER_TOKEN));

    let tasks = (0..CALLERS).map(|_| {
        let mgr = mgr.clone();
        let appid = appid.clone();
        tokio::spawn(async move { mgr.authorizer_access_token(&appid).await })
    });
    assert_one_token(join_all(tasks).await);
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
    // The component token had expired too: also refreshed once, for the one refresher.
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_code_management_calls_through_fifty_managers_refresh_the_authorizer_once()
{
    let env = Env::with_ticket().await;
    let appid = env.authorized_mini_program(&env.manager()).await;
    env.clock.advance(TOKEN_TTL + 1);
    env.sim.reset_calls();
    env.sim.set_fault(slow(AUTHORIZER_TOKEN));

    let tasks = (0..CALLERS).map(|_| {
        let mgr = env.manager();
        let appid = appid.clone();
        tokio::spawn(async move {
            mgr.wxa(&appid)
                .call(&wxopen::wechat::wxa::GetCategory)
                .await
        })
    });
    for r in join_all(tasks).await {
        assert_eq!(r.unwrap().unwrap().category_list.len(), 1);
    }
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
    assert_eq!(env.calls("/wxa/get_category"), CALLERS as u64);
}

#[tokio::test]
async fn the_component_token_is_refreshed_at_expiry_minus_the_margin_and_not_before() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let margin = mgr.policy().margin_secs;
    let first = mgr.component_access_token().await.unwrap();
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);

    env.clock.advance(TOKEN_TTL - margin - 1);
    let same = mgr.component_access_token().await.unwrap();
    assert_eq!(expose(&same), expose(&first));
    assert_eq!(env.calls(COMPONENT_TOKEN), 1, "before the margin: no call");

    env.clock.advance(1);
    let fresh = mgr.component_access_token().await.unwrap();
    assert_ne!(expose(&fresh), expose(&first));
    assert_eq!(env.calls(COMPONENT_TOKEN), 2, "at the margin: one call");
    // The old one still works at WeChat until its own expiry; the new one is used from now on.
    mgr.component()
        .call(&wxopen::wechat::component::ApiCreatePreauthcode {
            component_appid: mgr.component_appid(),
        })
        .await
        .unwrap();
    assert_eq!(env.calls(COMPONENT_TOKEN), 2);
}

#[tokio::test]
async fn the_authorizer_token_is_refreshed_at_expiry_minus_the_margin_and_not_before() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let margin = mgr.policy().margin_secs;
    let first = mgr.authorizer_access_token(&appid).await.unwrap();

    env.clock.advance(TOKEN_TTL - margin - 1);
    assert!(!mgr.refresh_authorizer_if_due(&appid).await.unwrap());
    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
    assert_eq!(
        expose(&mgr.authorizer_access_token(&appid).await.unwrap()),
        expose(&first)
    );
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 0, "before the margin: no call");

    env.clock.advance(1);
    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1, "at the margin: one call");
    let fresh = mgr.authorizer_access_token(&appid).await.unwrap();
    assert_ne!(expose(&fresh), expose(&first));
    assert!(!mgr.refresh_authorizer_if_due(&appid).await.unwrap());
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);

    // The scheduled refresher's view: due again one lifetime later.
    env.clock.advance(TOKEN_TTL - margin);
    assert!(mgr.refresh_authorizer_if_due(&appid).await.unwrap());
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotated_refresh_tokens_are_stored_so_every_later_refresh_still_works() {
    let env = Env::cold_with(|c| c.rotate_refresh_tokens = true).await;
    env.store_new_ticket().await;
    let appid = env.authorized_mini_program(&env.manager()).await;
    env.sim.set_fault(slow(AUTHORIZER_TOKEN));
    for lifetime in 1..=3u64 {
        env.clock.advance(TOKEN_TTL);
        // The ticket is renewed as WeChat would push it (every 10 minutes).
        env.store_new_ticket().await;
        let tasks = (0..CALLERS).map(|_| {
            let mgr = env.manager();
            let appid = appid.clone();
            tokio::spawn(async move { mgr.authorizer_access_token(&appid).await })
        });
        // A second refresher would have used the refresh token the first one rotated away
        // (61023): one call per lifetime, and it always succeeds.
        assert_one_token(join_all(tasks).await);
        assert_eq!(env.calls(AUTHORIZER_TOKEN), lifetime);
    }
    let stored = env
        .store
        .get_token(&wxopen::store::TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap()
        .state;
    let current = env.sim.account(&appid).unwrap().authorization.unwrap();
    assert_eq!(
        expose(stored.refresh_token.as_ref().unwrap()),
        current.refresh_token
    );
}

#[tokio::test]
async fn a_permission_update_keeps_the_stored_refresh_token_working() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    env.sim
        .update_authorization(&appid, &[17, 18, 19])
        .await
        .unwrap();
    env.clock.advance(TOKEN_TTL);
    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lease_of_a_crashed_refresher_expires_and_then_exactly_one_caller_refreshes() {
    let env = Env::with_ticket().await;
    let key = wxopen::store::TokenKey::Component(env.component.clone());
    let lease_secs = env.manager().policy().lease_secs;
    // A process took the lease and died before writing a token.
    env.store
        .put_token(
            &key,
            &wxopen::store::TokenState {
                access_token: None,
                refresh_token: None,
                expires_at: 0,
                lease_until: T0 + lease_secs,
                lease_owner: Some("crashed".into()),
                ..TokenState::default()
            },
            None,
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let mgr = env.manager();
            tokio::spawn(async move { mgr.component_access_token().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        env.calls(COMPONENT_TOKEN),
        0,
        "everyone waits for the lease"
    );
    env.clock.advance(lease_secs);
    assert_one_token(join_all(tasks).await);
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
}
