//! ICP filing (小程序备案) through wxopen against the simulator: the release guard (single and
//! batch) refusing an app not filed before WeChat is asked, the filing pushes moving the stored
//! state at either push URL and only once, the refresher's daily census on the simulated
//! clock, the authorizer list's filing filter, and the console's filing column and panel in
//! headless Chromium.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use support::{spawn_app, spawn_app_with, App};
use wechat_sim::{AuditOutcome, Fault, IcpDecision, IcpReason, PushTarget, SmsOutcome};
use wxopen::domain::{AppId, Clock, ManualClock};
use wxopen::filing::{census_slot, day_start, DAY_SECS};
use wxopen::wechat::icp::*;
use wxopen::wechat::WxaApi;

const ENTRANCE: &str = "/wxa/icp/get_icp_entrance_info";

/// The app not filed in WeChat (the simulator's apps start filed in wxopen-local).
fn not_filed(app: &App, appid: &AppId) {
    app.local.sim.set_icp_entrance(appid, 1024, true);
}

/// An approved, unreleased version of `appid`.
async fn approved(app: &App, appid: &AppId, version: &str) {
    app.commit_and_submit(appid, version).await;
    app.local
        .sim
        .decide_audit(appid, AuditOutcome::Success)
        .await
        .unwrap();
}

async fn release(app: &App, appid: &AppId) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/ops/apps/{appid}/release"),
        Some(json!({})),
    )
    .await
}

async fn filing(app: &App, appid: &AppId) -> Value {
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/filing")).await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test]
async fn an_app_not_filed_is_refused_409_before_wechat_is_asked_to_release_it() {
    let app = spawn_app().await;
    let sim = &app.local.sim;
    let unfiled = app.authorized_app("Unfiled").await;
    let filed = app.authorized_app("Filed").await;
    not_filed(&app, &unfiled);
    approved(&app, &unfiled, "1.0.0").await;
    approved(&app, &filed, "1.0.0").await;

    sim.reset_calls();
    let (s, v) = release(&app, &unfiled).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("icp_filing_required")),
        "{v}"
    );
    assert_eq!(v["status"], "not_filed", "{v}");
    assert_eq!(v["wechat_status"], 1024, "{v}");
    assert!(v["hint"].as_str().unwrap().contains("filing"), "{v}");
    assert!(v["hint_zh"].as_str().unwrap().contains("备案"), "{v}");
    assert_eq!(
        sim.calls("/wxa/release"),
        0,
        "WeChat was not asked to release"
    );
    // Never checked before: asked once, and stored.
    assert_eq!(sim.calls(ENTRANCE), 1);
    let f = filing(&app, &unfiled).await;
    assert_eq!(f["status"], "not_filed", "{f}");
    assert_eq!(f["wechat_status"], 1024);
    assert_eq!(f["reasons"], json!([]));
    assert!(f["checked_at"].as_i64().unwrap() > 0, "{f}");
    assert_eq!(f["record_number"], Value::Null);
    assert_eq!(
        sim.calls(ENTRANCE),
        1,
        "the stored state is shown, WeChat not asked"
    );
    // The app view shows the filing stage beside the code stage.
    let (_, view) = app.get_json(&format!("/ops/apps/{unfiled}")).await;
    assert_eq!(view["filing"]["status"], "not_filed", "{view}");

    // A filed app goes live, its record number learned on the way.
    let (s, v) = release(&app, &filed).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(sim.calls("/wxa/release"), 1);
    let f = filing(&app, &filed).await;
    assert_eq!(f["status"], "filed", "{f}");
    assert_eq!(f["record_number"], "京ICP备19000000号-1X", "{f}");
}

