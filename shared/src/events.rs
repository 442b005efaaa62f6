//! Pushes from WeChat: the encrypted envelope and the typed events inside it.
//!
//! Two URLs receive pushes. The authorization-event URL gets [`ComponentEvent`]s
//! (`component_verify_ticket`, `authorized`, `updateauthorized`, `unauthorized`, ...); the message
//! URL gets [`AuthorizerEvent`]s for one authorized account (`weapp_audit_success|fail|delay`, ...).
//! Types we do not handle become `Unknown`, never an error: WeChat adds types over time, and a push
//! we cannot use must still be answered `success`.

use crate::crypto::{CryptoError, MsgCrypt};
use crate::domain::{AppId, UnixTime};
use quick_xml::events::Event;
use quick_xml::Reader;
use secrecy::SecretString;
use serde::Deserialize;
use std::fmt;

/// Pushes are a few hundred bytes; anything over this is refused before parsing.
pub const MAX_PUSH_BYTES: usize = 64 * 1024;

/// Why a push could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("push body is over {MAX_PUSH_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// The decrypted XML is a known event type with a missing or malformed field.
    #[error("malformed {event} event: {detail}")]
    MalformedEvent { event: String, detail: String },
}

impl PushError {
    fn malformed(event: &str, detail: impl fmt::Display) -> Self {
        PushError::MalformedEvent {
            event: event.to_owned(),
            detail: detail.to_string(),
        }
    }
}

/// The outer XML of a push: `Encrypt` beside `ToUserName` (message URL) or `AppId`
/// (authorization-event URL). Legacy compatible-mode bodies carry plaintext fields too; ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub encrypt: String,
    pub to_user_name: Option<String>,
    pub app_id: Option<String>,
}

impl Envelope {
    /// Extracts the envelope fields from a push body (CDATA or plain text).
    pub fn parse(body: &[u8]) -> Result<Envelope, PushError> {
        if body.len() > MAX_PUSH_BYTES {
            return Err(PushError::TooLarge);
        }
        let text = std::str::from_utf8(body).map_err(|_| CryptoError::ParseXml)?;
        let mut reader = Reader::from_str(text);
        let mut depth = 0usize;
        let mut current: Option<Field> = None;
        let mut encrypt = None;
        let mut to_user_name = None;
        let mut app_id = None;
        let mut saw_root = false;
        loop {
            match reader.read_event().map_err(|_| CryptoError::ParseXml)? {
                Event::Start(e) => {
                    depth += 1;
                    if depth == 1 {
                        if e.name().as_ref() != "xml" {
                            return Err(CryptoError::ParseXml.into());
                        }
                        saw_root = true;
                    }
                    current = if depth == 2 {
                        match e.name().as_ref() {
                            "Encrypt" => Some(Field::Encrypt),
                            "ToUserName" => Some(Field::ToUserName),
                            "AppId" => Some(Field::AppId),
                            _ => None,
                        }
                    } else {
                        None
                    };
                }
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    current = None;
                }
                Event::Text(t) => {
                    if let Some(f) = current {
                        f.append(&mut encrypt, &mut to_user_name, &mut app_id, &t);
                    }
                }
                Event::CData(c) => {
                    if let Some(f) = current {
                        f.append(&mut encrypt, &mut to_user_name, &mut app_id, &c);
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(f) = current {
                        let mut buf = [0u8; 4];
                        let resolved: &str = if r.is_char_ref() {
                            match r.resolve_char_ref() {
                                Ok(Some(ch)) => ch.encode_utf8(&mut buf),
                                _ => return Err(CryptoError::ParseXml.into()),
                            }
                        } else {
                            quick_xml::escape::resolve_predefined_entity(&r)
                                .ok_or(CryptoError::ParseXml)?
                        };
                        f.append(&mut encrypt, &mut to_user_name, &mut app_id, resolved);
                    }
                }
                Event::Empty(e) if depth == 0 && e.name().as_ref() == "xml" => saw_root = true,
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root || depth != 0 {
            return Err(CryptoError::ParseXml.into());
        }
        let encrypt = encrypt
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .ok_or(CryptoError::ParseXml)?;
        Ok(Envelope {
            encrypt,
            to_user_name,
            app_id,
        })
    }
}

#[derive(Clone, Copy)]
enum Field {
    Encrypt,
    ToUserName,
    AppId,
}

impl Field {
    fn append(
        self,
        encrypt: &mut Option<String>,
        to: &mut Option<String>,
        app: &mut Option<String>,
        v: &str,
    ) {
        let slot = match self {
            Field::Encrypt => encrypt,
            Field::ToUserName => to,
            Field::AppId => app,
        };
        slot.get_or_insert_with(String::new).push_str(v);
    }
}

/// The query string WeChat puts on a push URL. Only these three matter for `msg_signature`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PushQuery {
    pub msg_signature: String,
    pub timestamp: String,
    pub nonce: String,
}

/// Parses the envelope, verifies `msg_signature` and decrypts: the plaintext XML, byte-exact.
pub fn open_push(crypt: &MsgCrypt, body: &[u8], q: &PushQuery) -> Result<String, PushError> {
    let env = Envelope::parse(body)?;
    Ok(crypt.verify_and_decrypt(&q.msg_signature, &q.timestamp, &q.nonce, &env.encrypt)?)
}

/// Raw XML kept for unknown events. `Debug` prints its size only: unknown events may carry codes.
#[derive(Clone, PartialEq, Eq)]
pub struct RawXml(pub String);

impl fmt::Debug for RawXml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawXml({} bytes)", self.0.len())
    }
}

