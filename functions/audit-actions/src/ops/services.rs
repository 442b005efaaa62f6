//! The operations the provider's own backends call (`/svc`, issue 26): each authorized app's
//! token and the component token, handed out by the token manager so that nothing but wxopen
//! ever refreshes them; user login; phone numbers; mini program codes; subscribe-message
//! templates kept per app under the provider's names, and sends by name.
//!
//! No HTTP here: typed inputs, typed outcomes, and one failure enum classified once
//! ([`ServiceError`], [`Classify`]). Tokens, js_codes, phone codes and session keys are
//! [`SecretString`]s: never printed by `Debug`, never logged.

use secrecy::SecretString;
use std::collections::BTreeMap;
use wxopen::domain::{AppId, Clock, UnixTime};
use wxopen::failure::{Classify, Failure, Hint, StatusCode};
use wxopen::store::{NamedSubscribeTemplate, Store, StoreError, SubscribeTemplateStore, TokenKey};
use wxopen::wechat::endpoint::AuthorizerEndpoint;
use wxopen::wechat::reconcile::{self, TemplateAddition};
use wxopen::wechat::services::{
    AddSubscribeTemplate, DelSubscribeTemplate, GetPubTemplateKeywords, GetPubTemplateTitles,
    GetSubscribeCategories, GetUserPhoneNumber, JsCode2Session, PhoneInfo, PubTemplateKeyword,
    PubTemplateTitles, SendSubscribeMessage, SubscribeCategory, SubscribeValue,
};
use wxopen::wechat::token::Issued;
use wxopen::wechat::wxa::{CreateWxaQrCode, GetWxaCode, GetWxaCodeUnlimit};
use wxopen::wechat::{Binary, ErrorKind, TokenManager, WechatError};

/// js_code / phone code refusals: `invalid code` (40029) and `code been used` (40163).
pub const INVALID_CODE_ERRCODES: [i64; 2] = [40029, 40163];
/// subscribe/send: the user has not accepted the template (or used up the acceptance).
pub const USER_REFUSED: i64 = 43101;
/// subscribe/send: the data does not fit the template's keywords.
pub const INVALID_DATA: i64 = 47003;
/// The code endpoints' refusals of what was asked: a scene too long (40169), a page not in the
/// released version (41030), a malformed field (47001); getwxacode / createwxaqrcode: a bad
/// path (40159), width (40189) or env_version (40097).
pub const WXACODE_REFUSALS: [i64; 6] = [40169, 41030, 47001, 40159, 40189, 40097];
/// getwxacode + createwxaqrcode: the app's 100,000 limited codes are spent, for good.
pub const LIMITED_CODES_SPENT: i64 = 45029;

