//! The operator API's per-app routes against the simulator: a mini program's whole code
//! lifecycle (commit, submit, the result pushed by WeChat, release, revert), the seed's two rules
//! checked before WeChat is called, the rejection path, a lost answer, bad input, and the key.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{commit_body, spawn_app, submit_body, App};
use wechat_sim::{AuditOutcome, Fault};
use wxopen::domain::AppId;

async fn release(app: &App, appid: &AppId) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/ops/apps/{appid}/release"),
        Some(json!({})),
    )
    .await
}

#[tokio::test]
async fn commit_submit_approval_push_release_with_both_rules_guarding_the_way() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Lifecycle").await;
    let sim = &app.local.sim;

    let auditid = app.commit_and_submit(&appid, "1.0.0").await;
    assert_eq!(sim.calls("/wxa/submit_audit"), 1);

    // Rule 1: no new audit while one is pending, answered before WeChat is called.
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/audits"),
            Some(submit_body()),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("audit_pending")),
        "{v}"
    );
    assert_eq!(v["auditid"].as_u64(), Some(auditid));
    assert_eq!(sim.calls("/wxa/submit_audit"), 1, "WeChat was not asked");

    // Rule 2: release only an approved version.
    sim.reset_calls();
    let (s, v) = release(&app, &appid).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("not_approved")), "{v}");
    assert_eq!(v["auditid"].as_u64(), Some(auditid));
    assert_eq!(sim.calls("/wxa/release"), 0);

    // WeChat approves; its push reaches ticket-push and the store.
    sim.decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    let (s, latest) = app
        .get_json(&format!("/ops/apps/{appid}/audits/latest"))
        .await;
    assert_eq!(
        (s, latest["status"].as_str()),
        (200, Some("approved")),
        "{latest}"
    );
    assert_eq!(latest["auditid"].as_u64(), Some(auditid));
    assert_eq!(latest["user_version"], "1.0.0");
    assert_eq!(latest["template_id"], 1);

    let (s, v) = release(&app, &appid).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("released")), "{v}");
    assert_eq!(v["user_version"], "1.0.0");
    assert_eq!(sim.calls("/wxa/release"), 1);
    let online = sim.account(&appid).unwrap();
    assert!(format!("{online:?}").contains("1.0.0"));

    // Released once: the rule refuses a second release without asking WeChat.
    let (s, v) = release(&app, &appid).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("not_approved")), "{v}");
    assert!(v["released_at"].as_i64().is_some(), "{v}");
    assert_eq!(sim.calls("/wxa/release"), 1);

    // The app view: online version from WeChat, the latest audit and commit from the store.
    let (s, show) = app.get_json(&format!("/ops/apps/{appid}")).await;
    assert_eq!(s, 200, "{show}");
    assert_eq!(
        show["versions"]["online"]["user_version"], "1.0.0",
        "{show}"
    );
    assert_eq!(show["latest_audit"]["auditid"].as_u64(), Some(auditid));
    assert_eq!(show["last_commit"]["template_id"], 1);
    assert_eq!(show["development_permission"], true);
    assert!(!show.to_string().contains("access_token\":\""), "{show}");

    // Every action recorded with the operator's key label, newest first.
    let (s, act) = app.get_json(&format!("/ops/apps/{appid}/activity")).await;
    assert_eq!(s, 200, "{act}");
    let items = act["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["release", "submit_audit", "commit"], "{act}");
    let label = format!(
        "key-{}",
        &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            support::OPERATOR_KEY
        ))[..8]
    );
    for a in items {
        assert_eq!(a["operator"], label.as_str(), "{a}");
        assert_eq!(a["user_version"], "1.0.0", "{a}");
        assert_eq!(a["template_id"], 1, "{a}");
        assert!(a["at"].as_i64().unwrap() > 0);
    }
    assert_eq!(items[1]["auditid"].as_u64(), Some(auditid));

    let (s, hist) = app.get_json(&format!("/ops/apps/{appid}/audits")).await;
    assert_eq!(s, 200);
    assert!(hist["items"][0]["released_at"].as_i64().is_some(), "{hist}");
}

