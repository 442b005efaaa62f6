//! Component (第三方平台) endpoints and the template library, called with the
//! `component_access_token`. These are the low-level calls: they take the token as an argument.
//! [`super::TokenManager::component`] wraps them with automatic token handling.

use super::client::{Auth, Empty, WechatClient};
use super::error::WechatResult;
use crate::domain::{AppId, UnixTime};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub mod endpoint {
    pub const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
    pub const CREATE_PREAUTHCODE: &str = "/cgi-bin/component/api_create_preauthcode";
    pub const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";
    pub const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
    pub const GET_AUTHORIZER_INFO: &str = "/cgi-bin/component/api_get_authorizer_info";
    pub const GET_AUTHORIZER_LIST: &str = "/cgi-bin/component/api_get_authorizer_list";
    pub const START_PUSH_TICKET: &str = "/cgi-bin/component/api_start_push_ticket";
    pub const GET_TEMPLATE_DRAFT_LIST: &str = "/wxa/gettemplatedraftlist";
    pub const ADD_TO_TEMPLATE: &str = "/wxa/addtotemplate";
    pub const GET_TEMPLATE_LIST: &str = "/wxa/gettemplatelist";
    pub const DELETE_TEMPLATE: &str = "/wxa/deletetemplate";
}

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
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
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
struct DraftList {
    #[serde(default)]
    draft_list: Vec<TemplateDraft>,
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
struct TemplateList {
    #[serde(default)]
    template_list: Vec<Template>,
}

impl WechatClient {
    /// `api_component_token`: a new component token from the appsecret and the latest ticket.
    pub async fn api_component_token(
        &self,
        component_appid: &AppId,
        component_appsecret: &SecretString,
        component_verify_ticket: &SecretString,
    ) -> WechatResult<ComponentAccessToken> {
        let body = json!({
            "component_appid": component_appid.as_str(),
            "component_appsecret": component_appsecret.expose_secret(),
            "component_verify_ticket": component_verify_ticket.expose_secret(),
        });
        self.post_json(endpoint::COMPONENT_TOKEN, Auth::None, &[], &body)
            .await
    }

    /// `api_create_preauthcode`: a single-use code for one authorization link.
    pub async fn api_create_preauthcode(
        &self,
        component_token: &SecretString,
        component_appid: &AppId,
    ) -> WechatResult<PreAuthCode> {
        let body = json!({ "component_appid": component_appid.as_str() });
        self.post_json(
            endpoint::CREATE_PREAUTHCODE,
            Auth::ComponentAccessToken(component_token),
            &[],
            &body,
        )
        .await
    }

    /// `api_query_auth`: exchanges the `auth_code` for the authorizer's tokens and permissions.
    pub async fn api_query_auth(
        &self,
        component_token: &SecretString,
        component_appid: &AppId,
        authorization_code: &str,
    ) -> WechatResult<QueryAuth> {
        let body = json!({
            "component_appid": component_appid.as_str(),
            "authorization_code": authorization_code,
        });
        self.post_json(
            endpoint::QUERY_AUTH,
            Auth::ComponentAccessToken(component_token),
            &[],
            &body,
        )
        .await
    }

    /// `api_authorizer_token`: refreshes an authorizer token with its refresh token.
    pub async fn api_authorizer_token(
        &self,
        component_token: &SecretString,
        component_appid: &AppId,
        authorizer_appid: &AppId,
        authorizer_refresh_token: &SecretString,
    ) -> WechatResult<AuthorizerAccessToken> {
        let body = json!({
            "component_appid": component_appid.as_str(),
            "authorizer_appid": authorizer_appid.as_str(),
            "authorizer_refresh_token": authorizer_refresh_token.expose_secret(),
        });
        self.post_json(
            endpoint::AUTHORIZER_TOKEN,
            Auth::ComponentAccessToken(component_token),
            &[],
            &body,
        )
        .await
    }

    /// `api_get_authorizer_info`: the authorizer's profile and granted permissions.
    pub async fn api_get_authorizer_info(
        &self,
        component_token: &SecretString,
        component_appid: &AppId,
        authorizer_appid: &AppId,
    ) -> WechatResult<AuthorizerInfoResponse> {
        let body = json!({
            "component_appid": component_appid.as_str(),
            "authorizer_appid": authorizer_appid.as_str(),
        });
        self.post_json(
            endpoint::GET_AUTHORIZER_INFO,
            Auth::ComponentAccessToken(component_token),
            &[],
            &body,
        )
        .await
    }

    /// `api_get_authorizer_list`: one page (`count` is capped at 500).
    pub async fn api_get_authorizer_list(
        &self,
        component_token: &SecretString,
        component_appid: &AppId,
        offset: u32,
        count: u32,
    ) -> WechatResult<AuthorizerList> {
        let body = json!({
            "component_appid": component_appid.as_str(),
            "offset": offset,
            "count": count.clamp(1, AUTHORIZER_LIST_MAX_COUNT),
        });
        self.post_json(
            endpoint::GET_AUTHORIZER_LIST,
            Auth::ComponentAccessToken(component_token),
            &[],
            &body,
        )
        .await
    }

    /// `api_start_push_ticket`: asks WeChat to push a ticket now (no token needed).
    pub async fn api_start_push_ticket(
        &self,
        component_appid: &AppId,
        component_secret: &SecretString,
    ) -> WechatResult<()> {
        let body = json!({
            "component_appid": component_appid.as_str(),
            "component_secret": component_secret.expose_secret(),
        });
        let _: Empty = self
            .post_json(endpoint::START_PUSH_TICKET, Auth::None, &[], &body)
            .await?;
        Ok(())
    }

    /// `gettemplatedraftlist` (component token).
    pub async fn get_template_draft_list(
        &self,
        component_token: &SecretString,
    ) -> WechatResult<Vec<TemplateDraft>> {
        let r: DraftList = self
            .get_json(
                endpoint::GET_TEMPLATE_DRAFT_LIST,
                Auth::AccessToken(component_token),
                &[],
            )
            .await?;
        Ok(r.draft_list)
    }

    /// `addtotemplate` (component token).
    pub async fn add_to_template(
        &self,
        component_token: &SecretString,
        draft_id: u64,
        template_type: TemplateType,
    ) -> WechatResult<()> {
        let body = json!({ "draft_id": draft_id, "template_type": u8::from(template_type) });
        let _: Empty = self
            .post_json(
                endpoint::ADD_TO_TEMPLATE,
                Auth::AccessToken(component_token),
                &[],
                &body,
            )
            .await?;
        Ok(())
    }

    /// `gettemplatelist` (GET; component token), optionally filtered by type.
    pub async fn get_template_list(
        &self,
        component_token: &SecretString,
        template_type: Option<TemplateType>,
    ) -> WechatResult<Vec<Template>> {
        let t = template_type.map(|t| u8::from(t).to_string());
        let query: Vec<(&str, &str)> = t.iter().map(|t| ("template_type", t.as_str())).collect();
        let r: TemplateList = self
            .get_json(
                endpoint::GET_TEMPLATE_LIST,
                Auth::AccessToken(component_token),
                &query,
            )
            .await?;
        Ok(r.template_list)
    }

    /// `deletetemplate` (component token).
    pub async fn delete_template(
        &self,
        component_token: &SecretString,
        template_id: u64,
    ) -> WechatResult<()> {
        let body = json!({ "template_id": template_id });
        let _: Empty = self
            .post_json(
                endpoint::DELETE_TEMPLATE,
                Auth::AccessToken(component_token),
                &[],
                &body,
            )
            .await?;
        Ok(())
    }
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
