//! The daily API quota tools (issue 27), through `wxopen-local` and the simulator: an app's
//! reset (clear_quota with its token), the monthly limit refused 409 before WeChat is asked,
//! the platform's reset (clear_quota/v2 with the appsecret), quota/get, rid/get, and a reset
//! whose answer is lost (counted as spent, never repeated; settled by the API's count when the
//! operator names it).

mod support;

use reqwest::Method;
use serde_json::json;
use support::{spawn_app_with, App};
use wechat_sim::Fault;
use wxopen::operator_auth::{OperatorKey, Role};
use wxopen_local::dev_secrets;

const CLEAR_QUOTA: &str = "/cgi-bin/clear_quota";
const COMPONENT_CLEAR_QUOTA: &str = "/cgi-bin/component/clear_quota/v2";
const CATEGORY: &str = "/wxa/get_category";
const VIEWER: &str = "key-of-the-viewer";
const OPERATOR: &str = "key-of-the-operator";
const ACME_ADMIN: &str = "key-of-acme-admin";

async fn spawn() -> App {
    let mut secrets = dev_secrets();
    secrets.operator_keys.extend([
        OperatorKey::for_key("support", VIEWER, Role::Viewer, None),
        OperatorKey::for_key("ops-1", OPERATOR, Role::Operator, None),
        OperatorKey::for_key(
            "acme-admin",
            ACME_ADMIN,
            Role::Admin,
            Some(vec!["acme".into()]),
        ),
    ]);
    spawn_app_with(|c| c.secrets = secrets).await
}

async fn with_key(app: &App, key: &str, method: Method, path: &str) -> (u16, serde_json::Value) {
    let resp = app
        .http
        .request(method, app.url(path))
        .bearer_auth(key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn an_apps_quota_is_cleared_through_the_simulator_and_the_45009_hint_names_the_route() {
    let app = spawn().await;
    let appid = app.authorized_app("Busy").await;
    app.local.sim.set_daily_quota(CATEGORY, 1);
    let categories = format!("/ops/apps/{appid}/categories");
    assert_eq!(app.get_json(&categories).await.0, 200);
    let (s, v) = app.get_json(&categories).await;
    assert_eq!((s, v["errcode"].as_i64()), (429, Some(45009)), "{v}");
    assert!(
        v["hint"].as_str().unwrap().contains("/quota/clear"),
        "the hint names the route: {v}"
    );
    // A viewer may not spend a reset; an operator may.
    let clear = format!("/ops/apps/{appid}/quota/clear");
    assert_eq!(with_key(&app, VIEWER, Method::POST, &clear).await.0, 403);
    let (s, v) = with_key(&app, OPERATOR, Method::POST, &clear).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["outcome"].as_str(),
            v["spent"].as_u64(),
            v["limit"].as_u64()
        ),
        (Some("cleared"), Some(1), Some(10))
    );
    assert_eq!(app.local.sim.calls(CLEAR_QUOTA), 1);
    assert_eq!(
        app.get_json(&categories).await.0,
        200,
        "the count is back at zero"
    );
}

