//! ICP filing (小程序备案) and the combined verification + filing flow (认证及备案), called on a
//! merchant's behalf with the authorizer token (permission set 18 or 156). One declaration each
//! ([`super::endpoint`]); the pages are cited in `infra/wechat-sim/README.md` ("ICP filing").
//!
//! Since 2023-09-01 a mini program must be filed before it may go live. The filing is slow:
//! platform review, then the provincial administration (管局) with an SMS check the responsible
//! person must answer. [`GetIcpEntranceInfo`] reports where it stands ([`IcpStatus`]), with the
//! field-level reasons of a rejection; a pushed `notify_apply_icpfiling_result` says when it moved.
//!
//! Never repeated after a lost answer: [`ApplyIcpFiling`] and [`SubmitAuthAndIcp`] (a second
//! application while the first is in review answers 86324; the caller settles a lost answer
//! from [`GetIcpEntranceInfo`]), [`UploadIcpMedia`] (each upload is a new media_id),
//! [`CreateIcpVerifyTask`] (each call sends the responsible person a new face-check notice) and
//! [`CancelApplyIcpFiling`]. Reads and the reference tables may be repeated.
//!
//! Names, ID numbers, phone numbers, e-mail and addresses are personal data: they are held in
//! [`Personal`], which `Debug` never prints.

use super::endpoint::{Decode, FilePart};
use super::error::WechatResult;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A personal value (a name, an ID or phone number, an e-mail, an address): sent and read as the
/// plain string, never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Personal(pub String);

impl Personal {
    pub fn new(s: impl Into<String>) -> Self {
        Personal(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Personal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<personal>")
    }
}

/// A WeChat status number as an enum: the documented values by name, anything else kept as
/// `Unknown(n)` (WeChat adds values without notice; community threads report procedure status
/// 9 and 27, neither on the page).
macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant,)+
            /// A value the page does not document.
            Unknown(i64),
        }
        impl $name {
            pub fn from_code(code: i64) -> Self {
                match code {
                    $($code => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }
            pub fn code(self) -> i64 {
                match self {
                    $($name::$variant => $code,)+
                    $name::Unknown(n) => n,
                }
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                i64::deserialize(d).map($name::from_code)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.code())
            }
        }
    };
}
/// For the other modules whose statuses are numbers (`account`).
pub(super) use code_enum;

/// Why a mini program that is not filed (1024-1031) cannot apply yet: the page lists 1025-1031
/// as 1024 plus any of these three (1, 2, 4 added to 1024).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NotFiledBecause {
    /// 小程序信息未填 (name, avatar, introduction).
    pub info_missing: bool,
    /// 小程序类目未填.
    pub category_missing: bool,
    /// 小程序未认证.
    pub not_verified: bool,
}

/// getIcpEntranceInfo's `info.status` (备案状态枚举).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcpStatus {
    /// 2 平台审核中.
    PlatformReview,
    /// 3 平台审核驳回: `audit_data` says why.
    PlatformRejected,
    /// 4 管局审核中: `sms_verify_status` tells the SMS check.
    AdministrationReview,
    /// 5 管局审核驳回: `audit_data` says why.
    AdministrationRejected,
    /// 6 已备案.
    Filed,
    /// 1024 未备案, and 1025-1031 未备案 with what is missing before one can apply.
    NotFiled(NotFiledBecause),
    /// A value the page does not document.
    Unknown(i64),
}

impl IcpStatus {
    pub fn from_code(code: i64) -> Self {
        match code {
            2 => IcpStatus::PlatformReview,
            3 => IcpStatus::PlatformRejected,
            4 => IcpStatus::AdministrationReview,
            5 => IcpStatus::AdministrationRejected,
            6 => IcpStatus::Filed,
            1024..=1031 => {
                let bits = code - 1024;
                IcpStatus::NotFiled(NotFiledBecause {
                    info_missing: bits & 1 != 0,
                    category_missing: bits & 2 != 0,
                    not_verified: bits & 4 != 0,
                })
            }
            other => IcpStatus::Unknown(other),
        }
    }

    pub fn code(self) -> i64 {
        match self {
            IcpStatus::PlatformReview => 2,
            IcpStatus::PlatformRejected => 3,
            IcpStatus::AdministrationReview => 4,
            IcpStatus::AdministrationRejected => 5,
            IcpStatus::Filed => 6,
            IcpStatus::NotFiled(b) => {
                1024 + i64::from(b.info_missing)
                    + 2 * i64::from(b.category_missing)
                    + 4 * i64::from(b.not_verified)
            }
            IcpStatus::Unknown(n) => n,
        }
    }

