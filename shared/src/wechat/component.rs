//! Component (第三方平台) endpoints and the template library, called with the
//! `component_access_token`: one declaration each ([`super::endpoint`]), sent by
//! [`super::WechatClient::call`] or, with automatic token handling, [`super::ComponentApi::call`].

use crate::domain::{AppId, UnixTime};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `api_component_token` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentAccessToken {
    pub component_access_token: SecretString,
    pub expires_in: i64,
}

/// `api_create_preauthcode` answer. Single use; trust `expires_in`. Held as a secret: whoever
/// has it can bind an account to the platform until it is used or expires.
#[derive(Debug, Clone, Deserialize)]
pub struct PreAuthCode {
    pub pre_auth_code: SecretString,
    pub expires_in: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuncScopeCategory {
    pub id: u32,
}

/// One granted permission set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuncInfo {
    pub funcscope_category: FuncScopeCategory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_info: Option<serde_json::Value>,
}

/// `authorization_info` of `api_query_auth` and `api_get_authorizer_info`. The tokens are only
/// present when the account granted API permissions.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizationInfo {
    pub authorizer_appid: AppId,
    #[serde(default)]
    pub authorizer_access_token: Option<SecretString>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub authorizer_refresh_token: Option<SecretString>,
    #[serde(default)]
    pub func_info: Vec<FuncInfo>,
}

impl AuthorizationInfo {
    /// Permission set ids actually granted (`func_info[].funcscope_category.id`).
    pub fn granted_permission_ids(&self) -> Vec<u32> {
        self.func_info
            .iter()
            .map(|f| f.funcscope_category.id)
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct QueryAuth {
    pub authorization_info: AuthorizationInfo,
}

/// `api_authorizer_token` answer; the refresh token may come back rotated.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizerAccessToken {
    pub authorizer_access_token: SecretString,
    pub expires_in: i64,
    #[serde(default)]
    pub authorizer_refresh_token: Option<SecretString>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdInfo {
    pub id: i64,
}

/// `authorizer_info`: the documented fields typed, everything else kept in `extra`, so the whole
/// profile round-trips through `serde_json::to_value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizerInfo {
    #[serde(default)]
    pub nick_name: String,
    #[serde(default)]
    pub head_img: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type_info: Option<IdInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_type_info: Option<IdInfo>,
    /// Original id `gh_…`.
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub qrcode_url: String,
    #[serde(default)]
    pub principal_name: String,
    #[serde(default)]
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_info: Option<serde_json::Value>,
    /// Present only for mini programs.
    #[serde(
        rename = "MiniProgramInfo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mini_program_info: Option<serde_json::Value>,
    /// The account's state (api_get_authorizer_info's `account_status`); absent in older
    /// answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_status: Option<AccountStatus>,
    /// How the mini program was registered (`register_type`: 0 normally, 2 reusing an official
    /// account's subject, 6 enterprise fast registration, 13 trial, 16 personal, 19 a trial made
    /// formal, and others the page lists); kept as WeChat's number, shown, never matched on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_type: Option<i64>,
    /// Whether a phone and an email are bound (`basic_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_config: Option<BasicConfig>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

super::icp::code_enum!(
    /// api_get_authorizer_info's `account_status`.
    AccountStatus {
        /// 1 正常.
        Normal = 1,
        /// 14 已注销.
        Deregistered = 14,
        /// 16 已封禁.
        Banned = 16,
        /// 18 已告警.
        Warned = 18,
        /// 19 已冻结.
        Frozen = 19,
    }
);

/// api_get_authorizer_info's `basic_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicConfig {
    #[serde(default)]
    pub is_phone_configured: bool,
    #[serde(default)]
    pub is_email_configured: bool,
}

impl AuthorizerInfo {
    /// Mini programs, and only they, carry `MiniProgramInfo`.
    pub fn is_mini_program(&self) -> bool {
        self.mini_program_info.is_some()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizerInfoResponse {
    pub authorizer_info: AuthorizerInfo,
    pub authorization_info: AuthorizationInfo,
}

impl AuthorizerInfoResponse {
    /// The stored profile of this authorizer: every field WeChat returned kept in `profile`.
    pub fn to_authorizer(
        &self,
        customer_id: Option<String>,
        authorized_at: UnixTime,
        now: UnixTime,
    ) -> crate::store::Authorizer {
        let i = &self.authorizer_info;
        crate::store::Authorizer {
            appid: self.authorization_info.authorizer_appid.clone(),
            status: crate::store::AuthorizerStatus::Authorized,
            customer_id,
            nick_name: i.nick_name.clone(),
            user_name: i.user_name.clone(),
            principal_name: i.principal_name.clone(),
            is_mini_program: i.is_mini_program(),
            func_info: self.authorization_info.granted_permission_ids(),
            profile: serde_json::to_value(i).unwrap_or_default(),
            authorized_at,
            updated_at: now,
            customer_moves: Vec::new(),
        }
    }
}

/// One item of `api_get_authorizer_list`; `refresh_token` may be missing.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizerListItem {
    pub authorizer_appid: String,
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    pub auth_time: UnixTime,
}

impl AuthorizerListItem {
    pub fn appid(&self) -> Option<AppId> {
        AppId::parse(&self.authorizer_appid).ok()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizerList {
    #[serde(default)]
    pub total_count: u64,
    #[serde(default)]
    pub list: Vec<AuthorizerListItem>,
}

/// `api_get_authorizer_list` returns at most 500 per page.
pub const AUTHORIZER_LIST_MAX_COUNT: u32 = 500;

/// A draft in the template drafts box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateDraft {
    pub draft_id: u64,
    #[serde(default)]
    pub create_time: UnixTime,
    #[serde(default)]
    pub user_version: String,
    #[serde(default)]
    pub user_desc: String,
    #[serde(default)]
    pub source_miniprogram_appid: String,
    #[serde(default)]
    pub source_miniprogram: String,
    #[serde(default)]
    pub developer: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DraftList {
    #[serde(default)]
    pub draft_list: Vec<TemplateDraft>,
}

/// Template type: 0 normal, 1 standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum TemplateType {
    Normal,
    Standard,
}

impl From<TemplateType> for u8 {
    fn from(t: TemplateType) -> u8 {
        match t {
            TemplateType::Normal => 0,
            TemplateType::Standard => 1,
        }
    }
}
impl TryFrom<u8> for TemplateType {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(TemplateType::Normal),
            1 => Ok(TemplateType::Standard),
            o => Err(format!("unknown template_type {o}")),
        }
    }
}

/// A template in the template library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub template_id: u64,
    #[serde(default)]
    pub create_time: UnixTime,
    #[serde(default)]
    pub user_version: String,
    #[serde(default)]
    pub user_desc: String,
    #[serde(default)]
    pub template_type: Option<u8>,
    #[serde(default)]
    pub source_miniprogram_appid: String,
    #[serde(default)]
    pub source_miniprogram: String,
    #[serde(default)]
    pub developer: String,
    #[serde(default)]
    pub category_list: Vec<serde_json::Value>,
    #[serde(default)]
    pub audit_scene: Option<i64>,
    /// Standard templates only: 0 未提审, 1 审核中, 2 驳回, 3 通过, 4 提审中, 5 提审失败.
    #[serde(default)]
    pub audit_status: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TemplateList {
    #[serde(default)]
    pub template_list: Vec<Template>,
}

/// Serializes a secret for a request body (the only place a secret leaves in JSON).
fn expose<S: serde::Serializer>(s: &&SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

/// `api_component_token`: a new component token from the appsecret and the latest ticket.
#[derive(Serialize)]
pub struct ApiComponentToken<'a> {
    pub component_appid: &'a AppId,
    #[serde(serialize_with = "expose")]
    pub component_appsecret: &'a SecretString,
    #[serde(serialize_with = "expose")]
    pub component_verify_ticket: &'a SecretString,
}

/// `api_create_preauthcode`: a single-use code for one authorization link.
#[derive(Serialize)]
pub struct ApiCreatePreauthcode<'a> {
    pub component_appid: &'a AppId,
}

