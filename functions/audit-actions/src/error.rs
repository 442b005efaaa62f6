//! The one mapping from every failure of an operator request to its JSON answer:
//! `{"error": code, "message": ..., ...}` with the status that says whose fault it is. WeChat's
//! refusals keep their `errcode` and `errmsg` and add a plain hint for the common ones.
//!
//! [`ApiError::classify`] is the table: each failure to its status, code, facts and
//! `Retry-After`. WeChat refusing what the operator asked is the operator's to fix (422); a
//! quota is 429; WeChat asking to come back later is 503 with `Retry-After`; 502 only when
//! WeChat (or the way to it) failed; 504 when the call may have been applied.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wxopen::operator_auth::{Operator, OperatorAuthError, Role};
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
    /// The key is valid but may not do this: `needed` names the role it would take.
    #[error("{message}")]
    Forbidden {
        needed: Option<Role>,
        message: String,
    },
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

/// What an operator can do about a refusal, in English and in Chinese: the body's `hint` and
/// `hint_zh`. The console and the CLI show both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub en: &'static str,
    pub zh: &'static str,
}

const fn h(en: &'static str, zh: &'static str) -> Hint {
    Hint { en, zh }
}

/// What an operator can do about WeChat's common refusals of code management.
pub fn hint(errcode: i64) -> Option<Hint> {
    Some(match errcode {
        85009 => h("an audit is already pending: wait for its result, or undo it (POST .../audits/latest/undo)", "已有审核中的版本：等待审核结果，或先撤回审核"),
        85019 => h("no approved version to release: submit an audit and wait for approval", "没有审核通过的版本可发布：先提交审核并等待通过"),
        85020 => h("the audit state does not allow a release: check GET .../audits/latest", "当前审核状态不能发布：请查看最新审核状态"),
        85052 => h("this version is already released", "该版本已经发布"),
        85085 => h("the platform's monthly audit quota is used up: see GET /ops/quota", "本月平台提审额度已用完：请查看 /ops/quota"),
        85086 => h("nothing committed yet: commit a template first (POST .../commit)", "尚未上传代码：请先上传模板代码"),
        61039 => h("WeChat is still checking the code's privacy usage after the commit: retry the submission in a few minutes", "代码上传后的隐私接口检测尚未完成：请稍后再提交审核"),
        61040 => h("the code uses privacy interfaces ext_json does not declare: add them to requiredPrivateInfos and commit again", "代码使用了未在 ext_json 中声明的隐私接口：请在 requiredPrivateInfos 中声明后重新上传"),
        61007 | 48001 => h("the merchant did not grant the permission set this needs (18 for code management): send a new invitation", "商家未授权所需权限集（代码管理为 18）：请重新发送授权邀请"),
        87013 => h("the undo limit is reached (5 a day, 10 a month)", "撤回次数已达上限（每天 5 次，每月 10 次）"),
        89401 => h("WeChat is unstable: retry later", "微信系统不稳定：请稍后重试"),
        89402 => h("the audit cannot be sped up in its current state", "当前审核状态不能加急"),
        89403 => h("the speed-up parameters are invalid", "加急参数无效"),
        89404 => h("this audit was already sped up", "该审核已经加急过"),
        89405 => h("the speed-up quota is used up this month: see GET /ops/quota", "本月加急次数已用完：请查看 /ops/quota"),
        61004 => h("this server's IP is not on the platform's whitelist in the WeChat console", "服务器 IP 不在第三方平台的白名单中：请在微信开放平台后台添加"),
        _ => return None,
    })
}

