//! Tickets, component tokens, quotas, counters and the generic answer rules.

mod common;

use common::*;
use serde_json::json;
use sha1::{Digest, Sha1};
use wxopen::events::{ComponentEvent, Envelope};

const TOKEN_PATH: &str = "/cgi-bin/component/api_component_token";

fn token_body(env: &Env, secret: &str, ticket: &str) -> serde_json::Value {
    json!({"component_appid": env.appid(), "component_appsecret": secret, "component_verify_ticket": ticket})
}

#[tokio::test]
async fn a_pushed_ticket_arrives_encrypted_and_decrypts_into_a_verify_ticket() {
    let env = Env::start().await;
    let ticket = env.sim.push_ticket().await.unwrap();
    assert!(ticket.starts_with("ticket@@@"));
    assert_eq!(env.sim.current_ticket().as_deref(), Some(ticket.as_str()));

    let got = env.recv.on_path("/component");
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.query["encrypt_type"], "aes");
    assert_eq!(r.query["timestamp"], T0.to_string());
    // The 3-field URL signature: sha1(sort(token, timestamp, nonce)).
    let mut parts = [
        env.sim.config().token.clone(),
        r.query["timestamp"].clone(),
        r.query["nonce"].clone(),
    ];
    parts.sort();
    assert_eq!(
        r.query["signature"],
        hex::encode(Sha1::digest(parts.concat()))
    );
    let envelope = Envelope::parse(r.body.as_bytes()).unwrap();
    assert_eq!(envelope.app_id.as_deref(), Some(env.appid().as_str()));
    assert!(envelope.to_user_name.is_none());

    let plain = open(&env.crypt, r);
    assert!(plain.contains("<InfoType><![CDATA[component_verify_ticket]]></InfoType>"));
    match ComponentEvent::parse(&plain).unwrap() {
        ComponentEvent::VerifyTicket {
            component_appid,
            create_time,
            ..
        } => {
            assert_eq!(component_appid, env.appid());
            assert_eq!(create_time, T0);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(ticket_of(&env.component_events()[0]).unwrap(), ticket);
}

#[tokio::test]
async fn a_ticket_push_is_retried_until_the_receiver_answers_success() {
    let env = Env::start().await;
    env.recv.fail_next(2);
    env.sim.push_ticket().await.unwrap();
    assert_eq!(env.recv.on_path("/component").len(), 1);
    let rec = env.sim.pushes().pop().unwrap();
    assert_eq!(rec.kind, "component_verify_ticket");
    assert_eq!(rec.attempts, 3);
    assert!(rec.delivered);
}

#[tokio::test]
async fn tickets_are_pushed_on_the_configured_interval() {
    let env =
        Env::start_with(|c| c.ticket_interval = Some(std::time::Duration::from_millis(50))).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(env.recv.on_path("/component").len() >= 3);
}

#[tokio::test]
async fn api_start_push_ticket_pushes_a_ticket_now() {
    let env = Env::start().await;
    let v = env
        .post(
            "/cgi-bin/component/api_start_push_ticket",
            None,
            json!({"component_appid": env.appid(), "component_secret": env.sim.config().component_appsecret}),
        )
        .await;
    assert_eq!(errcode(&v), 0);
    for _ in 0..50 {
        if !env.recv.on_path("/component").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(env.component_events().len(), 1);
}

#[tokio::test]
async fn a_component_token_lives_7200_seconds_then_answers_42001() {
    let env = Env::start().await;
    let ticket = env.sim.push_ticket().await.unwrap();
    let secret = env.sim.config().component_appsecret.clone();
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(v["expires_in"], 7200);
    let token = v["component_access_token"].as_str().unwrap();
    let preauth_path = "/cgi-bin/component/api_create_preauthcode";
    let body = json!({"component_appid": env.appid()});
    env.clock.advance(7199);
    assert_eq!(
        errcode(&env.post(preauth_path, Some(token), body.clone()).await),
        0
    );
    env.clock.advance(1);
    assert_eq!(
        errcode(&env.post(preauth_path, Some(token), body).await),
        42001
    );
}

#[tokio::test]
async fn the_token_endpoint_also_accepts_component_access_token_in_the_query() {
    let env = Env::start().await;
    let token = env.component_token().await;
    let v: serde_json::Value = env
        .http
        .post(env.url("/cgi-bin/component/api_create_preauthcode"))
        .query(&[("component_access_token", token.as_str())])
        .body(json!({"component_appid": env.appid()}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errcode(&v), 0);
    assert_eq!(v["expires_in"], 600);
    assert!(v["pre_auth_code"].as_str().unwrap().len() > 20);
}

#[tokio::test]
async fn a_wrong_appsecret_answers_40125_and_a_missing_one_41004() {
    let env = Env::start().await;
    let ticket = env.sim.push_ticket().await.unwrap();
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, "nope", &ticket))
        .await;
    assert_eq!(errcode(&v), 40125);
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, "", &ticket))
        .await;
    assert_eq!(errcode(&v), 41004);
    let v = env
        .post(
            TOKEN_PATH,
            None,
            json!({"component_appid": "wx0000000000000000", "component_appsecret": "x", "component_verify_ticket": ticket}),
        )
        .await;
    assert_eq!(errcode(&v), 61011);
}

