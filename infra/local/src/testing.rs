//! The harness of every test that drives the whole system (this crate's, the operator CLI's):
//! `wxopen-local` on free ports and a fresh data directory (the very routers the Lambdas run,
//! the embedded store, the simulator wired both ways), configured by a closure, and the steps a
//! merchant and an operator take. Behind the `testing` feature: test equipment, which panics on
//! any surprise, is never part of the binary.

use crate::{dev_secrets, start, Local, LocalConfig};
use reqwest::redirect::Policy;
use serde_json::Value;
use std::time::Duration;
use wechat_sim::AccountSpec;
use wxopen::domain::AppId;
use wxopen::store::Authorizer;

/// A commit of the simulator's template 1 at `version`.
pub fn commit_body(version: &str) -> Value {
    serde_json::json!({
        "template_id": 1,
        "ext_json": { "extAppid": "wx00000000000000aa", "ext": { "shop": "s1" } },
        "user_version": version,
        "user_desc": format!("release {version}"),
    })
}

/// A submission of the home page.
pub fn submit_body() -> Value {
    serde_json::json!({ "item_list": [{ "address": "pages/index/index", "tag": "shop", "title": "Home" }], "version_desc": "v" })
}

/// The operator key whose SHA-256 the development secrets hold.
pub const OPERATOR_KEY: &str = "local-operator-key";

/// The running system, and a client to drive it with.
pub struct App {
    pub local: Local,
    /// Never follows redirects: each hop is checked.
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The system as [`LocalConfig::on_free_ports`] wires it, with the development secrets and a
/// fresh data directory.
pub async fn spawn_app() -> App {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with its configuration changed by `change` first: other secrets, a
/// [`wxopen::domain::ManualClock`], another WeChat endpoint, a refresher timer, seeded mini
/// programs.
pub async fn spawn_app_with(change: impl FnOnce(&mut LocalConfig)) -> App {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let mut config = LocalConfig::on_free_ports(dir.path().to_owned(), dev_secrets());
    change(&mut config);
    let local = start(config).await.expect("wxopen-local starts");
    App {
        local,
        http: wxopen::https::reqwest_builder()
            .redirect(Policy::none())
            .build()
            .expect("an HTTP client"),
        _dir: dir,
    }
}

/// A consent link on the start page, and where the merchant lands after approving on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Pc,
    Mobile,
}

impl App {
    /// The authorizer's profile as stored, if any.
    pub async fn stored_authorizer(&self, appid: &AppId) -> Option<Authorizer> {
        self.local.store.get_authorizer(appid).await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.local.base_url)
    }

    pub fn mini_program(&self, name: &str) -> AppId {
        self.local.sim.add_account(AccountSpec {
            nick_name: Some(name.to_owned()),
            ..AccountSpec::mini_program()
        })
    }

    pub fn ops(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(OPERATOR_KEY)
    }

    /// `POST /ops/invitations`; answers the JSON (status asserted 201).
    pub async fn invite(&self, body: Value) -> Value {
        let resp = self
            .ops(reqwest::Method::POST, "/ops/invitations")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
        resp.json().await.unwrap()
    }