#[tokio::test]
async fn a_rejection_shows_its_reason_and_screenshots_and_a_new_submission_is_allowed() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Rejected").await;
    let first = app.commit_and_submit(&appid, "2.0.0").await;
    app.local
        .sim
        .decide_audit(
            &appid,
            AuditOutcome::Fail {
                reason: "类目不符 category mismatch".into(),
                screenshots: vec!["media-1".into(), "media-2".into()],
            },
        )
        .await
        .unwrap();
    for path in [
        format!("/ops/apps/{appid}/audits/latest"),
        format!("/ops/apps/{appid}/audits/{first}"),
    ] {
        let (s, v) = app.get_json(&path).await;
        assert_eq!(
            (s, v["status"].as_str()),
            (200, Some("rejected")),
            "{path}: {v}"
        );
        assert_eq!(v["reason"], "类目不符 category mismatch");
        assert_eq!(v["screenshots"], json!(["media-1", "media-2"]));
    }
    let (s, v) = release(&app, &appid).await;
    assert_eq!(
        (s, v["error"].as_str(), v["status"].as_str()),
        (409, Some("not_approved"), Some("rejected"))
    );

    let second = app.commit_and_submit(&appid, "2.0.1").await;
    assert_ne!(first, second);
    let (_, hist) = app.get_json(&format!("/ops/apps/{appid}/audits")).await;
    let ids: Vec<u64> = hist["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["auditid"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [second, first]);

    // Undo the pending one; then nothing is pending to undo or speed up.
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/audits/latest/undo"),
            None,
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("withdrawn")), "{v}");
    for action in ["undo", "speedup"] {
        let (s, v) = app
            .call(
                Method::POST,
                &format!("/ops/apps/{appid}/audits/latest/{action}"),
                None,
            )
            .await;
        assert_eq!(
            (s, v["error"].as_str()),
            (409, Some("no_pending_audit")),
            "{action}: {v}"
        );
    }
}

async fn release_version(app: &App, appid: &AppId, version: &str) {
    app.commit_and_submit(appid, version).await;
    app.local
        .sim
        .decide_audit(appid, AuditOutcome::Success)
        .await
        .unwrap();
    let (s, v) = release(app, appid).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn revert_only_by_a_post_naming_the_version_or_asking_for_the_previous_one() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Revert").await;
    release_version(&app, &appid, "3.0.0").await;
    release_version(&app, &appid, "3.1.0").await;
    release_version(&app, &appid, "3.2.0").await;
    let sim = &app.local.sim;
    sim.reset_calls();

    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/versions")).await;
    assert_eq!(s, 200, "{v}");
    let versions = v["versions"].as_array().unwrap();
    let first = versions
        .iter()
        .find(|x| x["user_version"] == "3.0.0")
        .unwrap_or_else(|| panic!("3.0.0 in {v}"));
    let app_version = first["app_version"].as_u64().unwrap();
    assert_eq!(
        sim.calls("/wxa/revertcoderelease"),
        1,
        "the read only reads"
    );

    // Neither or both: refused before WeChat.
    for body in [
        json!({}),
        json!({ "app_version": app_version, "previous": true }),
        json!({ "app_version": "x" }),
    ] {
        let (s, v) = app
            .call(
                Method::POST,
                &format!("/ops/apps/{appid}/revert"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 400, "{body}: {v}");
    }
    // No read rolls anything back.
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/revert")).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (405, Some("method_not_allowed")),
        "{v}"
    );
    assert_eq!(sim.calls("/wxa/revertcoderelease"), 1);

    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/revert"),
            Some(json!({ "app_version": app_version })),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("reverted")), "{v}");
    let (_, show) = app.get_json(&format!("/ops/apps/{appid}")).await;
    assert_eq!(
        show["versions"]["online"]["user_version"], "3.0.0",
        "{show}"
    );

    // Two reverts in a row: WeChat refuses (87012) and the operator sees why.
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/revert"),
            Some(json!({ "previous": true })),
        )
        .await;
    assert_eq!((s, v["errcode"].as_i64()), (422, Some(87012)), "{v}");

    // After a new release, the previous version without naming it.
    release_version(&app, &appid, "3.3.0").await;
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/revert"),
            Some(json!({ "previous": true })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, show) = app.get_json(&format!("/ops/apps/{appid}")).await;
    assert_ne!(
        show["versions"]["online"]["user_version"], "3.3.0",
        "{show}"
    );
}

