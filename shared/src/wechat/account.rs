//! Account setup for merchants without a mini program of their own: registering one (快速注册:
//! enterprise, personal, reusing an official account's subject, or a trial mini program made
//! formal later), and its profile (name, avatar, signature, search status, categories). One
//! declaration each ([`super::endpoint`]); every page and errcode is cited in
//! `infra/wechat-sim/README.md` ("Registration and profile").
//!
//! The registrations are slow: the legal person (or the user) confirms in WeChat, and the result
//! is pushed to the authorization-event URL (`notify_third_fasteregister`,
//! `notify_third_fastregisterbetaapp`). A name that hits a keyword and a category that needs a
//! qualification are reviewed; their results are pushed to the message URL
//! (`wxa_nickname_audit`, `wxa_category_audit`) and can be polled ([`QueryNickname`],
//! [`GetSettingCategories`]).
//!
//! Never repeated after a lost answer: every registration (a second create answers 89249 "task
//! running" for 24 hours, or starts a second task), [`SetNickname`], [`ModifyHeadImage`],
//! [`ModifySignature`] (each spends a change of a limited quota), [`AddCategory`],
//! [`DeleteCategory`], [`ModifyCategory`] (each spends a change of the cycle), the upload (a new
//! media_id each time) and [`VerifyBetaWeapp`]. [`ChangeSearchStatus`] sets what is already set:
//! repeatable, as are the reads.
//!
//! A legal person's name, ID number and WeChat id, a user's name and WeChat id, an openid and a
//! phone number are personal data: they travel in [`Personal`], which `Debug` never prints.

use super::endpoint::FilePart;
use super::icp::code_enum;
pub use super::icp::Personal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// Registration

code_enum!(
    /// 企业代码类型 (`code_type`).
    CodeType {
        /// 1 统一社会信用代码 (18 characters).
        UnifiedSocialCreditCode = 1,
        /// 2 组织机构代码 (9 characters, xxxxxxxx-x).
        OrganizationCode = 2,
        /// 3 营业执照注册号 (15 characters).
        BusinessLicenceNumber = 3,
    }
);

/// The enterprise registration's fields (fastregisterweapp action=create), the legal person's
/// data as [`Personal`].
#[derive(Debug, Clone, Serialize)]
pub struct EnterpriseApplicant {
    /// 企业名 as registered (for a sole trader without a name: 个体户+法人姓名).
    pub name: String,
    pub code: Personal,
    pub code_type: CodeType,
    pub legal_persona_wechat: Personal,
    pub legal_persona_name: Personal,
    #[serde(skip_serializing_if = "Personal::is_empty")]
    pub component_phone: Personal,
}

/// `cgi-bin/component/fastregisterweapp?action=create` (registerMiniprogram): asks the legal
/// person to confirm by face in WeChat; the outcome is pushed as `notify_third_fasteregister`.
/// Never repeated: a second task for the subject within 24 h answers 89249.
#[derive(Debug, Clone, Serialize)]
pub struct FastRegisterWeapp {
    #[serde(flatten)]
    pub applicant: EnterpriseApplicant,
}

impl FastRegisterWeapp {
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        vec![("action", "create".to_owned())]
    }
}

/// `cgi-bin/component/fastregisterweapp?action=search`: where the task for this subject stands.
/// errcode 0 once it succeeded; 89251 while the legal person has not confirmed, 89252 while
/// WeChat checks the subject, 89250 when no task runs for the subject (none was started, or it
/// failed: the failure's reason is in the push only).
#[derive(Debug, Clone, Serialize)]
pub struct SearchFastRegisterWeapp {
    pub name: String,
    pub legal_persona_wechat: Personal,
    pub legal_persona_name: Personal,
}

impl SearchFastRegisterWeapp {
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        vec![("action", "search".to_owned())]
    }
}

