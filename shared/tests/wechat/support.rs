//! Test support: a tiny WeChat stub server (axum on 127.0.0.1:0) serving the documented examples
//! from `tests/fixtures/wechat/*.json`. The token tests run on the embedded store itself.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wxopen::domain::AppId;
use wxopen::wechat::{ClientConfig, WechatClient};

pub const COMPONENT_APPID: &str = "wx134c8103faa5a59e";
pub const APP: &str = "wxf8b4f85f3a794e77";

pub fn fixture(name: &str) -> String {
    let p = format!(
        "{}/../tests/fixtures/wechat/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {p}: {e}"))
}

/// One canned answer.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Canned {
    pub fn json(body: impl Into<String>) -> Self {
        Canned {
            status: 200,
            content_type: "application/json; encoding=utf-8".into(),
            body: body.into().into_bytes(),
            delay: Duration::ZERO,
        }
    }
    pub fn fixture(name: &str) -> Self {
        Canned::json(fixture(name))
    }
    pub fn status(status: u16) -> Self {
        Canned {
            status,
            content_type: "text/html".into(),
            body: b"<html>bad gateway</html>".to_vec(),
            delay: Duration::ZERO,
        }
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A request the stub saw.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub raw_body: Vec<u8>,
}

impl Call {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.raw_body).expect("JSON body")
    }
}

#[derive(Default)]
pub struct StubState {
    calls: Vec<Call>,
    /// Per path: answers used once each, in order, before the default behaviour.
    queued: HashMap<String, VecDeque<Canned>>,
    /// Tokens that get 40001.
    revoked: HashSet<String>,
    issued: u64,
    /// Delay of the token endpoints (widens race windows).
    token_delay: Duration,
    /// api_authorizer_token hands out a new refresh token each time.
    rotate_refresh: bool,
}

#[derive(Clone)]
pub struct Stub {
    pub base_url: String,
    state: Arc<Mutex<StubState>>,
}

impl Stub {
    pub async fn start() -> Stub {
        Stub::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// A stub on a listener the test bound (e.g. late, on a port that refused connections before).
    pub fn start_on(listener: tokio::net::TcpListener) -> Stub {
        let state = Arc::new(Mutex::new(StubState::default()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Stub {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    /// A client on this stub with fast retries.
    pub fn client(&self) -> WechatClient {
        WechatClient::new(fast_config(&self.base_url)).unwrap()
    }

    pub fn queue(&self, path: &str, c: Canned) {
        self.state
            .lock()
            .unwrap()
            .queued
            .entry(path.to_owned())
            .or_default()
            .push_back(c);
    }
    pub fn revoke(&self, token: &str) {
        self.state.lock().unwrap().revoked.insert(token.to_owned());
    }
    pub fn set_token_delay(&self, d: Duration) {
        self.state.lock().unwrap().token_delay = d;
    }
    pub fn set_rotate_refresh(&self, on: bool) {
        self.state.lock().unwrap().rotate_refresh = on;
    }
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }
    pub fn count(&self, path: &str) -> usize {
        self.calls_to(path).len()
    }
    pub fn last(&self, path: &str) -> Call {
        self.calls_to(path)
            .pop()
            .unwrap_or_else(|| panic!("no call to {path}"))
    }
}

pub fn fast_config(base_url: &str) -> ClientConfig {
    ClientConfig {
        base_url: base_url.to_owned(),
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        max_attempts: 3,
        retry_base_delay: Duration::from_millis(5),
    }
}

fn respond(c: Canned) -> Response {
    (
        StatusCode::from_u16(c.status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, c.content_type)],
        c.body,
    )
        .into_response()
}

fn errcode(code: i64, msg: &str) -> Canned {
    Canned::json(serde_json::json!({ "errcode": code, "errmsg": msg }).to_string())
}

async fn handle(
    State(st): State<Arc<Mutex<StubState>>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let call = Call {
        method: method.to_string(),
        path: path.clone(),
        query,
        raw_body: body.to_vec(),
    };
    let (canned, delay) = {
        let mut s = st.lock().unwrap();
        s.calls.push(call.clone());
        let queued = s.queued.get_mut(&path).and_then(|q| q.pop_front());
        match queued {
            Some(c) => {
                let d = c.delay;
                (c, d)
            }
            None => {
                let d = s.token_delay;
                let c = default_answer(&mut s, &call);
                let d = if path.ends_with("_token") { d } else { c.delay };
                (c, d)
            }
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    respond(canned)
}

fn default_answer(s: &mut StubState, call: &Call) -> Canned {
    let token = call
        .param("access_token")
        .or(call.param("component_access_token"));
    if let Some(t) = token {
        if s.revoked.contains(t) {
            return errcode(
                40001,
                "invalid credential, access_token is invalid or not latest",
            );
        }
    }
    let name = call.path.rsplit('/').next().unwrap_or("").to_owned();
    match name.as_str() {
        "api_component_token" => {
            s.issued += 1;
            Canned::json(
                serde_json::json!({"component_access_token": format!("ctok-{}", s.issued), "expires_in": 7200})
                    .to_string(),
            )
        }
        "api_authorizer_token" => {
            s.issued += 1;
            let body = call.json();
            let refresh = if s.rotate_refresh {
                format!("rtok-{}", s.issued)
            } else {
                body["authorizer_refresh_token"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            };
            Canned::json(
                serde_json::json!({"authorizer_access_token": format!("atok-{}", s.issued), "expires_in": 7200, "authorizer_refresh_token": refresh})
                    .to_string(),
            )
        }
        "get_qrcode" => Canned {
            status: 200,
            content_type: "image/jpeg".into(),
            body: vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3],
            delay: Duration::ZERO,
        },
        "revertcoderelease" if call.param("action") == Some("get_history_version") => {
            Canned::fixture("revertcoderelease_get_history_version")
        }
        other => {
            let p = format!(
                "{}/../tests/fixtures/wechat/{other}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            match std::fs::read_to_string(p) {
                Ok(b) => Canned::json(b),
                Err(_) => Canned::fixture("ok"),
            }
        }
    }
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

pub fn expose(s: &SecretString) -> &str {
    s.expose_secret()
}

pub fn appid(s: &str) -> AppId {
    AppId::parse(s).unwrap()
}
