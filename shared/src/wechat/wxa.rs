//! Mini-program code management (`/wxa/*`), called with the authorizer's access token. These
//! are the low-level calls taking the token; [`super::TokenManager::wxa`] wraps them with automatic
//! token handling (refresh once and retry once when WeChat rejects the token).

use super::client::{Auth, Binary, Empty, EmptyBody, WechatClient};
use super::error::WechatResult;
use crate::domain::{AuditId, AuditStatus, UnixTime};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub mod endpoint {
    pub const COMMIT: &str = "/wxa/commit";
    pub const GET_QRCODE: &str = "/wxa/get_qrcode";
    pub const GET_CATEGORY: &str = "/wxa/get_category";
    pub const GET_PAGE: &str = "/wxa/get_page";
    pub const SUBMIT_AUDIT: &str = "/wxa/submit_audit";
    pub const GET_AUDITSTATUS: &str = "/wxa/get_auditstatus";
    pub const GET_LATEST_AUDITSTATUS: &str = "/wxa/get_latest_auditstatus";
    pub const UNDOCODEAUDIT: &str = "/wxa/undocodeaudit";
    pub const SPEEDUPAUDIT: &str = "/wxa/speedupaudit";
    pub const RELEASE: &str = "/wxa/release";
    pub const REVERTCODERELEASE: &str = "/wxa/revertcoderelease";
    pub const CHANGE_VISITSTATUS: &str = "/wxa/change_visitstatus";
    pub const GETVISITSTATUS: &str = "/wxa/getvisitstatus";
    pub const GETVERSIONINFO: &str = "/wxa/getversioninfo";
    pub const GRAYRELEASE: &str = "/wxa/grayrelease";
    pub const GETGRAYRELEASEPLAN: &str = "/wxa/getgrayreleaseplan";
    pub const REVERTGRAYRELEASE: &str = "/wxa/revertgrayrelease";
    pub const MODIFY_DOMAIN: &str = "/wxa/modify_domain";
    pub const SETWEBVIEWDOMAIN: &str = "/wxa/setwebviewdomain";
    pub const QUERYQUOTA: &str = "/wxa/queryquota";
}

/// `/wxa/commit` body. `ext_json` travels as a JSON **string** holding JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitRequest {
    pub template_id: u64,
    pub ext_json: String,
    /// At most 64 characters.
    pub user_version: String,
    pub user_desc: String,
}

