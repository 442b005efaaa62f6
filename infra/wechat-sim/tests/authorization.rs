//! pre_auth_code, the consent pages, authorization pushes, api_query_auth, refresh tokens.

mod common;

use common::*;
use secrecy::ExposeSecret;
use serde_json::json;
use wechat_sim::AccountSpec;
use wxopen::events::ComponentEvent;

async fn pre_auth_code(env: &Env, ctoken: &str) -> String {
    let v = env
        .post(
            "/cgi-bin/component/api_create_preauthcode",
            Some(ctoken),
            json!({"component_appid": env.appid()}),
        )
        .await;
    assert_eq!(errcode(&v), 0);
    v["pre_auth_code"].as_str().unwrap().to_owned()
}

fn consent_url(env: &Env, path: &str, pre: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&env.url(path)).unwrap();
    u.query_pairs_mut()
        .append_pair("component_appid", &env.appid())
        .append_pair("pre_auth_code", pre)
        .append_pair("redirect_uri", redirect);
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

async fn approve(
    env: &Env,
    pre: &str,
    redirect: &str,
    appid: &str,
    func: &[u32],
) -> reqwest::Response {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("pre_auth_code", pre)
        .append_pair("redirect_uri", redirect)
        .append_pair("appid", appid);
    for f in func {
        form.append_pair("func_info", &f.to_string());
    }
    env.http
        .post(env.url("/_sim/consent/approve"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_consent_page_lists_accounts_filtered_by_auth_type_and_biz_appid() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let mp = env.sim.add_account(AccountSpec::mini_program());
    let oa = env.sim.add_account(AccountSpec::official_account());
    let pre = pre_auth_code(&env, &ctoken).await;
    for (path, extra, has_mp, has_oa) in [
        (
            "/cgi-bin/componentloginpage",
            vec![("auth_type", "3")],
            true,
            true,
        ),
        (
            "/cgi-bin/componentloginpage",
            vec![("auth_type", "2")],
            true,
            false,
        ),
        (
            "/safe/bindcomponent",
            vec![("action", "bindcomponent"), ("auth_type", "1")],
            false,
            true,
        ),
        (
            "/wxaopen/safe/bindcomponent",
            vec![("biz_appid", mp.as_str())],
            true,
            false,
        ),
    ] {
        let resp = env
            .http
            .get(consent_url(
                &env,
                path,
                &pre,
                "https://example.com/cb",
                &extra,
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let html = resp.text().await.unwrap();
        assert_eq!(html.contains(mp.as_str()), has_mp, "{path} {extra:?}");
        assert_eq!(html.contains(oa.as_str()), has_oa, "{path} {extra:?}");
        assert!(html.contains("action=\"/_sim/consent/approve\""));
        assert!(html.contains("value=\"18\" checked"));
    }
}

#[tokio::test]
async fn the_consent_page_refuses_a_wrong_component_or_an_unknown_pre_auth_code_with_400() {
    let env = Env::start().await;
    env.component_token().await;
    let resp = env
        .http
        .get(consent_url(
            &env,
            "/cgi-bin/componentloginpage",
            "preauthcode@@@nope",
            "https://example.com/cb",
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("unknown pre_auth_code"));
}

#[tokio::test]
async fn consent_approval_redirects_with_auth_code_pushes_authorized_and_the_code_is_single_use() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let appid = env.sim.add_account(AccountSpec::mini_program());
    let pre = pre_auth_code(&env, &ctoken).await;
    let redirect = "https://example.com/auth/callback?state=abc";
    let resp = approve(&env, &pre, redirect, appid.as_str(), &[17, 18]).await;
    assert_eq!(resp.status(), 302);
    let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(loc.path(), "/auth/callback");
    let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "abc");
    assert_eq!(q["expires_in"], "600");
    let code = q["auth_code"].clone();

    let events = env.component_events();
    let ComponentEvent::Authorized(change) = events.last().unwrap() else {
        panic!("expected authorized, got {events:?}");
    };
    assert_eq!(change.authorizer_appid, appid);
    assert_eq!(change.component_appid, env.appid());
    assert_eq!(change.authorization_code.expose_secret(), code);
    assert_eq!(change.authorization_code_expired_time, T0 + 600);
    assert_eq!(change.pre_auth_code.as_ref().unwrap().expose_secret(), pre);

    let body = json!({"component_appid": env.appid(), "authorization_code": code});
    let v = env
        .post(
            "/cgi-bin/component/api_query_auth",
            Some(&ctoken),
            body.clone(),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let info = &v["authorization_info"];
    assert_eq!(info["authorizer_appid"], appid.as_str());
    assert_eq!(info["expires_in"], 7200);
    assert!(info["authorizer_access_token"].is_string());
    assert!(info["authorizer_refresh_token"].is_string());
    assert_eq!(
        info["func_info"],
        json!([{"funcscope_category": {"id": 17}}, {"funcscope_category": {"id": 18}}])
    );
    let again = env
        .post("/cgi-bin/component/api_query_auth", Some(&ctoken), body)
        .await;
    assert_eq!(errcode(&again), 61009);

    // The pre_auth_code was consumed by the approval.
    let resp = approve(&env, &pre, redirect, appid.as_str(), &[18]).await;
    assert_eq!(resp.status(), 400);
    let resp = env
        .http
        .get(consent_url(
            &env,
            "/cgi-bin/componentloginpage",
            &pre,
            redirect,
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn a_pre_auth_code_expires_after_600_seconds() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let appid = env.sim.add_account(AccountSpec::mini_program());
    let pre = pre_auth_code(&env, &ctoken).await;
    env.clock.advance(600);
    let resp = approve(&env, &pre, "https://example.com/cb", appid.as_str(), &[18]).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn an_authorization_code_expires_after_600_seconds_with_61010() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let appid = env.sim.add_account(AccountSpec::mini_program());
    let code = env.sim.authorize(&appid, &[17, 18]).await.unwrap();
    env.clock.advance(600);
    let v = env
        .post(
            "/cgi-bin/component/api_query_auth",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "authorization_code": code}),
        )
        .await;
    assert_eq!(errcode(&v), 61010);
}

#[tokio::test]
async fn a_refresh_token_stops_working_with_61023_after_re_authorization() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let (appid, _, refresh) = env.authorized_app(&ctoken, &[17, 18]).await;
    let body = |r: &str| json!({"component_appid": env.appid(), "authorizer_appid": appid.as_str(), "authorizer_refresh_token": r});
    let path = "/cgi-bin/component/api_authorizer_token";
    let v = env.post(path, Some(&ctoken), body(&refresh)).await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(v["expires_in"], 7200);
    assert_eq!(v["authorizer_refresh_token"], refresh.as_str());
    assert!(v["authorizer_access_token"].is_string());
    assert_eq!(
        errcode(&env.post(path, Some(&ctoken), body("wrong")).await),
        61023
    );

    env.sim.authorize(&appid, &[17, 18]).await.unwrap();
    assert_eq!(
        errcode(&env.post(path, Some(&ctoken), body(&refresh)).await),
        61023
    );
    // The new refresh token is listed by api_get_authorizer_list.
    let v = env
        .post(
            "/cgi-bin/component/api_get_authorizer_list",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "offset": 0, "count": 100}),
        )
        .await;
    assert_eq!(v["total_count"], 1);
    let fresh = v["list"][0]["refresh_token"].as_str().unwrap();
    assert_ne!(fresh, refresh);
    assert_eq!(v["list"][0]["authorizer_appid"], appid.as_str());
    assert_eq!(v["list"][0]["auth_time"], T0);
    assert_eq!(
        errcode(&env.post(path, Some(&ctoken), body(fresh)).await),
        0
    );
}

#[tokio::test]
async fn rotating_refresh_tokens_hand_out_a_new_one_and_retire_the_old() {
    let env = Env::start_with(|c| c.rotate_refresh_tokens = true).await;
    let ctoken = env.component_token().await;
    let (appid, _, refresh) = env.authorized_app(&ctoken, &[17, 18]).await;
    let body = |r: &str| json!({"component_appid": env.appid(), "authorizer_appid": appid.as_str(), "authorizer_refresh_token": r});
    let path = "/cgi-bin/component/api_authorizer_token";
    let v = env.post(path, Some(&ctoken), body(&refresh)).await;
    assert_eq!(errcode(&v), 0);
    let next = v["authorizer_refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, refresh);
    assert_eq!(
        errcode(&env.post(path, Some(&ctoken), body(&refresh)).await),
        61023
    );
    assert_eq!(
        errcode(&env.post(path, Some(&ctoken), body(&next)).await),
        0
    );
}

#[tokio::test]
async fn unauthorized_and_updateauthorized_are_pushed_on_demand() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let (appid, atoken, refresh) = env.authorized_app(&ctoken, &[17, 18]).await;
    let code = env.sim.update_authorization(&appid, &[17]).await.unwrap();
    let Some(ComponentEvent::UpdateAuthorized(change)) = env.component_events().pop() else {
        panic!("expected updateauthorized");
    };
    assert_eq!(change.authorization_code.expose_secret(), code);
    // Permission set 18 is gone: code management answers 61007.
    assert_eq!(
        errcode(&env.get("/wxa/get_category", Some(&atoken)).await),
        61007
    );

    let resp = env
        .http
        .post(env.url(&format!("/_sim/accounts/{appid}/unauthorize")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    match env.component_events().pop() {
        Some(ComponentEvent::Unauthorized {
            authorizer_appid, ..
        }) => assert_eq!(authorizer_appid, appid),
        other => panic!("expected unauthorized, got {other:?}"),
    }
    let v = env
        .post(
            "/cgi-bin/component/api_authorizer_token",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "authorizer_appid": appid.as_str(), "authorizer_refresh_token": refresh}),
        )
        .await;
    assert_eq!(errcode(&v), 61023);
    assert_eq!(
        errcode(&env.get("/wxa/get_category", Some(&atoken)).await),
        40001
    );
}

#[tokio::test]
async fn authorizer_info_has_the_documented_fields_and_mini_program_info_only_for_mini_programs() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let (mp, _, refresh) = env.authorized_app(&ctoken, &[17, 18]).await;
    let oa = env.sim.add_account(AccountSpec::official_account());
    env.sim.authorize(&oa, &[1, 2]).await.unwrap();
    let info = |appid: &str| {
        env.post(
            "/cgi-bin/component/api_get_authorizer_info",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "authorizer_appid": appid}),
        )
    };
    let v = info(mp.as_str()).await;
    assert_eq!(errcode(&v), 0);
    let a = &v["authorizer_info"];
    for field in [
        "nick_name",
        "head_img",
        "user_name",
        "principal_name",
        "signature",
    ] {
        assert!(a[field].is_string(), "{field} in {a}");
    }
    assert!(a["user_name"].as_str().unwrap().starts_with("gh_"));
    assert!(a["service_type_info"]["id"].is_number());
    assert!(a["verify_type_info"]["id"].is_number());
    let mpi = &a["MiniProgramInfo"];
    assert!(mpi["network"]["RequestDomain"].is_array());
    assert!(mpi["categories"][0]["first"].is_string());
    assert!(mpi["visit_status"].is_number());
    assert_eq!(
        v["authorization_info"]["authorizer_refresh_token"],
        refresh.as_str()
    );
    assert_eq!(
        v["authorization_info"]["func_info"][1]["funcscope_category"]["id"],
        18
    );

    let v = info(oa.as_str()).await;
    assert_eq!(errcode(&v), 0);
    assert!(v["authorizer_info"].get("MiniProgramInfo").is_none());
    assert_eq!(errcode(&info("wx0000000000000000").await), 40013);

    let v = env
        .post(
            "/cgi-bin/component/api_get_authorizer_list",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "offset": 1, "count": 500}),
        )
        .await;
    assert_eq!(v["total_count"], 2);
    assert_eq!(v["list"].as_array().unwrap().len(), 1);
    let v = env
        .post(
            "/cgi-bin/component/api_get_authorizer_list",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "offset": 0, "count": 501}),
        )
        .await;
    assert_eq!(errcode(&v), 47001);
}

#[tokio::test]
async fn the_control_api_adds_and_authorizes_accounts() {
    let env = Env::start().await;
    let v: serde_json::Value = env
        .http
        .post(env.url("/_sim/accounts"))
        .body(r#"{"kind":"mini_program","nick_name":"测试小程序"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let appid = v["appid"].as_str().unwrap().to_owned();
    assert!(v["user_name"].as_str().unwrap().starts_with("gh_"));
    let v: serde_json::Value = env
        .http
        .post(env.url(&format!("/_sim/accounts/{appid}/authorize")))
        .body(r#"{"func_info":[17,18]}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["auth_code"]
        .as_str()
        .unwrap()
        .starts_with("queryauthcode@@@"));
    let v: serde_json::Value = env
        .http
        .get(env.url(&format!("/_sim/accounts/{appid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["nick_name"], "测试小程序");
    assert_eq!(v["authorization"]["func_info"], json!([17, 18]));
    let pushes: serde_json::Value = env
        .http
        .get(env.url("/_sim/pushes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pushes[0]["kind"], "authorized");
    assert_eq!(pushes[0]["delivered"], true);
}
