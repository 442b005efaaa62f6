//! The low-level WeChat HTTP client: one place that builds URLs, attaches the token, parses
//! `errcode`/`errmsg`, retries transient failures with jittered backoff and strips URLs (and so
//! tokens) from every error.

use super::endpoint::{Decode, Endpoint, FilePart, Token, Verb};
use super::error::{WechatError, WechatResult};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The production API host.
pub const DEFAULT_BASE_URL: &str = "https://api.weixin.qq.com";

/// Client settings. `Default` is production: the real host, connect 2 s, 3.5 s per attempt, 3
/// attempts: a call takes at most [`ClientConfig::call_budget`] (11.5 s), so a call and the read
/// that recovers its lost answer fit inside an authorization claim's deadline, and that inside
/// the functions' timeout (a test reads template.yaml and holds them together).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme, host and optional path prefix, e.g. `https://api.weixin.qq.com` or a simulator.
    pub base_url: String,
    pub connect_timeout: Duration,
    /// Total time for one attempt (connect, send, read the body).
    pub timeout: Duration,
    /// Attempts for a retryable failure, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff before retry n is `base * 2^(n-1)` plus a random jitter in `[0, base)`.
    pub retry_base_delay: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_millis(3_500),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(200),
        }
    }
}

impl ClientConfig {
    /// The longest one call can take: every attempt to its timeout, and the longest backoff
    /// before each retry.
    pub fn call_budget(&self) -> Duration {
        let attempts = self.max_attempts.max(1);
        (1..attempts).fold(self.timeout * attempts, |total, n| {
            total + longest_backoff(self.retry_base_delay, n)
        })
    }

    /// Production settings against another base URL (a simulator, a test stub).
    pub fn with_base_url(base_url: impl Into<String>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            ..ClientConfig::default()
        }
    }
}

/// How a call authenticates. WeChat's pages name the query parameter differently: the component
/// endpoints use `component_access_token=`, the `/wxa/*` ones `access_token=` (for the template
/// library that is the component token too).
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    AccessToken(&'a SecretString),
    ComponentAccessToken(&'a SecretString),
}

/// A binary answer (e.g. the QR code image) with its Content-Type.
#[derive(Clone, PartialEq, Eq)]
pub struct Binary {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binary")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The `errcode`/`errmsg` pair every response may carry.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

/// A response that carries nothing but `errcode`/`errmsg`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Empty {}

/// The empty JSON object `{}` that `/wxa/release` and `/wxa/getvisitstatus` insist on.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct EmptyBody {}

#[derive(Clone)]
enum Method<'b> {
    Get,
    /// A body and its Content-Type.
    Post(&'b [u8], &'b str),
    /// A multipart/form-data body: text fields, then the file (reqwest's `multipart`, one form
    /// built per attempt, with its Content-Length).
    Multipart(&'b [(&'static str, String)], FilePart<'b>),
}

/// The WeChat API client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    base: url::Url,
    cfg: ClientConfig,
}

impl std::fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatClient")
            .field("base_url", &self.base.as_str())
            .finish()
    }
}