/// `api_query_auth`: exchanges the `auth_code` (single use) for the authorizer's tokens.
#[derive(Serialize)]
pub struct ApiQueryAuth<'a> {
    pub component_appid: &'a AppId,
    pub authorization_code: &'a str,
}

/// `api_authorizer_token`: refreshes an authorizer token; the refresh token may rotate.
#[derive(Serialize)]
pub struct ApiAuthorizerToken<'a> {
    pub component_appid: &'a AppId,
    pub authorizer_appid: &'a AppId,
    #[serde(serialize_with = "expose")]
    pub authorizer_refresh_token: &'a SecretString,
}

/// `api_get_authorizer_info`: the authorizer's profile and granted permissions.
#[derive(Serialize)]
pub struct ApiGetAuthorizerInfo<'a> {
    pub component_appid: &'a AppId,
    pub authorizer_appid: &'a AppId,
}

/// `api_get_authorizer_list`: one page (`count` at most [`AUTHORIZER_LIST_MAX_COUNT`]).
#[derive(Serialize)]
pub struct ApiGetAuthorizerList<'a> {
    pub component_appid: &'a AppId,
    pub offset: u32,
    pub count: u32,
}

/// `api_start_push_ticket`: asks WeChat to push a ticket now (no token: works before the first
/// ticket arrives).
#[derive(Serialize)]
pub struct ApiStartPushTicket<'a> {
    pub component_appid: &'a AppId,
    #[serde(serialize_with = "expose")]
    pub component_secret: &'a SecretString,
}

