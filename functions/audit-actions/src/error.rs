//! The one mapping from every failure of an operator request to its JSON answer:
//! `{"error": code, "message": ..., ...}` with the status that says whose fault it is. WeChat's
//! refusals keep their `errcode` and `errmsg` and add a plain hint for the common ones.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wxopen::operator_auth::OperatorAuthError;
use wxopen::store::StoreError;
use wxopen::wechat::{ErrorKind, WechatError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Unauthorized(#[from] OperatorAuthError),
    /// The request is wrong: the message names what to fix.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The JSON body does not parse; `field` is the path at fault (`.` for the whole body).
    #[error("{message}")]
    InvalidBody { field: String, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("the route does not take this method")]
    MethodNotAllowed,
    /// The request conflicts with the state (a pending audit, an unapproved release, a used
    /// invitation...); `extra` carries the facts (e.g. the pending auditid).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        extra: Value,
    },
    #[error("WeChat refused: {0}")]
    Wechat(WechatError),
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

    pub fn invalid_body(field: String, message: String) -> Self {
        ApiError::InvalidBody { field, message }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>, extra: Value) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
            extra,
        }
    }
}

impl From<WechatError> for ApiError {
    fn from(e: WechatError) -> Self {
        match e {
            WechatError::Store(s) => ApiError::Store(s),
            e => ApiError::Wechat(e),
        }
    }
}

/// What an operator can do about WeChat's common refusals of code management.
pub fn hint(errcode: i64) -> Option<&'static str> {
    Some(match errcode {
        85009 => "an audit is already pending: wait for its result, or undo it (POST .../audits/latest/undo)",
        85019 => "no approved version to release: submit an audit and wait for approval",
        85020 => "the audit state does not allow a release: check GET .../audits/latest",
        85052 => "this version is already released",
        85085 => "the platform's monthly audit quota is used up: see GET /ops/quota",
        85086 => "nothing committed yet: commit a template first (POST .../commit)",
        61039 => "WeChat is still checking the code's privacy usage after the commit: retry the submission in a few minutes",
        61040 => "ext_json uses location APIs without declaring requiredPrivateInfos",
        61007 | 48001 => "the merchant did not grant the permission set this needs (18 for code management): send a new invitation",
        87013 => "the undo limit is reached (5 a day, 10 a month)",
        89401 => "WeChat is unstable: retry later",
        89402 => "the audit cannot be sped up in its current state",
        89403 => "the speed-up parameters are invalid",
        89404 => "this audit was already sped up",
        89405 => "the speed-up quota is used up this month: see GET /ops/quota",
        61004 => "this server's IP is not on the platform's whitelist in the WeChat console",
        _ => return None,
    })
}

impl ApiError {
    /// The status and JSON body this failure answers: one mapping, for a response and for a
    /// batch item's stored outcome alike.
    pub fn parts(&self) -> (StatusCode, Value) {
        let (status, code, mut extra) = match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", json!({})),
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, *code, json!({})),
            ApiError::InvalidBody { field, .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                if field == "." {
                    json!({})
                } else {
                    json!({ "field": field })
                },
            ),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", json!({})),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                json!({}),
            ),
            ApiError::Conflict { code, extra, .. } => (StatusCode::CONFLICT, *code, extra.clone()),
            ApiError::Store(StoreError::InvalidCursor) => {
                (StatusCode::BAD_REQUEST, "invalid_cursor", json!({}))
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, "store failed on an operator request");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    json!({}),
                )
            }
            ApiError::Secrets => {
                tracing::error!("platform secret unavailable on an operator request");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "secrets_unavailable",
                    json!({}),
                )
            }
            ApiError::Wechat(e) => wechat(e),
        };
        if !extra.is_object() {
            extra = json!({});
        }
        extra["error"] = json!(code);
        extra["message"] = json!(self.to_string());
        (status, extra)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.parts();
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

fn wechat(e: &WechatError) -> (StatusCode, &'static str, Value) {
    if let WechatError::NeedsReauthorization { .. } | WechatError::NoRefreshToken { .. } = e {
        return (
            StatusCode::CONFLICT,
            "needs_reauthorization",
            json!({ "hint": "the merchant must authorize again: send a new invitation" }),
        );
    }
    if e.outcome_unknown() {
        tracing::warn!(error = %e, "WeChat's answer was lost on an operator request");
        return (
            StatusCode::GATEWAY_TIMEOUT,
            "wechat_outcome_unknown",
            json!({ "hint": "WeChat may have applied the call: check the state before trying again" }),
        );
    }
    match e {
        WechatError::Api { code, errmsg, .. } => {
            tracing::info!(errcode = code, "WeChat refused an operator request");
            let mut v = json!({ "errcode": code, "errmsg": errmsg });
            if let Some(h) = hint(*code) {
                v["hint"] = json!(h);
            }
            let code = match e.kind() {
                ErrorKind::Quota => "wechat_quota",
                _ => "wechat_error",
            };
            (StatusCode::BAD_GATEWAY, code, v)
        }
        e => {
            tracing::error!(error = %e, "WeChat call failed on an operator request");
            (StatusCode::BAD_GATEWAY, "wechat_unavailable", json!({}))
        }
    }
}