#[tokio::test]
async fn a_batch_release_skips_the_app_not_filed_with_that_reason() {
    let app = spawn_app().await;
    let sim = &app.local.sim;
    let unfiled = app.authorized_app("BatchUnfiled").await;
    let filed = app.authorized_app("BatchFiled").await;
    not_filed(&app, &unfiled);
    approved(&app, &unfiled, "2.0.0").await;
    approved(&app, &filed, "2.0.0").await;
    sim.reset_calls();

    let (s, v) = app
        .post_batch(
            "release-filing",
            &json!({ "action": "release", "appids": [unfiled, filed] }),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    assert_eq!(done["counts"]["skipped"], 1, "{done}");
    let items = done["items"].as_array().unwrap();
    let item = |appid: &AppId| {
        items
            .iter()
            .find(|i| i["appid"] == appid.as_str())
            .unwrap_or_else(|| panic!("{appid} in {done}"))
            .clone()
    };
    let skipped = item(&unfiled);
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    assert_eq!(
        skipped["detail"]["error"], "icp_filing_required",
        "{skipped}"
    );
    assert_eq!(skipped["detail"]["status"], "not_filed", "{skipped}");
    assert!(skipped["detail"]["hint_zh"].as_str().is_some(), "{skipped}");
    assert_ne!(item(&filed)["state"], "skipped");
    assert_eq!(
        sim.calls("/wxa/release"),
        1,
        "only the filed app was released"
    );
}

/// A valid filing application for `appid`: media uploaded, a face check finished.
async fn application(app: &App, wxa: &WxaApi<'_>, appid: &AppId) -> ApplyIcpFiling {
    async fn upload(wxa: &WxaApi<'_>, field: &str, certificate_type: i64) -> String {
        wxa.call(&UploadIcpMedia {
            media_type: IcpMediaType::Image,
            certificate_type: Some(certificate_type),
            icp_order_field: field.to_owned(),
            filename: "photo.jpg".into(),
            content_type: "image/jpeg".into(),
            bytes: vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3],
        })
        .await
        .unwrap()
        .media_id
    }
    fn person(front: &str, back: &str, task: &str) -> PrincipalInfo {
        PrincipalInfo {
            name: Personal::new("张三"),
            mobile: Personal::new("13800138000"),
            email: Personal::new("zhangsan@example.com"),
            emergency_contact: Personal::new("13900139000"),
            certificate_type: 2,
            certificate_number: Personal::new("110101199001011234"),
            certificate_validity_date_start: "2019-06-06".into(),
            certificate_validity_date_end: "2039-06-06".into(),
            certificate_photo_front: front.into(),
            certificate_photo_back: back.into(),
            verify_task_id: task.into(),
            ..PrincipalInfo::default()
        }
    }
    let licence = upload(wxa, "icp_subject.organize_info.certificate_photo", 1).await;
    let front = upload(wxa, "icp_subject.principal_info.certificate_photo_front", 2).await;
    let back = upload(wxa, "icp_subject.principal_info.certificate_photo_back", 2).await;
    let task = wxa
        .call(&CreateIcpVerifyTask::default())
        .await
        .unwrap()
        .task_id;
    app.local
        .sim
        .finish_face_check(appid, Some(&task), true)
        .await
        .unwrap();
    ApplyIcpFiling {
        icp_subject: IcpSubject {
            base_info: SubjectBaseInfo {
                subject_type: 4,
                name: Personal::new("模拟商户有限公司"),
                province: "110000".into(),
                city: "110100".into(),
                district: "110105".into(),
                address: Personal::new("高碑店路181号1栋12345室"),
                comment: String::new(),
            },
            organize_info: OrganizeInfo {
                certificate_type: 1,
                certificate_number: Personal::new("91110105MA00000000"),
                certificate_address: Personal::new("北京市朝阳区高碑店路181号"),
                certificate_photo: licence,
            },
            principal_info: person(&front, &back, ""),
            ..IcpSubject::default()
        },
        icp_applets: IcpApplets {
            base_info: AppletBaseInfo {
                appid: appid.to_string(),
                name: "模拟小程序".into(),
                service_content_types: vec![1],
                ..AppletBaseInfo::default()
            },
            principal_info: person(&front, &back, &task),
        },
        icp_materials: IcpMaterials::default(),
    }
}