#[tokio::test]
async fn the_monthly_limit_is_refused_409_with_the_count_before_wechat_is_asked() {
    let app = spawn().await;
    let appid = app.authorized_app("Ten").await;
    let clear = format!("/ops/apps/{appid}/quota/clear");
    for n in 1..=10u64 {
        let (s, v) = app.call(Method::POST, &clear, Some(json!({}))).await;
        assert_eq!((s, v["spent"].as_u64()), (200, Some(n)), "{v}");
    }
    let (s, v) = app.call(Method::POST, &clear, Some(json!({}))).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"], "quota_reset_limit");
    assert_eq!(
        (v["spent"].as_u64(), v["limit"].as_u64()),
        (Some(10), Some(10))
    );
    assert!(v["hint_zh"].as_str().is_some(), "{v}");
    assert_eq!(
        app.local.sim.calls(CLEAR_QUOTA),
        10,
        "WeChat was not asked an 11th time"
    );
    let (s, v) = app.get_json(&format!("/ops/apps/{appid}/quota")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["resets"]["spent"], 10);
    assert_eq!(v["resets"]["uses"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn the_platforms_quota_is_cleared_with_the_appsecret_by_an_admin_only() {
    let app = spawn().await;
    let (s, _) = with_key(&app, OPERATOR, Method::POST, "/ops/component/quota/clear").await;
    assert_eq!(s, 403, "an operator may not");
    let (s, _) = with_key(&app, ACME_ADMIN, Method::POST, "/ops/component/quota/clear").await;
    assert_eq!(s, 403, "an admin of some customers may not");
    let (s, v) = app
        .call(Method::POST, "/ops/component/quota/clear", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["account"].as_str(), v["spent"].as_u64()),
        (Some("platform"), Some(1))
    );
    assert_eq!(app.local.sim.calls(COMPONENT_CLEAR_QUOTA), 1);
    // The platform's resets spent elsewhere (another tool): WeChat answers 48006, and from then
    // on wxopen refuses without asking.
    let secret = app.local.sim.config().component_appsecret.clone();
    let component_appid = app.local.sim.config().component_appid.to_string();
    for _ in 0..9 {
        let r = app
            .http
            .post(format!(
                "{}{COMPONENT_CLEAR_QUOTA}",
                app.local.sim.base_url()
            ))
            .json(&json!({ "component_appid": component_appid, "appsecret": secret }))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["errcode"], 0, "{v}");
    }
    let (s, v) = app
        .call(Method::POST, "/ops/component/quota/clear", None)
        .await;
    assert_eq!(
        (s, v["error"].as_str(), v["errcode"].as_i64()),
        (409, Some("quota_reset_limit"), Some(48006)),
        "{v}"
    );
    let asked = app.local.sim.calls(COMPONENT_CLEAR_QUOTA);
    let (s, v) = app
        .call(Method::POST, "/ops/component/quota/clear", None)
        .await;
    assert_eq!((s, v["errcode"].as_i64()), (409, None), "{v}");
    assert_eq!(app.local.sim.calls(COMPONENT_CLEAR_QUOTA), asked);
}

#[tokio::test]
async fn quota_get_and_rid_get_through_the_simulator() {
    let app = spawn().await;
    let appid = app.authorized_app("Counted").await;
    app.local.sim.set_daily_quota(CATEGORY, 2);
    let categories = format!("/ops/apps/{appid}/categories");
    assert_eq!(app.get_json(&categories).await.0, 200);
    let (s, v) = app
        .get_json(&format!("/ops/apps/{appid}/quota?cgi_path={CATEGORY}"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["quota"],
        json!({ "daily_limit": 2, "used": 1, "remain": 1 }),
        "{v}"
    );
    let (s, v) = app
        .get_json(&format!("/ops/apps/{appid}/quota?cgi_path=wxa/no-slash"))
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_cgi_path")),
        "{v}"
    );

    // A refusal's rid, looked up with the app's token.
    assert_eq!(app.get_json(&categories).await.0, 200);
    let (s, v) = app.get_json(&categories).await;
    assert_eq!(s, 429, "{v}");
    let errmsg = v["errmsg"].as_str().unwrap();
    let rid = errmsg.rsplit_once(" rid: ").unwrap().1.trim().to_owned();
    let (s, v) = app
        .call(Method::GET, &format!("/ops/rid/{rid}?appid={appid}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["request"]["response_body"]
            .as_str()
            .unwrap()
            .contains("45009"),
        "{v}"
    );
    assert!(
        v["request"].get("request_url").is_none(),
        "the URL carries the token: {v}"
    );
    // With the platform's token it is another account's rid: 76003.
    let (s, v) = app
        .call(Method::GET, &format!("/ops/rid/{rid}"), None)
        .await;
    assert_eq!((s, v["errcode"].as_i64()), (422, Some(76003)), "{v}");
    let (s, v) = app.call(Method::GET, "/ops/rid/not%20a%20rid", None).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_rid")), "{v}");
    // A viewer may not read requests of any customer.
    assert_eq!(
        with_key(&app, VIEWER, Method::GET, &format!("/ops/rid/{rid}"))
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn a_lost_reset_answer_is_counted_as_spent_never_repeated_and_settled_by_the_count() {
    let app = spawn().await;
    let appid = app.authorized_app("Lost").await;
    let clear = format!("/ops/apps/{appid}/quota/clear");
    let lose_one = || Fault {
        endpoint: Some(CLEAR_QUOTA.to_owned()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    };
    // Nothing named to settle it by: 504, counted as spent, sent once.
    app.local.sim.set_fault(lose_one());
    let (s, v) = app.call(Method::POST, &clear, Some(json!({}))).await;
    assert_eq!(s, 504, "{v}");
    assert_eq!(v["error"], "quota_reset_unknown");
    assert_eq!(
        (v["counted_as_spent"].as_bool(), v["spent"].as_u64()),
        (Some(true), Some(1))
    );
    assert_eq!(app.local.sim.calls(CLEAR_QUOTA), 1, "not repeated");
    let (_, q) = app.get_json(&format!("/ops/apps/{appid}/quota")).await;
    assert_eq!(q["resets"]["spent"], 1);
    assert_eq!(q["resets"]["uses"][0]["outcome"], "unknown");

    // With the API that ran out named: its count before and after settles it.
    app.local.sim.set_daily_quota(CATEGORY, 100);
    let categories = format!("/ops/apps/{appid}/categories");
    assert_eq!(app.get_json(&categories).await.0, 200);
    assert_eq!(app.get_json(&categories).await.0, 200);
    app.local.sim.set_fault(lose_one());
    let (s, v) = app
        .call(Method::POST, &clear, Some(json!({ "cgi_path": CATEGORY })))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "cleared");
    assert_eq!(v["settled_by_count"]["cleared"], true);
    assert_eq!(v["settled_by_count"]["cgi_path_used_before"], 2);
    assert_eq!(v["spent"], 2);
    assert_eq!(app.local.sim.calls(CLEAR_QUOTA), 2);
}
