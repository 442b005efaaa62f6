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
use std::borrow::Cow;
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
        let fields = Fields::parse(text).map_err(|_| CryptoError::ParseXml)?;
        let encrypt = fields
            .text("Encrypt")
            .ok_or(CryptoError::ParseXml)?
            .to_owned();
        Ok(Envelope {
            encrypt,
            to_user_name: fields.text("ToUserName").map(str::to_owned),
            app_id: fields.text("AppId").map(str::to_owned),
        })
    }
}

/// The children of a push's `<xml>` root, each with its text (plain, CDATA and entities joined).
///
/// Every WeChat push is this flat shape, so one quick-xml pull-parse serves the envelope and every
/// event type (much faster than a serde pass); deeper elements are skipped. Values borrow from the
/// input unless they had to be joined or unescaped.
struct Fields<'a>(Vec<(&'static str, Cow<'a, str>)>);

/// Every child element any push type is read for; others are parsed for well-formedness and skipped.
const KNOWN_FIELDS: [&str; 18] = [
    "Encrypt",
    "ToUserName",
    "AppId",
    "InfoType",
    "CreateTime",
    "ComponentVerifyTicket",
    "AuthorizerAppid",
    "AuthorizationCode",
    "AuthorizationCodeExpiredTime",
    "PreAuthCode",
    "FromUserName",
    "MsgType",
    "Event",
    "SuccTime",
    "FailTime",
    "DelayTime",
    "Reason",
    "ScreenShot",
];

fn known(name: &str) -> Option<&'static str> {
    // Most names are ruled out by their length before any byte comparison.
    KNOWN_FIELDS
        .iter()
        .copied()
        .find(|k| k.len() == name.len() && *k == name)
}

/// The input is not a well-formed `<xml>` document.
struct NotXml;