impl WechatClient {
    pub fn new(cfg: ClientConfig) -> WechatResult<Self> {
        let mut base = url::Url::parse(&cfg.base_url).map_err(|e| WechatError::InvalidRequest {
            endpoint: "(base url)",
            detail: e.to_string(),
        })?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let http = crate::https::reqwest_builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| WechatError::transport("(client)", e))?;
        Ok(WechatClient { http, base, cfg })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Sends one declared endpoint ([`Endpoint`]) with `token` (ignored by endpoints that carry
    /// none) and decodes its answer; `errcode` is checked first. Retries follow the endpoint's
    /// `SAFE_TO_REPEAT` (see [`WechatClient::send`]).
    pub async fn call<E: Endpoint>(
        &self,
        token: Option<&SecretString>,
        req: &E,
    ) -> WechatResult<E::Response> {
        let auth = match (E::TOKEN, token) {
            (Token::None, _) => Auth::None,
            (Token::Component, Some(t)) => Auth::ComponentAccessToken(t),
            (Token::ComponentAsAccessToken | Token::Authorizer, Some(t)) => Auth::AccessToken(t),
            (_, None) => {
                return Err(WechatError::InvalidRequest {
                    endpoint: E::PATH,
                    detail: "this endpoint needs an access token".into(),
                })
            }
        };
        let query = req.query();
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body;
        let fields;
        let method = match E::VERB {
            Verb::Get => Method::Get,
            Verb::Post => {
                body = serde_json::to_vec(req).map_err(|e| WechatError::InvalidRequest {
                    endpoint: E::PATH,
                    detail: format!("request body does not serialize: {e}"),
                })?;
                Method::Post(&body, "application/json")
            }
            Verb::Multipart => {
                let file = req.file().ok_or_else(|| WechatError::InvalidRequest {
                    endpoint: E::PATH,
                    detail: "a multipart endpoint without a file".into(),
                })?;
                fields = req.form_fields();
                Method::Multipart(&fields, file)
            }
        };
        let (content_type, bytes) = self
            .send(E::PATH, auth, &query, method, E::SAFE_TO_REPEAT)
            .await?;
        E::Response::decode(E::PATH, &content_type, bytes)
    }

    fn url(
        &self,
        endpoint: &'static str,
        auth: Auth<'_>,
        query: &[(&str, &str)],
    ) -> WechatResult<url::Url> {
        let mut url = self
            .base
            .join(endpoint.trim_start_matches('/'))
            .map_err(|e| WechatError::InvalidRequest {
                endpoint,
                detail: e.to_string(),
            })?;
        {
            let mut q = url.query_pairs_mut();
            match auth {
                Auth::None => {}
                Auth::AccessToken(t) => {
                    q.append_pair("access_token", t.expose_secret());
                }
                Auth::ComponentAccessToken(t) => {
                    q.append_pair("component_access_token", t.expose_secret());
                }
            }
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// Sends with retries; returns the Content-Type and body of a 2xx answer. A retryable errcode
    /// (-1) in a JSON body is retried too. A call that is not safe to repeat
    /// (`safe` false: [`Endpoint::SAFE_TO_REPEAT`]) is retried only when the request provably never reached WeChat (the
    /// connection was never made); after any other failure its outcome is unknown
    /// ([`WechatError::outcome_unknown`]) and the caller reconciles from what WeChat reports.
    async fn send(
        &self,
        endpoint: &'static str,
        auth: Auth<'_>,
        query: &[(&str, &str)],
        method: Method<'_>,
        safe: bool,
    ) -> WechatResult<(String, Vec<u8>)> {
        let url = self.url(endpoint, auth, query)?;
        let attempts = self.cfg.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = self.send_once(endpoint, &url, method.clone()).await;
            match result {
                Err(e)
                    if attempt < attempts
                        && if safe {
                            e.is_retryable()
                        } else {
                            e.never_sent()
                        } =>
                {
                    let delay = backoff(self.cfg.retry_base_delay, attempt);
                    tracing::warn!(endpoint, attempt, error = %e, delay_ms = delay.as_millis() as u64, "retrying WeChat call");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        endpoint: &'static str,
        url: &url::Url,
        method: Method<'_>,
    ) -> WechatResult<(String, Vec<u8>)> {
        tracing::debug!(endpoint, "calling WeChat");
        let req = match method {
            Method::Get => self.http.get(url.clone()),
            Method::Post(body, content_type) => self
                .http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_vec()),
            Method::Multipart(fields, file) => self
                .http
                .post(url.clone())
                .multipart(multipart_form(endpoint, fields, &file)?),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| WechatError::transport(endpoint, e))?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| WechatError::transport(endpoint, e))?
            .to_vec();
        if !status.is_success() {
            return Err(WechatError::Http {
                endpoint,
                status: status.as_u16(),
            });
        }
        // A transient errcode in a JSON body is retried like a 5xx.
        if is_json_like(&content_type, &bytes) {
            if let Ok(env) = serde_json::from_slice::<Envelope>(&bytes) {
                if env.errcode == Some(super::error::SYSTEM_ERROR) {
                    check_errcode(endpoint, &env)?;
                }
            }
        }
        Ok((content_type, bytes))
    }
}

/// The form of a multipart call: text fields, then the file part.
fn multipart_form(
    endpoint: &'static str,
    fields: &[(&'static str, String)],
    file: &FilePart<'_>,
) -> WechatResult<reqwest::multipart::Form> {
    let form = fields
        .iter()
        .fold(reqwest::multipart::Form::new(), |form, (name, value)| {
            form.text(*name, value.clone())
        });
    let part = reqwest::multipart::Part::bytes(file.bytes.to_vec())
        .file_name(file.filename.to_owned())
        .mime_str(file.content_type)
        .map_err(|e| WechatError::InvalidRequest {
            endpoint,
            detail: format!("content type {:?}: {e}", file.content_type),
        })?;
    Ok(form.part(file.field, part))
}

fn is_json_like(content_type: &str, bytes: &[u8]) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("application/json")
        || ct.starts_with("text/plain")
        || bytes.first().is_some_and(|b| *b == b'{')
}

fn check_errcode(endpoint: &'static str, env: &Envelope) -> WechatResult<()> {
    match env.errcode {
        None | Some(0) => Ok(()),
        Some(code) => Err(WechatError::Api {
            code,
            errmsg: env.errmsg.clone().unwrap_or_default(),
            endpoint,
        }),
    }
}

/// Parses `errcode`/`errmsg` first (0 or absent = success), then the typed response.
pub(crate) fn parse_json<R: DeserializeOwned>(
    endpoint: &'static str,
    bytes: &[u8],
) -> WechatResult<R> {
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|e| WechatError::decode(endpoint, &e))?;
    check_errcode(endpoint, &env)?;
    serde_json::from_slice(bytes).map_err(|e| WechatError::decode(endpoint, &e))
}

/// `base * 2^(attempt-1)` plus jitter in `[0, base)`, capped at 5 s.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let base_ms = base.as_millis().min(5_000) as u64;
    let exp = base_ms.saturating_mul(1u64 << (attempt - 1).min(6));
    let jitter = if base_ms > 0 {
        rand::random_range(0..base_ms)
    } else {
        0
    };
    Duration::from_millis(exp.saturating_add(jitter).min(5_000))
}

/// The largest [`backoff`] before retry `attempt` can be (its jitter at the top).
fn longest_backoff(base: Duration, attempt: u32) -> Duration {
    let base_ms = base.as_millis().min(5_000) as u64;
    let exp = base_ms.saturating_mul(1u64 << (attempt - 1).min(6));
    Duration::from_millis(exp.saturating_add(base_ms.saturating_sub(1)).min(5_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_budget_covers_every_attempt_and_the_longest_backoffs() {
        let cfg = ClientConfig::default();
        assert_eq!(
            cfg.call_budget(),
            Duration::from_millis(3 * 3_500 + 399 + 599)
        );
        for n in 1..3 {
            for _ in 0..50 {
                assert!(
                    backoff(cfg.retry_base_delay, n) <= longest_backoff(cfg.retry_base_delay, n)
                );
            }
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Duration::from_millis(100);
        let d1 = backoff(b, 1);
        assert!(d1 >= Duration::from_millis(100) && d1 < Duration::from_millis(200));
        let d3 = backoff(b, 3);
        assert!(d3 >= Duration::from_millis(400) && d3 < Duration::from_millis(500));
        assert!(backoff(Duration::from_secs(10), 9) <= Duration::from_secs(5));
        assert_eq!(backoff(Duration::ZERO, 2), Duration::ZERO);
    }

    #[test]
    fn errcode_zero_or_absent_is_success() {
        let r: Empty = parse_json("/x", br#"{"errcode":0,"errmsg":"ok"}"#).unwrap();
        let _ = r;
        let _: Empty = parse_json("/x", br#"{"a":1}"#).unwrap();
        let e = parse_json::<Empty>("/x", br#"{"errcode":85009,"errmsg":"already"}"#).unwrap_err();
        assert_eq!(e.errcode(), Some(85009));
    }

    #[test]
    fn the_token_goes_into_the_query_under_the_documented_name() {
        let c =
            WechatClient::new(ClientConfig::with_base_url("http://127.0.0.1:1/prefix")).unwrap();
        let t = SecretString::from("TOK");
        let u = c
            .url(
                "/wxa/get_qrcode",
                Auth::AccessToken(&t),
                &[("path", "page/index?action=1")],
            )
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/prefix/wxa/get_qrcode?access_token=TOK&path=page%2Findex%3Faction%3D1"
        );
        let u = c
            .url(
                "/cgi-bin/component/api_query_auth",
                Auth::ComponentAccessToken(&t),
                &[],
            )
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/prefix/cgi-bin/component/api_query_auth?component_access_token=TOK"
        );
        let u = c
            .url("/cgi-bin/component/api_component_token", Auth::None, &[])
            .unwrap();
        assert_eq!(u.query(), None);
    }
}
