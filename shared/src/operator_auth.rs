//! The operators' bearer-key check shared by every `/ops/*` route (issue 10 item 1).
//!
//! The platform secret keeps only SHA-256 digests (lowercase hex) of the valid keys, so a leaked
//! secret does not leak a usable key, and several digests may be live during a rotation. The
//! presented key is hashed and compared with every configured digest in constant time
//! (`subtle`), without stopping at the first match, so timing reveals neither which digest
//! matched nor how many bytes did. No digest configured means every request is refused.

use lambda_http::http::{header::AUTHORIZATION, HeaderMap, StatusCode};
use lambda_http::{Body, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request was refused; the reason is for logs and the JSON message, never the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OperatorAuthError {
    #[error("no operator key is configured: every /ops request is refused")]
    NoKeysConfigured,
    #[error("missing Authorization: Bearer <key> header")]
    Missing,
    #[error("Authorization header is not of the form \"Bearer <key>\"")]
    Malformed,
    #[error("operator key is not valid")]
    WrongKey,
}

impl OperatorAuthError {
    /// 401 `{"error":"unauthorized","message":...}` with a `WWW-Authenticate: Bearer` challenge.
    pub fn into_response(self) -> Response<Body> {
        let mut resp =
            crate::http::error(StatusCode::UNAUTHORIZED, "unauthorized", &self.to_string());
        resp.headers_mut().insert(
            lambda_http::http::header::WWW_AUTHENTICATE,
            lambda_http::http::HeaderValue::from_static("Bearer"),
        );
        resp
    }
}

/// Who made a request: the label of the key that matched, `key-` and the first 8 hex digits of
/// its SHA-256 (naming the key in logs and history without revealing anything usable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub label: String,
}

/// Checks the request's `Authorization: Bearer <key>` against the configured SHA-256 digests.
pub fn check(
    headers: &HeaderMap,
    key_sha256_hex: &[String],
) -> Result<Operator, OperatorAuthError> {
    let digests: Vec<[u8; 32]> = key_sha256_hex
        .iter()
        .filter_map(|h| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h.trim(), &mut out).ok().map(|_| out)
        })
        .collect();
    if digests.is_empty() {
        return Err(OperatorAuthError::NoKeysConfigured);
    }
    let value = headers
        .get(AUTHORIZATION)
        .ok_or(OperatorAuthError::Missing)?
        .to_str()
        .map_err(|_| OperatorAuthError::Malformed)?;
    let (scheme, key) = value.split_once(' ').ok_or(OperatorAuthError::Malformed)?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(OperatorAuthError::Malformed);
    }
    let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut matched = subtle::Choice::from(0u8);
    for d in &digests {
        matched |= d.ct_eq(&presented);
    }
    if bool::from(matched) {
        Ok(Operator {
            label: format!("key-{}", hex::encode(&presented[..4])),
        })
    } else {
        Err(OperatorAuthError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn digest(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn accepts_any_configured_key_during_a_rotation() {
        let keys = vec![digest("old-key"), digest("new-key")];
        assert_eq!(
            check(&headers(Some("Bearer old-key")), &keys).map(|o| o.label),
            Ok(format!("key-{}", &digest("old-key")[..8]))
        );
        assert!(check(&headers(Some("bearer new-key")), &keys).is_ok());
    }

    #[test]
    fn refuses_missing_malformed_and_wrong_keys() {
        let keys = vec![digest("right")];
        assert_eq!(
            check(&headers(None), &keys),
            Err(OperatorAuthError::Missing)
        );
        assert_eq!(
            check(&headers(Some("Basic right")), &keys),
            Err(OperatorAuthError::Malformed)
        );
        assert_eq!(
            check(&headers(Some("Bearer")), &keys),
            Err(OperatorAuthError::Malformed)
        );
        assert_eq!(
            check(&headers(Some("Bearer wrong")), &keys),
            Err(OperatorAuthError::WrongKey)
        );
        // The digest itself is not a key.
        assert_eq!(
            check(&headers(Some(&format!("Bearer {}", keys[0]))), &keys),
            Err(OperatorAuthError::WrongKey)
        );
    }

    #[test]
    fn no_keys_configured_refuses_everything() {
        assert_eq!(
            check(&headers(Some("Bearer anything")), &[]),
            Err(OperatorAuthError::NoKeysConfigured)
        );
        assert_eq!(
            check(&headers(Some("Bearer x")), &["not hex".to_string()]),
            Err(OperatorAuthError::NoKeysConfigured)
        );
    }

    #[test]
    fn refusal_is_401_json_unauthorized_without_the_key() {
        let resp = check(&headers(Some("Bearer s3cr3t-key")), &[digest("other")])
            .unwrap_err()
            .into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let body = match resp.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8(b.clone()).unwrap(),
            Body::Empty => String::new(),
            _ => String::new(),
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "unauthorized");
        assert!(!body.contains("s3cr3t-key"));
    }
}
