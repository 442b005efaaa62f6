//! Second faults on the audit paths, through wxopen against the simulator: a submission or a
//! release whose answer is lost AND whose recovery read fails is recorded as in doubt first and
//! settled later (by the approval push, the retry, the hourly check); a recovery never adopts a
//! withdrawn or already recorded audit; an app whose profile read failed at onboarding still
//! gets its audit results; a batch runner stops at its lease and the next one adopts what
//! WeChat applied late.

mod support;

use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use support::{commit_body, spawn_app, submit_body, App};
use wechat_sim::{AuditOutcome, Fault};
use wxopen::domain::{AppId, AuditId, AuditStatus};
use wxopen::secrets::StaticSecrets;
use wxopen::store::{AuditStore, AuthorizerStore, Batch, BatchOutcome, BatchStore};

const SUBMIT: &str = "/wxa/submit_audit";
const LATEST: &str = "/wxa/get_latest_auditstatus";
const RELEASE: &str = "/wxa/release";
const VERSION_INFO: &str = "/wxa/getversioninfo";
const AUTHORIZER_INFO: &str = "/cgi-bin/component/api_get_authorizer_info";

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

/// The call is applied, its answer never arrives (once).
fn lose_answer(app: &App, endpoint: &str) {
    app.local.sim.set_fault(Fault {
        endpoint: Some(endpoint.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
}

/// The next `reads` calls of `endpoint` fail with a definite error (the daily quota), so a
/// recovery read fails without being retried; `None`: until the faults are cleared.
fn fail_reads(app: &App, endpoint: &str, reads: Option<u32>) {
    app.local.sim.set_fault(Fault {
        endpoint: Some(endpoint.into()),
        forced_errcode: Some((45009, "reach max api daily quota limit".into())),
        times: reads,
        ..Fault::default()
    });
}

async fn commit(app: &App, appid: &AppId, version: &str) {
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/commit"),
            Some(commit_body(version)),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn submit(app: &App, appid: &AppId) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/ops/apps/{appid}/audits"),
        Some(submit_body()),
    )
    .await
}

async fn release(app: &App, appid: &AppId) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/ops/apps/{appid}/release"),
        Some(serde_json::json!({})),
    )
    .await
}

/// The audit WeChat holds as the app's newest.
fn wechat_latest(app: &App, appid: &AppId) -> u64 {
    app.local
        .sim
        .account(appid)
        .unwrap()
        .code
        .audits
        .last()
        .expect("WeChat holds an audit")
        .auditid
}

/// A committed app whose submission WeChat took while the answer was lost and the read after it
/// failed: the operator got a 5xx, nothing is recorded as an audit yet.
async fn submission_lost_twice(app: &App, name: &str) -> (AppId, u64) {
    let appid = app.authorized_app(name).await;
    commit(app, &appid, "2.0.0").await;
    lose_answer(app, SUBMIT);
    fail_reads(app, LATEST, None);
    let (s, v) = submit(app, &appid).await;
    assert!(s >= 500, "the operator hears the lost answer: {s} {v}");
    app.local.sim.clear_faults();
    assert_eq!(app.local.sim.calls(SUBMIT), 1);
    assert_eq!(
        app.local.store.latest_audit(&appid).await.unwrap(),
        None,
        "no auditid was known"
    );
    let auditid = wechat_latest(app, &appid);
    (appid, auditid)
}

#[tokio::test]
async fn a_lost_submission_whose_recovery_read_failed_is_adopted_by_its_approval_push() {
    let app = spawn_app().await;
    let (appid, auditid) = submission_lost_twice(&app, "Push adopts").await;
    app.local
        .sim
        .decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    let got = app.local.store.latest_audit(&appid).await.unwrap().unwrap();
    assert_eq!(
        (got.auditid, got.status, got.user_version.as_deref()),
        (AuditId(auditid), AuditStatus::Approved, Some("2.0.0"))
    );
    let (s, v) = release(&app, &appid).await;
    assert_eq!((s, &v["status"]), (200, &Value::from("released")), "{v}");
    assert_eq!(v["auditid"], auditid);
}

#[tokio::test]
async fn a_retry_of_a_lost_submission_adopts_the_audit_wechat_refuses_to_repeat() {
    let app = spawn_app().await;
    let (appid, auditid) = submission_lost_twice(&app, "Retry adopts").await;
    // The retry's own first read (the pending rule's) fails too: WeChat's 85009 is what tells.
    fail_reads(&app, LATEST, Some(1));
    let (s, v) = submit(&app, &appid).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["auditid"], auditid, "{v}");
    assert_eq!(
        app.local.sim.calls(SUBMIT),
        2,
        "the retry met 85009: {:?}",
        app.local.sim.all_calls()
    );
    assert_eq!(
        app.local.sim.account(&appid).unwrap().code.audits.len(),
        1,
        "one audit at WeChat"
    );
    let got = app.local.store.latest_audit(&appid).await.unwrap().unwrap();
    assert_eq!(
        (got.auditid, got.status),
        (AuditId(auditid), AuditStatus::Auditing)
    );
}

