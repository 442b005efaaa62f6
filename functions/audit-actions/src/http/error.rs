//! The HTTP layer's own failures (the key, its role, a wrong method, the secret) beside the
//! operations' [`OpsError`], and the one rendering of any failure: its [`Failure`] as
//! `{"error": code, "message": ..., facts, "hint", "hint_zh"}` with its status, `Retry-After`
//! when waiting helps and `WWW-Authenticate` on a 401.

use crate::ops::OpsError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use wxopen::failure::{Classify, Failure, Hint, PASSING_RETRY_SECS};
use wxopen::operator_auth::{Operator, OperatorAuthError, Role};
use wxopen::store::StoreError;
use wxopen::wechat::WechatError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Unauthorized(#[from] OperatorAuthError),
    /// The key is valid but may not do this: `needed` names the role it would take.
    #[error("{message}")]
    Forbidden {
        needed: Option<Role>,
        message: String,
    },
    #[error("the route does not take this method")]
    MethodNotAllowed,
    /// The body could not be read: larger than the route takes (2 MB, 5 MB of file on the
    /// upload routes), or cut off.
    #[error("{0}")]
    BodyUnreadable(#[from] axum::extract::rejection::BytesRejection),
    #[error("the platform secret could not be read")]
    Secrets,
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// The provider's backends' operations (`/svc`).
    #[error(transparent)]
    Service(#[from] crate::ops::services::ServiceError),
}

impl From<WechatError> for ApiError {
    fn from(e: WechatError) -> Self {
        ApiError::Ops(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Ops(e.into())
    }
}

impl ApiError {
    /// 400 with `code` and `message` (a query or path the operator is to fix).
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Ops(OpsError::invalid(code, message))
    }

    /// 400 with `code` and `message` unless the input is `ok`.
    pub fn unless(ok: bool, code: &'static str, message: &'static str) -> Result<(), Self> {
        if ok {
            Ok(())
        } else {
            Err(ApiError::bad(code, message))
        }
    }

    pub fn invalid_body(field: String, message: String) -> Self {
        ApiError::Ops(OpsError::InvalidBody { field, message })
    }

    pub fn not_found(what: &'static str) -> Self {
        ApiError::Ops(OpsError::NotFound { what })
    }

    /// The key's role does not reach the route (or the route spans every customer and the key
    /// is limited to some).
    pub fn forbidden(needed: Role, have: Role, all_customers: bool) -> Self {
        let message = if all_customers && have.grants(needed) {
            "this route spans every customer: it needs a key not limited to customers".to_owned()
        } else {
            format!("this needs a key with the {needed} role (this key's role: {have})")
        };
        ApiError::Forbidden {
            needed: Some(needed),
            message,
        }
    }

    /// The key acts for some customers only, and the request names another.
    pub fn out_of_scope(op: &Operator) -> Self {
        ApiError::Forbidden {
            needed: None,
            message: format!(
                "this key acts only for the customers {}",
                op.customers.as_deref().unwrap_or_default().join(", ")
            ),
        }
    }
}

impl Classify for ApiError {
    fn classify(&self) -> Failure {
        match self {
            ApiError::Unauthorized(e) => e.classify(),
            ApiError::Forbidden { needed, .. } => {
                let f = Failure::new(StatusCode::FORBIDDEN, "forbidden").hint(Some(Hint::new(
                    "ask an admin for a key with the role named in `needed_role` (wxopen keys new --role ...)",
                    "请向管理员申请具有 needed_role 所示角色的密钥",
                )));
                match needed {
                    Some(r) => f.fact("needed_role", serde_json::json!(r)),
                    None => f,
                }
            }
            ApiError::MethodNotAllowed => {
                Failure::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::BodyUnreadable(e) => {
                let too_large = e.status() == StatusCode::PAYLOAD_TOO_LARGE;
                let code = if too_large {
                    "body_too_large"
                } else {
                    "body_unreadable"
                };
                Failure::new(e.status(), code).hint(too_large.then(|| {
                    Hint::new(
                        "send a smaller body: 2 MB at most, a file of 5 MB at most on the upload routes",
                        "请求体过大：最多 2 MB，上传文件的接口最多 5 MB 的文件",
                    )
                }))
            }
            ApiError::Secrets => {
                tracing::error!("platform secret unavailable on an operator request");
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, "secrets_unavailable")
                    .retry_after(PASSING_RETRY_SECS)
            }
            ApiError::Ops(e) => e.classify(),
            ApiError::Service(e) => e.classify(),
        }
    }
}

/// Any failure as its response: one rendering for every route.
pub fn render(e: &(impl Classify + ?Sized)) -> Response {
    let f = e.classify();
    let (status, retry_after) = (f.status, f.retry_after);
    let body = f.into_body(e.to_string());
    let mut resp = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        render(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::error::failure_body;
    use wxopen::failure::WECHAT_BUSY_RETRY_SECS;

    fn wechat(e: WechatError) -> ApiError {
        ApiError::Ops(OpsError::Wechat(e))
    }

    fn api(code: i64) -> ApiError {
        wechat(WechatError::Api {
            endpoint: "/wxa/submit_audit",
            code,
            errmsg: "m".into(),
        })
    }

    #[test]
    fn each_wechat_failure_has_the_status_of_whose_it_is_to_fix() {
        for (e, status, code, retry) in [
            (api(85086), 422, "wechat_refused", None),
            (api(85014), 422, "wechat_refused", None),
            (api(85081), 422, "wechat_refused", None),
            (api(61007), 422, "wechat_refused", None),
            (api(45009), 429, "wechat_quota", None),
            (api(85085), 429, "wechat_quota", None),
            (api(89401), 503, "wechat_busy", Some(WECHAT_BUSY_RETRY_SECS)),
            (api(45011), 503, "wechat_busy", Some(WECHAT_BUSY_RETRY_SECS)),
            (api(61004), 502, "wechat_error", None),
            (api(-1), 504, "wechat_outcome_unknown", None),
            (
                wechat(WechatError::LeaseWaitTimeout { what: "t".into() }),
                503,
                "wechat_busy",
                Some(PASSING_RETRY_SECS),
            ),
            (
                wechat(WechatError::Http {
                    endpoint: "/x",
                    status: 404,
                }),
                502,
                "wechat_unavailable",
                None,
            ),
            (
                ApiError::from(StoreError::Conflict),
                503,
                "store_unavailable",
                Some(PASSING_RETRY_SECS),
            ),
        ] {
            let c = e.classify();
            assert_eq!(
                (c.status.as_u16(), c.code, c.retry_after),
                (status, code, retry),
                "{e}"
            );
            let resp = e.into_response();
            assert_eq!(
                resp.headers().get(header::RETRY_AFTER).map(|v| v
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()),
                retry
            );
        }
    }

    #[test]
    fn a_missing_role_is_403_naming_it() {
        let e = ApiError::forbidden(Role::Operator, Role::Viewer, false);
        let (status, body) = (e.classify().status, failure_body(&e));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"], "forbidden");
        assert_eq!(body["needed_role"], "operator");
        assert!(body["message"].as_str().unwrap().contains("operator"));
    }
}