#[tokio::test]
async fn a_ticket_older_than_12_hours_answers_61005_and_an_unknown_one_61006() {
    let env = Env::start().await;
    let secret = env.sim.config().component_appsecret.clone();
    let ticket = env.sim.push_ticket().await.unwrap();
    let v = env
        .post(
            TOKEN_PATH,
            None,
            token_body(&env, &secret, "ticket@@@unknown"),
        )
        .await;
    assert_eq!(errcode(&v), 61006);
    env.clock.advance(12 * 3600 - 1);
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 0);
    env.clock.advance(1);
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 61005);
}

#[tokio::test]
async fn the_previous_ticket_still_works_but_not_the_one_before() {
    let env = Env::start().await;
    let secret = env.sim.config().component_appsecret.clone();
    let first = env.sim.push_ticket().await.unwrap();
    let second = env.sim.push_ticket().await.unwrap();
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &first))
        .await;
    assert_eq!(errcode(&v), 0);
    env.sim.push_ticket().await.unwrap();
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &first))
        .await;
    assert_eq!(errcode(&v), 61006);
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &second))
        .await;
    assert_eq!(errcode(&v), 0);
}

#[tokio::test]
async fn a_daily_quota_answers_45009_until_the_next_day() {
    let env = Env::start_with(|c| {
        c.daily_quotas.insert(TOKEN_PATH.to_owned(), 2);
    })
    .await;
    let secret = env.sim.config().component_appsecret.clone();
    let ticket = env.sim.push_ticket().await.unwrap();
    for _ in 0..2 {
        let v = env
            .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
            .await;
        assert_eq!(errcode(&v), 0);
    }
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 45009);
    assert_eq!(env.sim.calls(TOKEN_PATH), 3);
    env.clock.advance(86400);
    let ticket = env.sim.push_ticket().await.unwrap();
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 0);
}

#[tokio::test]
async fn clear_quota_v2_resets_the_daily_counts() {
    let env = Env::start_with(|c| {
        c.daily_quotas.insert(TOKEN_PATH.to_owned(), 1);
    })
    .await;
    let secret = env.sim.config().component_appsecret.clone();
    let ticket = env.sim.push_ticket().await.unwrap();
    env.post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 45009);
    let v = env
        .post(
            "/cgi-bin/component/clear_quota/v2",
            None,
            json!({"component_appid": env.appid(), "appsecret": secret}),
        )
        .await;
    assert_eq!(errcode(&v), 0);
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 0);
}

