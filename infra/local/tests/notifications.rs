//! Notifications end to end: events written to the outbox by the path that produced them (an
//! audit push), delivered by the drainer at the simulated clock's time to receivers on loopback
//! (a WeCom-style robot and a signed webhook, run here), retried with backoff, failed and listed
//! after their window, routed by the rules. No test sleeps: time is the manual clock, delivery is
//! the drainer called at it.

mod support;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use support::{spawn_app_with, App, OPERATOR_KEY};
use wxopen::crypto::MsgCrypt;
use wxopen::domain::{AppId, AuditId, AuditStatus, Clock, ManualClock};
use wxopen::notifications::{self, DrainReport, Event};
use wxopen::secrets::PlatformSecrets;
use wxopen::store::{AuditRecord, Authorizer, AuthorizerStatus, NotificationStatus};

const COMPONENT: &str = "wx134c8103faa5a59e";
const TOKEN: &str = "pushtoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP: &str = "wxf8b4f85f3a794e77";
const NOW: i64 = 1_700_000_000;
const SIGNING_SECRET: &str = "whsec-0123456789abcdef";
/// sha256("local-operator-key"): the harness's operator key, an admin of every customer.
const OPERATOR_DIGEST: &str = "a4462a45549d16087618a1c6bb479e579cddf2d4aa089c8f98b0b88d5f52d428";

struct Env {
    app: App,
    clock: ManualClock,
    crypt: MsgCrypt,
}

async fn env() -> Env {
    let clock = ManualClock::new(NOW);
    let secrets = PlatformSecrets::new(
        COMPONENT,
        "appsecret",
        TOKEN,
        KEY,
        vec![OPERATOR_DIGEST.into()],
    )
    .unwrap();
    let app = spawn_app_with(|c| {
        c.clock = Arc::new(clock.clone());
        c.secrets = secrets;
    })
    .await;
    Env {
        app,
        clock,
        crypt: MsgCrypt::new(TOKEN, KEY, COMPONENT).unwrap(),
    }
}

impl Env {
    async fn drain(&self) -> DrainReport {
        self.app
            .local
            .notifier
            .drain(self.app.local.store.as_ref(), self.clock.now())
            .await
            .unwrap()
    }

    async fn put_rules(&self, rules: Value) {
        let resp = self
            .app
            .ops(reqwest::Method::PUT, "/ops/notifications/rules")
            .json(&rules)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    }

