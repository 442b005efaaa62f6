//! Filing on the merchant's behalf, through wxopen against the simulator's filing process on
//! simulated time: an approved version refused release while not filed, media and the face
//! check, the application checked before WeChat sees it (field errors in both languages, no
//! apply), applied, platform review, administration review with the SMS check, rejected with
//! reasons, resubmitted, filed, released; a lost apply answer settled from the filing status and
//! never applied twice, also when the read after it fails; withdrawal; verification + filing in
//! one.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use support::{spawn_app_with, App};
use wechat_sim::{
    AuditOutcome, AuthDecision, Fault, IcpDecision, IcpReason, IcpTiming, SmsOutcome,
};
use wxopen::domain::{AppId, Clock, ManualClock, SystemClock};

const APPLY: &str = "/wxa/icp/apply_icp_filing";
const RELEASE: &str = "/wxa/release";
const CANCEL: &str = "/wxa/icp/cancel_apply_icp_filing";
const ENTRANCE: &str = "/wxa/icp/get_icp_entrance_info";
const SUBJECT_TYPES: &str = "/wxa/icp/query_icp_subject_types";
const SUBMIT_AUTH: &str = "/wxa/sec/submit_auth_and_icp";

const PLATFORM_REVIEW_SECS: i64 = 2 * 86_400;
const ADMINISTRATION_REVIEW_SECS: i64 = 5 * 86_400;

async fn spawn() -> (App, ManualClock) {
    let clock = ManualClock::new(SystemClock.now());
    // Its mini programs start not filed (wxopen-local's start filed, so releases go ahead).
    let app = spawn_app_with(|c| {
        c.clock = Arc::new(clock.clone());
        c.adjust_sim = Box::new(|sim| sim.icp_apps_filed = false);
    })
    .await;
    app.local.sim.set_icp_timing(IcpTiming {
        platform_review_secs: Some(PLATFORM_REVIEW_SECS),
        administration_review_secs: Some(ADMINISTRATION_REVIEW_SECS),
        sms_timeout_secs: None,
    });
    (app, clock)
}

/// Moves simulated time on and lets the simulator's filing process take its due steps.
/// WeChat keeps pushing tickets meanwhile (the one before would be stale).
async fn pass(app: &App, clock: &ManualClock, secs: i64) {
    clock.advance(secs);
    app.local.sim.push_ticket().await.unwrap();
    app.local.sim.run_icp_timers().await;
}

fn wechat_status(app: &App, appid: &AppId) -> i64 {
    app.local.sim.icp(appid).status
}

async fn upload(app: &App, appid: &AppId, field: &str, certificate_type: Option<i64>) -> String {
    let mut body = json!({
        "icp_order_field": field,
        "content_type": "image/jpeg",
        "filename": "photo.jpg",
        "data_base64": "/9j/4AAQSkZJRgABAQ==",
    });
    if let Some(t) = certificate_type {
        body["certificate_type"] = json!(t);
    }
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/filing/media"),
            Some(body),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["icp_order_field"], field);
    v["media_id"].as_str().unwrap().to_owned()
}

/// Every photo the application needs, uploaded through wxopen: (subject's certificate, front,
/// back).
async fn photos(app: &App, appid: &AppId) -> (String, String, String) {
    let licence = upload(
        app,
        appid,
        "icp_subject.organize_info.certificate_photo",
        Some(1),
    )
    .await;
    let front = upload(
        app,
        appid,
        "icp_subject.principal_info.certificate_photo_front",
        Some(2),
    )
    .await;
    let back = upload(
        app,
        appid,
        "icp_subject.principal_info.certificate_photo_back",
        Some(2),
    )
    .await;
    (licence, front, back)
}

