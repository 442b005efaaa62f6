//! Who may do what on /ops, tried as an attacker and as each kind of key would, through the
//! real router: strict bodies, honest statuses, no route map without a key, refusals logged,
//! and every route of the OpenAPI document under every role (allowed, or 403 / 404 as
//! `access::RULES` says, with nothing changed by a refusal).

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{spawn_app_with, submit_body, App, OPERATOR_KEY};
use wxopen::domain::AppId;
use wxopen::operator_auth::{OperatorKey, Role};
use wxopen_local::dev_secrets;

const VIEWER: &str = "key-of-the-viewer";
const OPERATOR: &str = "key-of-the-operator";
const ADMIN: &str = "key-of-the-admin";
const SERVICE: &str = "key-of-the-service";
const ACME: &str = "key-of-acme-staff";
const ACME_ADMIN: &str = "key-of-acme-admin";

fn key(label: &str, key: &str, role: Role, customers: Option<&[&str]>) -> OperatorKey {
    let customers = customers.map(|c| c.iter().map(|s| s.to_string()).collect());
    OperatorKey::for_key(label, key, role, customers)
}

async fn spawn() -> App {
    let mut secrets = dev_secrets();
    secrets.operator_keys = vec![
        key("support", VIEWER, Role::Viewer, None),
        key("ops-1", OPERATOR, Role::Operator, None),
        key("root", ADMIN, Role::Admin, None),
        key("svc", SERVICE, Role::Service, None),
        key("acme-staff", ACME, Role::Operator, Some(&["acme"])),
        key("acme-admin", ACME_ADMIN, Role::Admin, Some(&["acme"])),
    ];
    spawn_app_with(|c| c.secrets = secrets).await
}

/// One request with `key` (none: no Authorization); answers status, headers and JSON body.
async fn send(
    app: &App,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .header("idempotency-key", "access-test")
            .body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn get(app: &App, path: &str) -> Value {
    let (s, _, v) = send(app, Some(ADMIN), Method::GET, path, None).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

#[tokio::test]
async fn strict_bodies_refuse_trailing_data_arrays_and_unknown_fields_and_change_nothing() {
    let app = spawn().await;
    let req_path = "/ops/templates/1/requirements";
    let seeded = r#"{"requestdomain": ["https://api.shop.example"]}"#;
    let (s, _, v) = send(&app, Some(ADMIN), Method::PUT, req_path, Some(seeded)).await;
    assert_eq!(s, 200, "{v}");
    let before = get(&app, req_path).await;
    // An array for the object would wipe the stored requirements.
    for bad in ["[]", "[[\"https://x.example\"]]", "\"x\"", "1", ""] {
        let (s, _, v) = send(&app, Some(ADMIN), Method::PUT, req_path, Some(bad)).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("invalid_body")),
            "{bad}: {v}"
        );
        assert!(v["message"].as_str().unwrap().contains("object"), "{v}");
    }
    // Trailing data: the first object would be applied.
    let two = r#"{"requestdomain": []}{"requestdomain": ["https://y.example"]}"#;
    let (s, _, v) = send(&app, Some(ADMIN), Method::PUT, req_path, Some(two)).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_body")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("trailing"), "{v}");
    // An unknown field is named.
    let unknown = r#"{"requestdomain": [], "reqeustdomain": ["https://y.example"]}"#;
    let (s, _, v) = send(&app, Some(ADMIN), Method::PUT, req_path, Some(unknown)).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_body")), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("reqeustdomain"),
        "{v}"
    );
    assert_eq!(get(&app, req_path).await, before);
    // The same on a creating route: no invitation appears.
    let inv = r#"{"customer_id": "c1"}{"customer_id": "c2"}"#;
    let (s, _, v) = send(
        &app,
        Some(ADMIN),
        Method::POST,
        "/ops/invitations",
        Some(inv),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_body")), "{v}");
    assert_eq!(get(&app, "/ops/invitations").await["items"], json!([]));
}