#[tokio::test]
async fn the_filing_pushes_move_the_state_at_either_url_once() {
    let app = spawn_app().await;
    let sim = &app.local.sim;
    let appid = app.authorized_app("Pushed").await;
    not_filed(&app, &appid);
    assert_eq!(filing(&app, &appid).await["status"], "not_filed");
    let wxa = app.local.mgr.wxa(&appid);
    let req = application(&app, &wxa, &appid).await;
    assert!(matches!(
        wxa.call(&req).await.unwrap(),
        IcpApplied::Accepted { .. }
    ));

    // The platform passes it: pushed to the authorization-event URL (as captured).
    sim.decide_icp(&appid, IcpDecision::Approve).await.unwrap();
    let f = filing(&app, &appid).await;
    assert_eq!(f["status"], "administration_review", "{f}");
    assert_eq!(f["wechat_status"], 4);
    assert_eq!(f["sms_verify"], "waiting", "{f}");

    // The administration rejects, pushed to the message URL (as WeChat's pages place it):
    // the reasons come with the state.
    sim.set_icp_push_target(PushTarget::Message);
    sim.decide_icp(
        &appid,
        IcpDecision::Reject {
            reasons: vec![IcpReason {
                key_name: "小程序名称".into(),
                error: "名称与主体不符".into(),
                suggest: "请修改名称".into(),
            }],
        },
    )
    .await
    .unwrap();
    let f = filing(&app, &appid).await;
    assert_eq!(f["status"], "administration_rejected", "{f}");
    assert_eq!(f["reasons"][0]["key_name"], "小程序名称", "{f}");
    assert_eq!(f["reasons"][0]["suggest"], "请修改名称", "{f}");
    assert_eq!(f["sms_verify"], Value::Null, "{f}");

    // Resubmitted and filed: the push stores filed with the record number.
    sim.set_icp_push_target(PushTarget::AuthEvent);
    let req = application(&app, &wxa, &appid).await;
    assert!(matches!(
        wxa.call(&req).await.unwrap(),
        IcpApplied::Accepted { .. }
    ));
    sim.decide_icp(&appid, IcpDecision::Approve).await.unwrap();
    sim.icp_sms(&appid, SmsOutcome::Done).unwrap();
    sim.decide_icp(&appid, IcpDecision::Approve).await.unwrap();
    let f = filing(&app, &appid).await;
    assert_eq!(f["status"], "filed", "{f}");
    assert!(
        f["record_number"].as_str().unwrap().starts_with("京ICP备"),
        "{f}"
    );

    // WeChat delivers the last push again: applied once, WeChat not asked again.
    let pushes = sim.pushes();
    let last = pushes
        .iter()
        .rev()
        .find(|p| p.kind == "notify_apply_icpfiling_result")
        .expect("a filing push was delivered")
        .clone();
    let stored = app.local.store.get_filing(&appid).await.unwrap().unwrap();
    let asked = sim.calls(ENTRANCE);
    redeliver(&app, &last).await;
    assert_eq!(
        sim.calls(ENTRANCE),
        asked,
        "a repeated push is not applied again"
    );
    assert_eq!(
        app.local.store.get_filing(&appid).await.unwrap().unwrap(),
        stored
    );

    // Operators were told each step that needs them, once: the SMS check waiting, the
    // rejection, filed (the repeated push told nobody again).
    use wxopen::notifications::event::{Event, FilingOutcome};
    let mut told: Vec<FilingOutcome> = app
        .local
        .store
        .list_notifications(None, None, 50)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| match n.event {
            Event::FilingResult {
                appid: a, outcome, ..
            } if a == appid => Some(outcome),
            _ => None,
        })
        .collect();
    told.reverse();
    // (The second SMS wait is told only when its push came in another second than the first:
    // the outbox keys a filing push by its status and CreateTime.)
    let count = |o: FilingOutcome| told.iter().filter(|t| **t == o).count();
    assert_eq!(told.first(), Some(&FilingOutcome::SmsWaiting), "{told:?}");
    assert_eq!(told.last(), Some(&FilingOutcome::Filed), "{told:?}");
    assert_eq!(
        (count(FilingOutcome::Rejected), count(FilingOutcome::Filed)),
        (1, 1),
        "{told:?}"
    );
}