/// The authorization code pushed with `authorized` / `updateauthorized`.
#[derive(Debug, Clone)]
pub struct AuthorizationChange {
    pub component_appid: String,
    pub create_time: UnixTime,
    pub authorizer_appid: AppId,
    pub authorization_code: SecretString,
    pub authorization_code_expired_time: UnixTime,
    pub pre_auth_code: Option<SecretString>,
}

/// Events on the authorization-event URL (授权事件接收URL).
#[derive(Debug, Clone)]
pub enum ComponentEvent {
    /// Every 10 minutes; valid for 12 hours.
    VerifyTicket {
        component_appid: String,
        create_time: UnixTime,
        ticket: SecretString,
    },
    Authorized(AuthorizationChange),
    UpdateAuthorized(AuthorizationChange),
    Unauthorized {
        component_appid: String,
        create_time: UnixTime,
        authorizer_appid: AppId,
    },
    Unknown {
        info_type: String,
        raw: RawXml,
    },
}

#[derive(Deserialize)]
struct RawComponentEvent {
    #[serde(rename = "AppId")]
    app_id: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "InfoType")]
    info_type: Option<String>,
    #[serde(rename = "ComponentVerifyTicket")]
    ticket: Option<String>,
    #[serde(rename = "AuthorizerAppid")]
    authorizer_appid: Option<String>,
    #[serde(rename = "AuthorizationCode")]
    authorization_code: Option<String>,
    #[serde(rename = "AuthorizationCodeExpiredTime")]
    authorization_code_expired_time: Option<String>,
    #[serde(rename = "PreAuthCode")]
    pre_auth_code: Option<String>,
}

fn required<'a>(event: &str, name: &str, v: &'a Option<String>) -> Result<&'a str, PushError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(PushError::malformed(event, format!("missing {name}"))),
    }
}

fn time_field(event: &str, name: &str, v: &Option<String>) -> Result<UnixTime, PushError> {
    required(event, name, v)?
        .parse::<UnixTime>()
        .map_err(|_| PushError::malformed(event, format!("{name} is not a number")))
}

fn appid_field(event: &str, name: &str, v: &Option<String>) -> Result<AppId, PushError> {
    AppId::parse(required(event, name, v)?).map_err(|e| PushError::malformed(event, e))
}

