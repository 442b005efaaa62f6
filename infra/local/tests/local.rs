//! `wxopen-local` wires the simulator to the real handlers over the embedded store.

mod support;

use support::spawn_app_with;
use wxopen_local::dev_secrets;

#[tokio::test]
async fn the_local_system_stores_the_simulators_first_ticket_and_serves_every_route() {
    let appid = dev_secrets().component_appid;
    let app = spawn_app_with(|c| c.seed_mini_programs = 2).await;
    let local = &app.local;
    let ticket = local.store.latest_ticket(&appid).await.unwrap();
    assert!(ticket.is_some(), "the simulator's pushed ticket was stored");
    assert!(local
        .sim
        .pushes()
        .iter()
        .any(|p| p.delivered && p.kind == "component_verify_ticket"));

    let http = wxopen::https::reqwest_client().expect("reqwest client");
    // A fresh push with a well-formed envelope reaches the signature check, and fails it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forged = http
        .post(format!(
            "{}/wechat/component?timestamp={now}&nonce=7&msg_signature={}",
            local.base_url,
            "0".repeat(40)
        ))
        .body(format!(
            "<xml><AppId><![CDATA[{appid}]]></AppId><Encrypt><![CDATA[{}]]></Encrypt></xml>",
            "A".repeat(64)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(forged.text().await.unwrap().contains("-40001"));
    // A stale timestamp is refused before anything else.
    let stale = http
        .post(format!(
            "{}/wechat/component?timestamp=1&nonce=1&msg_signature=x",
            local.base_url
        ))
        .body("<xml/>")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
    // /auth reaches auth-callback's pages (an HTML error without an invitation) and /ops
    // reaches audit-actions (which wants the operator key first).
    let start_page = http
        .get(format!("{}/auth/start", local.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(start_page.status(), 400);
    assert!(start_page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let ops = http
        .get(format!("{}/ops/authorizers", local.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ops.status(), 401);
    let body: serde_json::Value = ops.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let accounts: serde_json::Value = http
        .get(format!("{}/_sim/accounts", local.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts.as_array().map(Vec::len), Some(2), "{accounts}");
    let unknown = http
        .get(format!("{}/nowhere", local.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

/// The refresher runs on its timer (the EventBridge schedule's stand-in): without anyone asking,
/// the component token is fetched from the simulator and stored.
#[tokio::test]
async fn the_local_system_runs_the_token_refresher_on_its_timer() {
    let appid = dev_secrets().component_appid;
    let app =
        spawn_app_with(|c| c.refresh_interval = Some(std::time::Duration::from_millis(200))).await;
    let local = &app.local;
    let key = wxopen::store::TokenKey::Component(appid);
    let mut stored = None;
    for _ in 0..100 {
        stored = local.store.get_token(&key).await.unwrap();
        if stored
            .as_ref()
            .is_some_and(|t| t.state.access_token.is_some())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        stored.is_some_and(|t| t.state.access_token.is_some()),
        "the refresher stored a component token"
    );
    assert_eq!(
        local.sim.calls("/cgi-bin/component/api_component_token"),
        1,
        "and only one, however often it ran"
    );
}

/// 2024-01-01 00:00:00 UTC: far from the real time, so a part reading the real clock shows.
const T0: i64 = 1_704_067_200;

/// The clock given is the one every part reads: the simulator timestamps its signed pushes with
/// it, ticket-push checks their freshness and stamps what it stores with it, the operator API
/// dates invitations with it; moving it moves them all, no sleeping.
#[tokio::test]
async fn every_part_reads_the_clock_it_is_given() {
    use std::sync::Arc;
    let appid = dev_secrets().component_appid;
    let clock = wxopen::domain::ManualClock::new(T0);
    let app = spawn_app_with(|c| c.clock = Arc::new(clock.clone())).await;
    let first = app.local.store.latest_ticket(&appid).await.unwrap();
    assert_eq!(first.map(|t| t.received_at), Some(T0));
    clock.advance(3600);
    app.local.sim.push_ticket().await.unwrap();
    let second = app.local.store.latest_ticket(&appid).await.unwrap();
    assert_eq!(second.map(|t| t.received_at), Some(T0 + 3600));
    let inv = app
        .invite(serde_json::json!({ "customer_id": "c-clock" }))
        .await;
    assert_eq!(inv["created_at"], T0 + 3600, "{inv}");
}

/// Our client calls the WeChat endpoint it is given (here a simulator of the test's own, with
/// the same platform) instead of the simulator started with the system.
#[tokio::test]
async fn our_client_calls_the_wechat_endpoint_it_is_given() {
    use secrecy::{ExposeSecret, SecretString};
    const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
    let s = dev_secrets();
    let other = wechat_sim::Simulator::start(wechat_sim::SimConfig {
        component_appid: s.component_appid.to_string(),
        component_appsecret: s.component_appsecret.expose_secret().to_owned(),
        token: s.token.expose_secret().to_owned(),
        encoding_aes_key: s.encoding_aes_key.expose_secret().to_owned(),
        ..wechat_sim::SimConfig::default()
    })
    .await
    .unwrap();
    let app = spawn_app_with(|c| c.wechat_base_url = Some(other.base_url())).await;
    // The ticket the other simulator issued, stored as if it had pushed it here.
    let ticket = other.push_ticket().await.unwrap();
    let now = wxopen::domain::Clock::now(&wxopen::domain::SystemClock);
    app.local
        .store
        .save_ticket(
            &s.component_appid,
            &wxopen::store::Ticket {
                value: SecretString::from(ticket),
                received_at: now,
                created_at: now,
            },
        )
        .await
        .unwrap();
    app.local.mgr.component_access_token().await.unwrap();
    assert_eq!(other.calls(COMPONENT_TOKEN), 1);
    assert_eq!(app.local.sim.calls(COMPONENT_TOKEN), 0);
}
