//! Mini-program code management (`/wxa/*`), called with the authorizer's access token: one
//! declaration each ([`super::endpoint`]), sent by [`super::WechatClient::call`] or, with
//! automatic token handling (refresh once and retry once when WeChat rejects the token),
//! [`super::WxaApi::call`].

use super::client::Binary;
use super::endpoint::FilePart;
use crate::domain::{AuditId, AuditStatus, UnixTime};
use serde::{Deserialize, Serialize};

/// `/wxa/commit`: uploads template code with `ext_json` (also creates the 体验版).
/// `ext_json` travels as a JSON **string** holding JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    pub template_id: u64,
    pub ext_json: String,
    /// At most 64 characters.
    pub user_version: String,
    pub user_desc: String,
}

impl Commit {
    /// Builds the request from an `ext_json` object (serialized to the string WeChat wants).
    pub fn new(
        template_id: u64,
        ext_json: &serde_json::Value,
        user_version: impl Into<String>,
        user_desc: impl Into<String>,
    ) -> Self {
        Commit {
            template_id,
            ext_json: ext_json.to_string(),
            user_version: user_version.into(),
            user_desc: user_desc.into(),
        }
    }
}

/// The experience-version QR code image.
#[derive(Clone, PartialEq, Eq)]
pub struct QrCode {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for QrCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrCode")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl From<Binary> for QrCode {
    fn from(b: Binary) -> Self {
        QrCode {
            content_type: b.content_type,
            bytes: b.bytes,
        }
    }
}

/// A category configured on the mini program (`get_category`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub first_class: String,
    pub second_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_class: Option<String>,
    pub first_id: u64,
    pub second_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct CategoryList {
    #[serde(default)]
    pub category_list: Vec<Category>,
}

#[derive(Debug, Deserialize)]
pub struct PageList {
    #[serde(default)]
    pub page_list: Vec<String>,
}

/// One page of `submit_audit`'s `item_list` (at most 5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Space-separated, at most 10 tags of at most 20 chars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_id: Option<u64>,
    /// At most 32 chars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PreviewInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub video_id_list: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pic_id_list: Vec<String>,
}

/// `/wxa/submit_audit`, answering the new audit id; every field is optional on the wire.
/// Unknown fields are refused when it is read from an operator's request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitAudit {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item_list: Vec<AuditItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_info: Option<PreviewInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_info: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_stuff: Option<String>,
    /// Passed through as given (inner fields are not pinned down by the docs we read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ugc_declare: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_api_not_use: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_path: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SubmitAuditResponse {
    pub auditid: AuditId,
}

fn split_screenshots(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split('|')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `get_auditstatus` answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditStatusInfo {
    pub status: i64,
    #[serde(default)]
    pub reason: Option<String>,
    /// `|`-separated media ids.
    #[serde(default)]
    pub screenshot: Option<String>,
}

impl AuditStatusInfo {
    pub fn audit_status(&self) -> Option<AuditStatus> {
        AuditStatus::from_code(self.status)
    }
    pub fn screenshots(&self) -> Vec<String> {
        split_screenshots(&self.screenshot)
    }
}

/// `get_latest_auditstatus` answer (note the capitalised `ScreenShot` key on the wire).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LatestAuditStatus {
    pub auditid: AuditId,
    pub status: i64,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default, rename = "ScreenShot", alias = "screenshot")]
    pub screenshot: Option<String>,
    #[serde(default)]
    pub user_version: Option<String>,
    #[serde(default)]
    pub user_desc: Option<String>,
    #[serde(default)]
    pub submit_audit_time: Option<UnixTime>,
}

impl LatestAuditStatus {
    pub fn audit_status(&self) -> Option<AuditStatus> {
        AuditStatus::from_code(self.status)
    }
    pub fn screenshots(&self) -> Vec<String> {
        split_screenshots(&self.screenshot)
    }
}

/// A version that `revertcoderelease` can roll back to (the last 5 are kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryVersion {
    pub app_version: u64,
    #[serde(default)]
    pub user_version: String,
    #[serde(default)]
    pub user_desc: String,
    #[serde(default)]
    pub commit_time: UnixTime,
}

#[derive(Debug, Deserialize)]
pub struct HistoryList {
    #[serde(default)]
    pub version_list: Vec<HistoryVersion>,
}

/// `change_visitstatus` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitAction {
    Open,
    Close,
}

/// `getvisitstatus`: 0 paused, 1 serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct VisitStatus {
    pub status: i64,
}