/// Starts the face check, shows it waiting, has the responsible person pass it; its task_id.
async fn face_check(app: &App, appid: &AppId, along_with_auth: bool) -> String {
    let path = format!("/ops/apps/{appid}/filing/verify-task");
    let (s, v) = app
        .call(
            Method::POST,
            &path,
            Some(json!({ "along_with_auth": along_with_auth })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let task = v["task_id"].as_str().unwrap().to_owned();
    assert_eq!(v["verify_url"].is_string(), along_with_auth, "{v}");
    assert!(v["show_merchant"]["zh"].is_string(), "{v}");
    let (s, v) = app.get_json(&path).await;
    assert_eq!((s, &v["face_status"]), (200, &json!("not_started")), "{v}");
    app.local
        .sim
        .finish_face_check(appid, Some(&task), true)
        .await
        .unwrap();
    let (s, v) = app.get_json(&format!("{path}?task_id={task}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["face_status"], &v["is_finish"]),
        (&json!("succeeded"), &json!(true))
    );
    task
}

fn person(task: &str, (front, back): (&str, &str)) -> Value {
    json!({
        "name": "张三",
        "mobile": "13800138000",
        "email": "zhangsan@example.com",
        "emergency_contact": "13900139000",
        "certificate_type": 2,
        "certificate_number": "11010519491231002X",
        "certificate_validity_date_start": "2020-01-01",
        "certificate_validity_date_end": "长期",
        "certificate_photo_front": front,
        "certificate_photo_back": back,
        "verify_task_id": task,
    })
}

/// An application the simulator's reference tables and rules accept.
fn application(
    appid: &AppId,
    (licence, front, back): &(String, String, String),
    task: &str,
) -> Value {
    json!({
        "icp_subject": {
            "base_info": {
                "type": 4, "name": "北京某某科技有限公司",
                "province": "110000", "city": "110100", "district": "110105",
                "address": "高碑店路181号1栋12345室",
            },
            "organize_info": {
                "certificate_type": 1, "certificate_number": "91110105MA00000000",
                "certificate_address": "北京市朝阳区高碑店路181号", "certificate_photo": licence,
            },
            "principal_info": person("", (front, back)),
        },
        "icp_applets": {
            "base_info": { "appid": appid, "name": "某某小店", "service_content_types": [1] },
            "principal_info": person(task, (front, back)),
        },
    })
}

async fn apply(app: &App, appid: &AppId, body: &Value) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/ops/apps/{appid}/filing"),
        Some(body.clone()),
    )
    .await
}

/// An authorized app with its photos and a passed face check, and the application for it.
async fn release(app: &App, appid: &AppId) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/ops/apps/{appid}/release"),
        Some(json!({})),
    )
    .await
}

async fn ready(app: &App, name: &str) -> (AppId, Value) {
    let appid = app.authorized_app(name).await;
    let media = photos(app, &appid).await;
    let task = face_check(app, &appid, false).await;
    let body = application(&appid, &media, &task);
    (appid, body)
}

#[tokio::test]
async fn filed_on_the_merchants_behalf_through_both_reviews_a_rejection_and_a_resubmission() {
    let (app, clock) = spawn().await;
    let (appid, body) = ready(&app, "Filing story").await;
    assert_eq!(wechat_status(&app, &appid), 1024);
    // An approved version may not go live before the filing: WeChat is not asked to release.
    app.commit_and_submit(&appid, "1.0.0").await;
    app.local
        .sim
        .decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    let (s, v) = release(&app, &appid).await;
    assert_eq!(
        (s, &v["error"]),
        (409, &json!("icp_filing_required")),
        "{v}"
    );
    assert_eq!(app.local.sim.calls(RELEASE), 0);

    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        (&v["status"], &v["filing"]),
        (&json!("applied"), &json!("platform_review"))
    );
    assert_eq!(wechat_status(&app, &appid), 2);
    // In review: a second application is refused before WeChat is asked.
    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!((s, &v["error"]), (409, &json!("filing_in_review")), "{v}");
    assert_eq!(app.local.sim.calls(APPLY), 1);

    // The platform passes it; the administration asks the responsible person by SMS.
    pass(&app, &clock, PLATFORM_REVIEW_SECS).await;
    assert_eq!(wechat_status(&app, &appid), 4);
    app.local.sim.icp_sms(&appid, SmsOutcome::Done).unwrap();
    // The administration rejects a field, with its reason.
    let reasons = vec![IcpReason {
        key_name: "主体负责人电子邮件".into(),
        error: "邮箱无法接收邮件".into(),
        suggest: "请填写常用邮箱".into(),
    }];
    app.local
        .sim
        .decide_icp(&appid, IcpDecision::Reject { reasons })
        .await
        .unwrap();
    assert_eq!(wechat_status(&app, &appid), 5);
    let (s, v) = app
        .call(Method::DELETE, &format!("/ops/apps/{appid}/filing"), None)
        .await;
    assert_eq!((s, &v["error"]), (409, &json!("nothing_to_cancel")), "{v}");

    // Resubmitted with the field fixed: reviewed again, filed.
    let mut fixed = body.clone();
    fixed["icp_subject"]["principal_info"]["email"] = json!("zhangsan@example.net");
    let (s, v) = apply(&app, &appid, &fixed).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(wechat_status(&app, &appid), 2);
    pass(&app, &clock, PLATFORM_REVIEW_SECS).await;
    assert_eq!(wechat_status(&app, &appid), 4);
    app.local.sim.icp_sms(&appid, SmsOutcome::Done).unwrap();
    pass(&app, &clock, ADMINISTRATION_REVIEW_SECS).await;
    assert_eq!(wechat_status(&app, &appid), 6);
    assert_eq!(app.local.sim.icp(&appid).app.applications, 2);

    let (s, v) = apply(&app, &appid, &fixed).await;
    assert_eq!((s, &v["error"]), (409, &json!("already_filed")), "{v}");
    assert_eq!(app.local.sim.calls(APPLY), 2);
    // Filed: the approved version goes live.
    let (s, v) = release(&app, &appid).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(app.local.sim.calls(RELEASE), 1);
    // Each step is in the app's activity, with the operator.
    let (_, activity) = app.get_json(&format!("/ops/apps/{appid}/activity")).await;
    let actions: Vec<&str> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "apply_icp_filing").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "upload_icp_media").count(),
        3,
        "{actions:?}"
    );
    assert!(actions.contains(&"create_icp_verifytask"), "{actions:?}");
}

