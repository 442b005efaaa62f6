//! The calls a provider's own backends make on an authorized mini program's behalf: user login
//! (`sns/component/jscode2session`, with the component token since the mini program's appsecret
//! is not the provider's), phone numbers, the subscribe-message template library
//! (`wxaapi/newtmpl/*`) and subscribe sends. One declaration each ([`super::endpoint`]).
//!
//! js_codes and phone codes are single use (the second presentation answers 40163 / 40029), so
//! the calls presenting them are never repeated after a lost answer; nor are the calls that add,
//! delete or send. `session_key` is a secret and phone numbers are personal data: neither is
//! printed by `Debug`.

use crate::domain::{AppId, UnixTime};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// `sns/component/jscode2session` (thirdpartyCode2Session): logs a user of an authorized mini
/// program in with the `js_code` of `wx.login`. GET; every parameter is in the query.
#[derive(Serialize)]
pub struct JsCode2Session {
    #[serde(skip)]
    pub appid: AppId,
    #[serde(skip)]
    pub js_code: SecretString,
    #[serde(skip)]
    pub component_appid: AppId,
}

impl std::fmt::Debug for JsCode2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsCode2Session")
            .field("appid", &self.appid)
            .field("js_code", &"<hidden>")
            .field("component_appid", &self.component_appid)
            .finish()
    }
}

impl JsCode2Session {
    /// The query parameters besides the token ([`super::endpoint::Endpoint::query`]).
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("appid", self.appid.to_string()),
            ("js_code", self.js_code.expose_secret().to_owned()),
            ("grant_type", "authorization_code".to_owned()),
            ("component_appid", self.component_appid.to_string()),
        ]
    }
}

/// jscode2session's answer. `unionid` only when the mini program is bound to an open-platform
/// account the user is known to.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    pub openid: String,
    pub session_key: SecretString,
    #[serde(default)]
    pub unionid: Option<String>,
}

/// `wxa/business/getuserphonenumber` (getPhoneNumber): the phone number behind a code from the
/// mini program's phone-number button (single use, 5 minutes).
#[derive(Serialize)]
pub struct GetUserPhoneNumber {
    #[serde(serialize_with = "expose")]
    pub code: SecretString,
}

impl std::fmt::Debug for GetUserPhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GetUserPhoneNumber { code: <hidden> }")
    }
}

fn expose<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

#[derive(Debug, Clone, Deserialize)]
pub struct PhoneNumber {
    pub phone_info: PhoneInfo,
}

/// getPhoneNumber's `phone_info`. `countryCode` is documented as a string but its example
/// answers a number: both are read.
#[derive(Clone, Deserialize)]
pub struct PhoneInfo {
    #[serde(rename = "phoneNumber")]
    pub phone_number: String,
    #[serde(rename = "purePhoneNumber")]
    pub pure_phone_number: String,
    #[serde(rename = "countryCode", deserialize_with = "string_or_number")]
    pub country_code: String,
    pub watermark: Watermark,
}

impl std::fmt::Debug for PhoneInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneInfo")
            .field("phone_number", &"<hidden>")
            .field("country_code", &self.country_code)
            .field("watermark", &self.watermark)
            .finish()
    }
}

/// Which mini program the number was given to, and when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Watermark {
    pub timestamp: UnixTime,
    pub appid: AppId,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

