//! One harness for the tests that drive the whole system: `wxopen-local` on free ports and a
//! fresh data directory (the very routers the Lambdas run, the embedded store, the simulator
//! wired both ways), and the steps a merchant and an operator take.

#![allow(dead_code)]

pub mod browser;

use reqwest::redirect::Policy;
use serde_json::Value;
use std::time::Duration;
use wechat_sim::AccountSpec;
use wxopen::domain::AppId;
use wxopen::store::{Authorizer, AuthorizerStore};
use wxopen_local::{dev_secrets, start, Local, LocalConfig};

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

pub struct App {
    pub local: Local,
    /// Never follows redirects: each hop is checked.
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> App {
    spawn_app_with_secrets(dev_secrets()).await
}

/// [`spawn_app`] with other platform secrets (e.g. more operator keys, with roles).
pub async fn spawn_app_with_secrets(secrets: wxopen::secrets::PlatformSecrets) -> App {
    let dir = tempfile::tempdir().unwrap();
    let local = start(LocalConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        sim_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        secrets,
        ticket_interval: Duration::from_secs(3600),
        seed_mini_programs: 0,
        refresh_interval: None,
    })
    .await
    .unwrap();
    App {
        local,
        http: wxopen::https::reqwest_builder()
            .redirect(Policy::none())
            .build()
            .unwrap(),
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
        let consent = url::Url::parse(&href).unwrap();
        let (status, consent_page) = self.get(href.as_str()).await;
        assert_eq!(status, 200, "{consent_page}");
        assert!(consent_page.contains(appid.as_str()), "{consent_page}");
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

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