impl CommitRequest {
    /// Builds the request from an `ext_json` object (serialized to the string WeChat wants).
    pub fn new(
        template_id: u64,
        ext_json: &serde_json::Value,
        user_version: impl Into<String>,
        user_desc: impl Into<String>,
    ) -> Self {
        CommitRequest {
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
struct CategoryList {
    #[serde(default)]
    category_list: Vec<Category>,
}

#[derive(Debug, Deserialize)]
struct PageList {
    #[serde(default)]
    page_list: Vec<String>,
}

/// One page of `submit_audit`'s `item_list` (at most 5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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

/// `/wxa/submit_audit` body; every field is optional on the wire.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SubmitAuditRequest {
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
struct SubmitAuditResponse {
    auditid: AuditId,
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
struct HistoryList {
    #[serde(default)]
    version_list: Vec<HistoryVersion>,
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

/// `/wxa/grayrelease` body. `gray_percentage` is 0–100; with 0, one of the flags is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrayReleaseRequest {
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
struct GrayReleasePlanResponse {
    gray_release_plan: GrayReleasePlan,
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

impl WechatClient {
    /// `/wxa/commit`: uploads template code with `ext_json` (also creates the 体验版).
    pub async fn commit(&self, token: &SecretString, req: &CommitRequest) -> WechatResult<()> {
        let _: Empty = self
            .post_json(endpoint::COMMIT, Auth::AccessToken(token), &[], req)
            .await?;
        Ok(())
    }

    /// `/wxa/get_qrcode`: the experience QR code image; `path` is URL-encoded once here.
    pub async fn get_qrcode(
        &self,
        token: &SecretString,
        path: Option<&str>,
    ) -> WechatResult<QrCode> {
        let query: Vec<(&str, &str)> = path.iter().map(|p| ("path", *p)).collect();
        let bin = self
            .get_binary(endpoint::GET_QRCODE, Auth::AccessToken(token), &query)
            .await?;
        Ok(bin.into())
    }

    /// `/wxa/get_category`.
    pub async fn get_category(&self, token: &SecretString) -> WechatResult<Vec<Category>> {
        let r: CategoryList = self
            .get_json(endpoint::GET_CATEGORY, Auth::AccessToken(token), &[])
            .await?;
        Ok(r.category_list)
    }

    /// `/wxa/get_page`.
    pub async fn get_page(&self, token: &SecretString) -> WechatResult<Vec<String>> {
        let r: PageList = self
            .get_json(endpoint::GET_PAGE, Auth::AccessToken(token), &[])
            .await?;
        Ok(r.page_list)
    }

    /// `/wxa/submit_audit`: returns the new audit id.
    pub async fn submit_audit(
        &self,
        token: &SecretString,
        req: &SubmitAuditRequest,
    ) -> WechatResult<AuditId> {
        let r: SubmitAuditResponse = self
            .post_json(endpoint::SUBMIT_AUDIT, Auth::AccessToken(token), &[], req)
            .await?;
        Ok(r.auditid)
    }

    /// `/wxa/get_auditstatus`.
    pub async fn get_auditstatus(
        &self,
        token: &SecretString,
        auditid: AuditId,
    ) -> WechatResult<AuditStatusInfo> {
        self.post_json(
            endpoint::GET_AUDITSTATUS,
            Auth::AccessToken(token),
            &[],
            &json!({ "auditid": auditid.0 }),
        )
        .await
    }

    /// `/wxa/get_latest_auditstatus`.
    pub async fn get_latest_auditstatus(
        &self,
        token: &SecretString,
    ) -> WechatResult<LatestAuditStatus> {
        self.get_json(
            endpoint::GET_LATEST_AUDITSTATUS,
            Auth::AccessToken(token),
            &[],
        )
        .await
    }

    /// `/wxa/undocodeaudit`: withdraws the pending audit (5 a day, 10 a month).
    pub async fn undocodeaudit(&self, token: &SecretString) -> WechatResult<()> {
        let _: Empty = self
            .get_json(endpoint::UNDOCODEAUDIT, Auth::AccessToken(token), &[])
            .await?;
        Ok(())
    }

    /// `/wxa/speedupaudit`: asks for an expedited audit.
    pub async fn speedupaudit(&self, token: &SecretString, auditid: AuditId) -> WechatResult<()> {
        let _: Empty = self
            .post_json(
                endpoint::SPEEDUPAUDIT,
                Auth::AccessToken(token),
                &[],
                &json!({ "auditid": auditid.0 }),
            )
            .await?;
        Ok(())
    }

    /// `/wxa/release`: releases the approved version (body `{}`; an empty body gives 44002).
    pub async fn release(&self, token: &SecretString) -> WechatResult<()> {
        let _: Empty = self
            .post_json(
                endpoint::RELEASE,
                Auth::AccessToken(token),
                &[],
                &EmptyBody {},
            )
            .await?;
        Ok(())
    }

    /// `/wxa/revertcoderelease`: rolls back to `app_version`, or to the previous version.
    pub async fn revertcoderelease(
        &self,
        token: &SecretString,
        app_version: Option<u64>,
    ) -> WechatResult<()> {
        let v = app_version.map(|v| v.to_string());
        let query: Vec<(&str, &str)> = v.iter().map(|v| ("app_version", v.as_str())).collect();
        let _: Empty = self
            .get_json(
                endpoint::REVERTCODERELEASE,
                Auth::AccessToken(token),
                &query,
            )
            .await?;
        Ok(())
    }

    /// `/wxa/revertcoderelease?action=get_history_version`: the versions one can roll back to.
    pub async fn get_history_version(
        &self,
        token: &SecretString,
    ) -> WechatResult<Vec<HistoryVersion>> {
        let r: HistoryList = self
            .get_json(
                endpoint::REVERTCODERELEASE,
                Auth::AccessToken(token),
                &[("action", "get_history_version")],
            )
            .await?;
        Ok(r.version_list)
    }

    /// `/wxa/change_visitstatus`: pauses (`Close`) or resumes (`Open`) the service.
    pub async fn change_visitstatus(
        &self,
        token: &SecretString,
        action: VisitAction,
    ) -> WechatResult<()> {
        let _: Empty = self
            .post_json(
                endpoint::CHANGE_VISITSTATUS,
                Auth::AccessToken(token),
                &[],
                &json!({ "action": action }),
            )
            .await?;
        Ok(())
    }

    /// `/wxa/getvisitstatus` (body `{}`).
    pub async fn getvisitstatus(&self, token: &SecretString) -> WechatResult<VisitStatus> {
        self.post_json(
            endpoint::GETVISITSTATUS,
            Auth::AccessToken(token),
            &[],
            &EmptyBody {},
        )
        .await
    }

    /// `/wxa/getversioninfo` (body must be `{}`).
    pub async fn getversioninfo(&self, token: &SecretString) -> WechatResult<VersionInfo> {
        self.post_json(
            endpoint::GETVERSIONINFO,
            Auth::AccessToken(token),
            &[],
            &EmptyBody {},
        )
        .await
    }

    /// `/wxa/grayrelease`.
    pub async fn grayrelease(
        &self,
        token: &SecretString,
        req: &GrayReleaseRequest,
    ) -> WechatResult<()> {
        let _: Empty = self
            .post_json(endpoint::GRAYRELEASE, Auth::AccessToken(token), &[], req)
            .await?;
        Ok(())
    }

    /// `/wxa/getgrayreleaseplan`.
    pub async fn getgrayreleaseplan(&self, token: &SecretString) -> WechatResult<GrayReleasePlan> {
        let r: GrayReleasePlanResponse = self
            .get_json(endpoint::GETGRAYRELEASEPLAN, Auth::AccessToken(token), &[])
            .await?;
        Ok(r.gray_release_plan)
    }

    /// `/wxa/revertgrayrelease`: cancels the gray release.
    pub async fn revertgrayrelease(&self, token: &SecretString) -> WechatResult<()> {
        let _: Empty = self
            .get_json(endpoint::REVERTGRAYRELEASE, Auth::AccessToken(token), &[])
            .await?;
        Ok(())
    }

    /// `/wxa/modify_domain`: for `Get` the lists are not sent; the answer echoes the lists.
    pub async fn modify_domain(
        &self,
        token: &SecretString,
        action: DomainAction,
        domains: &ServerDomains,
    ) -> WechatResult<ServerDomains> {
        let body = if action == DomainAction::Get {
            json!({ "action": action })
        } else {
            let mut v = serde_json::to_value(domains).unwrap_or_else(|_| json!({}));
            v["action"] = json!(action);
            v
        };
        self.post_json(
            endpoint::MODIFY_DOMAIN,
            Auth::AccessToken(token),
            &[],
            &body,
        )
        .await
    }

    /// `/wxa/setwebviewdomain`: the answer carries `webviewdomain` for `Get`.
    pub async fn setwebviewdomain(
        &self,
        token: &SecretString,
        action: DomainAction,
        domains: &WebviewDomains,
    ) -> WechatResult<WebviewDomains> {
        let body = if action == DomainAction::Get {
            json!({ "action": action })
        } else {
            json!({ "action": action, "webviewdomain": domains.webviewdomain })
        };
        self.post_json(
            endpoint::SETWEBVIEWDOMAIN,
            Auth::AccessToken(token),
            &[],
            &body,
        )
        .await
    }

    /// `/wxa/queryquota`.
    pub async fn queryquota(&self, token: &SecretString) -> WechatResult<AuditQuota> {
        self.get_json(endpoint::QUERYQUOTA, Auth::AccessToken(token), &[])
            .await
    }
}
