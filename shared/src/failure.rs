//! One classification of failures for every HTTP function: what went wrong becomes a status
//! (whose fault it is), a stable code, the facts a caller needs, a hint in English and Chinese,
//! and a `Retry-After` when waiting helps.
//!
//! Each failure type implements [`Classify`] once (the WeChat client's, the stores', onboarding's
//! here; the operations layer's in audit-actions); each function only renders a [`Failure`]: as
//! JSON (audit-actions, ticket-push) or as a page (auth-callback).
//!
//! The statuses say whose it is to fix: WeChat refusing what was asked is the caller's (422); a
//! quota is 429; WeChat asking to come back later, or a passing failure of ours, is 503 with
//! `Retry-After`; 502 only when WeChat (or the way to it) failed; 504 when the call may have been
//! applied.

pub use lambda_http::http::StatusCode;
use serde_json::{Map, Value};

use crate::onboarding::OnboardingError;
use crate::store::StoreError;
use crate::wechat::{ErrorKind, WechatError};

/// What the caller can do about a refusal, in English and in Chinese (the body's `hint` and
/// `hint_zh`; the console and the CLI show both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub en: &'static str,
    pub zh: &'static str,
}

impl Hint {
    pub const fn new(en: &'static str, zh: &'static str) -> Self {
        Hint { en, zh }
    }
}

/// How one failure is answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: StatusCode,
    /// Stable, snake_case: callers match on it (`audit_pending`, `wechat_refused`, ...).
    pub code: &'static str,
    /// Facts for the body (the pending auditid, WeChat's errcode and errmsg, ...).
    pub facts: Map<String, Value>,
    pub hint: Option<Hint>,
    /// Seconds to wait before trying again, when waiting helps.
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Failure {
            status,
            code,
            facts: Map::new(),
            hint: None,
            retry_after: None,
        }
    }

    pub fn fact(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.facts.insert(key.to_owned(), value.into());
        self
    }

    pub fn hint(mut self, hint: Option<Hint>) -> Self {
        self.hint = hint;
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The JSON body every function answers a failure with: the facts, then `hint` and
    /// `hint_zh` when known, `error` (the code) and `message`.
    pub fn into_body(self, message: impl Into<String>) -> Map<String, Value> {
        let mut body = self.facts;
        if let Some(h) = self.hint {
            body.insert("hint".into(), h.en.into());
            body.insert("hint_zh".into(), h.zh.into());
        }
        body.insert("error".into(), self.code.into());
        body.insert("message".into(), Value::String(message.into()));
        body
    }
}

/// A failure type that knows how it is answered.
pub trait Classify: std::fmt::Display {
    fn classify(&self) -> Failure;
}

/// How long a 503 asks the caller to wait when WeChat asks to come back later (89401, 45011: its
/// frequency limit counts per minute).
pub const WECHAT_BUSY_RETRY_SECS: u64 = 60;
/// How long a 503 asks the caller to wait after a passing failure of our own (the store, a token
/// lease held by another refresher).
pub const PASSING_RETRY_SECS: u64 = 5;
/// How long the merchant waits while the other path completes an authorization (the pending
/// page reloads after as long).
pub const IN_PROGRESS_RETRY_SECS: u64 = 3;

/// WeChat's quota errcodes: the daily API quota, the monthly audit and speed-up quotas.
pub const QUOTA_ERRCODES: [i64; 3] = [45009, 85085, 89405];

const fn h(en: &'static str, zh: &'static str) -> Hint {
    Hint::new(en, zh)
}

/// What the caller can do about WeChat's common refusals (of code management, mostly), by
/// errcode.
pub fn wechat_hint(errcode: i64) -> Option<Hint> {
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
        45009 => h("the daily API quota is used up: clear it with POST /ops/apps/{appid}/quota/clear (an app's) or POST /ops/component/quota/clear (the platform's; 10 resets a month per account), or wait for the next day", "当日接口调用次数已用完：可调用 POST /ops/apps/{appid}/quota/clear（小程序）或 POST /ops/component/quota/clear（第三方平台）清零（每个账号每月 10 次），或等到次日"),
        48006 => h("this account's 10 quota resets of the month are used up: wait for the daily quota to renew tomorrow", "该账号本月 10 次清零机会已用完：请等待次日额度恢复"),
        _ => return None,
    })
}

/// The merchant must authorize again (`needs_reauthorization`).
pub const REAUTHORIZE: Hint = h(
    "the merchant must authorize again: send a new invitation",
    "商家需要重新授权：请发送新的授权邀请",
);
/// WeChat's answer was lost (`wechat_outcome_unknown`).
pub const CHECK_BEFORE_RETRY: Hint = h(
    "WeChat may have applied the call: check the state before trying again",
    "微信可能已执行该操作：请先查看状态再重试",
);
/// WeChat asks to come back later (`wechat_busy`) and no errcode says more.
pub const WECHAT_BUSY: Hint = h(
    "WeChat asks to come back later: retry after Retry-After seconds",
    "微信繁忙：请在 Retry-After 秒后重试",
);
/// The merchant opens the authorization link again (an authorization that could not complete).
pub const OPEN_LINK_AGAIN: Hint = h(
    "Please open the authorization link from your service provider again.",
    "请重新打开服务商发给您的授权链接。",
);
/// The merchant tries again later (a passing failure on our side).
pub const TRY_LATER: Hint = h(
    "Please try again later; if it still fails, contact your service provider.",
    "请稍后重试；如仍失败，请联系服务商。",
);

