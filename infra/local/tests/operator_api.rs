//! The operator API's invitation and authorizer routes: the key check, bad input answered with a
//! 4xx JSON body and no change, listings with filters and pages, and no token value anywhere.

mod support;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::Arc;
use support::{spawn_app, spawn_app_with};
use wxopen::domain::{Clock, ManualClock, SystemClock};
use wxopen::store::TokenKey;

async fn invitation_count(app: &support::App) -> usize {
    app.local
        .store
        .list_invitations(None, 1000)
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test]
async fn every_ops_route_wants_the_operator_key() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/ops/invitations"),
        (Method::POST, "/ops/invitations"),
        (Method::GET, "/ops/authorizers"),
        (Method::GET, "/ops/authorizers/wx0000000000000001"),
        (Method::DELETE, "/ops/invitations/x"),
        (Method::GET, "/ops/no-such-route"),
    ] {
        for auth in [None, Some("Bearer wrong-key"), Some("Basic abc")] {
            let mut req = app.http.request(method.clone(), app.url(path));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req
                .header("content-type", "application/json")
                .body(r#"{"customer_id":"c"}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 401, "{method} {path} with {auth:?}");
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
        }
    }
    assert_eq!(
        invitation_count(&app).await,
        0,
        "nothing created without the key"
    );
    let (status, body) = app.get_json("/ops/no-such-route").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn bad_invitations_are_refused_with_a_json_reason_and_change_nothing() {
    let app = spawn_app().await;
    app.invite(json!({ "customer_id": "seed" })).await;
    let cases: Vec<(&str, String, &str)> = vec![
        ("application/json", json!({}).to_string(), "invalid_body"),
        ("application/json", "{not json".into(), "invalid_body"),
        (
            "text/plain",
            json!({ "customer_id": "c" }).to_string(),
            "unsupported_content_type",
        ),
        (
            "application/json",
            json!({ "customer_id": "" }).to_string(),
            "invalid_customer_id",
        ),
        (
            "application/json",
            json!({ "customer_id": "x".repeat(65) }).to_string(),
            "invalid_customer_id",
        ),
        (
            "application/json",
            json!({ "customer_id": "a\u{7}b" }).to_string(),
            "invalid_customer_id",
        ),
        (
            "application/json",
            json!({ "customer_id": "c", "auth_type": 4 }).to_string(),
            "invalid_auth_type",
        ),
        (
            "application/json",
            json!({ "customer_id": "c", "biz_appid": "nope" }).to_string(),
            "invalid_biz_appid",
        ),
        (
            "application/json",
            json!({ "customer_id": "c", "expires_in": 10 }).to_string(),
            "invalid_expires_in",
        ),
        (
            "application/json",
            json!({ "customer_id": "c", "expires_in": 99_999_999 }).to_string(),
            "invalid_expires_in",
        ),
        (
            "application/json",
            json!({ "customer_id": "c", "surprise": 1 }).to_string(),
            "invalid_body",
        ),
    ];
    for (content_type, body, code) in cases {
        let resp = app
            .ops(Method::POST, "/ops/invitations")
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], code, "{body}: {v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(invitation_count(&app).await, 1, "only the seed exists");
    for (path, code) in [
        ("/ops/invitations?limit=0", "invalid_limit"),
        ("/ops/invitations?cursor=garbage", "invalid_cursor"),
        ("/ops/authorizers?status=happy", "invalid_status"),
        ("/ops/authorizers/not-an-appid", "invalid_appid"),
        ("/ops/invitations?bogus=1", "invalid_query"),
    ] {
        let (status, v) = app.get_json(path).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some(code)),
            "{path}: {v}"
        );
    }
}