code_enum!(
    /// fastregisterpersonalweapp's task `status` (fastRegisterPersonalMp, Res.status Enum).
    PersonalTaskStatus {
        /// 0 生成任务.
        Created = 0,
        /// 1 任务超时.
        TimedOut = 1,
        /// 2 任务已经被用户拒绝.
        Refused = 2,
        /// 3 用户同意创建.
        Agreed = 3,
        /// 4 已经发起人脸流程.
        FaceStarted = 4,
        /// 5 人脸认证失败.
        FaceFailed = 5,
        /// 6 人脸认证ok.
        FaceOk = 6,
        /// 7 人脸认证后,已经提交手机号码下发验证码.
        PhoneCodeSent = 7,
        /// 8 手机验证失败.
        PhoneFailed = 8,
        /// 9 手机验证成功.
        PhoneOk = 9,
        /// 10 手机号验证成功后,提交了创建.
        CreateSubmitted = 10,
        /// 11 创建失败.
        CreateFailed = 11,
        /// 12 创建成功.
        Succeeded = 12,
        /// 13 验证成功.
        Verified = 13,
        /// 14 验证失败.
        VerifyFailed = 14,
        /// 1001 主体创建小程序数量达到上限.
        SubjectLimit = 1001,
        /// 1002 主体违规命中黑名单.
        SubjectBlacklisted = 1002,
        /// 1003 管理员绑定账号数量达到上限.
        AdminLimit = 1003,
        /// 1004 管理员违规命中黑名单.
        AdminBlacklisted = 1004,
    }
);

impl PersonalTaskStatus {
    /// The task ended (the mini program exists, or it never will).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            PersonalTaskStatus::Created
                | PersonalTaskStatus::Agreed
                | PersonalTaskStatus::FaceStarted
                | PersonalTaskStatus::FaceOk
                | PersonalTaskStatus::PhoneCodeSent
                | PersonalTaskStatus::PhoneOk
                | PersonalTaskStatus::CreateSubmitted
        )
    }
}

/// `wxa/component/fastregisterpersonalweapp?action=create` (fastRegisterPersonalMp): the user
/// confirms through `authorize_url` within 24 hours. Never repeated (each call is a new task).
#[derive(Debug, Clone, Serialize)]
pub struct FastRegisterPersonalWeapp {
    pub idname: Personal,
    pub wxuser: Personal,
    #[serde(skip_serializing_if = "Personal::is_empty")]
    pub component_phone: Personal,
}

impl FastRegisterPersonalWeapp {
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        vec![("action", "create".to_owned())]
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PersonalTask {
    pub taskid: String,
    #[serde(default)]
    pub authorize_url: String,
    pub status: PersonalTaskStatus,
}

/// `wxa/component/fastregisterpersonalweapp?action=query`: the task's status.
#[derive(Debug, Clone, Serialize)]
pub struct QueryPersonalWeapp {
    pub taskid: String,
}

impl QueryPersonalWeapp {
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        vec![("action", "query".to_owned())]
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PersonalTaskState {
    pub status: PersonalTaskStatus,
}

/// `cgi-bin/account/fastregister` (复用公众号主体快速注册小程序), with the official account's
/// authorizer token and the ticket its administrator's scan handed back. Synchronous: the answer
/// is the new mini program. Never repeated (61058 for a spent ticket, or a second mini program).
#[derive(Debug, Clone, Serialize)]
pub struct ReuseOfficialAccountRegister {
    pub ticket: String,
}

/// The mini program created from an official account's subject.
#[derive(Clone, Deserialize)]
pub struct ReusedRegistration {
    pub appid: String,
    /// For api_query_auth (single use): secret, never printed.
    pub authorization_code: Personal,
    /// "true"/"false" strings on the page; a bool in some captures.
    #[serde(default, deserialize_with = "loose_bool")]
    pub is_wx_verify_succ: bool,
    #[serde(default, deserialize_with = "loose_bool")]
    pub is_link_succ: bool,
}

impl std::fmt::Debug for ReusedRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReusedRegistration")
            .field("appid", &self.appid)
            .field("is_wx_verify_succ", &self.is_wx_verify_succ)
            .field("is_link_succ", &self.is_link_succ)
            .finish_non_exhaustive()
    }
}

fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => s == "true",
        serde_json::Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    })
}

/// `wxa/component/fastregisterbetaweapp` (registerBetaMiniprogram): a trial mini program named
/// "<name>的体验小程序", created once the user (by openid) confirms at `authorize_url`; the result
/// is pushed as `notify_third_fastregisterbetaapp`. Never repeated.
#[derive(Debug, Clone, Serialize)]
pub struct FastRegisterBetaWeapp {
    /// 4-30 characters; brand keywords are refused.
    pub name: String,
    pub openid: Personal,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BetaRegistration {
    /// Ties the user to the appid the push will carry.
    pub unique_id: String,
    pub authorize_url: String,
}

/// The enterprise data that makes a trial mini program formal (verifybetaweapp's `verify_info`).
#[derive(Debug, Clone, Serialize)]
pub struct BetaVerifyInfo {
    pub enterprise_name: String,
    pub code: Personal,
    pub code_type: CodeType,
    pub legal_persona_wechat: Personal,
    pub legal_persona_name: Personal,
    #[serde(skip_serializing_if = "Personal::is_empty")]
    pub legal_persona_idcard: Personal,
    #[serde(skip_serializing_if = "Personal::is_empty")]
    pub component_phone: Personal,
}

/// `wxa/verifybetaweapp` (the trial mini program's token): makes it formal once the legal person
/// confirms; pushed as `notify_third_fastverifybetaapp`. Never repeated.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyBetaWeapp {
    pub verify_info: BetaVerifyInfo,
}

/// `wxa/setbetaweappnickname` (the trial mini program's token): renames it (the "的体验小程序"
/// suffix stays). Setting the same name again changes nothing: repeatable.
#[derive(Debug, Clone, Serialize)]
pub struct SetBetaWeappNickname {
    pub name: String,
}

// ---------------------------------------------------------------------------------------------
// Basic information

/// `cgi-bin/account/getaccountbasicinfo` (getAccountBasicInfo): the profile as WeChat has it.
#[derive(Debug, Default, Serialize)]
pub struct GetAccountBasicInfo {}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountBasicInfo {
    pub appid: String,
    /// 1 订阅号, 2 服务号, 3 小程序.
    #[serde(default)]
    pub account_type: i64,
    #[serde(default)]
    pub principal_type: i64,
    #[serde(default)]
    pub principal_name: String,
    /// 1 实名验证成功, 2 实名验证中, 3 实名验证失败.
    #[serde(default)]
    pub realname_status: i64,
    #[serde(default)]
    pub nickname: String,
    #[serde(default)]
    pub nickname_info: Option<ModifyQuota<NicknameDetail>>,
    #[serde(default)]
    pub signature_info: Option<ModifyQuota<SignatureDetail>>,
    #[serde(default)]
    pub head_image_info: Option<ModifyQuota<HeadImageDetail>>,
    #[serde(default)]
    pub wx_verify_info: Option<WxVerifyInfo>,
    #[serde(default)]
    pub credential: String,
    #[serde(default)]
    pub customer_type: i64,
}

