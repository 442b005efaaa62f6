//! The provider's own backends on `/svc` (issue 26), through `wxopen-local` and the simulator:
//! tokens handed out without calling WeChat while fresh, a reported rejection refreshed once
//! however many report it, user login with single-use codes, phone numbers, mini program codes
//! (also for operators under /ops), and who may call them: `service` keys only, each scoped to
//! its customers.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{spawn_app_with, App, OPERATOR_KEY};
use wxopen::domain::AppId;
use wxopen::operator_auth::{OperatorKey, Role};
use wxopen::store::TokenKey;
use wxopen_local::dev_secrets;

const SERVICE: &str = "key-of-the-backend";
const ACME_SERVICE: &str = "key-of-acme-backend";
const VIEWER: &str = "key-of-the-viewer";
const OPERATOR: &str = "key-of-the-operator";
const ADMIN: &str = "key-of-the-admin";
const ACME_ADMIN: &str = "key-of-acme-admin";

const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";

fn key(label: &str, key: &str, role: Role, customers: Option<&[&str]>) -> OperatorKey {
    let customers = customers.map(|c| c.iter().map(|s| s.to_string()).collect());
    OperatorKey::for_key(label, key, role, customers)
}

async fn spawn() -> App {
    let mut secrets = dev_secrets();
    secrets.operator_keys = vec![
        key("backend", SERVICE, Role::Service, None),
        key("acme-backend", ACME_SERVICE, Role::Service, Some(&["acme"])),
        key("support", VIEWER, Role::Viewer, None),
        key("ops-1", OPERATOR, Role::Operator, None),
        key("root", ADMIN, Role::Admin, None),
        key("acme-admin", ACME_ADMIN, Role::Admin, Some(&["acme"])),
    ];
    spawn_app_with(|c| c.secrets = secrets).await
}

/// One request with `key`; answers the status, the headers and the body's bytes.
async fn send(
    app: &App,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

/// [`send`] for a JSON answer.
async fn call(
    app: &App,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let (s, h, b) = send(app, key, method, path, body).await;
    let v = serde_json::from_slice(&b).unwrap_or_else(|e| {
        panic!(
            "{path} answered {s} without JSON ({e}): {}",
            String::from_utf8_lossy(&b)
        )
    });
    (s, h, v)
}

async fn stored_token(app: &App, appid: &AppId) -> String {
    use secrecy::ExposeSecret;
    app.local
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .and_then(|v| v.state.access_token)
        .map(|t| t.expose_secret().to_owned())
        .expect("a stored token")
}

#[tokio::test]
async fn tokens_come_from_the_store_without_calling_wechat_and_are_never_cached_by_clients() {
    let app = spawn().await;
    let appid = app.authorized_app("Token shop").await;
    let stored = stored_token(&app, &appid).await;
    let before = app.local.sim.calls(AUTHORIZER_TOKEN);
    for _ in 0..20 {
        let (s, h, v) = call(
            &app,
            SERVICE,
            Method::GET,
            &format!("/svc/apps/{appid}/access-token"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(v["access_token"], stored.as_str());
        assert!(
            v["expires_at"].as_i64().unwrap() > app.local.sim.now() + 3600,
            "{v}"
        );
    }
    assert_eq!(
        app.local.sim.calls(AUTHORIZER_TOKEN),
        before,
        "no refresh while fresh"
    );

    // The component token likewise, the same one the platform's own calls use.
    let component_calls = app.local.sim.calls(COMPONENT_TOKEN);
    let (s, h, v) = call(
        &app,
        SERVICE,
        Method::GET,
        "/svc/component/access-token",
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(h["cache-control"], "no-store");
    let component = {
        use secrecy::ExposeSecret;
        app.local
            .mgr
            .component_access_token()
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    };
    assert_eq!(v["access_token"], component.as_str());
    let (s, _, v2) = call(
        &app,
        SERVICE,
        Method::GET,
        "/svc/component/access-token",
        None,
    )
    .await;
    assert_eq!((s, &v2["access_token"]), (200, &v["access_token"]));
    assert!(app.local.sim.calls(COMPONENT_TOKEN) <= component_calls + 1);

    // An app nobody authorized holds no token.
    let stranger = app.mini_program("Never authorized");
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::GET,
        &format!("/svc/apps/{stranger}/access-token"),
        None,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (404, Some("not_authorized")),
        "{v}"
    );
}

#[tokio::test]
async fn fifty_concurrent_reports_of_a_rejected_token_refresh_it_exactly_once() {
    let app = spawn().await;
    let appid = app.authorized_app("Busy shop").await;
    let old = stored_token(&app, &appid).await;
    let before = app.local.sim.calls(AUTHORIZER_TOKEN);
    let path = format!("/svc/apps/{appid}/access-token/invalid");
    let reports = (0..50).map(|_| {
        call(
            &app,
            SERVICE,
            Method::POST,
            &path,
            Some(json!({ "access_token": old })),
        )
    });
    let answers = futures::future::join_all(reports).await;
    assert_eq!(
        app.local.sim.calls(AUTHORIZER_TOKEN),
        before + 1,
        "one refresh"
    );
    let fresh = stored_token(&app, &appid).await;
    assert_ne!(fresh, old);
    for (s, h, v) in &answers {
        assert_eq!(*s, 200, "{v}");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(
            v["access_token"],
            fresh.as_str(),
            "every reporter gets the new one"
        );
    }
    // The next caller gets the new token (not this instance's memory of the old one).
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::GET,
        &format!("/svc/apps/{appid}/access-token"),
        None,
    )
    .await;
    assert_eq!((s, v["access_token"].as_str()), (200, Some(fresh.as_str())));
    // A late report of the old token refreshes nothing.
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "access_token": old })),
    )
    .await;
    assert_eq!((s, v["access_token"].as_str()), (200, Some(fresh.as_str())));
    assert_eq!(app.local.sim.calls(AUTHORIZER_TOKEN), before + 1);
    // A report without a token is refused and changes nothing.
    let (s, _, v) = call(&app, SERVICE, Method::POST, &path, Some(json!({}))).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(stored_token(&app, &appid).await, fresh);
}