#[tokio::test]
async fn a_submission_whose_answer_is_lost_still_answers_its_auditid_and_is_not_repeated() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Lost").await;
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/commit"),
            Some(commit_body("4.0.0")),
        )
        .await;
    assert_eq!(s, 200);
    let sim = &app.local.sim;
    sim.set_fault(Fault {
        endpoint: Some("/wxa/submit_audit".into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/audits"),
            Some(submit_body()),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(sim.calls("/wxa/submit_audit"), 1, "never repeated");
    let (_, latest) = app
        .get_json(&format!("/ops/apps/{appid}/audits/latest"))
        .await;
    assert_eq!(
        latest["auditid"], v["auditid"],
        "the auditid WeChat holds is the one answered"
    );
}

#[tokio::test]
async fn bad_input_unknown_and_unauthorized_apps_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Careful").await;
    let sim = &app.local.sim;
    sim.reset_calls();
    let commit = format!("/ops/apps/{appid}/commit");
    for (body, code) in [
        (
            json!({ "template_id": "1", "ext_json": {}, "user_version": "1", "user_desc": "d" }),
            "invalid_body",
        ),
        (
            json!({ "template_id": 1, "ext_json": "{}", "user_version": "1", "user_desc": "d" }),
            "invalid_body",
        ),
        (
            json!({ "template_id": 1, "ext_json": {}, "user_version": "", "user_desc": "d" }),
            "invalid_user_version",
        ),
        (
            json!({ "template_id": 1, "ext_json": {}, "user_version": "1", "user_desc": "d", "x": 1 }),
            "invalid_body",
        ),
    ] {
        let (s, v) = app.call(Method::POST, &commit, Some(body.clone())).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(code)), "{body}: {v}");
        if code == "invalid_body" {
            let field = v["field"].as_str().unwrap_or_default();
            assert!(
                ["template_id", "ext_json", "x"].contains(&field)
                    && v["message"].as_str().unwrap().contains(field),
                "names the field: {v}"
            );
        }
    }
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/audits"),
            Some(json!({ "item_list": [{}, {}, {}, {}, {}, {}] })),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        sim.all_calls()
            .keys()
            .filter(|k| k.starts_with("/wxa/"))
            .count(),
        0,
        "WeChat never asked: {:?}",
        sim.all_calls()
    );
    let (_, act) = app.get_json(&format!("/ops/apps/{appid}/activity")).await;
    assert_eq!(act["items"], json!([]), "nothing recorded");

    let (s, v) = app.get_json("/ops/apps/wx00000000000000ff").await;
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")), "{v}");
    let (s, v) = app.get_json("/ops/apps/nope/audits/latest").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_appid")),
        "{v}"
    );

    sim.unauthorize(&appid).await.unwrap();
    let (s, v) = app
        .call(Method::POST, &commit, Some(commit_body("1")))
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("not_authorized")),
        "{v}"
    );
    let (s, _) = app.get_json(&format!("/ops/apps/{appid}/activity")).await;
    assert_eq!(s, 200, "history stays readable after a revocation");
}