/// What an operator can do about wxopen's own refusals (the rules and quota checks that stop
/// a call before WeChat would refuse it), by error code.
pub fn rule_hint(code: &str) -> Option<Hint> {
    Some(match code {
        "audit_pending" => h("wait for the pending audit's result, or undo it (POST .../audits/latest/undo)", "有审核中的版本：等待审核结果，或先撤回审核"),
        "no_pending_audit" => h("no audit is pending: nothing to undo or speed up", "没有审核中的版本：无需撤回或加急"),
        "not_approved" => h("only an approved, unreleased version can be released: submit an audit and wait for approval", "只有审核通过且未发布的版本才能发布：请先提交审核并等待通过"),
        "undo_limit" => h("WeChat allows 5 undos a day and 10 a month per app: wait for the audit's result instead", "撤回次数已达上限（每天 5 次，每月 10 次）：请等待审核结果"),
        "speedup_quota" => h("no speed-up left this month: the audit goes on at its normal pace", "本月加急次数已用完：审核将按正常速度进行"),
        "audit_quota" => h("the platform's monthly audit quota is shorter than the batch: submit fewer apps, or ask for up_to_quota", "本月平台提审额度不足：请减少小程序数量，或使用 up_to_quota 只提交额度内的部分"),
        "privacy_detection_pending" => h("WeChat is still checking the committed code's privacy interfaces: submit again after retry_after_secs (a batch waits by itself)", "微信正在检测刚上传代码的隐私接口：请在 retry_after_secs 秒后再提交（批量任务会自动等待）"),
        "privacy_interfaces_undeclared" => h("declare the listed interfaces in ext_json's requiredPrivateInfos and commit again, or submit with privacy_api_not_use: true if the code never calls them", "请在 ext_json 的 requiredPrivateInfos 中声明所列接口后重新上传；若代码并未调用，可在提交时设置 privacy_api_not_use: true"),
        "location_apis_undeclared" => h("list the location APIs the code calls in ext_json's requiredPrivateInfos, e.g. [\"getLocation\"]", "请在 ext_json 的 requiredPrivateInfos 中列出代码调用的地理位置接口，例如 [\"getLocation\"]"),
        "invalid_ext_json" => h("fix ext_json as the message says; requiredPrivateInfos takes WeChat's exact API names", "请按提示修正 ext_json；requiredPrivateInfos 须使用微信接口的准确名称（区分大小写）"),
        "standard_template_ext_json" => h("a standard template's ext_json takes only extAppid, ext and window", "标准模板的 ext_json 只支持 extAppid、ext 和 window"),
        "invalid_revert" => h("name the version to roll back to ({\"app_version\": N}, see GET .../versions) or ask for the previous one ({\"previous\": true})", "请指定要回退到的版本（{\"app_version\": N}，见 GET .../versions），或回退到上一个版本（{\"previous\": true}）"),
        "needs_reauthorization" => h("the merchant must authorize again: send a new invitation", "商家需要重新授权：请发送新的授权邀请"),
        "wechat_outcome_unknown" => h("WeChat may have applied the call: check the state before trying again", "微信可能已执行该操作：请先查看状态再重试"),
        "invalid_body" => h("fix the field named in `field` (numbers are sent as numbers, e.g. template_id: 1, not \"1\")", "请修正 field 所指字段（数字请直接写数字，例如 template_id: 1，而不是 \"1\"）"),
        "domains_missing" => h("add the missing domains to the app (PUT .../domains or .../webview-domains), then release: the new version's requests would fail without them", "请先为小程序添加缺少的域名（服务器域名或业务域名），再发布：否则新版本的网络请求会失败"),
        "forbidden" => h("ask an admin for a key with the role named in `needed_role` (wxopen keys new --role ...)", "请向管理员申请具有 needed_role 所示角色的密钥"),
        "wechat_busy" => h("WeChat asks to come back later: retry after Retry-After seconds", "微信繁忙：请在 Retry-After 秒后重试"),
        "not_authorized" => h("the merchant has not authorized this app (or revoked it): send an invitation", "该小程序未授权（或已取消授权）：请发送授权邀请"),
        _ => return None,
    })
}

/// How one failure is answered: the one table from a failure to what the operator sees.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub status: StatusCode,
    pub code: &'static str,
    /// Facts for the body (e.g. the pending auditid, WeChat's errcode and errmsg).
    pub extra: Value,
    /// Seconds to wait before trying again (the `Retry-After` header), when known.
    pub retry_after: Option<u64>,
}

fn c(status: StatusCode, code: &'static str, extra: Value) -> Classified {
    Classified {
        status,
        code,
        extra,
        retry_after: None,
    }
}