/// WeChat delivering `push` again (sealed anew, as a retry is): answered `success`.
async fn redeliver(app: &App, push: &wechat_sim::PushRecord) {
    use secrecy::ExposeSecret;
    let secrets = wxopen_local::dev_secrets();
    let crypt = wxopen::crypto::MsgCrypt::new(
        secrets.token.expose_secret(),
        secrets.encoding_aes_key.expose_secret(),
        secrets.component_appid.as_str(),
    )
    .unwrap();
    let ts = wxopen::domain::SystemClock.now().to_string();
    let sealed = crypt.seal(&push.plaintext, &ts, "again");
    let body = format!(
        "<xml><AppId><![CDATA[{}]]></AppId><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        secrets.component_appid, sealed.encrypt
    );
    let sep = if push.url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{sep}signature=x&timestamp={ts}&nonce=again&encrypt_type=aes&msg_signature={}",
        push.url, sealed.msg_signature
    );
    let resp = app.http.post(url).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "success");
}

/// A refresher pass at `now` over the app's store and WeChat, answering its summary.
async fn refresher_pass(app: &App, clock: &ManualClock) -> token_refresher::summary::RunSummary {
    // A ticket as WeChat pushes one every ten minutes (the simulated clock jumps by hours).
    app.local.sim.push_ticket().await.unwrap();
    let deps = token_refresher::Deps {
        mgr: app.local.mgr.clone(),
        store: app.local.store.clone(),
        clock: Arc::new(clock.clone()),
        config: token_refresher::RefresherConfig {
            emit_metrics: false,
            ..token_refresher::RefresherConfig::default()
        },
    };
    token_refresher::run(&deps, tokio::time::Instant::now() + Duration::from_secs(60))
        .await
        .expect("the refresher pass runs")
}