#[tokio::test]
async fn wechat_errors_answer_502_with_errcode_errmsg_and_a_hint() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Errors").await;
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/commit"),
            Some(json!({
                "template_id": 999, "ext_json": {}, "user_version": "1", "user_desc": "d"
            })),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"], "wechat_refused");
    assert!(v["errcode"].as_i64().unwrap() != 0, "{v}");
    assert!(!v["errmsg"].as_str().unwrap().is_empty());
    // Submitting with nothing committed: 85086 and its hint.
    let other = app.authorized_app("Nothing committed").await;
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{other}/audits"),
            Some(submit_body()),
        )
        .await;
    assert_eq!((s, v["errcode"].as_i64()), (422, Some(85086)), "{v}");
    assert!(
        v["hint"].as_str().is_some_and(|h| h.contains("commit")),
        "{v}"
    );
}

#[tokio::test]
async fn testers_are_bound_listed_and_unbound_and_a_privacy_guide_goes_online_with_the_release() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Members").await;
    let testers = format!("/ops/apps/{appid}/testers");
    let (s, first) = app
        .call(
            Method::POST,
            &testers,
            Some(json!({ "wechatid": "alice_shop" })),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    let (s, second) = app
        .call(
            Method::POST,
            &testers,
            Some(json!({ "wechatid": "bob-2024" })),
        )
        .await;
    assert_eq!(s, 201, "{second}");
    let (s, v) = app
        .call(
            Method::POST,
            &testers,
            Some(json!({ "wechatid": "alice_shop" })),
        )
        .await;
    assert_eq!(
        (s, v["errcode"].as_i64()),
        (422, Some(85004)),
        "bound twice: {v}"
    );
    let (_, list) = app.get_json(&testers).await;
    assert_eq!(
        list["members"],
        json!([{ "userstr": first["userstr"] }, { "userstr": second["userstr"] }])
    );
    let (s, v) = app
        .call(
            Method::DELETE,
            &testers,
            Some(json!({ "userstr": first["userstr"] })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .call(
            Method::DELETE,
            &testers,
            Some(json!({ "wechatid": "bob-2024", "userstr": "x" })),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_tester")),
        "{v}"
    );
    let (_, list) = app.get_json(&testers).await;
    assert_eq!(list["members"], json!([{ "userstr": second["userstr"] }]));
    let (_, act) = app.get_json(&format!("/ops/apps/{appid}/activity")).await;
    assert!(
        !act.to_string().contains("alice_shop"),
        "no WeChat id in the history: {act}"
    );

    // Privacy: set in development, online only after the next release.
    let privacy = format!("/ops/apps/{appid}/privacy");
    let guide = json!({
        "owner_setting": { "notice_method": "弹窗 pop-up", "contact_email": "dpo@example.com" },
        "setting_list": [{ "privacy_key": "Location", "privacy_text": "显示附近门店 nearby shops" }],
    });
    let (s, v) = app
        .call(
            Method::PUT,
            &privacy,
            Some(json!({ "owner_setting": { "contact_email": "x@y.z" } })),
        )
        .await;
    assert_eq!(
        (s, v["field"].as_str()),
        (400, Some("owner_setting.notice_method")),
        "{v}"
    );
    let (s, v) = app.call(Method::PUT, &privacy, Some(guide.clone())).await;
    assert_eq!((s, v["privacy_ver"].as_u64()), (200, Some(2)), "{v}");
    let (_, dev) = app.get_json(&privacy).await;
    assert_eq!(dev["setting_list"], guide["setting_list"], "{dev}");
    let (_, online) = app.get_json(&format!("{privacy}?privacy_ver=1")).await;
    assert_eq!(
        online["setting_list"],
        json!([]),
        "not online before a release: {online}"
    );
    release_version(&app, &appid, "6.0.0").await;
    let (_, online) = app.get_json(&format!("{privacy}?privacy_ver=1")).await;
    assert_eq!(online["setting_list"], guide["setting_list"], "{online}");
    assert_eq!(online["owner_setting"]["contact_email"], "dpo@example.com");
    let (s, v) = app.get_json(&format!("{privacy}?privacy_ver=3")).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_privacy_ver")));
}

#[tokio::test]
async fn the_template_library_and_the_audit_quota() {
    let app = spawn_app().await;
    let sim = &app.local.sim;
    sim.add_draft(7, "7.0.0");
    let (s, drafts) = app.get_json("/ops/template-drafts").await;
    assert_eq!(s, 200, "{drafts}");
    assert_eq!(drafts["drafts"][0]["draft_id"], 7);

    let (s, v) = app
        .call(
            Method::POST,
            "/ops/templates",
            Some(json!({ "draft_id": 7 })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = app
        .call(
            Method::POST,
            "/ops/templates",
            Some(json!({ "draft_id": 7, "template_type": 5 })),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_template_type")),
        "{v}"
    );
    let (_, list) = app.get_json("/ops/templates").await;
    let versions: Vec<&str> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user_version"].as_str().unwrap())
        .collect();
    assert!(
        versions.contains(&"7.0.0") && versions.contains(&"1.0.0"),
        "{list}"
    );
    let added = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user_version"] == "7.0.0")
        .unwrap()["template_id"]
        .as_u64()
        .unwrap();
    let (s, v) = app
        .call(Method::DELETE, &format!("/ops/templates/{added}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, list) = app.get_json("/ops/templates").await;
    assert!(!list.to_string().contains("7.0.0"), "{list}");
    let (s, v) = app.call(Method::DELETE, "/ops/templates/abc", None).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_template_id")));

    // The quota is read with an authorized app's token: none yet, then the first one.
    let (s, v) = app.get_json("/ops/quota").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("no_authorized_app")),
        "{v}"
    );
    let appid = app.authorized_app("Quota").await;
    let (s, q) = app.get_json("/ops/quota").await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(q["appid"], appid.as_str());
    assert_eq!(
        (q["rest"].as_i64(), q["limit"].as_i64()),
        (Some(100), Some(100))
    );
    app.commit_and_submit(&appid, "8.0.0").await;
    let (_, q) = app.get_json(&format!("/ops/quota?appid={appid}")).await;
    assert_eq!(q["rest"], 99, "a submission spends one: {q}");
}

#[tokio::test]
async fn the_sixth_undo_of_a_day_is_refused_before_wechat_is_asked() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Undo").await;
    let undo = format!("/ops/apps/{appid}/audits/latest/undo");
    for n in 0..5 {
        app.commit_and_submit(&appid, &format!("9.0.{n}")).await;
        let (s, v) = app.call(Method::POST, &undo, None).await;
        assert_eq!(s, 200, "undo {n}: {v}");
    }
    app.commit_and_submit(&appid, "9.0.5").await;
    let sim = &app.local.sim;
    sim.reset_calls();
    let (s, v) = app.call(Method::POST, &undo, None).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("undo_limit")), "{v}");
    assert_eq!(
        (v["undone_today"].as_u64(), v["undone_this_month"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(sim.calls("/wxa/undocodeaudit"), 0, "WeChat was not asked");
    let (_, latest) = app
        .get_json(&format!("/ops/apps/{appid}/audits/latest"))
        .await;
    assert_eq!(latest["status"], "auditing", "the audit stays pending");
}

#[tokio::test]
async fn a_speedup_without_quota_left_is_refused_before_wechat_is_asked() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Speedup").await;
    app.commit_and_submit(&appid, "10.0.0").await;
    let sim = &app.local.sim;
    sim.set_audit_quota(50, 100, 0, 5);
    sim.reset_calls();
    let speedup = format!("/ops/apps/{appid}/audits/latest/speedup");
    let (s, v) = app.call(Method::POST, &speedup, None).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("speedup_quota")),
        "{v}"
    );
    assert_eq!(sim.calls("/wxa/speedupaudit"), 0);
    sim.set_audit_quota(50, 100, 3, 5);
    let (s, v) = app.call(Method::POST, &speedup, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("sped_up")), "{v}");
    assert_eq!(sim.calls("/wxa/speedupaudit"), 1);
}

