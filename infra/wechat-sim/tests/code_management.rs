//! The code-management state machine: commit, audit, pushes, release, revert, gray release, etc.

mod common;

use common::*;
use serde_json::{json, Value};
use wechat_sim::AuditOutcome;
use wxopen::domain::AppId;
use wxopen::events::AuthorizerEvent;

struct App {
    env: Env,
    appid: AppId,
    token: String,
}

impl App {
    async fn start() -> App {
        Self::start_env(Env::start().await).await
    }
    async fn start_env(env: Env) -> App {
        env.sim
            .add_template_with_pages(7, "1.0.0", &["pages/index/index", "pages/a", "pages/b"]);
        let ctoken = env.component_token().await;
        let (appid, token, _) = env.authorized_app(&ctoken, &[17, 18]).await;
        App { env, appid, token }
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        self.env.post(path, Some(&self.token), body).await
    }
    async fn post_raw(&self, path: &str, body: &str) -> Value {
        self.env
            .post_raw(path, Some(&self.token), body.to_owned())
            .await
    }
    async fn get(&self, path: &str) -> Value {
        self.env.get(path, Some(&self.token)).await
    }
    async fn commit(&self, version: &str) -> Value {
        self.post(
            "/wxa/commit",
            json!({"template_id": 7, "ext_json": "{\"extAppid\":\"wx1\",\"ext\":{},\"pages\":[\"pages/a\",\"pages/b\"]}", "user_version": version, "user_desc": "desc"}),
        )
        .await
    }
    async fn submit(&self) -> Value {
        self.post(
            "/wxa/submit_audit",
            json!({"item_list": [{"address": "pages/a", "tag": "工具", "first_class": "工具", "second_class": "备忘录", "first_id": 1, "second_id": 2, "title": "首页"}]}),
        )
        .await
    }
    async fn approved_release(&self, version: &str) {
        assert_eq!(errcode(&self.commit(version).await), 0);
        assert_eq!(errcode(&self.submit().await), 0);
        self.env
            .sim
            .decide_audit(&self.appid, AuditOutcome::Success)
            .await
            .unwrap();
        assert_eq!(errcode(&self.post_raw("/wxa/release", "{}").await), 0);
    }
}