    /// An application is with WeChat or the administration (a new one answers 86324).
    pub fn in_review(self) -> bool {
        matches!(
            self,
            IcpStatus::PlatformReview | IcpStatus::AdministrationReview
        )
    }
}

impl<'de> Deserialize<'de> for IcpStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(IcpStatus::from_code)
    }
}

impl Serialize for IcpStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.code())
    }
}

code_enum!(
    /// The administration's SMS check (`sms_verify_status`), meaningful in status 4 (and
    /// procedure status 24) only.
    SmsVerifyStatus {
        /// 1 等待核验中: the responsible person has not answered the SMS yet.
        Waiting = 1,
        /// 2 核验完成.
        Done = 2,
        /// 3 核验超时.
        TimedOut = 3,
    }
);

code_enum!(
    /// queryIcpVerifyTask's `face_status`: final only once `is_finish` is true.
    FaceStatus {
        /// 0 未开始.
        NotStarted = 0,
        /// 1 等待中.
        Waiting = 1,
        /// 2 失败.
        Failed = 2,
        /// 3 成功.
        Succeeded = 3,
    }
);

code_enum!(
    /// queryAuthAndIcp's `procedure_status`: only the values the page's field notes name are
    /// listed (the stored copy of its enum table is cut off; see the simulator README).
    ProcedureStatus {
        /// 18 小程序认证审核单被驳回 (`refill_reason`; resubmit with submit_auth_and_icp).
        AuthRefill = 18,
        /// 20 小程序认证审核最终失败 (`fail_reason`).
        AuthFailed = 20,
        /// 21 创建备案审核单失败 (`icp_audit.hints`).
        IcpOrderFailed = 21,
        /// 23 备案不通过 (`icp_audit.audit_data`), the platform's review.
        IcpPlatformRejected = 23,
        /// 24 备案管局审核中 (`icp_audit.sms_verify_status`).
        IcpAdministrationReview = 24,
        /// 25 备案不通过 (`icp_audit.audit_data`), the administration's review.
        IcpAdministrationRejected = 25,
    }
);

/// One field a reviewer rejected (`audit_data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReason {
    /// 审核不通过的字段中文名.
    #[serde(default)]
    pub key_name: String,
    /// 字段不通过的原因.
    #[serde(default)]
    pub error: String,
    /// 修改建议.
    #[serde(default)]
    pub suggest: String,
}

/// One field WeChat refused before review (`hints` of apply_icp_filing / submit_auth_and_icp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldHint {
    #[serde(default)]
    pub errcode: i64,
    /// The field's path, e.g. `icp_subject.principal_info.certificate_photo_front`.
    #[serde(default)]
    pub err_field: String,
    #[serde(default)]
    pub errmsg: String,
}

// ---------------------------------------------------------------------------------------------
// Status

/// `wxa/icp/get_icp_entrance_info` (getIcpEntranceInfo): the filing's status, the reasons of a
/// rejection, and whether the filing entrance is open to this mini program.
#[derive(Debug, Default, Serialize)]
pub struct GetIcpEntranceInfo {}

