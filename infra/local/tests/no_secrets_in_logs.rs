//! Every log line of a whole flow, at debug level and from every crate (ours, reqwest, hyper,
//! the AWS-free store), is captured and searched for each secret value the flow handled: the
//! appsecret, token, EncodingAESKey, the ticket, every access and refresh token, the
//! pre_auth_code and the authorization code. None may appear. (The simulator is test equipment
//! standing in for WeChat; its own lines are left out.)

mod support;

use secrecy::ExposeSecret;
use support::{spawn_app_with, Captured};
use wxopen::store::TokenKey;
use wxopen_local::dev_secrets;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_flow_at_debug_level_logs_no_secret_value() {
    let captured = Captured::install("debug,wechat_sim=off");

    let secrets = dev_secrets();
    let app = spawn_app_with(|c| c.seed_mini_programs = 1).await;
    let local = &app.local;
    // The ticket reached ticket-push through an encrypted, signed push (logged on its way).
    let mgr = &local.mgr;
    let mut values: Vec<String> = vec![
        secrets.component_appsecret.expose_secret().to_owned(),
        secrets.token.expose_secret().to_owned(),
        secrets.encoding_aes_key.expose_secret().to_owned(),
        local.sim.current_ticket().unwrap(),
    ];
    values.push(
        mgr.component_access_token()
            .await
            .unwrap()
            .expose_secret()
            .to_owned(),
    );
    let pre = mgr
        .component()
        .call(&wxopen::wechat::component::ApiCreatePreauthcode {
            component_appid: mgr.component_appid(),
        })
        .await
        .unwrap();
    values.push(pre.pre_auth_code.expose_secret().to_owned());
    // A merchant authorizes: the `authorized` push reaches ticket-push, which exchanges the
    // code (api_query_auth, api_get_authorizer_info) and stores tokens and profile; then the
    // token is refreshed and used.
    let appid = local
        .sim
        .add_account(wechat_sim::AccountSpec::mini_program());
    let code = local.sim.authorize(&appid, &[17, 18]).await.unwrap();
    values.push(code.clone());
    let first = local
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .expect("the push stored the authorization")
        .state;
    values.push(first.refresh_token.unwrap().expose_secret().to_owned());
    values.push(first.access_token.unwrap().expose_secret().to_owned());
    let key = TokenKey::Authorizer(appid.clone());
    values.push(
        mgr.force_refresh(&key)
            .await
            .unwrap()
            .expose_secret()
            .to_owned(),
    );
    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
    let stored = local.store.get_token(&key).await.unwrap().unwrap().state;
    values.push(stored.refresh_token.unwrap().expose_secret().to_owned());
    // A failing call logs its error too.
    let _ = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetLatestAuditstatus)
        .await;

    // A second merchant through the pages: the operator key, the invitation, the start page's
    // pre_auth_codes, the state and the code of the callback.
    let http = &app.http;
    values.push(support::OPERATOR_KEY.to_owned());
    let inv: serde_json::Value = http
        .post(format!("{}/ops/invitations", local.base_url))
        .bearer_auth(support::OPERATOR_KEY)
        .header("content-type", "application/json")
        .body(r#"{"customer_id":"cust-logs"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // An unused invitation lets whoever holds it authorize: its id is kept out of the logs too.
    values.push(
        inv["invitation_id"]
            .as_str()
            .expect("the invitation id")
            .to_owned(),
    );
    let page = http
        .get(inv["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link = url::Url::parse(&support::link_href(&page, "pc-link")).unwrap();
    let q: std::collections::HashMap<String, String> = link.query_pairs().into_owned().collect();
    values.push(q["pre_auth_code"].clone());
    let other = local
        .sim
        .add_account(wechat_sim::AccountSpec::mini_program());
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("pre_auth_code", &q["pre_auth_code"])
        .append_pair("redirect_uri", &q["redirect_uri"])
        .append_pair("appid", other.as_str())
        .append_pair("func_info", "18")
        .finish();
    let approved = http
        .post(format!("{}/_sim/consent/approve", local.sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let callback = url::Url::parse(approved.headers()["location"].to_str().unwrap()).unwrap();
    for (k, v) in callback.query_pairs() {
        if k == "auth_code" || k == "state" {
            values.push(v.into_owned());
        }
    }
    let done = http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let other_token = local
        .store
        .get_token(&TokenKey::Authorizer(other))
        .await
        .unwrap()
        .unwrap()
        .state;
    values.push(
        other_token
            .refresh_token
            .unwrap()
            .expose_secret()
            .to_owned(),
    );

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 10,
        "the flow was logged at debug level:\n{logs}"
    );
    for v in values {
        assert!(v.len() >= 8, "a real value: {v:?}");
        assert!(!logs.contains(&v), "a secret value was logged:\n{logs}");
    }
}