/// How long a 503 asks the caller to wait: WeChat's "come back later" (89401, 45011: its
/// frequency limit counts per minute), and a passing failure of our own (store, token lease).
const WECHAT_BUSY_RETRY_SECS: u64 = 60;
const PASSING_RETRY_SECS: u64 = 5;

/// WeChat's quota errcodes: the daily API quota, the monthly audit and speed-up quotas.
const QUOTA_ERRCODES: [i64; 3] = [45009, 85085, 89405];

impl ApiError {
    /// The table: this failure's status, code, facts and `Retry-After`.
    pub fn classify(&self) -> Classified {
        match self {
            ApiError::Unauthorized(_) => c(StatusCode::UNAUTHORIZED, "unauthorized", json!({})),
            ApiError::Forbidden { needed, .. } => c(
                StatusCode::FORBIDDEN,
                "forbidden",
                match needed {
                    Some(r) => json!({ "needed_role": r }),
                    None => json!({}),
                },
            ),
            ApiError::BadRequest { code, .. } => c(StatusCode::BAD_REQUEST, code, json!({})),
            ApiError::InvalidBody { field, .. } => c(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                if field == "." {
                    json!({})
                } else {
                    json!({ "field": field })
                },
            ),
            ApiError::NotFound { .. } => c(StatusCode::NOT_FOUND, "not_found", json!({})),
            ApiError::MethodNotAllowed => c(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                json!({}),
            ),
            ApiError::Conflict { code, extra, .. } => Classified {
                retry_after: extra["retry_after_secs"].as_u64(),
                ..c(StatusCode::CONFLICT, code, extra.clone())
            },
            ApiError::Store(StoreError::InvalidCursor) => {
                c(StatusCode::BAD_REQUEST, "invalid_cursor", json!({}))
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, "store failed on an operator request");
                Classified {
                    retry_after: Some(PASSING_RETRY_SECS),
                    ..c(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "store_unavailable",
                        json!({}),
                    )
                }
            }
            ApiError::Secrets => {
                tracing::error!("platform secret unavailable on an operator request");
                Classified {
                    retry_after: Some(PASSING_RETRY_SECS),
                    ..c(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "secrets_unavailable",
                        json!({}),
                    )
                }
            }
            ApiError::Wechat(e) => wechat(e),
        }
    }

    /// The status and JSON body this failure answers: one mapping, for a response and for a
    /// batch item's stored outcome alike.
    pub fn parts(&self) -> (StatusCode, Value) {
        let Classified {
            status,
            code,
            mut extra,
            ..
        } = self.classify();
        if !extra.is_object() {
            extra = json!({});
        }
        let known = match self {
            ApiError::Wechat(WechatError::Api { code: errcode, .. }) => hint(*errcode),
            _ => None,
        };
        if let Some(h) = known.or_else(|| rule_hint(code)) {
            extra["hint"] = json!(h.en);
            extra["hint_zh"] = json!(h.zh);
        }
        extra["error"] = json!(code);
        extra["message"] = json!(self.to_string());
        (status, extra)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.classify().retry_after;
        let (status, body) = self.parts();
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
}