#[tokio::test]
async fn a_user_logs_in_once_per_code_and_the_session_key_only_when_asked() {
    let app = spawn().await;
    let appid = app.authorized_app("Login shop").await;
    let path = format!("/svc/apps/{appid}/sessions");
    let (code, openid) = app.local.sim.mint_js_code(&appid, None);
    let (s, h, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "js_code": code })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["openid"], openid.as_str());
    assert!(v.get("session_key").is_none(), "not asked: {v}");
    assert_eq!(h["cache-control"], "no-store");
    // The same code again: WeChat's 40163, as a 400 with its errcode.
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "js_code": code })),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_code")), "{v}");
    assert_eq!(v["errcode"], 40163);
    // A code WeChat never issued: 40029.
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "js_code": "0nosuchcode" })),
    )
    .await;
    assert_eq!((s, v["errcode"].as_i64()), (400, Some(40029)), "{v}");
    // Asked for: the session key.
    let (code, openid) = app.local.sim.mint_js_code(&appid, Some("o-returning-user"));
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "js_code": code, "with_session_key": true })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["openid"], openid.as_str());
    assert!(!v["session_key"].as_str().unwrap().is_empty(), "{v}");
    // A body without a code is refused before WeChat is asked.
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "js_code": "" })),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_body")), "{v}");
}

#[tokio::test]
async fn a_phone_code_gives_the_number_once() {
    let app = spawn().await;
    let appid = app.authorized_app("Phone shop").await;
    let path = format!("/svc/apps/{appid}/phone-number");
    let code = app.local.sim.mint_phone_code(&appid, "13800138000");
    let (s, h, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(v["pure_phone_number"], "13800138000");
    assert_eq!(v["country_code"], "86");
    assert_eq!(v["watermark"]["appid"], appid.as_str());
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_code")), "{v}");
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

#[tokio::test]
async fn mini_program_codes_are_pngs_for_backends_and_operators_and_errors_are_json() {
    let app = spawn().await;
    let appid = app.authorized_app("Code shop").await;
    let body = json!({ "scene": "order=42", "page": "pages/index/index", "check_path": false, "width": 430 });
    for (key, path) in [
        (SERVICE, format!("/svc/apps/{appid}/wxacode")),
        (OPERATOR, format!("/ops/apps/{appid}/wxacode")),
    ] {
        let (s, h, bytes) = send(&app, key, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(h["content-type"], "image/png", "{path}");
        assert!(bytes.starts_with(PNG_SIGNATURE), "{path}: not a PNG");
    }
    let path = format!("/svc/apps/{appid}/wxacode");
    // Nothing is released: WeChat refuses the page (41030), as JSON.
    let (s, h, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "scene": "a=1", "page": "pages/index/index" })),
    )
    .await;
    assert_eq!((s, v["errcode"].as_i64()), (400, Some(41030)), "{v}");
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // A scene WeChat would refuse is refused before it is asked.
    let calls = app.local.sim.calls("/wxa/getwxacodeunlimit");
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &path,
        Some(json!({ "scene": "x".repeat(33) })),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_scene")),
        "{v}"
    );
    assert_eq!(app.local.sim.calls("/wxa/getwxacodeunlimit"), calls);
    // The operators' route needs the operator role.
    let (s, _, v) = call(
        &app,
        VIEWER,
        Method::POST,
        &format!("/ops/apps/{appid}/wxacode"),
        Some(body),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (403, Some("forbidden")), "{v}");
}

