//! The push URLs (ticket-push's router) of the one test app, sent signed pushes over HTTP as
//! WeChat would POST them, with the state read from the app's embedded store. The pushes here
//! never call WeChat (the authorization pushes, which do, are in authorization.rs); the app's
//! simulator is there all the same, and pushes its first ticket at start: "changes nothing" is
//! checked against the state after that.

mod support;

use secrecy::ExposeSecret;
use std::sync::Arc;
use support::{spawn_app_with, App};
use wxopen::crypto::MsgCrypt;
use wxopen::domain::{AppId, AuditId, AuditStatus, ManualClock};
use wxopen::secrets::PlatformSecrets;
use wxopen::store::{AuditRecord, Authorizer, AuthorizerStatus, TokenKey, TokenState};

const COMPONENT: &str = "wx134c8103faa5a59e";
const TOKEN: &str = "pushtoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP: &str = "wxf8b4f85f3a794e77";
const NOW: i64 = 1_700_000_000;

/// The app on a manual clock at [`NOW`], with the platform's secrets, and WeChat's sealing of
/// the pushes the tests send.
struct Pushes {
    app: App,
    clock: ManualClock,
    crypt: MsgCrypt,
    /// The ticket the simulator pushed at start.
    first_ticket: Option<String>,
}

fn secrets() -> PlatformSecrets {
    PlatformSecrets::new(COMPONENT, "appsecret", TOKEN, KEY, vec!["0".repeat(64)]).unwrap()
}

async fn app() -> Pushes {
    app_with(secrets()).await
}

async fn app_with(secrets: PlatformSecrets) -> Pushes {
    let clock = ManualClock::new(NOW);
    let app = spawn_app_with(|c| {
        c.clock = Arc::new(clock.clone());
        c.secrets = secrets;
    })
    .await;
    let mut a = Pushes {
        app,
        clock,
        crypt: MsgCrypt::new(TOKEN, KEY, COMPONENT).unwrap(),
        first_ticket: None,
    };
    a.first_ticket = latest_ticket(&a).await;
    assert!(
        a.first_ticket.is_some(),
        "the simulator pushed a first ticket"
    );
    a
}

