//! Every WeChat endpoint is one declaration: a request type that says its method, path, which
//! token it carries (and under which query name), whether repeating it after a lost answer is
//! safe, and its response type. One generic send ([`super::WechatClient::call`], and
//! [`super::ComponentApi::call`] / [`super::WxaApi::call`] with automatic tokens) serves them all,
//! as ruma's endpoint types with their metadata are served by one client.
//!
//! The declarations are one list (the `endpoints!` invocation below): each line is a request
//! type's [`Endpoint`] impl and its row of [`ENDPOINTS`], the data the simulator's routes and
//! the repeat-safety test are held against.
//!
//! ```ignore
//! wxa::GetCategory: GET "/wxa/get_category", Authorizer, repeatable -> wxa::CategoryList;
//! ```

use super::client::{Binary, Empty};
use super::error::{WechatError, WechatResult};
use super::{account, component, icp, quota, services, violations, wxa};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How the request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// No body; parameters in [`Endpoint::query`].
    Get,
    /// The request serialized as the JSON body.
    Post,
    /// A multipart/form-data body holding [`Endpoint::file`] (`uploadmedia`).
    Multipart,
}

/// The one file of a multipart upload: the form field's name, a file name and its type.
#[derive(Clone, PartialEq, Eq)]
pub struct FilePart<'a> {
    pub field: &'static str,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// Which token a call carries. WeChat's pages name the query parameter differently: the
/// component endpoints use `component_access_token=`, `/wxa/*` uses `access_token=` (for the
/// template library that is the component token too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// None (`api_component_token`, `api_start_push_ticket`).
    None,
    /// The component token as `component_access_token=`.
    Component,
    /// The component token as `access_token=` (template library, platform-level domains).
    ComponentAsAccessToken,
    /// The authorizer's token as `access_token=`.
    Authorizer,
}

/// One WeChat endpoint, implemented by its line in the `endpoints!` list.
pub trait Endpoint: Serialize + Send + Sync {
    const PATH: &'static str;
    const VERB: Verb;
    const TOKEN: Token;
    /// Whether the call may be sent again after an answer that may have been lost. False for
    /// every call that changes state at WeChat (repeating `submit_audit` answers 85009 with the
    /// first auditid never known, `release` 85052) or presents a single-use value
    /// (`api_query_auth` 61009, a rotated refresh token 61023): such a call is retried only when
    /// it provably never left (connection refused), else its outcome is unknown and the caller
    /// reconciles from what WeChat reports.
    const SAFE_TO_REPEAT: bool;
    type Response: Decode;

    /// Query parameters besides the token.
    fn query(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The file a [`Verb::Multipart`] endpoint uploads.
    fn file(&self) -> Option<FilePart<'_>> {
        None
    }

