//! The HTTP front, as API Gateway's HTTP API serves the template's routes: each request that
//! matches a route becomes that route's payload format 2.0 event for its function, and the
//! function's answer (the 2.0 response, as lambda_http writes it) becomes the HTTP response.
//! A request no route matches is answered `404 {"message":"Not Found"}` by the front itself,
//! as API Gateway does, without invoking anything; a function error is `500 {"message":
//! "Internal Server Error"}`, no answer within the integration's timeout `503`.

use crate::runtime_api::{request_id, Outcome, RuntimeApi};
use crate::template::Route;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// API Gateway's most a synchronous integration may take (HTTP API: 30 s).
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// API Gateway's largest request payload (10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A route and the function behind it.
#[derive(Clone)]
pub struct Target {
    pub route: Route,
    pub function: String,
    pub api: RuntimeApi,
    pub timeout: Duration,
}

/// The routes the front serves, most specific first.
pub struct Front {
    targets: Vec<Target>,
}

impl Front {
    pub fn new(mut targets: Vec<Target>) -> Front {
        targets.sort_by_key(|t| std::cmp::Reverse(t.route.specificity()));
        Front { targets }
    }

    fn find(&self, method: &str, path: &str) -> Option<(&Target, BTreeMap<String, String>)> {
        self.targets
            .iter()
            .find_map(|t| t.route.matches(method, path).map(|p| (t, p)))
    }

    pub fn router(self) -> axum::Router {
        let front = Arc::new(self);
        axum::Router::new().fallback(
            move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
                  req: Request<Body>| {
                let front = front.clone();
                async move { front.serve(peer, req).await }
            },
        )
    }

    async fn serve(&self, peer: SocketAddr, req: Request<Body>) -> Response {
        let id = request_id();
        let (parts, body) = req.into_parts();
        let method = parts.method.as_str().to_owned();
        let path = parts.uri.path().to_owned();
        let Some((target, params)) = self.find(&method, &path) else {
            return gateway_error(StatusCode::NOT_FOUND, "Not Found", &id);
        };
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
            return gateway_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
                &id,
            );
        };
        let event = event(&target.route, &parts, &params, &body, peer, &id);
        let timeout = target.timeout.min(INTEGRATION_TIMEOUT);
        let outcome = target
            .api
            .invoke(Bytes::from(event.to_string()), timeout)
            .await;
        match outcome {
            Outcome::Response(answer) => into_http(&answer, &id),
            Outcome::TimedOut => {
                gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", &id)
            }
            Outcome::Error(_) | Outcome::InitFailed(_) => gateway_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                &id,
            ),
        }
    }
}

