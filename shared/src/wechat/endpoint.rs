//! Every WeChat endpoint is one declaration: a request type that says its method, path, which
//! token it carries (and under which query name), whether repeating it after a lost answer is
//! safe, and its response type. One generic send ([`super::WechatClient::call`], and
//! [`super::ComponentApi::call`] / [`super::WxaApi::call`] with automatic tokens) serves them all,
//! as ruma's endpoint types with their metadata are served by one client.
//!
//! ```ignore
//! endpoint!(GetCategory: GET "/wxa/get_category", Authorizer, repeatable -> CategoryList);
//! ```

use super::client::Binary;
use super::error::{WechatError, WechatResult};
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

/// One WeChat endpoint. Implemented by [`endpoint!`] for most; by hand where the query
/// depends on the request.
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

/// Declares an endpoint on a request type:
/// `endpoint!(Type<'a>: POST "/path", Authorizer, not_repeatable -> Response);`
#[macro_export]
#[doc(hidden)]
macro_rules! endpoint {
    (@repeat repeatable) => { true };
    (@repeat not_repeatable) => { false };
    (@marker Component, $ty:ty, $($lt:lifetime)?) => {
        impl<$($lt)?> $crate::wechat::endpoint::ComponentEndpoint for $ty {}
    };
    (@marker ComponentAsAccessToken, $ty:ty, $($lt:lifetime)?) => {
        impl<$($lt)?> $crate::wechat::endpoint::ComponentEndpoint for $ty {}
    };
    (@marker None, $ty:ty, $($lt:lifetime)?) => {
        impl<$($lt)?> $crate::wechat::endpoint::ComponentEndpoint for $ty {}
    };
    (@marker Authorizer, $ty:ty, $($lt:lifetime)?) => {
        impl<$($lt)?> $crate::wechat::endpoint::AuthorizerEndpoint for $ty {}
    };
    (@verb GET) => { $crate::wechat::endpoint::Verb::Get };
    (@verb POST) => { $crate::wechat::endpoint::Verb::Post };
    (@verb MULTIPART) => { $crate::wechat::endpoint::Verb::Multipart };
    ($name:ident $(<$lt:lifetime>)?: $verb:ident $path:literal, $token:ident, $repeat:ident -> $resp:ty) => {
        impl<$($lt)?> $crate::wechat::endpoint::Endpoint for $name$(<$lt>)? {
            const PATH: &'static str = $path;
            const VERB: $crate::wechat::endpoint::Verb = $crate::endpoint!(@verb $verb);
            const TOKEN: $crate::wechat::endpoint::Token = $crate::wechat::endpoint::Token::$token;
            const SAFE_TO_REPEAT: bool = $crate::endpoint!(@repeat $repeat);
            type Response = $resp;
        }
        $crate::endpoint!(@marker $token, $name$(<$lt>)?, $($lt)?);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::{component as c, services as s, wxa as w};

    fn repeat<E: Endpoint>() -> bool {
        E::SAFE_TO_REPEAT
    }

    #[test]
    fn every_call_that_changes_state_or_spends_a_value_is_never_repeated() {
        let never = [
            repeat::<c::ApiQueryAuth>(),
            repeat::<c::ApiAuthorizerToken>(),
            repeat::<c::AddToTemplate>(),
            repeat::<c::DeleteTemplate>(),
            repeat::<w::CommitRequest>(),
            repeat::<w::SubmitAuditRequest>(),
            repeat::<w::UndoCodeAudit>(),
            repeat::<w::SpeedupAudit>(),
            repeat::<w::Release>(),
            repeat::<w::RevertCodeRelease>(),
            repeat::<w::ChangeVisitstatus>(),
            repeat::<w::GrayReleaseRequest>(),
            repeat::<w::RevertGrayRelease>(),
            repeat::<w::ModifyDomain>(),
            repeat::<w::SetWebviewDomain>(),
            repeat::<w::BindTester>(),
            repeat::<c::ModifyWxaJumpDomain>(),
            repeat::<w::UnbindTester>(),
            repeat::<c::ModifyWxaServerDomain>(),
            repeat::<w::ModifyDomainDirectly>(),
            repeat::<w::SetWebviewDomainDirectly>(),
            repeat::<w::ApplyPrivacyInterface>(),
            repeat::<w::UploadMedia>(),
            repeat::<s::JsCode2Session>(),
            repeat::<s::GetUserPhoneNumber>(),
            repeat::<s::AddSubscribeTemplate>(),
            repeat::<s::DelSubscribeTemplate>(),
            repeat::<s::SendSubscribeMessage>(),
            repeat::<crate::wechat::quota::ClearQuota>(),
            repeat::<crate::wechat::quota::ComponentClearQuota>(),
        ];
        assert!(never.iter().all(|r| !r));
        // Reads, and calls that issue something fresh each time, may be repeated; the read-only
        // form of revertcoderelease shares its path with the rollback but not its safety.
        let safe = [
            repeat::<c::ApiComponentToken>(),
            repeat::<c::ApiCreatePreauthcode>(),
            repeat::<c::ApiGetAuthorizerInfo>(),
            repeat::<c::ApiGetAuthorizerList>(),
            repeat::<w::GetHistoryVersion>(),
            repeat::<w::GetLatestAuditstatus>(),
            repeat::<w::GetVersionInfo>(),
            repeat::<w::QueryQuota>(),
            repeat::<w::GetExperiencer>(),
            repeat::<w::GetCodePrivacyInfo>(),
            repeat::<w::GetPrivacySetting>(),
            repeat::<w::SetPrivacySetting>(),
            repeat::<c::GetDomainConfirmFile>(),
            repeat::<w::GetEffectiveDomain>(),
            repeat::<w::GetPrivacyInterface>(),
            repeat::<w::GetWxaCodeUnlimit>(),
            repeat::<w::GetApiQuota>(),
            repeat::<w::GetRidInfo>(),
            repeat::<c::GetComponentApiQuota>(),
            repeat::<c::GetComponentRidInfo>(),
            repeat::<s::GetSubscribeCategories>(),
            repeat::<s::GetPubTemplateTitles>(),
            repeat::<s::GetPubTemplateKeywords>(),
            repeat::<s::GetSubscribeTemplates>(),
        ];
        assert!(safe.iter().all(|r| *r));
        assert_eq!(
            <w::GetHistoryVersion as Endpoint>::PATH,
            <w::RevertCodeRelease as Endpoint>::PATH
        );
    }
}