impl Classify for WechatError {
    fn classify(&self) -> Failure {
        use StatusCode as S;
        if let WechatError::Store(e) = self {
            return e.classify();
        }
        if matches!(
            self,
            WechatError::NeedsReauthorization { .. } | WechatError::NoRefreshToken { .. }
        ) {
            return Failure::new(S::CONFLICT, "needs_reauthorization").hint(Some(REAUTHORIZE));
        }
        if self.outcome_unknown() {
            tracing::warn!(error = %self, "WeChat's answer was lost");
            return Failure::new(S::GATEWAY_TIMEOUT, "wechat_outcome_unknown")
                .hint(Some(CHECK_BEFORE_RETRY));
        }
        if let WechatError::LeaseWaitTimeout { .. } = self {
            return Failure::new(S::SERVICE_UNAVAILABLE, "wechat_busy")
                .hint(Some(WECHAT_BUSY))
                .retry_after(PASSING_RETRY_SECS);
        }
        let WechatError::Api { code, errmsg, .. } = self else {
            tracing::error!(error = %self, "WeChat call failed");
            return Failure::new(S::BAD_GATEWAY, "wechat_unavailable");
        };
        let refusal = |status, what| {
            Failure::new(status, what)
                .fact("errcode", *code)
                .fact("errmsg", errmsg.as_str())
                .hint(wechat_hint(*code))
        };
        if QUOTA_ERRCODES.contains(code) {
            tracing::info!(errcode = code, "WeChat's quota refused a request");
            return refusal(S::TOO_MANY_REQUESTS, "wechat_quota");
        }
        match self.kind() {
            ErrorKind::Business | ErrorKind::PermissionMissing => {
                tracing::info!(errcode = code, "WeChat refused a request");
                refusal(S::UNPROCESSABLE_ENTITY, "wechat_refused")
            }
            ErrorKind::Quota => refusal(S::TOO_MANY_REQUESTS, "wechat_quota"),
            ErrorKind::RetryLater => {
                let f = refusal(S::SERVICE_UNAVAILABLE, "wechat_busy");
                let hint = f.hint.or(Some(WECHAT_BUSY));
                f.hint(hint).retry_after(WECHAT_BUSY_RETRY_SECS)
            }
            _ => {
                tracing::error!(errcode = code, error = %self, "WeChat failed a request");
                refusal(S::BAD_GATEWAY, "wechat_error")
            }
        }
    }
}

impl Classify for StoreError {
    fn classify(&self) -> Failure {
        match self {
            StoreError::InvalidCursor => Failure::new(StatusCode::BAD_REQUEST, "invalid_cursor"),
            e => {
                tracing::error!(error = %e, "the store failed a request");
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
                    .retry_after(PASSING_RETRY_SECS)
            }
        }
    }
}