/// API Gateway's own answers: a JSON message and its request id header.
fn gateway_error(status: StatusCode, message: &str, id: &str) -> Response {
    let mut r = (
        status,
        [("content-type", "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert("apigw-requestid", v);
    }
    r
}

/// Whether API Gateway passes a body of this content type as text (else base64,
/// `isBase64Encoded: true`): text types, JSON, XML and JavaScript; anything else, a form post
/// or a request without a content type included, is base64-encoded.
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

/// The payload format 2.0 event for `route`.
pub fn event(
    route: &Route,
    parts: &axum::http::request::Parts,
    params: &BTreeMap<String, String>,
    body: &[u8],
    peer: SocketAddr,
    request_id: &str,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        // Repeated headers are joined with commas; names arrive lower-cased.
        match headers.get_mut(name.as_str()) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    headers.insert("x-forwarded-for".into(), json!(peer.ip().to_string()));
    headers.insert("x-forwarded-port".into(), json!(peer_port(&host)));
    headers.insert("x-forwarded-proto".into(), json!("http"));
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|prev| {
                prev.push(',');
                prev.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let mut e = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": crate::ACCOUNT_ID,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(&host),
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route.key(),
            "stage": "$default",
            "time": clf_time(now.as_secs()),
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        e["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        e["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        e["pathParameters"] = json!(params);
    }
    if !body.is_empty() {
        if is_text(content_type) {
            e["body"] = json!(String::from_utf8_lossy(body));
        } else {
            e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
            e["isBase64Encoded"] = json!(true);
        }
    }
    e
}

fn peer_port(host: &str) -> String {
    host.rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_else(|| "80".into())
}

/// `02/Dec/2026:17:51:03 +0000`, the form of `requestContext.time`.
pub fn clf_time(epoch_secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day, h, m, s) = civil(epoch_secs);
    format!(
        "{day:02}/{}/{year}:{h:02}:{m:02}:{s:02} +0000",
        MONTHS[(month - 1) as usize]
    )
}

/// `2026-12-02T17:51:03Z`, the form of an EventBridge event's `time`.
pub fn iso_time(epoch_secs: u64) -> String {
    let (year, month, day, h, m, s) = civil(epoch_secs);
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Year, month, day, hour, minute, second of a Unix time, in UTC.
fn civil(epoch_secs: u64) -> (i64, i64, i64, u64, u64, u64) {
    let (year, month, day) = wxopen::domain::civil_from_days((epoch_secs / 86_400) as i64);
    let secs = epoch_secs % 86_400;
    (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
}

/// The function's 2.0 answer as HTTP: `statusCode`, `headers` (values as they come; repeated
/// ones already joined), `multiValueHeaders`, `cookies` (each a `Set-Cookie`), `body` decoded
/// when `isBase64Encoded`. An answer without `statusCode` is API Gateway's inferred form: 200
/// with the answer as a JSON body.
pub fn into_http(answer: &[u8], id: &str) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(answer) else {
        return gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            id,
        );
    };
    let Some(status) = v.get("statusCode").and_then(Value::as_u64) else {
        let mut r = (
            StatusCode::OK,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response();
        if let Ok(h) = HeaderValue::from_str(id) {
            r.headers_mut().insert("apigw-requestid", h);
        }
        return r;
    };
    let Ok(status) = StatusCode::from_u16(status as u16) else {
        return gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            id,
        );
    };
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    };
    for (name, value) in v["headers"].as_object().into_iter().flatten() {
        match value {
            Value::String(s) => add(name, s),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .for_each(|s| add(name, s)),
            other => add(name, &other.to_string()),
        }
    }
    for (name, values) in v["multiValueHeaders"].as_object().into_iter().flatten() {
        if v["headers"].get(name).is_some() {
            continue;
        }
        for s in values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            add(name, s);
        }
    }
    for c in v["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        add("set-cookie", c);
    }
    let body = match v["body"].as_str() {
        None => Vec::new(),
        Some(b) if v["isBase64Encoded"].as_bool() == Some(true) => {
            match base64::engine::general_purpose::STANDARD.decode(b) {
                Ok(bytes) => bytes,
                Err(_) => {
                    return gateway_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal Server Error",
                        id,
                    )
                }
            }
        }
        Some(b) => b.as_bytes().to_vec(),
    };
    let mut r = (status, Body::from(body)).into_response();
    *r.headers_mut() = headers;
    if let Ok(h) = HeaderValue::from_str(id) {
        r.headers_mut().insert("apigw-requestid", h);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_time_is_in_api_gateways_form() {
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(1_796_233_989), "02/Dec/2026:17:53:09 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(iso_time(1_796_233_989), "2026-12-02T17:53:09Z");
    }

    #[test]
    fn text_bodies_stay_text_and_others_are_base64() {
        assert!(is_text(Some("text/xml; charset=utf-8")));
        assert!(is_text(Some("application/json")));
        assert!(is_text(Some("application/problem+json")));
        assert!(!is_text(Some("application/octet-stream")));
        assert!(!is_text(Some("application/x-www-form-urlencoded")));
        assert!(!is_text(None));
    }

    #[test]
    fn events_carry_what_api_gateway_sends() {
        let req = Request::builder()
            .method("POST")
            .uri("/wechat/apps/wx1?nonce=1&a=x&a=y")
            .header("Host", "127.0.0.1:9")
            .header("Cookie", "s=1; t=2")
            .header("X-Two", "a")
            .header("X-Two", "b")
            .header("content-type", "application/octet-stream")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        let route = Route {
            method: "POST".into(),
            path: "/wechat/apps/{appid}".into(),
        };
        let params = route.matches("POST", "/wechat/apps/wx1").unwrap();
        let e = event(
            &route,
            &parts,
            &params,
            b"\x00\x01",
            "127.0.0.1:5".parse().unwrap(),
            "r1",
        );
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "POST /wechat/apps/{appid}");
        assert_eq!(e["rawQueryString"], "nonce=1&a=x&a=y");
        assert_eq!(e["queryStringParameters"]["a"], "x,y");
        assert_eq!(e["pathParameters"]["appid"], "wx1");
        assert_eq!(e["cookies"], json!(["s=1", "t=2"]));
        assert_eq!(e["headers"]["x-two"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "AAE=");
        assert_eq!(e["requestContext"]["stage"], "$default");
        assert_eq!(e["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    }

    #[test]
    fn answers_become_http_with_cookies_and_decoded_bodies() {
        let r = into_http(
            br#"{"statusCode":201,"headers":{"content-type":"text/plain","x-a":"1, 2"},"multiValueHeaders":{},"cookies":["a=1","b=2"],"body":"aGk=","isBase64Encoded":true}"#,
            "r",
        );
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        assert_eq!(r.headers()["x-a"], "1, 2");
        assert!(r.headers().contains_key("apigw-requestid"));
        let inferred = into_http(br#"{"ok":true}"#, "r");
        assert_eq!(inferred.status(), 200);
    }
}
