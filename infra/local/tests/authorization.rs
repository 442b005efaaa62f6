//! Merchant authorization end to end over HTTP, without a browser: invitation -> start page ->
//! the simulator's consent page -> callback, and the `authorized` / `updateauthorized` pushes,
//! through the very routers the Lambdas run.

mod support;

use secrecy::ExposeSecret;
use serde_json::json;
use support::{error_code, spawn_app, Link};
use wechat_sim::Fault;
use wxopen::store::{AuthorizerStatus, TokenKey};

const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";

#[tokio::test]
async fn the_push_comes_first_and_the_callback_binds_the_customer_with_one_exchange() {
    let app = spawn_app().await;
    let appid = app.mini_program("Tea House");
    let inv = app.invite(json!({ "customer_id": "cust-tea" })).await;
    assert!(inv["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/auth/start?invite=", app.local.base_url)));
    let callback = app
        .consent(inv["url"].as_str().unwrap(), Link::Pc, &appid, &[17, 18])
        .await;
    // The simulator delivered `authorized` before redirecting: the push exchanged the code.
    let stored = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(stored.customer_id.as_deref(), Some("unassigned"));
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 1);

    let (status, page) = app.get(&callback).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Tea House") && page.contains(appid.as_str()),
        "{page}"
    );
    assert!(!page.contains("missing-18"), "set 18 was granted");
    let a = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(a.customer_id.as_deref(), Some("cust-tea"));
    assert!(
        a.customer_moves.is_empty(),
        "binding an unassigned account is no move"
    );
    assert_eq!(a.status, AuthorizerStatus::Authorized);
    assert_eq!(a.func_info, vec![17, 18]);
    assert_eq!(
        app.local.sim.calls(QUERY_AUTH),
        1,
        "no second exchange of a used code"
    );

    // The refresh token stored is the one WeChat holds.
    let token = app
        .local
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap();
    let live = app
        .local
        .sim
        .account(&appid)
        .unwrap()
        .authorization
        .unwrap();
    assert_eq!(
        token.state.refresh_token.unwrap().expose_secret(),
        live.refresh_token
    );
    // Reloading shows the stored result again, still without a second exchange.
    let (status, again) = app.get(&callback).await;
    assert_eq!(status, 200, "{again}");
    assert!(again.contains("Tea House"));
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 1);
    // The invitation is used now: opening it again says so.
    let (status, page) = app.get(inv["url"].as_str().unwrap()).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (409, "invitation_used")
    );
}

#[tokio::test]
async fn the_callback_comes_first_and_the_late_push_changes_nothing() {
    let app = spawn_app().await;
    let appid = app.mini_program("Noodle Bar");
    app.local.sim.hold_pushes("authorized");
    let inv = app.invite(json!({ "customer_id": "cust-noodle" })).await;
    let callback = app
        .consent(
            inv["url"].as_str().unwrap(),
            Link::Mobile,
            &appid,
            &[17, 18, 19],
        )
        .await;
    assert!(app.stored_authorizer(&appid).await.is_none());
    let (status, page) = app.get(&callback).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 1);
    // Now the push arrives: acknowledged, no second exchange, the customer stays.
    assert_eq!(app.local.sim.release_held_pushes().await, 1);
    assert!(app
        .local
        .sim
        .pushes()
        .iter()
        .any(|p| p.kind == "authorized" && p.delivered));
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 1);
    let a = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(a.customer_id.as_deref(), Some("cust-noodle"));
    assert_eq!(a.func_info, vec![17, 18, 19]);
}

#[tokio::test]
async fn a_merchant_who_never_comes_back_is_on_board_through_the_push() {
    let app = spawn_app().await;
    let appid = app.mini_program("Quiet Shop");
    let inv = app.invite(json!({ "customer_id": "cust-quiet" })).await;
    let _never_opened = app
        .consent(inv["url"].as_str().unwrap(), Link::Pc, &appid, &[17, 18])
        .await;
    let a = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(a.status, AuthorizerStatus::Authorized);
    assert_eq!(a.customer_id.as_deref(), Some("unassigned"));
    assert!(app
        .local
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap()
        .state
        .refresh_token
        .is_some());
}

/// The single-use code's answer is lost on the callback path (no push to help): the
/// authorization is read back from WeChat, never lost and never exchanged twice.
#[tokio::test]
async fn a_lost_query_auth_answer_on_the_callback_is_recovered_from_wechat() {
    let app = spawn_app().await;
    let appid = app.mini_program("Lost Answer Cafe");
    app.local.sim.hold_pushes("authorized");
    let inv = app.invite(json!({ "customer_id": "cust-lost" })).await;
    let callback = app
        .consent(inv["url"].as_str().unwrap(), Link::Pc, &appid, &[17, 18])
        .await;
    app.local.sim.set_fault(Fault {
        endpoint: Some(QUERY_AUTH.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    let (status, page) = app.get(&callback).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 1, "never repeated");
    let a = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(a.customer_id.as_deref(), Some("cust-lost"));
    let token = app
        .local
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap();
    let live = app
        .local
        .sim
        .account(&appid)
        .unwrap()
        .authorization
        .unwrap();
    assert_eq!(
        token.state.refresh_token.unwrap().expose_secret(),
        live.refresh_token
    );
}

#[tokio::test]
async fn without_set_18_the_success_page_warns() {
    let app = spawn_app().await;
    let appid = app.mini_program("No Dev Rights");
    let inv = app.invite(json!({ "customer_id": "c" })).await;
    let callback = app
        .consent(inv["url"].as_str().unwrap(), Link::Pc, &appid, &[17])
        .await;
    let (status, page) = app.get(&callback).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"missing-18\""), "{page}");
}