#[tokio::test]
async fn wechat_refusing_what_was_asked_is_422_with_errcode_and_hint() {
    let app = spawn().await;
    let appid = app.authorized_app("Nothing committed").await;
    let body = submit_body().to_string();
    let path = format!("/ops/apps/{appid}/audits");
    let (s, _, v) = send(&app, Some(OPERATOR), Method::POST, &path, Some(&body)).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"], "wechat_refused");
    assert_eq!(v["errcode"], 85086);
    assert!(!v["errmsg"].as_str().unwrap().is_empty(), "{v}");
    assert!(v["hint"].as_str().unwrap().contains("commit"), "{v}");
}

#[tokio::test]
async fn a_wrong_method_without_a_key_is_401_without_allow_and_with_one_405_with_allow() {
    let app = spawn().await;
    let appid = app.authorized_app("Methods").await;
    for path in [
        format!("/ops/apps/{appid}/release"),
        "/ops/invitations".to_owned(),
        "/ops/me".to_owned(),
        "/ops/no-such-route".to_owned(),
    ] {
        for key in [None, Some("guess")] {
            let (s, h, v) = send(&app, key, Method::PATCH, &path, None).await;
            assert_eq!(s, 401, "{path}: {v}");
            assert!(h.get("allow").is_none(), "{path}: {h:?}");
        }
    }
    let path = format!("/ops/apps/{appid}/release");
    let (s, h, _) = send(&app, Some(ADMIN), Method::PATCH, &path, None).await;
    assert_eq!(s, 405);
    assert_eq!(h.get("allow").unwrap(), "POST");
}

/// The role each documented operation names (`x-role`), and whether it spans every customer.
fn documented_rules() -> Vec<(String, String, Role, bool)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../functions/audit-actions/openapi.yaml"
    );
    let doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for (p, item) in doc["paths"].as_mapping().unwrap() {
        let p = p.as_str().unwrap();
        if !p.starts_with("/ops") {
            continue;
        }
        for (m, op) in item.as_mapping().unwrap() {
            let m = m.as_str().unwrap();
            if !["get", "post", "put", "delete", "patch"].contains(&m) {
                continue;
            }
            let role = op["x-role"]
                .as_str()
                .and_then(Role::parse)
                .unwrap_or_else(|| panic!("{m} {p} names no x-role"));
            let all = op["x-all-customers"].as_bool().unwrap_or(false);
            out.push((m.to_uppercase(), p.to_owned(), role, all));
        }
    }
    out
}

#[test]
fn the_role_table_is_the_openapi_document() {
    let mut documented = documented_rules();
    let mut table: Vec<_> = audit_actions::access::RULES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.route.to_owned(),
                r.role,
                r.reach == audit_actions::access::Reach::AllCustomers,
            )
        })
        .collect();
    documented.sort();
    table.sort();
    assert_eq!(documented, table);
}

/// Everything an operator could change, read with the admin key.
async fn snapshot(app: &App, appid: &AppId, invitation: &str) -> Value {
    let mut out = json!({});
    for p in [
        format!("/ops/apps/{appid}/activity"),
        format!("/ops/authorizers/{appid}"),
        format!("/ops/invitations/{invitation}"),
        "/ops/invitations".to_owned(),
        "/ops/templates/1/requirements".to_owned(),
        "/ops/batches".to_owned(),
    ] {
        let mut v = get(app, &p).await;
        // Token health ages with the clock; the rest must not move.
        if let Some(o) = v.as_object_mut() {
            o.remove("token");
        }
        out[p] = v;
    }
    out["sim"] = json!(format!("{:?}", app.local.sim.account(appid)));
    out
}

