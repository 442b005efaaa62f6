//! Violations (issue 27), through `wxopen-local` and the simulator: a penalty WeChat pushes
//! (`wxa_punish_event`) is stored once however often it is pushed, shown in the app view and the
//! authorizer list (`penalties`, `?penalised=`), and WeChat's own records and appeals are read
//! through the simulator (getillegalrecords, getappealrecords, `wxa_appeal_record`).

mod support;

use reqwest::Method;
use serde_json::json;
use support::{spawn_app, App, Link};
use wechat_sim::Punishment;
use wxopen::domain::AppId;

/// A mini program authorized with permission sets 17, 18 and 76 (the violation records'), by
/// `customer-1`.
async fn authorized_with_76(app: &App, name: &str) -> AppId {
    let appid = app.mini_program(name);
    let inv = app.invite(json!({ "customer_id": "customer-1" })).await;
    let callback = app
        .consent(
            inv["url"].as_str().unwrap(),
            Link::Pc,
            &appid,
            &[17, 18, 76],
        )
        .await;
    let (status, page) = app.get(&callback).await;
    assert_eq!(status, 200, "{page}");
    appid
}

fn ban() -> Punishment {
    Punishment {
        event_type: 2,
        illegal_reason: "内容涉嫌欺诈".into(),
        illegal_content: "违规内容".into(),
        rule_name: "《微信小程序平台运营规范》".into(),
        rule_url: "https://developers.weixin.qq.com/miniprogram/product/".into(),
        adjust_guide_url: "https://developers.weixin.qq.com/community/".into(),
        detail: json!({ "banned_days": [7], "banned_function_names": ["搜索"] }),
        ..Punishment::default()
    }
}

#[tokio::test]
async fn a_penalty_push_is_stored_once_however_often_pushed_and_shown() {
    let app = spawn_app().await;
    let appid = authorized_with_76(&app, "Penalised").await;
    let p = app.local.sim.punish(&appid, ban()).await.unwrap();
    // WeChat pushes it again later (another CreateTime: another push to the push log).
    app.local.sim.advance_clock(120);
    app.local
        .sim
        .repush_punishment(&appid, &p.punish_id)
        .await
        .unwrap();
    let pushes: Vec<_> = app
        .local
        .sim
        .pushes()
        .into_iter()
        .filter(|r| r.kind == "wxa_punish_event")
        .collect();
    assert_eq!(pushes.len(), 2);
    assert!(pushes.iter().all(|r| r.delivered), "{pushes:?}");

    let (s, v) = app.get_json(&format!("/ops/apps/{appid}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["penalties"]["count"], 1, "stored once: {v}");
    assert_eq!(v["penalties"]["latest"]["kind"], "function_ban");
    assert_eq!(v["penalties"]["latest"]["punish_id"], p.punish_id.as_str());

    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/violations")).await;
    assert_eq!(s, 200, "{v}");
    let penalties = v["penalties"].as_array().unwrap();
    assert_eq!(penalties.len(), 1, "{v}");
    assert_eq!(penalties[0]["illegal_reason"], "内容涉嫌欺诈");
    assert_eq!(penalties[0]["detail"]["banned_days"], json!([7]));
    // WeChat's own record of it, read through the simulator (getillegalrecords).
    let records = v["wechat_records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{v}");
    assert_eq!(records[0]["illegal_record_id"], p.punish_id.as_str());
    assert_eq!(app.local.sim.calls("/wxa/getillegalrecords"), 1);

    // Operators are told once, however often it was pushed.
    let told: Vec<_> = app
        .local
        .store
        .list_notifications(None, None, 50)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|n| n.event.kind() == wxopen::notifications::EventKind::Violation)
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].event.appid(), Some(&appid));
}

