//! Fault knobs: latency, a rate of -1 answers, timeouts, forced errcodes, `times`, clearing.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use wechat_sim::Fault;

const QUOTA: &str = "/wxa/queryquota";

#[tokio::test]
async fn latency_delays_the_answer() {
    let env = Env::start().await;
    env.sim.set_fault(Fault {
        endpoint: Some(QUOTA.into()),
        latency: Duration::from_millis(300),
        ..Fault::default()
    });
    let t = Instant::now();
    let v = env.get(QUOTA, None).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(errcode(&v), 41001);
    // Other endpoints are not affected.
    let t = Instant::now();
    env.get("/wxa/get_page", None).await;
    assert!(t.elapsed() < Duration::from_millis(250));
}

#[tokio::test]
async fn an_error_rate_of_one_answers_minus_1_every_time_and_zero_never() {
    let env = Env::start().await;
    env.sim.set_fault(Fault {
        error_rate: 1.0,
        ..Fault::default()
    });
    for _ in 0..3 {
        assert_eq!(errcode(&env.get(QUOTA, None).await), -1);
    }
    env.sim.clear_faults();
    env.sim.set_fault(Fault {
        error_rate: 0.0,
        ..Fault::default()
    });
    assert_eq!(errcode(&env.get(QUOTA, None).await), 41001);
}

#[tokio::test]
async fn a_timeout_fault_holds_the_request_past_the_client_timeout() {
    let env = Env::start().await;
    env.sim.set_fault(Fault {
        endpoint: Some(QUOTA.into()),
        timeout: true,
        times: Some(1),
        ..Fault::default()
    });
    let client = wxopen::https::reqwest_builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.get(env.url(QUOTA)).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Used up: the next call is answered normally.
    assert_eq!(errcode(&env.get(QUOTA, None).await), 41001);
}