#[tokio::test]
async fn the_hourly_check_settles_a_submission_and_a_release_left_in_doubt() {
    let app = spawn_app().await;
    let deps = ops_deps(&app);
    let (appid, auditid) = submission_lost_twice(&app, "Hourly").await;
    let r = audit_actions::stale_audits::reconcile(&deps, 3600)
        .await
        .unwrap();
    assert_eq!((r.doubts_settled, r.doubts_left), (1, 0), "{r:?}");
    let got = app.local.store.latest_audit(&appid).await.unwrap().unwrap();
    assert_eq!(
        (got.auditid, got.status),
        (AuditId(auditid), AuditStatus::Auditing)
    );

    // The release: applied, its answer lost, the read of the online version failed.
    app.local
        .sim
        .decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    lose_answer(&app, RELEASE);
    fail_reads(&app, VERSION_INFO, None);
    let (s, v) = release(&app, &appid).await;
    assert!(s >= 500, "{s} {v}");
    app.local.sim.clear_faults();
    let got = app.local.store.latest_audit(&appid).await.unwrap().unwrap();
    assert_eq!(got.released_at, None, "not known to be released yet");
    let r = audit_actions::stale_audits::reconcile(&deps, 3600)
        .await
        .unwrap();
    assert_eq!((r.doubts_settled, r.doubts_left), (1, 0), "{r:?}");
    let got = app.local.store.latest_audit(&appid).await.unwrap().unwrap();
    assert!(got.released_at.is_some(), "{got:?}");
    assert_eq!(app.local.sim.calls(RELEASE), 1);
}

#[tokio::test]
async fn a_retry_of_a_lost_release_whose_recovery_read_failed_answers_released() {
    let app = spawn_app().await;
    let appid = app.authorized_app("Release retry").await;
    let auditid = app.commit_and_submit(&appid, "3.0.0").await;
    app.local
        .sim
        .decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    lose_answer(&app, RELEASE);
    fail_reads(&app, VERSION_INFO, None);
    let (s, v) = release(&app, &appid).await;
    assert!(s >= 500, "{s} {v}");
    app.local.sim.clear_faults();
    let online = app
        .local
        .mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetVersionInfo {})
        .await
        .unwrap();
    assert_eq!(online.release_info.unwrap().release_version, "3.0.0");

    let (s, v) = release(&app, &appid).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["status"], &v["auditid"], &v["reconciled"]),
        (
            &Value::from("released"),
            &Value::from(auditid),
            &Value::from(true)
        ),
        "{v}"
    );
    assert_eq!(app.local.sim.calls(RELEASE), 1, "never released twice");
    let got = app.local.store.latest_audit(&appid).await.unwrap().unwrap();
    assert!(got.released_at.is_some(), "{got:?}");
    // And nothing is left to release.
    let (s, v) = release(&app, &appid).await;
    assert_eq!((s, &v["error"]), (409, &Value::from("not_approved")), "{v}");
}

#[tokio::test]
async fn a_submission_that_never_reached_wechat_after_an_undo_is_not_answered_with_the_withdrawn_audit(
) {
    let app = spawn_app().await;
    let appid = app.authorized_app("Undo").await;
    let withdrawn = app.commit_and_submit(&appid, "4.0.0").await;
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/audits/latest/undo"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // WeChat answers -1 without applying: the outcome is unknown to us, the read after it finds
    // the withdrawn audit of the same version, submitted seconds ago.
    app.local.sim.set_fault(Fault {
        endpoint: Some(SUBMIT.into()),
        forced_errcode: Some((-1, "system error".into())),
        times: Some(1),
        ..Fault::default()
    });
    let (s, v) = submit(&app, &appid).await;
    assert_ne!(s, 201, "{v}");
    assert!(s >= 500, "{s} {v}");
    assert_ne!(v["auditid"], withdrawn, "{v}");
    let got = app.local.store.latest_audit(&appid).await.unwrap().unwrap();
    assert_eq!(
        (got.auditid, got.status),
        (AuditId(withdrawn), AuditStatus::Withdrawn)
    );
    assert_eq!(app.local.sim.account(&appid).unwrap().code.audits.len(), 1);

    // The retry submits for real.
    let (s, v) = submit(&app, &appid).await;
    assert_eq!(s, 201, "{v}");
    let fresh = v["auditid"].as_u64().unwrap();
    assert_ne!(fresh, withdrawn);
    assert_eq!(fresh, wechat_latest(&app, &appid));
}

/// An app onboarded while `api_get_authorizer_info` failed: stored with no original id.
async fn onboarded_without_profile(app: &App, name: &str) -> AppId {
    let appid = app.mini_program(name);
    fail_reads(app, AUTHORIZER_INFO, None);
    app.local.sim.authorize(&appid, &[17, 18]).await.unwrap();
    app.local.sim.clear_faults();
    let stored = app.stored_authorizer(&appid).await.expect("authorized");
    assert_eq!(stored.user_name, "", "stored without its profile");
    appid
}

