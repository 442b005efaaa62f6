//! The calls for the provider's backends (login, phone numbers, the subscribe-message template
//! library and sends) through `TokenManager::component()` / `wxa(appid)` against the simulator.

use super::*;
use std::collections::BTreeMap;
use wxopen::wechat::services::{
    AddSubscribeTemplate, DelSubscribeTemplate, GetPubTemplateKeywords, GetPubTemplateTitles,
    GetSubscribeCategories, GetSubscribeTemplates, GetUserPhoneNumber, JsCode2Session,
    SendSubscribeMessage, SubscribeValue,
};
use wxopen::wechat::{ErrorKind, WechatError};

fn assert_business(err: &WechatError, code: i64) {
    assert_eq!(err.errcode(), Some(code), "{err}");
    assert_eq!(err.kind(), ErrorKind::Business, "{err}");
}

fn login(env: &Env, appid: &AppId, code: &str) -> JsCode2Session {
    JsCode2Session {
        appid: appid.clone(),
        js_code: SecretString::from(code.to_owned()),
        component_appid: env.component.clone(),
    }
}

#[tokio::test]
async fn a_js_code_logs_its_user_in_once_and_only_for_its_app_within_five_minutes() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let other = env.authorized_mini_program(&mgr).await;
    let component = mgr.component();

    let (code, openid) = env.sim.mint_js_code(&appid, None);
    let session = component.call(&login(&env, &appid, &code)).await.unwrap();
    assert_eq!(session.openid, openid);
    assert!(!expose(&session.session_key).is_empty());
    let printed = format!("{session:?} {:?}", login(&env, &appid, &code));
    assert!(!printed.contains(expose(&session.session_key)), "{printed}");
    assert!(!printed.contains(&code), "{printed}");

    // Spent: 40163, not a second session.
    let again = component.call(&login(&env, &appid, &code)).await;
    assert_business(&again.unwrap_err(), 40163);
    // Unknown, another app's, or expired: 40029.
    let unknown = component.call(&login(&env, &appid, "0nosuchcode")).await;
    assert_business(&unknown.unwrap_err(), 40029);
    let (theirs, _) = env.sim.mint_js_code(&other, None);
    let wrong_app = component.call(&login(&env, &appid, &theirs)).await;
    assert_business(&wrong_app.unwrap_err(), 40029);
    // The other app's code was not spent by the refusal.
    let theirs_ok = component.call(&login(&env, &other, &theirs)).await.unwrap();
    assert!(theirs_ok.openid.starts_with('o'));
    let (late, _) = env.sim.mint_js_code(&appid, Some(&openid));
    env.sim.advance_clock(301);
    let expired = component.call(&login(&env, &appid, &late)).await;
    assert_business(&expired.unwrap_err(), 40029);

    // An app not authorized to the platform: 61003.
    let stranger = env.sim.add_account(AccountSpec::mini_program());
    let (code, _) = env.sim.mint_js_code(&stranger, None);
    let refused = component.call(&login(&env, &stranger, &code)).await;
    assert_business(&refused.unwrap_err(), 61003);
}

#[tokio::test]
async fn a_phone_code_answers_its_number_once() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);

    let code = env.sim.mint_phone_code(&appid, "13800138000");
    let req = GetUserPhoneNumber {
        code: SecretString::from(code.clone()),
    };
    let phone = wxa.call(&req).await.unwrap().phone_info;
    assert_eq!(phone.phone_number, "13800138000");
    assert_eq!(phone.pure_phone_number, "13800138000");
    assert_eq!(phone.country_code, "86");
    assert_eq!(phone.watermark.appid, appid);
    assert_eq!(phone.watermark.timestamp, env.sim.now());
    let printed = format!("{phone:?} {req:?}");
    assert!(
        !printed.contains("13800138000") && !printed.contains(&code),
        "{printed}"
    );

    assert_business(&wxa.call(&req).await.unwrap_err(), 40029);
    let other = env.authorized_mini_program(&mgr).await;
    let theirs = GetUserPhoneNumber {
        code: SecretString::from(env.sim.mint_phone_code(&other, "13900139000")),
    };
    assert_business(&wxa.call(&theirs).await.unwrap_err(), 40029);
    let late = GetUserPhoneNumber {
        code: SecretString::from(env.sim.mint_phone_code(&appid, "13900139000")),
    };
    env.sim.advance_clock(301);
    assert_business(&wxa.call(&late).await.unwrap_err(), 40029);
}