#[tokio::test]
async fn the_census_asks_each_unfiled_app_once_a_day_at_its_slot_and_filed_ones_never() {
    // A Beijing midnight: 2024-01-01 00:00 +08:00.
    let midnight = 1_704_038_400;
    let clock = ManualClock::new(midnight - 600);
    let app = spawn_app_with(|c| c.clock = Arc::new(clock.clone())).await;
    let sim = &app.local.sim;
    let filed = app.authorized_app("CensusFiled").await;
    let a = app.authorized_app("CensusA").await;
    let b = app.authorized_app("CensusB").await;
    not_filed(&app, &a);
    not_filed(&app, &b);
    // The filed app is known filed (an operator looked).
    assert_eq!(filing(&app, &filed).await["status"], "filed");
    clock.set(midnight);
    assert_eq!(day_start(clock.now()), midnight);

    // Day 1, a pass every hour: each unfiled app asked once, in the pass after its slot.
    let mut asked_at = std::collections::BTreeMap::new();
    let mut totals = (0, 0, 0, 0);
    for hour in 0..24 {
        clock.set(midnight + hour * 3600 + 3599);
        let before = sim.calls(ENTRANCE);
        let s = refresher_pass(&app, &clock).await;
        assert_eq!(sim.calls(ENTRANCE) - before, s.filing_asked, "{s:?}");
        totals.0 += s.filing_asked;
        totals.1 += s.filing_filed;
        totals.2 += s.filing_changed;
        totals.3 += s.filing_failed;
        for appid in [&a, &b] {
            let f = app.local.store.get_filing(appid).await.unwrap();
            if let Some(f) = f {
                asked_at.entry(appid.clone()).or_insert(f.checked_at);
            }
        }
    }
    assert_eq!(totals, (2, 0, 2, 0), "asked, filed, changed, failed");
    for appid in [&a, &b] {
        let at = asked_at[appid];
        let slot = midnight + census_slot(appid);
        assert!(
            at >= slot && at < slot + 3600,
            "{appid} asked in the pass after its slot"
        );
    }
    assert_eq!(
        app.local
            .store
            .get_filing(&filed)
            .await
            .unwrap()
            .unwrap()
            .checked_at,
        midnight - 600,
        "the filed app was never asked"
    );

    // Day 2: WeChat fails every read; each app is asked once all the same, and not again.
    sim.set_fault(Fault {
        endpoint: Some(ENTRANCE.into()),
        forced_errcode: Some((-1, "system error".into())),
        ..Fault::default()
    });
    let mut day2 = (0, 0);
    for hour in 0..24 {
        clock.set(midnight + DAY_SECS + hour * 3600 + 3599);
        let s = refresher_pass(&app, &clock).await;
        day2.0 += s.filing_asked;
        day2.1 += s.filing_failed;
    }
    assert_eq!(day2, (2, 2), "asked and failed, once each");
    sim.clear_faults();

    // Day 3: one app filed meanwhile (its push lost): the census learns it, and never asks
    // about it again.
    sim.set_icp_entrance(&b, 1024, true);
    let wxa = app.local.mgr.wxa(&b);
    let req = application(&app, &wxa, &b).await;
    wxa.call(&req).await.unwrap();
    let mut day3 = (0, 0);
    for hour in 0..24 {
        clock.set(midnight + 2 * DAY_SECS + hour * 3600 + 3599);
        let s = refresher_pass(&app, &clock).await;
        day3.0 += s.filing_asked;
        day3.1 += s.filing_changed;
    }
    assert_eq!(day3, (2, 1), "both asked; b moved to platform review");
    assert_eq!(
        app.local
            .store
            .get_filing(&b)
            .await
            .unwrap()
            .unwrap()
            .status,
        wxopen::store::FilingStatus::PlatformReview
    );
    assert_eq!(
        app.local
            .store
            .get_filing(&filed)
            .await
            .unwrap()
            .unwrap()
            .checked_at,
        midnight - 600,
        "three days on, the filed app was never asked"
    );
}