#[tokio::test]
async fn the_authorizer_list_shows_penalties_and_filters_the_penalised() {
    let app = spawn_app().await;
    let clean = authorized_with_76(&app, "Clean").await;
    let banned = authorized_with_76(&app, "Banned").await;
    app.local.sim.punish(&banned, ban()).await.unwrap();

    let (s, v) = app.get_json("/ops/authorizers").await;
    assert_eq!(s, 200, "{v}");
    let count_of = |v: &serde_json::Value, appid: &AppId| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["appid"] == appid.as_str())
            .map(|a| a["penalties"]["count"].as_u64().unwrap())
    };
    assert_eq!(count_of(&v, &banned), Some(1), "{v}");
    assert_eq!(count_of(&v, &clean), Some(0), "{v}");

    let (s, v) = app.get_json("/ops/authorizers?penalised=true").await;
    assert_eq!(s, 200, "{v}");
    let appids: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appid"].as_str().unwrap())
        .collect();
    assert_eq!(appids, [banned.as_str()], "{v}");
    assert_eq!(v["items"][0]["penalties"]["latest"]["kind"], "function_ban");

    let (s, v) = app.get_json("/ops/authorizers?penalised=false").await;
    assert_eq!(s, 200, "{v}");
    let appids: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appid"].as_str().unwrap())
        .collect();
    assert_eq!(appids, [clean.as_str()], "{v}");

    let (s, v) = app.get_json("/ops/authorizers?penalised=maybe").await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn appeals_are_pushed_and_read_through_the_simulator() {
    let app = spawn_app().await;
    let appid = authorized_with_76(&app, "Appealing").await;
    let p = app.local.sim.punish(&appid, ban()).await.unwrap();
    let id = app
        .local
        .sim
        .appeal(&appid, &p.punish_id, 1, "")
        .await
        .unwrap();
    app.local.sim.advance_clock(60);
    app.local
        .sim
        .appeal(&appid, &p.punish_id, 3, "材料不足")
        .await
        .unwrap();

    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/violations")).await;
    assert_eq!(s, 200, "{v}");
    let appeals = v["appeals"].as_array().unwrap();
    assert_eq!(appeals.len(), 1, "one appeal, its newest state: {v}");
    assert_eq!(appeals[0]["appeal_record_id"], id);
    assert_eq!(appeals[0]["status"], "rejected");
    assert_eq!(appeals[0]["audit_reason"], "材料不足");

    let (s, v) = app
        .call(
            Method::GET,
            &format!("/ops/apps/{appid}/violations/{}/appeals", p.punish_id),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["records"][0]["appeal_record_id"], id);
    assert_eq!(v["records"][0]["appeal_status"], 3);
    assert_eq!(app.local.sim.calls("/wxa/getappealrecords"), 1);

    // A malformed record id is refused before WeChat is asked.
    let (s, v) = app
        .call(
            Method::GET,
            &format!("/ops/apps/{appid}/violations/bad%20id/appeals"),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_illegal_record_id")),
        "{v}"
    );
    assert_eq!(app.local.sim.calls("/wxa/getappealrecords"), 1);
}

#[tokio::test]
async fn without_permission_set_76_wechat_refuses_the_records_and_pushes_nothing() {
    let app = spawn_app().await;
    let appid = app.authorized_app("No 76").await;
    app.local.sim.punish(&appid, ban()).await.unwrap();
    assert!(app
        .local
        .sim
        .pushes()
        .iter()
        .all(|r| r.kind != "wxa_punish_event"));
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/violations")).await;
    assert_eq!((s, v["errcode"].as_i64()), (422, Some(61007)), "{v}");
}

/// The app's appeal notifications, oldest first, as `(status, appeal_record_id)`.
async fn appeal_notifications(app: &App, appid: &AppId) -> Vec<(String, u64)> {
    let mut told: Vec<_> = app
        .local
        .store
        .list_notifications(None, None, 50)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| match n.event {
            wxopen::notifications::Event::AppealUpdated {
                appid: a,
                appeal_record_id,
                status,
                ..
            } if &a == appid => Some((n.created_at, status.as_str().to_owned(), appeal_record_id)),
            _ => None,
        })
        .collect();
    told.sort();
    told.into_iter().map(|(_, s, id)| (s, id)).collect()
}

#[tokio::test]
async fn an_appeal_is_notified_once_per_state_whether_read_or_pushed() {
    let app = spawn_app().await;
    let appid = authorized_with_76(&app, "Appeal told").await;
    let p = app.local.sim.punish(&appid, ban()).await.unwrap();
    // The appeal's push is late: wxopen learns of it by reading getappealrecords first.
    app.local.sim.hold_pushes("wxa_appeal_record");
    let id = app
        .local
        .sim
        .appeal(&appid, &p.punish_id, 1, "")
        .await
        .unwrap();
    let appeals_path = format!("/ops/apps/{appid}/violations/{}/appeals", p.punish_id);
    for _ in 0..2 {
        let (s, v) = app.call(Method::GET, &appeals_path, None).await;
        assert_eq!(s, 200, "{v}");
    }
    assert_eq!(
        appeal_notifications(&app, &appid).await,
        [("processing".to_owned(), id)],
        "a new appeal, told once however often it is read"
    );
    // The late push of the same state tells nothing more.
    assert_eq!(app.local.sim.release_held_pushes().await, 1);
    assert_eq!(appeal_notifications(&app, &appid).await.len(), 1);
    // The result, pushed first and then read: one more message.
    app.local.sim.advance_clock(60);
    app.local
        .sim
        .appeal(&appid, &p.punish_id, 3, "材料不足")
        .await
        .unwrap();
    assert_eq!(
        appeal_notifications(&app, &appid).await,
        [("processing".to_owned(), id), ("rejected".to_owned(), id)],
        "the pushed result is told"
    );
    let (s, v) = app.call(Method::GET, &appeals_path, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        appeal_notifications(&app, &appid).await,
        [("processing".to_owned(), id), ("rejected".to_owned(), id)]
    );
    let rejected = app
        .local
        .store
        .get_notification(&format!("appeal:{appid}:{id}:rejected"))
        .await
        .unwrap()
        .expect("the result's notification");
    let md = rejected.notification.event.wecom_markdown(None);
    assert!(md.contains("申诉不通过") && md.contains("材料不足"), "{md}");
}

