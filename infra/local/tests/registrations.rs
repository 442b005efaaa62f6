//! Registering mini programs for merchants (快速注册), through wxopen against the simulator's
//! registration tasks on simulated time: an enterprise registration for customer C confirmed by
//! the legal person, its success push taking the app on for C (once, however often the push
//! comes); a lost success push settled by the search; a personal and a trial registration; a
//! trial made formal; a create whose answer is lost recorded in doubt and settled, never sent
//! twice, also when the read after it fails; bad input refused with field errors before WeChat
//! is asked.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use support::{spawn_app_with, App};
use wechat_sim::{AccountSpec, Fault, RegistrationDecision, RegistrationKind as SimKind};
use wxopen::crypto::MsgCrypt;
use wxopen::domain::{Clock, ManualClock, SystemClock};
use wxopen::notifications::EventKind;

const FAST_REGISTER: &str = "/cgi-bin/component/fastregisterweapp";
const PERSONAL: &str = "/wxa/component/fastregisterpersonalweapp";
const BETA: &str = "/wxa/component/fastregisterbetaweapp";
const VERIFY_BETA: &str = "/wxa/verifybetaweapp";
const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";
const CUSTOMER: &str = "customer-c";

/// The development secrets' push token, key and component (`wxopen_local::dev_secrets`).
const TOKEN: &str = "localdevtoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const COMPONENT: &str = "wx00000000000000aa";

async fn spawn() -> (App, ManualClock) {
    let clock = ManualClock::new(SystemClock.now());
    let app = spawn_app_with(|c| c.clock = Arc::new(clock.clone())).await;
    (app, clock)
}

/// Moves simulated time on; WeChat keeps pushing tickets meanwhile.
async fn pass(app: &App, clock: &ManualClock, secs: i64) {
    clock.advance(secs);
    app.local.sim.push_ticket().await.unwrap();
}

fn enterprise(name: &str) -> Value {
    json!({
        "customer_id": CUSTOMER,
        "kind": "enterprise",
        "name": name,
        "code": "91440300MA5F000001",
        "code_type": 1,
        "legal_persona_wechat": "legal_wx1",
        "legal_persona_name": "张三",
    })
}

async fn register(app: &App, body: Value) -> (u16, Value) {
    app.call(Method::POST, "/ops/registrations", Some(body))
        .await
}