/// Every `/svc` route with a body it accepts the shape of.
fn svc_routes(appid: &AppId) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/svc/apps/{appid}/access-token"), None),
        (
            Method::POST,
            format!("/svc/apps/{appid}/access-token/invalid"),
            Some(json!({ "access_token": "stale" })),
        ),
        (Method::GET, "/svc/component/access-token".into(), None),
        (
            Method::POST,
            format!("/svc/apps/{appid}/sessions"),
            Some(json!({ "js_code": "0nosuchcode" })),
        ),
        (
            Method::POST,
            format!("/svc/apps/{appid}/phone-number"),
            Some(json!({ "code": "nosuchcode" })),
        ),
        (
            Method::POST,
            format!("/svc/apps/{appid}/wxacode"),
            Some(json!({ "scene": "a=1", "check_path": false })),
        ),
        (
            Method::GET,
            format!("/svc/apps/{appid}/subscribe-templates"),
            None,
        ),
        (
            Method::POST,
            format!("/svc/apps/{appid}/subscribe-templates"),
            Some(json!({ "name": "order_shipped", "tid": 1001, "kid_list": [1, 2] })),
        ),
        (
            Method::POST,
            format!("/svc/apps/{appid}/subscribe-messages"),
            Some(json!({ "template": "order_shipped", "touser": "o1", "data": {} })),
        ),
        (
            Method::DELETE,
            format!("/svc/apps/{appid}/subscribe-templates/order_shipped"),
            None,
        ),
        (
            Method::GET,
            format!("/svc/apps/{appid}/subscribe-library/categories"),
            None,
        ),
        (
            Method::GET,
            format!("/svc/apps/{appid}/subscribe-library/titles?ids=307"),
            None,
        ),
        (
            Method::GET,
            format!("/svc/apps/{appid}/subscribe-library/titles/1001/keywords"),
            None,
        ),
    ]
}