#[tokio::test]
async fn the_authorizer_list_shows_and_filters_by_filing() {
    let app = spawn_app().await;
    let filed = app.authorized_app("ListFiled").await;
    let unfiled: Vec<AppId> = {
        let mut v = Vec::new();
        for n in 0..3 {
            let appid = app.authorized_app(&format!("ListUnfiled{n}")).await;
            not_filed(&app, &appid);
            v.push(appid);
        }
        v
    };
    let unchecked = app.authorized_app("ListUnchecked").await;
    for appid in unfiled.iter().chain([&filed]) {
        filing(&app, appid).await;
    }

    let (s, v) = app.get_json("/ops/authorizers").await;
    assert_eq!(s, 200, "{v}");
    let row = |appid: &AppId| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["appid"] == appid.as_str())
            .unwrap()["filing"]
            .clone()
    };
    assert_eq!(row(&filed), "filed");
    assert_eq!(row(&unfiled[0]), "not_filed");
    assert_eq!(row(&unchecked), "unchecked");

    // One row a page: every unfiled app once, nothing else, until `next` runs out.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(c) => format!("/ops/authorizers?filing=not_filed&limit=1&cursor={c}"),
            None => "/ops/authorizers?filing=not_filed&limit=1".to_owned(),
        };
        let (s, page) = app.get_json(&path).await;
        assert_eq!(s, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1, "{page}");
        for i in items {
            assert_eq!(i["filing"], "not_filed", "{page}");
            seen.push(i["appid"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut want: Vec<String> = unfiled.iter().map(ToString::to_string).collect();
    want.sort();
    assert_eq!(seen, want);

    let (_, v) = app.get_json("/ops/authorizers?filing=unchecked").await;
    let listed: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["appid"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [unchecked.as_str()]);
    let (s, v) = app.get_json("/ops/authorizers?filing=nearly").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_filing")),
        "{v}"
    );
}

/// Waits (at most 10 s) until `css` shows `needle`.
async fn wait_text(
    c: &fantoccini::Client,
    css: &str,
    needle: &str,
) -> Result<(), fantoccini::error::CmdError> {
    for _ in 0..100 {
        if let Ok(el) = c.find(fantoccini::Locator::Css(css)).await {
            if el.text().await.is_ok_and(|t| t.contains(needle)) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = c
        .find(fantoccini::Locator::Css("main"))
        .await?
        .text()
        .await?;
    panic!("{css} never showed {needle:?}; the page:\n{page}");
}

#[tokio::test]
async fn the_console_shows_the_filing_column_filter_and_panel() {
    use fantoccini::Locator;
    use support::browser::{browser, driver, shoot};
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let sim = &app.local.sim;
    let rejected = app.authorized_app("Rejected Bakery").await;
    let filed = app.authorized_app("Filed Noodles").await;
    not_filed(&app, &rejected);
    let wxa = app.local.mgr.wxa(&rejected);
    let req = application(&app, &wxa, &rejected).await;
    wxa.call(&req).await.unwrap();
    sim.decide_icp(
        &rejected,
        IcpDecision::Reject {
            reasons: vec![IcpReason {
                key_name: "主体负责人证件照".into(),
                error: "证件照模糊".into(),
                suggest: "请上传清晰的身份证正反面照片".into(),
            }],
        },
    )
    .await
    .unwrap();
    filing(&app, &filed).await;
    approved(&app, &rejected, "1.0.0").await;

    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path(), (1280, 900)).await;
    let result = async {
        c.goto(&app.url("/console")).await?;
        let key = c.wait().for_element(Locator::Id("login-key")).await?;
        key.send_keys(support::OPERATOR_KEY).await?;
        c.find(Locator::Id("login-submit")).await?.click().await?;
        let row = |appid: &AppId| format!("#authorizer-table tr[data-appid={appid}] .filing-cell");
        wait_text(&c, &row(&rejected), "平台审核驳回").await?;
        wait_text(&c, &row(&filed), "已备案").await?;
        shoot(&c, "filing-01-column").await;
        // The filter: only the rejected app.
        let select = c.find(Locator::Id("filter-filing")).await?;
        select.select_by_value("platform_rejected").await?;
        c.find(Locator::Id("apply-filters")).await?.click().await?;
        wait_text(&c, "#authorizer-table", "Rejected Bakery").await?;
        let rows = c
            .find_all(Locator::Css("#authorizer-table tbody tr[data-appid]"))
            .await?;
        assert_eq!(rows.len(), 1, "the filing filter");
        // The app's panel: the status, the field with its suggestion; release held back.
        c.goto(&app.url(&format!("/console#/apps/{rejected}")))
            .await?;
        wait_text(&c, "#filing-status", "平台审核驳回").await?;
        wait_text(&c, "#filing-reasons", "主体负责人证件照").await?;
        wait_text(&c, "#filing-reasons", "请上传清晰的身份证正反面照片").await?;
        wait_text(&c, "#why-release", "备案").await?;
        let release = c.find(Locator::Id("btn-release")).await?;
        assert!(!release.is_enabled().await?, "release is held back");
        shoot(&c, "filing-02-panel").await;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    if result.is_err() {
        shoot(&c, "filing-failure").await;
    }
    let _ = c.close().await;
    result.expect("the console's filing story");
}
