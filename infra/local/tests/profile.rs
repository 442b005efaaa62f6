//! A mini program's profile set up through wxopen against the simulator, on simulated time: a
//! name rejected then approved (pushes), a late push settled by a poll, a category added with
//! its review, a submission refused `profile_incomplete` before the profile is complete (WeChat
//! never asked to submit) and accepted after, a batch skipping the incomplete app, a lost
//! setnickname answer settled without a second setnickname (also when the read after it fails),
//! and bad input refused field by field with no WeChat call.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use support::{commit_body, spawn_app_with, submit_body, App};
use wechat_sim::Fault;
use wxopen::domain::{AppId, Clock, ManualClock, SystemClock};

const SET_NICKNAME: &str = "/wxa/setnickname";
const BASIC_INFO: &str = "/cgi-bin/account/getaccountbasicinfo";
const SUBMIT: &str = "/wxa/submit_audit";
const HEAD_IMAGE: &str = "/cgi-bin/account/modifyheadimage";
const SIGNATURE: &str = "/cgi-bin/account/modifysignature";
const ADD_CATEGORY: &str = "/cgi-bin/wxopen/addcategory";

async fn spawn() -> (App, ManualClock) {
    let clock = ManualClock::new(SystemClock.now());
    let app = spawn_app_with(|c| c.clock = Arc::new(clock.clone())).await;
    (app, clock)
}

/// Moves simulated time on (WeChat keeps pushing tickets meanwhile).
async fn pass(app: &App, clock: &ManualClock, secs: i64) {
    clock.advance(secs);
    app.local.sim.push_ticket().await.unwrap();
}

/// A mini program as a fresh registration leaves it (no name, avatar, signature or category),
/// authorized with basic information (set 30) besides code management.
async fn blank_app(app: &App) -> AppId {
    let appid = app.mini_program("x");
    app.local
        .sim
        .authorize(&appid, &[17, 18, 30])
        .await
        .unwrap();
    assert!(app.stored_authorizer(&appid).await.is_some());
    app.local.sim.blank_profile(&appid);
    appid
}

/// A small PNG's bytes (its signature and a few more), base64.
fn png() -> Value {
    json!({
        "content_type": "image/png",
        "data_base64": "iVBORw0KGgoAAAANSUhEUgAAAAE=",
        "filename": "avatar.png",
    })
}

async fn profile(app: &App, appid: &AppId) -> Value {
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/profile")).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn put_profile(app: &App, appid: &AppId, body: Value) -> (u16, Value) {
    app.call(
        Method::PUT,
        &format!("/ops/apps/{appid}/profile"),
        Some(body),
    )
    .await
}

async fn submit(app: &App, appid: &AppId) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/ops/apps/{appid}/audits"),
        Some(submit_body()),
    )
    .await
}