#[tokio::test]
async fn invitations_are_listed_newest_first_shown_and_revoked_once_but_a_used_one_stays() {
    let clock = ManualClock::new(SystemClock.now());
    let app = spawn_app_with(|c| c.clock = Arc::new(clock.clone())).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let inv = app
            .invite(json!({ "customer_id": format!("c{n}"), "auth_type": 3, "biz_appid": "wx00000000000000bb" }))
            .await;
        assert_eq!(inv["state"], "active");
        assert_eq!(inv["auth_type"], 3);
        assert_eq!(inv["biz_appid"], "wx00000000000000bb");
        assert!(
            inv["expires_at"].as_i64().unwrap() - inv["created_at"].as_i64().unwrap() == 7 * 86_400
        );
        ids.push(inv["invitation_id"].as_str().unwrap().to_owned());
        // Ids sort by creation second; a new second keeps the order test honest.
        clock.advance(1);
    }
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/ops/invitations?limit=2&cursor={c}"),
            None => "/ops/invitations?limit=2".to_owned(),
        };
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        for i in page["items"].as_array().unwrap() {
            listed.push(i["invitation_id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    let (status, one) = app.get_json(&format!("/ops/invitations/{}", ids[0])).await;
    assert_eq!((status, one["customer_id"].as_str()), (200, Some("c0")));
    let revoke = |id: String| {
        let req = app.ops(Method::DELETE, &format!("/ops/invitations/{id}"));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = revoke(ids[0].clone()).await;
    assert_eq!((status, first["state"].as_str()), (200, Some("revoked")));
    let (status, second) = revoke(ids[0].clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        second["revoked_at"], first["revoked_at"],
        "revoking twice keeps the first time"
    );
    let (status, v) = revoke("missing".into()).await;
    assert_eq!((status, v["error"].as_str()), (404, Some("not_found")));

    // A used invitation cannot be revoked; it stays used.
    app.local
        .store
        .update_invitation(&ids[1], &|i| {
            i.used_at = Some(i.created_at + 5);
            Ok(())
        })
        .await
        .unwrap();
    let (status, v) = revoke(ids[1].clone()).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("invitation_used"))
    );
    let stored = app
        .local
        .store
        .get_invitation(&ids[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_at, None);
}

#[tokio::test]
async fn authorizers_are_listed_with_filters_and_token_health_but_no_token_value() {
    let app = spawn_app().await;
    let mut apps = Vec::new();
    for (n, customer) in ["alice", "alice", "bob"].iter().enumerate() {
        let appid = app.mini_program(&format!("Shop {n}"));
        let (status, _) = app.onboard(customer, &appid).await;
        assert_eq!(status, 200);
        apps.push(appid);
    }
    app.local.sim.unauthorize(&apps[2]).await.unwrap();

    let (status, all) = app.get_json("/ops/authorizers").await;
    assert_eq!(status, 200);
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    let (_, alice) = app.get_json("/ops/authorizers?customer_id=alice").await;
    let alice: Vec<&str> = alice["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appid"].as_str().unwrap())
        .collect();
    let mut expected = vec![apps[0].as_str(), apps[1].as_str()];
    expected.sort();
    assert_eq!(alice, expected);
    let (_, gone) = app.get_json("/ops/authorizers?status=unauthorized").await;
    assert_eq!(gone["items"].as_array().unwrap().len(), 1);
    assert_eq!(gone["items"][0]["appid"], apps[2].as_str());
    assert_eq!(gone["items"][0]["status"], "unauthorized");
    let (_, page) = app.get_json("/ops/authorizers?limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["next"].is_string());

    let (status, one) = app.get_json(&format!("/ops/authorizers/{}", apps[0])).await;
    assert_eq!(status, 200);
    for field in [
        "appid",
        "status",
        "customer_id",
        "func_info",
        "nick_name",
        "user_name",
        "principal_name",
        "authorized_at",
        "access_expires_at",
        "refreshed_at",
    ] {
        assert!(!one[field].is_null(), "{field} in {one}");
    }
    assert_eq!(one["status"], "authorized");
    assert_eq!(one["customer_id"], "alice");
    assert_eq!(one["func_info"], json!([17, 18]));
    assert_eq!(one["nick_name"], "Shop 0");
    assert!(one["profile"].is_object());
    // No token value appears, in the detail or in the listing.
    let token = app
        .local
        .store
        .get_token(&TokenKey::Authorizer(apps[0].clone()))
        .await
        .unwrap()
        .unwrap()
        .state;
    let body = format!("{one}{all}");
    assert!(!body.contains(token.access_token.unwrap().expose_secret()));
    assert!(!body.contains(token.refresh_token.unwrap().expose_secret()));
    let (status, v) = app.get_json("/ops/authorizers/wx00000000000000ff").await;
    assert_eq!((status, v["error"].as_str()), (404, Some("not_found")));
    assert!(app.stored_authorizer(&apps[0]).await.is_some());
}