/// `gettemplatedraftlist`.
#[derive(Serialize)]
pub struct GetTemplateDraftList;

/// `addtotemplate`: a draft into the template library.
#[derive(Serialize)]
pub struct AddToTemplate {
    pub draft_id: u64,
    pub template_type: TemplateType,
}

/// `gettemplatelist`, optionally filtered by type (a query parameter).
#[derive(Serialize)]
pub struct GetTemplateList {
    pub template_type: Option<TemplateType>,
}

impl GetTemplateList {
    /// The query parameters besides the token ([`super::endpoint::Endpoint::query`]).
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        self.template_type
            .map(|t| ("template_type", u8::from(t).to_string()))
            .into_iter()
            .collect()
    }
}

/// `deletetemplate`.
#[derive(Serialize)]
pub struct DeleteTemplate {
    pub template_id: u64,
}

/// The name of a permission set (权限集) by id, in Chinese and English, for the ones a mini
/// program provider meets; others are shown by number. Source: 权限集列表,
/// `doc/oplatform/Third-party_Platforms/2.0/product/miniprogram_authority.html`.
pub fn permission_set_name(id: u32) -> Option<(&'static str, &'static str)> {
    Some(match id {
        1 => ("消息管理权限", "message management"),
        2 => ("用户管理权限", "user management"),
        17 => ("帐号管理权限", "account management"),
        18 => (
            "开发管理与数据分析权限",
            "development management and data analysis",
        ),
        19 => ("客服消息管理权限", "customer service messages"),
        25 => ("开放平台帐号管理权限", "Open Platform account management"),
        30 => ("小程序基本信息设置权限", "basic information settings"),
        _ => return None,
    })
}

/// `modify_wxa_jump_domain` (component token as `access_token`): the platform's registered
/// mini-program business domains, hosts without scheme joined by `;`. Only these (and their
/// subdomains) can be given to an authorized mini program with `setwebviewdomain` (89021).
#[derive(Debug, Serialize)]
pub struct ModifyWxaJumpDomain {
    pub action: super::wxa::DomainAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wxa_jump_h5_domain: Option<String>,
}

/// The platform's business domains after a `modify_wxa_jump_domain`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WxaJumpDomains {
    #[serde(default)]
    pub testing_wxa_jump_h5_domain: String,
    #[serde(default)]
    pub published_wxa_jump_h5_domain: String,
}

/// `modify_wxa_server_domain` (component token as `access_token`, modify_server_domain.html):
/// the platform's mini-program server domains, hosts without scheme joined by `;`. Once set,
/// `modify_domain` gives an authorized mini program only these (85017 otherwise). Without
/// `is_modify_published_together` only the testing list changes.
#[derive(Debug, Serialize)]
pub struct ModifyWxaServerDomain {
    pub action: super::wxa::DomainAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wxa_server_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_modify_published_together: Option<bool>,
}

/// The platform's server domains after a `modify_wxa_server_domain` (`;`-joined hosts);
/// `invalid_wxa_server_domain` names those that did not pass validation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WxaServerDomains {
    #[serde(default)]
    pub testing_wxa_server_domain: String,
    #[serde(default)]
    pub published_wxa_server_domain: String,
    #[serde(default)]
    pub invalid_wxa_server_domain: String,
}

impl WxaServerDomains {
    fn split(s: &str) -> Vec<&str> {
        s.split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .collect()
    }
    pub fn testing(&self) -> Vec<&str> {
        Self::split(&self.testing_wxa_server_domain)
    }
    pub fn published(&self) -> Vec<&str> {
        Self::split(&self.published_wxa_server_domain)
    }
    pub fn invalid(&self) -> Vec<&str> {
        Self::split(&self.invalid_wxa_server_domain)
    }
}

/// `get_domain_confirmfile` (component token as `access_token`): the check file to put at the
/// root of a business domain before registering it.
#[derive(Debug, Serialize)]
pub struct GetDomainConfirmFile {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainConfirmFile {
    pub file_name: String,
    pub file_content: String,
}

/// `openapi/quota/get` with the component token: the platform's daily quota of one of its own
/// APIs (`cgi_path` like `/cgi-bin/component/api_query_auth`; 76021 unknown, 76022 not the
/// platform's). For an authorizer's API use [`super::wxa::GetApiQuota`].
#[derive(Debug, Serialize)]
pub struct GetComponentApiQuota {
    pub cgi_path: String,
}

/// `openapi/rid/get` with the component token: what a failed call of the platform's own was
/// (76001 unknown or expired after 7 days, 76002 malformed, 76003 another account's).
#[derive(Debug, Serialize)]
pub struct GetComponentRidInfo {
    pub rid: String,
}