#[derive(Debug, Clone, Deserialize)]
pub struct IcpEntranceInfo {
    pub info: IcpEntrance,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IcpEntrance {
    pub status: IcpStatus,
    #[serde(default)]
    pub is_canceling: bool,
    #[serde(default)]
    pub audit_data: Vec<AuditReason>,
    /// 0: the entrance is closed (a keyword in the name, the administration's system down);
    /// applications are accepted only when it is 1.
    #[serde(default)]
    pub available: i64,
    /// Meaningful in status 4 only.
    #[serde(default)]
    pub sms_verify_status: Option<SmsVerifyStatus>,
}

impl IcpEntrance {
    pub fn entrance_open(&self) -> bool {
        self.available == 1
    }
}

/// `wxa/icp/get_online_icp_order` (getOnlineIcpOrder): the filed record, without images and
/// with the subject's data masked; the record numbers are `icp_subject.base_info.record_number`
/// and `icp_applets[].base_info.record_number` (added 2023-11, per WeChat's community answer).
#[derive(Debug, Default, Serialize)]
pub struct GetOnlineIcpOrder {}

#[derive(Debug, Clone, Deserialize)]
pub struct OnlineIcpOrder {
    #[serde(default)]
    pub icp_subject: Option<OnlineSubject>,
    #[serde(default)]
    pub icp_applets: Vec<OnlineApplet>,
}

impl OnlineIcpOrder {
    /// The mini program's own record number (主体备案号-N), if filed.
    pub fn applet_record_number(&self) -> Option<&str> {
        self.icp_applets
            .iter()
            .map(|a| a.base_info.record_number.as_str())
            .find(|r| !r.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct OnlineSubject {
    pub base_info: OnlineSubjectBase,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OnlineSubjectBase {
    #[serde(rename = "type", default)]
    pub subject_type: i64,
    #[serde(default)]
    pub name: Personal,
    #[serde(default)]
    pub record_number: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OnlineApplet {
    pub base_info: OnlineAppletBase,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OnlineAppletBase {
    #[serde(default)]
    pub appid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub record_number: String,
}

// ---------------------------------------------------------------------------------------------
// Reference tables (the pages: results change without notice; never hard-code them)

/// `wxa/icp/query_icp_subject_types` (queryIcpSubjectTypes): 单位性质.
#[derive(Debug, Default, Serialize)]
pub struct QueryIcpSubjectTypes {}

/// `wxa/icp/query_icp_certificate_types` (queryIcpCertificateTypes): 证件类型, each for one
/// subject type.
#[derive(Debug, Default, Serialize)]
pub struct QueryIcpCertificateTypes {}

/// `wxa/icp/query_icp_nrlx_types` (queryIcpNrlxTypes): 前置审批项类型.
#[derive(Debug, Default, Serialize)]
pub struct QueryIcpNrlxTypes {}

/// `wxa/icp/query_icp_service_content_types` (queryIcpServiceContentTypes): 服务内容类型; only
/// second-level types (`parent_type` not 0) may be filed.
#[derive(Debug, Default, Serialize)]
pub struct QueryIcpServiceContentTypes {}

/// One entry of a reference table; `subject_type` only in the certificate types, `parent_type`
/// only in the service content types.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IcpType {
    #[serde(rename = "type")]
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub remark: String,
    #[serde(default)]
    pub subject_type: Option<i64>,
    #[serde(default)]
    pub parent_type: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IcpTypes {
    #[serde(default)]
    pub items: Vec<IcpType>,
}

/// `wxa/icp/query_icp_district_code` (queryIcpDistrictCode): provinces, cities and districts
/// that may be filed in (no Hong Kong, Macao, Taiwan).
#[derive(Debug, Default, Serialize)]
pub struct QueryIcpDistrictCode {}

#[derive(Debug, Clone, Deserialize)]
pub struct IcpDistricts {
    #[serde(default)]
    pub items: Vec<IcpDistrict>,
}

/// `type` 1 province, 2 city, 3 district; `code` is a number on the page (a string in the apply
/// body: "110000").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IcpDistrict {
    #[serde(rename = "type")]
    pub level: i64,
    pub code: i64,
    pub name: String,
    #[serde(default)]
    pub sub_list: Vec<IcpDistrict>,
}

impl IcpDistricts {
    /// Whether `province` / `city` / `district` name a district of that city of that province.
    pub fn contains(&self, province: &str, city: &str, district: &str) -> bool {
        let find = |list: &[IcpDistrict], code: &str| -> Option<Vec<IcpDistrict>> {
            let code: i64 = code.parse().ok()?;
            list.iter()
                .find(|d| d.code == code)
                .map(|d| d.sub_list.clone())
        };
        find(&self.items, province)
            .and_then(|cities| find(&cities, city))
            .and_then(|districts| find(&districts, district))
            .is_some()
    }
}

// ---------------------------------------------------------------------------------------------
// Media and the face check

/// `image` or `video` (upload_icp_media's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IcpMediaType {
    Image,
    Video,
}

impl IcpMediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            IcpMediaType::Image => "image",
            IcpMediaType::Video => "video",
        }
    }
}

/// `wxa/icp/upload_icp_media` (uploadIcpMedia): one image or video for the application; the
/// answer's `media_id` goes into the fields of [`ApplyIcpFiling`]. Multipart: `type`,
/// `certificate_type` (for a certificate's photo), `icp_order_field` (the field it is for, e.g.
/// `icp_subject.principal_info.certificate_photo_front`) and the file as `media`.
#[derive(Serialize)]
pub struct UploadIcpMedia {
    #[serde(skip)]
    pub media_type: IcpMediaType,
    #[serde(skip)]
    pub certificate_type: Option<i64>,
    #[serde(skip)]
    pub icp_order_field: String,
    #[serde(skip)]
    pub filename: String,
    #[serde(skip)]
    pub content_type: String,
    /// An ID card's photo is personal data: only its length is printed.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for UploadIcpMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadIcpMedia")
            .field("media_type", &self.media_type)
            .field("certificate_type", &self.certificate_type)
            .field("icp_order_field", &self.icp_order_field)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl UploadIcpMedia {
    pub(super) fn file_part(&self) -> Option<FilePart<'_>> {
        Some(FilePart {
            field: "media",
            filename: &self.filename,
            content_type: &self.content_type,
            bytes: &self.bytes,
        })
    }