#[tokio::test]
async fn only_service_keys_reach_svc_and_a_scoped_one_only_its_customers_apps() {
    let app = spawn().await;
    let theirs = app.authorized_app("Someone else's shop").await;
    let acme = app.mini_program("Acme shop");
    let (s, page) = app.onboard("acme", &acme).await;
    assert_eq!(s, 200, "{page}");
    let before = app.local.sim.all_calls();
    // Every person's key, admin of every customer included, is refused every route.
    for key in [VIEWER, OPERATOR, ADMIN, ACME_ADMIN] {
        for (m, path, body) in svc_routes(&acme) {
            let (s, _, v) = call(&app, key, m.clone(), &path, body).await;
            assert_eq!(s, 403, "{key} {m} {path}: {v}");
            assert_eq!(v["error"], "forbidden");
            assert_eq!(v["needed_role"], "service", "{v}");
        }
    }
    assert_eq!(
        app.local.sim.all_calls(),
        before,
        "a refusal asks WeChat nothing"
    );
    // Without a key: 401.
    let resp = app
        .http
        .get(app.url(&format!("/svc/apps/{acme}/access-token")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A service key limited to acme: another customer's app is unknown to it (404), its own is
    // served, and the per-app routes all answer 404 for the other app.
    for (m, path, body) in svc_routes(&theirs) {
        if !path.contains(theirs.as_str()) {
            continue;
        }
        let (s, _, v) = call(&app, ACME_SERVICE, m.clone(), &path, body).await;
        assert_eq!(s, 404, "{m} {path}: {v}");
    }
    let (s, _, v) = call(
        &app,
        ACME_SERVICE,
        Method::GET,
        &format!("/svc/apps/{acme}/access-token"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["access_token"], stored_token(&app, &acme).await.as_str());
    // The component token reaches every customer's apps: not for a key limited to some.
    let (s, _, v) = call(
        &app,
        ACME_SERVICE,
        Method::GET,
        "/svc/component/access-token",
        None,
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (403, Some("forbidden")), "{v}");
    // The unscoped service key serves both.
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::GET,
        &format!("/svc/apps/{theirs}/access-token"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // An unknown /svc route is 404 for a service key, a wrong method 405.
    let (s, _, _) = call(&app, SERVICE, Method::GET, "/svc/nope", None).await;
    assert_eq!(
        s, 403,
        "an unknown route needs admin of everyone: a service key is refused"
    );
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::DELETE,
        &format!("/svc/apps/{acme}/access-token"),
        None,
    )
    .await;
    assert!([403, 405].contains(&s), "{s} {v}");
}

#[tokio::test]
async fn templates_are_added_once_by_name_and_messages_go_only_to_users_who_accepted() {
    let app = spawn().await;
    let appid = app.authorized_app("Subscribe shop").await;
    let templates = format!("/svc/apps/{appid}/subscribe-templates");
    let add = json!({ "name": "order_shipped", "tid": 1001, "kid_list": [1, 2, 3], "scene_desc": "shipping" });
    let (s, _, added) = call(&app, SERVICE, Method::POST, &templates, Some(add.clone())).await;
    assert_eq!(s, 201, "{added}");
    let pri = added["pri_tmpl_id"].as_str().unwrap().to_owned();
    // Again: the same one, nothing added at WeChat.
    let (s, _, again) = call(&app, SERVICE, Method::POST, &templates, Some(add)).await;
    assert_eq!(
        (s, &again["pri_tmpl_id"]),
        (200, &added["pri_tmpl_id"]),
        "{again}"
    );
    assert_eq!(app.local.sim.subscribe_templates(&appid).len(), 1);
    // The name with other keywords is taken.
    let other = json!({ "name": "order_shipped", "tid": 1001, "kid_list": [1, 2] });
    let (s, _, v) = call(&app, SERVICE, Method::POST, &templates, Some(other)).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("template_name_taken")),
        "{v}"
    );
    let (s, _, v) = call(&app, SERVICE, Method::GET, &templates, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"][0]["name"], "order_shipped");
    assert_eq!(v["items"][0]["pri_tmpl_id"], pri.as_str());

    let send_path = format!("/svc/apps/{appid}/subscribe-messages");
    let data = json!({ "character_string1": "TN42", "thing2": "SF", "time3": "2026-12-03 12:00" });
    let message = |user: &str, data: &Value| json!({ "template": "order_shipped", "touser": user, "data": data, "page": "pages/order/order" });
    app.local
        .sim
        .set_subscription(&appid, "o-accepted", &pri, 1);
    app.local.sim.set_subscription(&appid, "o-refused", &pri, 0);
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &send_path,
        Some(message("o-accepted", &data)),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["msgid"].as_u64().is_some(), "{v}");
    let sent = app.local.sim.sent_subscribe_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].touser.as_str(), sent[0].template_id.as_str()),
        ("o-accepted", pri.as_str())
    );
    // The user refused (or used up a one-time acceptance): 43101 as a 4xx.
    for user in ["o-refused", "o-accepted"] {
        let (s, _, v) = call(
            &app,
            SERVICE,
            Method::POST,
            &send_path,
            Some(message(user, &data)),
        )
        .await;
        assert_eq!(
            (s, v["error"].as_str()),
            (403, Some("user_refused")),
            "{user}: {v}"
        );
        assert_eq!(v["errcode"], 43101);
    }
    // Data that does not fit the keywords: 47003 as a 400.
    app.local
        .sim
        .set_subscription(&appid, "o-accepted", &pri, 1);
    let bad = json!({ "character_string1": "TN42" });
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &send_path,
        Some(message("o-accepted", &bad)),
    )
    .await;
    assert_eq!((s, v["errcode"].as_i64()), (400, Some(47003)), "{v}");
    // A name the app does not have.
    let unknown = json!({ "template": "refund_done", "touser": "o-accepted", "data": data });
    let (s, _, v) = call(&app, SERVICE, Method::POST, &send_path, Some(unknown)).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (404, Some("unknown_template")),
        "{v}"
    );
    assert_eq!(app.local.sim.sent_subscribe_messages().len(), 1);
    // Deleting by name removes it at WeChat and the name with it.
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::DELETE,
        &format!("{templates}/order_shipped"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(app.local.sim.subscribe_templates(&appid).is_empty());
    let (s, _, v) = call(&app, SERVICE, Method::GET, &templates, None).await;
    assert_eq!(
        (s, v["items"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::DELETE,
        &format!("{templates}/order_shipped"),
        None,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (404, Some("unknown_template")),
        "{v}"
    );
}

#[tokio::test]
async fn the_template_library_is_read_through_the_apps_token() {
    let app = spawn().await;
    let appid = app.authorized_app("Library shop").await;
    let lib = format!("/svc/apps/{appid}/subscribe-library");
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::GET,
        &format!("{lib}/categories"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let category = v["items"][0]["id"].as_u64().unwrap();
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::GET,
        &format!("{lib}/titles?ids={category}&limit=10"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let tid = v["items"][0]["tid"].as_u64().unwrap();
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::GET,
        &format!("{lib}/titles/{tid}/keywords"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // The simulator's library: category 307's first title is 1001, 订单发货提醒, 4 keywords.
    assert_eq!((category, tid), (307, 1001));
    let names: Vec<_> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_u64().unwrap(),
                k["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            (1, "character_string".to_owned()),
            (2, "thing".to_owned()),
            (3, "time".to_owned()),
            (4, "thing".to_owned())
        ],
        "{v}"
    );
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::GET,
        &format!("{lib}/titles?ids=x"),
        None,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_query")),
        "{v}"
    );
}

/// An app with a released version (template 1's pages, `pages/index/index` among them).
async fn released_app(app: &App, name: &str) -> AppId {
    let appid = app.authorized_app(name).await;
    app.commit_and_submit(&appid, "1.0.0").await;
    app.local
        .sim
        .decide_audit(&appid, wechat_sim::AuditOutcome::Success)
        .await
        .unwrap();
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{appid}/release"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    appid
}

/// A PNG's colour type, from its header (IHDR's tenth byte): 0 grayscale, 6 RGBA (the
/// simulator draws `line_color` and `is_hyaline` in RGBA).
fn png_colour_type(bytes: &[u8]) -> u8 {
    assert!(bytes.starts_with(PNG_SIGNATURE), "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    bytes[25]
}
const GRAYSCALE: u8 = 0;
const RGBA: u8 = 6;

const GETWXACODE: &str = "/wxa/getwxacode";
const CREATEWXAQRCODE: &str = "/cgi-bin/wxaapp/createwxaqrcode";

#[tokio::test]
async fn the_limited_kinds_make_codes_for_a_path_until_the_apps_limit_and_colours_are_passed_on() {
    let mut secrets = dev_secrets();
    secrets
        .operator_keys
        .push(key("backend", SERVICE, Role::Service, None));
    let app = spawn_app_with(|c| c.secrets = secrets).await;
    let appid = released_app(&app, "Limited code shop").await;
    let path = format!("/svc/apps/{appid}/wxacode");
    let sim = &app.local.sim;

    // getwxacode: a path with its query; transparent and coloured as asked.
    let body = json!({ "kind": "limited", "path": "pages/index/index?order=42", "width": 430, "is_hyaline": true, "line_color": { "r": 200, "g": 10, "b": 20 } });
    let (s, h, bytes) = send(&app, SERVICE, Method::POST, &path, Some(body)).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(
        png_colour_type(&bytes),
        RGBA,
        "line_color and is_hyaline reached WeChat"
    );
    assert_eq!(sim.calls(GETWXACODE), 1);
    let plain = json!({ "kind": "limited", "path": "pages/index/index?order=42" });
    let (s, _, bytes) = send(&app, SERVICE, Method::POST, &path, Some(plain)).await;
    assert_eq!((s, png_colour_type(&bytes)), (200, GRAYSCALE));
    // The unlimited kind passes its background on too.
    let body = json!({ "scene": "a=1", "check_path": false, "is_hyaline": true });
    let (s, _, bytes) = send(&app, SERVICE, Method::POST, &path, Some(body)).await;
    assert_eq!((s, png_colour_type(&bytes)), (200, RGBA));

    // createwxaqrcode: a square QR code (WeChat's example answers a JPEG), for operators too.
    let body = json!({ "kind": "qrcode", "path": "pages/index/index", "width": 280 });
    let (s, h, bytes) = send(
        &app,
        OPERATOR_KEY,
        Method::POST,
        &format!("/ops/apps/{appid}/wxacode"),
        Some(body),
    )
    .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(&bytes[..3], &[0xff, 0xd8, 0xff]);
    assert_eq!(sim.calls(CREATEWXAQRCODE), 1);
    assert_eq!(sim.limited_codes(&appid), 2);

    // Refused before WeChat is asked: a field the kind does not take, no path, a long one.
    let before = sim.all_calls();
    for (body, code) in [
        (
            json!({ "kind": "qrcode", "path": "pages/index/index", "is_hyaline": true }),
            "invalid_body",
        ),
        (
            json!({ "kind": "limited", "scene": "a=1", "path": "p" }),
            "invalid_body",
        ),
        (json!({ "kind": "limited" }), "invalid_path"),
        (
            json!({ "kind": "qrcode", "path": "p".repeat(129) }),
            "invalid_path",
        ),
        (
            json!({ "kind": "limited", "path": "p".repeat(1025) }),
            "invalid_path",
        ),
        (
            json!({ "kind": "limited", "path": "pages/index/index?scancode_time=1" }),
            "invalid_path",
        ),
        (
            json!({ "kind": "limited", "path": "pages/index/index", "width": 200 }),
            "invalid_width",
        ),
        (
            json!({ "kind": "square", "path": "pages/index/index" }),
            "invalid_body",
        ),
    ] {
        let (s, _, v) = call(&app, SERVICE, Method::POST, &path, Some(body.clone())).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(code)), "{body}: {v}");
    }
    assert_eq!(sim.all_calls(), before, "nothing reached WeChat");

    // A page the released version does not have: WeChat's 41030, as a 400.
    let body = json!({ "kind": "limited", "path": "pages/nope/nope" });
    let (s, _, v) = call(&app, SERVICE, Method::POST, &path, Some(body)).await;
    assert_eq!((s, v["errcode"].as_i64()), (400, Some(41030)), "{v}");

    // The app's limited codes spent (100,000; lowered here): 45029 as a 409 naming the way
    // out, the same path again is the code already made, and the unlimited kind still works.
    sim.set_limited_code_limit(Some(2));
    let body = json!({ "kind": "limited", "path": "pages/index/index?order=43" });
    let (s, _, v) = call(&app, SERVICE, Method::POST, &path, Some(body)).await;
    assert_eq!(
        (s, v["error"].as_str(), v["errcode"].as_i64()),
        (409, Some("limited_codes_spent"), Some(45029)),
        "{v}"
    );
    assert!(v["hint"].as_str().unwrap().contains("unlimited"), "{v}");
    let body = json!({ "kind": "qrcode", "path": "pages/index/index?x=1" });
    let (s, _, v) = call(&app, SERVICE, Method::POST, &path, Some(body)).await;
    assert_eq!((s, v["errcode"].as_i64()), (409, Some(45029)), "{v}");
    let again = json!({ "kind": "limited", "path": "pages/index/index?order=42" });
    let (s, _, _) = send(&app, SERVICE, Method::POST, &path, Some(again)).await;
    assert_eq!(s, 200, "the code already made");
    let body = json!({ "scene": "order=43", "page": "pages/index/index" });
    let (s, _, _) = send(&app, SERVICE, Method::POST, &path, Some(body)).await;
    assert_eq!(s, 200, "the unlimited kind is not limited");
}

const ADDTEMPLATE: &str = "/wxaapi/newtmpl/addtemplate";
const GETTEMPLATE: &str = "/wxaapi/newtmpl/gettemplate";
const SUBSCRIBE_SEND: &str = "/cgi-bin/message/subscribe/send";

/// The call is applied and its answer never arrives (once).
fn lose_answer(app: &App, endpoint: &str) {
    app.local.sim.set_fault(wechat_sim::Fault {
        endpoint: Some(endpoint.into()),
        lose_answer: true,
        times: Some(1),
        ..wechat_sim::Fault::default()
    });
}

/// `endpoint` fails with a definite error (the daily quota, never retried) after letting
/// `after` calls through, until the faults are cleared.
fn fail_after(app: &App, endpoint: &str, after: u32) {
    app.local.sim.set_fault(wechat_sim::Fault {
        endpoint: Some(endpoint.into()),
        forced_errcode: Some((45009, "reach max api daily quota limit".into())),
        after,
        ..wechat_sim::Fault::default()
    });
}

async fn doubt_recorded(app: &App, appid: &AppId, name: &str) -> bool {
    use wxopen::store::SingleUseKind;
    app.local
        .store
        .peek_single_use(
            SingleUseKind::SubscribeTemplateInDoubt,
            &format!("{appid}#{name}"),
            app.local.sim.now(),
        )
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn an_addtemplate_whose_answer_is_lost_is_settled_from_wechat_and_never_added_twice() {
    let app = spawn().await;
    let sim = &app.local.sim;
    let appid = app.authorized_app("Lost template shop").await;
    let templates = format!("/svc/apps/{appid}/subscribe-templates");
    let add = json!({ "name": "order_shipped", "tid": 1001, "kid_list": [1, 2, 3] });

    // The answer is lost; gettemplate shows the template the call added: adopted.
    lose_answer(&app, ADDTEMPLATE);
    let (s, _, v) = call(&app, SERVICE, Method::POST, &templates, Some(add.clone())).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["reconciled"], true, "{v}");
    let held = sim.subscribe_templates(&appid);
    assert_eq!(held.len(), 1, "one template at WeChat");
    assert_eq!(v["pri_tmpl_id"], held[0].pri_tmpl_id.as_str());
    assert_eq!(sim.calls(ADDTEMPLATE), 1, "never sent again");
    assert!(!doubt_recorded(&app, &appid, "order_shipped").await);

    // Another name, lost again, and the recovery read broken too: the caller hears the lost
    // answer, the doubt stays recorded, nothing is named yet.
    let other = json!({ "name": "refund_done", "tid": 1002, "kid_list": [1, 3] });
    lose_answer(&app, ADDTEMPLATE);
    fail_after(&app, GETTEMPLATE, 1);
    let (s, _, v) = call(&app, SERVICE, Method::POST, &templates, Some(other.clone())).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (504, Some("wechat_outcome_unknown")),
        "{v}"
    );
    sim.clear_faults();
    assert_eq!(
        sim.subscribe_templates(&appid).len(),
        2,
        "WeChat applied it"
    );
    assert!(doubt_recorded(&app, &appid, "refund_done").await);
    let (_, _, listed) = call(&app, SERVICE, Method::GET, &templates, None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    // Asked again (a retry, or the fleet batch run again): settled from gettemplate, the
    // template WeChat added is adopted, no second one.
    let adds = sim.calls(ADDTEMPLATE);
    let (s, _, v) = call(&app, SERVICE, Method::POST, &templates, Some(other)).await;
    assert_eq!((s, &v["reconciled"]), (201, &json!(true)), "{v}");
    assert_eq!(sim.calls(ADDTEMPLATE), adds, "no second addtemplate");
    let held = sim.subscribe_templates(&appid);
    assert_eq!(held.len(), 2, "no duplicate priTmplId");
    assert!(held
        .iter()
        .any(|t| t.pri_tmpl_id == v["pri_tmpl_id"].as_str().unwrap()));
    assert!(!doubt_recorded(&app, &appid, "refund_done").await);

    // An add in doubt is what the name holds once settled, even when the retry asks for other
    // keywords: recorded as it was added, and the name is taken for the other ones.
    let first = json!({ "name": "pickup_ready", "tid": 2001, "kid_list": [1, 2] });
    lose_answer(&app, ADDTEMPLATE);
    fail_after(&app, GETTEMPLATE, 1);
    let (s, _, v) = call(&app, SERVICE, Method::POST, &templates, Some(first)).await;
    assert_eq!(s, 504, "{v}");
    sim.clear_faults();
    let adds = sim.calls(ADDTEMPLATE);
    let other_keywords = json!({ "name": "pickup_ready", "tid": 2001, "kid_list": [1, 3] });
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &templates,
        Some(other_keywords),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("template_name_taken")),
        "{v}"
    );
    assert_eq!(sim.calls(ADDTEMPLATE), adds);
    assert_eq!(sim.subscribe_templates(&appid).len(), 3);
    let (_, _, listed) = call(&app, SERVICE, Method::GET, &templates, None).await;
    let pickup = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "pickup_ready")
        .cloned()
        .unwrap();
    assert_eq!(pickup["kid_list"], json!([1, 2]), "{listed}");

    // WeChat's definite refusal leaves no doubt behind.
    let bad = json!({ "name": "pickup", "tid": 999999, "kid_list": [1, 2] });
    let (s, _, v) = call(&app, SERVICE, Method::POST, &templates, Some(bad)).await;
    assert!((400..500).contains(&s), "{s} {v}");
    assert!(!doubt_recorded(&app, &appid, "pickup").await);
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_is_not_resent_and_says_delivery_is_unknown() {
    let app = spawn().await;
    let sim = &app.local.sim;
    let appid = app.authorized_app("Lost send shop").await;
    let templates = format!("/svc/apps/{appid}/subscribe-templates");
    let add = json!({ "name": "order_shipped", "tid": 1001, "kid_list": [1, 2, 3] });
    let (s, _, added) = call(&app, SERVICE, Method::POST, &templates, Some(add)).await;
    assert_eq!(s, 201, "{added}");
    let pri = added["pri_tmpl_id"].as_str().unwrap();
    sim.set_subscription(&appid, "o-accepted", pri, 2);
    let message = json!({ "template": "order_shipped", "touser": "o-accepted",
        "data": { "character_string1": "TN42", "thing2": "SF", "time3": "2026-12-03 12:00" } });
    lose_answer(&app, SUBSCRIBE_SEND);
    let (s, _, v) = call(
        &app,
        SERVICE,
        Method::POST,
        &format!("/svc/apps/{appid}/subscribe-messages"),
        Some(message),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (504, Some("delivery_unknown")),
        "{v}"
    );
    assert!(v["hint"].as_str().unwrap().contains("not resent"), "{v}");
    assert_eq!(sim.calls(SUBSCRIBE_SEND), 1, "sent once, never repeated");
    assert_eq!(
        sim.sent_subscribe_messages().len(),
        1,
        "the user has it once"
    );
}