#[tokio::test]
async fn bad_filing_data_is_refused_field_by_field_in_both_languages_and_wechat_never_sees_it() {
    let (app, _clock) = spawn().await;
    let (appid, body) = ready(&app, "Bad data").await;
    let mut bad = body.clone();
    bad["icp_subject"]["base_info"]["district"] = json!("110199");
    bad["icp_subject"]["organize_info"]["certificate_type"] = json!(2);
    bad["icp_subject"]["organize_info"]["certificate_photo"] = json!("not-uploaded-through-wxopen");
    bad["icp_applets"]["principal_info"]["mobile"] = json!("2380013800");
    bad["icp_applets"]["principal_info"]["certificate_number"] = json!("110105194912310021");
    bad["icp_applets"]["base_info"]["service_content_types"] = json!([500]);
    bad["icp_applets"]["base_info"]["appid"] = json!("wx00000000000000ff");
    let (s, v) = apply(&app, &appid, &bad).await;
    assert_eq!((s, &v["error"]), (400, &json!("invalid_filing")), "{v}");
    let fields: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "icp_subject.base_info.district",
            "icp_subject.organize_info.certificate_type",
            "icp_subject.organize_info.certificate_photo",
            "icp_applets.principal_info.mobile",
            "icp_applets.principal_info.certificate_number",
            "icp_applets.base_info.appid",
            "icp_applets.base_info.service_content_types",
        ],
        "{v}"
    );
    for f in v["fields"].as_array().unwrap() {
        assert!(
            f["en"]
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.is_ascii()),
            "{f}"
        );
        assert!(
            f["zh"]
                .as_str()
                .is_some_and(|s| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))),
            "{f}"
        );
    }
    assert!(v["hint_zh"].is_string(), "{v}");

    // A field serde cannot read is a field error too; a face check not passed is one.
    let mut unread = body.clone();
    unread["icp_applets"]["base_info"]["service_content_types"] = json!("1");
    let (s, v) = apply(&app, &appid, &unread).await;
    assert_eq!((s, &v["error"]), (400, &json!("invalid_filing")), "{v}");
    assert_eq!(
        v["fields"][0]["field"], "icp_applets.base_info.service_content_types",
        "{v}"
    );
    let mut unchecked = body.clone();
    let path = format!("/ops/apps/{appid}/filing/verify-task");
    let (_, started) = app.call(Method::POST, &path, None).await;
    unchecked["icp_applets"]["principal_info"]["verify_task_id"] = started["task_id"].clone();
    let (s, v) = apply(&app, &appid, &unchecked).await;
    assert_eq!(
        (s, &v["fields"][0]["field"]),
        (400, &json!("icp_applets.principal_info.verify_task_id")),
        "{v}"
    );

    assert_eq!(
        app.local.sim.calls(APPLY),
        0,
        "WeChat never saw an application"
    );
    assert_eq!(app.local.sim.icp(&appid).app.applications, 0);
    // The reference tables were fetched once for the three checks.
    assert_eq!(app.local.sim.calls(SUBJECT_TYPES), 1);
    // The good data passes.
    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(app.local.sim.calls(SUBJECT_TYPES), 1);
}

