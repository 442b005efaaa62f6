//! `wxopen-local` wires the simulator to the real handlers over the embedded store.

use wxopen::store::TicketStore;
use wxopen_local::{dev_secrets, start, LocalConfig};

#[tokio::test]
async fn the_local_system_stores_the_simulators_first_ticket_and_serves_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dev_secrets();
    let appid = secrets.component_appid.clone();
    let local = start(LocalConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        sim_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        secrets,
        ticket_interval: std::time::Duration::from_secs(3600),
        seed_mini_programs: 2,
        refresh_interval: None,
    })
    .await
    .unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let secrets = dev_secrets();
    let appid = secrets.component_appid.clone();
    let local = start(LocalConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        sim_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        secrets,
        ticket_interval: std::time::Duration::from_secs(3600),
        seed_mini_programs: 0,
        refresh_interval: Some(std::time::Duration::from_millis(200)),
    })
    .await
    .unwrap();
    use wxopen::store::TokenStore;
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