fn wechat(e: &WechatError) -> Classified {
    if let WechatError::NeedsReauthorization { .. } | WechatError::NoRefreshToken { .. } = e {
        return c(StatusCode::CONFLICT, "needs_reauthorization", json!({}));
    }
    if e.outcome_unknown() {
        tracing::warn!(error = %e, "WeChat's answer was lost on an operator request");
        return c(
            StatusCode::GATEWAY_TIMEOUT,
            "wechat_outcome_unknown",
            json!({}),
        );
    }
    if let WechatError::LeaseWaitTimeout { .. } = e {
        return Classified {
            retry_after: Some(PASSING_RETRY_SECS),
            ..c(StatusCode::SERVICE_UNAVAILABLE, "wechat_busy", json!({}))
        };
    }
    match e {
        WechatError::Api { code, errmsg, .. } => {
            let v = json!({ "errcode": code, "errmsg": errmsg });
            if QUOTA_ERRCODES.contains(code) {
                tracing::info!(errcode = code, "WeChat's quota refused an operator request");
                return c(StatusCode::TOO_MANY_REQUESTS, "wechat_quota", v);
            }
            match e.kind() {
                ErrorKind::Business | ErrorKind::PermissionMissing => {
                    tracing::info!(errcode = code, "WeChat refused an operator request");
                    c(StatusCode::UNPROCESSABLE_ENTITY, "wechat_refused", v)
                }
                ErrorKind::Quota => c(StatusCode::TOO_MANY_REQUESTS, "wechat_quota", v),
                ErrorKind::RetryLater => Classified {
                    retry_after: Some(WECHAT_BUSY_RETRY_SECS),
                    ..c(StatusCode::SERVICE_UNAVAILABLE, "wechat_busy", v)
                },
                _ => {
                    tracing::error!(errcode = code, error = %e, "WeChat failed an operator request");
                    c(StatusCode::BAD_GATEWAY, "wechat_error", v)
                }
            }
        }
        e => {
            tracing::error!(error = %e, "WeChat call failed on an operator request");
            c(StatusCode::BAD_GATEWAY, "wechat_unavailable", json!({}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The traps of the release guard-rails, each with a hint in both languages.
    const TRAPS: [&str; 13] = [
        "audit_pending",
        "not_approved",
        "undo_limit",
        "speedup_quota",
        "audit_quota",
        "privacy_detection_pending",
        "privacy_interfaces_undeclared",
        "location_apis_undeclared",
        "invalid_ext_json",
        "standard_template_ext_json",
        "invalid_revert",
        "invalid_body",
        "domains_missing",
    ];

    fn has_chinese(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn every_trap_and_common_errcode_has_a_hint_in_english_and_chinese() {
        let errcodes = [
            85009, 85019, 85020, 85052, 85085, 85086, 61039, 61040, 61007, 48001, 87013, 89401,
            89405, 61004,
        ];
        let hints = TRAPS
            .iter()
            .map(|c| rule_hint(c).unwrap_or_else(|| panic!("no hint for {c}")))
            .chain(errcodes.iter().map(|c| hint(*c).unwrap()));
        for h in hints {
            assert!(!h.en.is_empty() && h.en.is_ascii(), "{h:?}");
            assert!(has_chinese(h.zh), "{h:?}");
        }
    }

    #[test]
    fn a_refusal_body_carries_both_hints() {
        let (status, body) = ApiError::conflict("undo_limit", "limit", json!({})).parts();
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["hint"], rule_hint("undo_limit").unwrap().en);
        assert_eq!(body["hint_zh"], rule_hint("undo_limit").unwrap().zh);
        // WeChat's refusal: the errcode's hint wins over the generic code's.
        let e = ApiError::Wechat(WechatError::Api {
            endpoint: "/wxa/release",
            code: 85052,
            errmsg: "app is already released".into(),
        });
        let (status, body) = e.parts();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["hint_zh"], hint(85052).unwrap().zh);
        // No hint known: none invented.
        let (_, body) = ApiError::bad("invalid_tester", "x").parts();
        assert!(
            body.get("hint").is_none() && body.get("hint_zh").is_none(),
            "{body}"
        );
    }

    fn api(code: i64) -> ApiError {
        ApiError::Wechat(WechatError::Api {
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
                ApiError::Wechat(WechatError::LeaseWaitTimeout { what: "t".into() }),
                503,
                "wechat_busy",
                Some(PASSING_RETRY_SECS),
            ),
            (
                ApiError::Wechat(WechatError::Http {
                    endpoint: "/x",
                    status: 404,
                }),
                502,
                "wechat_unavailable",
                None,
            ),
            (
                ApiError::Store(StoreError::Conflict),
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
        let (status, body) = ApiError::forbidden(Role::Operator, Role::Viewer, false).parts();
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"], "forbidden");
        assert_eq!(body["needed_role"], "operator");
        assert!(body["message"].as_str().unwrap().contains("operator"));
    }
}