#[tokio::test]
async fn the_template_library_adds_lists_and_deletes_an_apps_templates() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);

    let categories = wxa.call(&GetSubscribeCategories {}).await.unwrap().data;
    assert!(categories.iter().any(|c| c.id == 307));
    let titles = wxa
        .call(&GetPubTemplateTitles {
            category_ids: vec![307],
            start: 0,
            limit: 30,
        })
        .await
        .unwrap();
    assert_eq!(titles.count, 2);
    let tid = titles.data[0].tid;
    let keywords = wxa.call(&GetPubTemplateKeywords { tid }).await.unwrap();
    assert!(keywords.data.len() >= 2);
    let kids: Vec<u64> = keywords.data.iter().take(2).map(|k| k.kid).collect();

    let add = AddSubscribeTemplate {
        tid: tid.to_string(),
        kid_list: kids.clone(),
        scene_desc: Some("发货通知".into()),
    };
    let added = wxa.call(&add).await.unwrap().pri_tmpl_id;
    let listed = wxa.call(&GetSubscribeTemplates {}).await.unwrap().data;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].pri_tmpl_id, added);
    let first = &keywords.data[0];
    assert!(
        listed[0]
            .content
            .contains(&format!("{{{{{}{}.DATA}}}}", first.rule, first.kid)),
        "{}",
        listed[0].content
    );

    let bad_tid = AddSubscribeTemplate {
        tid: "999999".into(),
        ..add.clone()
    };
    assert_business(&wxa.call(&bad_tid).await.unwrap_err(), 200014);
    let one_kid = AddSubscribeTemplate {
        kid_list: vec![kids[0]],
        ..add.clone()
    };
    assert_business(&wxa.call(&one_kid).await.unwrap_err(), 200020);
    let long_scene = AddSubscribeTemplate {
        scene_desc: Some("一二三四五六七八九十一二三四五六".into()),
        ..add.clone()
    };
    assert_business(&wxa.call(&long_scene).await.unwrap_err(), 200021);
    // Refusals added nothing; 50 templates is the limit.
    assert_eq!(env.sim.subscribe_templates(&appid).len(), 1);
    for _ in 1..50 {
        wxa.call(&add).await.unwrap();
    }
    assert_business(&wxa.call(&add).await.unwrap_err(), 200012);
    assert_eq!(env.sim.subscribe_templates(&appid).len(), 50);

    let del = DelSubscribeTemplate {
        pri_tmpl_id: added.clone(),
    };
    wxa.call(&del).await.unwrap();
    let left = env.sim.subscribe_templates(&appid);
    assert_eq!(left.len(), 49);
    assert!(left.iter().all(|t| t.pri_tmpl_id != added));
    assert_business(&wxa.call(&del).await.unwrap_err(), 20002);
}