/// The apply is taken by WeChat, its answer never arrives (once).
fn lose_apply_answer(app: &App) {
    app.local.sim.set_fault(Fault {
        endpoint: Some(APPLY.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
}

#[tokio::test]
async fn a_lost_apply_answer_is_settled_from_the_filing_status_and_never_applied_twice() {
    let (app, _clock) = spawn().await;
    let (appid, body) = ready(&app, "Lost answer").await;
    lose_apply_answer(&app);
    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        (&v["status"], &v["reconciled"]),
        (&json!("applied"), &json!(true)),
        "{v}"
    );
    assert_eq!(app.local.sim.icp(&appid).app.applications, 1);
    // Asked again: the filing is in review, nothing is sent.
    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!((s, &v["error"]), (409, &json!("filing_in_review")), "{v}");
    assert_eq!(app.local.sim.calls(APPLY), 1);
    assert_eq!(app.local.sim.icp(&appid).app.applications, 1);
}

#[tokio::test]
async fn a_lost_apply_answer_whose_recovery_read_failed_stays_in_doubt_until_wechat_tells() {
    let (app, _clock) = spawn().await;
    let (appid, body) = ready(&app, "Lost twice").await;
    lose_apply_answer(&app);
    // The read before the apply passes; every read after it fails (the daily quota).
    app.local.sim.set_fault(Fault {
        endpoint: Some(ENTRANCE.into()),
        forced_errcode: Some((45009, "reach max api daily quota limit".into())),
        after: 1,
        ..Fault::default()
    });
    let (s, v) = apply(&app, &appid, &body).await;
    assert!(s >= 500, "the operator hears the lost answer: {s} {v}");
    assert_eq!(
        app.local.sim.icp(&appid).app.applications,
        1,
        "WeChat took it"
    );
    // While WeChat cannot be asked, no second application.
    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!((s, &v["error"]), (409, &json!("filing_in_doubt")), "{v}");
    assert_eq!(v["wechat_asked"], false, "{v}");
    assert_eq!(app.local.sim.calls(APPLY), 1);
    // WeChat answers again: the filing status settles it as this application.
    app.local.sim.clear_faults();
    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["reconciled"], true, "{v}");
    assert_eq!(app.local.sim.calls(APPLY), 1);
    assert_eq!(app.local.sim.icp(&appid).app.applications, 1);
    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!((s, &v["error"]), (409, &json!("filing_in_review")), "{v}");
    assert_eq!(app.local.sim.calls(APPLY), 1);
}

#[tokio::test]
async fn an_application_is_withdrawn_only_while_the_platform_reviews_it() {
    let (app, clock) = spawn().await;
    let (appid, body) = ready(&app, "Cancel").await;
    let path = format!("/ops/apps/{appid}/filing");
    let (s, v) = app.call(Method::DELETE, &path, None).await;
    assert_eq!((s, &v["error"]), (409, &json!("nothing_to_cancel")), "{v}");
    assert!(v["hint_zh"].is_string() && v["hint"].is_string(), "{v}");
    assert_eq!(
        app.local.sim.calls(CANCEL),
        0,
        "refused before WeChat is asked"
    );

    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = app.call(Method::DELETE, &path, None).await;
    assert_eq!((s, &v["status"]), (200, &json!("cancelled")), "{v}");
    assert_eq!(wechat_status(&app, &appid), 1024);
    let (s, v) = app.call(Method::DELETE, &path, None).await;
    assert_eq!((s, &v["error"]), (409, &json!("nothing_to_cancel")), "{v}");

    // Applied again and passed on to the administration: too late to withdraw.
    let (s, v) = apply(&app, &appid, &body).await;
    assert_eq!(s, 202, "{v}");
    pass(&app, &clock, PLATFORM_REVIEW_SECS).await;
    let (s, v) = app.call(Method::DELETE, &path, None).await;
    assert_eq!((s, &v["error"]), (409, &json!("cancel_too_late")), "{v}");
    assert_eq!(app.local.sim.calls(CANCEL), 1);
    assert_eq!(wechat_status(&app, &appid), 4);
}

#[tokio::test]
async fn verification_and_filing_in_one_is_checked_submitted_and_followed() {
    let (app, _clock) = spawn().await;
    let appid = app.authorized_app("Auth and filing").await;
    let media = photos(&app, &appid).await;
    let task = face_check(&app, &appid, true).await;
    let mut body = application(&appid, &media, "");
    body["auth_data"] = json!({
        "customer_type": 1,
        "taskid": task,
        "contact_info": { "name": "张三", "email": "zhangsan@example.com" },
        "account_name": "某某小店",
        "account_name_type": 1,
        "pay_type": 2,
    });
    // Not verified yet (1028): a filing alone must wait for the verification; the combined flow
    // is for exactly this app.
    app.local.sim.set_icp_entrance(&appid, 1028, true);
    let (s, v) = apply(&app, &appid, &application(&appid, &media, &task)).await;
    assert_eq!((s, &v["error"]), (409, &json!("filing_not_ready")), "{v}");
    assert_eq!(v["missing"], json!(["verification (认证)"]), "{v}");
    let path = format!("/ops/apps/{appid}/auth-and-filing");
    let (s, v) = app.get_json(&path).await;
    assert_eq!((s, &v["error"]), (404, &json!("no_procedure")), "{v}");

    let mut bad = body.clone();
    bad["auth_data"]["pay_type"] = json!(3);
    let (s, v) = app.call(Method::POST, &path, Some(bad)).await;
    assert_eq!(
        (s, &v["fields"][0]["field"]),
        (400, &json!("auth_data.pay_type")),
        "{v}"
    );
    assert_eq!(app.local.sim.calls(SUBMIT_AUTH), 0);

    let (s, v) = app.call(Method::POST, &path, Some(body)).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["flow"], "auth_and_filing");
    assert!(
        v["procedure_id"].is_string() && v["pay_url"].is_string(),
        "{v}"
    );
    let (s, v) = app.get_json(&path).await;
    assert_eq!((s, &v["procedure"]), (200, &json!("other")), "{v}");
    app.local
        .sim
        .decide_auth(
            &appid,
            AuthDecision::Refill {
                reason: "营业执照不清晰".into(),
            },
        )
        .unwrap();
    let (s, v) = app.get_json(&path).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["procedure"], &v["wechat_status"]),
        (&json!("auth_refill"), &json!(18)),
        "{v}"
    );
    assert_eq!(v["refill_reason"], "营业执照不清晰");
}

