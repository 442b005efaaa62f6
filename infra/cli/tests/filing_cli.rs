//! `wxopen filing show` and `wxopen authorizers list --filing` against wxopen-local, run as an
//! operator runs them.

mod support;

use serde_json::Value;
use wxopen::domain::AppId;
use wxopen_local::testing::{spawn_app, App, OPERATOR_KEY as KEY};

async fn wxopen(app: &App, args: &[&str]) -> (Option<i32>, String) {
    let out = support::wxopen(Some(&app.local.base_url), Some(KEY), args).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (out.status.code(), format!("{stdout}{stderr}"))
}

async fn authorized(app: &App, name: &str) -> AppId {
    let appid = app.mini_program(name);
    app.local.sim.authorize(&appid, &[17, 18]).await.unwrap();
    appid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_an_apps_filing_and_lists_the_apps_not_filed() {
    let app = spawn_app().await;
    let unfiled = authorized(&app, "未备案小店").await;
    let filed = authorized(&app, "Filed Shop").await;
    app.local.sim.set_icp_entrance(&unfiled, 1026, true);

    let (code, out) = wxopen(&app, &["filing", "show", unfiled.as_str()]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("not filed (WeChat status 1026)"), "{out}");
    assert!(out.contains("category"), "what is missing is named: {out}");
    let (code, out) = wxopen(&app, &["filing", "show", filed.as_str(), "--json"]).await;
    assert_eq!(code, Some(0), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "filed", "{v}");
    assert!(v["record_number"].as_str().is_some(), "{v}");

    let (code, out) = wxopen(&app, &["authorizers", "list", "--filing", "not_filed"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(unfiled.as_str()), "{out}");
    assert!(!out.contains(filed.as_str()), "{out}");
    assert!(out.contains("1 authorizer(s)"), "{out}");
    let (code, out) = wxopen(&app, &["authorizers", "list", "--filing", "soon"]).await;
    assert_eq!(code, Some(1), "a bad filter is refused: {out}");
    assert!(out.contains("invalid_filing"), "{out}");
}
