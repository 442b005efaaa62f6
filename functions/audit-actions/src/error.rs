//! The one mapping from every failure of an operator request to its JSON answer:
//! `{"error": code, "message": ..., "hint"?: ...}` with the status that says whose fault it is.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use wxopen::operator_auth::OperatorAuthError;
use wxopen::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Unauthorized(#[from] OperatorAuthError),
    /// The request is wrong: `field` names what to fix.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The request conflicts with the state (e.g. revoking a used invitation).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("the platform secret could not be read")]
    Secrets,
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, *code),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, *code),
            ApiError::Store(StoreError::InvalidCursor) => {
                (StatusCode::BAD_REQUEST, "invalid_cursor")
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, "store failed on an operator request");
                (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
            }
            ApiError::Secrets => {
                tracing::error!("platform secret unavailable on an operator request");
                (StatusCode::SERVICE_UNAVAILABLE, "secrets_unavailable")
            }
        };
        let body = Json(serde_json::json!({ "error": code, "message": self.to_string() }));
        let mut resp = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
