//! The quota tools through the client: a mini program's reset with its own token, the
//! platform's with the appsecret (no token: it works when the tokens are out of quota), the
//! monthly limit, and a reset whose answer is lost (never repeated; settled from quota/get).

use super::*;
use wechat_sim::Fault;
use wxopen::wechat::quota::{ClearQuota, ComponentClearQuota};
use wxopen::wechat::wxa::GetApiQuota;
use wxopen::wechat::{ErrorKind, WechatError};

const CATEGORY: &str = "/wxa/get_category";
const CLEAR_QUOTA: &str = <ClearQuota<'static> as Endpoint>::PATH;
const COMPONENT_CLEAR_QUOTA: &str = <ComponentClearQuota<'static> as Endpoint>::PATH;

fn errcode(e: &WechatError) -> Option<i64> {
    e.errcode()
}

/// Moves both clocks to the start of the next Beijing month, so ten resets fall in one month.
fn next_month(env: &Env) {
    let month = wechat_sim::month_of(env.sim.now());
    while wechat_sim::month_of(env.sim.now()) == month {
        env.clock.advance(86_400);
    }
}

#[tokio::test]
async fn clear_quota_resets_the_mini_programs_daily_counts_ten_times_a_month() {
    let env = Env::with_ticket().await;
    next_month(&env);
    env.store_new_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    env.sim.set_daily_quota(CATEGORY, 1);
    wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    let out = wxa
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    assert_eq!(out.kind(), ErrorKind::Quota, "{out:?}");

    wxa.call(&ClearQuota { appid: &appid }).await.unwrap();
    wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    for n in 1..10 {
        wxa.call(&ClearQuota { appid: &appid })
            .await
            .unwrap_or_else(|e| panic!("reset {n}: {e:?}"));
    }
    // clear_quota.html: the eleventh answers 48006 and resets nothing.
    wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    wxa.call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    let refused = wxa.call(&ClearQuota { appid: &appid }).await.unwrap_err();
    assert_eq!(errcode(&refused), Some(48006), "{refused:?}");
    assert_eq!(env.sim.calls(CLEAR_QUOTA), 11, "no call repeated");
    let q = wxa
        .call(&GetApiQuota {
            cgi_path: CATEGORY.into(),
        })
        .await
        .unwrap();
    assert_eq!((q.quota.used, q.quota.remain), (2, 0), "{q:?}");
}

#[tokio::test]
async fn a_clear_quota_whose_answer_is_lost_is_not_repeated_and_quota_get_shows_it_applied() {
    let env = Env::with_ticket().await;
    let mgr = env.manager_with(
        WechatClient::new(ClientConfig {
            timeout: Duration::from_millis(400),
            ..env.client_config()
        })
        .unwrap(),
    );
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    env.sim.set_daily_quota(CATEGORY, 5);
    wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    env.sim.set_fault(Fault {
        endpoint: Some(CLEAR_QUOTA.to_owned()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    let lost = wxa.call(&ClearQuota { appid: &appid }).await.unwrap_err();
    assert!(
        errcode(&lost).is_none(),
        "no answer, not an errcode: {lost:?}"
    );
    // A reset is rationed: a repeat could spend a second one. Sent once; applied.
    assert_eq!(env.sim.calls(CLEAR_QUOTA), 1);
    let q = wxa
        .call(&GetApiQuota {
            cgi_path: CATEGORY.into(),
        })
        .await
        .unwrap();
    assert_eq!(q.quota.used, 0, "the doubt settled from quota/get: {q:?}");
}

#[tokio::test]
async fn the_platforms_reset_takes_the_appsecret_and_no_token() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let secret = SecretString::from(env.sim.config().component_appsecret.clone());
    // The platform's own count of api_get_authorizer_info is out.
    env.sim.set_daily_quota(GET_AUTHORIZER_INFO, 1);
    let info = || async {
        mgr.component()
            .call(&ApiGetAuthorizerInfo {
                component_appid: &env.component,
                authorizer_appid: &appid,
            })
            .await
    };
    info().await.unwrap();
    assert_eq!(info().await.unwrap_err().kind(), ErrorKind::Quota);
    mgr.client()
        .call(
            None,
            &ComponentClearQuota {
                component_appid: &env.component,
                appsecret: &secret,
                appid: None,
            },
        )
        .await
        .unwrap();
    info().await.unwrap();
    // With an authorized account's appid: that account's counts.
    env.sim.set_daily_quota(CATEGORY, 1);
    let wxa = mgr.wxa(&appid);
    wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    wxa.call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    mgr.client()
        .call(
            None,
            &ComponentClearQuota {
                component_appid: &env.component,
                appsecret: &secret,
                appid: Some(&appid),
            },
        )
        .await
        .unwrap();
    wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    // A wrong appsecret: 40125, and nothing reset.
    let wrong = SecretString::from("not-the-appsecret".to_owned());
    let refused = mgr
        .client()
        .call(
            None,
            &ComponentClearQuota {
                component_appid: &env.component,
                appsecret: &wrong,
                appid: Some(&appid),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(errcode(&refused), Some(40125), "{refused:?}");
    assert!(!format!("{refused:?}").contains("not-the-appsecret"));
    assert_eq!(
        wxa.call(&wxopen::wechat::wxa::GetCategory)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Quota
    );
    assert_eq!(env.sim.calls(COMPONENT_CLEAR_QUOTA), 3);
}