#[tokio::test]
async fn calls_are_counted_per_endpoint_and_readable_over_http() {
    let env = Env::start().await;
    env.component_token().await;
    env.component_token().await;
    env.get("/wxa/queryquota", None).await;
    assert_eq!(env.sim.calls(TOKEN_PATH), 2);
    assert_eq!(env.sim.calls("/wxa/queryquota"), 1);
    assert_eq!(env.sim.calls("/wxa/commit"), 0);
    let v: serde_json::Value = env
        .http
        .get(env.url("/_sim/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v[TOKEN_PATH], 2);
    env.http
        .delete(env.url("/_sim/counters"))
        .send()
        .await
        .unwrap();
    assert_eq!(env.sim.calls(TOKEN_PATH), 0);
}

#[tokio::test]
async fn tokens_are_checked_missing_41001_unknown_40001_wrong_kind_40001_expired_42001() {
    let env = Env::start().await;
    let body = json!({"component_appid": env.appid()});
    let path = "/cgi-bin/component/api_create_preauthcode";
    assert_eq!(errcode(&env.post(path, None, body.clone()).await), 41001);
    assert_eq!(
        errcode(&env.post(path, Some("bogus"), body.clone()).await),
        40001
    );
    let ctoken = env.component_token().await;
    let (_, atoken, _) = env.authorized_app(&ctoken, &[17, 18]).await;
    assert_eq!(
        errcode(&env.post(path, Some(&atoken), body.clone()).await),
        40001
    );
    assert_eq!(
        errcode(&env.get("/wxa/get_category", Some(&ctoken)).await),
        40001
    );
    env.sim.expire_all_tokens();
    assert_eq!(errcode(&env.post(path, Some(&ctoken), body).await), 42001);
    assert_eq!(
        errcode(&env.get("/wxa/get_category", Some(&atoken)).await),
        42001
    );
}

#[tokio::test]
async fn malformed_json_answers_47001_an_empty_body_44002_and_a_wrong_method_43002() {
    let env = Env::start().await;
    let v = env.post_raw(TOKEN_PATH, None, "{not json".into()).await;
    assert_eq!(errcode(&v), 47001);
    let v = env.post_raw(TOKEN_PATH, None, String::new()).await;
    assert_eq!(errcode(&v), 44002);
    let v = env.get(TOKEN_PATH, None).await;
    assert_eq!(errcode(&v), 43002);
    let ctoken = env.component_token().await;
    let v = env
        .post("/wxa/gettemplatelist", Some(&ctoken), json!({}))
        .await;
    assert_eq!(errcode(&v), 43001);
}

#[tokio::test]
async fn an_unknown_path_answers_404_with_errcode_minus_1() {
    let env = Env::start().await;
    let resp = env
        .http
        .get(env.url("/cgi-bin/nothing_here"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(errcode(&v), -1);
}

#[tokio::test]
async fn the_control_api_pushes_tickets_and_advances_the_clock() {
    let env = Env::start().await;
    let v: serde_json::Value = env
        .http
        .post(env.url("/_sim/ticket"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ticket = v["ticket"].as_str().unwrap().to_owned();
    assert_eq!(ticket_of(&env.component_events()[0]).unwrap(), ticket);
    let v: serde_json::Value = env
        .http
        .post(env.url("/_sim/clock/advance"))
        .body(r#"{"secs":43200}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["now"], T0 + 43200);
    let secret = env.sim.config().component_appsecret.clone();
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 61005);
    let v: serde_json::Value = env
        .http
        .get(env.url("/_sim/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["component_appid"], env.appid());
}

#[tokio::test]
async fn clear_quota_v2_resets_at_most_ten_times_a_month() {
    let env = Env::start().await;
    let secret = env.sim.config().component_appsecret.clone();
    let reset = || {
        env.post(
            "/cgi-bin/component/clear_quota/v2",
            None,
            json!({"component_appid": env.appid(), "appsecret": secret}),
        )
    };
    // Start at the beginning of a month so ten resets fall within it.
    let month = wechat_sim::month_of(env.sim.now());
    while wechat_sim::month_of(env.sim.now()) == month {
        env.sim.advance_clock(86_400);
    }
    for n in 0..10 {
        assert_eq!(errcode(&reset().await), 0, "reset {n}");
    }
    // clear_quota.html: 48006 once the month's ten are used.
    assert_eq!(errcode(&reset().await), 48006);
    let month = wechat_sim::month_of(env.sim.now());
    while wechat_sim::month_of(env.sim.now()) == month {
        env.sim.advance_clock(86_400);
    }
    assert_eq!(errcode(&reset().await), 0, "a new month");
}

#[tokio::test]
async fn a_superseded_component_token_works_five_more_minutes_then_answers_40001() {
    let env = Env::start().await;
    let ticket = env.sim.push_ticket().await.unwrap();
    let secret = env.sim.config().component_appsecret.clone();
    let token = |v: &serde_json::Value| v["component_access_token"].as_str().unwrap().to_owned();
    let old = token(
        &env.post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
            .await,
    );
    env.clock.advance(1000);
    let new = token(
        &env.post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
            .await,
    );
    assert_ne!(old, new);
    let preauth_path = "/cgi-bin/component/api_create_preauthcode";
    let body = json!({"component_appid": env.appid()});
    env.clock.advance(299);
    assert_eq!(
        errcode(&env.post(preauth_path, Some(&old), body.clone()).await),
        0,
        "both work for 5 minutes"
    );
    env.clock.advance(1);
    assert_eq!(
        errcode(&env.post(preauth_path, Some(&old), body.clone()).await),
        40001
    );
    assert_eq!(errcode(&env.post(preauth_path, Some(&new), body).await), 0);
}

#[tokio::test]
async fn a_caller_not_on_the_ip_whitelist_is_refused_with_61004_naming_its_address() {
    let env = Env::start().await;
    let ticket = env.sim.push_ticket().await.unwrap();
    let secret = env.sim.config().component_appsecret.clone();
    env.sim
        .set_ip_whitelist(Some(vec!["10.0.0.1".parse().unwrap()]));
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 61004);
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap()
            .contains("invalid ip 127.0.0.1"),
        "{v}"
    );
    env.sim
        .set_ip_whitelist(Some(vec!["127.0.0.1".parse().unwrap()]));
    let v = env
        .post(TOKEN_PATH, None, token_body(&env, &secret, &ticket))
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
}