async fn commit(app: &App, appid: &AppId) {
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/commit"),
            Some(commit_body("1.0.0")),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

/// The notifications of kind `profile_review` in the outbox.
async fn review_notifications(app: &App) -> Vec<Value> {
    let (s, v) = app.get_json("/ops/notifications").await;
    assert_eq!(s, 200, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "profile_review" || n["event"]["kind"] == "profile_review")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_submission_is_refused_until_the_profile_is_complete_then_accepted() {
    let (app, _clock) = spawn().await;
    let sim = &app.local.sim;
    let appid = blank_app(&app).await;
    commit(&app, &appid).await;

    let (s, v) = submit(&app, &appid).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("profile_incomplete")),
        "{v}"
    );
    assert_eq!(
        v["missing"],
        json!(["name", "avatar", "signature", "approved_category"])
    );
    assert!(v["hint"].as_str().unwrap().contains("missing"), "{v}");
    assert!(v["hint_zh"].as_str().unwrap().contains("类目"), "{v}");
    assert_eq!(sim.calls(SUBMIT), 0, "WeChat was never asked to submit");
    let p = profile(&app, &appid).await;
    assert_eq!(
        p["missing"],
        json!(["name", "avatar", "signature", "approved_category"])
    );
    assert_eq!(p["registered_through_api"], true);

    // Name, avatar and signature in one change.
    let (s, v) = put_profile(
        &app,
        &appid,
        json!({ "name": "模拟小店", "avatar": png(), "signature": "一家模拟的小店", "search": "hidden" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["name"].as_str(),
            v["avatar"].as_str(),
            v["signature"].as_str()
        ),
        (Some("set"), Some("set"), Some("set")),
        "{v}"
    );
    assert_eq!(v["search"], "hidden");
    let p = profile(&app, &appid).await;
    assert_eq!(p["name"]["value"], "模拟小店");
    assert_eq!(p["signature"]["value"], "一家模拟的小店");
    assert!(!p["avatar"]["value"].as_str().unwrap().is_empty(), "{p}");
    assert_eq!(p["search"], "hidden");
    assert_eq!(p["missing"], json!(["approved_category"]));

    // A category that needs a qualification: reviewed.
    let (s, v) = app.get_json("/ops/categories").await;
    assert_eq!(s, 200, "{v}");
    let lawyer = v["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == 39)
        .unwrap();
    assert_eq!(lawyer["needs_qualification"], true);
    let mut cert = png();
    cert["key"] = json!("出国移民资质证明");
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/categories"),
            Some(json!({ "first": 8, "second": 39, "certificates": [cert] })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "checking");
    let p = profile(&app, &appid).await;
    assert_eq!(p["categories"][0]["status"], "checking", "{p}");
    let (s, v) = submit(&app, &appid).await;
    assert_eq!(
        (s, v["missing"].clone()),
        (409, json!(["approved_category"])),
        "{v}"
    );
    assert_eq!(sim.calls(SUBMIT), 0);

    // WeChat approves it and pushes wxa_category_audit: recorded, notified.
    sim.decide_category(&appid, None, true, "").await.unwrap();
    // Notified from the push itself (before any profile read could poll it).
    let notes = review_notifications(&app).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let p = profile(&app, &appid).await;
    assert_eq!(p["categories"][0]["status"], "approved", "{p}");
    assert_eq!(p["missing"], json!([]));
    assert_eq!(review_notifications(&app).await.len(), 1, "notified once");

    let (s, v) = submit(&app, &appid).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(sim.calls(SUBMIT), 1);

    // Each change is in the app's activity, by whom and what it became.
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/activity")).await;
    assert_eq!(s, 200, "{v}");
    let changes: Vec<(String, Value)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] != "commit" && a["action"] != "submit_audit")
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_owned(),
                a["details"].clone(),
            )
        })
        .collect();
    let mut changes = changes;
    changes.reverse();
    assert_eq!(
        changes,
        [
            ("change_profile".to_owned(), json!({ "search": "hidden" })),
            ("change_profile".to_owned(), json!({ "signature": "set" })),
            ("change_profile".to_owned(), json!({ "avatar": "set" })),
            (
                "change_profile".to_owned(),
                json!({ "name": "模拟小店", "outcome": "set" })
            ),
            (
                "addcategory".to_owned(),
                json!({ "first": 8, "second": 39, "status": "checking" })
            ),
        ],
        "{v}"
    );
    assert!(v["items"][0]["operator"].is_string(), "{v}");
}