#[tokio::test]
async fn a_submission_during_the_privacy_detection_is_told_to_wait_then_goes_through() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Privacy detection").await;
    let sim = &app.local.sim;
    sim.set_privacy_detection(std::time::Duration::from_secs(120));
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/commit"),
            Some(commit_body("11.0.0")),
        )
        .await;
    assert_eq!(s, 200);
    let audits = format!("/ops/apps/{appid}/audits");
    let (s, v) = app.call(Method::POST, &audits, Some(submit_body())).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("privacy_detection_pending")),
        "{v}"
    );
    assert_eq!(
        (v["errcode"].as_i64(), v["retry_after_secs"].as_u64()),
        (Some(61039), Some(60))
    );
    sim.advance_clock(120);
    let (s, v) = app.call(Method::POST, &audits, Some(submit_body())).await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test]
async fn a_server_not_on_the_ip_whitelist_gets_61004_with_its_hint() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Whitelist").await;
    app.local
        .sim
        .set_ip_whitelist(Some(vec!["10.0.0.1".parse().unwrap()]));
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/categories")).await;
    assert_eq!((s, v["errcode"].as_i64()), (502, Some(61004)), "{v}");
    assert!(v["hint"].as_str().unwrap().contains("whitelist"), "{v}");
    assert!(v["errmsg"].as_str().unwrap().contains("127.0.0.1"), "{v}");
}

