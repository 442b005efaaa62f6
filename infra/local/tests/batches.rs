//! Batches against the simulator: 200 apps with injected failures and lost answers report
//! exactly those and repeat nothing; one Idempotency-Key acts once; a runner that died holding
//! an app is followed by one that asks WeChat before acting again.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use support::{spawn_app, App};
use wechat_sim::Fault;
use wxopen::domain::AppId;
use wxopen::store::{AuthorizerFilter, AuthorizerStatus, Batch};

/// `n` mini programs authorized through WeChat's `authorized` push.
async fn authorized_apps(app: &App, n: usize) -> Vec<AppId> {
    let appids: Vec<AppId> = (0..n)
        .map(|i| app.mini_program(&format!("Shop {i}")))
        .collect();
    for a in &appids {
        app.local.sim.authorize(a, &[17, 18]).await.unwrap();
    }
    let filter = AuthorizerFilter {
        status: Some(AuthorizerStatus::Authorized),
        customer_id: None,
    };
    let page = app
        .local
        .store
        .list_authorizers(&filter, None, 1000)
        .await
        .unwrap();
    assert_eq!(page.items.len(), n, "every push stored its authorizer");
    appids
}

fn items_in(v: &Value, state: &str) -> Vec<Value> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == state)
        .cloned()
        .collect()
}

fn commit_params() -> Value {
    json!({ "template_id": 1, "ext_json": { "extAppid": "wx00000000000000aa" }, "user_version": "5.0.0", "user_desc": "batch" })
}

fn submit_params() -> Value {
    json!({ "item_list": [{ "address": "pages/index/index", "tag": "shop", "title": "Home" }] })
}