#[tokio::test]
async fn a_name_rejected_then_approved_follows_the_pushes() {
    let (app, _clock) = spawn().await;
    let sim = &app.local.sim;
    let appid = blank_app(&app).await;
    // 腾讯 is a keyword: the name needs material and a review.
    let body = json!({ "name": "腾讯小店", "name_license": png() });
    let (s, v) = put_profile(&app, &appid, body.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "checking");
    assert!(v["name_audit_id"].as_u64().is_some(), "{v}");
    let p = profile(&app, &appid).await;
    assert_eq!(p["name_review"]["status"], "checking", "{p}");
    assert_eq!(p["name"]["value"], "");

    sim.decide_nickname(&appid, false, "请提供商标授权")
        .await
        .unwrap();
    let p = profile(&app, &appid).await;
    assert_eq!(p["name_review"]["status"], "rejected", "{p}");
    assert_eq!(p["name_review"]["reason"], "请提供商标授权");
    assert_eq!(p["missing"][0], "name");

    let (s, v) = put_profile(&app, &appid, body).await;
    assert_eq!((s, v["name"].as_str()), (200, Some("checking")), "{v}");
    sim.decide_nickname(&appid, true, "").await.unwrap();
    let p = profile(&app, &appid).await;
    assert_eq!(p["name_review"]["status"], "approved", "{p}");
    assert_eq!(p["name"]["value"], "腾讯小店");
    let notes = review_notifications(&app).await;
    assert_eq!(notes.len(), 2, "one rejected, one approved: {notes:?}");
}

#[tokio::test]
async fn a_late_name_push_is_settled_by_a_poll_and_notified_once() {
    let (app, clock) = spawn().await;
    let sim = &app.local.sim;
    let appid = blank_app(&app).await;
    sim.hold_pushes("wxa_nickname_audit");
    let (s, v) = put_profile(
        &app,
        &appid,
        json!({ "name": "腾讯小铺", "name_license": png() }),
    )
    .await;
    assert_eq!((s, v["name"].as_str()), (200, Some("checking")), "{v}");
    sim.decide_nickname(&appid, true, "").await.unwrap();
    // Not late yet: wxopen waits for the push.
    let p = profile(&app, &appid).await;
    assert_eq!(p["name_review"]["status"], "checking", "{p}");
    sim.reset_calls();
    pass(&app, &clock, 3601).await;
    let p = profile(&app, &appid).await;
    assert_eq!(sim.calls("/wxa/api_wxa_querynickname"), 1, "polled");
    assert_eq!(p["name_review"]["status"], "approved", "{p}");
    assert_eq!(review_notifications(&app).await.len(), 1);
    // The push arrives after all: nothing changes, nothing is notified twice.
    assert_eq!(sim.release_held_pushes().await, 1);
    let p = profile(&app, &appid).await;
    assert_eq!(p["name_review"]["status"], "approved");
    assert_eq!(review_notifications(&app).await.len(), 1);
}

