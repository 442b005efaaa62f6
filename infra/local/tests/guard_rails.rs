//! The release guard-rails through wxopen against the simulator: the app's lifecycle stage as
//! each step moves it, an audit whose push is lost found by the hourly reconcile, and ext_json
//! refused before WeChat sees it (location APIs, standard templates).

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use support::{commit_body, spawn_app, submit_body, App};
use wechat_sim::AuditOutcome;
use wxopen::domain::AppId;
use wxopen::secrets::StaticSecrets;

async fn stage(app: &App, appid: &AppId) -> Value {
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}")).await;
    assert_eq!(s, 200, "{v}");
    v["lifecycle"].clone()
}

/// The operator API's dependencies over the same store and WeChat as the running system.
fn ops_deps(app: &App) -> audit_actions::Deps {
    audit_actions::Deps {
        store: app.local.store.clone(),
        secrets: Arc::new(StaticSecrets(Arc::new(wxopen_local::dev_secrets()))),
        clock: Arc::new(wxopen::domain::SystemClock),
        mgr: app.local.mgr.clone(),
        batch_concurrency: 4,
        batch_wakeup: Default::default(),
        public_url: None,
        notifier: app.local.notifier.clone(),
    }
}

#[tokio::test]
async fn the_stage_follows_each_step_from_commit_to_a_gray_release() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Stages").await;
    let sim = &app.local.sim;
    assert_eq!(stage(&app, &appid).await["stage"], "new");

    sim.set_privacy_detection(std::time::Duration::from_secs(120));
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/commit"),
            Some(commit_body("3.0.0")),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lifecycle"]["stage"], "committed", "{v}");
    assert_eq!(v["lifecycle"]["user_version"], "3.0.0");
    assert_eq!(v["lifecycle"]["template_id"], 1);
    assert_eq!(
        v["lifecycle"]["ext_json_sha256"].as_str().map(str::len),
        Some(64)
    );

    let audits = format!("/ops/apps/{appid}/audits");
    for _ in 0..2 {
        let (s, v) = app.call(Method::POST, &audits, Some(submit_body())).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (409, Some("privacy_detection_pending"))
        );
    }
    let st = stage(&app, &appid).await;
    assert_eq!(st["stage"], "privacy_detection_pending", "{st}");
    assert_eq!(st["user_version"], "3.0.0");
    assert_eq!(
        st["retry_after"].as_i64().unwrap() - st["since"].as_i64().unwrap(),
        60
    );
    // Two refusals, one entry: the wait is noted once, not once per try.
    let (_, act) = app.get_json(&format!("/ops/apps/{appid}/activity")).await;
    let noted = act["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "privacy_detection_pending")
        .count();
    assert_eq!(noted, 1, "{act}");

    sim.advance_clock(120);
    let (s, v) = app.call(Method::POST, &audits, Some(submit_body())).await;
    assert_eq!(s, 201, "{v}");
    let auditid = v["auditid"].as_u64().unwrap();
    assert_eq!(v["lifecycle"]["stage"], "submitted", "{v}");
    assert_eq!(v["lifecycle"]["auditid"], auditid);

    sim.decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    let st = stage(&app, &appid).await;
    assert_eq!(
        (st["stage"].as_str(), st["auditid"].as_u64()),
        (Some("approved"), Some(auditid)),
        "{st}"
    );

    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/release"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lifecycle"]["stage"], "released", "{v}");
    assert_eq!(v["lifecycle"]["user_version"], "3.0.0");

    // The next version goes out to 30% of users first (分阶段发布).
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/commit"),
            Some(commit_body("3.1.0")),
        )
        .await;
    assert_eq!(s, 200);
    sim.advance_clock(120);
    let (s, v) = app.call(Method::POST, &audits, Some(submit_body())).await;
    assert_eq!(s, 201, "{v}");
    sim.decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    let (s, v) = app
        .call(
            Method::PUT,
            &format!("/ops/apps/{appid}/gray-release"),
            Some(json!({ "gray_percentage": 30 })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let st = stage(&app, &appid).await;
    assert_eq!(
        (
            st["stage"].as_str(),
            st["percentage"].as_u64(),
            st["user_version"].as_str()
        ),
        (Some("gray"), Some(30), Some("3.1.0")),
        "{st}"
    );
}

#[tokio::test]
async fn a_rejection_shows_as_the_stage_with_its_reason() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Rejected stage").await;
    app.commit_and_submit(&appid, "4.0.0").await;
    app.local
        .sim
        .decide_audit(
            &appid,
            AuditOutcome::Fail {
                reason: "类目不符".into(),
                screenshots: vec![],
            },
        )
        .await
        .unwrap();
    let st = stage(&app, &appid).await;
    assert_eq!(st["stage"], "rejected", "{st}");
    assert_eq!(st["reason"], "类目不符");
}

