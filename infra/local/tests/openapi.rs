//! `functions/audit-actions/openapi.yaml` is held to the router: every route the source declares
//! is listed, every listed path and method answers (not the router's 404 or 405), methods it does
//! not list answer 405, and every listed route refuses a request without the operator key,
//! except those the document marks `security: []` (the console's page and assets), which answer
//! without it.

mod support;

use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use support::spawn_app;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `(path, method)` pairs the document lists.
fn documented() -> BTreeSet<(String, String)> {
    operations(|_| true)
}

/// `(path, method)` pairs the document marks as needing no key (`security: []`).
fn public() -> BTreeSet<(String, String)> {
    operations(|op| op["security"].as_sequence().is_some_and(Vec::is_empty))
}

fn operations(keep: impl Fn(&serde_norway::Value) -> bool) -> BTreeSet<(String, String)> {
    let text =
        std::fs::read_to_string(repo().join("functions/audit-actions/openapi.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc["paths"].as_mapping().unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for (k, op) in item.as_mapping().unwrap() {
            let k = k.as_str().unwrap();
            if METHODS.contains(&k) && keep(op) {
                out.insert((path.as_str().unwrap().to_owned(), k.to_owned()));
            }
        }
    }
    out
}

/// `(path, method)` pairs the function routes: every `/ops` and `/svc` route's declaration
/// (`declare_routes!`, which makes the router and its rules from one line, so its table is its
/// routes), and what `.route("…", get(…).post(…))` declares elsewhere (the console).
fn declared() -> BTreeSet<(String, String)> {
    let mut out: BTreeSet<(String, String)> = audit_actions::access::RULES
        .iter()
        .chain(audit_actions::access::SVC_RULES)
        .map(|r| (r.route.to_owned(), r.method.to_lowercase()))
        .collect();
    // The source and its module folders (`http/`, `ops/`).
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("functions/audit-actions/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let mut rest = src.as_str();
        while let Some(at) = rest.find(".route(") {
            let args_start = at + ".route(".len();
            let bytes = rest.as_bytes();
            let mut depth = 1;
            let mut end = args_start;
            while depth > 0 {
                match bytes[end] {
                    b'(' => depth += 1,
                    b')' => depth -= 1,
                    _ => {}
                }
                end += 1;
            }
            let args = &rest[args_start..end - 1];
            rest = &rest[end..];
            if args.contains("any(") || !args.contains('"') {
                continue; // the /ops and /svc catch-alls answering 404; the declaration macro
            }
            let q1 = args.find('"').unwrap() + 1;
            let q2 = q1 + args[q1..].find('"').unwrap();
            let route = &args[q1..q2];
            let handlers = &args[q2 + 1..];
            for m in METHODS {
                let called = |prefix: &str| handlers.contains(&format!("{prefix}{m}("));
                if called(" ") || called("\n") || called(".") || called("(") || called("\t") {
                    out.insert((route.to_owned(), m.to_owned()));
                }
            }
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{appid}", "wx00000000000000ff")
        .replace("{auditid}", "1")
        .replace("{template_id}", "1")
        .replace("{id}", "x")
        .replace("{batch_id}", "x")
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.to_uppercase().as_bytes()).unwrap()
}

#[test]
fn the_document_lists_exactly_the_routes_the_source_declares() {
    let doc = documented();
    let src = declared();
    assert!(src.len() > 30, "the source scan found {src:?}");
    let missing: Vec<_> = src.difference(&doc).collect();
    let extra: Vec<_> = doc.difference(&src).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not documented: {missing:?}; documented but not routed: {extra:?}"
    );
}

#[tokio::test]
async fn every_documented_route_answers_and_refuses_a_request_without_the_key() {
    let app = spawn_app().await;
    let doc = documented();
    let public = public();
    assert!(
        public.iter().all(|(p, _)| !p.starts_with("/ops")),
        "every /ops route needs the key: {public:?}"
    );
    let paths: BTreeSet<&String> = doc.iter().map(|(p, _)| p).collect();
    for path in paths {
        let url = app.url(&concrete(path));
        for m in METHODS {
            let listed = doc.contains(&(path.clone(), m.to_owned()));
            if public.contains(&(path.clone(), m.to_owned())) {
                let resp = app.http.request(method(m), &url).send().await.unwrap();
                assert_eq!(resp.status(), 200, "{m} {path} without the key");
                continue;
            }
            let resp = app
                .http
                .request(method(m), &url)
                .bearer_auth(support::OPERATOR_KEY)
                .header("content-type", "application/json")
                .header("idempotency-key", "openapi-probe")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp
                .json()
                .await
                .unwrap_or_else(|e| panic!("{m} {path} answered {status} without JSON: {e}"));
            if listed {
                assert_ne!(status, 405, "{m} {path}: {body}");
                assert!(
                    !(status == 404 && body["message"] == "route not found"),
                    "{m} {path} is documented but not routed"
                );
            } else {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (405, Some("method_not_allowed")),
                    "{m} {path} is not documented: {body}"
                );
            }
            if listed {
                let resp = app.http.request(method(m), &url).send().await.unwrap();
                assert_eq!(resp.status(), 401, "{m} {path} without the key");
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["error"], "unauthorized");
            }
        }
    }
    assert!(
        app.local
            .store
            .list_batches(false, None, 10)
            .await
            .unwrap()
            .items
            .is_empty(),
        "a probe with an empty body created no batch"
    );
}