#[tokio::test]
async fn a_batch_skips_the_app_whose_profile_is_incomplete() {
    let (app, _clock) = spawn().await;
    let sim = &app.local.sim;
    let complete = app.mini_program("Shop");
    sim.authorize(&complete, &[17, 18]).await.unwrap();
    let blank = blank_app(&app).await;
    commit(&app, &complete).await;
    commit(&app, &blank).await;
    let (s, v) = app
        .post_batch(
            "submit-profile",
            &json!({ "action": "submit_audit", "appids": [complete, blank], "params": { "item_list": [{ "address": "pages/index/index", "tag": "shop", "title": "Home" }] } }),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    assert_eq!(done["counts"]["ok"], 1, "{done}");
    assert_eq!(done["counts"]["skipped"], 1, "{done}");
    let skipped = done["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["state"] == "skipped")
        .unwrap();
    assert_eq!(skipped["appid"], blank.as_str(), "{done}");
    assert_eq!(skipped["detail"]["error"], "profile_incomplete");
    assert_eq!(skipped["detail"]["missing"][0], "name");
    assert_eq!(sim.calls(SUBMIT), 1, "only the complete app was submitted");
}

#[tokio::test]
async fn a_lost_setnickname_answer_is_settled_and_never_sent_twice() {
    let (app, _clock) = spawn().await;
    let sim = &app.local.sim;
    let appid = blank_app(&app).await;
    // Set at once (no keyword), its answer lost: the basic information shows the name.
    sim.set_fault(Fault {
        endpoint: Some(SET_NICKNAME.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    let (s, v) = put_profile(&app, &appid, json!({ "name": "模拟小店" })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "set");
    assert_eq!(v["reconciled"], json!(["name"]));
    assert_eq!(sim.calls(SET_NICKNAME), 1, "never sent twice");
    assert_eq!(profile(&app, &appid).await["in_doubt"], json!([]));

    // Sent to review, its answer lost: the change counter shows it was taken.
    sim.set_fault(Fault {
        endpoint: Some(SET_NICKNAME.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    let (s, v) = put_profile(
        &app,
        &appid,
        json!({ "name": "腾讯小店", "name_license": png() }),
    )
    .await;
    assert_eq!((s, v["name"].as_str()), (200, Some("checking")), "{v}");
    assert_eq!(sim.calls(SET_NICKNAME), 2);
    let p = profile(&app, &appid).await;
    assert_eq!(p["name_review"]["status"], "checking", "{p}");
    assert!(p["name_review"]["audit_id"].is_null());
    // The push names the name: the review recorded without its audit_id is settled by it.
    sim.decide_nickname(&appid, true, "").await.unwrap();
    let p = profile(&app, &appid).await;
    assert_eq!(p["name_review"]["status"], "approved", "{p}");
    assert_eq!(p["name"]["value"], "腾讯小店");
}

#[tokio::test]
async fn a_lost_answer_whose_read_fails_too_stays_in_doubt() {
    let (app, _clock) = spawn().await;
    let sim = &app.local.sim;
    let appid = blank_app(&app).await;
    sim.set_fault(Fault {
        endpoint: Some(SET_NICKNAME.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    sim.set_fault(Fault {
        endpoint: Some(BASIC_INFO.into()),
        forced_errcode: Some((-1, "system error".into())),
        after: 1,
        ..Fault::default()
    });
    let (s, v) = put_profile(&app, &appid, json!({ "name": "模拟小店" })).await;
    assert_eq!(s, 504, "the outcome is unknown: {v}");
    // Asked again: refused while WeChat cannot be asked, never sent a second time.
    let (s, v) = put_profile(&app, &appid, json!({ "name": "模拟小店" })).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("profile_change_in_doubt")),
        "{v}"
    );
    assert_eq!(v["wechat_asked"], false);
    assert!(v["hint_zh"].as_str().is_some());
    assert_eq!(sim.calls(SET_NICKNAME), 1, "never sent twice");
    // WeChat answers again: the profile read settles it.
    sim.clear_faults();
    let p = profile(&app, &appid).await;
    assert_eq!(p["in_doubt"], json!([]), "{p}");
    assert_eq!(p["name"]["value"], "模拟小店");
    assert_eq!(sim.calls(SET_NICKNAME), 1);
}

#[tokio::test]
async fn bad_input_is_refused_field_by_field_and_wechat_is_not_asked() {
    let (app, _clock) = spawn().await;
    let sim = &app.local.sim;
    let appid = blank_app(&app).await;
    sim.reset_calls();
    let (s, v) = put_profile(
        &app,
        &appid,
        json!({
            "name": "x",
            "signature": "ab",
            "avatar": { "content_type": "text/plain", "data_base64": "aGk=" },
            "search": "hidden",
        }),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_profile")),
        "{v}"
    );
    let fields: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "signature", "avatar.content_type"], "{v}");
    assert!(v["fields"][0]["zh"].as_str().unwrap().contains("名称"));
    let (s, v) = put_profile(&app, &appid, json!({})).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_profile")),
        "{v}"
    );
    let (s, v) = put_profile(&app, &appid, json!({ "nickname": "模拟小店" })).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_body")), "{v}");
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/categories"),
            Some(json!({ "first": 0, "second": 39, "certificates": [{ "key": "", "content_type": "image/png", "data_base64": "%%" }] })),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_profile")),
        "{v}"
    );
    assert_eq!(v["fields"].as_array().unwrap().len(), 3, "{v}");
    assert!(
        sim.all_calls().is_empty(),
        "WeChat never asked: {:?}",
        sim.all_calls()
    );
    for path in [SET_NICKNAME, HEAD_IMAGE, SIGNATURE, ADD_CATEGORY] {
        assert_eq!(sim.calls(path), 0);
    }
}
