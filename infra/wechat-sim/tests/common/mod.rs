//! Shared helpers: a push receiver (a tiny axum server that answers `success`), HTTP helpers and
//! ready-made states (a component token, an authorized mini program).
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::Router;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use wechat_sim::{AccountSpec, SimConfig, Simulator};
use wxopen::crypto::MsgCrypt;
use wxopen::domain::{AppId, ManualClock};
use wxopen::events::{open_push, AuthorizerEvent, ComponentEvent, Envelope, PushQuery};

/// Sim-clock start for tests: 2024-01-01T00:00:00Z.
pub const T0: i64 = 1_704_067_200;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: String,
}

#[derive(Clone, Default)]
struct RecvState {
    got: Arc<Mutex<Vec<Received>>>,
    fail_next: Arc<AtomicU32>,
}

/// Receives pushes on `/component` (授权事件接收URL) and `/apps/{appid}` (消息与事件接收URL).
pub struct Receiver {
    pub base: String,
    state: RecvState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(st): State<RecvState>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> (axum::http::StatusCode, &'static str) {
    if st
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try again");
    }
    st.got.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        query,
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    (axum::http::StatusCode::OK, "success")
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = RecvState::default();
        let app = Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { base, state, task }
    }

    /// Answer the next `n` pushes with HTTP 500.
    pub fn fail_next(&self, n: u32) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    pub fn on_path(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

/// Decrypts a received push (verifying msg_signature) into its plaintext XML.
pub fn open(crypt: &MsgCrypt, r: &Received) -> String {
    let q = PushQuery {
        msg_signature: r.query["msg_signature"].clone(),
        timestamp: r.query["timestamp"].clone(),
        nonce: r.query["nonce"].clone(),
    };
    open_push(crypt, r.body.as_bytes(), &q).expect("push decrypts")
}

pub struct Env {
    pub sim: Simulator,
    pub recv: Receiver,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub crypt: MsgCrypt,
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut SimConfig)) -> Env {
        let recv = Receiver::start().await;
        let clock = ManualClock::new(T0);
        let mut config = SimConfig {
            auth_event_url: Some(format!("{}/component", recv.base)),
            message_url: Some(format!("{}/apps/$APPID$", recv.base)),
            clock: Arc::new(clock.clone()),
            ..SimConfig::default()
        };
        tweak(&mut config);
        let sim = Simulator::start(config).await.unwrap();
        let c = sim.config();
        let crypt = MsgCrypt::new(&c.token, &c.encoding_aes_key, &c.component_appid).unwrap();
        let http = wxopen::https::reqwest_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Env {
            sim,
            recv,
            clock,
            http,
            crypt,
        }
    }

    pub fn appid(&self) -> String {
        self.sim.config().component_appid.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// POSTs a JSON body; `token` goes into `access_token=` (if any).
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        self.post_raw(path, token, body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: String) -> Value {
        let mut req = self.http.post(self.url(path)).body(body);
        if let Some(t) = token {
            req = req.query(&[("access_token", t)]);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Value {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.query(&[("access_token", t)]);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    /// The component events received so far, decrypted and parsed.
    pub fn component_events(&self) -> Vec<ComponentEvent> {
        self.recv
            .on_path("/component")
            .iter()
            .map(|r| ComponentEvent::parse(&open(&self.crypt, r)).unwrap())
            .collect()
    }

    /// The message-URL events received for `appid`, decrypted and parsed.
    pub fn app_events(&self, appid: &AppId) -> Vec<AuthorizerEvent> {
        self.recv
            .on_path(&format!("/apps/{appid}"))
            .iter()
            .map(|r| {
                let env = Envelope::parse(r.body.as_bytes()).unwrap();
                assert!(env.to_user_name.unwrap().starts_with("gh_"));
                AuthorizerEvent::parse(&open(&self.crypt, r)).unwrap()
            })
            .collect()
    }

    /// Pushes a ticket and exchanges it for a component token.
    pub async fn component_token(&self) -> String {
        let ticket = self.sim.push_ticket().await.unwrap();
        let v = self
            .post(
                "/cgi-bin/component/api_component_token",
                None,
                json!({
                    "component_appid": self.appid(),
                    "component_appsecret": self.sim.config().component_appsecret,
                    "component_verify_ticket": ticket,
                }),
            )
            .await;
        assert_eq!(v["errcode"], 0, "{v}");
        v["component_access_token"].as_str().unwrap().to_owned()
    }

    /// A mini program authorized with `func_info`, exchanged through api_query_auth:
    /// (appid, authorizer_access_token, authorizer_refresh_token).
    pub async fn authorized_app(&self, ctoken: &str, func_info: &[u32]) -> (AppId, String, String) {
        let appid = self.sim.add_account(AccountSpec::mini_program());
        let code = self.sim.authorize(&appid, func_info).await.unwrap();
        let v = self
            .post(
                "/cgi-bin/component/api_query_auth",
                Some(ctoken),
                json!({"component_appid": self.appid(), "authorization_code": code}),
            )
            .await;
        assert_eq!(v["errcode"], 0, "{v}");
        let info = &v["authorization_info"];
        (
            appid,
            info["authorizer_access_token"].as_str().unwrap().to_owned(),
            info["authorizer_refresh_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }
}

pub fn ticket_of(ev: &ComponentEvent) -> Option<String> {
    match ev {
        ComponentEvent::VerifyTicket { ticket, .. } => Some(ticket.expose_secret().to_owned()),
        _ => None,
    }
}

pub fn errcode(v: &Value) -> i64 {
    v["errcode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no errcode in {v}"))
}