#[tokio::test]
async fn a_forced_errcode_applies_to_its_endpoint_for_the_given_number_of_times() {
    let env = Env::start().await;
    env.sim.set_fault(Fault {
        endpoint: Some("/cgi-bin/component/api_component_token".into()),
        forced_errcode: Some((45009, "reach max api daily quota limit".into())),
        times: Some(2),
        ..Fault::default()
    });
    let ticket = env.sim.push_ticket().await.unwrap();
    let body = json!({"component_appid": env.appid(), "component_appsecret": env.sim.config().component_appsecret, "component_verify_ticket": ticket});
    for _ in 0..2 {
        let v = env
            .post("/cgi-bin/component/api_component_token", None, body.clone())
            .await;
        assert_eq!(errcode(&v), 45009);
        assert!(v["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("reach max api daily quota limit"));
    }
    let v = env
        .post("/cgi-bin/component/api_component_token", None, body)
        .await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(env.sim.calls("/cgi-bin/component/api_component_token"), 3);
    assert_eq!(errcode(&env.get(QUOTA, None).await), 41001);
}

#[tokio::test]
async fn faults_are_set_listed_and_cleared_over_http() {
    let env = Env::start().await;
    let resp = env
        .http
        .post(env.url("/_sim/faults"))
        .body(r#"{"endpoint":"/wxa/queryquota","errcode":40001,"errmsg":"invalid credential"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(errcode(&env.get(QUOTA, None).await), 40001);
    let list: serde_json::Value = env
        .http
        .get(env.url("/_sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["errcode"], 40001);
    assert_eq!(list[0]["endpoint"], QUOTA);
    env.http
        .delete(env.url("/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(errcode(&env.get(QUOTA, None).await), 41001);
    // Control endpoints are never faulted.
    env.http
        .post(env.url("/_sim/faults"))
        .body(r#"{"error_rate":1.0}"#)
        .send()
        .await
        .unwrap();
    let resp = env
        .http
        .get(env.url("/_sim/counters"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn daily_quotas_can_be_set_over_http() {
    let env = Env::start().await;
    env.http
        .post(env.url("/_sim/quotas"))
        .body(json!({QUOTA: 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(errcode(&env.get(QUOTA, None).await), 41001);
    assert_eq!(errcode(&env.get(QUOTA, None).await), 45009);
}

#[tokio::test]
async fn an_undeliverable_push_is_attempted_four_times_and_recorded() {
    let env = Env::start().await;
    env.recv.fail_next(10);
    let ticket = env.sim.push_ticket().await.unwrap();
    assert!(env.recv.received().is_empty());
    let rec = env.sim.pushes().pop().unwrap();
    assert_eq!(rec.attempts, 4);
    assert!(!rec.delivered);
    assert!(rec.last_error.unwrap().contains("500"));
    assert!(rec.plaintext.contains(&ticket));
    // The ticket is still valid at "WeChat".
    assert_eq!(env.sim.current_ticket(), Some(ticket));
}

#[tokio::test]
async fn a_lost_answer_fault_applies_the_call_and_the_caller_never_hears_of_it() {
    let env = Env::start_with(|c| c.rotate_refresh_tokens = true).await;
    let ctoken = env.component_token().await;
    let (appid, _, r0) = env.authorized_app(&ctoken, &[17, 18]).await;
    env.sim.set_fault(Fault {
        endpoint: Some("/cgi-bin/component/api_authorizer_token".into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    let client = wxopen::https::reqwest_builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let body = json!({"component_appid": env.appid(), "authorizer_appid": appid.as_str(), "authorizer_refresh_token": r0});
    let err = client
        .post(format!(
            "{}?component_access_token={ctoken}",
            env.url("/cgi-bin/component/api_authorizer_token")
        ))
        .json(&body)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // It was applied: R0 was rotated away (strict mode), so presenting it again is 61023 and
    // counted as a reuse; the live token is the one api_get_authorizer_info reports.
    let again = env
        .post(
            "/cgi-bin/component/api_authorizer_token",
            Some(&ctoken),
            body.clone(),
        )
        .await;
    assert_eq!(errcode(&again), 61023, "{again}");
    assert_eq!(env.sim.refresh_token_reuses(), 1);
    let info = env
        .post(
            "/cgi-bin/component/api_get_authorizer_info",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "authorizer_appid": appid.as_str()}),
        )
        .await;
    let live = info["authorization_info"]["authorizer_refresh_token"]
        .as_str()
        .unwrap();
    assert_ne!(live, r0);
    let ok = env
        .post(
            "/cgi-bin/component/api_authorizer_token",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "authorizer_appid": appid.as_str(), "authorizer_refresh_token": live}),
        )
        .await;
    assert_eq!(errcode(&ok), 0, "{ok}");
}

/// `apply_late`: the caller gives up during the latency, and the call is applied anyway, after
/// it left.
#[tokio::test]
async fn an_apply_late_fault_applies_the_call_after_its_caller_gave_up() {
    let env = Env::start_with(|c| c.rotate_refresh_tokens = true).await;
    let ctoken = env.component_token().await;
    let (appid, _, r0) = env.authorized_app(&ctoken, &[17, 18]).await;
    let live = |env: &Env| {
        env.sim
            .account(&appid)
            .unwrap()
            .authorization
            .unwrap()
            .refresh_token
    };
    env.sim.set_fault(Fault {
        endpoint: Some("/cgi-bin/component/api_authorizer_token".into()),
        latency: Duration::from_millis(300),
        apply_late: true,
        times: Some(1),
        ..Fault::default()
    });
    let client = wxopen::https::reqwest_builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let body = json!({"component_appid": env.appid(), "authorizer_appid": appid.as_str(), "authorizer_refresh_token": r0});
    let err = client
        .post(format!(
            "{}?component_access_token={ctoken}",
            env.url("/cgi-bin/component/api_authorizer_token")
        ))
        .json(&body)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(live(&env), r0, "not applied while its caller waited");
    assert_eq!(
        env.sim.late_calls(),
        1,
        "still at work after its caller left"
    );

    env.sim.settle_late_calls().await;
    assert_eq!(env.sim.late_calls(), 0);
    // Applied after the caller left: R0 was rotated away; presenting it again is 61023.
    assert_ne!(live(&env), r0);
    let again = env
        .post(
            "/cgi-bin/component/api_authorizer_token",
            Some(&ctoken),
            body,
        )
        .await;
    assert_eq!(errcode(&again), 61023, "{again}");
    assert_eq!(env.sim.refresh_token_reuses(), 1);

    // Set and listed over HTTP too; a caller that waits gets the answer.
    let resp = env
        .http
        .post(env.url("/_sim/faults"))
        .body(r#"{"endpoint":"/wxa/queryquota","latency_ms":5,"apply_late":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list: serde_json::Value = env
        .http
        .get(env.url("/_sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["apply_late"], true);
    assert_eq!(errcode(&env.get(QUOTA, None).await), 41001);
}
