//! The daily API quota tools: resetting an account's daily call counts when they run out
//! (45009). Looking a quota up (`openapi/quota/get`) and a failed call's rid (`openapi/rid/get`)
//! are [`super::wxa::GetApiQuota`] / [`super::wxa::GetRidInfo`] with the authorizer's token and
//! [`super::component::GetComponentApiQuota`] / [`super::component::GetComponentRidInfo`] with
//! the platform's.
//!
//! A reset is a write WeChat rations (10 a month per account, shared by both forms, then 48006):
//! neither is repeated after a lost answer, since a repeat may spend a second one; the caller
//! settles a doubt from `openapi/quota/get` (counts back at zero or not).

use crate::domain::AppId;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// `cgi-bin/clear_quota` with the authorizer's token: zeroes that mini program's daily call
/// counts. `appid` must be the token's own account (40013 otherwise); 48006 when its 10 resets
/// of the month are spent (clear_quota.html).
#[derive(Debug, Serialize)]
pub struct ClearQuota<'a> {
    pub appid: &'a AppId,
}

/// `cgi-bin/component/clear_quota/v2`: a reset by the platform's appsecret, usable when the
/// tokens themselves are out of quota. Without `appid` it zeroes the platform's own counts
/// (`api_component_token` included); with an authorized account's `appid`, that account's
/// (api_componentclearquota_v2.html). The appsecret leaves only in this request's body.
#[derive(Debug, Serialize)]
pub struct ComponentClearQuota<'a> {
    pub component_appid: &'a AppId,
    #[serde(serialize_with = "expose")]
    pub appsecret: &'a SecretString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<&'a AppId>,
}

/// Serializes the appsecret for the request body (the only place it is exposed).
fn expose<S: serde::Serializer>(s: &&SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appsecret_is_in_the_body_only_and_never_in_debug() {
        let component_appid = AppId::parse("wx1234567890abcdef").unwrap();
        let secret = SecretString::from("s3cr3t-appsecret");
        let req = ComponentClearQuota {
            component_appid: &component_appid,
            appsecret: &secret,
            appid: None,
        };
        let body = serde_json::to_value(&req).unwrap();
        assert_eq!(body["appsecret"], "s3cr3t-appsecret");
        assert!(body.get("appid").is_none(), "the platform's own: no appid");
        assert!(!format!("{req:?}").contains("s3cr3t"));
    }
}