impl VisitStatus {
    pub fn is_paused(&self) -> bool {
        self.status == 0
    }
}

/// `getversioninfo`: the experience (trial) version and the online version, each absent when
/// there is none (get_versioninfo.html).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct VersionInfo {
    #[serde(default)]
    pub exp_info: Option<ExpInfo>,
    #[serde(default)]
    pub release_info: Option<ReleaseInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ExpInfo {
    #[serde(default)]
    pub exp_time: UnixTime,
    #[serde(default)]
    pub exp_version: String,
    #[serde(default)]
    pub exp_desc: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ReleaseInfo {
    #[serde(default)]
    pub release_time: UnixTime,
    #[serde(default)]
    pub release_version: String,
    #[serde(default)]
    pub release_desc: String,
}

/// `/wxa/grayrelease`: a phased release. `gray_percentage` is 0–100; with 0, one of the flags
/// is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrayRelease {
    pub gray_percentage: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_experiencer_first: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_debuger_first: Option<bool>,
}

/// `gray_release_plan`: status 0 初始, 1 执行中, 2 暂停中, 3 执行完毕, 4 被删除.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrayReleasePlan {
    pub status: i64,
    #[serde(default)]
    pub create_timestamp: UnixTime,
    #[serde(default)]
    pub gray_percentage: u8,
    #[serde(default)]
    pub support_experiencer_first: bool,
    #[serde(default)]
    pub support_debuger_first: bool,
}

#[derive(Debug, Deserialize)]
pub struct GrayReleasePlanResponse {
    pub gray_release_plan: GrayReleasePlan,
}

/// `modify_domain` / `setwebviewdomain` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainAction {
    Add,
    Delete,
    Set,
    Get,
}

/// The server domain lists, as sent to and echoed by `/wxa/modify_domain`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerDomains {
    #[serde(default)]
    pub requestdomain: Vec<String>,
    #[serde(default)]
    pub wsrequestdomain: Vec<String>,
    #[serde(default)]
    pub uploaddomain: Vec<String>,
    #[serde(default)]
    pub downloaddomain: Vec<String>,
    #[serde(default)]
    pub udpdomain: Vec<String>,
    #[serde(default)]
    pub tcpdomain: Vec<String>,
}

/// A `modify_domain` answer: the lists as they now stand, and what WeChat filtered out of the
/// request. Apart from [`ServerDomains`] so a request (and an operator's body built on it)
/// never carries the answer-only `invalid_*` fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModifyDomainAnswer {
    #[serde(flatten)]
    pub domains: ServerDomains,
    #[serde(flatten)]
    pub invalid: InvalidServerDomains,
}

/// The entries of a `modify_domain` that did not pass: not the list's scheme, or a host the
/// platform has not registered with `modify_wxa_server_domain`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InvalidServerDomains {
    #[serde(
        default,
        rename = "invalid_requestdomain",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub requestdomain: Vec<String>,
    #[serde(
        default,
        rename = "invalid_wsrequestdomain",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub wsrequestdomain: Vec<String>,
    #[serde(
        default,
        rename = "invalid_uploaddomain",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uploaddomain: Vec<String>,
    #[serde(
        default,
        rename = "invalid_downloaddomain",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub downloaddomain: Vec<String>,
    #[serde(
        default,
        rename = "invalid_udpdomain",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub udpdomain: Vec<String>,
    #[serde(
        default,
        rename = "invalid_tcpdomain",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tcpdomain: Vec<String>,
}

impl InvalidServerDomains {
    pub fn is_empty(&self) -> bool {
        [
            &self.requestdomain,
            &self.wsrequestdomain,
            &self.uploaddomain,
            &self.downloaddomain,
            &self.udpdomain,
            &self.tcpdomain,
        ]
        .iter()
        .all(|l| l.is_empty())
    }
}

/// The web-view (business) domains of `/wxa/setwebviewdomain`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WebviewDomains {
    #[serde(default)]
    pub webviewdomain: Vec<String>,
}

/// `queryquota`: the platform-wide monthly submit quota and expedite count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuota {
    pub rest: i64,
    pub limit: i64,
    #[serde(default)]
    pub speedup_rest: i64,
    #[serde(default)]
    pub speedup_limit: i64,
}

/// `/wxa/get_qrcode`: the experience QR code image; `path` is URL-encoded once, as a query
/// parameter.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GetQrcode {
    pub path: Option<String>,
}