#[tokio::test]
async fn authorizing_again_through_another_customers_invitation_moves_it() {
    let app = spawn_app().await;
    let appid = app.mini_program("Moving Shop");
    let (status, _) = app.onboard("alice", &appid).await;
    assert_eq!(status, 200);
    let (status, _) = app.onboard("bob", &appid).await;
    assert_eq!(status, 200);
    let a = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(a.customer_id.as_deref(), Some("bob"));
    assert_eq!(a.customer_moves.len(), 1);
    assert_eq!(a.customer_moves[0].from.as_deref(), Some("alice"));
    assert_eq!(a.customer_moves[0].to, "bob");
    // Consent again issued a new refresh token, and it is the one stored.
    let token = app
        .local
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap();
    let live = app
        .local
        .sim
        .account(&appid)
        .unwrap()
        .authorization
        .unwrap();
    assert_eq!(
        token.state.refresh_token.unwrap().expose_secret(),
        live.refresh_token
    );
}

#[tokio::test]
async fn updateauthorized_updates_the_permission_sets_and_keeps_the_customer() {
    let app = spawn_app().await;
    let appid = app.mini_program("Growing Shop");
    app.onboard("cust-grow", &appid).await;
    app.local
        .sim
        .update_authorization(&appid, &[17, 18, 30])
        .await
        .unwrap();
    let a = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(a.func_info, vec![17, 18, 30]);
    assert_eq!(a.customer_id.as_deref(), Some("cust-grow"));
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 2, "one exchange per code");
}

#[tokio::test]
async fn the_start_page_refuses_unknown_expired_used_and_revoked_invitations() {
    let app = spawn_app().await;
    let start = |q: &str| app.url(&format!("/auth/start{q}"));
    let (status, page) = app.get(&start("")).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (400, "missing_invitation")
    );
    let (status, page) = app.get(&start("?invite=nope")).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (404, "unknown_invitation")
    );

    let inv = app
        .invite(json!({ "customer_id": "c", "expires_in": 60 }))
        .await;
    let id = inv["invitation_id"].as_str().unwrap();
    // Expired: moved into the past in the store (the local clock is the system's).
    app.local
        .store
        .update_invitation(id, &|i| {
            i.expires_at = i.created_at - 1;
            Ok(())
        })
        .await
        .unwrap();
    let (status, page) = app.get(inv["url"].as_str().unwrap()).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (410, "invitation_expired")
    );

    let inv = app.invite(json!({ "customer_id": "c" })).await;
    let resp = app
        .ops(
            reqwest::Method::DELETE,
            &format!(
                "/ops/invitations/{}",
                inv["invitation_id"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, page) = app.get(inv["url"].as_str().unwrap()).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (410, "invitation_revoked")
    );
    // No page asked WeChat for a pre_auth_code.
    assert_eq!(
        app.local
            .sim
            .calls("/cgi-bin/component/api_create_preauthcode"),
        0
    );
}

#[tokio::test]
async fn the_callback_refuses_missing_forged_and_reused_states_and_stores_nothing() {
    let app = spawn_app().await;
    let appid = app.mini_program("Careful Shop");
    app.local.sim.hold_pushes("authorized");
    let cb = |q: &str| app.url(&format!("/auth/callback{q}"));
    let (status, page) = app.get(&cb("?auth_code=x")).await;
    assert_eq!((status, error_code(&page).as_str()), (400, "bad_state"));
    let forged = "ab".repeat(32);
    let (status, page) = app
        .get(&cb(&format!("?auth_code=x&expires_in=3600&state={forged}")))
        .await;
    assert_eq!((status, error_code(&page).as_str()), (400, "unknown_state"));

    // A real state, used with its code, then replayed with another code: refused.
    let inv = app.invite(json!({ "customer_id": "c" })).await;
    let callback = app
        .consent(inv["url"].as_str().unwrap(), Link::Pc, &appid, &[17, 18])
        .await;
    let url = url::Url::parse(&callback).unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let (status, page) = app.get(&cb(&format!("?state={state}"))).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (400, "missing_auth_code")
    );
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 0);
    assert!(app.stored_authorizer(&appid).await.is_none());
    let (status, _) = app.get(&callback).await;
    assert_eq!(status, 200);
    let (status, page) = app
        .get(&cb(&format!(
            "?auth_code=someoneelses&expires_in=3600&state={state}"
        )))
        .await;
    assert_eq!((status, error_code(&page).as_str()), (409, "state_used"));
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 1);
}

#[tokio::test]
async fn a_mini_program_registered_through_the_platform_is_taken_on_from_its_push() {
    let app = spawn_app().await;
    let sim = &app.local.sim;
    sim.reset_calls();
    // A failed registration carries no code: nothing is exchanged, nothing stored.
    let failed = sim
        .push_fast_register(wechat_sim::FastRegisterResult {
            status: -1,
            msg: "open verity failed".into(),
            name: "某某餐饮有限公司".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(failed.auth_code.is_none());
    assert_eq!(sim.calls(QUERY_AUTH), 0);

    let pushed = sim
        .push_fast_register(wechat_sim::FastRegisterResult {
            name: "某某科技有限公司".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let appid = wxopen::domain::AppId::parse(pushed.appid.as_deref().unwrap()).unwrap();
    // The single-use code was exchanged once, at the push: tokens and profile are stored.
    assert_eq!(sim.calls(QUERY_AUTH), 1);
    let a = app
        .stored_authorizer(&appid)
        .await
        .expect("stored from the push");
    assert_eq!(a.status, AuthorizerStatus::Authorized);
    assert_eq!(a.func_info, vec![17, 18]);
    let t = app
        .local
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .expect("tokens stored");
    assert!(t.state.refresh_token.is_some());
}