/// Completing an authorization is the merchant's page (the callback) or WeChat's push: a WeChat
/// failure is 502 whatever WeChat said (the merchant cannot act on an errcode), and every hint
/// is the merchant's.
impl Classify for OnboardingError {
    fn classify(&self) -> Failure {
        match self {
            OnboardingError::Store(e) | OnboardingError::Wechat(WechatError::Store(e)) => {
                e.classify().hint(Some(TRY_LATER))
            }
            OnboardingError::Wechat(e) => {
                tracing::error!(error = %e, "completing an authorization failed at WeChat");
                Failure::new(StatusCode::BAD_GATEWAY, "wechat_failed").hint(Some(OPEN_LINK_AGAIN))
            }
            OnboardingError::InProgress => {
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, "authorization_in_progress")
                    .retry_after(IN_PROGRESS_RETRY_SECS)
            }
            OnboardingError::Unfinished => {
                Failure::new(StatusCode::CONFLICT, "authorization_unfinished")
                    .hint(Some(OPEN_LINK_AGAIN))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppId;

    fn has_chinese(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn every_common_errcode_has_a_hint_in_english_and_chinese() {
        let errcodes = [
            85009, 85019, 85020, 85052, 85085, 85086, 61039, 61040, 61007, 48001, 87013, 89401,
            89405, 61004, 45009, 48006,
        ];
        let hints = errcodes
            .iter()
            .map(|c| wechat_hint(*c).unwrap_or_else(|| panic!("no hint for {c}")))
            .chain([
                REAUTHORIZE,
                CHECK_BEFORE_RETRY,
                WECHAT_BUSY,
                OPEN_LINK_AGAIN,
                TRY_LATER,
            ]);
        for h in hints {
            assert!(!h.en.is_empty() && h.en.is_ascii(), "{h:?}");
            assert!(has_chinese(h.zh), "{h:?}");
        }
        assert_eq!(wechat_hint(86000), None);
    }

    fn api(code: i64) -> WechatError {
        WechatError::Api {
            endpoint: "/wxa/submit_audit",
            code,
            errmsg: "m".into(),
        }
    }

    #[test]
    fn each_wechat_failure_has_the_status_of_whose_it_is_to_fix() {
        let app = AppId::parse("wxf8b4f85f3a794e77").unwrap();
        for (e, status, code, retry) in [
            (api(85086), 422, "wechat_refused", None),
            (api(85014), 422, "wechat_refused", None),
            (api(85081), 422, "wechat_refused", None),
            (api(61007), 422, "wechat_refused", None),
            (api(45009), 429, "wechat_quota", None),
            (api(85085), 429, "wechat_quota", None),
            (api(89405), 429, "wechat_quota", None),
            (api(89401), 503, "wechat_busy", Some(WECHAT_BUSY_RETRY_SECS)),
            (api(45011), 503, "wechat_busy", Some(WECHAT_BUSY_RETRY_SECS)),
            (api(61004), 502, "wechat_error", None),
            (api(40001), 502, "wechat_error", None),
            (api(-1), 504, "wechat_outcome_unknown", None),
            (
                WechatError::NeedsReauthorization { appid: app.clone() },
                409,
                "needs_reauthorization",
                None,
            ),
            (
                WechatError::NoRefreshToken { appid: app },
                409,
                "needs_reauthorization",
                None,
            ),
            (
                WechatError::LeaseWaitTimeout { what: "t".into() },
                503,
                "wechat_busy",
                Some(PASSING_RETRY_SECS),
            ),
            (
                WechatError::Http {
                    endpoint: "/x",
                    status: 404,
                },
                502,
                "wechat_unavailable",
                None,
            ),
            (
                WechatError::Http {
                    endpoint: "/x",
                    status: 503,
                },
                504,
                "wechat_outcome_unknown",
                None,
            ),
            (
                WechatError::Store(StoreError::Conflict),
                503,
                "store_unavailable",
                Some(PASSING_RETRY_SECS),
            ),
        ] {
            let f = e.classify();
            assert_eq!(
                (f.status.as_u16(), f.code, f.retry_after),
                (status, code, retry),
                "{e}"
            );
        }
    }

    #[test]
    fn a_wechat_refusal_keeps_its_errcode_and_the_errcodes_hint() {
        let f = api(85052).classify();
        assert_eq!(f.facts["errcode"], 85052);
        assert_eq!(f.facts["errmsg"], "m");
        assert_eq!(f.hint, wechat_hint(85052));
        // The errcode's hint wins over the generic code's; without one, the code's.
        assert_eq!(api(89401).classify().hint, wechat_hint(89401));
        assert_eq!(api(45011).classify().hint, Some(WECHAT_BUSY));
        // No hint known: none invented.
        assert_eq!(api(85014).classify().hint, None);
    }

    #[test]
    fn each_store_failure_is_a_bad_cursor_or_a_passing_unavailability() {
        let f = StoreError::InvalidCursor.classify();
        assert_eq!(
            (f.status, f.code, f.retry_after),
            (StatusCode::BAD_REQUEST, "invalid_cursor", None)
        );
        for e in [
            StoreError::Conflict,
            StoreError::AlreadyConsumed,
            StoreError::NotFound,
            StoreError::OutOfOrder,
            StoreError::Backend(anyhow::anyhow!("disk")),
        ] {
            let f = e.classify();
            assert_eq!(
                (f.status, f.code, f.retry_after),
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    Some(PASSING_RETRY_SECS)
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn each_onboarding_failure_tells_the_merchant_what_to_do() {
        for (e, status, code, hint) in [
            (
                OnboardingError::Wechat(api(61010)),
                502,
                "wechat_failed",
                Some(OPEN_LINK_AGAIN),
            ),
            (
                OnboardingError::Wechat(api(-1)),
                502,
                "wechat_failed",
                Some(OPEN_LINK_AGAIN),
            ),
            (
                OnboardingError::Store(StoreError::Conflict),
                503,
                "store_unavailable",
                Some(TRY_LATER),
            ),
            (
                OnboardingError::Wechat(WechatError::Store(StoreError::NotFound)),
                503,
                "store_unavailable",
                Some(TRY_LATER),
            ),
            (
                OnboardingError::Unfinished,
                409,
                "authorization_unfinished",
                Some(OPEN_LINK_AGAIN),
            ),
            (
                OnboardingError::InProgress,
                503,
                "authorization_in_progress",
                None,
            ),
        ] {
            let f = e.classify();
            assert_eq!(
                (f.status.as_u16(), f.code, f.hint),
                (status, code, hint),
                "{e}"
            );
        }
    }
}