#[tokio::test]
async fn an_app_onboarded_without_its_profile_gets_its_audit_results_and_its_profile_filled_in() {
    let app = spawn_app().await;
    let sim = &app.local.sim;

    // The push comes while WeChat answers the profile read: the profile is completed first.
    let completed = onboarded_without_profile(&app, "Filled by push").await;
    let auditid = app.commit_and_submit(&completed, "5.0.0").await;
    sim.decide_audit(&completed, AuditOutcome::Success)
        .await
        .unwrap();
    let got = app
        .local
        .store
        .latest_audit(&completed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.auditid, got.status),
        (AuditId(auditid), AuditStatus::Approved)
    );
    let want = sim.account(&completed).unwrap().user_name;
    assert_eq!(
        app.stored_authorizer(&completed).await.unwrap().user_name,
        want
    );

    // The push comes while the profile read still fails: the URL names the app, the result is
    // kept; the operator's next read of the app fills the profile in.
    let trusted = onboarded_without_profile(&app, "Filled by read").await;
    let auditid = app.commit_and_submit(&trusted, "5.0.0").await;
    fail_reads(&app, AUTHORIZER_INFO, None);
    sim.decide_audit(
        &trusted,
        AuditOutcome::Fail {
            reason: "incomplete".into(),
            screenshots: vec![],
        },
    )
    .await
    .unwrap();
    sim.clear_faults();
    let got = app
        .local
        .store
        .latest_audit(&trusted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.auditid, got.status),
        (AuditId(auditid), AuditStatus::Rejected)
    );
    assert_eq!(app.stored_authorizer(&trusted).await.unwrap().user_name, "");
    let (s, v) = app.get_json(&format!("/ops/apps/{trusted}")).await;
    assert_eq!(s, 200, "{v}");
    let want = sim.account(&trusted).unwrap().user_name;
    assert_eq!(v["user_name"], want.as_str(), "{v}");
    assert_eq!(
        app.stored_authorizer(&trusted).await.unwrap().user_name,
        want
    );
}

/// A runner's work on an app stops before its lease runs out, even when WeChat holds the call
/// (and applies it after the runner gave up): the runner writes nothing, and the runner that
/// takes the app over asks WeChat first and adopts the late submission instead of submitting
/// again. The batch runs on a store of its own, so the system's own runner never joins in.
#[tokio::test]
async fn a_runner_gives_up_at_its_lease_and_the_next_one_adopts_what_wechat_applied_late() {
    let app = spawn_app().await;
    let sim = &app.local.sim;
    let appid = app.authorized_app("Lease").await;
    commit(&app, &appid, "6.0.0").await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(wxopen::store::embedded::EmbeddedStore::open(dir.path()).unwrap());
    store
        .upsert_authorizer(&app.stored_authorizer(&appid).await.unwrap())
        .await
        .unwrap();
    let clock = Arc::new(wxopen::domain::ManualClock::new(sim.now()));
    let deps = audit_actions::Deps {
        store: store.clone(),
        clock: clock.clone(),
        ..ops_deps(&app)
    };
    let now = sim.now();
    let batch = Batch {
        id: format!("{now:012x}lease"),
        operation: "submit_audit".into(),
        params: submit_body(),
        appids: vec![appid.clone()],
        created_at: now,
        operator: "key-test".into(),
        finished_at: None,
    };
    store.create_batch(&batch).await.unwrap();
    // WeChat holds the submission 5 s, then applies it whether or not anyone still waits.
    sim.set_fault(Fault {
        endpoint: Some(SUBMIT.into()),
        latency: std::time::Duration::from_secs(5),
        apply_late: true,
        times: Some(1),
        ..Fault::default()
    });
    // A 3 s lease: the work is cut off before it ends, and nothing is written.
    let r = audit_actions::batches::run_open_batches_with_lease(&deps, None, 3)
        .await
        .unwrap();
    assert_eq!(r.apps_done, 0, "{r:?}");
    let p = store.get_batch(&batch.id).await.unwrap().unwrap();
    assert_eq!(
        p.items[0].result, None,
        "the runner that gave up wrote nothing"
    );
    assert_eq!(store.latest_audit(&appid).await.unwrap(), None);
    sim.settle_late_calls().await;
    let auditid = wechat_latest(&app, &appid);

    // The lease has run out: the next runner takes the app over and asks WeChat first.
    clock.advance(10);
    let r = audit_actions::batches::run_open_batches(&deps, None)
        .await
        .unwrap();
    assert_eq!((r.apps_done, r.finished), (1, 1), "{r:?}");
    let p = store.get_batch(&batch.id).await.unwrap().unwrap();
    let result = p.items[0].result.clone().unwrap();
    assert_eq!(result.outcome, BatchOutcome::Ok, "{result:?}");
    assert_eq!(result.detail["auditid"], auditid, "{result:?}");
    assert_eq!(result.detail["reconciled"], true, "{result:?}");
    assert_eq!(sim.calls(SUBMIT), 1, "never submitted twice");
    let got = store.latest_audit(&appid).await.unwrap().unwrap();
    assert_eq!(
        (got.auditid, got.status),
        (AuditId(auditid), AuditStatus::Auditing)
    );
}