    /// Text fields sent before the file in a [`Verb::Multipart`] body (`upload_icp_media`'s
    /// `type`, `icp_order_field`…).
    fn form_fields(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Endpoints called with the component token (or none): [`super::ComponentApi::call`].
pub trait ComponentEndpoint: Endpoint {}
/// Endpoints called with an authorizer's token: [`super::WxaApi::call`].
pub trait AuthorizerEndpoint: Endpoint {}

/// How a response body becomes a value: JSON (after the `errcode` check) for every serde type,
/// the raw bytes with their Content-Type for [`Binary`].
pub trait Decode: Sized {
    fn decode(endpoint: &'static str, content_type: &str, bytes: Vec<u8>) -> WechatResult<Self>;
}

impl<T: DeserializeOwned> Decode for T {
    fn decode(endpoint: &'static str, _content_type: &str, bytes: Vec<u8>) -> WechatResult<Self> {
        super::client::parse_json(endpoint, &bytes)
    }
}

impl Decode for Binary {
    /// An image on success; a JSON error otherwise, told apart by Content-Type.
    fn decode(endpoint: &'static str, content_type: &str, bytes: Vec<u8>) -> WechatResult<Self> {
        let ct = content_type.to_ascii_lowercase();
        if ct.starts_with("application/json") || ct.starts_with("text/plain") || ct.is_empty() {
            let _: super::client::Empty = super::client::parse_json(endpoint, &bytes)?;
            return Err(WechatError::Decode {
                endpoint,
                detail: format!("expected a binary body, got {content_type:?} with errcode 0"),
            });
        }
        Ok(Binary {
            content_type: content_type.to_owned(),
            bytes,
        })
    }
}

/// Declares the endpoints: for each line, the [`Endpoint`] impl of its request type (and its
/// [`ComponentEndpoint`] / [`AuthorizerEndpoint`] marker), and its row of [`ENDPOINTS`]. A
/// trailing `query` or `file` sends the type's own `query_params` / `file_part`.
macro_rules! endpoints {
    (@repeat repeatable) => { true };
    (@repeat not_repeatable) => { false };
    (@verb GET) => { Verb::Get };
    (@verb POST) => { Verb::Post };
    (@verb MULTIPART) => { Verb::Multipart };
    (@marker Component, $ty:ty, $($lt:lifetime)?) => { impl<$($lt)?> ComponentEndpoint for $ty {} };
    (@marker ComponentAsAccessToken, $ty:ty, $($lt:lifetime)?) => { impl<$($lt)?> ComponentEndpoint for $ty {} };
    (@marker None, $ty:ty, $($lt:lifetime)?) => { impl<$($lt)?> ComponentEndpoint for $ty {} };
    (@marker Authorizer, $ty:ty, $($lt:lifetime)?) => { impl<$($lt)?> AuthorizerEndpoint for $ty {} };
    (@extra query) => {
        fn query(&self) -> Vec<(&'static str, String)> {
            self.query_params()
        }
    };
    (@extra file) => {
        fn file(&self) -> Option<FilePart<'_>> {
            self.file_part()
        }
    };
    (@extra form) => {
        fn form_fields(&self) -> Vec<(&'static str, String)> {
            self.form_parts()
        }
    };
    ($(
        $module:ident :: $name:ident $(<$lt:lifetime>)?:
            $verb:ident $path:literal, $token:ident, $repeat:ident -> $resp:ty $(, $extra:ident)*;
    )*) => {
        $(
            impl<$($lt)?> Endpoint for $module::$name$(<$lt>)? {
                const PATH: &'static str = $path;
                const VERB: Verb = endpoints!(@verb $verb);
                const TOKEN: Token = Token::$token;
                const SAFE_TO_REPEAT: bool = endpoints!(@repeat $repeat);
                type Response = $resp;
                $(endpoints!(@extra $extra);)*
            }
            endpoints!(@marker $token, $module::$name$(<$lt>)?, $($lt)?);
        )*

        /// Every endpoint the client declares, in declaration order: what the simulator's routes
        /// and the repeat-safety test are held against.
        pub const ENDPOINTS: &[Metadata] = &[$(
            Metadata {
                name: concat!(stringify!($module), "::", stringify!($name)),
                path: $path,
                verb: endpoints!(@verb $verb),
                token: Token::$token,
                safe_to_repeat: endpoints!(@repeat $repeat),
            },
        )*];
    };
}

/// One endpoint's declaration as data: a row of [`ENDPOINTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// The request type, as `module::Type`.
    pub name: &'static str,
    pub path: &'static str,
    pub verb: Verb,
    pub token: Token,
    pub safe_to_repeat: bool,
}

// The one list. A path may appear twice: with two tokens (the platform's quota and rid
// look-ups beside the authorizer's), or with two meanings (`revertcoderelease` reads the
// history with `action=get_history_version`, and rolls back without).
endpoints! {
    component::ApiComponentToken<'a>: POST "/cgi-bin/component/api_component_token", None, repeatable -> component::ComponentAccessToken;
    component::ApiCreatePreauthcode<'a>: POST "/cgi-bin/component/api_create_preauthcode", Component, repeatable -> component::PreAuthCode;
    component::ApiQueryAuth<'a>: POST "/cgi-bin/component/api_query_auth", Component, not_repeatable -> component::QueryAuth;
    component::ApiAuthorizerToken<'a>: POST "/cgi-bin/component/api_authorizer_token", Component, not_repeatable -> component::AuthorizerAccessToken;
    component::ApiGetAuthorizerInfo<'a>: POST "/cgi-bin/component/api_get_authorizer_info", Component, repeatable -> component::AuthorizerInfoResponse;
    component::ApiGetAuthorizerList<'a>: POST "/cgi-bin/component/api_get_authorizer_list", Component, repeatable -> component::AuthorizerList;
    component::ApiStartPushTicket<'a>: POST "/cgi-bin/component/api_start_push_ticket", None, repeatable -> Empty;
    component::GetTemplateDraftList: GET "/wxa/gettemplatedraftlist", ComponentAsAccessToken, repeatable -> component::DraftList;
    component::AddToTemplate: POST "/wxa/addtotemplate", ComponentAsAccessToken, not_repeatable -> Empty;
    component::GetTemplateList: GET "/wxa/gettemplatelist", ComponentAsAccessToken, repeatable -> component::TemplateList, query;
    component::DeleteTemplate: POST "/wxa/deletetemplate", ComponentAsAccessToken, not_repeatable -> Empty;
    component::ModifyWxaJumpDomain: POST "/cgi-bin/component/modify_wxa_jump_domain", ComponentAsAccessToken, not_repeatable -> component::WxaJumpDomains;
    component::ModifyWxaServerDomain: POST "/cgi-bin/component/modify_wxa_server_domain", ComponentAsAccessToken, not_repeatable -> component::WxaServerDomains;
    component::GetDomainConfirmFile: POST "/cgi-bin/component/get_domain_confirmfile", ComponentAsAccessToken, repeatable -> component::DomainConfirmFile;
    component::GetComponentApiQuota: POST "/cgi-bin/openapi/quota/get", ComponentAsAccessToken, repeatable -> wxa::ApiQuota;
    component::GetComponentRidInfo: POST "/cgi-bin/openapi/rid/get", ComponentAsAccessToken, repeatable -> wxa::RidInfo;
    wxa::Commit: POST "/wxa/commit", Authorizer, not_repeatable -> Empty;
    wxa::GetQrcode: GET "/wxa/get_qrcode", Authorizer, repeatable -> Binary, query;
    wxa::GetCategory: GET "/wxa/get_category", Authorizer, repeatable -> wxa::CategoryList;
    wxa::GetPage: GET "/wxa/get_page", Authorizer, repeatable -> wxa::PageList;
    wxa::SubmitAudit: POST "/wxa/submit_audit", Authorizer, not_repeatable -> wxa::SubmitAuditResponse;
    wxa::GetAuditstatus: POST "/wxa/get_auditstatus", Authorizer, repeatable -> wxa::AuditStatusInfo;
    wxa::GetLatestAuditstatus: GET "/wxa/get_latest_auditstatus", Authorizer, repeatable -> wxa::LatestAuditStatus;
    wxa::UndoCodeAudit: GET "/wxa/undocodeaudit", Authorizer, not_repeatable -> Empty;
    wxa::SpeedupAudit: POST "/wxa/speedupaudit", Authorizer, not_repeatable -> Empty;
    wxa::Release: POST "/wxa/release", Authorizer, not_repeatable -> Empty;
    wxa::RevertCodeRelease: GET "/wxa/revertcoderelease", Authorizer, not_repeatable -> Empty, query;
    wxa::GetHistoryVersion: GET "/wxa/revertcoderelease", Authorizer, repeatable -> wxa::HistoryList, query;
    wxa::ChangeVisitstatus: POST "/wxa/change_visitstatus", Authorizer, not_repeatable -> Empty;
    wxa::GetVisitstatus: POST "/wxa/getvisitstatus", Authorizer, repeatable -> wxa::VisitStatus;
    wxa::GetVersionInfo: POST "/wxa/getversioninfo", Authorizer, repeatable -> wxa::VersionInfo;
    wxa::GrayRelease: POST "/wxa/grayrelease", Authorizer, not_repeatable -> Empty;
    wxa::GetGrayReleasePlan: GET "/wxa/getgrayreleaseplan", Authorizer, repeatable -> wxa::GrayReleasePlanResponse;
    wxa::RevertGrayRelease: GET "/wxa/revertgrayrelease", Authorizer, not_repeatable -> Empty;
    wxa::ModifyDomain: POST "/wxa/modify_domain", Authorizer, not_repeatable -> wxa::ModifyDomainAnswer;
    wxa::SetWebviewDomain: POST "/wxa/setwebviewdomain", Authorizer, not_repeatable -> wxa::WebviewDomains;
    wxa::QueryQuota: GET "/wxa/queryquota", Authorizer, repeatable -> wxa::AuditQuota;
    wxa::BindTester: POST "/wxa/bind_tester", Authorizer, not_repeatable -> wxa::BoundTester;
    wxa::UnbindTester: POST "/wxa/unbind_tester", Authorizer, not_repeatable -> Empty;
    wxa::GetExperiencer: POST "/wxa/memberauth", Authorizer, repeatable -> wxa::TesterList;
    wxa::SetPrivacySetting: POST "/cgi-bin/component/setprivacysetting", Authorizer, repeatable -> Empty;
    wxa::GetPrivacySetting: POST "/cgi-bin/component/getprivacysetting", Authorizer, repeatable -> wxa::PrivacySetting;
    wxa::GetCodePrivacyInfo: GET "/wxa/security/get_code_privacy_info", Authorizer, repeatable -> wxa::CodePrivacyInfo;
    wxa::ModifyDomainDirectly: POST "/wxa/modify_domain_directly", Authorizer, not_repeatable -> wxa::ModifyDomainAnswer;
    wxa::GetEffectiveDomain: POST "/wxa/get_effective_domain", Authorizer, repeatable -> wxa::EffectiveDomains;
    wxa::SetWebviewDomainDirectly: POST "/wxa/setwebviewdomain_directly", Authorizer, not_repeatable -> wxa::WebviewDomains;
    wxa::ApplyPrivacyInterface: POST "/wxa/security/apply_privacy_interface", Authorizer, not_repeatable -> wxa::PrivacyApplication;
    wxa::GetPrivacyInterface: GET "/wxa/security/get_privacy_interface", Authorizer, repeatable -> wxa::PrivacyInterfaceList;
    wxa::GetWxaCodeUnlimit: POST "/wxa/getwxacodeunlimit", Authorizer, repeatable -> Binary;
    // The limited codes: each may spend one of the app's 100,000 (45029 after), never repeated.
    wxa::GetWxaCode: POST "/wxa/getwxacode", Authorizer, not_repeatable -> Binary;
    wxa::CreateWxaQrCode: POST "/cgi-bin/wxaapp/createwxaqrcode", Authorizer, not_repeatable -> Binary;
    wxa::UploadMedia: MULTIPART "/wxa/uploadmedia", Authorizer, not_repeatable -> wxa::UploadedMedia, file;
    wxa::GetApiQuota: POST "/cgi-bin/openapi/quota/get", Authorizer, repeatable -> wxa::ApiQuota;
    wxa::GetRidInfo: POST "/cgi-bin/openapi/rid/get", Authorizer, repeatable -> wxa::RidInfo;
    // The js_code is spent by the first presentation (40163 after).
    services::JsCode2Session: GET "/sns/component/jscode2session", Component, not_repeatable -> services::Session, query;
    services::GetUserPhoneNumber: POST "/wxa/business/getuserphonenumber", Authorizer, not_repeatable -> services::PhoneNumber;
    services::GetSubscribeCategories: GET "/wxaapi/newtmpl/getcategory", Authorizer, repeatable -> services::SubscribeCategories;
    services::GetPubTemplateTitles: GET "/wxaapi/newtmpl/getpubtemplatetitles", Authorizer, repeatable -> services::PubTemplateTitles, query;
    services::GetPubTemplateKeywords: GET "/wxaapi/newtmpl/getpubtemplatekeywords", Authorizer, repeatable -> services::PubTemplateKeywords, query;
    services::AddSubscribeTemplate: POST "/wxaapi/newtmpl/addtemplate", Authorizer, not_repeatable -> services::AddedSubscribeTemplate;
    services::DelSubscribeTemplate: POST "/wxaapi/newtmpl/deltemplate", Authorizer, not_repeatable -> Empty;
    services::GetSubscribeTemplates: GET "/wxaapi/newtmpl/gettemplate", Authorizer, repeatable -> services::SubscribeTemplates;
    services::SendSubscribeMessage: POST "/cgi-bin/message/subscribe/send", Authorizer, not_repeatable -> services::SubscribeSent;
    quota::ClearQuota<'a>: POST "/cgi-bin/clear_quota", Authorizer, not_repeatable -> Empty;
    quota::ComponentClearQuota<'a>: POST "/cgi-bin/component/clear_quota/v2", None, not_repeatable -> Empty;
    // ICP filing (permission set 18 or 156). An application is refused while one is in review
    // (86324); an upload is a new media_id; a face-check task sends a new notice.
    icp::GetIcpEntranceInfo: GET "/wxa/icp/get_icp_entrance_info", Authorizer, repeatable -> icp::IcpEntranceInfo;
    icp::GetOnlineIcpOrder: GET "/wxa/icp/get_online_icp_order", Authorizer, repeatable -> icp::OnlineIcpOrder;
    icp::QueryIcpSubjectTypes: GET "/wxa/icp/query_icp_subject_types", Authorizer, repeatable -> icp::IcpTypes;
    icp::QueryIcpCertificateTypes: GET "/wxa/icp/query_icp_certificate_types", Authorizer, repeatable -> icp::IcpTypes;
    icp::QueryIcpDistrictCode: GET "/wxa/icp/query_icp_district_code", Authorizer, repeatable -> icp::IcpDistricts;
    icp::QueryIcpNrlxTypes: GET "/wxa/icp/query_icp_nrlx_types", Authorizer, repeatable -> icp::IcpTypes;
    icp::QueryIcpServiceContentTypes: GET "/wxa/icp/query_icp_service_content_types", Authorizer, repeatable -> icp::IcpTypes;
    icp::UploadIcpMedia: MULTIPART "/wxa/icp/upload_icp_media", Authorizer, not_repeatable -> icp::UploadedIcpMedia, file, form;
    icp::CreateIcpVerifyTask: POST "/wxa/icp/create_icp_verifytask", Authorizer, not_repeatable -> icp::IcpVerifyTask;
    icp::QueryIcpVerifyTask: POST "/wxa/icp/query_icp_verifytask", Authorizer, repeatable -> icp::IcpVerifyTaskState;
    icp::ApplyIcpFiling: POST "/wxa/icp/apply_icp_filing", Authorizer, not_repeatable -> icp::IcpApplied;
    icp::CancelApplyIcpFiling: POST "/wxa/icp/cancel_apply_icp_filing", Authorizer, not_repeatable -> Empty;
    icp::SubmitAuthAndIcp: POST "/wxa/sec/submit_auth_and_icp", Authorizer, not_repeatable -> icp::IcpApplied;
    icp::QueryAuthAndIcp: POST "/wxa/sec/query_auth_and_icp", Authorizer, repeatable -> icp::AuthAndIcpProgress;
    // Violations (permission sets 18 and 76): reads.
    violations::GetIllegalRecords: POST "/wxa/getillegalrecords", Authorizer, repeatable -> violations::IllegalRecords;
    violations::GetAppealRecords: POST "/wxa/getappealrecords", Authorizer, repeatable -> violations::AppealRecords;
    // Account setup (registration and profile). Registrations, profile changes and uploads are
    // never repeated: each starts a task, spends a change of a limited quota or is a new media_id.
    account::FastRegisterWeapp: POST "/cgi-bin/component/fastregisterweapp", Component, not_repeatable -> Empty, query;
    account::SearchFastRegisterWeapp: POST "/cgi-bin/component/fastregisterweapp", Component, repeatable -> Empty, query;
    account::FastRegisterPersonalWeapp: POST "/wxa/component/fastregisterpersonalweapp", Component, not_repeatable -> account::PersonalTask, query;
    account::QueryPersonalWeapp: POST "/wxa/component/fastregisterpersonalweapp", Component, repeatable -> account::PersonalTaskState, query;
    account::FastRegisterBetaWeapp: POST "/wxa/component/fastregisterbetaweapp", Component, not_repeatable -> account::BetaRegistration;
    account::ReuseOfficialAccountRegister: POST "/cgi-bin/account/fastregister", Authorizer, not_repeatable -> account::ReusedRegistration;
    account::VerifyBetaWeapp: POST "/wxa/verifybetaweapp", Authorizer, not_repeatable -> Empty;
    account::SetBetaWeappNickname: POST "/wxa/setbetaweappnickname", Authorizer, repeatable -> Empty;
    account::GetAccountBasicInfo: POST "/cgi-bin/account/getaccountbasicinfo", Authorizer, repeatable -> account::AccountBasicInfo;
    account::SetNickname: POST "/wxa/setnickname", Authorizer, not_repeatable -> account::NicknameSet;
    account::QueryNickname: POST "/wxa/api_wxa_querynickname", Authorizer, repeatable -> account::NicknameAudit;
    account::CheckWxVerifyNickname: POST "/cgi-bin/wxverify/checkwxverifynickname", Authorizer, repeatable -> account::NicknameCheck;
    account::UploadTempMedia: MULTIPART "/cgi-bin/media/upload", Authorizer, not_repeatable -> account::TempMedia, query, file;
    account::ModifyHeadImage: POST "/cgi-bin/account/modifyheadimage", Authorizer, not_repeatable -> Empty;
    account::ModifySignature: POST "/cgi-bin/account/modifysignature", Authorizer, not_repeatable -> Empty;
    account::GetSearchStatus: GET "/wxa/getwxasearchstatus", Authorizer, repeatable -> account::SearchStatusAnswer;
    account::ChangeSearchStatus: POST "/wxa/changewxasearchstatus", Authorizer, repeatable -> Empty;
    account::GetAllCategories: GET "/cgi-bin/wxopen/getallcategories", Authorizer, repeatable -> account::AllCategories;
    account::GetSettingCategories: GET "/cgi-bin/wxopen/getcategory", Authorizer, repeatable -> account::SettingCategories;
    account::AddCategory: POST "/cgi-bin/wxopen/addcategory", Authorizer, not_repeatable -> Empty;
    account::DeleteCategory: POST "/cgi-bin/wxopen/deletecategory", Authorizer, not_repeatable -> Empty;
    account::ModifyCategory: POST "/cgi-bin/wxopen/modifycategory", Authorizer, not_repeatable -> Empty;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decided here one by one, apart from the declarations: an endpoint is repeated after a
    /// lost answer only when nothing at WeChat changes and nothing is spent by a second send.
    /// A declaration without a decision here fails the test.
    const NEVER_REPEATED: &[&str] = &[
        "component::ApiQueryAuth",
        "component::ApiAuthorizerToken",
        "component::AddToTemplate",
        "component::DeleteTemplate",
        "component::ModifyWxaJumpDomain",
        "component::ModifyWxaServerDomain",
        "wxa::Commit",
        "wxa::SubmitAudit",
        "wxa::UndoCodeAudit",
        "wxa::SpeedupAudit",
        "wxa::Release",
        "wxa::RevertCodeRelease",
        "wxa::ChangeVisitstatus",
        "wxa::GrayRelease",
        "wxa::RevertGrayRelease",
        "wxa::ModifyDomain",
        "wxa::SetWebviewDomain",
        "wxa::BindTester",
        "wxa::UnbindTester",
        "wxa::ModifyDomainDirectly",
        "wxa::SetWebviewDomainDirectly",
        "wxa::ApplyPrivacyInterface",
        "wxa::UploadMedia",
        "services::JsCode2Session",
        "services::GetUserPhoneNumber",
        "services::AddSubscribeTemplate",
        "services::DelSubscribeTemplate",
        "services::SendSubscribeMessage",
        "quota::ClearQuota",
        "quota::ComponentClearQuota",
        "icp::UploadIcpMedia",
        "icp::CreateIcpVerifyTask",
        "icp::ApplyIcpFiling",
        "icp::CancelApplyIcpFiling",
        "icp::SubmitAuthAndIcp",
        // A limited code may spend one of the app's 100,000 (getQRCode, createQRCode).
        "wxa::GetWxaCode",
        "wxa::CreateWxaQrCode",
        // Account setup.
        "account::FastRegisterWeapp",
        "account::FastRegisterPersonalWeapp",
        "account::FastRegisterBetaWeapp",
        "account::ReuseOfficialAccountRegister",
        "account::VerifyBetaWeapp",
        "account::SetNickname",
        "account::UploadTempMedia",
        "account::ModifyHeadImage",
        "account::ModifySignature",
        "account::AddCategory",
        "account::DeleteCategory",
        "account::ModifyCategory",
    ];
    /// Reads, and calls that issue something fresh each time or set what is already set.
    const REPEATABLE: &[&str] = &[
        "component::ApiComponentToken",
        "component::ApiCreatePreauthcode",
        "component::ApiGetAuthorizerInfo",
        "component::ApiGetAuthorizerList",
        "component::ApiStartPushTicket",
        "component::GetTemplateDraftList",
        "component::GetTemplateList",
        "component::GetDomainConfirmFile",
        "component::GetComponentApiQuota",
        "component::GetComponentRidInfo",
        "wxa::GetQrcode",
        "wxa::GetCategory",
        "wxa::GetPage",
        "wxa::GetAuditstatus",
        "wxa::GetLatestAuditstatus",
        "wxa::GetHistoryVersion",
        "wxa::GetVisitstatus",
        "wxa::GetVersionInfo",
        "wxa::GetGrayReleasePlan",
        "wxa::QueryQuota",
        "wxa::GetExperiencer",
        "wxa::SetPrivacySetting",
        "wxa::GetPrivacySetting",
        "wxa::GetCodePrivacyInfo",
        "wxa::GetEffectiveDomain",
        "wxa::GetPrivacyInterface",
        "wxa::GetWxaCodeUnlimit",
        "wxa::GetApiQuota",
        "wxa::GetRidInfo",
        "services::GetSubscribeCategories",
        "services::GetPubTemplateTitles",
        "services::GetPubTemplateKeywords",
        "services::GetSubscribeTemplates",
        "icp::GetIcpEntranceInfo",
        "icp::GetOnlineIcpOrder",
        "icp::QueryIcpSubjectTypes",
        "icp::QueryIcpCertificateTypes",
        "icp::QueryIcpDistrictCode",
        "icp::QueryIcpNrlxTypes",
        "icp::QueryIcpServiceContentTypes",
        "icp::QueryIcpVerifyTask",
        "icp::QueryAuthAndIcp",
        "violations::GetIllegalRecords",
        "violations::GetAppealRecords",
        // Account setup: reads, and setting what is set.
        "account::SearchFastRegisterWeapp",
        "account::QueryPersonalWeapp",
        "account::SetBetaWeappNickname",
        "account::GetAccountBasicInfo",
        "account::QueryNickname",
        "account::CheckWxVerifyNickname",
        "account::GetSearchStatus",
        "account::ChangeSearchStatus",
        "account::GetAllCategories",
        "account::GetSettingCategories",
    ];

    #[test]
    fn every_call_that_changes_state_or_spends_a_value_is_never_repeated() {
        for e in ENDPOINTS {
            match (
                NEVER_REPEATED.contains(&e.name),
                REPEATABLE.contains(&e.name),
            ) {
                (true, false) => assert!(!e.safe_to_repeat, "{} must never be repeated", e.name),
                (false, true) => assert!(e.safe_to_repeat, "{} may be repeated", e.name),
                _ => panic!("{}: decide exactly once whether it may be repeated", e.name),
            }
        }
        // No decision about an endpoint that is not declared (a rename, a removal).
        for name in NEVER_REPEATED.iter().chain(REPEATABLE) {
            assert!(
                ENDPOINTS.iter().any(|e| e.name == *name),
                "{name} is not declared"
            );
        }
        // The read-only form of revertcoderelease shares its path with the rollback but not its
        // safety.
        assert_eq!(
            <wxa::GetHistoryVersion as Endpoint>::PATH,
            <wxa::RevertCodeRelease as Endpoint>::PATH
        );
    }

    #[test]
    fn the_list_is_the_declarations() {
        let mut names: Vec<_> = ENDPOINTS.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ENDPOINTS.len(), "one row per request type");
        let commit = ENDPOINTS.iter().find(|e| e.name == "wxa::Commit").unwrap();
        assert_eq!(commit.path, <wxa::Commit as Endpoint>::PATH);
        assert_eq!(commit.verb, <wxa::Commit as Endpoint>::VERB);
        assert_eq!(commit.token, <wxa::Commit as Endpoint>::TOKEN);
    }
}
