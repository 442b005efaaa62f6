//! Every error class against the simulator's faults, quotas and authorization states, with the
//! number of calls the simulator saw.

use super::*;
use wechat_sim::Fault;
use wxopen::store::{TokenKey, TokenStore};
use wxopen::wechat::{ErrorKind, WechatError};

const GET_CATEGORY: &str = "/wxa/get_category";

fn forced(endpoint: &str, code: i64, times: Option<u32>) -> Fault {
    Fault {
        endpoint: Some(endpoint.to_owned()),
        forced_errcode: Some((code, format!("forced {code}"))),
        times,
        ..Fault::default()
    }
}

/// A ready environment: ticket, component token, one authorized mini program; counters reset.
async fn ready() -> (Env, TokenManager, AppId) {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    env.sim.reset_calls();
    (env, mgr, appid)
}

#[tokio::test]
async fn two_system_errors_are_retried_and_the_third_attempt_succeeds() {
    let (env, mgr, appid) = ready().await;
    env.sim.set_fault(forced(GET_CATEGORY, -1, Some(2)));
    let categories = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap()
        .category_list;
    assert_eq!(categories.len(), 1);
    assert_eq!(env.calls(GET_CATEGORY), 3);
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 0, "-1 is not a token problem");
}

#[tokio::test]
async fn a_random_system_error_on_the_component_token_is_retried_until_it_succeeds() {
    let env = Env::with_ticket().await;
    env.sim.set_fault(Fault {
        endpoint: Some(COMPONENT_TOKEN.to_owned()),
        error_rate: 1.0,
        times: Some(2),
        ..Fault::default()
    });
    let mgr = env.manager();
    mgr.component_access_token().await.unwrap();
    assert_eq!(env.calls(COMPONENT_TOKEN), 3);
    // Stored: the next caller does not call again.
    mgr.component_access_token().await.unwrap();
    assert_eq!(env.calls(COMPONENT_TOKEN), 3);
}

#[tokio::test]
async fn a_persistent_system_error_is_retryable_after_max_attempts_calls() {
    let (env, mgr, appid) = ready().await;
    env.sim.set_fault(forced(GET_CATEGORY, -1, None));
    let err = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    assert_eq!(err.errcode(), Some(-1));
    assert_eq!(env.calls(GET_CATEGORY), 3, "max_attempts is 3");

    // The attempt count follows the configuration.
    let five = env.manager_with(
        WechatClient::new(ClientConfig {
            max_attempts: 5,
            ..env.client_config()
        })
        .unwrap(),
    );
    let err = five
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(env.calls(GET_CATEGORY), 3 + 5);
}

#[tokio::test]
async fn a_timeout_is_a_retryable_transport_error_and_each_attempt_reaches_the_simulator() {
    let (env, _, appid) = ready().await;
    let quick = env.manager_with(
        WechatClient::new(ClientConfig {
            timeout: Duration::from_millis(300),
            max_attempts: 2,
            ..env.client_config()
        })
        .unwrap(),
    );
    env.sim.set_fault(Fault {
        endpoint: Some(GET_CATEGORY.to_owned()),
        timeout: true,
        ..Fault::default()
    });
    let started = std::time::Instant::now();
    let err = quick
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WechatError::Transport { .. }),
        "a transport error, got {err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Retryable);
    assert!(
        !err.to_string().contains("access_token="),
        "no URL in the error: {err}"
    );
    assert_eq!(env.calls(GET_CATEGORY), 2);
    assert!(started.elapsed() < Duration::from_secs(5));

    // Latency below the timeout is only slow.
    env.sim.clear_faults();
    env.sim.set_fault(Fault {
        endpoint: Some(GET_CATEGORY.to_owned()),
        latency: Duration::from_millis(50),
        ..Fault::default()
    });
    quick
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
    assert_eq!(env.calls(GET_CATEGORY), 3);
}

#[tokio::test]
async fn a_token_rejected_once_is_refreshed_once_and_the_call_retried_once() {
    let (env, mgr, appid) = ready().await;
    let key = TokenKey::Authorizer(appid.clone());
    let before = mgr.authorizer_access_token(&appid).await.unwrap();
    env.sim.set_fault(forced(GET_CATEGORY, 40001, Some(1)));

    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();

    assert_eq!(env.calls(GET_CATEGORY), 2);
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
    assert_eq!(
        env.calls(COMPONENT_TOKEN),
        0,
        "the component token was fine"
    );
    let stored = env.store.get_token(&key).await.unwrap().unwrap().state;
    let after = stored.access_token.unwrap();
    assert_ne!(
        expose(&after),
        expose(&before),
        "the rejected token is replaced"
    );
    assert_eq!(stored.expires_at, T0 + TOKEN_TTL);
    assert_eq!(stored.lease_until, 0);
}