/// `wxaapi/newtmpl/getcategory` (getCategory): the account's categories, which decide the
/// public template titles it may use.
#[derive(Debug, Default, Serialize)]
pub struct GetSubscribeCategories {}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscribeCategories {
    #[serde(default)]
    pub data: Vec<SubscribeCategory>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubscribeCategory {
    pub id: u64,
    pub name: String,
}

/// `wxaapi/newtmpl/getpubtemplatetitles` (getPubTemplateTitleList): the public titles of some
/// categories, paged by `start` and `limit` (at most 30).
#[derive(Debug, Clone, Serialize)]
pub struct GetPubTemplateTitles {
    #[serde(skip)]
    pub category_ids: Vec<u64>,
    #[serde(skip)]
    pub start: u32,
    #[serde(skip)]
    pub limit: u32,
}

impl GetPubTemplateTitles {
    /// The query parameters besides the token ([`super::endpoint::Endpoint::query`]).
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        let ids: Vec<String> = self.category_ids.iter().map(u64::to_string).collect();
        vec![
            ("ids", ids.join(",")),
            ("start", self.start.to_string()),
            ("limit", self.limit.to_string()),
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PubTemplateTitles {
    pub count: u64,
    #[serde(default)]
    pub data: Vec<PubTemplateTitle>,
}

/// One public title: `type` 2 is a one-time subscription, 3 a long-term one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PubTemplateTitle {
    pub tid: u64,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: u32,
    #[serde(rename = "categoryId", deserialize_with = "string_or_number")]
    pub category_id: String,
}

/// `wxaapi/newtmpl/getpubtemplatekeywords` (getPubTemplateKeyWordsById): a title's keywords.
#[derive(Debug, Clone, Serialize)]
pub struct GetPubTemplateKeywords {
    #[serde(skip)]
    pub tid: u64,
}

impl GetPubTemplateKeywords {
    /// The query parameters besides the token ([`super::endpoint::Endpoint::query`]).
    pub(super) fn query_params(&self) -> Vec<(&'static str, String)> {
        vec![("tid", self.tid.to_string())]
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PubTemplateKeywords {
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub data: Vec<PubTemplateKeyword>,
}

/// A keyword: its `rule` (`thing`, `time`, `phrase`…) constrains the value a send may carry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PubTemplateKeyword {
    pub kid: u64,
    pub name: String,
    pub example: String,
    pub rule: String,
}

/// `wxaapi/newtmpl/addtemplate` (addMessageTemplate): adds title `tid` with keywords `kidList`
/// (2 to 5) to the account's templates. Each call adds a new one, so it is never repeated.
#[derive(Debug, Clone, Serialize)]
pub struct AddSubscribeTemplate {
    /// A string on WeChat's page.
    pub tid: String,
    #[serde(rename = "kidList")]
    pub kid_list: Vec<u64>,
    #[serde(rename = "sceneDesc", skip_serializing_if = "Option::is_none")]
    pub scene_desc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AddedSubscribeTemplate {
    #[serde(rename = "priTmplId")]
    pub pri_tmpl_id: String,
}

/// `wxaapi/newtmpl/deltemplate` (deleteMessageTemplate).
#[derive(Debug, Clone, Serialize)]
pub struct DelSubscribeTemplate {
    #[serde(rename = "priTmplId")]
    pub pri_tmpl_id: String,
}

/// `wxaapi/newtmpl/gettemplate` (getMessageTemplateList): the account's templates.
#[derive(Debug, Default, Serialize)]
pub struct GetSubscribeTemplates {}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscribeTemplates {
    #[serde(default)]
    pub data: Vec<SubscribeTemplate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubscribeTemplate {
    #[serde(rename = "priTmplId")]
    pub pri_tmpl_id: String,
    pub title: String,
    pub content: String,
    #[serde(default)]
    pub example: String,
    #[serde(rename = "type")]
    pub kind: u32,
}

/// `cgi-bin/message/subscribe/send` (sendMessage): one message to a user who accepted the
/// template (43101 otherwise; a one-time acceptance allows one send). Never repeated: a lost
/// answer may hide a delivered message.
#[derive(Debug, Clone, Serialize)]
pub struct SendSubscribeMessage {
    pub touser: String,
    pub template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Keyword name (`thing1`, `time2`…) to its value.
    pub data: BTreeMap<String, SubscribeValue>,
    /// `developer`, `trial` or `formal` (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscribeValue {
    pub value: String,
}

/// The send's answer; WeChat adds a `msgid` the page does not list.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscribeSent {
    #[serde(default)]
    pub msgid: Option<u64>,
}