#[tokio::test]
async fn every_documented_route_under_every_role_is_allowed_or_refused_as_the_table_says() {
    let app = spawn().await;
    let appid = app.authorized_app("Every route").await;
    let inv = app.invite(json!({ "customer_id": "customer-1" })).await;
    let invitation = inv["invitation_id"].as_str().unwrap().to_owned();
    let seeded = r#"{"requestdomain": ["https://api.shop.example"]}"#;
    let (s, _, _) = send(
        &app,
        Some(ADMIN),
        Method::PUT,
        "/ops/templates/1/requirements",
        Some(seeded),
    )
    .await;
    assert_eq!(s, 200);
    let rules = documented_rules();
    let concrete = |route: &str| {
        route
            .replace("{appid}", appid.as_str())
            .replace("{id}", &invitation)
            .replace("{template_id}", "1")
            .replace("{auditid}", "1")
            .replace("{batch_id}", "0")
    };
    let keys = [
        (VIEWER, Role::Viewer),
        (OPERATOR, Role::Operator),
        (ADMIN, Role::Admin),
        (SERVICE, Role::Service),
    ];
    // The refusals first, all of them, then the state is as it was.
    let before = snapshot(&app, &appid, &invitation).await;
    let mut refused = 0;
    for (key, role) in keys {
        for (method, route, needed, _) in &rules {
            if role.grants(*needed) {
                continue;
            }
            let body = (method != "GET").then_some("{}");
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let (s, h, v) = send(&app, Some(key), m, &concrete(route), body).await;
            assert_eq!(s, 403, "{role} {method} {route}: {v}");
            assert_eq!(v["error"], "forbidden");
            assert_eq!(v["needed_role"], needed.as_str(), "{method} {route}");
            assert!(h.get("allow").is_none());
            refused += 1;
        }
    }
    assert!(refused > 60, "{refused}");
    assert_eq!(snapshot(&app, &appid, &invitation).await, before);
    // Allowed: never refused for the key (whatever the route then answers: reads first, then
    // the actions, each with an empty object).
    for reads in [true, false] {
        for (key, role) in keys {
            for (method, route, needed, _) in &rules {
                if !role.grants(*needed) || (method == "GET") != reads {
                    continue;
                }
                let body = (!reads).then_some("{}");
                let m = Method::from_bytes(method.as_bytes()).unwrap();
                let (s, _, v) = send(&app, Some(key), m, &concrete(route), body).await;
                assert!(![401, 403].contains(&s), "{role} {method} {route}: {s} {v}");
            }
        }
    }
}