#[tokio::test]
async fn a_token_rejected_every_time_is_refreshed_only_once_and_the_rejection_returned() {
    let (env, mgr, appid) = ready().await;
    env.sim.set_fault(forced(GET_CATEGORY, 40001, None));
    let err = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenRejected);
    assert_eq!(err.errcode(), Some(40001));
    assert_eq!(env.calls(GET_CATEGORY), 2);
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
}

#[tokio::test]
async fn a_rejected_component_token_is_refreshed_once_and_the_call_retried_once() {
    let (env, mgr, _) = ready().await;
    env.sim
        .set_fault(forced(CREATE_PREAUTHCODE, 42001, Some(1)));
    mgr.component()
        .call(&wxopen::wechat::component::ApiCreatePreauthcode {
            component_appid: mgr.component_appid(),
        })
        .await
        .unwrap();
    assert_eq!(env.calls(CREATE_PREAUTHCODE), 2);
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
}

#[tokio::test]
async fn tokens_wechat_expired_early_are_replaced_and_the_call_succeeds() {
    let (env, mgr, appid) = ready().await;
    env.sim.expire_all_tokens();

    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();

    // get_category: 42001, then OK. The authorizer refresh first met the expired component token
    // (42001), which was replaced once, and then succeeded.
    assert_eq!(env.calls(GET_CATEGORY), 2);
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 2);

    // Everything is fresh now: no more token calls.
    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
    mgr.component()
        .call(&wxopen::wechat::component::ApiCreatePreauthcode {
            component_appid: mgr.component_appid(),
        })
        .await
        .unwrap();
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 2);
}

/// The merchant authorized again elsewhere (a new refresh token); the stored one answers 61023.
/// WeChat still reports the live one: adopted and stored, nobody has to re-authorize.
#[tokio::test]
async fn a_superseded_refresh_token_is_recovered_from_what_wechat_reports() {
    let (env, mgr, appid) = ready().await;
    env.sim.authorize(&appid, &[17, 18]).await.unwrap();
    env.clock.advance(TOKEN_TTL);

    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 2, "61023, then the live token");
    assert_eq!(env.calls(GET_AUTHORIZER_INFO), 1);
    let stored = env
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap()
        .state;
    let live = env
        .sim
        .account(&appid)
        .unwrap()
        .authorization
        .unwrap()
        .refresh_token;
    assert_eq!(expose(stored.refresh_token.as_ref().unwrap()), live);
    assert!(!stored.needs_reauthorization);
}

/// A revoked authorization: 61023 and WeChat no longer lists the account (61003). Marked, and
/// never presented to WeChat again until the merchant authorizes anew.
#[tokio::test]
async fn a_revoked_authorization_is_61023_and_needs_reauthorization() {
    let (env, mgr, appid) = ready().await;
    let profile = wxopen::store::Authorizer {
        appid: appid.clone(),
        status: wxopen::store::AuthorizerStatus::Authorized,
        customer_id: Some("c-1".into()),
        nick_name: "n".into(),
        user_name: "gh_x".into(),
        principal_name: "p".into(),
        is_mini_program: true,
        func_info: vec![17, 18],
        profile: serde_json::json!({}),
        authorized_at: T0,
        updated_at: T0,
        customer_moves: Vec::new(),
    };
    wxopen::store::AuthorizerStore::upsert_authorizer(env.store.as_ref(), &profile)
        .await
        .unwrap();
    env.sim.unauthorize(&appid).await.unwrap();
    env.clock.advance(TOKEN_TTL);

    let err = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauthorization, "{err}");
    assert!(err.needs_reauthorization());
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1, "61023 is not retried");
    assert_eq!(env.calls(GET_CATEGORY), 0);
    let key = TokenKey::Authorizer(appid.clone());
    assert!(
        env.store
            .get_token(&key)
            .await
            .unwrap()
            .unwrap()
            .state
            .needs_reauthorization
    );
    let marked = wxopen::store::AuthorizerStore::get_authorizer(env.store.as_ref(), &appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        marked.status,
        wxopen::store::AuthorizerStatus::NeedsReauthorization,
        "whoever hit it, the authorizer is marked"
    );
    let err = mgr.authorizer_access_token(&appid).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauthorization);
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1, "marked: no second call");

    // The merchant authorizes once more and we store it: healed.
    let code = env.sim.authorize(&appid, &[17, 18]).await.unwrap();
    let auth = mgr
        .component()
        .call(&wxopen::wechat::component::ApiQueryAuth {
            component_appid: mgr.component_appid(),
            authorization_code: &code,
        })
        .await
        .unwrap();
    mgr.save_authorization(&auth.authorization_info)
        .await
        .unwrap();
    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
}

#[tokio::test]
async fn an_authorizer_without_a_stored_refresh_token_needs_reauthorization_without_a_call() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.sim.add_account(wechat_sim::AccountSpec::mini_program());
    let err = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::NoRefreshToken { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NeedsReauthorization);
    assert!(env.sim.all_calls().is_empty(), "{:?}", env.sim.all_calls());
}

