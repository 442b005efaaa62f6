//! Why a push is refused, and how the refusal is answered: a JSON body rendered from its
//! [`Failure`] (`{"error": code, "message": …}`), never the `success` WeChat waits for, so that
//! WeChat delivers a push refused for a passing reason again.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use wxopen::domain::ParseError;
use wxopen::events::PushError;
use wxopen::failure::{Classify, Failure, StatusCode};
use wxopen::push_apply::ApplyError;

/// A push that is not applied. The 4xx ones change nothing (a bad or forged request: WeChat
/// never sends one); the 5xx ones ask WeChat to push again.
#[derive(Debug, thiserror::Error)]
pub enum PushRefusal {
    #[error("pushes are POSTed")]
    MethodNotAllowed,
    #[error("no such push URL")]
    UnknownUrl,
    #[error("{0}")]
    InvalidAppid(ParseError),
    #[error("query parameter {0} is required")]
    MissingParameter(&'static str),
    #[error("third-party platforms push in safe mode only (encrypt_type=aes)")]
    UnsupportedEncryptType,
    #[error("timestamp must be Unix seconds")]
    InvalidTimestamp,
    /// Not authenticated: a replayed or forged push, like a bad signature.
    #[error("timestamp is outside the accepted window")]
    StaleTimestamp,
    #[error("platform secrets are unavailable; retry")]
    SecretsUnavailable,
    #[error("push body is over 64 KiB")]
    TooLarge,
    /// The body could not be read to its end (the connection broke).
    #[error("the push body could not be read")]
    UnreadableBody,
    #[error("{0}")]
    InvalidSignature(PushError),
    /// Not a push envelope, or not one that decrypts.
    #[error("{0}")]
    InvalidPush(PushError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl Classify for PushRefusal {
    fn classify(&self) -> Failure {
        use StatusCode as S;
        let (status, code) = match self {
            PushRefusal::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            PushRefusal::UnknownUrl => (S::NOT_FOUND, "not_found"),
            PushRefusal::InvalidAppid(_) => (S::BAD_REQUEST, "invalid_appid"),
            PushRefusal::MissingParameter(_) => (S::BAD_REQUEST, "missing_parameter"),
            PushRefusal::UnsupportedEncryptType => (S::BAD_REQUEST, "unsupported_encrypt_type"),
            PushRefusal::InvalidTimestamp => (S::BAD_REQUEST, "invalid_timestamp"),
            PushRefusal::StaleTimestamp => (S::UNAUTHORIZED, "stale_timestamp"),
            PushRefusal::SecretsUnavailable => (S::SERVICE_UNAVAILABLE, "secrets_unavailable"),
            PushRefusal::TooLarge => (S::BAD_REQUEST, "push_too_large"),
            PushRefusal::UnreadableBody => (S::BAD_REQUEST, "unreadable_body"),
            PushRefusal::InvalidSignature(_) => (S::UNAUTHORIZED, "invalid_signature"),
            PushRefusal::InvalidPush(_) => (S::BAD_REQUEST, "invalid_push"),
            PushRefusal::Apply(e) => return e.classify(),
        };
        Failure::new(status, code)
    }
}

impl IntoResponse for PushRefusal {
    fn into_response(self) -> Response {
        json_failure(self.classify(), &self.to_string())
    }
}

/// `{"error": code, "message": message}` beside the failure's facts and hint, with its status
/// and `Retry-After`.
fn json_failure(f: Failure, message: &str) -> Response {
    let (status, retry_after) = (f.status, f.retry_after);
    let mut resp = (status, Json(f.into_body(message))).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}