/// WeChat's quota errcodes (daily quota, audit quota, platform quota).
const QUOTA_ERRCODES: [i64; 3] = [45009, 85085, 89405];
/// `Retry-After` when WeChat asks to come back later, and when a refresh is under way.
const WECHAT_BUSY_RETRY_SECS: u64 = 60;
const PASSING_RETRY_SECS: u64 = 5;

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The app holds no token: never authorized, or no longer.
    #[error("{appid} is not authorized (no token is held for it)")]
    NotAuthorized { appid: AppId },
    /// WeChat refused the refresh token: only the merchant can fix it.
    #[error("{appid} must be authorized again by the merchant")]
    NeedsReauthorization { appid: AppId },
    /// A js_code or phone code WeChat refused: invalid, expired or already used.
    #[error("WeChat refused the code: errcode {errcode}, errmsg {errmsg:?}")]
    InvalidCode { errcode: i64, errmsg: String },
    /// The user has not accepted the subscribe template (43101).
    #[error("the user has not accepted this template: errcode {errcode}, errmsg {errmsg:?}")]
    UserRefused { errcode: i64, errmsg: String },
    /// What was asked does not fit what WeChat takes (47003 subscribe data, wxacode fields).
    #[error("WeChat refused the request's data: errcode {errcode}, errmsg {errmsg:?}")]
    InvalidData { errcode: i64, errmsg: String },
    /// The app has made all the limited codes it ever may (45029: 100,000 getwxacode and
    /// createwxaqrcode together); the unlimited kind still works.
    #[error(
        "WeChat refused: the app's limited codes are spent: errcode {errcode}, errmsg {errmsg:?}"
    )]
    LimitedCodesSpent { errcode: i64, errmsg: String },
    /// The app has no subscribe template by this name.
    #[error("{appid} has no subscribe template named {name:?}")]
    UnknownTemplate { appid: AppId, name: String },
    /// The name is taken by a template of other keywords.
    #[error("{appid} already has a template named {name:?} with another title or keywords")]
    NameTaken { appid: AppId, name: String },
    /// A subscribe/send whose answer was lost: the message may or may not have reached the
    /// user, and it is not sent again.
    #[error("WeChat's answer to the send was lost: whether the message was delivered is unknown")]
    DeliveryUnknown,
    /// An earlier add of this name lost its answer and WeChat shows no template of it yet: it
    /// may still be applied, so none is added until it is settled.
    #[error("an earlier add of {name:?} to {appid} is in doubt (since {since}); retry later")]
    TemplateInDoubt {
        appid: AppId,
        name: String,
        since: UnixTime,
    },
    #[error("WeChat: {0}")]
    Wechat(WechatError),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// `appid`'s failure from the WeChat client, with the refusals a caller fixes named.
    fn from_wechat(appid: Option<&AppId>, e: WechatError) -> Self {
        match (e, appid) {
            (WechatError::Store(s), _) => ServiceError::Store(s),
            (WechatError::NoRefreshToken { appid }, _) => ServiceError::NotAuthorized { appid },
            (WechatError::NeedsReauthorization { appid }, _) => {
                ServiceError::NeedsReauthorization { appid }
            }
            (e, Some(appid)) if e.needs_reauthorization() => ServiceError::NeedsReauthorization {
                appid: appid.clone(),
            },
            (WechatError::Api { code, errmsg, .. }, _) if INVALID_CODE_ERRCODES.contains(&code) => {
                ServiceError::InvalidCode {
                    errcode: code,
                    errmsg,
                }
            }
            (WechatError::Api { code, errmsg, .. }, _) if code == USER_REFUSED => {
                ServiceError::UserRefused {
                    errcode: code,
                    errmsg,
                }
            }
            (WechatError::Api { code, errmsg, .. }, _) if code == LIMITED_CODES_SPENT => {
                ServiceError::LimitedCodesSpent {
                    errcode: code,
                    errmsg,
                }
            }
            (WechatError::Api { code, errmsg, .. }, _)
                if code == INVALID_DATA || WXACODE_REFUSALS.contains(&code) =>
            {
                ServiceError::InvalidData {
                    errcode: code,
                    errmsg,
                }
            }
            (e, _) => ServiceError::Wechat(e),
        }
    }
}

fn refused(status: StatusCode, code: &'static str, errcode: i64, errmsg: &str) -> Failure {
    Failure::new(status, code)
        .fact("errcode", errcode)
        .fact("errmsg", errmsg)
}