/// The text of the element `css` once it contains `needle` (polled for up to 10 s); the last
/// text seen when it never does.
async fn text_once_it_holds(
    c: &fantoccini::Client,
    css: &str,
    needle: &str,
) -> Result<String, fantoccini::error::CmdError> {
    let mut text = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(fantoccini::Locator::Css(css)).await {
            text = e.text().await?;
            if text.contains(needle) {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(text)
}

/// The console in a real browser: a penalised app shows its penalty in the authorizer list and
/// in its view's violations panel, and the quota panel's look-up shows one API's figures.
/// Without Chromium and ChromeDriver it says so and passes (fails with `CI=true`).
#[tokio::test]
async fn the_console_shows_the_penalty_of_a_penalised_app_and_the_quota_lookups_figures() {
    use fantoccini::Locator;
    use support::browser::{browser, driver, shoot};
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let appid = authorized_with_76(&app, "Penalised Shop").await;
    let p = app.local.sim.punish(&appid, ban()).await.unwrap();
    // The calls of get_category counted against a daily limit of 10 (the app view reads the
    // categories too: the look-up shows however many WeChat counted, never the remainder).
    const CATEGORY: &str = "/wxa/get_category";
    app.local.sim.set_daily_quota(CATEGORY, 10);
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/categories")).await;
    assert_eq!(s, 200, "{v}");

    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path(), (1280, 900)).await;
    let story = async {
        c.goto(&app.url("/console")).await?;
        c.wait()
            .for_element(Locator::Id("login-key"))
            .await?
            .send_keys(support::OPERATOR_KEY)
            .await?;
        c.find(Locator::Id("login-submit")).await?.click().await?;
        // The authorizer list: the app's row says it is penalised, and how.
        let cell = format!("tr[data-appid='{appid}'] .penalty-cell");
        let listed = text_once_it_holds(&c, &cell, "功能封禁").await?;
        assert!(
            listed.contains("1 · 功能封禁") && listed.contains("function ban"),
            "{listed}"
        );
        shoot(&c, "console-penalised-list").await;
        // The app's view: the violations panel lists the penalty with its reason.
        c.find(Locator::Css(&format!(
            "tr[data-appid='{appid}'] a.app-link"
        )))
        .await?
        .click()
        .await?;
        let row = format!("#penalty-table tr[data-punish-id='{}']", p.punish_id);
        let penalty = text_once_it_holds(&c, &row, "内容涉嫌欺诈").await?;
        assert!(
            penalty.contains("功能封禁") && penalty.contains("内容涉嫌欺诈"),
            "{penalty}"
        );
        let panel = c.find(Locator::Id("violations-card")).await?.text().await?;
        assert!(!panel.contains("null"), "nothing missing shows: {panel}");
        // The quota panel: one API's count against its daily limit, and the month's resets.
        c.wait()
            .for_element(Locator::Id("quota-cgi-path"))
            .await?
            .send_keys(CATEGORY)
            .await?;
        let used = app.local.sim.calls(CATEGORY);
        assert!(
            (1..5).contains(&used),
            "used {used} of 10: not the 10 - {used} remaining"
        );
        c.find(Locator::Id("quota-look")).await?.click().await?;
        let shown = format!("{CATEGORY}: {used} / 10");
        let figures = text_once_it_holds(&c, "#quota-result", &shown).await?;
        assert!(
            figures.contains(&shown) && figures.contains("0 / 10"),
            "{figures}"
        );
        shoot(&c, "console-violations-and-quota").await;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    if story.is_err() {
        shoot(&c, "console-violations-failure").await;
    }
    let _ = c.close().await;
    story.expect("the violations and quota panels");
}