#[tokio::test]
async fn a_subscribe_message_is_sent_once_per_acceptance_and_refused_otherwise() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    let template = wxa
        .call(&AddSubscribeTemplate {
            tid: "1001".into(),
            kid_list: vec![1, 2],
            scene_desc: None,
        })
        .await
        .unwrap()
        .pri_tmpl_id;
    let (_, openid) = env.sim.mint_js_code(&appid, None);
    let value = |v: &str| SubscribeValue { value: v.into() };
    let send = SendSubscribeMessage {
        touser: openid.clone(),
        template_id: template.clone(),
        page: Some("pages/order/detail?id=42".into()),
        data: BTreeMap::from([
            ("character_string1".to_owned(), value("TN42")),
            ("thing2".to_owned(), value("顺丰速运")),
        ]),
        miniprogram_state: None,
        lang: None,
    };

    // Never accepted: 43101.
    assert_business(&wxa.call(&send).await.unwrap_err(), 43101);
    env.sim.set_subscription(&appid, &openid, &template, 1);
    // Bad data (a `thing` over 20 characters, a missing keyword): 47003, the acceptance kept.
    let mut long = send.clone();
    long.data.insert("thing2".into(), value(&"长".repeat(21)));
    assert_business(&wxa.call(&long).await.unwrap_err(), 47003);
    let mut missing = send.clone();
    missing.data.remove("character_string1");
    assert_business(&wxa.call(&missing).await.unwrap_err(), 47003);
    let wrong_template = SendSubscribeMessage {
        template_id: "nosuchtemplate".into(),
        ..send.clone()
    };
    assert_business(&wxa.call(&wrong_template).await.unwrap_err(), 40037);
    assert!(env.sim.sent_subscribe_messages().is_empty());

    let sent = wxa.call(&send).await.unwrap();
    let recorded = env.sim.sent_subscribe_messages();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].msgid, sent.msgid.unwrap());
    assert_eq!(recorded[0].touser, openid);
    assert_eq!(recorded[0].data["thing2"], "顺丰速运");
    // One acceptance, one message.
    assert_business(&wxa.call(&send).await.unwrap_err(), 43101);
    assert_eq!(env.sim.sent_subscribe_messages().len(), 1);
}

#[tokio::test]
async fn the_control_routes_mint_codes_set_acceptances_and_list_sent_messages() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let http = reqwest::Client::new();
    let base = env.sim.base_url();
    let post = |path: String, body: serde_json::Value| {
        http.post(format!("{base}{path}")).json(&body).send()
    };

    let minted: serde_json::Value = post(
        format!("/_sim/apps/{appid}/js-codes"),
        serde_json::json!({"openid": "o-control-user"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(minted["openid"], "o-control-user");
    let code = minted["js_code"].as_str().unwrap();
    let session = mgr
        .component()
        .call(&login(&env, &appid, code))
        .await
        .unwrap();
    assert_eq!(session.openid, "o-control-user");

    let phone: serde_json::Value = post(
        format!("/_sim/apps/{appid}/phone-codes"),
        serde_json::json!({"phone": "13800138000"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let req = GetUserPhoneNumber {
        code: SecretString::from(phone["code"].as_str().unwrap().to_owned()),
    };
    let number = mgr.wxa(&appid).call(&req).await.unwrap().phone_info;
    assert_eq!(number.pure_phone_number, "13800138000");

    let bad = post(
        "/_sim/apps/not-an-appid/phone-codes".into(),
        serde_json::json!({"phone": "13800138000"}),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);

    let template = env
        .sim
        .subscribe_templates(&appid)
        .first()
        .map(|t| t.pri_tmpl_id.clone());
    assert_eq!(template, None);
    let pri = mgr
        .wxa(&appid)
        .call(&AddSubscribeTemplate {
            tid: "2001".into(),
            kid_list: vec![1, 3],
            scene_desc: None,
        })
        .await
        .unwrap()
        .pri_tmpl_id;
    let accepted = post(
        format!("/_sim/apps/{appid}/subscriptions"),
        serde_json::json!({"openid": "o-control-user", "priTmplId": pri, "sends": 1}),
    )
    .await
    .unwrap();
    assert!(accepted.status().is_success());
    let value = |v: &str| SubscribeValue { value: v.into() };
    mgr.wxa(&appid)
        .call(&SendSubscribeMessage {
            touser: "o-control-user".into(),
            template_id: pri,
            page: None,
            data: BTreeMap::from([
                ("character_string1".to_owned(), value("A042")),
                ("phrase3".to_owned(), value("待取餐")),
            ]),
            miniprogram_state: None,
            lang: None,
        })
        .await
        .unwrap();
    let sent: serde_json::Value = http
        .get(format!("{base}/_sim/subscribe-messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["messages"].as_array().unwrap().len(), 1);
    assert_eq!(sent["messages"][0]["data"]["phrase3"], "待取餐");
}