#[tokio::test]
async fn an_exhausted_daily_quota_is_45009_a_quota_error_that_is_not_retried() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    env.sim.set_daily_quota(COMPONENT_TOKEN, 1);
    mgr.component_access_token().await.unwrap();
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);

    env.clock.advance(TOKEN_TTL); // same China day: 08:00 → 10:00
    let err = mgr.component_access_token().await.unwrap_err();
    assert_eq!(err.errcode(), Some(45009));
    assert_eq!(err.kind(), ErrorKind::Quota);
    assert_eq!(env.calls(COMPONENT_TOKEN), 2, "exactly one more call");

    // An endpoint behind it fails the same way, still without retries.
    let err = mgr
        .component()
        .call(&wxopen::wechat::component::ApiCreatePreauthcode {
            component_appid: mgr.component_appid(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Quota);
    assert_eq!(env.calls(COMPONENT_TOKEN), 3);
    assert_eq!(env.calls(CREATE_PREAUTHCODE), 0);
}

#[tokio::test]
async fn a_wrong_appsecret_is_40125_a_business_error() {
    let env = Env::with_ticket().await;
    let store: Arc<dyn TokenBackend> = env.store.clone();
    let mgr = TokenManager::new(
        env.client(),
        store,
        env.component.clone(),
        SecretString::from("not-the-secret"),
        Arc::new(env.clock.clone()),
    );
    let err = mgr.component_access_token().await.unwrap_err();
    assert_eq!(err.errcode(), Some(40125));
    assert_eq!(err.kind(), ErrorKind::Business);
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
}

#[tokio::test]
async fn a_ticket_older_than_twelve_hours_is_an_internal_error_and_makes_no_call() {
    let env = Env::with_ticket().await;
    env.clock.advance(12 * 3600);
    let err = env.manager().component_access_token().await.unwrap_err();
    assert!(matches!(err, WechatError::TicketExpired { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(env.calls(COMPONENT_TOKEN), 0);
}

#[tokio::test]
async fn an_unknown_path_is_http_404_an_internal_error_that_is_not_retried() {
    let env = Env::with_ticket().await;
    let client = WechatClient::new(ClientConfig {
        base_url: format!("{}/not-wechat", env.sim.base_url()),
        ..env.client_config()
    })
    .unwrap();
    let err = client
        .call(
            Some(&SecretString::from("whatever")),
            &wxopen::wechat::wxa::GetCategory,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, WechatError::Http { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Internal);
}

#[tokio::test]
async fn an_unknown_token_on_the_raw_client_is_40001_token_rejected() {
    let env = Env::with_ticket().await;
    let err = env
        .client()
        .call(
            Some(&SecretString::from("forged")),
            &wxopen::wechat::wxa::GetCategory,
        )
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    assert!(err.is_token_rejected());
    assert_eq!(env.calls(GET_CATEGORY), 1);
}

#[tokio::test]
async fn a_timed_out_token_refresh_releases_its_lease_so_the_next_caller_refreshes_at_once() {
    let env = Env::with_ticket().await;
    let quick = env.manager_with(
        WechatClient::new(ClientConfig {
            timeout: Duration::from_millis(200),
            max_attempts: 2,
            ..env.client_config()
        })
        .unwrap(),
    );
    env.sim.set_fault(Fault {
        endpoint: Some(COMPONENT_TOKEN.to_owned()),
        timeout: true,
        times: Some(2),
        ..Fault::default()
    });
    let err = quick.component_access_token().await.unwrap_err();
    assert!(matches!(err, WechatError::Transport { .. }), "{err:?}");
    assert_eq!(env.calls(COMPONENT_TOKEN), 2);
    let stored = env
        .store
        .get_token(&TokenKey::Component(env.component.clone()))
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(stored.lease_until, 0, "the lease is released on failure");

    // Another process does not wait for a lease nobody holds.
    let started = std::time::Instant::now();
    env.manager().component_access_token().await.unwrap();
    assert_eq!(env.calls(COMPONENT_TOKEN), 3);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_token_another_process_already_replaced_is_not_refreshed_again() {
    let (env, a, appid) = ready().await;
    let key = TokenKey::Authorizer(appid.clone());
    let b = env.manager();
    let seen_by_a = a.authorizer_access_token(&appid).await.unwrap();
    // B met the rejection first and replaced the token.
    let replaced_by_b = b.replace_rejected(&key, &seen_by_a).await.unwrap();
    assert_ne!(expose(&replaced_by_b), expose(&seen_by_a));
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
    // A meets the same rejection: it gets B's token without calling WeChat.
    let replaced_by_a = a.replace_rejected(&key, &seen_by_a).await.unwrap();
    assert_eq!(expose(&replaced_by_a), expose(&replaced_by_b));
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
    a.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
}