    pub async fn get(&self, url: &str) -> (u16, String) {
        let resp = self.http.get(url).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.ops(reqwest::Method::GET, path).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// Opens the invitation, follows one consent link to the simulator's consent page, approves
    /// `appid` with `func_info` there, and answers the callback URL WeChat redirects to.
    pub async fn consent(
        &self,
        invite_url: &str,
        link: Link,
        appid: &AppId,
        func_info: &[u32],
    ) -> String {
        let (status, page) = self.get(invite_url).await;
        assert_eq!(status, 200, "{page}");
        let href = link_href(
            &page,
            match link {
                Link::Pc => "pc-link",
                Link::Mobile => "mobile-link",
            },
        );
        self.approve(&href, appid, func_info).await
    }

    /// Opens the consent page `href` leads to (which must list `appid`), approves `appid` with
    /// `func_info` there as the merchant would, and answers the callback URL WeChat redirects to.
    pub async fn approve(&self, href: &str, appid: &AppId, func_info: &[u32]) -> String {
        let consent = url::Url::parse(href).unwrap();
        let (status, consent_page) = self.get(href).await;
        assert_eq!(status, 200, "{consent_page}");
        assert!(
            consent_page.contains(appid.as_str()),
            "the consent page lists it: {consent_page}"
        );
        let q: std::collections::HashMap<String, String> =
            consent.query_pairs().into_owned().collect();
        let mut form = vec![
            ("pre_auth_code".to_owned(), q["pre_auth_code"].clone()),
            ("redirect_uri".to_owned(), q["redirect_uri"].clone()),
            ("appid".to_owned(), appid.to_string()),
        ];
        form.extend(
            func_info
                .iter()
                .map(|f| ("func_info".to_owned(), f.to_string())),
        );
        let resp = self
            .http
            .post(format!(
                "{}/_sim/consent/approve",
                self.local.sim.base_url()
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    /// An operator call with an optional JSON body; answers the status and the JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.ops(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path} answered {status} with no JSON ({e}): {text}"));
        (status, v)
    }

    /// Commits [`commit_body`] of `version` and submits [`submit_body`]; answers the auditid.
    pub async fn commit_and_submit(&self, appid: &AppId, version: &str) -> u64 {
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                &format!("/ops/apps/{appid}/commit"),
                Some(commit_body(version)),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                &format!("/ops/apps/{appid}/audits"),
                Some(submit_body()),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["status"], "submitted");
        v["auditid"].as_u64().unwrap()
    }

    /// POST /ops/batches with `key` as its Idempotency-Key; answers the status and JSON body.
    pub async fn post_batch(&self, key: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .ops(reqwest::Method::POST, "/ops/batches")
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// The batch once it is done (polled every 200 ms, at most two minutes).
    pub async fn wait_done(&self, batch_id: &str) -> Value {
        for _ in 0..600 {
            let (s, v) = self.get_json(&format!("/ops/batches/{batch_id}")).await;
            assert_eq!(s, 200, "{v}");
            if v["status"] == "done" {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("batch {batch_id} did not finish");
    }

    /// A new mini program, authorized (sets 17 and 18) by `customer` through the pages.
    pub async fn authorized_app(&self, name: &str) -> AppId {
        let appid = self.mini_program(name);
        let (status, page) = self.onboard("customer-1", &appid).await;
        assert_eq!(status, 200, "{page}");
        appid
    }

    /// The whole story for one merchant: invitation for `customer`, consent, callback page.
    pub async fn onboard(&self, customer: &str, appid: &AppId) -> (u16, String) {
        let inv = self
            .invite(serde_json::json!({ "customer_id": customer }))
            .await;
        let callback = self
            .consent(inv["url"].as_str().unwrap(), Link::Pc, appid, &[17, 18])
            .await;
        self.get(&callback).await
    }
}

/// The `href` of the element with `id` in one of our pages (maud writes `id` before `href`).
pub fn link_href(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\" href=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {page}"))
        + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].replace("&amp;", "&")
}

/// The `#error-code` of an error page.
pub fn error_code(page: &str) -> String {
    let marker = "id=\"error-code\">";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no error code in {page}"))
        + marker.len();
    let end = start + page[start..].find('<').unwrap();
    page[start..end].to_owned()
}

/// A log sink for a tracing subscriber: every line written, kept for searching.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Captures every log line `filter` (an `EnvFilter` directive, e.g. `debug,wechat_sim=off`)
    /// lets through, without colours, from here on: the process's global subscriber, so a test
    /// binary installs it once.
    pub fn install(filter: &str) -> Captured {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("the first global subscriber of this test binary");
        captured
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