#[tokio::test]
async fn the_whole_code_lifecycle_commit_audit_release_revert() {
    let app = App::start().await;
    assert_eq!(errcode(&app.get("/wxa/get_page").await), 86001);
    // submit_audit.html: 85086 before any commit; get_latest_auditstatus: 85058 before any audit.
    assert_eq!(errcode(&app.submit().await), 85086);
    assert_eq!(
        errcode(&app.get("/wxa/get_latest_auditstatus").await),
        85058
    );
    let v = app
        .post(
            "/wxa/commit",
            json!({"template_id": 99, "user_version": "v1", "user_desc": "d"}),
        )
        .await;
    assert_eq!(errcode(&v), 85014);
    assert_eq!(errcode(&app.commit("v1").await), 0);
    let v = app.get("/wxa/get_page").await;
    assert_eq!(v["page_list"], json!(["pages/a", "pages/b"]));
    let v = app.get("/wxa/get_category").await;
    assert_eq!(v["category_list"][0]["first_class"], "工具");
    assert_eq!(v["category_list"][0]["second_id"], 2);

    let v = app.submit().await;
    assert_eq!(errcode(&v), 0);
    let auditid = v["auditid"].as_u64().unwrap();
    assert_eq!(errcode(&app.submit().await), 85009);
    let v = app
        .post("/wxa/get_auditstatus", json!({"auditid": auditid}))
        .await;
    assert_eq!(v["status"], 2);
    assert_eq!(
        errcode(
            &app.post("/wxa/get_auditstatus", json!({"auditid": 1}))
                .await
        ),
        85012
    );
    assert_eq!(errcode(&app.post_raw("/wxa/release", "{}").await), 85019);

    app.env
        .sim
        .decide_audit(&app.appid, AuditOutcome::Success)
        .await
        .unwrap();
    let events = app.env.app_events(&app.appid);
    match &events[..] {
        [AuthorizerEvent::AuditSuccess { header, succ_time }] => {
            assert_eq!(*succ_time, T0);
            assert_eq!(
                header.to_user_name,
                app.env.sim.account(&app.appid).unwrap().user_name
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let v = app
        .post("/wxa/get_auditstatus", json!({"auditid": auditid}))
        .await;
    assert_eq!(v["status"], 0);

    assert_eq!(errcode(&app.post_raw("/wxa/release", "").await), 44002);
    assert_eq!(errcode(&app.post_raw("/wxa/release", "{}").await), 0);
    // Released already: "app is already released".
    assert_eq!(errcode(&app.post_raw("/wxa/release", "{}").await), 85052);

    // Nothing to go back to yet: 87012 (87011 is "a gray release is running").
    assert_eq!(errcode(&app.get("/wxa/revertcoderelease").await), 87012);
    app.approved_release("v2").await;
    let v = app
        .get("/wxa/revertcoderelease?action=get_history_version")
        .await;
    assert_eq!(errcode(&v), 0);
    let list = v["version_list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["user_version"], "v1");
    assert_eq!(list[0]["user_desc"], "desc");
    assert!(list[0]["app_version"].is_number());
    assert!(list[0]["commit_time"].is_number());
    assert_eq!(errcode(&app.get("/wxa/revertcoderelease").await), 0);
    let acc = app.env.sim.account(&app.appid).unwrap();
    assert_eq!(acc.code.online.unwrap().user_version, "v1");
    // After a revert: no second revert, and no history offered, until the next release.
    assert_eq!(errcode(&app.get("/wxa/revertcoderelease").await), 87012);
    let v = app
        .get("/wxa/revertcoderelease?action=get_history_version")
        .await;
    assert_eq!(v["version_list"], json!([]));
    app.approved_release("v3").await;
    let v = app
        .get("/wxa/revertcoderelease?action=get_history_version")
        .await;
    assert!(!v["version_list"].as_array().unwrap().is_empty());
    assert_eq!(errcode(&app.get("/wxa/revertcoderelease").await), 0);
}

#[tokio::test]
async fn the_history_keeps_the_last_five_versions() {
    let app = App::start().await;
    for i in 1..=8 {
        app.approved_release(&format!("v{i}")).await;
    }
    let v = app
        .get("/wxa/revertcoderelease?action=get_history_version")
        .await;
    let list = v["version_list"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert_eq!(list[0]["user_version"], "v7");
    let app_version = list[2]["app_version"].as_u64().unwrap();
    let v = app
        .get(&format!("/wxa/revertcoderelease?app_version={app_version}"))
        .await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(
        errcode(&app.get("/wxa/revertcoderelease?app_version=9999").await),
        87012
    );
}

#[tokio::test]
async fn a_rejected_audit_pushes_weapp_audit_fail_and_cannot_be_released() {
    let app = App::start().await;
    app.commit("v1").await;
    let auditid = app.submit().await["auditid"].as_u64().unwrap();
    app.env
        .sim
        .decide_audit(
            &app.appid,
            AuditOutcome::Fail {
                reason: "1:账号信息不符合规范:<br>(1):包含色情因素".into(),
                screenshots: vec!["xxx".into(), "yyy".into()],
            },
        )
        .await
        .unwrap();
    match app.env.app_events(&app.appid).pop() {
        Some(AuthorizerEvent::AuditFail {
            reason,
            fail_time,
            screenshots,
            ..
        }) => {
            assert!(reason.contains("<br>"));
            assert_eq!(fail_time, T0);
            assert_eq!(screenshots, vec!["xxx", "yyy"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let v = app
        .post("/wxa/get_auditstatus", json!({"auditid": auditid}))
        .await;
    assert_eq!(v["status"], 1);
    assert_eq!(v["screenshot"], "xxx|yyy");
    assert!(v["reason"].as_str().unwrap().contains("色情"));
    let v = app.get("/wxa/get_latest_auditstatus").await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(v["auditid"], auditid);
    assert_eq!(v["status"], 1);
    assert_eq!(v["ScreenShot"], "xxx|yyy");
    assert!(v.get("screenshot").is_none());
    assert_eq!(v["user_version"], "v1");
    assert_eq!(v["user_desc"], "desc");
    assert_eq!(v["submit_audit_time"], T0);
    assert_eq!(errcode(&app.post_raw("/wxa/release", "{}").await), 85020);
    // A rejected audit no longer blocks a new submission.
    assert_eq!(errcode(&app.submit().await), 0);
}

#[tokio::test]
async fn a_delayed_audit_stays_pending_and_a_final_decision_follows() {
    let app = App::start().await;
    app.commit("v1").await;
    let auditid = app.submit().await["auditid"].as_u64().unwrap();
    let v: Value = app
        .env
        .http
        .post(
            app.env
                .url(&format!("/_sim/accounts/{}/audit/decide", app.appid)),
        )
        .body(r#"{"outcome":"delay","reason":"审核延后"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({}));
    assert!(matches!(
        app.env.app_events(&app.appid).pop(),
        Some(AuthorizerEvent::AuditDelay { .. })
    ));
    assert_eq!(
        app.post("/wxa/get_auditstatus", json!({"auditid": auditid}))
            .await["status"],
        4
    );
    assert_eq!(errcode(&app.submit().await), 85009);
    app.env
        .sim
        .decide_audit(&app.appid, AuditOutcome::Success)
        .await
        .unwrap();
    assert!(matches!(
        app.env.app_events(&app.appid).pop(),
        Some(AuthorizerEvent::AuditSuccess { .. })
    ));
}

#[tokio::test]
async fn audits_are_approved_automatically_after_the_configured_sim_time() {
    let env = Env::start_with(|c| {
        c.audit_auto_approve_after = Some(std::time::Duration::from_secs(3600))
    })
    .await;
    let app = App::start_env(env).await;
    app.commit("v1").await;
    let auditid = app.submit().await["auditid"].as_u64().unwrap();
    app.env.clock.advance(3599);
    assert_eq!(
        app.post("/wxa/get_auditstatus", json!({"auditid": auditid}))
            .await["status"],
        2
    );
    app.env.clock.advance(1);
    assert_eq!(
        app.post("/wxa/get_auditstatus", json!({"auditid": auditid}))
            .await["status"],
        0
    );
    assert!(matches!(
        app.env.app_events(&app.appid).pop(),
        Some(AuthorizerEvent::AuditSuccess { .. })
    ));
}

#[tokio::test]
async fn undocodeaudit_works_only_while_auditing_and_five_times_a_day() {
    let app = App::start().await;
    app.commit("v1").await;
    assert_eq!(errcode(&app.get("/wxa/undocodeaudit").await), 87012);
    for _ in 0..5 {
        assert_eq!(errcode(&app.submit().await), 0);
        assert_eq!(errcode(&app.get("/wxa/undocodeaudit").await), 0);
    }
    assert_eq!(app.get("/wxa/get_latest_auditstatus").await["status"], 3);
    assert_eq!(errcode(&app.submit().await), 0);
    assert_eq!(errcode(&app.get("/wxa/undocodeaudit").await), 87013);
}

#[tokio::test]
async fn speedupaudit_needs_a_pending_audit_and_works_once() {
    let app = App::start().await;
    app.commit("v1").await;
    let auditid = app.submit().await["auditid"].as_u64().unwrap();
    assert_eq!(
        errcode(
            &app.post("/wxa/speedupaudit", json!({"auditid": auditid}))
                .await
        ),
        0
    );
    assert_eq!(
        errcode(
            &app.post("/wxa/speedupaudit", json!({"auditid": auditid}))
                .await
        ),
        89404
    );
    app.env
        .sim
        .decide_audit(&app.appid, AuditOutcome::Success)
        .await
        .unwrap();
    assert_eq!(
        errcode(
            &app.post("/wxa/speedupaudit", json!({"auditid": auditid}))
                .await
        ),
        89402
    );
    let q = app.get("/wxa/queryquota").await;
    assert_eq!(
        q["speedup_rest"].as_u64().unwrap() + 1,
        q["speedup_limit"].as_u64().unwrap()
    );
    assert_eq!(
        q["rest"].as_u64().unwrap() + 1,
        q["limit"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn gray_release_checks_percentages_85081_and_85082() {
    let app = App::start().await;
    app.commit("v1").await;
    app.submit().await;
    app.env
        .sim
        .decide_audit(&app.appid, AuditOutcome::Success)
        .await
        .unwrap();
    let gray = |p: Value| app.post("/wxa/grayrelease", json!({"gray_percentage": p}));
    assert_eq!(errcode(&gray(json!(10)).await), 85079);
    app.post_raw("/wxa/release", "{}").await;
    assert_eq!(errcode(&gray(json!(10)).await), 85080);
    app.commit("v2").await;
    app.submit().await;
    app.env
        .sim
        .decide_audit(&app.appid, AuditOutcome::Success)
        .await
        .unwrap();
    assert_eq!(errcode(&gray(json!(101)).await), 85081);
    assert_eq!(errcode(&gray(json!(2.5)).await), 85081);
    assert_eq!(errcode(&gray(json!(0)).await), 85081);
    assert_eq!(errcode(&gray(json!(10)).await), 0);
    assert_eq!(errcode(&gray(json!(10)).await), 85082);
    assert_eq!(errcode(&gray(json!(5)).await), 85082);
    assert_eq!(errcode(&gray(json!(30)).await), 0);
    let v = app.get("/wxa/getgrayreleaseplan").await;
    let plan = &v["gray_release_plan"];
    assert_eq!(plan["status"], 1);
    assert_eq!(plan["gray_percentage"], 30);
    assert_eq!(plan["create_timestamp"], T0);
    assert!(plan["support_experiencer_first"].is_boolean());
    assert!(plan["support_debuger_first"].is_boolean());
    assert_eq!(errcode(&app.get("/wxa/revertgrayrelease").await), 0);
    assert_eq!(
        app.get("/wxa/getgrayreleaseplan").await["gray_release_plan"]["status"],
        4
    );
    assert_eq!(errcode(&gray(json!(5)).await), 0);
}

#[tokio::test]
async fn get_qrcode_returns_a_real_jpeg_and_errors_as_json() {
    let app = App::start().await;
    let url = |path: &str| {
        format!(
            "{}&path={path}",
            app.env
                .url(&format!("/wxa/get_qrcode?access_token={}", app.token))
        )
    };
    let resp = app.env.http.get(url("pages%2Findex")).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(errcode(&resp.json().await.unwrap()), 86001);
    app.commit("v1").await;
    let resp = app
        .env
        .http
        .get(url("pages%2Findex%3Fa%3D1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // get_qrcode.html: the image is answered as image/jpeg.
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let jpeg = resp.bytes().await.unwrap();
    assert_eq!(&jpeg[..3], &[0xff, 0xd8, 0xff], "SOI");
    assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9], "EOI");
}

#[tokio::test]
async fn visit_status_round_trips_and_getvisitstatus_needs_an_empty_object() {
    let app = App::start().await;
    assert_eq!(
        errcode(&app.post_raw("/wxa/getvisitstatus", "").await),
        44002
    );
    assert_eq!(
        errcode(&app.post_raw("/wxa/getvisitstatus", r#"{"a":1}"#).await),
        44002
    );
    assert_eq!(app.post_raw("/wxa/getvisitstatus", "{}").await["status"], 1);
    assert_eq!(
        errcode(
            &app.post("/wxa/change_visitstatus", json!({"action": "close"}))
                .await
        ),
        0
    );
    assert_eq!(app.post_raw("/wxa/getvisitstatus", "{}").await["status"], 0);
    assert_eq!(
        errcode(
            &app.post("/wxa/change_visitstatus", json!({"action": "shut"}))
                .await
        ),
        47001
    );
}

#[tokio::test]
async fn modify_domain_and_setwebviewdomain_echo_the_lists() {
    let app = App::start().await;
    let v = app
        .post("/wxa/modify_domain", json!({"action": "add", "requestdomain": ["https://a.com"], "wsrequestdomain": ["wss://a.com"], "uploaddomain": [], "downloaddomain": [], "udpdomain": [], "tcpdomain": []}))
        .await;
    assert_eq!(errcode(&v), 0);
    for k in [
        "requestdomain",
        "wsrequestdomain",
        "uploaddomain",
        "downloaddomain",
        "udpdomain",
        "tcpdomain",
    ] {
        assert!(v[k].is_array(), "{k}");
    }
    let v = app
        .post(
            "/wxa/modify_domain",
            json!({"action": "add", "requestdomain": ["https://b.com"]}),
        )
        .await;
    assert_eq!(
        v["requestdomain"],
        json!(["https://a.com", "https://b.com"])
    );
    let v = app
        .post(
            "/wxa/modify_domain",
            json!({"action": "delete", "requestdomain": ["https://a.com"]}),
        )
        .await;
    assert_eq!(v["requestdomain"], json!(["https://b.com"]));
    let v = app
        .post("/wxa/modify_domain", json!({"action": "get"}))
        .await;
    assert_eq!(v["wsrequestdomain"], json!(["wss://a.com"]));
    app.env.sim.set_platform_webview_domains(&["qq.com"]);
    let v = app
        .post(
            "/wxa/setwebviewdomain",
            json!({"action": "set", "webviewdomain": ["https://www.qq.com"]}),
        )
        .await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(v["webviewdomain"], json!(["https://www.qq.com"]));
    assert_eq!(
        errcode(
            &app.post("/wxa/modify_domain", json!({"action": "nope"}))
                .await
        ),
        47001
    );
}

#[tokio::test]
async fn code_management_needs_permission_set_18() {
    let env = Env::start().await;
    env.sim.add_template(7, "1.0.0");
    let ctoken = env.component_token().await;
    let (_, token, _) = env.authorized_app(&ctoken, &[17]).await;
    let v = env
        .post(
            "/wxa/commit",
            Some(&token),
            json!({"template_id": 7, "user_version": "v1"}),
        )
        .await;
    // 61007: the component is not authorized for this API (permission set 18 not granted).
    assert_eq!(errcode(&v), 61007);
}

#[tokio::test]
async fn the_template_library_lists_adds_and_deletes() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    env.sim.add_draft(3, "0.9.0");
    let v = env.get("/wxa/gettemplatedraftlist", Some(&ctoken)).await;
    assert_eq!(errcode(&v), 0);
    assert_eq!(v["draft_list"][0]["draft_id"], 3);
    assert_eq!(v["draft_list"][0]["user_version"], "0.9.0");
    assert_eq!(
        errcode(
            &env.post(
                "/wxa/addtotemplate",
                Some(&ctoken),
                json!({"draft_id": 4, "template_type": 0})
            )
            .await
        ),
        85064
    );
    assert_eq!(
        errcode(
            &env.post(
                "/wxa/addtotemplate",
                Some(&ctoken),
                json!({"draft_id": 3, "template_type": 0})
            )
            .await
        ),
        0
    );
    let v = env.get("/wxa/gettemplatelist", Some(&ctoken)).await;
    let t = &v["template_list"][0];
    for k in [
        "create_time",
        "user_version",
        "user_desc",
        "template_id",
        "template_type",
        "source_miniprogram_appid",
        "source_miniprogram",
        "developer",
        "category_list",
        "audit_scene",
        "audit_status",
        "reason",
    ] {
        assert!(t.get(k).is_some(), "{k} in {t}");
    }
    let id = t["template_id"].as_u64().unwrap();
    assert_eq!(
        env.get("/wxa/gettemplatelist?template_type=1", Some(&ctoken))
            .await["template_list"],
        json!([])
    );
    assert_eq!(
        errcode(
            &env.post(
                "/wxa/deletetemplate",
                Some(&ctoken),
                json!({"template_id": id})
            )
            .await
        ),
        0
    );
    assert_eq!(
        errcode(
            &env.post(
                "/wxa/deletetemplate",
                Some(&ctoken),
                json!({"template_id": id})
            )
            .await
        ),
        85064
    );
}

/// submit_audit.html: at most 5 `item_list` entries, else 85023 "item size is not in valid range"
/// (and nothing is submitted: a valid submission goes through afterwards).
#[tokio::test]
async fn more_than_five_audit_items_are_85023() {
    let app = App::start().await;
    assert_eq!(errcode(&app.commit("v1").await), 0);
    let item = json!({"address": "pages/a", "tag": "工具", "first_class": "工具", "second_class": "备忘录", "first_id": 1, "second_id": 2, "title": "首页"});
    let six = json!({ "item_list": vec![item; 6] });
    assert_eq!(errcode(&app.post("/wxa/submit_audit", six).await), 85023);
    assert_eq!(errcode(&app.submit().await), 0);
}

/// Moves the simulator's clock to the first day of the next month (Beijing time), 10:00.
fn to_next_month_start(sim: &wechat_sim::Simulator) {
    let month = wechat_sim::month_of(sim.now());
    while wechat_sim::month_of(sim.now()) == month {
        sim.advance_clock(86_400);
    }
    // Now within the month's first day: set the time of day to 10:00 Beijing (02:00 UTC).
    let into_day = (sim.now() + 8 * 3600).rem_euclid(86_400);
    sim.advance_clock(10 * 3600 - into_day);
}

/// A fresh authorizer token after the clock moved past the old one's 7200 s.
async fn retoken(app: &mut App, refresh: &str) {
    let ctoken = app.env.component_token().await;
    let v = app
        .env
        .post(
            "/cgi-bin/component/api_authorizer_token",
            Some(&ctoken),
            json!({"component_appid": app.env.appid(), "authorizer_appid": app.appid, "authorizer_refresh_token": refresh}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    app.token = v["authorizer_access_token"].as_str().unwrap().to_owned();
}

#[tokio::test]
async fn undocodeaudit_allows_ten_a_month_beside_five_a_day() {
    let env = Env::start().await;
    env.sim
        .add_template_with_pages(7, "1.0.0", &["pages/index/index", "pages/a", "pages/b"]);
    to_next_month_start(&env.sim);
    let ctoken = env.component_token().await;
    let (appid, token, refresh) = env.authorized_app(&ctoken, &[17, 18]).await;
    let mut app = App { env, appid, token };
    assert_eq!(errcode(&app.commit("v1").await), 0);
    for day in 0..3 {
        if day > 0 {
            app.env.sim.advance_clock(86_400);
            retoken(&mut app, &refresh).await;
        }
        for n in 0..5 {
            assert_eq!(errcode(&app.submit().await), 0);
            let want = if day == 2 { 87013 } else { 0 };
            assert_eq!(
                errcode(&app.get("/wxa/undocodeaudit").await),
                want,
                "day {day}, undo {n}"
            );
            if want != 0 {
                break;
            }
        }
    }
    // A new month, new chances.
    to_next_month_start(&app.env.sim);
    retoken(&mut app, &refresh).await;
    assert_eq!(errcode(&app.get("/wxa/undocodeaudit").await), 0);
}

#[tokio::test]
async fn commit_checks_ext_json_against_the_template_and_get_page_lists_its_pages() {
    let app = App::start().await;
    let commit = |ext: &str| {
        app.post(
            "/wxa/commit",
            json!({"template_id": 7, "ext_json": ext, "user_version": "v1", "user_desc": "d"}),
        )
    };
    // commit.html: 85048 "parse ext_json fail"; 85045 "some path in ext_json not exist".
    assert_eq!(errcode(&commit("{\"extAppid\":\"wx1\",}").await), 85048);
    assert_eq!(errcode(&commit("[1]").await), 85048);
    assert_eq!(
        errcode(&commit("{\"pages\":[\"pages/nope\"]}").await),
        85045
    );
    assert_eq!(
        errcode(&commit("{\"extPages\":{\"pages/nope\":{}}}").await),
        85045
    );
    assert_eq!(
        errcode(&commit("{\"tabBar\":{\"list\":[{\"pagePath\":\"/pages/nope\"}]}}").await),
        85045
    );
    assert_eq!(
        errcode(&app.get("/wxa/get_page").await),
        86001,
        "nothing committed"
    );
    // Leading slashes in tabBar paths name the same page.
    assert_eq!(
        errcode(&commit("{\"extAppid\":\"wx1\",\"tabBar\":{\"list\":[{\"pagePath\":\"/pages/a\"}]},\"extPages\":{\"pages/b\":{}}}").await),
        0
    );
    let v = app.get("/wxa/get_page").await;
    assert_eq!(
        v["page_list"],
        json!(["pages/index/index", "pages/a", "pages/b"]),
        "without ext_json pages, the template's"
    );
}

#[tokio::test]
async fn submitting_during_the_privacy_detection_after_a_commit_answers_61039() {
    let app = App::start().await;
    app.env
        .sim
        .set_privacy_detection(std::time::Duration::from_secs(120));
    let info = "/wxa/security/get_code_privacy_info";
    assert_eq!(errcode(&app.get(info).await), 86001, "nothing committed");
    assert_eq!(errcode(&app.commit("v1").await), 0);
    // api_getcodeprivacyinfo.html: 61039 until the detection is done.
    assert_eq!(errcode(&app.get(info).await), 61039);
    assert_eq!(errcode(&app.submit().await), 61039);
    app.env.clock.advance(120);
    let v = app.get(info).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["without_conf_list"], json!([]));
    assert_eq!(errcode(&app.submit().await), 0);
}

#[tokio::test]
async fn a_daily_quota_is_counted_per_api_per_account() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let (_, token_a, _) = env.authorized_app(&ctoken, &[17, 18]).await;
    let (_, token_b, _) = env.authorized_app(&ctoken, &[17, 18]).await;
    env.sim.set_daily_quota("/wxa/get_category", 1);
    assert_eq!(
        errcode(&env.get("/wxa/get_category", Some(&token_a)).await),
        0
    );
    assert_eq!(
        errcode(&env.get("/wxa/get_category", Some(&token_a)).await),
        45009
    );
    // Another mini program has its own count, and another API of the first its own.
    assert_eq!(
        errcode(&env.get("/wxa/get_category", Some(&token_b)).await),
        0
    );
    assert_eq!(
        errcode(&env.get("/wxa/get_page", Some(&token_a)).await),
        86001
    );
}

#[tokio::test]
async fn setwebviewdomain_gives_only_the_platforms_domains_and_all_of_them_without_an_action() {
    let app = App::start().await;
    let set = |body: Value| app.post("/wxa/setwebviewdomain", body);
    // api_modifyjumpdomain.html: the platform must have registered the domain first: 89021.
    let v = set(json!({"action": "add", "webviewdomain": ["https://h5.shop.com"]})).await;
    assert_eq!(errcode(&v), 89021);
    let ctoken = app.env.component_token().await;
    let v = app
        .env
        .post(
            "/cgi-bin/component/modify_wxa_jump_domain",
            Some(&ctoken),
            json!({"action": "set", "wxa_jump_h5_domain": "shop.com;cdn.example.org"}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["testing_wxa_jump_h5_domain"], "shop.com;cdn.example.org");
    // A subdomain of a registered domain is allowed; http, a port or a path are not.
    assert_eq!(
        errcode(&set(json!({"action": "add", "webviewdomain": ["https://h5.shop.com"]})).await),
        0
    );
    for bad in [
        "http://shop.com",
        "https://shop.com:8443",
        "https://notshop.com",
        "https://shop.com/x",
    ] {
        assert_eq!(
            errcode(&set(json!({"action": "add", "webviewdomain": [bad]})).await),
            89021,
            "{bad}"
        );
    }
    // Without an action: every platform domain added.
    let v = set(json!({})).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(
        v["webviewdomain"],
        json!([
            "https://h5.shop.com",
            "https://shop.com",
            "https://cdn.example.org"
        ])
    );
}

#[tokio::test]
async fn code_using_undeclared_privacy_interfaces_is_refused_with_61040() {
    let app = App::start().await;
    app.env
        .sim
        .set_template_private_apis(7, &["wx.getLocation", "wx.chooseAddress"]);
    let commit = |ext: &str| {
        app.post(
            "/wxa/commit",
            json!({"template_id": 7, "ext_json": ext, "user_version": "v1", "user_desc": "d"}),
        )
    };
    assert_eq!(
        errcode(&commit("{\"requiredPrivateInfos\":[\"chooseAddress\"]}").await),
        0
    );
    let info = app.get("/wxa/security/get_code_privacy_info").await;
    assert_eq!(
        info["without_conf_list"],
        json!(["wx.getLocation"]),
        "{info}"
    );
    let v = app.submit().await;
    assert_eq!(errcode(&v), 61040);
    assert!(
        v["errmsg"].as_str().unwrap().contains("wx.getLocation"),
        "{v}"
    );
    // Declared: nothing missing, and the submission goes through.
    assert_eq!(
        errcode(&commit("{\"requiredPrivateInfos\":[\"chooseAddress\",\"getLocation\"]}").await),
        0
    );
    let info = app.get("/wxa/security/get_code_privacy_info").await;
    assert_eq!(info["without_conf_list"], json!([]));
    assert_eq!(errcode(&app.submit().await), 0);
}

#[tokio::test]
async fn privacy_api_not_use_lets_undeclared_interfaces_through() {
    let app = App::start().await;
    app.env
        .sim
        .set_template_private_apis(7, &["wx.getLocation"]);
    assert_eq!(errcode(&app.commit("v1").await), 0);
    let v = app
        .post(
            "/wxa/submit_audit",
            json!({"item_list": [], "privacy_api_not_use": true}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
}