/// A profile field with how often it was changed and may be (`modify_used_count`,
/// `modify_quota`).
#[derive(Debug, Clone, Deserialize)]
pub struct ModifyQuota<T> {
    #[serde(flatten)]
    pub value: T,
    #[serde(default)]
    pub modify_used_count: i64,
    #[serde(default)]
    pub modify_quota: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NicknameDetail {
    #[serde(default)]
    pub nickname: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SignatureDetail {
    #[serde(default)]
    pub signature: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HeadImageDetail {
    #[serde(default)]
    pub head_image_url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WxVerifyInfo {
    #[serde(default)]
    pub qualification_verify: bool,
    #[serde(default)]
    pub naming_verify: bool,
}

// ---------------------------------------------------------------------------------------------
// Name

/// `wxa/setnickname` (setNickName): set at once when the name hits no keyword (`audit_id`
/// absent), else reviewed (`audit_id`, result pushed as `wxa_nickname_audit`). Never repeated:
/// each call spends one of the year's changes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SetNickname {
    pub nick_name: String,
    /// 身份证照片 media_id (a person's mini program).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id_card: String,
    /// 营业执照 media_id (an organisation's).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub license: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub naming_other_stuff_1: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub naming_other_stuff_2: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NicknameSet {
    /// 材料说明 when the name needs material.
    #[serde(default)]
    pub wording: String,
    /// Present (and not 0) when the name goes to review.
    #[serde(default)]
    pub audit_id: Option<u64>,
}

impl NicknameSet {
    /// The review the new name waits for, if any (none: the name is set).
    pub fn review(&self) -> Option<u64> {
        self.audit_id.filter(|id| *id != 0)
    }
}

code_enum!(
    /// api_wxa_querynickname's `audit_stat`.
    NicknameAuditStatus {
        /// 1 审核中.
        Checking = 1,
        /// 2 审核失败 (`fail_reason`).
        Rejected = 2,
        /// 3 审核成功.
        Approved = 3,
    }
);

/// `wxa/api_wxa_querynickname` (getNickNameStatus): a name review's state (91011 unknown id).
#[derive(Debug, Clone, Serialize)]
pub struct QueryNickname {
    pub audit_id: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NicknameAudit {
    #[serde(default)]
    pub nickname: String,
    pub audit_stat: NicknameAuditStatus,
    #[serde(default)]
    pub fail_reason: String,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub audit_time: i64,
}

/// `cgi-bin/wxverify/checkwxverifynickname` (checkNickName): whether a name hits a keyword
/// (then material is advised: `wording`). 53010 bad format, 53012 taken.
#[derive(Debug, Clone, Serialize)]
pub struct CheckWxVerifyNickname {
    pub nick_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NicknameCheck {
    #[serde(default)]
    pub hit_condition: bool,
    #[serde(default)]
    pub wording: String,
}

// ---------------------------------------------------------------------------------------------
// Avatar, signature, search

/// `cgi-bin/media/upload?type=image` (新增临时素材): the avatar and the qualification files of
/// names and categories are temporary media, valid 3 days. Never repeated (a new media_id).
#[derive(Serialize)]
pub struct UploadTempMedia {
    #[serde(skip)]
    pub media_type: TempMediaType,
    #[serde(skip)]
    pub filename: String,
    #[serde(skip)]
    pub content_type: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for UploadTempMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadTempMedia")
            .field("media_type", &self.media_type)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// `type` of a temporary upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TempMediaType {
    Image,
    Voice,
    Video,
    Thumb,
}

impl TempMediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            TempMediaType::Image => "image",
            TempMediaType::Voice => "voice",
            TempMediaType::Video => "video",
            TempMediaType::Thumb => "thumb",
        }
    }
}

impl UploadTempMedia {
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        vec![("type", self.media_type.as_str().to_owned())]
    }

    pub(super) fn file_part(&self) -> Option<FilePart<'_>> {
        Some(FilePart {
            field: "media",
            filename: &self.filename,
            content_type: &self.content_type,
            bytes: &self.bytes,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TempMedia {
    #[serde(rename = "type")]
    pub media_type: TempMediaType,
    pub media_id: String,
    #[serde(default)]
    pub created_at: i64,
}

/// `cgi-bin/account/modifyheadimage` (setHeadImage): the avatar from a temporary upload, cropped
/// to the square `(x1, y1)`-`(x2, y2)` in [0, 1] (strings on the page). Never repeated.
#[derive(Debug, Clone, Serialize)]
pub struct ModifyHeadImage {
    pub head_img_media_id: String,
    pub x1: String,
    pub y1: String,
    pub x2: String,
    pub y2: String,
}

impl ModifyHeadImage {
    /// The whole image.
    pub fn whole(media_id: impl Into<String>) -> Self {
        ModifyHeadImage {
            head_img_media_id: media_id.into(),
            x1: "0".into(),
            y1: "0".into(),
            x2: "1".into(),
            y2: "1".into(),
        }
    }
}

/// `cgi-bin/account/modifysignature` (setSignature): 4-120 characters. Never repeated.
#[derive(Debug, Clone, Serialize)]
pub struct ModifySignature {
    pub signature: String,
}

code_enum!(
    /// Whether the mini program can be found by search (`status`).
    SearchStatus {
        /// 0 可搜索.
        Searchable = 0,
        /// 1 不可搜索.
        Hidden = 1,
    }
);

/// `wxa/getwxasearchstatus` (getSearchStatus).
#[derive(Debug, Default, Serialize)]
pub struct GetSearchStatus {}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchStatusAnswer {
    pub status: SearchStatus,
}

/// `wxa/changewxasearchstatus` (setSearchStatus): 85083 when WeChat banned the change.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeSearchStatus {
    pub status: SearchStatus,
}

// ---------------------------------------------------------------------------------------------
// Categories

/// `cgi-bin/wxopen/getallcategories` (getAllCategories): every category this mini program may
/// set, a tree (id 0 the root).
#[derive(Debug, Default, Serialize)]
pub struct GetAllCategories {}

#[derive(Debug, Clone, Deserialize)]
pub struct AllCategories {
    pub categories_list: CategoryTree,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CategoryTree {
    #[serde(default)]
    pub categories: Vec<CategoryNode>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CategoryNode {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub level: u64,
    #[serde(default)]
    pub father: u64,
    #[serde(default)]
    pub children: Vec<u64>,
    /// 1: a qualification is reviewed (`qualify.exter_list`).
    #[serde(default)]
    pub sensitive_type: i64,
    #[serde(default)]
    pub qualify: Option<Qualify>,
}

impl CategoryNode {
    pub fn needs_qualification(&self) -> bool {
        self.sensitive_type == 1
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Qualify {
    #[serde(default)]
    pub exter_list: Vec<QualifyGroup>,
    #[serde(default)]
    pub remark: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QualifyGroup {
    #[serde(default)]
    pub inner_list: Vec<QualifyFile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QualifyFile {
    pub name: String,
    #[serde(default)]
    pub url: String,
}

/// `cgi-bin/wxopen/getcategory` (getSettingCategories): the categories set, with their review.
#[derive(Debug, Default, Serialize)]
pub struct GetSettingCategories {}

code_enum!(
    /// A set category's `audit_status`.
    CategoryAuditStatus {
        /// 1 审核中.
        Checking = 1,
        /// 2 审核不通过 (`audit_reason`).
        Rejected = 2,
        /// 3 审核通过.
        Approved = 3,
    }
);

#[derive(Debug, Clone, Deserialize)]
pub struct SettingCategories {
    #[serde(default)]
    pub categories: Vec<SettingCategory>,
    /// Additions allowed per change cycle.
    #[serde(default)]
    pub limit: i64,
    /// Additions left this cycle.
    #[serde(default)]
    pub quota: i64,
    /// Categories at most.
    #[serde(default)]
    pub category_limit: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SettingCategory {
    pub first: u64,
    #[serde(default)]
    pub first_name: String,
    pub second: u64,
    #[serde(default)]
    pub second_name: String,
    pub audit_status: CategoryAuditStatus,
    #[serde(default)]
    pub audit_reason: String,
}

/// A qualification file for a category: its name and a temporary media_id (`certicates`, as the
/// page spells it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryChoice {
    pub first: u64,
    pub second: u64,
    #[serde(rename = "certicates")]
    pub certificates: Vec<Certificate>,
}

/// `cgi-bin/wxopen/addcategory` (addCategory): a category with no qualification is set at once;
/// one with is reviewed (pushed as `wxa_category_audit`). Never repeated (53304 for the second,
/// and a change of the cycle spent).
#[derive(Debug, Clone, Serialize)]
pub struct AddCategory {
    pub categories: Vec<CategoryChoice>,
}

/// `cgi-bin/wxopen/deletecategory` (deleteCategory). Never repeated.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteCategory {
    pub first: u64,
    pub second: u64,
}

/// `cgi-bin/wxopen/modifycategory` (modifyCategory): new qualification files for a category (the
/// ids themselves cannot change: 53306). Never repeated (a new review).
#[derive(Debug, Clone, Serialize)]
pub struct ModifyCategory {
    pub first: u64,
    pub second: u64,
    #[serde(rename = "certicates")]
    pub certificates: Vec<Certificate>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::endpoint::Endpoint;

    fn repeat<E: Endpoint>() -> bool {
        E::SAFE_TO_REPEAT
    }

    #[test]
    fn registrations_changes_and_uploads_are_never_repeated() {
        assert!(!repeat::<FastRegisterWeapp>());
        assert!(!repeat::<FastRegisterPersonalWeapp>());
        assert!(!repeat::<ReuseOfficialAccountRegister>());
        assert!(!repeat::<FastRegisterBetaWeapp>());
        assert!(!repeat::<VerifyBetaWeapp>());
        assert!(!repeat::<SetNickname>());
        assert!(!repeat::<ModifyHeadImage>());
        assert!(!repeat::<ModifySignature>());
        assert!(!repeat::<UploadTempMedia>());
        assert!(!repeat::<AddCategory>());
        assert!(!repeat::<DeleteCategory>());
        assert!(!repeat::<ModifyCategory>());
        for safe in [
            repeat::<SearchFastRegisterWeapp>(),
            repeat::<QueryPersonalWeapp>(),
            repeat::<SetBetaWeappNickname>(),
            repeat::<GetAccountBasicInfo>(),
            repeat::<QueryNickname>(),
            repeat::<CheckWxVerifyNickname>(),
            repeat::<GetSearchStatus>(),
            repeat::<ChangeSearchStatus>(),
            repeat::<GetAllCategories>(),
            repeat::<GetSettingCategories>(),
        ] {
            assert!(safe);
        }
    }

    #[test]
    fn debug_prints_no_legal_person_data() {
        let r = FastRegisterWeapp {
            applicant: EnterpriseApplicant {
                name: "模拟商户有限公司".into(),
                code: Personal::new("91110105MA00000000"),
                code_type: CodeType::UnifiedSocialCreditCode,
                legal_persona_wechat: Personal::new("legal_wx_001"),
                legal_persona_name: Personal::new("张三"),
                component_phone: Personal::new("13800138000"),
            },
        };
        let shown = format!("{r:?}");
        for secret in ["91110105MA", "legal_wx_001", "张三", "13800138000"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let sent = serde_json::to_value(&r).unwrap();
        assert_eq!(sent["legal_persona_wechat"], "legal_wx_001");
        assert_eq!(sent["code_type"], 1);
        assert_eq!(r.query_params(), vec![("action", "create".to_owned())]);
        let reused: ReusedRegistration = serde_json::from_str(
            r#"{"appid":"wx1","authorization_code":"secretcode","is_wx_verify_succ":"true","is_link_succ":false}"#,
        )
        .unwrap();
        assert!(reused.is_wx_verify_succ && !reused.is_link_succ);
        assert!(!format!("{reused:?}").contains("secretcode"));
    }

    #[test]
    fn statuses_round_trip_and_unknown_values_are_kept() {
        assert_eq!(
            PersonalTaskStatus::from_code(12),
            PersonalTaskStatus::Succeeded
        );
        assert!(PersonalTaskStatus::from_code(12).is_final());
        assert!(!PersonalTaskStatus::from_code(0).is_final());
        assert_eq!(
            PersonalTaskStatus::from_code(1010),
            PersonalTaskStatus::Unknown(1010)
        );
        assert_eq!(
            NicknameAuditStatus::from_code(2),
            NicknameAuditStatus::Rejected
        );
        assert_eq!(CategoryAuditStatus::from_code(3).code(), 3);
        let set: NicknameSet = serde_json::from_str(r#"{"audit_id":0,"wording":""}"#).unwrap();
        assert_eq!(set.review(), None);
    }
}