#[tokio::test]
async fn the_fleet_subscribe_batch_adds_a_template_once_to_each_of_20_apps() {
    let mut secrets = dev_secrets();
    secrets
        .operator_keys
        .push(key("backend", SERVICE, Role::Service, None));
    let app = spawn_app_with(|c| c.secrets = secrets).await;
    let sim = &app.local.sim;
    let appids: Vec<AppId> = (0..20)
        .map(|i| app.mini_program(&format!("Fleet shop {i}")))
        .collect();
    for a in &appids {
        sim.authorize(a, &[17, 18]).await.unwrap();
    }
    let params = json!({ "name": "order_shipped", "tid": 1001, "kid_list": [1, 2, 3], "scene_desc": "shipping" });
    // Two apps have the name already (one the same template, one another), through /svc.
    let app = &app;
    let add = |a: &AppId, body: Value| {
        let path = format!("/svc/apps/{a}/subscribe-templates");
        async move { call(app, SERVICE, Method::POST, &path, Some(body)).await }
    };
    let (s, _, same) = add(&appids[0], params.clone()).await;
    assert_eq!(s, 201, "{same}");
    let other = json!({ "name": "order_shipped", "tid": 1002, "kid_list": [1, 2] });
    let (s, _, v) = add(&appids[1], other).await;
    assert_eq!(s, 201, "{v}");
    // Two answers lost on the way: WeChat applied them.
    sim.set_fault(wechat_sim::Fault {
        endpoint: Some(ADDTEMPLATE.into()),
        lose_answer: true,
        times: Some(2),
        ..wechat_sim::Fault::default()
    });
    sim.reset_calls();
    let body =
        json!({ "action": "add_subscribe_template", "appids": "all_authorized", "params": params });
    let (s, v) = app.post_batch("subscribe-order-shipped", &body).await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    assert_eq!(done["total"], 20, "{done}");
    assert_eq!(
        done["counts"],
        json!({ "ok": 18, "skipped": 2, "failed": 0, "running": 0, "pending": 0 }),
        "{done}"
    );
    assert_eq!(
        sim.calls(ADDTEMPLATE),
        18,
        "one addtemplate per app that lacked it"
    );
    let mut reconciled = 0;
    for item in done["items"].as_array().unwrap() {
        let a = AppId::parse(item["appid"].as_str().unwrap()).unwrap();
        let held = sim.subscribe_templates(&a);
        assert_eq!(held.len(), 1, "{a}: exactly one template at WeChat");
        let d = &item["detail"];
        if a == appids[1] {
            assert_eq!(
                (item["state"].as_str(), d["status"].as_str()),
                (Some("skipped"), Some("subscribe_template_name_taken")),
                "{item}"
            );
            assert_eq!(
                held[0].tid, 1002,
                "another template under the name is left alone"
            );
            continue;
        }
        assert_eq!(d["pri_tmpl_id"], held[0].pri_tmpl_id.as_str(), "{item}");
        assert_eq!(held[0].kids, vec![1, 2, 3]);
        if a == appids[0] {
            assert_eq!(
                (item["state"].as_str(), &d["added"]),
                (Some("skipped"), &json!(false)),
                "{item}"
            );
            assert_eq!(d["pri_tmpl_id"], same["pri_tmpl_id"]);
        } else {
            assert_eq!(
                (item["state"].as_str(), &d["added"]),
                (Some("ok"), &json!(true)),
                "{item}"
            );
        }
        if d["reconciled"] == json!(true) {
            reconciled += 1;
        }
        // The backends send by the name.
        let (s, _, v) = call(
            app,
            SERVICE,
            Method::GET,
            &format!("/svc/apps/{a}/subscribe-templates"),
            None,
        )
        .await;
        assert_eq!(
            (s, &v["items"][0]["pri_tmpl_id"]),
            (200, &d["pri_tmpl_id"]),
            "{v}"
        );
    }
    assert_eq!(
        reconciled, 2,
        "the two lost answers were settled from gettemplate"
    );

    // Run again (another key): every app is skipped, nothing is added.
    sim.reset_calls();
    let (s, v) = app.post_batch("subscribe-order-shipped-again", &body).await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    assert_eq!(done["counts"]["skipped"], 20, "{}", done["counts"]);
    assert_eq!(sim.calls(ADDTEMPLATE), 0);

    // A customer's apps only; bad params refused before anything is stored.
    let acme: Vec<AppId> = (0..2)
        .map(|i| app.mini_program(&format!("Acme {i}")))
        .collect();
    for a in &acme {
        let (s, page) = app.onboard("acme", a).await;
        assert_eq!(s, 200, "{page}");
    }
    let body = json!({ "action": "add_subscribe_template", "appids": { "customer": "acme" }, "params": { "name": "pickup", "tid": 2001, "kid_list": [1, 2] } });
    let (s, v) = app.post_batch("subscribe-acme", &body).await;
    assert_eq!(s, 202, "{v}");
    let done = app.wait_done(v["batch_id"].as_str().unwrap()).await;
    assert_eq!(
        (done["total"].as_u64(), done["counts"]["ok"].as_u64()),
        (Some(2), Some(2)),
        "{done}"
    );
    for a in &acme {
        assert_eq!(sim.subscribe_templates(a).len(), 1);
    }
    for (params, field) in [
        (
            json!({ "name": "bad name", "tid": 1001, "kid_list": [1, 2] }),
            "invalid_template_name",
        ),
        (
            json!({ "name": "x", "tid": 1001, "kid_list": [1] }),
            "invalid_kid_list",
        ),
        (
            json!({ "name": "x", "tid": "1001", "kid_list": [1, 2] }),
            "invalid_body",
        ),
    ] {
        let body = json!({ "action": "add_subscribe_template", "appids": "all_authorized", "params": params });
        let (s, v) = app.post_batch(&format!("bad-{field}"), &body).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(field)), "{v}");
    }
}