#[tokio::test]
async fn an_audit_whose_push_is_lost_is_found_by_the_reconcile_and_can_then_be_released() {
    let app = spawn_app().await;
    let sim = &app.local.sim;
    let lost = app.authorized_app("Lost push").await;
    let quiet = app.authorized_app("Still auditing").await;
    for appid in [&lost, &quiet] {
        app.commit_and_submit(appid, "5.0.0").await;
    }
    // WeChat approves, and its push never arrives.
    sim.hold_pushes("weapp_audit_success");
    sim.decide_audit(&lost, AuditOutcome::Success)
        .await
        .unwrap();
    let stored = wxopen::store::AuditStore::latest_audit(app.local.store.as_ref(), &lost)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.as_str(), "auditing", "the push was held back");

    let deps = ops_deps(&app);
    // Not stale yet: nothing is asked.
    sim.reset_calls();
    let r = audit_actions::stale_audits::reconcile(&deps, 3600)
        .await
        .unwrap();
    assert_eq!((r.apps, r.asked), (2, 0), "{r:?}");
    assert_eq!(sim.calls("/wxa/get_latest_auditstatus"), 0);

    // Stale (threshold 0 stands for an hour gone by): both are asked, one has been decided.
    let r = audit_actions::stale_audits::reconcile(&deps, 0)
        .await
        .unwrap();
    assert_eq!(
        (r.apps, r.asked, r.decided, r.failed),
        (2, 2, 1, 0),
        "{r:?}"
    );
    assert_eq!(sim.calls("/wxa/get_latest_auditstatus"), 2);
    assert_eq!(stage(&app, &lost).await["stage"], "approved");
    let still = stage(&app, &quiet).await;
    assert!(
        matches!(still["stage"].as_str(), Some("submitted" | "auditing")),
        "{still}"
    );

    // The hourly claim: the first tick runs it, the next within the hour does not.
    assert!(audit_actions::stale_audits::reconcile_if_due(&deps)
        .await
        .unwrap()
        .is_some());
    assert!(audit_actions::stale_audits::reconcile_if_due(&deps)
        .await
        .unwrap()
        .is_none());

    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{lost}/release"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn ext_json_is_checked_before_wechat_sees_it() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Ext json").await;
    let sim = &app.local.sim;
    let commit = format!("/ops/apps/{appid}/commit");
    let with_ext = |ext: Value| json!({ "template_id": 1, "ext_json": ext, "user_version": "1.0.0", "user_desc": "d" });
    sim.reset_calls();
    let cases = [
        (
            json!({ "permission": { "scope.userLocation": { "desc": "附近门店" } } }),
            "location_apis_undeclared",
        ),
        (
            json!({ "requiredPrivateInfos": ["getlocation"] }),
            "invalid_ext_json",
        ),
        (
            json!({ "requiredPrivateInfos": ["getFuzzyLocation", "getLocation"] }),
            "invalid_ext_json",
        ),
    ];
    for (ext, code) in cases {
        let (s, v) = app
            .call(Method::POST, &commit, Some(with_ext(ext.clone())))
            .await;
        assert_eq!((s, v["error"].as_str()), (400, Some(code)), "{ext}: {v}");
        // A plain hint in both languages.
        assert!(
            v["hint"]
                .as_str()
                .is_some_and(|h| h.contains("requiredPrivateInfos")),
            "{v}"
        );
        assert!(
            v["hint_zh"]
                .as_str()
                .is_some_and(|h| h.contains("requiredPrivateInfos")),
            "{v}"
        );
    }
    // template_id as a string: named as the field at fault.
    let (s, v) = app
        .call(
            Method::POST,
            &commit,
            Some(json!({ "template_id": "1", "ext_json": {}, "user_version": "1", "user_desc": "d" })),
        )
        .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("template_id")), "{v}");
    assert_eq!(sim.calls("/wxa/commit"), 0, "WeChat never saw them");
    assert_eq!(stage(&app, &appid).await["stage"], "new", "nothing changed");

    // A standard template takes only extAppid, ext and window.
    sim.add_draft(900, "9.0.0");
    let (s, v) = app
        .call(
            Method::POST,
            "/ops/templates",
            Some(json!({ "draft_id": 900, "template_type": 1 })),
        )
        .await;
    assert!(s == 200 || s == 201, "{v}");
    let (_, list) = app.get_json("/ops/templates?template_type=1").await;
    let standard = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user_version"] == "9.0.0")
        .unwrap_or_else(|| panic!("{list}"))["template_id"]
        .as_u64()
        .unwrap();
    let body = json!({
        "template_id": standard,
        "ext_json": { "extAppid": "wx00000000000000aa", "extEnable": true, "ext": {} },
        "user_version": "9.0.0",
        "user_desc": "d",
    });
    let (s, v) = app.call(Method::POST, &commit, Some(body.clone())).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("standard_template_ext_json")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("extEnable"), "{v}");
    // The same refusal for a batch, at its creation.
    let (s, v) = app
        .post_batch(
            "std-template",
            &json!({ "action": "commit", "appids": [appid.as_str()], "params": body }),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("standard_template_ext_json")),
        "{v}"
    );
    assert_eq!(sim.calls("/wxa/commit"), 0);

    let mut ok = body;
    ok["ext_json"] =
        json!({ "extAppid": "wx00000000000000aa", "ext": { "shop": 1 }, "window": {} });
    let (s, v) = app.call(Method::POST, &commit, Some(ok)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(sim.calls("/wxa/commit"), 1);
}