impl Classify for ServiceError {
    fn classify(&self) -> Failure {
        match self {
            ServiceError::NotAuthorized { .. } => Failure::new(StatusCode::NOT_FOUND, "not_authorized")
                .hint(Some(Hint::new(
                    "the app is not authorized to the platform: the merchant authorizes it through an invitation",
                    "该小程序未授权给第三方平台：请商家通过邀请链接授权",
                ))),
            ServiceError::NeedsReauthorization { .. } => {
                Failure::new(StatusCode::CONFLICT, "needs_reauthorization").hint(Some(Hint::new(
                    "the merchant must authorize the app again",
                    "需要商家重新授权该小程序",
                )))
            }
            ServiceError::InvalidCode { errcode, errmsg } => {
                refused(StatusCode::BAD_REQUEST, "invalid_code", *errcode, errmsg).hint(Some(
                    Hint::new(
                        "codes are single use and last 5 minutes: get a new one in the mini program",
                        "code 只能使用一次且5分钟内有效：请在小程序中重新获取",
                    ),
                ))
            }
            ServiceError::UserRefused { errcode, errmsg } => {
                refused(StatusCode::FORBIDDEN, "user_refused", *errcode, errmsg).hint(Some(
                    Hint::new(
                        "the user has not accepted this template (or used up a one-time acceptance): ask again with wx.requestSubscribeMessage",
                        "用户未订阅该模板（或一次性订阅已用完）：请通过 wx.requestSubscribeMessage 重新请求",
                    ),
                ))
            }
            ServiceError::InvalidData { errcode, errmsg } => {
                refused(StatusCode::BAD_REQUEST, "invalid_data", *errcode, errmsg)
            }
            ServiceError::LimitedCodesSpent { errcode, errmsg } => {
                refused(StatusCode::CONFLICT, "limited_codes_spent", *errcode, errmsg).hint(Some(
                    Hint::new(
                        "the app has made its 100,000 limited codes (getwxacode and createwxaqrcode together), for good: use kind \"unlimited\" (a scene instead of a path)",
                        "该小程序的有限数量小程序码（getwxacode 与 createwxaqrcode 合计 100,000 个）已用完且不会恢复：请改用 kind \"unlimited\"（用 scene 传参）",
                    ),
                ))
            }
            ServiceError::UnknownTemplate { name, .. } => {
                Failure::new(StatusCode::NOT_FOUND, "unknown_template")
                    .fact("template", name.as_str())
                    .hint(Some(Hint::new(
                        "add the template to the app first (POST .../subscribe-templates)",
                        "请先为该小程序添加此模板（POST .../subscribe-templates）",
                    )))
            }
            ServiceError::NameTaken { name, .. } => {
                Failure::new(StatusCode::CONFLICT, "template_name_taken").fact("template", name.as_str())
            }
            ServiceError::DeliveryUnknown => {
                Failure::new(StatusCode::GATEWAY_TIMEOUT, "delivery_unknown").hint(Some(Hint::new(
                    "WeChat's answer was lost: the message may have reached the user. It was not resent; send it again only if a duplicate is acceptable (a one-time acceptance allows one message: a resend may answer 43101)",
                    "微信应答丢失：消息可能已送达用户，系统未重发；仅在可接受重复消息时再次发送（一次性订阅只允许发送一条，重发可能返回 43101）",
                )))
            }
            ServiceError::TemplateInDoubt { name, since, .. } => {
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, "template_in_doubt")
                    .fact("template", name.as_str())
                    .fact("in_doubt_since", *since)
                    .retry_after(WECHAT_BUSY_RETRY_SECS)
                    .hint(Some(Hint::new(
                        "an earlier add of this template lost WeChat's answer and WeChat shows no template of it yet: try again later (it is never added twice)",
                        "此前添加该模板时未收到微信应答，微信尚未显示该模板：请稍后重试（不会重复添加）",
                    )))
            }
            ServiceError::Store(_) => Failure::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
                .retry_after(PASSING_RETRY_SECS),
            ServiceError::Wechat(e) => wechat(e),
        }
    }
}