impl ComponentEvent {
    /// Parses a decrypted push from the authorization-event URL.
    pub fn parse(xml: &str) -> Result<ComponentEvent, PushError> {
        let raw: RawComponentEvent = quick_xml::de::from_str(xml)
            .map_err(|e| PushError::malformed("component", format!("XML: {e}")))?;
        let info_type = raw.info_type.as_deref().map(str::trim).unwrap_or_default();
        let ev = info_type;
        let change = |raw: &RawComponentEvent| -> Result<AuthorizationChange, PushError> {
            Ok(AuthorizationChange {
                component_appid: required(ev, "AppId", &raw.app_id)?.to_owned(),
                create_time: time_field(ev, "CreateTime", &raw.create_time)?,
                authorizer_appid: appid_field(ev, "AuthorizerAppid", &raw.authorizer_appid)?,
                authorization_code: SecretString::from(
                    required(ev, "AuthorizationCode", &raw.authorization_code)?.to_owned(),
                ),
                authorization_code_expired_time: time_field(
                    ev,
                    "AuthorizationCodeExpiredTime",
                    &raw.authorization_code_expired_time,
                )?,
                pre_auth_code: raw
                    .pre_auth_code
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| SecretString::from(s.to_owned())),
            })
        };
        Ok(match info_type {
            "component_verify_ticket" => ComponentEvent::VerifyTicket {
                component_appid: required(ev, "AppId", &raw.app_id)?.to_owned(),
                create_time: time_field(ev, "CreateTime", &raw.create_time)?,
                ticket: SecretString::from(
                    required(ev, "ComponentVerifyTicket", &raw.ticket)?.to_owned(),
                ),
            },
            "authorized" => ComponentEvent::Authorized(change(&raw)?),
            "updateauthorized" => ComponentEvent::UpdateAuthorized(change(&raw)?),
            "unauthorized" => ComponentEvent::Unauthorized {
                component_appid: required(ev, "AppId", &raw.app_id)?.to_owned(),
                create_time: time_field(ev, "CreateTime", &raw.create_time)?,
                authorizer_appid: appid_field(ev, "AuthorizerAppid", &raw.authorizer_appid)?,
            },
            other => ComponentEvent::Unknown {
                info_type: other.to_owned(),
                raw: RawXml(xml.to_owned()),
            },
        })
    }
}

/// Fields every message-URL event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeader {
    /// The mini program's original id (`gh_…`).
    pub to_user_name: String,
    pub from_user_name: String,
    pub create_time: UnixTime,
}

/// Events on the message URL (消息与事件接收URL) for one authorized account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizerEvent {
    AuditSuccess {
        header: EventHeader,
        succ_time: UnixTime,
    },
    AuditFail {
        header: EventHeader,
        reason: String,
        fail_time: UnixTime,
        /// media_ids, from the `|`-separated `ScreenShot`.
        screenshots: Vec<String>,
    },
    AuditDelay {
        header: EventHeader,
        reason: String,
        delay_time: UnixTime,
    },
    Unknown {
        msg_type: String,
        event: Option<String>,
        raw: RawXml,
    },
}

#[derive(Deserialize)]
struct RawAuthorizerEvent {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "SuccTime")]
    succ_time: Option<String>,
    #[serde(rename = "FailTime")]
    fail_time: Option<String>,
    #[serde(rename = "DelayTime")]
    delay_time: Option<String>,
    #[serde(rename = "Reason")]
    reason: Option<String>,
    #[serde(rename = "ScreenShot")]
    screenshot: Option<String>,
}

impl AuthorizerEvent {
    /// Parses a decrypted push from the message URL.
    pub fn parse(xml: &str) -> Result<AuthorizerEvent, PushError> {
        let raw: RawAuthorizerEvent = quick_xml::de::from_str(xml)
            .map_err(|e| PushError::malformed("message", format!("XML: {e}")))?;
        let msg_type = raw.msg_type.as_deref().map(str::trim).unwrap_or_default();
        let event = raw.event.as_deref().map(str::trim);
        let known = msg_type == "event"
            && matches!(
                event,
                Some("weapp_audit_success" | "weapp_audit_fail" | "weapp_audit_delay")
            );
        if !known {
            return Ok(AuthorizerEvent::Unknown {
                msg_type: msg_type.to_owned(),
                event: event.map(str::to_owned),
                raw: RawXml(xml.to_owned()),
            });
        }
        let ev = event.unwrap_or_default();
        let header = EventHeader {
            to_user_name: required(ev, "ToUserName", &raw.to_user_name)?.to_owned(),
            from_user_name: raw
                .from_user_name
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned(),
            create_time: time_field(ev, "CreateTime", &raw.create_time)?,
        };
        let reason = raw.reason.clone().unwrap_or_default();
        Ok(match ev {
            "weapp_audit_success" => AuthorizerEvent::AuditSuccess {
                header,
                succ_time: time_field(ev, "SuccTime", &raw.succ_time)?,
            },
            "weapp_audit_fail" => AuthorizerEvent::AuditFail {
                header,
                reason,
                fail_time: time_field(ev, "FailTime", &raw.fail_time)?,
                screenshots: raw
                    .screenshot
                    .as_deref()
                    .unwrap_or_default()
                    .split('|')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            _ => AuthorizerEvent::AuditDelay {
                header,
                reason,
                delay_time: time_field(ev, "DelayTime", &raw.delay_time)?,
            },
        })
    }
}
