//! What the HTTP functions share about the request itself: the base URL a caller reached us at.

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
}