impl GetQrcode {
    /// The query parameters besides the token ([`super::endpoint::Endpoint::query`]).
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        self.path.iter().map(|p| ("path", p.clone())).collect()
    }
}

#[derive(Serialize)]
pub struct GetCategory;

#[derive(Serialize)]
pub struct GetPage;

#[derive(Serialize)]
pub struct GetAuditstatus {
    pub auditid: AuditId,
}

#[derive(Serialize)]
pub struct GetLatestAuditstatus;

/// `/wxa/undocodeaudit`: withdraws the pending audit (5 a day, 10 a month).
#[derive(Serialize)]
pub struct UndoCodeAudit;

#[derive(Serialize)]
pub struct SpeedupAudit {
    pub auditid: AuditId,
}

/// `/wxa/release`: releases the approved version; the body must be `{}`.
#[derive(Serialize)]
pub struct Release {}

/// `/wxa/revertcoderelease`: rolls back to the previous version, or to `app_version`.
#[derive(Serialize)]
pub struct RevertCodeRelease {
    pub app_version: Option<u64>,
}

impl RevertCodeRelease {
    /// The query parameters besides the token ([`super::endpoint::Endpoint::query`]).
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        self.app_version
            .map(|v| ("app_version", v.to_string()))
            .into_iter()
            .collect()
    }
}

/// The read-only form of `/wxa/revertcoderelease` (`action=get_history_version`): safe to
/// repeat, unlike the rollback on the same path.
#[derive(Serialize)]
pub struct GetHistoryVersion;

impl GetHistoryVersion {
    /// The query parameters besides the token ([`super::endpoint::Endpoint::query`]).
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        vec![("action", "get_history_version".to_owned())]
    }
}

#[derive(Serialize)]
pub struct ChangeVisitstatus {
    pub action: VisitAction,
}

/// `/wxa/getvisitstatus`; the body must be `{}`.
#[derive(Serialize)]
pub struct GetVisitstatus {}

/// `/wxa/getversioninfo`; the body must be `{}`.
#[derive(Serialize)]
pub struct GetVersionInfo {}

#[derive(Serialize)]
pub struct GetGrayReleasePlan;

#[derive(Serialize)]
pub struct RevertGrayRelease;

/// `/wxa/modify_domain`: the lists travel beside `action`, except for `get`.
#[derive(Serialize)]
pub struct ModifyDomain {
    pub action: DomainAction,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub domains: Option<ServerDomains>,
}

/// `/wxa/setwebviewdomain`: the list travels beside `action`, except for `get`.
#[derive(Serialize)]
pub struct SetWebviewDomain {
    pub action: DomainAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webviewdomain: Option<Vec<String>>,
}

/// `/wxa/queryquota`: the platform's monthly submit quota and speed-ups left.
#[derive(Serialize)]
pub struct QueryQuota;

/// `/wxa/bind_tester`: makes a WeChat user an experience member (a second bind answers 85004).
#[derive(Debug, Serialize)]
pub struct BindTester {
    pub wechatid: String,
}

/// The member's stable id in this mini program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundTester {
    pub userstr: String,
}

/// `/wxa/unbind_tester`: one of the two names the member.
#[derive(Debug, Serialize)]
pub struct UnbindTester {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechatid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userstr: Option<String>,
}

/// `/wxa/memberauth` with `{"action": "get_experiencer"}`: the experience members.
#[derive(Debug, Serialize)]
pub struct GetExperiencer {
    action: &'static str,
}

impl Default for GetExperiencer {
    fn default() -> Self {
        GetExperiencer {
            action: "get_experiencer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TesterList {
    #[serde(default)]
    pub members: Vec<BoundTester>,
}

/// Which privacy guide: the one online (1) or the development one (2, what the next release
/// carries; WeChat's default).
pub const PRIVACY_ONLINE: u8 = 1;
pub const PRIVACY_DEVELOPMENT: u8 = 2;

/// One kind of user data the mini program collects, and what for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettingItem {
    pub privacy_key: String,
    pub privacy_text: String,
}

/// `/cgi-bin/component/setprivacysetting` (called with the authorizer's token): the user
/// privacy guide. `owner_setting` needs `notice_method` and one contact; it is passed through as
/// given. Setting the same guide again changes nothing, so it may be repeated.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPrivacySetting {
    #[serde(default = "privacy_development")]
    pub privacy_ver: u8,
    pub owner_setting: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub setting_list: Vec<PrivacySettingItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_privacy_info_list: Option<serde_json::Value>,
}