async fn show(app: &App, id: &str) -> Value {
    let (s, v) = app.get_json(&format!("/ops/registrations/{id}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// The simulator's task of `kind` started last.
fn sim_task(app: &App, kind: SimKind) -> wechat_sim::Registration {
    app.local
        .sim
        .registrations()
        .into_iter()
        .rev()
        .find(|r| r.kind == kind)
        .expect("a task at WeChat")
}

fn sim_tasks(app: &App, kind: SimKind) -> usize {
    app.local
        .sim
        .registrations()
        .iter()
        .filter(|r| r.kind == kind)
        .count()
}

/// The appids `GET /ops/authorizers?customer_id=` lists.
async fn customer_apps(app: &App, customer: &str) -> Vec<String> {
    let (s, v) = app
        .get_json(&format!("/ops/authorizers?customer_id={customer}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appid"].as_str().unwrap().to_owned())
        .collect()
}

async fn registration_notifications(app: &App) -> usize {
    app.local
        .store
        .list_notifications(None, None, 100)
        .await
        .unwrap()
        .items
        .iter()
        .filter(|n| n.event.kind() == EventKind::RegistrationResult)
        .count()
}

/// WeChat delivering the push `plaintext` again, with `CreateTime` moved by `later` seconds (0:
/// the very same push).
async fn push_again(app: &App, clock: &ManualClock, plaintext: &str, later: i64) -> u16 {
    let xml = if later == 0 {
        plaintext.to_owned()
    } else {
        let start = plaintext.find("<CreateTime>").unwrap() + "<CreateTime>".len();
        let end = plaintext.find("</CreateTime>").unwrap();
        let t: i64 = plaintext[start..end].parse().unwrap();
        format!("{}{}{}", &plaintext[..start], t + later, &plaintext[end..])
    };
    let crypt = MsgCrypt::new(TOKEN, KEY, COMPONENT).unwrap();
    let ts = clock.now().to_string();
    let sealed = crypt.seal(&xml, &ts, "again");
    let body = format!(
        "<xml><AppId><![CDATA[{COMPONENT}]]></AppId><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        sealed.encrypt
    );
    let url = app.url(&format!(
        "/wechat/component?signature=x&timestamp={ts}&nonce=again&encrypt_type=aes&msg_signature={}",
        sealed.msg_signature
    ));
    app.http
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn last_push(app: &App, kind: &str) -> String {
    app.local
        .sim
        .pushes()
        .into_iter()
        .rev()
        .find(|p| p.kind == kind)
        .expect("a push")
        .plaintext
}

#[tokio::test]
async fn an_enterprise_registration_is_confirmed_and_its_app_taken_on_for_the_customer_once() {
    let (app, clock) = spawn().await;
    let (s, v) = register(&app, enterprise("某某科技有限公司")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "waiting_for_confirmation", "{v}");
    let id = v["registration_id"].as_str().unwrap().to_owned();
    assert_eq!(app.local.sim.calls(FAST_REGISTER), 1);
    let shown = show(&app, &id).await;
    assert_eq!(
        (&shown["status"], &shown["customer_id"], &shown["kind"]),
        (
            &json!("waiting_for_confirmation"),
            &json!(CUSTOMER),
            &json!("enterprise")
        )
    );
    assert!(
        !shown.to_string().contains("legal_wx1") && !shown.to_string().contains("张三"),
        "the legal person's data is not shown: {shown}"
    );
    // The same subject again while it waits: refused, WeChat not asked.
    let (s, v) = register(&app, enterprise("某某科技有限公司")).await;
    assert_eq!(
        (s, &v["error"]),
        (409, &json!("registration_in_progress")),
        "{v}"
    );
    assert_eq!(v["registration_id"], json!(id), "{v}");
    assert_eq!(app.local.sim.calls(FAST_REGISTER), 1);
    assert!(customer_apps(&app, CUSTOMER).await.is_empty());

    // The legal person confirms in WeChat; the success push arrives.
    pass(&app, &clock, 3600).await;
    let task = sim_task(&app, SimKind::Enterprise);
    let pushed = app
        .local
        .sim
        .decide_registration(&task.id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    let appid = pushed.appid.clone().unwrap();
    let shown = show(&app, &id).await;
    assert_eq!(
        (&shown["status"], &shown["appid"]),
        (&json!("succeeded"), &json!(appid)),
        "{shown}"
    );
    assert_eq!(customer_apps(&app, CUSTOMER).await, [appid.to_string()]);
    let stored = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(stored.customer_id.as_deref(), Some(CUSTOMER));
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 1);
    assert_eq!(registration_notifications(&app).await, 1);

    // WeChat pushes it again: the same push, then with another CreateTime.
    let plaintext = last_push(&app, "notify_third_fasteregister");
    assert_eq!(push_again(&app, &clock, &plaintext, 0).await, 200);
    assert_eq!(push_again(&app, &clock, &plaintext, 30).await, 200);
    assert_eq!(customer_apps(&app, CUSTOMER).await, [appid.to_string()]);
    assert_eq!(app.local.sim.calls(QUERY_AUTH), 1, "one onboarding");
    assert_eq!(
        registration_notifications(&app).await,
        1,
        "one notification"
    );
    let (s, v) = app.get_json("/ops/registrations?status=succeeded").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["items"][0]["appid"], json!(appid));
}

#[tokio::test]
async fn a_failed_registration_records_the_reason_and_tells_the_operators() {
    let (app, _clock) = spawn().await;
    let (s, v) = register(&app, enterprise("失败科技有限公司")).await;
    assert_eq!(s, 201, "{v}");
    let id = v["registration_id"].as_str().unwrap().to_owned();
    let task = sim_task(&app, SimKind::Enterprise);
    app.local
        .sim
        .decide_registration(
            &task.id,
            RegistrationDecision::Fail {
                reason: "法人姓名与工商信息不一致".into(),
                status: Some(-1),
            },
        )
        .await
        .unwrap();
    let shown = show(&app, &id).await;
    assert_eq!(
        (&shown["status"], &shown["reason"], &shown["errcode"]),
        (
            &json!("failed"),
            &json!("法人姓名与工商信息不一致"),
            &json!(-1)
        ),
        "{shown}"
    );
    assert_eq!(registration_notifications(&app).await, 1);
    assert!(customer_apps(&app, CUSTOMER).await.is_empty());
}

#[tokio::test]
async fn a_lost_success_push_is_settled_by_the_search_and_the_app_taken_on() {
    let (app, clock) = spawn().await;
    app.local.sim.hold_pushes("notify_third_fasteregister");
    let (s, v) = register(&app, enterprise("失联科技有限公司")).await;
    assert_eq!(s, 201, "{v}");
    let id = v["registration_id"].as_str().unwrap().to_owned();
    pass(&app, &clock, 60).await;
    let task = sim_task(&app, SimKind::Enterprise);
    let pushed = app
        .local
        .sim
        .decide_registration(&task.id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    let appid = pushed.appid.unwrap();
    // Looked at soon after: not asked yet (the search is spent every few minutes at most).
    let searches = app.local.sim.calls(FAST_REGISTER);
    assert_eq!(show(&app, &id).await["status"], "waiting_for_confirmation");
    assert_eq!(app.local.sim.calls(FAST_REGISTER), searches);
    // Later: the search says it succeeded; the authorizer list names the app.
    pass(&app, &clock, 301).await;
    let shown = show(&app, &id).await;
    assert_eq!(app.local.sim.calls(FAST_REGISTER), searches + 1);
    assert_eq!(
        (&shown["status"], &shown["appid"]),
        (&json!("succeeded"), &json!(appid)),
        "{shown}"
    );
    assert_eq!(customer_apps(&app, CUSTOMER).await, [appid.to_string()]);
    // Settled: looked at again, WeChat is not asked again.
    pass(&app, &clock, 600).await;
    show(&app, &id).await;
    assert_eq!(app.local.sim.calls(FAST_REGISTER), searches + 1);
    // The push comes after all: still one app, still C's.
    assert_eq!(app.local.sim.release_held_pushes().await, 1);
    assert_eq!(customer_apps(&app, CUSTOMER).await, [appid.to_string()]);
    assert_eq!(show(&app, &id).await["appid"], json!(appid));
}

#[tokio::test]
async fn a_personal_registration_is_confirmed_by_the_user_and_taken_on() {
    let (app, _clock) = spawn().await;
    let body = json!({
        "customer_id": CUSTOMER,
        "kind": "personal",
        "idname": "李四",
        "wxuser": "user_wx42",
    });
    let (s, v) = register(&app, body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "waiting_for_confirmation", "{v}");
    assert!(
        v["authorize_url"].as_str().unwrap().starts_with("https://"),
        "{v}"
    );
    let id = v["registration_id"].as_str().unwrap().to_owned();
    assert_eq!(app.local.sim.calls(PERSONAL), 1);
    let task = sim_task(&app, SimKind::Personal);
    let pushed = app
        .local
        .sim
        .decide_registration(&task.id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    let appid = pushed.appid.unwrap();
    let shown = show(&app, &id).await;
    assert_eq!(
        (&shown["status"], &shown["appid"]),
        (&json!("succeeded"), &json!(appid)),
        "{shown}"
    );
    assert!(!shown.to_string().contains("user_wx42"), "{shown}");
    assert_eq!(customer_apps(&app, CUSTOMER).await, [appid.to_string()]);
}

#[tokio::test]
async fn a_trial_is_registered_taken_on_and_made_formal() {
    let (app, _clock) = spawn().await;
    let body = json!({
        "customer_id": CUSTOMER,
        "kind": "beta",
        "name": "好店铺试用",
        "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    });
    let (s, v) = register(&app, body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "waiting_for_confirmation", "{v}");
    let id = v["registration_id"].as_str().unwrap().to_owned();
    assert_eq!(app.local.sim.calls(BETA), 1);
    // Not made formal before it exists.
    let verify_body = json!({
        "enterprise_name": "好店铺有限公司",
        "code": "91440300MA5F000002",
        "code_type": 1,
        "legal_persona_wechat": "legal_wx2",
        "legal_persona_name": "王五",
    });
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/registrations/{id}/verify"),
            Some(verify_body.clone()),
        )
        .await;
    assert_eq!((s, &v["error"]), (409, &json!("not_a_trial")), "{v}");
    let task = sim_task(&app, SimKind::Beta);
    let pushed = app
        .local
        .sim
        .decide_registration(&task.id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    assert_eq!(pushed.kind, "notify_third_fastregisterbetaapp");
    let appid = pushed.appid.unwrap();
    let shown = show(&app, &id).await;
    assert_eq!(
        (&shown["status"], &shown["appid"]),
        (&json!("succeeded"), &json!(appid)),
        "{shown}"
    );
    assert_eq!(customer_apps(&app, CUSTOMER).await, [appid.to_string()]);
    assert!(app.local.sim.profile(&appid).beta);

    // Made formal: recorded, sent once, confirmed by the legal person, pushed.
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/registrations/{id}/verify"),
            Some(verify_body.clone()),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        v["verification"]["status"], "waiting_for_confirmation",
        "{v}"
    );
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/registrations/{id}/verify"),
            Some(verify_body),
        )
        .await;
    assert_eq!(
        (s, &v["error"]),
        (409, &json!("verification_in_progress")),
        "{v}"
    );
    assert_eq!(app.local.sim.calls(VERIFY_BETA), 1);
    let task = sim_task(&app, SimKind::BetaVerification);
    app.local
        .sim
        .decide_registration(&task.id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    let shown = show(&app, &id).await;
    assert_eq!(shown["verification"]["status"], "succeeded", "{shown}");
    assert!(!app.local.sim.profile(&appid).beta);
}

#[tokio::test]
async fn a_mini_program_on_an_official_accounts_subject_is_created_at_once_for_the_customer() {
    let (app, _clock) = spawn().await;
    let oa = app.local.sim.add_account(AccountSpec {
        nick_name: Some("某某公众号".into()),
        ..AccountSpec::official_account()
    });
    app.local.sim.authorize(&oa, &[1, 3]).await.unwrap();
    assert!(
        app.stored_authorizer(&oa).await.is_some(),
        "the official account is on board"
    );
    let ticket = app.local.sim.official_account_register_ticket(&oa);
    let body = json!({
        "customer_id": CUSTOMER,
        "kind": "reuse_official_account",
        "official_account_appid": oa,
        "ticket": ticket,
    });
    let (s, v) = register(&app, body.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "succeeded", "{v}");
    let appid = v["appid"].as_str().unwrap().to_owned();
    assert_eq!(customer_apps(&app, CUSTOMER).await, [appid.as_str()]);
    let shown = show(&app, v["registration_id"].as_str().unwrap()).await;
    assert_eq!(
        (&shown["appid"], &shown["official_account_appid"]),
        (&json!(appid), &json!(oa)),
        "{shown}"
    );
    // The scan's ticket is spent: WeChat refuses it, recorded as failed.
    let (s, v) = register(&app, body).await;
    assert_eq!(
        (s, &v["error"], &v["errcode"]),
        (422, &json!("registration_refused"), &json!(61058)),
        "{v}"
    );
    let (_, failed) = app.get_json("/ops/registrations?status=failed").await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 1, "{failed}");
}

/// The create is taken by WeChat, its answer never arrives (once).
fn lose_create_answer(app: &App) {
    app.local.sim.set_fault(Fault {
        endpoint: Some(FAST_REGISTER.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
}

#[tokio::test]
async fn a_lost_create_answer_is_settled_by_the_search_and_never_sent_twice() {
    let (app, _clock) = spawn().await;
    lose_create_answer(&app);
    let (s, v) = register(&app, enterprise("丢包科技有限公司")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        v["status"], "waiting_for_confirmation",
        "settled by the search: {v}"
    );
    assert_eq!(
        sim_tasks(&app, SimKind::Enterprise),
        1,
        "WeChat took it once"
    );
    assert_eq!(
        app.local.sim.calls(FAST_REGISTER),
        2,
        "the create, then the search"
    );
    // Asked again: the open registration is named; nothing is sent.
    let (s, v) = register(&app, enterprise("丢包科技有限公司")).await;
    assert_eq!(
        (s, &v["error"]),
        (409, &json!("registration_in_progress")),
        "{v}"
    );
    assert_eq!(sim_tasks(&app, SimKind::Enterprise), 1);
}

#[tokio::test]
async fn a_lost_create_answer_whose_search_fails_stays_in_doubt_until_wechat_tells() {
    let (app, clock) = spawn().await;
    lose_create_answer(&app);
    // Every request after the create fails (the daily quota).
    app.local.sim.set_fault(Fault {
        endpoint: Some(FAST_REGISTER.into()),
        forced_errcode: Some((45009, "reach max api daily quota limit".into())),
        ..Fault::default()
    });
    let (s, v) = register(&app, enterprise("双错科技有限公司")).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        (&v["status"], &v["in_doubt"]),
        (&json!("submitting"), &json!(true)),
        "{v}"
    );
    assert!(v["hint_zh"].is_string(), "{v}");
    let id = v["registration_id"].as_str().unwrap().to_owned();
    assert_eq!(sim_tasks(&app, SimKind::Enterprise), 1, "WeChat took it");
    // While WeChat cannot be asked, no second create.
    let (s, v) = register(&app, enterprise("双错科技有限公司")).await;
    assert_eq!(
        (s, &v["error"]),
        (409, &json!("registration_in_progress")),
        "{v}"
    );
    assert_eq!(v["status"], "submitting", "{v}");
    assert_eq!(sim_tasks(&app, SimKind::Enterprise), 1);
    let (_, listed) = app.get_json("/ops/registrations?status=submitting").await;
    assert_eq!(listed["items"][0]["registration_id"], json!(id), "{listed}");
    // WeChat answers again: looked at after a while, the search settles it.
    app.local.sim.clear_faults();
    pass(&app, &clock, 301).await;
    let shown = show(&app, &id).await;
    assert_eq!(shown["status"], "waiting_for_confirmation", "{shown}");
    assert_eq!(sim_tasks(&app, SimKind::Enterprise), 1);
}

#[tokio::test]
async fn bad_input_is_refused_with_field_errors_before_wechat_is_asked() {
    let (app, _clock) = spawn().await;
    let before = app.local.sim.all_calls();
    let cases = [
        (
            json!({ "customer_id": CUSTOMER, "kind": "enterprise", "name": "某公司", "code": "123", "code_type": 1, "legal_persona_wechat": "1bad", "extra": 1 }),
            vec![
                "code",
                "legal_persona_wechat",
                "legal_persona_name",
                "extra",
            ],
        ),
        (
            json!({ "customer_id": "", "kind": "personal", "idname": "李四" }),
            vec!["customer_id", "wxuser"],
        ),
        (
            json!({ "customer_id": CUSTOMER, "kind": "beta", "name": "短", "openid": "o1" }),
            vec!["name"],
        ),
        (
            json!({ "customer_id": CUSTOMER, "kind": "enterprise", "name": "某公司", "code": "91440300MA5F000001", "code_type": 7, "legal_persona_wechat": "legal_wx1", "legal_persona_name": "张三" }),
            vec!["code_type"],
        ),
        (
            json!({ "customer_id": CUSTOMER, "kind": "reuse_official_account", "official_account_appid": "nope", "ticket": "t" }),
            vec!["official_account_appid"],
        ),
        (
            json!({ "customer_id": CUSTOMER, "kind": "robot" }),
            vec!["kind"],
        ),
    ];
    for (body, fields) in cases {
        let (s, v) = register(&app, body.clone()).await;
        assert_eq!(
            (s, &v["error"]),
            (400, &json!("invalid_registration")),
            "{body}: {v}"
        );
        let named: Vec<&str> = v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        for f in &fields {
            assert!(named.contains(f), "{body}: {f} not named in {v}");
        }
        assert!(
            v["fields"][0]["zh"].is_string() && v["hint_zh"].is_string(),
            "{v}"
        );
    }
    let (s, v) = app
        .call(
            Method::POST,
            "/ops/registrations/nope/verify",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s, &v["error"]),
        (400, &json!("invalid_registration")),
        "{v}"
    );
    assert_eq!(app.local.sim.all_calls(), before, "WeChat was not asked");
    let (s, v) = app.get_json("/ops/registrations").await;
    assert_eq!((s, v["items"].as_array().unwrap().len()), (200, 0), "{v}");
    let (s, _) = app.get_json("/ops/registrations/nope").await;
    assert_eq!(s, 404);
    let (s, v) = app.get_json("/ops/registrations?status=lost").await;
    assert_eq!((s, &v["error"]), (400, &json!("invalid_status")), "{v}");
}