    /// `type`, `certificate_type` (when given) and `icp_order_field`, before the file.
    pub(super) fn form_parts(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![("type", self.media_type.as_str().to_owned())];
        if let Some(t) = self.certificate_type {
            fields.push(("certificate_type", t.to_string()));
        }
        fields.push(("icp_order_field", self.icp_order_field.clone()));
        fields
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UploadedIcpMedia {
    #[serde(rename = "type")]
    pub media_type: IcpMediaType,
    pub media_id: String,
    #[serde(default)]
    pub created_at: i64,
}

/// `wxa/icp/create_icp_verifytask` (createIcpVerifyTask): sends the mini program's
/// administrator a face-check notice (valid 24 h). The task lives 3 days for a filing, 1 day
/// with `along_with_auth` (which also answers a `verify_url`). Never repeated: each call is a new
/// notice and a new task.
#[derive(Debug, Default, Serialize)]
pub struct CreateIcpVerifyTask {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub along_with_auth: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IcpVerifyTask {
    pub task_id: String,
    /// Only with `along_with_auth`.
    #[serde(default)]
    pub verify_url: Option<String>,
}

/// `wxa/icp/query_icp_verifytask` (queryIcpVerifyTask): the face check's state; 86328 for an
/// unknown task.
#[derive(Debug, Clone, Serialize)]
pub struct QueryIcpVerifyTask {
    pub task_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IcpVerifyTaskState {
    #[serde(default)]
    pub is_finish: bool,
    pub face_status: FaceStatus,
    /// With `along_with_auth`: 9 认证短信核验通过.
    #[serde(default)]
    pub along_with_auth_result: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// The application

/// `wxa/icp/apply_icp_filing` (applyIcpFiling). Never repeated: a lost answer is settled from
/// [`GetIcpEntranceInfo`] (status 2 means it was received). WeChat refuses bad fields before
/// review with errcode 86202 and `hints` naming each field: that answer is
/// [`IcpApplied::Refused`], not an error.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyIcpFiling {
    pub icp_subject: IcpSubject,
    pub icp_applets: IcpApplets,
    pub icp_materials: IcpMaterials,
}

/// 备案主体信息.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IcpSubject {
    pub base_info: SubjectBaseInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_info: Option<PersonalInfo>,
    pub organize_info: OrganizeInfo,
    pub principal_info: PrincipalInfo,
    /// Required when the subject is not a person and its responsible person is not the legal
    /// representative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_person_info: Option<LegalPersonInfo>,
}

/// 主体基本信息. `province`/`city`/`district` are codes from [`QueryIcpDistrictCode`] as strings;
/// `address` omits them ("高碑店路181号1栋12345室").
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubjectBaseInfo {
    /// 主体性质, from [`QueryIcpSubjectTypes`].
    #[serde(rename = "type")]
    pub subject_type: i64,
    /// 主办单位名称 (a person's name for a personal filing).
    pub name: Personal,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: Personal,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// 个人主体额外信息.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PersonalInfo {
    /// 临时居住证明 media_id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub residence_permit: String,
}

/// 主体额外信息: the subject's certificate (business licence, or the ID card for a person).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrganizeInfo {
    pub certificate_type: i64,
    pub certificate_number: Personal,
    pub certificate_address: Personal,
    /// media_id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificate_photo: String,
}

/// 主体负责人 / 小程序负责人: a person, with the ID card's photos as media_ids and, for the
/// mini program's responsible person, the finished face check ([`CreateIcpVerifyTask`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrincipalInfo {
    pub name: Personal,
    pub mobile: Personal,
    pub email: Personal,
    pub emergency_contact: Personal,
    pub certificate_type: i64,
    pub certificate_number: Personal,
    /// `YYYY-MM-DD`.
    pub certificate_validity_date_start: String,
    /// `YYYY-MM-DD` or `长期`.
    pub certificate_validity_date_end: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificate_photo_front: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificate_photo_back: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub authorization_letter: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verify_task_id: String,
}

/// 法人信息.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LegalPersonInfo {
    pub name: Personal,
    pub certificate_number: Personal,
}

/// 微信小程序信息.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IcpApplets {
    pub base_info: AppletBaseInfo,
    pub principal_info: PrincipalInfo,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppletBaseInfo {
    pub appid: String,
    pub name: String,
    /// Second-level types from [`QueryIcpServiceContentTypes`].
    pub service_content_types: Vec<i64>,
    /// 前置审批项, from [`QueryIcpNrlxTypes`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nrlx_details: Vec<NrlxDetail>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NrlxDetail {
    #[serde(rename = "type")]
    pub nrlx_type: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    /// media_id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media: String,
}

/// 其他备案媒体材料 (media_ids). The page lists more kinds than these; they travel in `other`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IcpMaterials {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commitment_letter: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub business_name_change_letter: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub party_building_confirmation_letter: Vec<String>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// apply_icp_filing's (and submit_auth_and_icp's) answer: accepted, or refused field by field
/// before any review (86202 with `hints`). Any other errcode is an error as usual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcpApplied {
    Accepted {
        /// submit_auth_and_icp only.
        procedure_id: Option<String>,
        /// submit_auth_and_icp only, when the merchant pays the verification fee.
        pay_url: Option<String>,
    },
    Refused {
        errcode: i64,
        errmsg: String,
        hints: Vec<FieldHint>,
        /// submit_auth_and_icp answers one even when refused (captured traffic).
        procedure_id: Option<String>,
    },
}

#[derive(Deserialize)]
struct AppliedBody {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    hints: Vec<FieldHint>,
    #[serde(default)]
    procedure_id: Option<String>,
    #[serde(default)]
    pay_url: Option<String>,
}

impl Decode for IcpApplied {
    fn decode(endpoint: &'static str, _content_type: &str, bytes: Vec<u8>) -> WechatResult<Self> {
        if let Ok(b) = serde_json::from_slice::<AppliedBody>(&bytes) {
            if b.errcode != 0 && !b.hints.is_empty() {
                return Ok(IcpApplied::Refused {
                    errcode: b.errcode,
                    errmsg: b.errmsg,
                    hints: b.hints,
                    procedure_id: b.procedure_id,
                });
            }
        }
        // The errcode check (and its error) as for every endpoint.
        let b: AppliedBody = super::client::parse_json(endpoint, &bytes)?;
        Ok(IcpApplied::Accepted {
            procedure_id: b.procedure_id.filter(|p| !p.is_empty()),
            pay_url: b.pay_url.filter(|p| !p.is_empty()),
        })
    }
}

/// `wxa/icp/cancel_apply_icp_filing` (cancelApplyIcpFiling): withdraws an application still in
/// the platform's review (86330 once it has passed it, 86368 when there is none).
#[derive(Debug, Default, Serialize)]
pub struct CancelApplyIcpFiling {}

// ---------------------------------------------------------------------------------------------
// Verification + filing in one (认证及备案)

/// `wxa/sec/submit_auth_and_icp` (submitAuthAndIcp): verification (认证) and filing in one
/// application; the filing starts once the verification passes. Never repeated.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitAuthAndIcp {
    pub auth_data: AuthData,
    pub icp_subject: IcpSubject,
    pub icp_applets: IcpApplets,
    pub icp_materials: IcpMaterials,
}