    async fn get(&self, path: &str) -> Value {
        let resp = self
            .app
            .ops(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    async fn status_of(&self, id: &str) -> NotificationStatus {
        self.app
            .local
            .store
            .get_notification(id)
            .await
            .unwrap()
            .unwrap()
            .notification
            .status
    }

    /// An app of `customer` with an audit under review since before [`NOW`].
    async fn app_of(&self, appid: &str, user_name: &str, customer: &str) -> AppId {
        let appid = AppId::parse(appid).unwrap();
        let store = &self.app.local.store;
        store
            .upsert_authorizer(&Authorizer {
                appid: appid.clone(),
                status: AuthorizerStatus::Authorized,
                customer_id: Some(customer.into()),
                nick_name: "商户".into(),
                user_name: user_name.into(),
                principal_name: "某公司".into(),
                is_mini_program: true,
                func_info: vec![17, 18],
                profile: json!({}),
                authorized_at: NOW - 100,
                updated_at: NOW - 100,
                customer_moves: vec![],
            })
            .await
            .unwrap();
        store
            .record_audit(&AuditRecord {
                appid: appid.clone(),
                auditid: AuditId(1234567),
                status: AuditStatus::Auditing,
                reason: None,
                screenshots: vec![],
                template_id: Some(1),
                user_version: Some("1.0.0".into()),
                user_desc: None,
                submitted_at: NOW - 50,
                updated_at: NOW - 50,
                released_at: None,
            })
            .await
            .unwrap();
        appid
    }

    /// A `weapp_audit_fail` push for `appid` created at `at`, sealed as WeChat sends it.
    async fn push_rejection(&self, appid: &AppId, at: i64, nonce: &str) -> (u16, String) {
        let xml = format!("<xml><ToUserName><![CDATA[gh_fb9688c2a4b2]]></ToUserName><FromUserName><![CDATA[od1P50M-fNQI5Gcq-trm4a7apsU8]]></FromUserName><CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[weapp_audit_fail]]></Event><Reason><![CDATA[小程序名称涉嫌侵权]]></Reason><FailTime>{at}</FailTime><ScreenShot>m1</ScreenShot></xml>");
        let sealed = self.crypt.seal(&xml, &at.to_string(), nonce);
        let body = format!(
            "<xml><AppId><![CDATA[{COMPONENT}]]></AppId><Encrypt><![CDATA[{}]]></Encrypt></xml>",
            sealed.encrypt
        );
        let uri = format!(
            "/wechat/apps/{appid}?signature=x&timestamp={at}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
            sealed.msg_signature
        );
        let resp = self
            .app
            .http
            .post(self.app.url(&uri))
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver on loopback: records every request and answers the scripted statuses in turn
/// (200 once the script is spent), with WeCom's `{"errcode":0}` body.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    url: String,
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::serve(listener, script).await
    }

    async fn serve(listener: tokio::net::TcpListener, script: &[u16]) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let r = Receiver {
            url: format!("http://{addr}/cgi-bin/webhook/send?key=robot-key-0000-secret"),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            ..Default::default()
        };
        let state = r.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                state.hits.lock().unwrap().push(Hit { headers, body });
                let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
                (
                    StatusCode::from_u16(status).unwrap(),
                    axum::Json(json!({ "errcode": 0, "errmsg": "ok" })),
                )
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

/// A loopback URL nobody listens at (connection refused), and its port for a receiver later.
fn nobody_listening() -> (String, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    (
        format!("http://127.0.0.1:{port}/cgi-bin/webhook/send?key=robot-key-0000-secret"),
        port,
    )
}

/// HMAC-SHA256 written out from its definition (RFC 2104) over SHA-256: the test's own, not
/// the code's.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The webhook's signature holds: `sha256=` HMAC over `{timestamp}.{body}` with the secret.
fn assert_signed(hit: &Hit) {
    let header = |n: &str| hit.headers.get(n).unwrap().to_str().unwrap().to_owned();
    let ts = header("x-wxopen-timestamp");
    let mut msg = format!("{ts}.").into_bytes();
    msg.extend_from_slice(&hit.body);
    let expected = format!(
        "sha256={}",
        hex::encode(hmac_sha256(SIGNING_SECRET.as_bytes(), &msg))
    );
    assert_eq!(header("x-wxopen-signature"), expected);
    assert_eq!(header("x-wxopen-delivery").len(), 32);
}

#[tokio::test]
async fn a_rejection_push_makes_exactly_one_wecom_message_however_often_it_repeats() {
    let e = env().await;
    let robot = Receiver::start(&[]).await;
    e.put_rules(json!({
        "channels": [{ "name": "ops-group", "kind": "wecom", "url": robot.url }],
        "routes": [{ "channel": "ops-group", "events": ["audit_rejected"] }],
    }))
    .await;
    let appid = e.app_of(APP, "gh_fb9688c2a4b2", "c-1").await;
    // WeChat's retries of one push, and the same result pushed again later (another CreateTime:
    // not the same push to the push log).
    for (at, nonce) in [(NOW, "1"), (NOW, "2"), (NOW, "3"), (NOW + 30, "4")] {
        assert_eq!(
            e.push_rejection(&appid, at, nonce).await,
            (200, "success".to_owned())
        );
    }
    // Answered before anything was delivered: the robot has heard nothing yet.
    assert!(robot.hits().is_empty());
    let report = e.drain().await;
    assert_eq!(report.delivered, 1, "{report:?}");
    e.clock.advance(3_600);
    e.drain().await;
    let hits = robot.hits();
    assert_eq!(hits.len(), 1, "exactly one message");
    let msg = hits[0].json();
    assert_eq!(msg["msgtype"], "markdown");
    let content = msg["markdown"]["content"].as_str().unwrap();
    let (zh, en) = (
        content.find("审核未通过").unwrap(),
        content.find("Audit rejected").unwrap(),
    );
    assert!(zh < en, "Chinese first: {content}");
    assert!(content.contains("小程序名称涉嫌侵权"));
    assert!(content.contains(&format!("{}/console#/apps/{APP}", e.app.local.base_url)));
    let listed = e.get("/ops/notifications").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["id"], format!("audit:{APP}:1234567:rejected"));
    assert_eq!(items[0]["status"], "delivered");
    assert_eq!(items[0]["deliveries"][0]["attempts"], 1);
}

#[tokio::test]
async fn a_webhook_answering_500_three_times_is_delivered_once_after_retries() {
    let e = env().await;
    let hook = Receiver::start(&[500, 500, 500]).await;
    e.put_rules(json!({
        "channels": [{ "name": "backend", "kind": "webhook", "url": hook.url, "signing_secret": SIGNING_SECRET }],
        "routes": [{ "channel": "backend" }],
    }))
    .await;
    let id = "batch:b-1:finished";
    let event = Event::BatchFinished {
        batch_id: "b-1".into(),
        operation: "release".into(),
        ok: 9,
        skipped: 1,
        failed: 0,
    };
    notifications::emit(e.app.local.store.as_ref(), event.clone(), id, NOW)
        .await
        .unwrap();
    e.drain().await;
    assert_eq!(hook.hits().len(), 1);
    // Not again before its backoff (a minute after the first failure).
    e.clock.advance(59);
    e.drain().await;
    assert_eq!(hook.hits().len(), 1, "retried before the backoff");
    for (wait, hits) in [(1, 2), (120, 3), (240, 4)] {
        e.clock.advance(wait);
        e.drain().await;
        assert_eq!(hook.hits().len(), hits);
    }
    assert_eq!(e.status_of(id).await, NotificationStatus::Delivered);
    e.clock.advance(3_600);
    e.drain().await;
    let hits = hook.hits();
    assert_eq!(hits.len(), 4, "delivered once, after three refusals");
    let delivery = hits[0].headers["x-wxopen-delivery"].clone();
    for h in &hits {
        assert_signed(h);
        assert_eq!(
            h.headers["x-wxopen-delivery"], delivery,
            "one delivery id for every attempt"
        );
        let body = h.json();
        assert_eq!(body["id"], id);
        assert_eq!(body["event"]["kind"], "batch_finished");
        assert_eq!(body["event"]["ok"], 9);
    }
    let n = e
        .app
        .local
        .store
        .get_notification(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.notification.deliveries[0].attempts, 4);
}

#[tokio::test]
async fn a_receiver_down_for_the_whole_window_leaves_the_notification_failed_listed_and_counted() {
    let e = env().await;
    let (url, port) = nobody_listening();
    e.put_rules(json!({
        "channels": [{ "name": "ops-group", "kind": "wecom", "url": url }],
        "routes": [{ "channel": "ops-group" }],
    }))
    .await;
    let appid = AppId::parse(APP).unwrap();
    let id = format!("unauthorized:{APP}:{NOW}");
    notifications::emit(
        e.app.local.store.as_ref(),
        Event::Unauthorized { appid },
        &id,
        NOW,
    )
    .await
    .unwrap();
    let mut total = DrainReport::default();
    while e.clock.now() < NOW + 26 * 3_600 {
        let r = e.drain().await;
        total.failed += r.failed;
        total.retrying += r.retrying;
        if e.clock.now() < NOW + 86_400 {
            assert_eq!(e.status_of(&id).await, NotificationStatus::Pending);
        }
        e.clock.advance(1_800);
    }
    assert_eq!(e.status_of(&id).await, NotificationStatus::Failed);
    assert_eq!(total.failed, 1, "counted once: {total:?}");
    assert!(total.retrying > 10, "retried within the window: {total:?}");
    let emf = total.emf("batch-runner", 0);
    assert_eq!(emf[notifications::deliver::FAILED_METRIC], 1);
    let failed = e.get("/ops/notifications?status=failed").await;
    let items = failed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{failed}");
    assert_eq!(items[0]["id"], id);
    let d = &items[0]["deliveries"][0];
    assert_eq!(d["state"], "failed");
    let shown = failed.to_string();
    assert!(shown.contains("could not be reached"), "{shown}");
    assert!(
        !shown.contains("robot-key-0000-secret"),
        "the URL's key is never shown"
    );
    assert!(e.get("/ops/notifications?status=pending").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // The robot is back: the console's retry button sends it now.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let robot = Receiver::serve(listener, &[]).await;
    let resp = e
        .app
        .ops(
            reqwest::Method::POST,
            &format!("/ops/notifications/{id}/retry"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "delivered", "{body}");
    assert_eq!(robot.hits().len(), 1);
}

#[tokio::test]
async fn rules_route_an_event_to_one_channel_and_not_another() {
    let e = env().await;
    let robot = Receiver::start(&[]).await;
    let hook = Receiver::start(&[]).await;
    e.put_rules(json!({
        "channels": [
            { "name": "acme-group", "kind": "wecom", "url": robot.url },
            { "name": "backend", "kind": "webhook", "url": hook.url, "signing_secret": SIGNING_SECRET },
        ],
        "routes": [
            { "channel": "acme-group", "events": ["audit_rejected"], "customer_id": "acme" },
            { "channel": "backend", "events": ["batch_finished"] },
        ],
    }))
    .await;
    let acme = e.app_of(APP, "gh_fb9688c2a4b2", "acme").await;
    let other = e
        .app_of("wx0000000000000ab1", "gh_000000000ab1", "other")
        .await;
    let store = e.app.local.store.as_ref();
    let rejected = |appid: &AppId| Event::AuditRejected {
        appid: appid.clone(),
        auditid: 1,
        reason: "r".into(),
    };
    notifications::emit(store, rejected(&acme), "r-acme", NOW)
        .await
        .unwrap();
    notifications::emit(store, rejected(&other), "r-other", NOW)
        .await
        .unwrap();
    let batch = Event::BatchFinished {
        batch_id: "b".into(),
        operation: "commit".into(),
        ok: 1,
        skipped: 0,
        failed: 0,
    };
    notifications::emit(store, batch, "b", NOW).await.unwrap();
    e.drain().await;
    let (robot_hits, hook_hits) = (robot.hits(), hook.hits());
    assert_eq!(robot_hits.len(), 1, "acme's rejection only");
    assert!(robot_hits[0].json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .contains(APP));
    assert_eq!(hook_hits.len(), 1, "the batch only");
    assert_eq!(hook_hits[0].json()["event"]["kind"], "batch_finished");
    assert_signed(&hook_hits[0]);
    assert_eq!(e.status_of("r-other").await, NotificationStatus::Unrouted);
    // The rules as read back hold neither the robot's key nor the signing secret.
    let rules = e.get("/ops/notifications/rules").await.to_string();
    assert!(
        !rules.contains("robot-key-0000-secret") && !rules.contains(SIGNING_SECRET),
        "{rules}"
    );
    // A PUT without the url keeps the stored one; the test send reaches it.
    e.put_rules(json!({
        "channels": [{ "name": "acme-group", "kind": "wecom" }],
        "routes": [],
    }))
    .await;
    let resp = e
        .app
        .ops(reqwest::Method::POST, "/ops/notifications/test")
        .json(&json!({ "channel": "acme-group" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["delivered"], true, "{body}");
    let hits = robot.hits();
    assert_eq!(hits.len(), 2);
    assert!(hits[1].json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .contains("测试通知"));
}

#[tokio::test]
async fn a_bad_rule_is_refused_and_changes_nothing() {
    let e = env().await;
    let robot = Receiver::start(&[]).await;
    e.put_rules(json!({
        "channels": [{ "name": "ops", "kind": "wecom", "url": robot.url }],
        "routes": [{ "channel": "ops" }],
    }))
    .await;
    for bad in [
        json!({ "channels": [{ "name": "x", "kind": "wecom", "url": "http://10.1.2.3/hook" }] }),
        json!({ "channels": [], "routes": [{ "channel": "nowhere" }] }),
        json!({ "channels": [{ "name": "w", "kind": "webhook", "url": robot.url }] }),
        json!({ "channels": [{ "name": "w", "kind": "pager", "url": robot.url }] }),
    ] {
        let resp = e
            .app
            .ops(reqwest::Method::PUT, "/ops/notifications/rules")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }
    let rules = e.get("/ops/notifications/rules").await;
    assert_eq!(rules["channels"][0]["name"], "ops");
    assert_eq!(rules["routes"].as_array().unwrap().len(), 1);
    let resp = e
        .app
        .ops(reqwest::Method::GET, "/ops/notifications?status=lost")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = e
        .app
        .ops(reqwest::Method::POST, "/ops/notifications/nothing/retry")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let _ = OPERATOR_KEY;
}

/// The console's notifications view in a real browser: the channels without their key, a
/// failed notification with its error, and the retry button sending it once the robot is back.
/// Without Chromium and ChromeDriver it says so and passes (fails with `CI=true`).
#[tokio::test]
async fn the_console_lists_a_failure_and_its_retry_button_sends_it() {
    use fantoccini::Locator;
    use support::browser::{browser, driver, shoot};
    let Some(driver) = driver().await else { return };
    let e = env().await;
    let (url, port) = nobody_listening();
    e.put_rules(json!({
        "channels": [{ "name": "ops-group", "kind": "wecom", "url": url }],
        "routes": [{ "channel": "ops-group" }],
    }))
    .await;
    let id = format!("unauthorized:{APP}:{NOW}");
    let event = Event::Unauthorized {
        appid: AppId::parse(APP).unwrap(),
    };
    notifications::emit(e.app.local.store.as_ref(), event, &id, NOW)
        .await
        .unwrap();
    e.clock.advance(86_400);
    assert_eq!(e.drain().await.failed, 1);

    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path(), (1280, 800)).await;
    let story = async {
        c.goto(&e.app.url("/console")).await?;
        c.wait()
            .for_element(Locator::Id("login-key"))
            .await?
            .send_keys(OPERATOR_KEY)
            .await?;
        c.find(Locator::Id("login-submit")).await?.click().await?;
        c.wait()
            .for_element(Locator::Css("[data-nav=notifications]"))
            .await?
            .click()
            .await?;
        let retry = c
            .wait()
            .for_element(Locator::Css(&format!("[data-retry='{id}']")))
            .await?;
        let channels = c
            .wait()
            .for_element(Locator::Id("channel-table"))
            .await?
            .text()
            .await?;
        assert!(channels.contains("ops-group"), "{channels}");
        assert!(!channels.contains("robot-key-0000-secret"), "{channels}");
        let list = c
            .find(Locator::Id("notification-table"))
            .await?
            .text()
            .await?;
        assert!(list.contains("could not be reached"), "{list}");
        shoot(&c, "console-notifications").await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let robot = Receiver::serve(listener, &[]).await;
        retry.click().await?;
        c.wait()
            .for_element(Locator::Css("#notification-result .ok-box"))
            .await?;
        assert_eq!(robot.hits().len(), 1);
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    if story.is_err() {
        shoot(&c, "console-notifications-failure").await;
    }
    let _ = c.close().await;
    story.expect("the notifications view");
    assert_eq!(e.status_of(&id).await, NotificationStatus::Delivered);
}

/// The audit quota's notifications in the outbox.
async fn quota_low_notifications(app: &App) -> Vec<Event> {
    app.local
        .store
        .list_notifications(None, None, 50)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.event)
        .filter(|e| matches!(e, Event::AuditQuotaLow { .. }))
        .collect()
}

#[tokio::test]
async fn a_single_submit_that_leaves_under_a_tenth_of_the_audit_quota_is_told_once_a_month() {
    let app = support::spawn_app().await;
    let (first, second) = (
        app.authorized_app("Quota one").await,
        app.authorized_app("Quota two").await,
    );
    // A tenth left exactly is not "below 10%": read, not told.
    app.local.sim.set_audit_quota(10, 100, 5, 10);
    let (s, v) = app.get_json("/ops/quota").await;
    assert_eq!((s, v["rest"].as_i64()), (200, Some(10)), "{v}");
    assert!(quota_low_notifications(&app).await.is_empty());
    app.local.sim.reset_calls();
    app.commit_and_submit(&first, "1.0.0").await;
    assert_eq!(
        app.local.sim.calls("/wxa/queryquota"),
        1,
        "read once after the submit"
    );
    assert_eq!(
        quota_low_notifications(&app).await,
        [Event::AuditQuotaLow {
            remaining: 9,
            limit: 100
        }],
        "the submit that left 9 of 100 is told"
    );
    // Another submit this month (8 left), and the quota route reading it: nothing more.
    app.commit_and_submit(&second, "1.0.0").await;
    let (s, v) = app.get_json("/ops/quota").await;
    assert_eq!((s, v["rest"].as_i64()), (200, Some(8)), "{v}");
    assert_eq!(quota_low_notifications(&app).await.len(), 1);
}

/// A speed-up reads the quota too (for its own count): one that finds under a tenth of the
/// month's audits left is told, once.
#[tokio::test]
async fn a_speedup_that_finds_under_a_tenth_of_the_audit_quota_left_is_told() {
    let app = support::spawn_app().await;
    let appid = app.authorized_app("Quota speed-up").await;
    app.local.sim.set_audit_quota(50, 100, 5, 10);
    app.commit_and_submit(&appid, "1.0.0").await;
    assert!(quota_low_notifications(&app).await.is_empty());
    // The provider's other apps used the month's audits meanwhile.
    app.local.sim.set_audit_quota(5, 100, 5, 10);
    let speedup = format!("/ops/apps/{appid}/audits/latest/speedup");
    let (s, v) = app.call(reqwest::Method::POST, &speedup, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("sped_up")), "{v}");
    assert_eq!(
        quota_low_notifications(&app).await,
        [Event::AuditQuotaLow {
            remaining: 5,
            limit: 100
        }]
    );
}

/// `PUT /ops/notifications/rules` puts the robot's key and the signing secret in the channels'
/// secret (here the owner-only file that stands in for Secrets Manager), the rules item keeps
/// references only, `GET` shows neither, and a later `PUT` without them keeps them.
#[tokio::test]
async fn the_rules_item_keeps_references_and_the_secret_parts_stay_in_the_secret() {
    let e = env().await;
    let robot = Receiver::start(&[]).await;
    let hook = Receiver::start(&[]).await;
    e.put_rules(json!({
        "channels": [
            { "name": "ops-group", "kind": "wecom", "url": robot.url },
            { "name": "backend", "kind": "webhook", "url": hook.url, "signing_secret": SIGNING_SECRET },
        ],
        "routes": [{ "channel": "backend" }],
    }))
    .await;
    let stored = e
        .app
        .local
        .store
        .get_notification_rules()
        .await
        .unwrap()
        .to_stored_json()
        .unwrap();
    for secret in ["robot-key-0000-secret", SIGNING_SECRET] {
        assert!(!stored.contains(secret), "{secret} in the store: {stored}");
    }
    let secrets = e.app.local.notifier.channel_secrets();
    assert!(
        stored.contains(&format!("{}#backend", secrets.secret_id())),
        "{stored}"
    );
    let path = std::path::Path::new(secrets.secret_id());
    let file = std::fs::read_to_string(path).unwrap();
    assert!(file.contains("robot-key-0000-secret") && file.contains(SIGNING_SECRET));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
    }
    let shown = e.get("/ops/notifications/rules").await;
    let text = shown.to_string();
    assert!(
        !text.contains("robot-key-0000-secret") && !text.contains(SIGNING_SECRET),
        "{text}"
    );
    assert_eq!(shown["channels"][1]["signing_secret_set"], true, "{shown}");
    assert!(shown["channels"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    // Routes changed, secrets left out: kept, and the delivery is still signed with them.
    e.put_rules(json!({
        "channels": [{ "name": "backend", "kind": "webhook" }],
        "routes": [{ "channel": "backend" }],
    }))
    .await;
    let file = std::fs::read_to_string(path).unwrap();
    assert!(
        !file.contains("ops-group") && !file.contains(&robot.url) && file.contains(SIGNING_SECRET),
        "a channel removed takes its secret parts along, the kept one keeps them"
    );
    let event = Event::BatchFinished {
        batch_id: "b-s".into(),
        operation: "release".into(),
        ok: 1,
        skipped: 0,
        failed: 0,
    };
    notifications::emit(e.app.local.store.as_ref(), event, "batch:b-s:finished", NOW)
        .await
        .unwrap();
    assert_eq!(e.drain().await.delivered, 1);
    assert_signed(&hook.hits()[0]);
}

#[tokio::test]
async fn the_audit_quota_route_reading_under_a_tenth_is_told_once() {
    let app = support::spawn_app().await;
    app.authorized_app("Quota read").await;
    app.local.sim.set_audit_quota(5, 100, 5, 10);
    for _ in 0..2 {
        let (s, v) = app.get_json("/ops/quota").await;
        assert_eq!((s, v["rest"].as_i64()), (200, Some(5)), "{v}");
    }
    assert_eq!(
        quota_low_notifications(&app).await,
        [Event::AuditQuotaLow {
            remaining: 5,
            limit: 100
        }]
    );
}