#[tokio::test]
async fn a_release_missing_a_domain_the_template_needs_is_refused_with_the_domain_named() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Domains").await;
    let sim = &app.local.sim;
    let reqs = "/ops/templates/1/requirements";
    // Bad input changes nothing.
    let (s, v) = app
        .call(
            Method::PUT,
            reqs,
            Some(json!({ "requestdomain": ["http://api.shop.example"] })),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_domain")),
        "{v}"
    );
    let (s, _) = app.get_json(reqs).await;
    assert_eq!(s, 404);
    let (s, v) = app
        .call(
            Method::PUT,
            reqs,
            Some(json!({ "requestdomain": ["https://api.shop.example", "https://pay.shop.example"] })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .call(
            Method::PUT,
            &format!("/ops/apps/{appid}/domains"),
            Some(json!({ "action": "add", "requestdomain": ["https://api.shop.example"] })),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    app.commit_and_submit(&appid, "6.0.0").await;
    sim.decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();

    let release = format!("/ops/apps/{appid}/release");
    let (s, v) = app.call(Method::POST, &release, Some(json!({}))).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("domains_missing")),
        "{v}"
    );
    assert_eq!(
        v["missing"],
        json!({ "requestdomain": ["https://pay.shop.example"] }),
        "{v}"
    );
    assert!(v["hint_zh"].as_str().is_some(), "{v}");
    assert_eq!(
        sim.calls("/wxa/release"),
        0,
        "WeChat was not asked to release"
    );
    assert_eq!(
        stage(&app, &appid).await["stage"],
        "approved",
        "still approved"
    );

    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/ops/apps/{appid}/domains"),
            Some(json!({ "action": "add", "requestdomain": ["https://pay.shop.example"] })),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = app.call(Method::POST, &release, Some(json!({}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(sim.calls("/wxa/release"), 1);

    let (s, _) = app.call(Method::DELETE, reqs, None).await;
    assert_eq!(s, 200);
    let (s, _) = app.get_json(reqs).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn batch_results_show_each_apps_stage_after_its_action() {
    let app = spawn_app().await;
    let a = app.authorized_app("Batch stage A").await;
    let b = app.authorized_app("Batch stage B").await;
    let (s, v) = app
        .post_batch(
            "stage-commit",
            &json!({ "action": "commit", "appids": [a.as_str(), b.as_str()], "params": commit_body("7.0.0") }),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    let items = done["items"].as_array().unwrap_or_else(|| panic!("{done}"));
    assert_eq!(items.len(), 2, "{done}");
    for i in items {
        assert_eq!(i["state"], "ok", "{i}");
        assert_eq!(i["detail"]["lifecycle"]["stage"], "committed", "{i}");
        assert_eq!(i["detail"]["lifecycle"]["user_version"], "7.0.0", "{i}");
    }
}