#[tokio::test]
async fn a_key_limited_to_a_customer_sees_and_acts_only_on_its_apps() {
    let app = spawn().await;
    let ours = app.mini_program("Acme shop");
    assert_eq!(app.onboard("acme", &ours).await.0, 200);
    let theirs = app.authorized_app("Someone else's shop");
    let theirs = theirs.await;
    let (s, _, v) = send(&app, Some(ACME), Method::GET, "/ops/authorizers", None).await;
    assert_eq!(s, 200, "{v}");
    let listed: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appid"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ours.as_str()]);
    let (_, _, v) = send(
        &app,
        Some(ACME),
        Method::GET,
        "/ops/authorizers?customer_id=customer-1",
        None,
    )
    .await;
    assert_eq!(v["items"], json!([]));
    let before = get(&app, &format!("/ops/apps/{theirs}/activity")).await;
    let unknown = "wx0000000000000000";
    for (method, path, body) in [
        (Method::GET, format!("/ops/apps/{theirs}"), None),
        (Method::GET, format!("/ops/authorizers/{theirs}"), None),
        (
            Method::POST,
            format!("/ops/apps/{theirs}/commit"),
            Some(support::commit_body("9.9.9").to_string()),
        ),
        (Method::GET, format!("/ops/apps/{unknown}"), None),
    ] {
        let (s, _, v) = send(&app, Some(ACME), method, &path, body.as_deref()).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (404, Some("not_found")),
            "{path}: {v}"
        );
    }
    assert_eq!(
        get(&app, &format!("/ops/apps/{theirs}/activity")).await,
        before
    );
    // Nor through the `?appid=` that picks whose token asks WeChat.
    for path in [
        format!("/ops/quota?appid={theirs}"),
        format!("/ops/categories?appid={theirs}"),
    ] {
        let (s, _, v) = send(&app, Some(ACME), Method::GET, &path, None).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (404, Some("not_found")),
            "{path}: {v}"
        );
        // Its own app's token may ask (whatever WeChat then answers).
        let ours = path.replace(theirs.as_str(), ours.as_str());
        let (s, _, v) = send(&app, Some(ACME), Method::GET, &ours, None).await;
        assert_ne!(v["error"], "not_found", "{ours}: {s} {v}");
    }
    // Its own app: served.
    let (s, _, v) = send(
        &app,
        Some(ACME),
        Method::GET,
        &format!("/ops/apps/{ours}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // Invitations: only for its customers.
    let (s, _, v) = send(
        &app,
        Some(ADMIN),
        Method::POST,
        "/ops/invitations",
        Some(r#"{"customer_id": "globex"}"#),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let theirs_invitation = v["invitation_id"].as_str().unwrap().to_owned();
    let (s, _, v) = send(
        &app,
        Some(ACME),
        Method::GET,
        &format!("/ops/invitations/{theirs_invitation}"),
        None,
    )
    .await;
    // An operator key may not read invitations at all.
    assert_eq!((s, v["error"].as_str()), (403, Some("forbidden")), "{v}");
    // An admin of acme: another customer's invitation is unknown to it, and it invites only
    // for acme.
    let before = get(&app, &format!("/ops/invitations/{theirs_invitation}")).await;
    for method in [Method::GET, Method::DELETE] {
        let path = format!("/ops/invitations/{theirs_invitation}");
        let (s, _, v) = send(&app, Some(ACME_ADMIN), method, &path, None).await;
        assert_eq!((s, v["error"].as_str()), (404, Some("not_found")), "{v}");
    }
    assert_eq!(
        get(&app, &format!("/ops/invitations/{theirs_invitation}")).await,
        before
    );
    let (s, _, v) = send(
        &app,
        Some(ACME_ADMIN),
        Method::POST,
        "/ops/invitations",
        Some(r#"{"customer_id": "globex"}"#),
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (403, Some("forbidden")), "{v}");
    let (_, _, v) = send(
        &app,
        Some(ACME_ADMIN),
        Method::GET,
        "/ops/invitations",
        None,
    )
    .await;
    let customers: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["customer_id"].as_str().unwrap())
        .collect();
    assert!(
        !customers.is_empty() && customers.iter().all(|c| *c == "acme"),
        "{v}"
    );
    // Batches span customers: not for a limited key.
    let (s, _, v) = send(&app, Some(ACME), Method::GET, "/ops/batches", None).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("forbidden")), "{v}");
    let (s, _, v) = send(&app, Some(ACME), Method::GET, "/ops/me", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (&v["label"], &v["role"], &v["customers"]),
        (&json!("acme-staff"), &json!("operator"), &json!(["acme"]))
    );
}

#[tokio::test]
async fn me_answers_label_role_and_what_the_key_may_do_and_older_keys_are_admins() {
    let app = spawn().await;
    let (s, _, v) = send(&app, Some(VIEWER), Method::GET, "/ops/me", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["label"], &v["role"]),
        (&json!("support"), &json!("viewer"))
    );
    assert_eq!(v["customers"], Value::Null);
    let routes = v["routes"].as_array().unwrap();
    let allowed = |m: &str, r: &str| {
        routes
            .iter()
            .find(|x| x["method"] == m && x["route"] == r)
            .unwrap()["allowed"]
            .as_bool()
            .unwrap()
    };
    assert!(allowed("GET", "/ops/apps/{appid}"));
    assert!(!allowed("POST", "/ops/apps/{appid}/release"));
    // The development key is a bare digest: an admin.
    let (_, _, v) = send(&app, Some(OPERATOR_KEY), Method::GET, "/ops/me", None).await;
    assert_eq!(v["role"], "admin", "{v}");
}