impl<'a> Fields<'a> {
    fn parse(xml: &'a str) -> Result<Fields<'a>, NotXml> {
        let mut reader = Reader::from_str(xml);
        let mut fields: Vec<(&'static str, Cow<'a, str>)> = Vec::with_capacity(12);
        let mut depth = 0usize;
        let mut saw_root = false;
        // Whether the open depth-2 element is one we keep (its text goes to `fields.last_mut()`).
        let mut keeping = false;
        loop {
            match reader.read_event().map_err(|_| NotXml)? {
                Event::Start(e) => {
                    depth += 1;
                    match depth {
                        1 if e.name().as_ref() == "xml" && !saw_root => saw_root = true,
                        1 => return Err(NotXml),
                        2 => {
                            keeping = match known(e.name().as_ref()) {
                                Some(name) => {
                                    fields.push((name, Cow::Borrowed("")));
                                    true
                                }
                                None => false,
                            }
                        }
                        _ => {}
                    }
                }
                Event::Empty(e) => match depth {
                    0 if e.name().as_ref() == "xml" && !saw_root => saw_root = true,
                    0 => return Err(NotXml),
                    1 => {
                        if let Some(name) = known(e.name().as_ref()) {
                            fields.push((name, Cow::Borrowed("")));
                        }
                    }
                    _ => {}
                },
                Event::End(_) => {
                    if depth == 2 {
                        keeping = false;
                    }
                    depth = depth.checked_sub(1).ok_or(NotXml)?;
                }
                Event::Text(t) if depth == 2 && keeping => append(&mut fields, t.into_inner()),
                Event::CData(c) if depth == 2 && keeping => append(&mut fields, c.into_inner()),
                Event::GeneralRef(r) if depth == 2 && keeping => {
                    let resolved: Cow<'a, str> = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(ch)) => Cow::Owned(ch.to_string()),
                            _ => return Err(NotXml),
                        }
                    } else {
                        Cow::Borrowed(
                            quick_xml::escape::resolve_predefined_entity(&r).ok_or(NotXml)?,
                        )
                    };
                    append(&mut fields, resolved);
                }
                // Skipped, but still refused when it is not a valid reference.
                Event::GeneralRef(r)
                    if depth >= 2
                        && !r.is_char_ref()
                        && quick_xml::escape::resolve_predefined_entity(&r).is_none() =>
                {
                    return Err(NotXml)
                }
                Event::Text(t) if depth == 0 && !t.trim().is_empty() => return Err(NotXml),
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root || depth != 0 {
            return Err(NotXml);
        }
        Ok(Fields(fields))
    }

    /// The first child named `name` (names are case-sensitive, as WeChat's are).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// A child's trimmed text, `None` when absent or blank.
    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A required child's trimmed text, or a malformed-event error naming it.
    fn required(&self, event: &str, name: &str) -> Result<&str, PushError> {
        self.text(name)
            .ok_or_else(|| PushError::malformed(event, format!("missing {name}")))
    }

    fn time(&self, event: &str, name: &str) -> Result<UnixTime, PushError> {
        self.required(event, name)?
            .parse::<UnixTime>()
            .map_err(|_| PushError::malformed(event, format!("{name} is not a number")))
    }

    fn appid(&self, event: &str, name: &str) -> Result<AppId, PushError> {
        AppId::parse(self.required(event, name)?).map_err(|e| PushError::malformed(event, e))
    }

    fn secret(&self, event: &str, name: &str) -> Result<SecretString, PushError> {
        Ok(SecretString::from(self.required(event, name)?.to_owned()))
    }
}

/// Appends text to the element opened last (the only one open at depth 2).
fn append<'a>(fields: &mut [(&'static str, Cow<'a, str>)], part: Cow<'a, str>) {
    if let Some((_, value)) = fields.last_mut() {
        if value.is_empty() {
            *value = part;
        } else {
            value.to_mut().push_str(&part);
        }
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

impl ComponentEvent {
    /// Parses a decrypted push from the authorization-event URL.
    pub fn parse(xml: &str) -> Result<ComponentEvent, PushError> {
        let f = Fields::parse(xml)
            .map_err(|_| PushError::malformed("component", "not a well-formed <xml> document"))?;
        let ev = f.text("InfoType").unwrap_or_default();
        let change = || -> Result<AuthorizationChange, PushError> {
            Ok(AuthorizationChange {
                component_appid: f.required(ev, "AppId")?.to_owned(),
                create_time: f.time(ev, "CreateTime")?,
                authorizer_appid: f.appid(ev, "AuthorizerAppid")?,
                authorization_code: f.secret(ev, "AuthorizationCode")?,
                authorization_code_expired_time: f.time(ev, "AuthorizationCodeExpiredTime")?,
                pre_auth_code: f
                    .text("PreAuthCode")
                    .map(|s| SecretString::from(s.to_owned())),
            })
        };
        Ok(match ev {
            "component_verify_ticket" => ComponentEvent::VerifyTicket {
                component_appid: f.required(ev, "AppId")?.to_owned(),
                create_time: f.time(ev, "CreateTime")?,
                ticket: f.secret(ev, "ComponentVerifyTicket")?,
            },
            "authorized" => ComponentEvent::Authorized(change()?),
            "updateauthorized" => ComponentEvent::UpdateAuthorized(change()?),
            "unauthorized" => ComponentEvent::Unauthorized {
                component_appid: f.required(ev, "AppId")?.to_owned(),
                create_time: f.time(ev, "CreateTime")?,
                authorizer_appid: f.appid(ev, "AuthorizerAppid")?,
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

impl AuthorizerEvent {
    /// Parses a decrypted push from the message URL.
    pub fn parse(xml: &str) -> Result<AuthorizerEvent, PushError> {
        let f = Fields::parse(xml)
            .map_err(|_| PushError::malformed("message", "not a well-formed <xml> document"))?;
        let msg_type = f.text("MsgType").unwrap_or_default();
        let event = f.text("Event");
        let ev = match (msg_type, event) {
            (
                "event",
                Some(e @ ("weapp_audit_success" | "weapp_audit_fail" | "weapp_audit_delay")),
            ) => e,
            _ => {
                return Ok(AuthorizerEvent::Unknown {
                    msg_type: msg_type.to_owned(),
                    event: event.map(str::to_owned),
                    raw: RawXml(xml.to_owned()),
                })
            }
        };
        let header = EventHeader {
            to_user_name: f.required(ev, "ToUserName")?.to_owned(),
            from_user_name: f.text("FromUserName").unwrap_or_default().to_owned(),
            create_time: f.time(ev, "CreateTime")?,
        };
        let reason = f.text("Reason").unwrap_or_default().to_owned();
        Ok(match ev {
            "weapp_audit_success" => AuthorizerEvent::AuditSuccess {
                header,
                succ_time: f.time(ev, "SuccTime")?,
            },
            "weapp_audit_fail" => AuthorizerEvent::AuditFail {
                header,
                reason,
                fail_time: f.time(ev, "FailTime")?,
                screenshots: f
                    .text("ScreenShot")
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
                delay_time: f.time(ev, "DelayTime")?,
            },
        })
    }
}