/// A photo of up to 5 MB travels as base64 JSON (axum refuses bodies over 2 MB unless the
/// route raises its limit): 4 MB goes through; past 5 MB is refused before WeChat is asked,
/// and a body past the route's limit (here, or 2 MB elsewhere) is a JSON 413.
#[tokio::test]
async fn a_photo_of_up_to_five_megabytes_is_uploaded_and_a_larger_one_refused() {
    let (app, _clock) = spawn().await;
    let appid = app.authorized_app("Large photo").await;
    let photo = |bytes: usize| {
        // A JPEG header, then zero bytes: base64 "A" is six zero bits.
        format!("/9j/4AAQ{}", "A".repeat((bytes - 6) / 3 * 4))
    };
    let path = format!("/ops/apps/{appid}/filing/media");
    let body = |data: String| {
        json!({
            "icp_order_field": "icp_subject.organize_info.certificate_photo",
            "certificate_type": 1,
            "content_type": "image/jpeg",
            "filename": "photo.jpg",
            "data_base64": data,
        })
    };
    let (s, v) = app
        .call(Method::POST, &path, Some(body(photo(4 * 1024 * 1024))))
        .await;
    assert_eq!(s, 201, "{v}");
    let uploads = app.local.sim.calls("/wxa/icp/upload_icp_media");
    let (s, v) = app
        .call(
            Method::POST,
            &path,
            Some(body(photo(5 * 1024 * 1024 + 300))),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_filing")),
        "{v}"
    );
    let (s, v) = app
        .call(Method::POST, &path, Some(body(photo(7 * 1024 * 1024))))
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (413, Some("body_too_large")),
        "{v}"
    );
    assert_eq!(app.local.sim.calls("/wxa/icp/upload_icp_media"), uploads);
    let big = json!({ "padding": "x".repeat(3 * 1024 * 1024) });
    let commit = format!("/ops/apps/{appid}/commit");
    let (s, v) = app.call(Method::POST, &commit, Some(big.clone())).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (413, Some("body_too_large")),
        "{v}"
    );
    let clear = format!("/ops/apps/{appid}/quota/clear");
    let (s, v) = app.call(Method::POST, &clear, Some(big)).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (413, Some("body_too_large")),
        "{v}"
    );
}