/// `method` `uri` (path and query) with `body`, to the app's listener.
async fn send(a: &Pushes, method: &str, uri: &str, body: &str) -> reqwest::Response {
    a.app
        .http
        .request(method.parse().unwrap(), a.app.url(uri))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// The signed push WeChat would POST, sent; answers the status and body.
async fn post_push(a: &Pushes, path: &str, xml: &str, ts: i64, nonce: &str) -> (u16, String) {
    let (uri, body) = sealed_push(a, path, xml, ts, nonce);
    body_text(send(a, "POST", &uri, &body).await).await
}

/// The URI and body WeChat would POST; a retry resends exactly these.
fn sealed_push(a: &Pushes, path: &str, xml: &str, ts: i64, nonce: &str) -> (String, String) {
    let sealed = a.crypt.seal(xml, &ts.to_string(), nonce);
    let body = format!(
        "<xml><AppId><![CDATA[{COMPONENT}]]></AppId><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        sealed.encrypt
    );
    let uri = format!(
        "{path}?signature=x&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
        sealed.msg_signature
    );
    (uri, body)
}

fn ticket_xml(ticket: &str) -> String {
    format!("<xml><AppId><![CDATA[{COMPONENT}]]></AppId><CreateTime>{NOW}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>")
}

async fn body_text(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn latest_ticket(a: &Pushes) -> Option<String> {
    a.app
        .local
        .store
        .latest_ticket(&AppId::parse(COMPONENT).unwrap())
        .await
        .unwrap()
        .map(|t| t.value.expose_secret().to_owned())
}

#[tokio::test]
async fn a_signed_ticket_push_is_stored_and_answered_success() {
    let a = app().await;
    let (status, body) = post_push(
        &a,
        "/wechat/component",
        &ticket_xml("ticket@@@one"),
        NOW,
        "1",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "success"));
    assert_eq!(latest_ticket(&a).await.as_deref(), Some("ticket@@@one"));
}

#[tokio::test]
async fn a_repeated_push_is_applied_once() {
    let a = app().await;
    let (uri, body) = sealed_push(&a, "/wechat/component", &ticket_xml("ticket@@@A"), NOW, "7");
    assert_eq!(body_text(send(&a, "POST", &uri, &body).await).await.0, 200);
    a.clock.advance(10);
    let second = post_push(
        &a,
        "/wechat/component",
        &ticket_xml("ticket@@@B"),
        NOW + 10,
        "8",
    )
    .await;
    assert_eq!(second.0, 200);
    a.clock.advance(10);
    // WeChat retries the first push: answered success, but not applied again.
    let (status, text) = body_text(send(&a, "POST", &uri, &body).await).await;
    assert_eq!((status, text.as_str()), (200, "success"));
    assert_eq!(latest_ticket(&a).await.as_deref(), Some("ticket@@@B"));
}

#[tokio::test]
async fn a_bad_signature_is_refused_with_401_json_and_changes_nothing() {
    let a = app().await;
    let (uri, body) = sealed_push(&a, "/wechat/component", &ticket_xml("ticket@@@x"), NOW, "1");
    let tampered = uri.replace("nonce=1", "nonce=2");
    let (status, body) = body_text(send(&a, "POST", &tampered, &body).await).await;
    assert_eq!(status, 401);
    assert!(body.contains("-40001"), "{body}");
    assert_eq!(latest_ticket(&a).await, a.first_ticket);
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_refused() {
    let a = app().await;
    for ts in [NOW - 601, NOW + 301] {
        let (status, body) =
            post_push(&a, "/wechat/component", &ticket_xml("ticket@@@x"), ts, "1").await;
        assert_eq!(status, 401);
        assert!(body.contains("stale_timestamp"), "{body}");
    }
    assert_eq!(latest_ticket(&a).await, a.first_ticket);
}

#[tokio::test]
async fn malformed_requests_get_clear_4xx_json() {
    let a = app().await;
    let build =
        |method: &'static str, uri: &str, body: &str| (method, uri.to_owned(), body.to_owned());
    let cases = [
        (
            build("GET", "/wechat/component", ""),
            405,
            "method_not_allowed",
        ),
        (build("POST", "/wechat/elsewhere", ""), 404, "not_found"),
        (
            build(
                "POST",
                "/wechat/apps/not-an-appid?timestamp=1&nonce=1&msg_signature=x",
                "",
            ),
            400,
            "invalid_appid",
        ),
        (
            build("POST", "/wechat/component?timestamp=1&nonce=1", ""),
            400,
            "missing_parameter",
        ),
        (
            build(
                "POST",
                &format!(
                    "/wechat/component?timestamp={NOW}&nonce=1&msg_signature=x&encrypt_type=raw"
                ),
                "",
            ),
            400,
            "unsupported_encrypt_type",
        ),
        (
            build(
                "POST",
                "/wechat/component?timestamp=abc&nonce=1&msg_signature=x",
                "",
            ),
            400,
            "invalid_timestamp",
        ),
        (
            build(
                "POST",
                &format!("/wechat/component?timestamp={NOW}&nonce=1&msg_signature=x"),
                "not xml",
            ),
            400,
            "-40002",
        ),
        (
            build(
                "POST",
                &format!("/wechat/component?timestamp={NOW}&nonce=1&msg_signature=x"),
                &"A".repeat(70_000),
            ),
            400,
            "push_too_large",
        ),
    ];
    for ((method, uri, body), want_status, want_text) in cases {
        let (status, body) = body_text(send(&a, method, &uri, &body).await).await;
        assert_eq!(status, want_status, "{uri}: {body}");
        assert!(body.contains(want_text), "{uri}: {body}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&body).is_ok(),
            "{body}"
        );
    }
    assert_eq!(latest_ticket(&a).await, a.first_ticket);
}

#[tokio::test]
async fn a_signed_ticket_for_another_component_is_acknowledged_and_not_stored() {
    let a = app().await;
    let xml = ticket_xml("ticket@@@x").replace(
        &format!("<AppId><![CDATA[{COMPONENT}]]></AppId>"),
        "<AppId><![CDATA[wx0000000000000000]]></AppId>",
    );
    let (status, _) = post_push(&a, "/wechat/component", &xml, NOW, "1").await;
    assert_eq!(status, 200, "WeChat would retry a refusal for ever");
    assert_eq!(latest_ticket(&a).await, a.first_ticket);
}

fn authorizer() -> Authorizer {
    Authorizer {
        appid: AppId::parse(APP).unwrap(),
        status: AuthorizerStatus::Authorized,
        customer_id: Some("c-1".into()),
        nick_name: "商户".into(),
        user_name: "gh_fb9688c2a4b2".into(),
        principal_name: "某公司".into(),
        is_mini_program: true,
        func_info: vec![17, 18],
        profile: serde_json::json!({}),
        authorized_at: NOW - 100,
        updated_at: NOW - 100,
        customer_moves: Vec::new(),
    }
}

fn audit(status: AuditStatus) -> AuditRecord {
    AuditRecord {
        appid: AppId::parse(APP).unwrap(),
        auditid: AuditId(1234567),
        status,
        reason: None,
        screenshots: vec![],
        template_id: Some(7),
        user_version: Some("1.0.0".into()),
        user_desc: None,
        submitted_at: NOW - 50,
        updated_at: NOW - 50,
        released_at: None,
    }
}

#[tokio::test]
async fn unauthorized_marks_the_authorizer_drops_its_tokens_and_keeps_its_audits() {
    let a = app().await;
    let appid = AppId::parse(APP).unwrap();
    a.app
        .local
        .store
        .upsert_authorizer(&authorizer())
        .await
        .unwrap();
    a.app
        .local
        .store
        .record_audit(&audit(AuditStatus::Approved))
        .await
        .unwrap();
    let key = TokenKey::Authorizer(appid.clone());
    let state = TokenState {
        access_token: Some("at".to_owned().into()),
        refresh_token: Some("rt".to_owned().into()),
        expires_at: NOW + 7200,
        lease_until: 0,
        lease_owner: None,
        ..TokenState::default()
    };
    a.app
        .local
        .store
        .put_token(&key, &state, None)
        .await
        .unwrap();
    let xml = format!("<xml><AppId><![CDATA[{COMPONENT}]]></AppId><CreateTime>{NOW}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{APP}]]></AuthorizerAppid></xml>");
    let (status, body) = post_push(&a, "/wechat/component", &xml, NOW, "3").await;
    assert_eq!((status, body.as_str()), (200, "success"));
    let got = a
        .app
        .local
        .store
        .get_authorizer(&appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, AuthorizerStatus::Unauthorized);
    let tomb = a.app.local.store.get_token(&key).await.unwrap().unwrap();
    assert!(tomb.state.access_token.is_none() && tomb.state.refresh_token.is_none());
    assert!(tomb.version > 1, "a tombstone: the version counts on");
    assert_eq!(tomb.state.auth_changed_at, NOW);
    assert_eq!(
        a.app
            .local
            .store
            .list_audits(&appid, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

fn audit_push(event: &str, extra: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_fb9688c2a4b2]]></ToUserName><FromUserName><![CDATA[od1P50M-fNQI5Gcq-trm4a7apsU8]]></FromUserName><CreateTime>{NOW}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}</xml>")
}

#[tokio::test]
async fn audit_results_update_the_pending_audit() {
    let path = format!("/wechat/apps/{APP}");
    let appid = AppId::parse(APP).unwrap();
    let cases = [
        (audit_push("weapp_audit_success", &format!("<SuccTime>{NOW}</SuccTime>")), AuditStatus::Approved, None, vec![]),
        (
            audit_push("weapp_audit_fail", &format!("<Reason><![CDATA[1:账号信息不符合规范:<br>]]></Reason><FailTime>{NOW}</FailTime><ScreenShot>m1|m2</ScreenShot>")),
            AuditStatus::Rejected,
            Some("1:账号信息不符合规范:<br>".to_owned()),
            vec!["m1".to_owned(), "m2".to_owned()],
        ),
        (audit_push("weapp_audit_delay", &format!("<Reason><![CDATA[审核延后]]></Reason><DelayTime>{NOW}</DelayTime>")), AuditStatus::Delayed, Some("审核延后".to_owned()), vec![]),
    ];
    for (xml, status, reason, screenshots) in cases {
        let a = app().await;
        a.app
            .local
            .store
            .upsert_authorizer(&authorizer())
            .await
            .unwrap();
        a.app
            .local
            .store
            .record_audit(&audit(AuditStatus::Auditing))
            .await
            .unwrap();
        let (code, body) = post_push(&a, &path, &xml, NOW, "9").await;
        assert_eq!((code, body.as_str()), (200, "success"));
        let got = a
            .app
            .local
            .store
            .latest_audit(&appid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.status, status);
        assert_eq!(got.reason, reason);
        assert_eq!(got.screenshots, screenshots);
    }
}

/// A result lands on the audit it belongs to: the push's ToUserName must be this app's original
/// id, and of two audits the one submitted before the result is updated, never a newer one.
#[tokio::test]
async fn an_audit_result_lands_only_on_the_audit_and_app_it_names() {
    let path = format!("/wechat/apps/{APP}");
    let appid = AppId::parse(APP).unwrap();
    let a = app().await;
    a.app
        .local
        .store
        .upsert_authorizer(&authorizer())
        .await
        .unwrap();
    let older = audit(AuditStatus::Auditing); // submitted NOW - 50
    a.app.local.store.record_audit(&older).await.unwrap();
    let newer = AuditRecord {
        auditid: AuditId(older.auditid.0 + 1),
        submitted_at: NOW - 5,
        updated_at: NOW - 5,
        ..older.clone()
    };
    a.app.local.store.record_audit(&newer).await.unwrap();
    let result_at = NOW - 20; // after the older submission, before the newer one
    let push = |to: &str| {
        audit_push(
            "weapp_audit_success",
            &format!("<SuccTime>{result_at}</SuccTime>"),
        )
        .replace("gh_fb9688c2a4b2", to)
    };
    // Another app's original id: nothing changes.
    let (code, _) = post_push(&a, &path, &push("gh_000000000000"), NOW, "w1").await;
    assert_eq!(code, 200);
    let all = a
        .app
        .local
        .store
        .list_audits(&appid, None, 10)
        .await
        .unwrap()
        .items;
    assert!(
        all.iter().all(|x| x.status == AuditStatus::Auditing),
        "{all:?}"
    );
    // Its own id: the older audit is approved, the newer stays auditing.
    let (code, _) = post_push(&a, &path, &push("gh_fb9688c2a4b2"), NOW, "w2").await;
    assert_eq!(code, 200);
    let all = a
        .app
        .local
        .store
        .list_audits(&appid, None, 10)
        .await
        .unwrap()
        .items;
    let status = |id: AuditId| all.iter().find(|x| x.auditid == id).unwrap().status;
    assert_eq!(status(older.auditid), AuditStatus::Approved);
    assert_eq!(status(newer.auditid), AuditStatus::Auditing);
}

/// Everything a push could touch, to show that a push changed none of it.
async fn snapshot(a: &Pushes) -> String {
    let appid = AppId::parse(APP).unwrap();
    let token = a
        .app
        .local
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .map(|t| {
            (
                t.version,
                t.state.refresh_token.map(|r| r.expose_secret().to_owned()),
            )
        });
    format!(
        "{:?} {:?} {:?} {:?}",
        a.app.local.store.get_authorizer(&appid).await.unwrap(),
        a.app
            .local
            .store
            .list_audits(&appid, None, 10)
            .await
            .unwrap()
            .items,
        token,
        latest_ticket(a).await,
    )
}

/// Unknown event types, and signed pushes whose known event is malformed, are acknowledged (WeChat
/// would retry a refusal for ever) and change nothing: seeded state is compared before and after.
#[tokio::test]
async fn unknown_or_malformed_signed_events_are_answered_success_and_change_nothing() {
    let a = app().await;
    let appid = AppId::parse(APP).unwrap();
    a.app
        .local
        .store
        .upsert_authorizer(&authorizer())
        .await
        .unwrap();
    a.app
        .local
        .store
        .record_audit(&audit(AuditStatus::Auditing))
        .await
        .unwrap();
    let state = TokenState {
        access_token: Some("at".to_owned().into()),
        refresh_token: Some("rt".to_owned().into()),
        expires_at: NOW + 7200,
        ..TokenState::default()
    };
    a.app
        .local
        .store
        .put_token(&TokenKey::Authorizer(appid), &state, None)
        .await
        .unwrap();
    let (status, _) = post_push(
        &a,
        "/wechat/component",
        &ticket_xml("ticket@@@seed"),
        NOW,
        "0",
    )
    .await;
    assert_eq!(status, 200);
    let before = snapshot(&a).await;

    let app_url = format!("/wechat/apps/{APP}");
    let pushes = [
        (app_url.as_str(), audit_push("wxa_nickname_audit", "<ret>3</ret>")),
        (
            "/wechat/component",
            format!("<xml><AppId><![CDATA[{COMPONENT}]]></AppId><CreateTime>{NOW}</CreateTime><InfoType><![CDATA[some_future_type]]></InfoType></xml>"),
        ),
        // Known types, malformed: a ticket push without its ticket, an unauthorized without the
        // authorizer, an audit success without its time.
        (
            "/wechat/component",
            format!("<xml><AppId><![CDATA[{COMPONENT}]]></AppId><CreateTime>{NOW}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType></xml>"),
        ),
        (
            "/wechat/component",
            format!("<xml><AppId><![CDATA[{COMPONENT}]]></AppId><CreateTime>{NOW}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType></xml>"),
        ),
        (app_url.as_str(), audit_push("weapp_audit_success", "")),
    ];
    for (n, (url, xml)) in pushes.iter().enumerate() {
        let (status, body) = post_push(&a, url, xml, NOW, &format!("u{n}")).await;
        assert_eq!((status, body.as_str()), (200, "success"), "{xml}");
    }
    assert_eq!(snapshot(&a).await, before);
}

/// WeChat retries a push it thinks undelivered; an `unauthorized` created before the merchant
/// authorized again must not wipe the fresh authorization.
#[tokio::test]
async fn a_stale_unauthorized_after_reauthorization_keeps_the_authorization() {
    let a = app().await;
    let appid = AppId::parse(APP).unwrap();
    let mut profile = authorizer();
    profile.authorized_at = NOW - 10;
    a.app.local.store.upsert_authorizer(&profile).await.unwrap();
    let key = TokenKey::Authorizer(appid.clone());
    let state = TokenState {
        access_token: Some("at-new".to_owned().into()),
        refresh_token: Some("rt-new".to_owned().into()),
        expires_at: NOW + 7200,
        auth_changed_at: NOW - 10,
        ..TokenState::default()
    };
    let v = a
        .app
        .local
        .store
        .put_token(&key, &state, None)
        .await
        .unwrap();
    let old = NOW - 60;
    let xml = format!("<xml><AppId><![CDATA[{COMPONENT}]]></AppId><CreateTime>{old}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{APP}]]></AuthorizerAppid></xml>");
    let (status, body) = post_push(&a, "/wechat/component", &xml, NOW, "stale-1").await;
    assert_eq!((status, body.as_str()), (200, "success"));
    let got = a
        .app
        .local
        .store
        .get_authorizer(&appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, AuthorizerStatus::Authorized);
    let tok = a.app.local.store.get_token(&key).await.unwrap().unwrap();
    assert_eq!(tok.version, v, "the token item was not touched");
    assert_eq!(
        tok.state
            .refresh_token
            .as_ref()
            .map(|r| r.expose_secret().to_owned()),
        Some("rt-new".to_owned())
    );
}

/// After an EncodingAESKey change WeChat may still push under the old key for a while: with the
/// previous key configured, pushes under either key are applied; one under neither is refused and
/// stores nothing.
#[tokio::test]
async fn pushes_under_the_previous_encoding_aes_key_are_accepted_during_a_change() {
    const NEW_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut";
    const OTHER_KEY: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
    let secrets =
        PlatformSecrets::new(COMPONENT, "appsecret", TOKEN, NEW_KEY, vec!["0".repeat(64)])
            .unwrap()
            .with_previous_encoding_aes_key(Some(KEY))
            .unwrap();
    let mut a = app_with(secrets).await;
    let under = |key: &str| MsgCrypt::new(TOKEN, key, COMPONENT).unwrap();
    for (n, (key, ticket)) in [(KEY, "ticket@@@old-key"), (NEW_KEY, "ticket@@@new-key")]
        .into_iter()
        .enumerate()
    {
        a.crypt = under(key);
        let (status, body) = post_push(
            &a,
            "/wechat/component",
            &ticket_xml(ticket),
            NOW,
            &format!("k{n}"),
        )
        .await;
        assert_eq!((status, body.as_str()), (200, "success"), "{ticket}");
        assert_eq!(latest_ticket(&a).await.as_deref(), Some(ticket));
    }
    a.crypt = under(OTHER_KEY);
    let (status, _) = post_push(
        &a,
        "/wechat/component",
        &ticket_xml("ticket@@@x"),
        NOW,
        "k9",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(latest_ticket(&a).await.as_deref(), Some("ticket@@@new-key"));
}

/// The signature's hex verifies in any letter case: a replay with it in upper or mixed case is
/// still the push already applied.
#[tokio::test]
async fn a_repeated_push_with_its_signature_in_another_case_is_applied_once() {
    let a = app().await;
    let (uri, body) = sealed_push(&a, "/wechat/component", &ticket_xml("ticket@@@A"), NOW, "7");
    assert_eq!(body_text(send(&a, "POST", &uri, &body).await).await.0, 200);
    a.clock.advance(10);
    let second = post_push(
        &a,
        "/wechat/component",
        &ticket_xml("ticket@@@B"),
        NOW + 10,
        "8",
    )
    .await;
    assert_eq!(second.0, 200);
    a.clock.advance(10);
    let (path, sig) = uri.split_once("msg_signature=").unwrap();
    let mixed: String = sig
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    for replayed in [sig.to_ascii_uppercase(), mixed] {
        assert_ne!(replayed, sig);
        let uri = format!("{path}msg_signature={replayed}");
        let (status, text) = body_text(send(&a, "POST", &uri, &body).await).await;
        assert_eq!((status, text.as_str()), (200, "success"));
        assert_eq!(latest_ticket(&a).await.as_deref(), Some("ticket@@@B"));
    }
}

#[tokio::test]
async fn the_push_urls_answer_success_in_plain_text_and_refusals_in_json() {
    let a = app().await;
    // `success` in plain text, on both push URLs.
    let (uri, body) = sealed_push(&a, "/wechat/component", &ticket_xml("ticket@@@s"), NOW, "1");
    let resp = send(&a, "POST", &uri, &body).await;
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body_text(resp).await, (200, "success".to_owned()));
    assert_eq!(latest_ticket(&a).await.as_deref(), Some("ticket@@@s"));
    a.app
        .local
        .store
        .upsert_authorizer(&authorizer())
        .await
        .unwrap();
    a.app
        .local
        .store
        .record_audit(&audit(AuditStatus::Auditing))
        .await
        .unwrap();
    let approved = audit_push(
        "weapp_audit_success",
        &format!("<SuccTime>{NOW}</SuccTime>"),
    );
    let (status, body) = post_push(&a, &format!("/wechat/apps/{APP}"), &approved, NOW, "2").await;
    assert_eq!((status, body.as_str()), (200, "success"));
    let appid = AppId::parse(APP).unwrap();
    let got = a
        .app
        .local
        .store
        .latest_audit(&appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, AuditStatus::Approved);

    // Refusals: `{"error", "message"}` and nothing else, as JSON; a method before a path.
    let build = |method: &'static str, uri: &str| (method, uri.to_owned());
    for (req, want_status, want) in [
        (
            build("GET", "/wechat/elsewhere"),
            405,
            serde_json::json!({ "error": "method_not_allowed", "message": "pushes are POSTed" }),
        ),
        (
            build("PUT", &format!("/wechat/apps/{APP}")),
            405,
            serde_json::json!({ "error": "method_not_allowed", "message": "pushes are POSTed" }),
        ),
        (
            build("POST", "/wechat/apps/"),
            404,
            serde_json::json!({ "error": "not_found", "message": "no such push URL" }),
        ),
        (
            build("POST", "/wechat/component/x"),
            404,
            serde_json::json!({ "error": "not_found", "message": "no such push URL" }),
        ),
        (
            build("POST", &format!("/wechat/apps/{APP}/x")),
            404,
            serde_json::json!({ "error": "not_found", "message": "no such push URL" }),
        ),
        (
            build("POST", "/wechat/component?timestamp=1&nonce=1"),
            400,
            serde_json::json!({ "error": "missing_parameter", "message": "query parameter msg_signature is required" }),
        ),
    ] {
        let (method, uri) = req;
        let resp = send(&a, method, &uri, "").await;
        assert_eq!(resp.headers()["content-type"], "application/json", "{uri}");
        let (status, body) = body_text(resp).await;
        assert_eq!(status, want_status, "{uri}: {body}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            want,
            "{uri}"
        );
    }
}
