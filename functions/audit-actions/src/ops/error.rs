//! [`OpsError`]: every way an operation fails, each rule refusal a variant carrying its facts,
//! with its hint in English and Chinese on the variant ([`Classify`]). A batch decides an app's
//! outcome by matching on it ([`OpsError::batch_outcome`]); the HTTP layer only renders it.
//! WeChat's and the store's failures are classified by their own `Classify` impls in
//! [`wxopen::failure`] (the errcode hints among them).

use crate::ops::services::ServiceError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use wxopen::domain::{AuditId, AuditStatus, UnixTime};
use wxopen::failure::{Classify, Failure, Hint, StatusCode};
use wxopen::store::{AuthorizerStatus, BatchOutcome, FilingStatus, StoreError};
use wxopen::wechat::WechatError;

/// WeChat's undo limits (undocodeaudit.html): 5 a day and 10 a calendar month, Beijing time.
pub const UNDO_PER_DAY: usize = 5;
pub const UNDO_PER_MONTH: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The input is wrong (no hint beyond the message): `code` names the field's rule.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// A JSON document does not parse; `field` is the path at fault (`.` for the whole body).
    #[error("{message}")]
    InvalidBody { field: String, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The app is known but not authorized now.
    #[error("the app is {}", status.as_str())]
    NotAuthorized { status: AuthorizerStatus },
    /// wxopen's history holds a pending audit: no new submission.
    #[error("audit {auditid} is {}: wait for its result or undo it", status.as_str())]
    AuditPending {
        auditid: AuditId,
        status: AuditStatus,
    },
    /// WeChat answered 85009: it holds a pending audit (adopted into the history when read).
    #[error(
        "WeChat holds an audit of this app that is still pending: wait for its result or undo it"
    )]
    AuditPendingAtWechat {
        auditid: Option<AuditId>,
        status: Option<AuditStatus>,
    },
    #[error("no audit is pending")]
    NoPendingAudit,
    /// Only an approved, unreleased version can be released; the facts are the latest audit's.
    #[error("only an approved, unreleased version can be released")]
    NotApproved {
        auditid: Option<AuditId>,
        status: Option<AuditStatus>,
        released_at: Option<UnixTime>,
    },
    /// Undos made through wxopen today and this month (Beijing time) reach WeChat's limits.
    #[error("WeChat allows {} undos a day and {} a month (Beijing time); this app has used {day} today and {month} this month", UNDO_PER_DAY, UNDO_PER_MONTH)]
    UndoLimit { day: usize, month: usize },
    #[error("no speed-up left this month (of {limit}); the audit goes on at its normal pace")]
    SpeedupQuota { rest: i64, limit: i64 },
    /// The platform's monthly audit quota is shorter than a submit batch.
    #[error("the platform has {} audit submissions left this month (of {limit}); the batch needs {needed}: send fewer apps, or up_to_quota: true to submit the first {}", rest.max(&0), rest.max(&0))]
    AuditQuota {
        rest: i64,
        limit: i64,
        needed: usize,
    },
    /// WeChat's privacy detection of the last commit still runs (61039): a wait, not a failure.
    #[error("WeChat is still checking the committed code's privacy interfaces (61039): submit again in a minute")]
    PrivacyDetectionPending { retry_after: i64 },
    /// The code uses privacy interfaces ext_json does not declare (61040), named.
    #[error("the committed code uses privacy interfaces ext_json does not declare ({}): add them to ext_json's requiredPrivateInfos and commit again, or submit with privacy_api_not_use: true if the code never calls them (61040)", without_conf_list.join(", "))]
    PrivacyInterfacesUndeclared {
        without_conf_list: Vec<String>,
        without_auth_list: Vec<String>,
    },
    /// The app lacks domains the template's code calls, per list.
    #[error("template {template_id} needs domains this app does not have ({}): add them (PUT .../domains, .../webview-domains) before releasing", named(missing))]
    DomainsMissing {
        template_id: u64,
        missing: BTreeMap<&'static str, Vec<String>>,
    },
    /// The app's ICP filing (小程序备案) is not complete: an app not filed may not go live (since
    /// 2023-09-01), so it is not released ([`crate::ops::filing::require_filed`]).
    #[error("this app's ICP filing is {} (WeChat status {wechat_status}): an app not filed may not go live; file it and wait for the administration's approval before releasing", status.as_str())]
    IcpFilingRequired {
        status: FilingStatus,
        wechat_status: i64,
    },
    /// ext_json breaks one of WeChat's rules ([`crate::ops::ext_json`]).
    #[error("{message}")]
    InvalidExtJson { message: String },
    #[error("ext_json asks for {scope} but declares no location API in requiredPrivateInfos: list the ones the code calls (e.g. [\"getLocation\"]), or WeChat refuses the audit with 61040")]
    LocationApisUndeclared { scope: &'static str },
    #[error("the template is a standard template, whose ext_json takes only extAppid, ext and window; remove {}", extra.join(", "))]
    StandardTemplateExtJson { extra: Vec<String> },
    #[error("name the version to roll back to ({{\"app_version\": N}}) or ask for the previous one ({{\"previous\": true}})")]
    InvalidRevert,
    #[error("the invitation was already used; revoke the authorization in WeChat instead")]
    InvitationUsed,
    #[error("the quota is read with an authorized app's token, and none is authorized")]
    NoAuthorizedApp,
    #[error("this Idempotency-Key was used for another batch request")]
    IdempotencyKeyReused { batch_id: Option<String> },
    /// Filing on the merchant's behalf refused ([`crate::ops::filing_application`]).
    #[error(transparent)]
    Filing(#[from] crate::ops::filing_application::FilingRefusal),
    /// Issue 27's quota tools: the month's resets of the account are spent (counted by wxopen,
    /// or `at_wechat`: WeChat answered 48006); WeChat was not asked, or refused.
    #[error("this account's quota resets of the month are used up ({spent} of {limit}){}", if *at_wechat { " (WeChat answered 48006)" } else { "" })]
    QuotaResetLimit {
        spent: u32,
        limit: u32,
        at_wechat: bool,
    },
    /// The reset's answer was lost: it may have happened; counted as spent, never repeated.
    #[error("WeChat's answer to the quota reset was lost: it may have happened, and it is counted as spent ({spent} of {limit} this month)")]
    QuotaResetUnknown {
        spent: u32,
        limit: u32,
        check: Option<super::quota::CountCheck>,
    },
    /// Registering a mini program for a merchant refused ([`crate::ops::registration`]).
    #[error(transparent)]
    Registration(#[from] crate::ops::registration::RegistrationRefusal),
    /// A profile refusal ([`crate::ops::profile`]): bad input, a change in doubt, or an app whose
    /// profile a first audit cannot pass with.
    #[error(transparent)]
    Profile(#[from] crate::ops::profile::ProfileRefusal),
    #[error("WeChat refused: {0}")]
    Wechat(WechatError),
    #[error("the store failed")]
    Store(#[from] StoreError),
    /// A service operation's failure in a batch (the fleet subscribe batch).
    #[error("{0}")]
    Service(crate::ops::services::ServiceError),
}

fn named(missing: &BTreeMap<&'static str, Vec<String>>) -> String {
    missing
        .iter()
        .map(|(list, ds)| format!("{list}: {}", ds.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<WechatError> for OpsError {
    fn from(e: WechatError) -> Self {
        match e {
            WechatError::Store(s) => OpsError::Store(s),
            e => OpsError::Wechat(e),
        }
    }
}

impl OpsError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        OpsError::Invalid {
            code,
            message: message.into(),
        }
    }

    /// What a batch records for an app that failed this way; `None`: a wait (WeChat's privacy
    /// detection), the app is taken again by the next run.
    pub fn batch_outcome(&self) -> Option<BatchOutcome> {
        match self {
            OpsError::PrivacyDetectionPending { .. } => None,
            // An add in doubt waits to be settled: the next run comes back.
            OpsError::Service(ServiceError::TemplateInDoubt { .. }) => None,
            OpsError::Service(
                ServiceError::NotAuthorized { .. } | ServiceError::NeedsReauthorization { .. },
            ) => Some(BatchOutcome::Skipped),
            OpsError::Service(_) => Some(BatchOutcome::Failed),
            // The app's state or the operator's input says no: nothing to retry by itself.
            OpsError::NotFound { .. }
            | OpsError::NotAuthorized { .. }
            | OpsError::AuditPending { .. }
            | OpsError::AuditPendingAtWechat { .. }
            | OpsError::NoPendingAudit
            | OpsError::NotApproved { .. }
            | OpsError::UndoLimit { .. }
            | OpsError::SpeedupQuota { .. }
            | OpsError::AuditQuota { .. }
            | OpsError::PrivacyInterfacesUndeclared { .. }
            | OpsError::DomainsMissing { .. }
            | OpsError::IcpFilingRequired { .. }
            | OpsError::InvitationUsed
            | OpsError::NoAuthorizedApp
            | OpsError::IdempotencyKeyReused { .. }
            | OpsError::QuotaResetLimit { .. } => Some(BatchOutcome::Skipped),
            OpsError::Wechat(
                WechatError::NeedsReauthorization { .. } | WechatError::NoRefreshToken { .. },
            ) => Some(BatchOutcome::Skipped),
            // The app's profile is not ready for an audit: skipped with the reason, as the
            // other state refusals are.
            OpsError::Profile(
                crate::ops::profile::ProfileRefusal::Incomplete { .. }
                | crate::ops::profile::ProfileRefusal::InDoubt { .. },
            ) => Some(BatchOutcome::Skipped),
            OpsError::Profile(_) => Some(BatchOutcome::Failed),
            // Input the batch carries, or WeChat and the store failing: the app failed.
            OpsError::Invalid { .. }
            | OpsError::InvalidBody { .. }
            | OpsError::InvalidExtJson { .. }
            | OpsError::LocationApisUndeclared { .. }
            | OpsError::StandardTemplateExtJson { .. }
            | OpsError::InvalidRevert
            | OpsError::Filing(_)
            | OpsError::Registration(_)
            | OpsError::QuotaResetUnknown { .. }
            | OpsError::Wechat(_)
            | OpsError::Store(_) => Some(BatchOutcome::Failed),
        }
    }

    /// What the operator can do about this refusal.
    fn hint(&self) -> Option<Hint> {
        let h = Hint::new;
        Some(match self {
            OpsError::InvalidBody { .. } => INVALID_BODY,
            OpsError::NotAuthorized { .. } => h("the merchant has not authorized this app (or revoked it): send an invitation", "该小程序未授权（或已取消授权）：请发送授权邀请"),
            OpsError::AuditPending { .. } | OpsError::AuditPendingAtWechat { .. } => h("wait for the pending audit's result, or undo it (POST .../audits/latest/undo)", "有审核中的版本：等待审核结果，或先撤回审核"),
            OpsError::NoPendingAudit => h("no audit is pending: nothing to undo or speed up", "没有审核中的版本：无需撤回或加急"),
            OpsError::NotApproved { .. } => h("only an approved, unreleased version can be released: submit an audit and wait for approval", "只有审核通过且未发布的版本才能发布：请先提交审核并等待通过"),
            OpsError::UndoLimit { .. } => h("WeChat allows 5 undos a day and 10 a month per app: wait for the audit's result instead", "撤回次数已达上限（每天 5 次，每月 10 次）：请等待审核结果"),
            OpsError::SpeedupQuota { .. } => h("no speed-up left this month: the audit goes on at its normal pace", "本月加急次数已用完：审核将按正常速度进行"),
            OpsError::AuditQuota { .. } => h("the platform's monthly audit quota is shorter than the batch: submit fewer apps, or ask for up_to_quota", "本月平台提审额度不足：请减少小程序数量，或使用 up_to_quota 只提交额度内的部分"),
            OpsError::PrivacyDetectionPending { .. } => h("WeChat is still checking the committed code's privacy interfaces: submit again after retry_after_secs (a batch waits by itself)", "微信正在检测刚上传代码的隐私接口：请在 retry_after_secs 秒后再提交（批量任务会自动等待）"),
            OpsError::PrivacyInterfacesUndeclared { .. } => h("declare the listed interfaces in ext_json's requiredPrivateInfos and commit again, or submit with privacy_api_not_use: true if the code never calls them", "请在 ext_json 的 requiredPrivateInfos 中声明所列接口后重新上传；若代码并未调用，可在提交时设置 privacy_api_not_use: true"),
            OpsError::LocationApisUndeclared { .. } => h("list the location APIs the code calls in ext_json's requiredPrivateInfos, e.g. [\"getLocation\"]", "请在 ext_json 的 requiredPrivateInfos 中列出代码调用的地理位置接口，例如 [\"getLocation\"]"),
            OpsError::InvalidExtJson { .. } => h("fix ext_json as the message says; requiredPrivateInfos takes WeChat's exact API names", "请按提示修正 ext_json；requiredPrivateInfos 须使用微信接口的准确名称（区分大小写）"),
            OpsError::StandardTemplateExtJson { .. } => h("a standard template's ext_json takes only extAppid, ext and window", "标准模板的 ext_json 只支持 extAppid、ext 和 window"),
            OpsError::InvalidRevert => h("name the version to roll back to ({\"app_version\": N}, see GET .../versions) or ask for the previous one ({\"previous\": true})", "请指定要回退到的版本（{\"app_version\": N}，见 GET .../versions），或回退到上一个版本（{\"previous\": true}）"),
            OpsError::DomainsMissing { .. } => h("add the missing domains to the app (PUT .../domains or .../webview-domains), then release: the new version's requests would fail without them", "请先为小程序添加缺少的域名（服务器域名或业务域名），再发布：否则新版本的网络请求会失败"),
            OpsError::QuotaResetLimit { .. } => h("no quota reset is left this month (10 per account, an app's and the platform's counted apart): wait for the daily quota to renew tomorrow", "本月清零次数已用完（每个账号每月 10 次）：请等待次日额度恢复"),
            OpsError::QuotaResetUnknown { .. } => h("do not clear again at once: check the API's count with GET /ops/apps/{appid}/quota?cgi_path=... (back near zero: it was cleared); send cgi_path with the next clear to have this settled by itself", "请勿立即重试：先用 GET /ops/apps/{appid}/quota?cgi_path=... 查看该接口的调用次数（接近 0 即已清零）；下次清零时带上 cgi_path 可自动确认"),
            OpsError::IcpFilingRequired { .. } => h("the app's ICP filing must be complete before it goes live: file it (POST .../filing), have the responsible person answer the administration's SMS, and release once GET .../filing says filed", "小程序须完成备案后才能发布上线：请先提交备案，并提醒负责人及时完成管局短信核验；GET .../filing 显示已备案（filed）后再发布"),
            _ => return None,
        })
    }
}

/// The hint of a body that does not parse (also the HTTP layer's own).
pub const INVALID_BODY: Hint = Hint::new(
    "fix the field named in `field` (numbers are sent as numbers, e.g. template_id: 1, not \"1\")",
    "请修正 field 所指字段（数字请直接写数字，例如 template_id: 1，而不是 \"1\"）",
);

fn conflict(code: &'static str) -> Failure {
    Failure::new(StatusCode::CONFLICT, code)
}

impl Classify for OpsError {
    fn classify(&self) -> Failure {
        let f = match self {
            OpsError::Invalid { code, .. } => Failure::new(StatusCode::BAD_REQUEST, code),
            OpsError::InvalidBody { field, .. } => {
                let f = Failure::new(StatusCode::BAD_REQUEST, "invalid_body");
                if field == "." {
                    f
                } else {
                    f.fact("field", field.as_str())
                }
            }
            OpsError::NotFound { .. } => Failure::new(StatusCode::NOT_FOUND, "not_found"),
            OpsError::NotAuthorized { status } => {
                conflict("not_authorized").fact("status", status.as_str())
            }
            OpsError::AuditPending { auditid, status } => conflict("audit_pending")
                .fact("auditid", json!(auditid))
                .fact("status", status.as_str()),
            OpsError::AuditPendingAtWechat { auditid, status } => conflict("audit_pending")
                .fact("auditid", json!(auditid))
                .fact("status", status.map(AuditStatus::as_str)),
            OpsError::NoPendingAudit => conflict("no_pending_audit"),
            OpsError::NotApproved {
                auditid,
                status,
                released_at,
            } => conflict("not_approved")
                .fact("auditid", json!(auditid))
                .fact("status", status.map(AuditStatus::as_str))
                .fact("released_at", *released_at),
            OpsError::UndoLimit { day, month } => conflict("undo_limit")
                .fact("undone_today", *day)
                .fact("undone_this_month", *month)
                .fact("per_day", UNDO_PER_DAY)
                .fact("per_month", UNDO_PER_MONTH),
            OpsError::SpeedupQuota { rest, limit } => conflict("speedup_quota")
                .fact("speedup_rest", *rest)
                .fact("speedup_limit", *limit),
            OpsError::AuditQuota {
                rest,
                limit,
                needed,
            } => conflict("audit_quota")
                .fact("rest", *rest)
                .fact("limit", *limit)
                .fact("needed", *needed),
            OpsError::PrivacyDetectionPending { retry_after } => {
                let f = conflict("privacy_detection_pending")
                    .fact("errcode", 61039)
                    .fact("retry_after_secs", *retry_after);
                match u64::try_from(*retry_after) {
                    Ok(secs) => f.retry_after(secs),
                    Err(_) => f,
                }
            }
            OpsError::PrivacyInterfacesUndeclared {
                without_conf_list,
                without_auth_list,
            } => conflict("privacy_interfaces_undeclared")
                .fact("errcode", 61040)
                .fact("without_conf_list", json!(without_conf_list))
                .fact("without_auth_list", json!(without_auth_list)),
            OpsError::DomainsMissing {
                template_id,
                missing,
            } => conflict("domains_missing")
                .fact("template_id", *template_id)
                .fact("missing", json!(missing)),
            OpsError::IcpFilingRequired {
                status,
                wechat_status,
            } => conflict("icp_filing_required")
                .fact("status", status.as_str())
                .fact("wechat_status", *wechat_status),
            OpsError::InvalidExtJson { .. } => {
                Failure::new(StatusCode::BAD_REQUEST, "invalid_ext_json")
            }
            OpsError::LocationApisUndeclared { .. } => {
                Failure::new(StatusCode::BAD_REQUEST, "location_apis_undeclared")
            }
            OpsError::StandardTemplateExtJson { .. } => {
                Failure::new(StatusCode::BAD_REQUEST, "standard_template_ext_json")
            }
            OpsError::InvalidRevert => Failure::new(StatusCode::BAD_REQUEST, "invalid_revert"),
            OpsError::InvitationUsed => conflict("invitation_used"),
            OpsError::NoAuthorizedApp => conflict("no_authorized_app"),
            OpsError::IdempotencyKeyReused { batch_id } => {
                conflict("idempotency_key_reused").fact("batch_id", batch_id.clone())
            }
            OpsError::Filing(e) => return e.classify(),
            OpsError::Registration(e) => return e.classify(),
            OpsError::Profile(e) => return e.classify(),
            OpsError::QuotaResetLimit {
                spent,
                limit,
                at_wechat,
            } => conflict("quota_reset_limit")
                .fact("spent", *spent)
                .fact("limit", *limit)
                .fact("errcode", at_wechat.then_some(48006)),
            OpsError::QuotaResetUnknown {
                spent,
                limit,
                check,
            } => Failure::new(StatusCode::GATEWAY_TIMEOUT, "quota_reset_unknown")
                .fact("spent", *spent)
                .fact("limit", *limit)
                .fact("counted_as_spent", true)
                .fact("count_check", json!(check)),
            OpsError::Wechat(e) => return e.classify(),
            OpsError::Store(e) => return e.classify(),
            OpsError::Service(e) => return e.classify(),
        };
        f.hint(self.hint())
    }
}

/// The body a failure answers: its facts, `hint` and `hint_zh` when known, `error` (the code)
/// and `message`; for a response and for a batch item's stored outcome alike.
pub fn failure_body(e: &(impl Classify + ?Sized)) -> Map<String, Value> {
    e.classify().into_body(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::profile::{ChangeKind, Missing, ProfileRefusal};
    use wxopen::failure::wechat_hint;

    fn has_chinese(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    /// The traps of the release guard-rails, each with its code.
    fn traps() -> Vec<(OpsError, &'static str)> {
        vec![
            (
                OpsError::AuditPending {
                    auditid: AuditId(1),
                    status: AuditStatus::Auditing,
                },
                "audit_pending",
            ),
            (
                OpsError::NotApproved {
                    auditid: None,
                    status: None,
                    released_at: None,
                },
                "not_approved",
            ),
            (OpsError::UndoLimit { day: 5, month: 5 }, "undo_limit"),
            (
                OpsError::SpeedupQuota { rest: 0, limit: 3 },
                "speedup_quota",
            ),
            (
                OpsError::AuditQuota {
                    rest: 1,
                    limit: 10,
                    needed: 2,
                },
                "audit_quota",
            ),
            (
                OpsError::PrivacyDetectionPending { retry_after: 60 },
                "privacy_detection_pending",
            ),
            (
                OpsError::PrivacyInterfacesUndeclared {
                    without_conf_list: vec!["getLocation".into()],
                    without_auth_list: vec![],
                },
                "privacy_interfaces_undeclared",
            ),
            (
                OpsError::LocationApisUndeclared {
                    scope: "scope.userLocation",
                },
                "location_apis_undeclared",
            ),
            (
                OpsError::InvalidExtJson {
                    message: "x".into(),
                },
                "invalid_ext_json",
            ),
            (
                OpsError::StandardTemplateExtJson {
                    extra: vec!["tabBar".into()],
                },
                "standard_template_ext_json",
            ),
            (OpsError::InvalidRevert, "invalid_revert"),
            (
                OpsError::InvalidBody {
                    field: "x".into(),
                    message: "x".into(),
                },
                "invalid_body",
            ),
            (
                OpsError::DomainsMissing {
                    template_id: 7,
                    missing: BTreeMap::new(),
                },
                "domains_missing",
            ),
            (
                OpsError::IcpFilingRequired {
                    status: FilingStatus::NotFiled,
                    wechat_status: 1024,
                },
                "icp_filing_required",
            ),
            (
                OpsError::Profile(ProfileRefusal::Incomplete {
                    missing: vec![Missing::Name, Missing::ApprovedCategory],
                }),
                "profile_incomplete",
            ),
            (
                OpsError::Profile(ProfileRefusal::InDoubt {
                    kind: ChangeKind::Name,
                    since: 1,
                    asked: true,
                    retry_after: 60,
                }),
                "profile_change_in_doubt",
            ),
            (
                OpsError::Profile(ProfileRefusal::Invalid { fields: vec![] }),
                "invalid_profile",
            ),
        ]
    }

    #[test]
    fn every_trap_and_common_errcode_has_a_hint_in_english_and_chinese() {
        let errcodes = [
            85009, 85019, 85020, 85052, 85085, 85086, 61039, 61040, 61007, 48001, 87013, 89401,
            89405, 61004,
        ];
        let hints = traps()
            .into_iter()
            .map(|(e, code)| {
                let f = e.classify();
                assert_eq!(f.code, code);
                f.hint.unwrap_or_else(|| panic!("no hint for {code}"))
            })
            .chain(errcodes.iter().map(|c| wechat_hint(*c).unwrap()));
        for h in hints {
            assert!(!h.en.is_empty() && h.en.is_ascii(), "{h:?}");
            assert!(has_chinese(h.zh), "{h:?}");
        }
    }

    #[test]
    fn a_refusal_body_carries_both_hints() {
        let e = OpsError::UndoLimit { day: 5, month: 6 };
        let (f, body) = (e.classify(), failure_body(&e));
        assert_eq!(f.status, StatusCode::CONFLICT);
        assert_eq!(body["hint"], f.hint.unwrap().en);
        assert_eq!(body["hint_zh"], f.hint.unwrap().zh);
        // WeChat's refusal: the errcode's hint wins over the generic code's.
        let e = OpsError::Wechat(WechatError::Api {
            endpoint: "/wxa/release",
            code: 85052,
            errmsg: "app is already released".into(),
        });
        let (f, body) = (e.classify(), failure_body(&e));
        assert_eq!(f.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["hint_zh"], wechat_hint(85052).unwrap().zh);
        // No hint known: none invented.
        let body = failure_body(&OpsError::invalid("invalid_tester", "x"));
        assert!(
            body.get("hint").is_none() && body.get("hint_zh").is_none(),
            "{body:?}"
        );
    }

    #[test]
    fn a_batch_skips_what_the_state_refuses_waits_out_the_detection_and_fails_the_rest() {
        assert_eq!(
            OpsError::NotApproved {
                auditid: None,
                status: None,
                released_at: None
            }
            .batch_outcome(),
            Some(BatchOutcome::Skipped)
        );
        assert_eq!(
            OpsError::NotFound { what: "app" }.batch_outcome(),
            Some(BatchOutcome::Skipped)
        );
        assert_eq!(
            OpsError::PrivacyDetectionPending { retry_after: 60 }.batch_outcome(),
            None
        );
        assert_eq!(
            OpsError::Store(StoreError::Conflict).batch_outcome(),
            Some(BatchOutcome::Failed)
        );
        // Every 409 and 404 is skipped, everything else failed: the outcome follows the status.
        for (e, _) in traps() {
            let f = e.classify();
            let skipped = matches!(f.status, StatusCode::CONFLICT | StatusCode::NOT_FOUND);
            if let Some(outcome) = e.batch_outcome() {
                assert_eq!(outcome == BatchOutcome::Skipped, skipped, "{e}");
            }
        }
    }
}