#[tokio::test]
async fn a_batch_of_200_with_injected_failures_and_lost_answers_reports_exactly_those_and_repeats_none(
) {
    let app = spawn_app().await;
    let appids = authorized_apps(&app, 200).await;
    let sim = &app.local.sim;

    let (s, v) = app
        .post_batch(
            "commit-5.0.0",
            &json!({ "action": "commit", "appids": "all_authorized", "params": commit_params() }),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    assert_eq!(done["counts"]["ok"], 200, "{}", done["counts"]);
    assert_eq!(sim.calls("/wxa/commit"), 200);

    // 10 refusals and 10 lost answers (the submission applied, its answer never arriving).
    sim.reset_calls();
    sim.set_fault(Fault {
        endpoint: Some("/wxa/submit_audit".into()),
        forced_errcode: Some((85006, "tag is in invalid format".into())),
        times: Some(10),
        ..Fault::default()
    });
    sim.set_fault(Fault {
        endpoint: Some("/wxa/submit_audit".into()),
        lose_answer: true,
        times: Some(10),
        ..Fault::default()
    });
    // A provider running 200 apps has a larger monthly quota than the default 100.
    sim.set_audit_quota(1000, 1000, 10, 10);
    let body = json!({ "action": "submit_audit", "appids": appids, "params": submit_params() });
    let (s, v) = app.post_batch("submit-5.0.0", &body).await;
    assert_eq!((s, v["replayed"].as_bool()), (202, Some(false)), "{v}");
    let batch_id = v["batch_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&batch_id).await;
    assert_eq!(done["total"], 200);
    let failed = items_in(&done, "failed");
    let ok = items_in(&done, "ok");
    assert_eq!(ok.len(), 190, "{}", done["counts"]);
    assert_eq!(
        sim.calls("/wxa/submit_audit"),
        200,
        "each app submitted once: no lost answer repeated"
    );
    // Every auditid reported is the one WeChat holds, lost answers included.
    let auditids: HashSet<u64> = ok
        .iter()
        .map(|i| i["detail"]["auditid"].as_u64().unwrap())
        .collect();
    assert_eq!(auditids.len(), 190);
    for i in &ok {
        let appid = AppId::parse(i["appid"].as_str().unwrap()).unwrap();
        let account = sim.account(&appid).unwrap();
        let pending = account
            .code
            .audits
            .iter()
            .rev()
            .find(|a| a.status.is_pending())
            .unwrap_or_else(|| panic!("{appid} has a pending audit"));
        assert_eq!(Some(pending.auditid), i["detail"]["auditid"].as_u64());
    }
    for f in &failed {
        let appid = AppId::parse(f["appid"].as_str().unwrap()).unwrap();
        assert!(sim.account(&appid).unwrap().code.audits.is_empty());
    }

    // The same request under the same key: the same batch, no app acted on again.
    let (s, again) = app.post_batch("submit-5.0.0", &body).await;
    assert_eq!(s, 202, "{again}");
    assert_eq!(again["batch_id"], batch_id.as_str());
    assert_eq!(again["replayed"], true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sim.calls("/wxa/submit_audit"), 200);
    let (_, still) = app.get_json(&format!("/ops/batches/{batch_id}")).await;
    assert_eq!(still["counts"], done["counts"]);
    // The key with another request: refused.
    let (s, v) = app
        .post_batch(
            "submit-5.0.0",
            &json!({ "action": "release", "appids": appids }),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("idempotency_key_reused")),
        "{v}"
    );
    assert_eq!(v["batch_id"], batch_id.as_str());

    // Release over all: nothing is approved, so the rule skips every app before WeChat.
    sim.reset_calls();
    let (s, v) = app
        .post_batch(
            "release-5.0.0",
            &json!({ "action": "release", "appids": "all_authorized" }),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    assert_eq!(done["counts"]["skipped"], 200, "{}", done["counts"]);
    assert!(items_in(&done, "skipped")
        .iter()
        .all(|i| i["detail"]["error"] == "not_approved"));
    assert_eq!(sim.calls("/wxa/release"), 0);

    let (s, list) = app.get_json("/ops/batches").await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        list["items"][1]["batch_id"],
        batch_id.as_str(),
        "newest first"
    );
}

#[tokio::test]
async fn bad_batches_are_refused_and_create_nothing() {
    let app = spawn_app().await;
    let appids = authorized_apps(&app, 2).await;
    let cases = [
        (
            None,
            json!({ "action": "release", "appids": appids }),
            "missing_idempotency_key",
        ),
        (
            Some("k1"),
            json!({ "action": "deploy", "appids": appids }),
            "invalid_body",
        ),
        (
            Some("k2"),
            json!({ "action": "release", "appids": [] }),
            "invalid_body",
        ),
        (
            Some("k3"),
            json!({ "action": "release", "appids": ["nope"] }),
            "invalid_body",
        ),
        (
            Some("k4"),
            json!({ "action": "release", "appids": "everyone" }),
            "invalid_body",
        ),
        (
            Some("k5"),
            json!({ "action": "commit", "appids": appids, "params": { "template_id": "1", "ext_json": {}, "user_version": "1", "user_desc": "" } }),
            "invalid_body",
        ),
        (
            Some("k6"),
            json!({ "action": "submit_audit", "appids": appids, "params": { "item_list": [{}, {}, {}, {}, {}, {}] } }),
            "invalid_item_list",
        ),
        (
            Some("k7"),
            json!({ "action": "release", "appids": (0..1001).map(|i| format!("wx{i:016x}")).collect::<Vec<_>>() }),
            "invalid_body",
        ),
    ];
    for (key, body, code) in cases {
        let mut req = app.ops(Method::POST, "/ops/batches").json(&body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some(code)),
            "{body}: {v}"
        );
    }
    let (_, v) = app.post_batch("k8",
        &json!({ "action": "commit", "appids": appids, "params": { "template_id": "1", "ext_json": {}, "user_version": "1", "user_desc": "" } }),
    )
    .await;
    assert_eq!(v["field"], "params.template_id", "{v}");
    let page = app
        .local
        .store
        .list_batches(false, None, 100)
        .await
        .unwrap();
    assert!(page.items.is_empty(), "no batch stored");
    let (s, v) = app.get_json("/ops/batches/no-such-batch").await;
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn a_runner_that_died_holding_an_app_is_followed_by_one_that_asks_wechat_first() {
    let app = spawn_app().await;
    let appids = authorized_apps(&app, 2).await;
    let (applied, untouched) = (&appids[0], &appids[1]);
    for a in &appids {
        let (s, v) = app
            .call(
                Method::POST,
                &format!("/ops/apps/{a}/commit"),
                Some(commit_params()),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    // A runner claimed both apps 200 s ago and died: its lease (180 s) has run out. For the
    // first app its submission reached WeChat; for the second it never started.
    let store = &app.local.store;
    let now = app.local.sim.now();
    let batch = Batch {
        id: format!("{:012x}died", now - 200),
        operation: "submit_audit".into(),
        params: submit_params(),
        appids: appids.clone(),
        created_at: now - 200,
        operator: "key-test".into(),
        finished_at: None,
    };
    store.create_batch(&batch).await.unwrap();
    for a in &appids {
        store
            .claim_batch_item(&batch.id, a, "dead-runner", now - 200, now - 20)
            .await
            .unwrap();
    }
    // Another batch holds `untouched` under a live lease: the app's view shows it running.
    let held = Batch {
        id: format!("{:012x}held", now - 100),
        operation: "commit".into(),
        params: commit_params(),
        appids: vec![untouched.clone()],
        created_at: now - 100,
        operator: "key-test".into(),
        finished_at: None,
    };
    store.create_batch(&held).await.unwrap();
    store
        .claim_batch_item(&held.id, untouched, "busy-runner", now, now + 600)
        .await
        .unwrap();
    let (s, show) = app.get_json(&format!("/ops/apps/{untouched}")).await;
    assert_eq!(s, 200, "{show}");
    let pending = show["pending_batches"].as_array().unwrap();
    assert!(
        pending
            .iter()
            .any(|p| p["batch_id"] == held.id.as_str() && p["state"] == "running"),
        "{show}"
    );
    // The dead runner's submission reached WeChat and nothing of it was recorded (it died
    // before writing anything): straight to WeChat with the app's token.
    let req: wxopen::wechat::wxa::SubmitAudit = serde_json::from_value(submit_params()).unwrap();
    let submitted = app.local.mgr.wxa(applied).call(&req).await.unwrap().auditid;
    assert_eq!(store.latest_audit(applied).await.unwrap(), None);
    let sim = &app.local.sim;
    sim.reset_calls();

    // The next run (every 5 s locally) takes both over.
    let done = app.wait_done(&batch.id).await;
    let items = done["items"].as_array().unwrap();
    assert_eq!(items[0]["state"], "ok", "{done}");
    assert_eq!(items[0]["detail"]["auditid"], submitted.0);
    assert_eq!(items[0]["detail"]["reconciled"], true);
    assert_eq!(items[1]["state"], "ok", "{done}");
    assert!(items[1]["detail"]["reconciled"].is_null());
    assert_eq!(
        sim.calls("/wxa/submit_audit"),
        1,
        "only the app whose submission never happened was submitted"
    );
    assert_eq!(sim.account(untouched).unwrap().code.audits.len(), 1);
}

#[tokio::test]
async fn a_submit_batch_beyond_the_monthly_quota_is_refused_with_the_figures_or_cut_to_it() {
    let app = spawn_app().await;
    let appids = authorized_apps(&app, 3).await;
    for a in &appids {
        let (s, v) = app
            .call(
                Method::POST,
                &format!("/ops/apps/{a}/commit"),
                Some(commit_params()),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    app.local.sim.set_audit_quota(2, 100, 5, 10);
    let sim = &app.local.sim;
    sim.reset_calls();
    let body = json!({ "action": "submit_audit", "appids": appids, "params": submit_params() });
    let (s, v) = app.post_batch("submit-3", &body).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("audit_quota")), "{v}");
    assert_eq!(
        (v["rest"].as_i64(), v["needed"].as_u64()),
        (Some(2), Some(3))
    );
    assert!(app
        .local
        .store
        .list_batches(false, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(sim.calls("/wxa/submit_audit"), 0);

    // Asked for as many as the quota allows: the first two; the refused request left the key free.
    let mut body = body;
    body["up_to_quota"] = json!(true);
    let (s, v) = app.post_batch("submit-3", &body).await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    assert_eq!(
        (done["total"].as_u64(), done["counts"]["ok"].as_u64()),
        (Some(2), Some(2)),
        "{done}"
    );
    assert_eq!(sim.calls("/wxa/submit_audit"), 2);
    assert!(sim.account(&appids[2]).unwrap().code.audits.is_empty());
}

#[tokio::test]
async fn a_submit_batch_waits_out_the_privacy_detection_and_submits_each_app_once() {
    let app = spawn_app().await;
    let appids = authorized_apps(&app, 3).await;
    let sim = &app.local.sim;
    sim.set_privacy_detection(Duration::from_secs(600));
    for a in &appids {
        let (s, v) = app
            .call(
                Method::POST,
                &format!("/ops/apps/{a}/commit"),
                Some(commit_params()),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = app
        .post_batch(
            "submit-after-detection",
            &json!({ "action": "submit_audit", "appids": appids, "params": submit_params() }),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let batch_id = v["batch_id"].as_str().unwrap().to_owned();
    // The runner meets 61039 for every app (asked before submitting) and comes back later:
    // nothing skipped, nothing failed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, v) = app.get_json(&format!("/ops/batches/{batch_id}")).await;
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!(
        (
            v["counts"]["ok"].as_u64(),
            v["counts"]["skipped"].as_u64(),
            v["counts"]["failed"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{}",
        v["counts"]
    );
    // Each app's detection was asked about; no submission was spent while WeChat still checks.
    assert!(sim.calls("/wxa/security/get_code_privacy_info") >= 3);
    assert_eq!(sim.calls("/wxa/submit_audit"), 0);
    sim.advance_clock(600);
    let done = app.wait_done(&batch_id).await;
    assert_eq!(done["counts"]["ok"], 3, "{}", done["counts"]);
    for a in &appids {
        assert_eq!(
            sim.account(a).unwrap().code.audits.len(),
            1,
            "{a} submitted once"
        );
    }
}