/// 认证数据. Fields the page lists beyond these (invoice, qualification materials, …) travel in
/// `other`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthData {
    /// 1 企业, 12 个体工商户, 15 个人.
    pub customer_type: i64,
    /// The verification task (the face check's task_id with `along_with_auth`).
    pub taskid: String,
    pub contact_info: ContactInfo,
    pub account_name: String,
    /// 1 自选词汇, 2 商标.
    pub account_name_type: i64,
    /// 1 服务商预购包, 2 开发者自行支付.
    pub pay_type: i64,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContactInfo {
    pub name: Personal,
    pub email: Personal,
}

/// `wxa/sec/query_auth_and_icp` (queryAuthAndIcp): where a combined application stands.
#[derive(Debug, Clone, Serialize)]
pub struct QueryAuthAndIcp {
    pub procedure_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthAndIcpProgress {
    pub procedure_status: ProcedureStatus,
    /// A number on the page; some SDKs read a string.
    #[serde(default)]
    pub orderid: Option<serde_json::Value>,
    #[serde(default)]
    pub refill_reason: String,
    #[serde(default)]
    pub fail_reason: String,
    #[serde(default)]
    pub icp_audit: Option<IcpAudit>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct IcpAudit {
    #[serde(default)]
    pub hints: Vec<FieldHint>,
    #[serde(default)]
    pub audit_data: Vec<AuditReason>,
    #[serde(default)]
    pub sms_verify_status: Option<SmsVerifyStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::endpoint::Endpoint;

    fn repeat<E: Endpoint>() -> bool {
        E::SAFE_TO_REPEAT
    }

    #[test]
    fn applications_uploads_and_face_checks_are_never_repeated() {
        assert!(!repeat::<ApplyIcpFiling>());
        assert!(!repeat::<SubmitAuthAndIcp>());
        assert!(!repeat::<UploadIcpMedia>());
        assert!(!repeat::<CreateIcpVerifyTask>());
        assert!(!repeat::<CancelApplyIcpFiling>());
        for safe in [
            repeat::<GetIcpEntranceInfo>(),
            repeat::<GetOnlineIcpOrder>(),
            repeat::<QueryIcpSubjectTypes>(),
            repeat::<QueryIcpCertificateTypes>(),
            repeat::<QueryIcpDistrictCode>(),
            repeat::<QueryIcpNrlxTypes>(),
            repeat::<QueryIcpServiceContentTypes>(),
            repeat::<QueryIcpVerifyTask>(),
            repeat::<QueryAuthAndIcp>(),
        ] {
            assert!(safe);
        }
    }

    #[test]
    fn status_numbers_round_trip_and_name_what_is_missing() {
        for code in [
            2, 3, 4, 5, 6, 1024, 1025, 1026, 1027, 1028, 1029, 1030, 1031, 7, 1032,
        ] {
            assert_eq!(IcpStatus::from_code(code).code(), code);
        }
        assert_eq!(
            IcpStatus::from_code(1029),
            IcpStatus::NotFiled(NotFiledBecause {
                info_missing: true,
                category_missing: false,
                not_verified: true
            })
        );
        assert_eq!(IcpStatus::from_code(1032), IcpStatus::Unknown(1032));
        assert_eq!(ProcedureStatus::from_code(27), ProcedureStatus::Unknown(27));
        assert_eq!(SmsVerifyStatus::from_code(3), SmsVerifyStatus::TimedOut);
    }

    #[test]
    fn debug_prints_no_personal_data() {
        let p = PrincipalInfo {
            name: Personal::new("张三"),
            mobile: Personal::new("13800138000"),
            email: Personal::new("a@example.com"),
            emergency_contact: Personal::new("13900139000"),
            certificate_type: 2,
            certificate_number: Personal::new("110101199001011234"),
            ..Default::default()
        };
        let shown = format!("{p:?}");
        for secret in [
            "张三",
            "13800138000",
            "a@example.com",
            "13900139000",
            "1101011990",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        // Sent as plain strings all the same.
        let sent = serde_json::to_string(&p).unwrap();
        assert!(sent.contains("\"mobile\":\"13800138000\""), "{sent}");
    }

    #[test]
    fn a_refusal_with_hints_is_an_answer_and_other_errcodes_are_errors() {
        let refused = br#"{"errcode":86202,"errmsg":"apply icp filing fail","hints":[{"errcode":86328,"err_field":"icp_subject.organize_info.certificate_photo","errmsg":"x"}],"procedure_id":"p1"}"#;
        match IcpApplied::decode("/x", "application/json", refused.to_vec()).unwrap() {
            IcpApplied::Refused {
                errcode,
                hints,
                procedure_id,
                ..
            } => {
                assert_eq!(errcode, 86202);
                assert_eq!(
                    hints[0].err_field,
                    "icp_subject.organize_info.certificate_photo"
                );
                assert_eq!(procedure_id.as_deref(), Some("p1"));
            }
            other => panic!("{other:?}"),
        }
        let busy = br#"{"errcode":86324,"errmsg":"in review"}"#;
        assert!(IcpApplied::decode("/x", "application/json", busy.to_vec()).is_err());
        let ok = br#"{"errcode":0,"errmsg":"ok"}"#;
        assert_eq!(
            IcpApplied::decode("/x", "application/json", ok.to_vec()).unwrap(),
            IcpApplied::Accepted {
                procedure_id: None,
                pay_url: None
            }
        );
    }
}