#[tokio::test]
async fn the_trial_qr_code_is_passed_through_with_its_content_type() {
    let app = spawn_app().await;
    let appid = app.authorized_app("QR").await;
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/commit"),
            Some(commit_body("12.0.0")),
        )
        .await;
    assert_eq!(s, 200);
    let resp = app
        .ops(
            Method::GET,
            &format!("/ops/apps/{appid}/qrcode?path=pages%2Findex%2Findex%3Fx%3D1"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..3], &[0xff, 0xd8, 0xff]);
    let (s, pages) = app.get_json(&format!("/ops/apps/{appid}/pages")).await;
    assert_eq!(
        (s, pages["pages"][0].as_str()),
        (200, Some("pages/index/index")),
        "{pages}"
    );
}

#[tokio::test]
async fn undeclared_privacy_interfaces_are_named_before_the_audit() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Location").await;
    app.local
        .sim
        .set_template_private_apis(1, &["wx.getLocation"]);
    let commit = format!("/ops/apps/{appid}/commit");
    let (s, _) = app
        .call(Method::POST, &commit, Some(commit_body("13.0.0")))
        .await;
    assert_eq!(s, 200);
    let audits = format!("/ops/apps/{appid}/audits");
    let (s, v) = app.call(Method::POST, &audits, Some(submit_body())).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("privacy_interfaces_undeclared")),
        "{v}"
    );
    assert_eq!(v["without_conf_list"], json!(["wx.getLocation"]), "{v}");
    assert_eq!(
        app.local.sim.calls("/wxa/submit_audit"),
        0,
        "named before a submission was spent"
    );
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("requiredPrivateInfos"));
    let declared = json!({
        "template_id": 1,
        "ext_json": { "extAppid": "wx00000000000000aa", "requiredPrivateInfos": ["getLocation"] },
        "user_version": "13.0.1",
        "user_desc": "declares getLocation",
    });
    let (s, _) = app.call(Method::POST, &commit, Some(declared)).await;
    assert_eq!(s, 200);
    let (s, v) = app.call(Method::POST, &audits, Some(submit_body())).await;
    assert_eq!(s, 201, "{v}");
}