fn privacy_development() -> u8 {
    PRIVACY_DEVELOPMENT
}

/// `/cgi-bin/component/getprivacysetting` (authorizer's token).
#[derive(Debug, Serialize)]
pub struct GetPrivacySetting {
    pub privacy_ver: u8,
}

/// The privacy guide as WeChat holds it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PrivacySetting {
    /// 1 when code has been committed (the keys it uses are then in `privacy_list`).
    #[serde(default)]
    pub code_exist: i64,
    #[serde(default)]
    pub privacy_list: Vec<String>,
    #[serde(default)]
    pub setting_list: Vec<serde_json::Value>,
    #[serde(default)]
    pub update_time: UnixTime,
    #[serde(default)]
    pub owner_setting: serde_json::Value,
    #[serde(default)]
    pub privacy_desc: serde_json::Value,
}

/// `/wxa/security/get_code_privacy_info`: the privacy interfaces the committed code uses without
/// permission or without a declaration in ext.json. 61039 while the detection after a commit
/// still runs.
#[derive(Debug, Serialize)]
pub struct GetCodePrivacyInfo;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CodePrivacyInfo {
    #[serde(default)]
    pub without_auth_list: Vec<String>,
    #[serde(default)]
    pub without_conf_list: Vec<String>,
}

/// `/wxa/modify_domain_directly` (modifyServerDomainDirectly): server domains set on the mini
/// program itself, not limited to the platform's list; they take effect with the next commit or
/// release. Only `get` answers the lists.
#[derive(Serialize)]
pub struct ModifyDomainDirectly {
    pub action: DomainAction,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub domains: Option<ServerDomains>,
}

/// `/wxa/get_effective_domain` (getEffectiveServerDomain); the body is `{}`.
#[derive(Serialize)]
pub struct GetEffectiveDomain {}

/// The server domains by where they were set, and those in effect.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct EffectiveDomains {
    /// Set on the public platform (mp.weixin.qq.com).
    #[serde(default)]
    pub mp_domain: ServerDomains,
    /// Set with `modify_domain`.
    #[serde(default)]
    pub third_domain: ServerDomains,
    /// Set with `modify_domain_directly`.
    #[serde(default)]
    pub direct_domain: ServerDomains,
    /// In effect since the last commit or release.
    #[serde(default)]
    pub effective_domain: ServerDomains,
}

/// `/wxa/setwebviewdomain_directly` (modifyJumpDomainDirectly): business domains set on the mini
/// program itself; each domain needs the check file at its root. Only `get` answers the list.
#[derive(Serialize)]
pub struct SetWebviewDomainDirectly {
    pub action: DomainAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webviewdomain: Option<Vec<String>>,
}

/// `/wxa/security/apply_privacy_interface` (apply_privacy_interface.html): applies for a
/// privacy interface (`wx.getLocation`…, case-sensitive); `content` at most 300 characters,
/// `pic_list` at most 10 image URLs. Each call files a new application.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyPrivacyInterface {
    pub api_name: String,
    pub content: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub url_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pic_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub video_list: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PrivacyApplication {
    pub audit_id: u64,
}

/// `/wxa/security/get_privacy_interface`: the interfaces that need an application, and where
/// each application stands.
#[derive(Debug, Serialize)]
pub struct GetPrivacyInterface;

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct PrivacyInterfaceList {
    #[serde(default)]
    pub interface_list: Vec<PrivacyInterface>,
}

/// get_privacy_interface.html: `status` 1 待申请开通, 2 无权限, 3 申请中, 4 申请失败, 5 已开通;
/// `apply_time`, `audit_id` once applied, `fail_reason` when rejected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PrivacyInterface {
    pub api_name: String,
    #[serde(default)]
    pub api_ch_name: String,
    #[serde(default)]
    pub api_desc: String,
    #[serde(default)]
    pub status: u8,
    #[serde(default)]
    pub apply_time: Option<UnixTime>,
    #[serde(default)]
    pub audit_id: Option<u64>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub api_link: String,
    #[serde(default)]
    pub group_name: String,
}

impl PrivacyInterface {
    /// 已开通: the code may use it.
    pub fn is_open(&self) -> bool {
        self.status == 5
    }
}

