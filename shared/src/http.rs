//! Response helpers shared by the `lambda_http` functions: every error is a JSON body.

use lambda_http::http::{header::CONTENT_TYPE, StatusCode};
use lambda_http::{Body, Response};

/// A JSON response with the given status.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// `{"error": code, "message": message}` with the given status.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}

/// The base URL the caller reached us at, for links we hand out (invitation links, the consent
/// `redirect_uri`): `configured` (`WXOPEN_PUBLIC_URL`) when set, else `https://{Host}`, or
/// `http://` for a loopback host (local runs). `None` without a usable `Host`.
pub fn public_base_url(
    configured: Option<&str>,
    headers: &lambda_http::http::HeaderMap,
) -> Option<String> {
    if let Some(c) = configured.filter(|c| !c.is_empty()) {
        return Some(c.trim_end_matches('/').to_owned());
    }
    let host = headers
        .get(lambda_http::http::header::HOST)?
        .to_str()
        .ok()?;
    // A Host header is a host and an optional port, nothing else.
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return None;
    }
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let loopback = name == "localhost" || name == "127.0.0.1" || name == "[::1]";
    Some(format!(
        "{}://{host}",
        if loopback { "http" } else { "https" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_configured_or_taken_from_a_plain_host() {
        use lambda_http::http::{header::HOST, HeaderMap, HeaderValue};
        let mut h = HeaderMap::new();
        assert_eq!(public_base_url(None, &h), None);
        h.insert(HOST, HeaderValue::from_static("wx.example.com"));
        assert_eq!(
            public_base_url(None, &h).as_deref(),
            Some("https://wx.example.com")
        );
        assert_eq!(
            public_base_url(Some("https://auth.example.com/"), &h).as_deref(),
            Some("https://auth.example.com")
        );
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:3000"));
        assert_eq!(
            public_base_url(None, &h).as_deref(),
            Some("http://127.0.0.1:3000")
        );
        h.insert(HOST, HeaderValue::from_static("evil.com/path?x=<"));
        assert_eq!(public_base_url(None, &h), None);
    }

    #[test]
    fn errors_are_json_with_code_and_message() {
        let r = error(StatusCode::BAD_REQUEST, "bad_appid", "appid is invalid");
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let v: serde_json::Value = match r.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(v["error"], "bad_appid");
        assert_eq!(v["message"], "appid is invalid");
    }
}