/// A WeChat failure no caller of these operations can fix by changing the request.
fn wechat(e: &WechatError) -> Failure {
    if e.outcome_unknown() {
        return Failure::new(StatusCode::GATEWAY_TIMEOUT, "wechat_outcome_unknown");
    }
    if let WechatError::LeaseWaitTimeout { .. } = e {
        return Failure::new(StatusCode::SERVICE_UNAVAILABLE, "wechat_busy")
            .retry_after(PASSING_RETRY_SECS);
    }
    let WechatError::Api { code, errmsg, .. } = e else {
        tracing::error!(error = %e, "WeChat call failed on a service request");
        return Failure::new(StatusCode::BAD_GATEWAY, "wechat_unavailable");
    };
    let f = |status, name| refused(status, name, *code, errmsg);
    if QUOTA_ERRCODES.contains(code) {
        return f(StatusCode::TOO_MANY_REQUESTS, "wechat_quota");
    }
    match e.kind() {
        ErrorKind::Business | ErrorKind::PermissionMissing => {
            f(StatusCode::UNPROCESSABLE_ENTITY, "wechat_refused")
        }
        ErrorKind::Quota => f(StatusCode::TOO_MANY_REQUESTS, "wechat_quota"),
        ErrorKind::RetryLater => {
            f(StatusCode::SERVICE_UNAVAILABLE, "wechat_busy").retry_after(WECHAT_BUSY_RETRY_SECS)
        }
        _ => {
            tracing::error!(errcode = code, "WeChat failed a service request");
            f(StatusCode::BAD_GATEWAY, "wechat_error")
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// The app's token for a backend that calls WeChat itself (see [`TokenManager::issue`]).
pub async fn access_token(mgr: &TokenManager, appid: &AppId) -> ServiceResult<Issued> {
    mgr.issue(&TokenKey::Authorizer(appid.clone()))
        .await
        .map_err(|e| ServiceError::from_wechat(Some(appid), e))
}

/// A backend reports that WeChat answered 40001/42001 for `rejected`: answers the token to use
/// now, refreshed once however many report it ([`TokenManager::report_rejected`]).
pub async fn report_invalid_token(
    mgr: &TokenManager,
    appid: &AppId,
    rejected: &SecretString,
) -> ServiceResult<Issued> {
    mgr.report_rejected(&TokenKey::Authorizer(appid.clone()), rejected)
        .await
        .map_err(|e| ServiceError::from_wechat(Some(appid), e))
}

/// The platform's component token, for the backends that call component endpoints.
pub async fn component_access_token(mgr: &TokenManager) -> ServiceResult<Issued> {
    mgr.issue(&TokenKey::Component(mgr.component_appid().clone()))
        .await
        .map_err(|e| ServiceError::from_wechat(None, e))
}

/// A logged-in user of a mini program.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub openid: String,
    pub unionid: Option<String>,
    /// Only when the caller asked for it.
    pub session_key: Option<SecretString>,
}

/// Logs a user in with the `js_code` of `wx.login` (jscode2session with the component token).
pub async fn login(
    mgr: &TokenManager,
    appid: &AppId,
    js_code: SecretString,
    with_session_key: bool,
) -> ServiceResult<LoggedIn> {
    let req = JsCode2Session {
        appid: appid.clone(),
        js_code,
        component_appid: mgr.component_appid().clone(),
    };
    let s = mgr
        .component()
        .call(&req)
        .await
        .map_err(|e| ServiceError::from_wechat(Some(appid), e))?;
    Ok(LoggedIn {
        openid: s.openid,
        unionid: s.unionid,
        session_key: with_session_key.then_some(s.session_key),
    })
}

/// The phone number behind a code of the mini program's phone-number button.
pub async fn phone_number(
    mgr: &TokenManager,
    appid: &AppId,
    code: SecretString,
) -> ServiceResult<PhoneInfo> {
    call(mgr, appid, &GetUserPhoneNumber { code })
        .await
        .map(|r| r.phone_info)
}

/// One call on the app's behalf, WeChat's refusal classified for the provider's backends.
async fn call<E: AuthorizerEndpoint>(
    mgr: &TokenManager,
    appid: &AppId,
    req: &E,
) -> ServiceResult<E::Response> {
    mgr.wxa(appid)
        .call(req)
        .await
        .map_err(|e| ServiceError::from_wechat(Some(appid), e))
}

/// A mini program code of one of WeChat's three kinds, checked.
#[derive(Debug, Clone)]
pub enum WxaCodeRequest {
    /// getwxacodeunlimit: a scene, as many codes as wanted.
    Unlimited(GetWxaCodeUnlimit),
    /// getwxacode: a path with its query; one of the app's 100,000 limited codes.
    Limited(GetWxaCode),
    /// createwxaqrcode: a square QR code for a path; one of the same 100,000.
    QrCode(CreateWxaQrCode),
}

/// A mini program code: the image WeChat made.
pub async fn wxacode(
    mgr: &TokenManager,
    appid: &AppId,
    req: &WxaCodeRequest,
) -> ServiceResult<Binary> {
    match req {
        WxaCodeRequest::Unlimited(r) => call(mgr, appid, r).await,
        WxaCodeRequest::Limited(r) => call(mgr, appid, r).await,
        WxaCodeRequest::QrCode(r) => call(mgr, appid, r).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> WechatError {
        WechatError::Api {
            code,
            errmsg: "m".into(),
            endpoint: "e",
        }
    }

    #[test]
    fn callers_refusals_are_4xx_with_errcode_and_wechat_failures_are_5xx() {
        let appid = AppId::parse("wx0123456789abcdef").unwrap();
        let status = |code| {
            ServiceError::from_wechat(Some(&appid), api(code))
                .classify()
                .status
        };
        assert_eq!(status(40029), StatusCode::BAD_REQUEST);
        assert_eq!(status(40163), StatusCode::BAD_REQUEST);
        assert_eq!(status(47003), StatusCode::BAD_REQUEST);
        assert_eq!(status(43101), StatusCode::FORBIDDEN);
        assert_eq!(status(61023), StatusCode::CONFLICT);
        assert_eq!(status(45009), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(status(45029), StatusCode::CONFLICT);
        assert_eq!(status(40159), StatusCode::BAD_REQUEST);
        // Our side or the platform's set-up: 502; a system error may have been applied: 504.
        assert_eq!(status(61004), StatusCode::BAD_GATEWAY);
        assert_eq!(status(-1), StatusCode::GATEWAY_TIMEOUT);
        let f = ServiceError::from_wechat(Some(&appid), api(40163)).classify();
        assert_eq!(f.code, "invalid_code");
        assert_eq!(f.facts["errcode"], 40163);
        let none = ServiceError::from_wechat(
            Some(&appid),
            WechatError::NoRefreshToken {
                appid: appid.clone(),
            },
        );
        assert_eq!(none.classify().status, StatusCode::NOT_FOUND);
    }
}

/// A template to add to an app under the provider's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscribeTemplate {
    pub name: String,
    /// The public title (getpubtemplatetitles) and its keywords, 2 to 5 (getpubtemplatekeywords).
    pub tid: u64,
    pub kid_list: Vec<u64>,
    /// What the app sends it for (addtemplate's sceneDesc).
    pub scene_desc: Option<String>,
}

/// The provider's names for templates: what a backend sends by.
pub const TEMPLATE_NAME_MAX: usize = 64;
/// addtemplate takes 2 to 5 keywords.
pub const KIDS_PER_TEMPLATE: std::ops::RangeInclusive<usize> = 2..=5;

/// Why a template name or a new template is refused: (the error code, its message).
pub type Refusal = (&'static str, String);

/// A template name: 1 to [`TEMPLATE_NAME_MAX`] letters, digits, `_`, `-` or `.`.
pub fn check_template_name(name: &str) -> Result<(), Refusal> {
    let ok = !name.is_empty()
        && name.len() <= TEMPLATE_NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err((
            "invalid_template_name",
            format!("a template name is 1 to {TEMPLATE_NAME_MAX} letters, digits, '_', '-' or '.'"),
        ))
    }
}

impl NewSubscribeTemplate {
    /// Checked before WeChat is asked (the single-app route and the fleet batch alike).
    pub fn check(&self) -> Result<(), Refusal> {
        check_template_name(&self.name)?;
        if !KIDS_PER_TEMPLATE.contains(&self.kid_list.len()) {
            return Err((
                "invalid_kid_list",
                "kid_list holds 2 to 5 keyword ids".into(),
            ));
        }
        Ok(())
    }
}

/// What [`add_subscribe_template`] did.
#[derive(Debug, Clone)]
pub struct TemplateAdded {
    pub template: NamedSubscribeTemplate,
    /// This call added it at WeChat (else the app already had it under this name).
    pub added: bool,
    /// Its addtemplate answer was lost (now or earlier) and `gettemplate` showed it.
    pub reconciled: bool,
}

/// Adds title `tid` with keywords `kid_list` to the app's templates under `name`, once. The
/// same name with the same title and keywords answers the one already added (so a fleet batch
/// can be run again); with others, `NameTaken`. An addtemplate whose answer is lost never
/// leads to a second priTmplId: the add is recorded as in doubt before it is sent and settled
/// from `gettemplate` ([`reconcile::add_subscribe_template`]); while it cannot be settled,
/// `TemplateInDoubt`. Two concurrent adds keep one: the loser deletes its own at WeChat.
pub async fn add_subscribe_template(
    mgr: &TokenManager,
    store: &dyn Store,
    clock: &dyn Clock,
    appid: &AppId,
    new: &NewSubscribeTemplate,
) -> ServiceResult<TemplateAdded> {
    let NewSubscribeTemplate {
        name,
        tid,
        kid_list,
        scene_desc,
    } = new;
    let (name, tid, kid_list) = (name.as_str(), *tid, kid_list.as_slice());
    let same = |t: &NamedSubscribeTemplate| t.tid == tid && t.kid_list == kid_list;
    let taken = || ServiceError::NameTaken {
        appid: appid.clone(),
        name: name.to_owned(),
    };
    let existing = |template| TemplateAdded {
        template,
        added: false,
        reconciled: false,
    };
    if let Some(t) = store.get_subscribe_template(appid, name).await? {
        return if same(&t) {
            Ok(existing(t))
        } else {
            Err(taken())
        };
    }
    let req = AddSubscribeTemplate {
        tid: tid.to_string(),
        kid_list: kid_list.to_vec(),
        scene_desc: scene_desc.clone(),
    };
    let addition = reconcile::add_subscribe_template(mgr, store, clock, appid, name, &req, tid)
        .await
        .map_err(|e| ServiceError::from_wechat(Some(appid), e))?;
    // An earlier add of this name settled here may have been of another title or keywords:
    // recorded as it was added, then the name is taken for this one.
    let (pri_tmpl_id, added_tid, added_kids, reconciled) = match addition {
        TemplateAddition::Added {
            pri_tmpl_id,
            tid,
            kid_list,
            reconciled,
        } => (pri_tmpl_id, tid, kid_list, reconciled),
        TemplateAddition::InDoubt { since } => {
            return Err(ServiceError::TemplateInDoubt {
                appid: appid.clone(),
                name: name.to_owned(),
                since,
            })
        }
    };
    let record = NamedSubscribeTemplate {
        appid: appid.clone(),
        name: name.to_owned(),
        pri_tmpl_id,
        tid: added_tid,
        kid_list: added_kids,
        added_at: clock.now(),
    };
    match store.create_subscribe_template(&record).await {
        Ok(()) => {
            reconcile::clear_subscribe_template_doubt(store, appid, name).await;
            if !same(&record) {
                return Err(taken());
            }
            Ok(TemplateAdded {
                template: record,
                added: true,
                reconciled,
            })
        }
        Err(StoreError::Conflict) => {
            // Someone added it meanwhile: theirs stands, ours goes.
            let ours = DelSubscribeTemplate {
                pri_tmpl_id: record.pri_tmpl_id.clone(),
            };
            if let Err(e) = mgr.wxa(appid).call(&ours).await {
                tracing::warn!(appid = %appid, error = %e, "could not delete a duplicate subscribe template");
            }
            reconcile::clear_subscribe_template_doubt(store, appid, name).await;
            let theirs = store
                .get_subscribe_template(appid, name)
                .await?
                .ok_or(ServiceError::Store(StoreError::Conflict))?;
            if same(&theirs) {
                Ok(existing(theirs))
            } else {
                Err(taken())
            }
        }
        // The doubt stays: the next add of this name adopts the template from gettemplate.
        Err(e) => Err(e.into()),
    }
}

/// The app's named templates.
pub async fn subscribe_templates(
    store: &dyn SubscribeTemplateStore,
    appid: &AppId,
) -> ServiceResult<Vec<NamedSubscribeTemplate>> {
    Ok(store.list_subscribe_templates(appid).await?)
}

/// A subscribe message to send by the provider's template name.
#[derive(Debug, Clone)]
pub struct SubscribeMessage {
    pub template: String,
    pub touser: String,
    /// Keyword (`thing2`, `time3`…) to its value.
    pub data: BTreeMap<String, String>,
    pub page: Option<String>,
    pub miniprogram_state: Option<String>,
    pub lang: Option<String>,
}

/// Sends one subscribe message with the app's template of that name; answers WeChat's msgid.
///
/// Never sent twice: subscribe/send has no idempotency key, and a one-time acceptance allows
/// one message, so a send whose answer is lost may have reached the user. It is not repeated
/// (the endpoint is declared not repeatable) and answers `DeliveryUnknown` (504
/// `delivery_unknown`): the caller decides, knowing the user may already have it.
pub async fn send_subscribe_message(
    mgr: &TokenManager,
    store: &dyn SubscribeTemplateStore,
    appid: &AppId,
    msg: SubscribeMessage,
) -> ServiceResult<Option<u64>> {
    let t = store
        .get_subscribe_template(appid, &msg.template)
        .await?
        .ok_or_else(|| ServiceError::UnknownTemplate {
            appid: appid.clone(),
            name: msg.template.clone(),
        })?;
    let req = SendSubscribeMessage {
        touser: msg.touser,
        template_id: t.pri_tmpl_id,
        page: msg.page,
        data: msg
            .data
            .into_iter()
            .map(|(k, value)| (k, SubscribeValue { value }))
            .collect(),
        miniprogram_state: msg.miniprogram_state,
        lang: msg.lang,
    };
    match mgr.wxa(appid).call(&req).await {
        Ok(sent) => Ok(sent.msgid),
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(%appid, error = %e, "subscribe/send answer lost: delivery unknown, not resent");
            Err(ServiceError::DeliveryUnknown)
        }
        Err(e) => Err(ServiceError::from_wechat(Some(appid), e)),
    }
}

/// The app's categories (wxaapi/newtmpl/getcategory): they decide the public titles it may use.
pub async fn subscribe_categories(
    mgr: &TokenManager,
    appid: &AppId,
) -> ServiceResult<Vec<SubscribeCategory>> {
    call(mgr, appid, &GetSubscribeCategories::default())
        .await
        .map(|r| r.data)
}

/// The public titles of some categories, paged (getpubtemplatetitles).
pub async fn subscribe_titles(
    mgr: &TokenManager,
    appid: &AppId,
    req: &GetPubTemplateTitles,
) -> ServiceResult<PubTemplateTitles> {
    call(mgr, appid, req).await
}

/// A public title's keywords (getpubtemplatekeywords).
pub async fn subscribe_keywords(
    mgr: &TokenManager,
    appid: &AppId,
    tid: u64,
) -> ServiceResult<Vec<PubTemplateKeyword>> {
    call(mgr, appid, &GetPubTemplateKeywords { tid })
        .await
        .map(|r| r.data)
}

/// Deletes the app's template of that name at WeChat (deltemplate), then its name.
pub async fn delete_subscribe_template(
    mgr: &TokenManager,
    store: &dyn SubscribeTemplateStore,
    appid: &AppId,
    name: &str,
) -> ServiceResult<()> {
    let t = store
        .get_subscribe_template(appid, name)
        .await?
        .ok_or_else(|| ServiceError::UnknownTemplate {
            appid: appid.clone(),
            name: name.to_owned(),
        })?;
    call(
        mgr,
        appid,
        &DelSubscribeTemplate {
            pri_tmpl_id: t.pri_tmpl_id,
        },
    )
    .await?;
    Ok(store.delete_subscribe_template(appid, name).await?)
}