/// `/wxa/getwxacodeunlimit` (getUnlimitedQRCode): a mini-program code for `scene` (at most 32
/// characters) opening `page`; with `check_path` (WeChat's default) the page must exist in the
/// released version. The answer is an image; an error is JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GetWxaCodeUnlimit {
    pub scene: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_path: Option<bool>,
    /// `release` (default), `trial` or `develop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_color: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_color: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_hyaline: Option<bool>,
}

/// `/wxa/getwxacode` (getQRCode): a mini-program code opening `path` (with its query, at most
/// 1024 characters), for the few codes a business needs: permanent, and with
/// [`CreateWxaQrCode`] at most 100,000 per mini program ever (45029 beyond); 40159 a bad path,
/// 40189 a bad width, 40097 a bad env_version. Only for a released mini program. The answer is
/// an image; an error is JSON.
/// <https://developers.weixin.qq.com/minigame/dev/api-backend/open-api/qr-code/wxacode.get.html>
#[derive(Debug, Clone, Default, Serialize)]
pub struct GetWxaCode {
    pub path: String,
    /// `release` (default), `trial` or `develop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_color: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_color: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_hyaline: Option<bool>,
}

/// `/cgi-bin/wxaapp/createwxaqrcode` (createQRCode): a square QR code opening `path` (at most
/// 128 characters), counted with [`GetWxaCode`] against the 100,000 limit (45029); 40159 a bad
/// path. Only for a released mini program.
/// <https://developers.weixin.qq.com/miniprogram/dev/server/API/qrcode-link/qr-code/api_createqrcode.html>
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateWxaQrCode {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
}

/// `/wxa/uploadmedia` (uploadMediaToCodeAudit): an image (PNG/JPEG/GIF, at most 2 MB) or an MP4
/// video (at most 10 MB) for `submit_audit`'s `preview_info`, as the multipart field `media`
/// (40005 another format, 40006 too large); the `mediaid` lasts 3 days. Each call stores a new
/// copy, so it is not repeated after a lost answer.
#[derive(Clone, Serialize)]
pub struct UploadMedia {
    #[serde(skip)]
    pub filename: String,
    /// `image/png`, `image/jpeg`, `video/mp4`…
    #[serde(skip)]
    pub content_type: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for UploadMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadMedia")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl UploadMedia {
    /// The file the upload carries ([`super::endpoint::Endpoint::file`]).
    pub(super) fn file_part(&self) -> Option<FilePart<'_>> {
        Some(FilePart {
            field: "media",
            filename: &self.filename,
            content_type: &self.content_type,
            bytes: &self.bytes,
        })
    }
}

/// `uploadmedia`'s answer: `type` (`image` or `video`) and the `mediaid` for `preview_info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UploadedMedia {
    #[serde(rename = "type")]
    pub media_type: String,
    pub mediaid: String,
}

/// `openapi/quota/get` with the authorizer's token: this mini program's daily quota of one API
/// (`cgi_path` like `/wxa/get_category`; 76021 unknown, 76022 not the account's). For the
/// platform's own APIs use [`super::component::GetComponentApiQuota`].
#[derive(Debug, Serialize)]
pub struct GetApiQuota {
    pub cgi_path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ApiQuota {
    pub quota: QuotaInfo,
}

/// get_api_quota.html: today's limit, calls and remainder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct QuotaInfo {
    pub daily_limit: u64,
    pub used: u64,
    pub remain: u64,
}

/// `openapi/rid/get` with the authorizer's token: what one of this mini program's failed calls
/// was, by the rid of its errmsg (76001 unknown or older than 7 days, 76002 malformed, 76003 another
/// account's).
#[derive(Debug, Serialize)]
pub struct GetRidInfo {
    pub rid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RidInfo {
    pub request: RidRequest,
}

/// get_rid_info.html's `request`. `request_url` is the query string, token included, as
/// WeChat keeps it: treat it as a secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct RidRequest {
    #[serde(default)]
    pub invoke_time: UnixTime,
    #[serde(default)]
    pub cost_in_ms: u64,
    #[serde(default)]
    pub request_url: String,
    #[serde(default)]
    pub request_body: String,
    #[serde(default)]
    pub response_body: String,
    #[serde(default)]
    pub client_ip: String,
}

impl std::fmt::Debug for RidRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RidRequest")
            .field("invoke_time", &self.invoke_time)
            .field("cost_in_ms", &self.cost_in_ms)
            .field("request_url", &"<hidden: carries the token>")
            .field("request_body", &self.request_body)
            .field("response_body", &self.response_body)
            .field("client_ip", &self.client_ip)
            .finish()
    }
}
