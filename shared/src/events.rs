//! Pushes from WeChat: the encrypted envelope and the typed events inside it.
//!
//! Two URLs receive pushes. The authorization-event URL gets [`ComponentEvent`]s
//! (`component_verify_ticket`, `authorized`, `updateauthorized`, `unauthorized`,
//! `notify_third_fasteregister`, ...); the message
//! URL gets [`AuthorizerEvent`]s for one authorized account (`weapp_audit_success|fail|delay`, ...).
//! Types we do not handle become `Unknown`, never an error: WeChat adds types over time, and a push
//! we cannot use must still be answered `success`.

use crate::crypto::{CryptoError, MsgCrypt};
use crate::domain::{AppId, UnixTime};
use crate::wechat::icp::{FaceStatus, IcpStatus};
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
///
/// Values borrow from the body (a push is opened on the hot path, once per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub encrypt: Cow<'a, str>,
    pub to_user_name: Option<Cow<'a, str>>,
    pub app_id: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    /// Extracts the envelope fields from a push body (CDATA or plain text).
    pub fn parse(body: &'a [u8]) -> Result<Envelope<'a>, PushError> {
        if body.len() > MAX_PUSH_BYTES {
            return Err(PushError::TooLarge);
        }
        // quick-xml validates UTF-8 event by event; no separate pass over the body.
        let mut fields = Fields::new();
        fields.read(body).map_err(|_| CryptoError::ParseXml)?;
        let encrypt = fields.take(Field::Encrypt).ok_or(CryptoError::ParseXml)?;
        Ok(Envelope {
            encrypt,
            to_user_name: fields.take(Field::ToUserName),
            app_id: fields.take(Field::AppId),
        })
    }
}

/// Declares [`Field`]: the children any push type is read for, each name written once.
macro_rules! known_fields {
    ($($field:ident),* $(,)?) => {
        /// A child element of a push's `<xml>` root that some push type is read for; others are
        /// parsed for well-formedness and skipped. Names are case-sensitive, as WeChat's are
        /// (some pushes' children are lowercase: the variants are their names as written).
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Field { $($field),* }

        impl Field {
            const COUNT: usize = [$(Field::$field),*].len();

            fn name(self) -> &'static str {
                match self { $(Field::$field => stringify!($field)),* }
            }

            fn of(name: &str) -> Option<Field> {
                match name { $(stringify!($field) => Some(Field::$field),)* _ => None }
            }
        }
    };
}

known_fields!(
    Encrypt,
    ToUserName,
    AppId,
    InfoType,
    CreateTime,
    ComponentVerifyTicket,
    AuthorizerAppid,
    AuthorizationCode,
    AuthorizationCodeExpiredTime,
    PreAuthCode,
    FromUserName,
    MsgType,
    Event,
    SuccTime,
    FailTime,
    DelayTime,
    Reason,
    ScreenShot,
    // Violations (issue 27): wxa_punish_event, wxa_appeal_record.
    event_type,
    punish_id,
    appid,
    punish_time,
    illegal_reason,
    illegal_content,
    rule_name,
    rule_url,
    adjust_guide_url,
    detail,
    appeal_record_id,
    appeal_time,
    appeal_count,
    appeal_from,
    appeal_status,
    audit_time,
    audit_reason,
    punish_description,
    // The filing pushes (notify_apply_icpfiling_result, notify_icpfiling_verify_result).
    authorizer_appid,
    beian_status,
    task_id,
    verify_appid,
    result,
    along_with_auth_result,
    // The profile reviews (wxa_nickname_audit, wxa_category_audit).
    ret,
    nickname,
    reason,
    first,
    second,
);

/// The children of a push's `<xml>` root, each with its text (plain, CDATA and entities joined),
/// in one slot per [`Field`]; the first occurrence of a name wins.
///
/// Every WeChat push is this flat shape, so one quick-xml pull-parse serves the envelope and every
/// event type (much faster than a serde pass); deeper elements are skipped. Values borrow from the
/// input unless they had to be joined or unescaped, and the slots live on the stack: opening a push
/// allocates only what the caller keeps.
struct Fields<'a>([Option<Cow<'a, str>>; Field::COUNT]);

/// The input is not a well-formed `<xml>` document.
struct NotXml;

impl<'a> Fields<'a> {
    /// No fields yet; [`Fields::read`] fills them where they stand, on the caller's stack, so the
    /// slots are never moved.
    fn new() -> Fields<'a> {
        Fields([const { None }; Field::COUNT])
    }

    /// Parses `xml` into the slots.
    fn read(&mut self, xml: &'a [u8]) -> Result<(), NotXml> {
        let mut reader = Reader::from_reader(xml);
        let slots = &mut self.0;
        let mut depth = 0usize;
        let mut saw_root = false;
        // The open depth-2 element when it is one we keep: its text goes to its slot.
        let mut current: Option<Field> = None;
        loop {
            match reader.read_event().map_err(|_| NotXml)? {
                Event::Start(e) => {
                    depth += 1;
                    match depth {
                        1 if e.name().as_ref() == "xml" && !saw_root => saw_root = true,
                        1 => return Err(NotXml),
                        2 => {
                            current = Field::of(e.name().as_ref())
                                .filter(|f| slots[*f as usize].is_none());
                            if let Some(f) = current {
                                slots[f as usize] = Some(Cow::Borrowed(""));
                            }
                        }
                        _ => {}
                    }
                }
                Event::Empty(e) => match depth {
                    0 if e.name().as_ref() == "xml" && !saw_root => saw_root = true,
                    0 => return Err(NotXml),
                    1 => {
                        if let Some(f) = Field::of(e.name().as_ref()) {
                            slots[f as usize].get_or_insert(Cow::Borrowed(""));
                        }
                    }
                    _ => {}
                },
                Event::End(_) => {
                    if depth == 2 {
                        current = None;
                    }
                    depth = depth.checked_sub(1).ok_or(NotXml)?;
                }
                Event::Text(t) if depth == 2 => append(slots, current, t.into_inner()),
                Event::CData(c) if depth == 2 => append(slots, current, c.into_inner()),
                Event::GeneralRef(r) if depth >= 2 => {
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
                    if depth == 2 {
                        append(slots, current, resolved);
                    }
                }
                Event::Text(t) if depth == 0 && !t.trim().is_empty() => return Err(NotXml),
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root || depth != 0 {
            return Err(NotXml);
        }
        Ok(())
    }

    /// Moves out a child's text, trimmed of XML whitespace, `None` when absent or blank.
    fn take(&mut self, field: Field) -> Option<Cow<'a, str>> {
        match self.0[field as usize].take()? {
            Cow::Borrowed(v) => non_blank(v).map(Cow::Borrowed),
            Cow::Owned(v) => non_blank(&v).map(|t| Cow::Owned(t.to_owned())),
        }
    }

    /// A child's text, trimmed of XML whitespace, `None` when absent or blank.
    fn text(&self, field: Field) -> Option<&str> {
        self.0[field as usize].as_deref().and_then(non_blank)
    }

    /// A required child's trimmed text, or a malformed-event error naming it.
    fn required(&self, event: &str, field: Field) -> Result<&str, PushError> {
        self.text(field)
            .ok_or_else(|| PushError::malformed(event, format!("missing {}", field.name())))
    }

    fn time(&self, event: &str, field: Field) -> Result<UnixTime, PushError> {
        self.required(event, field)?
            .parse::<UnixTime>()
            .map_err(|_| PushError::malformed(event, format!("{} is not a number", field.name())))
    }

    fn number(&self, event: &str, field: Field) -> Result<i64, PushError> {
        self.required(event, field)?
            .parse::<i64>()
            .map_err(|_| PushError::malformed(event, format!("{} is not a number", field.name())))
    }

    fn appid(&self, event: &str, field: Field) -> Result<AppId, PushError> {
        AppId::parse(self.required(event, field)?).map_err(|e| PushError::malformed(event, e))
    }

    fn secret(&self, event: &str, field: Field) -> Result<SecretString, PushError> {
        Ok(SecretString::from(self.required(event, field)?))
    }
}

/// A value trimmed of XML whitespace (ASCII only, as XML defines it), `None` when nothing is left.
fn non_blank(value: &str) -> Option<&str> {
    Some(value.trim_ascii()).filter(|v| !v.is_empty())
}

/// Appends text to the kept element that is open, if any.
fn append<'a>(
    slots: &mut [Option<Cow<'a, str>>; Field::COUNT],
    current: Option<Field>,
    part: Cow<'a, str>,
) {
    let Some(value) = current.and_then(|f| slots[f as usize].as_mut()) else {
        return;
    };
    if value.is_empty() {
        *value = part;
    } else {
        value.to_mut().push_str(&part);
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

/// [`open_push`] during an EncodingAESKey change: the signature (which does not depend on the key)
/// is checked once, then the body is decrypted with the current key, and with the previous one if
/// the current one cannot decrypt it. Both `MsgCrypt`s carry the same token and appid.
pub fn open_push_with_previous_key(
    current: &MsgCrypt,
    previous: Option<&MsgCrypt>,
    body: &[u8],
    q: &PushQuery,
) -> Result<String, PushError> {
    let env = Envelope::parse(body)?;
    current.verify(&q.msg_signature, &q.timestamp, &q.nonce, &env.encrypt)?;
    match (current.decrypt(&env.encrypt), previous) {
        (
            Err(CryptoError::DecryptAes | CryptoError::IllegalBuffer | CryptoError::ValidateAppid),
            Some(previous),
        ) => Ok(previous.decrypt(&env.encrypt)?),
        (result, _) => Ok(result?),
    }
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

/// The outcome of a fast registration (快速注册小程序, `fastregisterweapp`), pushed as
/// `notify_third_fasteregister`. On success (`status` 0) `appid` is the new mini program and
/// `auth_code` an authorization code for `api_query_auth`; a failed task carries neither (as
/// developers' captures show) and `msg` says why.
#[derive(Debug, Clone)]
pub struct FastRegisterResult {
    pub component_appid: String,
    pub create_time: UnixTime,
    pub appid: Option<AppId>,
    pub status: i64,
    pub auth_code: Option<SecretString>,
    pub msg: String,
    pub info: FastRegisterInfo,
}

impl FastRegisterResult {
    pub fn succeeded(&self) -> bool {
        self.status == 0
    }
}

/// The applicant's data echoed in the push's `<info>`: the enterprise registration's fields, a
/// personal registration's `wxuser`/`idname`, a trial's `unique_id` and `name`. Absent fields
/// are empty. `Debug` prints the public ones only (the names of the enterprise and the trial).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FastRegisterInfo {
    pub name: String,
    pub code: String,
    /// 1 统一社会信用代码, 2 组织机构代码, 3 营业执照注册号.
    pub code_type: Option<i64>,
    pub legal_persona_wechat: String,
    pub legal_persona_name: String,
    pub component_phone: String,
    /// A personal registration's user (WeChat id and name).
    pub wxuser: String,
    pub idname: String,
    /// A trial registration's id, as fastregisterbetaweapp answered it.
    pub unique_id: String,
}

impl std::fmt::Debug for FastRegisterInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastRegisterInfo")
            .field("name", &self.name)
            .field("code_type", &self.code_type)
            .field("unique_id", &self.unique_id)
            .finish_non_exhaustive()
    }
}

/// The lowercase children of a `notify_third_fasteregister` push and those of its `<info>`:
/// `(name, text)` with `info/` before the latter. A rare push: read apart from the flat
/// [`Fields`] pass every other push takes.
fn fast_register_texts(xml: &str) -> Result<Vec<(String, String)>, NotXml> {
    let mut reader = Reader::from_reader(xml.as_bytes());
    let mut path: Vec<String> = Vec::new();
    let mut out: Vec<(String, String)> = Vec::new();
    let key = |path: &[String]| -> Option<String> {
        match path {
            [_, name] => Some(name.clone()),
            [_, parent, name] if parent == "info" => Some(format!("info/{name}")),
            _ => None,
        }
    };
    let push_text = |out: &mut Vec<(String, String)>, path: &[String], text: &str| {
        if let Some(k) = key(path) {
            match out.iter_mut().find(|(n, _)| *n == k) {
                Some((_, v)) => v.push_str(text),
                None => out.push((k, text.to_owned())),
            }
        }
    };
    loop {
        match reader.read_event().map_err(|_| NotXml)? {
            Event::Start(e) => {
                path.push(e.name().as_ref().to_owned());
            }
            Event::End(_) => {
                path.pop().ok_or(NotXml)?;
            }
            Event::Text(t) => push_text(&mut out, &path, &t.into_inner()),
            Event::CData(c) => push_text(&mut out, &path, &c.into_inner()),
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => ch.to_string(),
                        _ => return Err(NotXml),
                    }
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or(NotXml)?
                        .to_owned()
                };
                push_text(&mut out, &path, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn fast_register(
    f: &Fields<'_>,
    xml: &str,
    ev: &'static str,
) -> Result<FastRegisterResult, PushError> {
    let texts = fast_register_texts(xml)
        .map_err(|_| PushError::malformed(ev, "not a well-formed <xml> document"))?;
    let text = |k: &str| {
        texts
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| non_blank(v))
            .map(str::to_owned)
    };
    let number = |k: &str| -> Result<Option<i64>, PushError> {
        text(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| PushError::malformed(ev, format!("{k} is not a number")))
            })
            .transpose()
    };
    Ok(FastRegisterResult {
        component_appid: f.required(ev, Field::AppId)?.to_owned(),
        create_time: f.time(ev, Field::CreateTime)?,
        appid: text("appid")
            .map(|a| AppId::parse(&a).map_err(|e| PushError::malformed(ev, e)))
            .transpose()?,
        status: number("status")?.ok_or_else(|| PushError::malformed(ev, "missing status"))?,
        auth_code: text("auth_code").map(SecretString::from),
        msg: text("msg").unwrap_or_default(),
        info: FastRegisterInfo {
            name: text("info/name").unwrap_or_default(),
            code: text("info/code").unwrap_or_default(),
            code_type: number("info/code_type")?,
            legal_persona_wechat: text("info/legal_persona_wechat").unwrap_or_default(),
            legal_persona_name: text("info/legal_persona_name").unwrap_or_default(),
            component_phone: text("info/component_phone").unwrap_or_default(),
            wxuser: text("info/wxuser").unwrap_or_default(),
            idname: text("info/idname").unwrap_or_default(),
            unique_id: text("info/unique_id").unwrap_or_default(),
        },
    })
}

/// `notify_apply_icpfiling_result`: a review of the app's ICP filing decided (`beian_status`: 4
/// when the platform passed it to the administration, 3 or 5 rejected, 6 filed). Captured at the
/// authorization-event URL as an `InfoType` document; WeChat's pages list it under the message
/// URL: both are read ([`ComponentEvent::IcpFilingResult`], [`AuthorizerEvent::IcpFilingResult`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcpFilingResult {
    pub create_time: UnixTime,
    /// The app the filing is for; at the message URL the URL names it as well.
    pub authorizer_appid: Option<AppId>,
    pub status: IcpStatus,
}

/// `notify_icpfiling_verify_result`: the responsible person's face check finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcpVerifyResult {
    pub create_time: UnixTime,
    pub task_id: String,
    pub verify_appid: Option<AppId>,
    /// 2 failed, 3 succeeded.
    pub result: FaceStatus,
    /// 9: the verification (认证) of a combined application passed too.
    pub along_with_auth_result: Option<i64>,
}

/// The filing pushes' fields, the same at either URL.
fn icp_filing_result(f: &Fields<'_>, ev: &str) -> Result<IcpFilingResult, PushError> {
    Ok(IcpFilingResult {
        create_time: f.time(ev, Field::CreateTime)?,
        authorizer_appid: f
            .text(Field::authorizer_appid)
            .map(|a| AppId::parse(a).map_err(|e| PushError::malformed(ev, e)))
            .transpose()?,
        status: IcpStatus::from_code(f.number(ev, Field::beian_status)?),
    })
}

fn icp_verify_result(f: &Fields<'_>, ev: &str) -> Result<IcpVerifyResult, PushError> {
    Ok(IcpVerifyResult {
        create_time: f.time(ev, Field::CreateTime)?,
        task_id: f.required(ev, Field::task_id)?.to_owned(),
        verify_appid: f
            .text(Field::verify_appid)
            .map(|a| AppId::parse(a).map_err(|e| PushError::malformed(ev, e)))
            .transpose()?,
        result: FaceStatus::from_code(f.number(ev, Field::result)?),
        along_with_auth_result: f
            .text(Field::along_with_auth_result)
            .map(|_| f.number(ev, Field::along_with_auth_result))
            .transpose()?,
    })
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
    /// `notify_third_fasteregister`: a fast registration finished.
    FastRegister(FastRegisterResult),
    /// `notify_third_fastregisterbetaapp`: a trial mini program's registration finished (its
    /// `<info>` carries `unique_id` and `name`).
    FastRegisterBeta(FastRegisterResult),
    /// `notify_third_fastverifybetaapp`: a trial mini program was made formal (or not); `appid`
    /// is the trial's.
    FastVerifyBeta(FastRegisterResult),
    /// `notify_apply_icpfiling_result` as captured at this URL.
    IcpFilingResult(IcpFilingResult),
    /// `notify_icpfiling_verify_result` as captured at this URL.
    IcpVerifyResult(IcpVerifyResult),
    Unknown {
        info_type: String,
        raw: RawXml,
    },
}

impl ComponentEvent {
    /// Parses a decrypted push from the authorization-event URL.
    pub fn parse(xml: &str) -> Result<ComponentEvent, PushError> {
        let mut f = Fields::new();
        f.read(xml.as_bytes())
            .map_err(|_| PushError::malformed("component", "not a well-formed <xml> document"))?;
        let ev = f.text(Field::InfoType).unwrap_or_default();
        let change = || -> Result<AuthorizationChange, PushError> {
            Ok(AuthorizationChange {
                component_appid: f.required(ev, Field::AppId)?.to_owned(),
                create_time: f.time(ev, Field::CreateTime)?,
                authorizer_appid: f.appid(ev, Field::AuthorizerAppid)?,
                authorization_code: f.secret(ev, Field::AuthorizationCode)?,
                authorization_code_expired_time: f.time(ev, Field::AuthorizationCodeExpiredTime)?,
                pre_auth_code: f
                    .text(Field::PreAuthCode)
                    .map(|s| SecretString::from(s.to_owned())),
            })
        };
        Ok(match ev {
            "component_verify_ticket" => ComponentEvent::VerifyTicket {
                component_appid: f.required(ev, Field::AppId)?.to_owned(),
                create_time: f.time(ev, Field::CreateTime)?,
                ticket: f.secret(ev, Field::ComponentVerifyTicket)?,
            },
            "authorized" => ComponentEvent::Authorized(change()?),
            "updateauthorized" => ComponentEvent::UpdateAuthorized(change()?),
            "unauthorized" => ComponentEvent::Unauthorized {
                component_appid: f.required(ev, Field::AppId)?.to_owned(),
                create_time: f.time(ev, Field::CreateTime)?,
                authorizer_appid: f.appid(ev, Field::AuthorizerAppid)?,
            },
            "notify_third_fasteregister" => {
                ComponentEvent::FastRegister(fast_register(&f, xml, "notify_third_fasteregister")?)
            }
            "notify_third_fastregisterbetaapp" => ComponentEvent::FastRegisterBeta(fast_register(
                &f,
                xml,
                "notify_third_fastregisterbetaapp",
            )?),
            "notify_third_fastverifybetaapp" => ComponentEvent::FastVerifyBeta(fast_register(
                &f,
                xml,
                "notify_third_fastverifybetaapp",
            )?),
            "notify_apply_icpfiling_result" => {
                ComponentEvent::IcpFilingResult(icp_filing_result(&f, ev)?)
            }
            "notify_icpfiling_verify_result" => {
                ComponentEvent::IcpVerifyResult(icp_verify_result(&f, ev)?)
            }
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
    /// `wxa_punish_event`: WeChat penalised the mini program.
    Punished {
        header: EventHeader,
        punishment: Punishment,
    },
    /// `wxa_appeal_record`: an appeal was made or its review changed.
    AppealRecord {
        header: EventHeader,
        appeal: AppealRecord,
    },
    /// `notify_apply_icpfiling_result` as WeChat's pages place it (an event at this URL).
    IcpFilingResult {
        header: EventHeader,
        result: IcpFilingResult,
    },
    /// `notify_icpfiling_verify_result` at this URL.
    IcpVerifyResult {
        header: EventHeader,
        result: IcpVerifyResult,
    },
    /// `wxa_nickname_audit`: the review of a name set by setnickname ended.
    NicknameAudit {
        header: EventHeader,
        review: NicknameAuditResult,
    },
    /// `wxa_category_audit`: the review of a category (its qualification) ended.
    CategoryAudit {
        header: EventHeader,
        review: CategoryAuditResult,
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
        let mut f = Fields::new();
        f.read(xml.as_bytes())
            .map_err(|_| PushError::malformed("message", "not a well-formed <xml> document"))?;
        let msg_type = f.text(Field::MsgType).unwrap_or_default();
        let event = f.text(Field::Event);
        let ev = match (msg_type, event) {
            (
                "event",
                Some(
                    e @ ("weapp_audit_success"
                    | "weapp_audit_fail"
                    | "weapp_audit_delay"
                    | "notify_apply_icpfiling_result"
                    | "notify_icpfiling_verify_result"),
                ),
            ) => e,
            ("event", Some(e @ (PUNISH_EVENT | APPEAL_EVENT))) => {
                return violation_event(&f, e);
            }
            ("event", Some(e @ (NICKNAME_AUDIT_EVENT | CATEGORY_AUDIT_EVENT))) => {
                return profile_review_event(&f, e);
            }
            _ => {
                return Ok(AuthorizerEvent::Unknown {
                    msg_type: msg_type.to_owned(),
                    event: event.map(str::to_owned),
                    raw: RawXml(xml.to_owned()),
                })
            }
        };
        let header = EventHeader {
            to_user_name: f.required(ev, Field::ToUserName)?.to_owned(),
            from_user_name: f.text(Field::FromUserName).unwrap_or_default().to_owned(),
            create_time: f.time(ev, Field::CreateTime)?,
        };
        let reason = f.text(Field::Reason).unwrap_or_default().to_owned();
        Ok(match ev {
            "notify_apply_icpfiling_result" => AuthorizerEvent::IcpFilingResult {
                header,
                result: icp_filing_result(&f, ev)?,
            },
            "notify_icpfiling_verify_result" => AuthorizerEvent::IcpVerifyResult {
                header,
                result: icp_verify_result(&f, ev)?,
            },
            "weapp_audit_success" => AuthorizerEvent::AuditSuccess {
                header,
                succ_time: f.time(ev, Field::SuccTime)?,
            },
            "weapp_audit_fail" => AuthorizerEvent::AuditFail {
                header,
                reason,
                fail_time: f.time(ev, Field::FailTime)?,
                screenshots: f
                    .text(Field::ScreenShot)
                    .unwrap_or_default()
                    .split('|')
                    .filter_map(non_blank)
                    .map(str::to_owned)
                    .collect(),
            },
            _ => AuthorizerEvent::AuditDelay {
                header,
                reason,
                delay_time: f.time(ev, Field::DelayTime)?,
            },
        })
    }
}

// --- Profile reviews ---

/// wxa_nickname_audit.html (名称审核结果事件推送), at the message URL.
pub const NICKNAME_AUDIT_EVENT: &str = "wxa_nickname_audit";
/// api_addcategory's 类目审核结果事件推送 (wxa_category_audit.html), at the message URL.
pub const CATEGORY_AUDIT_EVENT: &str = "wxa_category_audit";

/// A name review's result: `ret` 2 rejected (with `reason`), 3 approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicknameAuditResult {
    pub status: crate::store::ReviewStatus,
    pub nickname: String,
    pub reason: String,
}

/// A category review's result: `ret` 2 rejected (with `reason`), 3 approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryAuditResult {
    pub status: crate::store::ReviewStatus,
    pub first: u64,
    pub second: u64,
    pub reason: String,
}

fn profile_review_event(f: &Fields<'_>, ev: &str) -> Result<AuthorizerEvent, PushError> {
    let header = EventHeader {
        to_user_name: f.required(ev, Field::ToUserName)?.to_owned(),
        from_user_name: f.text(Field::FromUserName).unwrap_or_default().to_owned(),
        create_time: f.time(ev, Field::CreateTime)?,
    };
    // Only a decision is pushed; a status the pages do not name is malformed, not a guess.
    let status = match crate::store::ReviewStatus::from_code(f.number(ev, Field::ret)?) {
        Some(s @ (crate::store::ReviewStatus::Approved | crate::store::ReviewStatus::Rejected)) => {
            s
        }
        _ => return Err(PushError::malformed(ev, "ret is neither 2 nor 3")),
    };
    let reason = f.text(Field::reason).unwrap_or_default().to_owned();
    if ev == NICKNAME_AUDIT_EVENT {
        return Ok(AuthorizerEvent::NicknameAudit {
            header,
            review: NicknameAuditResult {
                status,
                nickname: f.text(Field::nickname).unwrap_or_default().to_owned(),
                reason,
            },
        });
    }
    let id = |field: Field| -> Result<u64, PushError> {
        u64::try_from(f.number(ev, field)?)
            .map_err(|_| PushError::malformed(ev, format!("{} is negative", field.name())))
    };
    Ok(AuthorizerEvent::CategoryAudit {
        header,
        review: CategoryAuditResult {
            status,
            first: id(Field::first)?,
            second: id(Field::second)?,
            reason,
        },
    })
}

// --- Violations (issue 27) ---

/// illegalEvent.html (服务商代接收小程序违规处罚信息): a penalty of an authorized mini program.
pub const PUNISH_EVENT: &str = "wxa_punish_event";
/// record_event.html (小程序申诉记录推送): an appeal made, or its review changed.
pub const APPEAL_EVENT: &str = "wxa_appeal_record";

/// A `wxa_punish_event` push's fields (illegalEvent.html). `detail` is a JSON string whose
/// shape depends on `event_type` (1 警告, 2 功能封禁, 3 下架, 4 账号封禁, 10 页面封禁).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Punishment {
    pub appid: AppId,
    pub punish_id: String,
    pub event_type: i64,
    pub punish_time: UnixTime,
    pub illegal_reason: String,
    pub illegal_content: String,
    pub rule_name: String,
    pub rule_url: String,
    pub adjust_guide_url: String,
    /// The `detail` string as pushed (empty when absent).
    pub detail: String,
}

/// A `wxa_appeal_record` push's fields (record_event.html; its `material` list is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealRecord {
    pub appid: AppId,
    pub appeal_record_id: u64,
    /// 1 正在处理, 2 申诉通过, 3 申诉不通过, 4 申诉已撤销.
    pub appeal_status: i64,
    pub appeal_time: UnixTime,
    pub appeal_count: i64,
    pub appeal_from: i64,
    /// Absent while processing or withdrawn.
    pub audit_time: Option<UnixTime>,
    pub audit_reason: String,
    pub punish_description: String,
}

fn violation_event(f: &Fields<'_>, ev: &str) -> Result<AuthorizerEvent, PushError> {
    let header = EventHeader {
        to_user_name: f.required(ev, Field::ToUserName)?.to_owned(),
        from_user_name: f.text(Field::FromUserName).unwrap_or_default().to_owned(),
        create_time: f.time(ev, Field::CreateTime)?,
    };
    let text = |field| f.text(field).unwrap_or_default().to_owned();
    let number = |field: Field| -> Result<i64, PushError> {
        f.required(ev, field)?
            .parse::<i64>()
            .map_err(|_| PushError::malformed(ev, format!("{} is not a number", field.name())))
    };
    let optional_number = |field: Field| -> Result<Option<i64>, PushError> {
        f.text(field).map(|_| number(field)).transpose()
    };
    if ev == PUNISH_EVENT {
        return Ok(AuthorizerEvent::Punished {
            header,
            punishment: Punishment {
                appid: f.appid(ev, Field::appid)?,
                punish_id: f.required(ev, Field::punish_id)?.to_owned(),
                event_type: number(Field::event_type)?,
                punish_time: f.time(ev, Field::punish_time)?,
                illegal_reason: text(Field::illegal_reason),
                illegal_content: text(Field::illegal_content),
                rule_name: text(Field::rule_name),
                rule_url: text(Field::rule_url),
                adjust_guide_url: text(Field::adjust_guide_url),
                detail: text(Field::detail),
            },
        });
    }
    let id = number(Field::appeal_record_id)?;
    Ok(AuthorizerEvent::AppealRecord {
        header,
        appeal: AppealRecord {
            appid: f.appid(ev, Field::appid)?,
            appeal_record_id: u64::try_from(id)
                .map_err(|_| PushError::malformed(ev, "appeal_record_id is negative"))?,
            appeal_status: number(Field::appeal_status)?,
            appeal_time: optional_number(Field::appeal_time)?.unwrap_or_default(),
            appeal_count: optional_number(Field::appeal_count)?.unwrap_or_default(),
            appeal_from: optional_number(Field::appeal_from)?.unwrap_or_default(),
            audit_time: optional_number(Field::audit_time)?,
            audit_reason: text(Field::audit_reason),
            punish_description: text(Field::punish_description),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../tests/fixtures/events/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn fast(xml: &str) -> FastRegisterResult {
        match ComponentEvent::parse(xml).unwrap() {
            ComponentEvent::FastRegister(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fast_registration_push_is_typed_with_its_info() {
        // The documented enterprise example, as captured (CDATA, pretty-printed, taskid extra).
        let r = fast(&fixture("notify_third_fasteregister_enterprise_cdata.xml"));
        assert_eq!(r.component_appid, "wx143f74e55082b8cb");
        assert_eq!(r.create_time, 1712110558);
        assert!(r.succeeded());
        assert_eq!(r.appid.unwrap().as_str(), "wx1e8cd2dad279e29f");
        assert!(r
            .auth_code
            .unwrap()
            .expose_secret()
            .starts_with("queryauthcode@@@"));
        assert_eq!(r.msg, "OK");
        assert_eq!(
            r.info,
            FastRegisterInfo {
                name: "某某科技有限公司".into(),
                code: "91440300MA5XXXXXXX".into(),
                code_type: Some(1),
                legal_persona_wechat: "legal_wx".into(),
                legal_persona_name: "张三".into(),
                component_phone: "4008000000".into(),
                ..FastRegisterInfo::default()
            }
        );
        // The short fixture: what is absent is empty.
        let r = fast(&fixture("notify_third_fasteregister_cdata.xml"));
        assert_eq!(r.info.name, "公司名称");
        assert_eq!(r.info.code_type, None);
        assert_eq!(r.info.component_phone, "");
        assert!(
            !format!("{r:?}").contains("xxxxx"),
            "the auth code stays hidden"
        );
    }

    #[test]
    fn a_failed_fast_registration_has_no_appid_or_auth_code() {
        let r = fast(&fixture("notify_third_fasteregister_failed_cdata.xml"));
        assert_eq!((r.status, r.msg.as_str()), (-1, "open verity failed"));
        assert!(!r.succeeded() && r.appid.is_none() && r.auth_code.is_none());
        assert_eq!(r.info.legal_persona_name, "李四");
    }

    #[test]
    fn a_fast_registration_push_without_status_or_with_a_bad_appid_is_malformed() {
        let head = "<xml><AppId>wx143f74e55082b8cb</AppId><CreateTime>1</CreateTime><InfoType>notify_third_fasteregister</InfoType>";
        for body in [
            format!("{head}<msg>OK</msg></xml>"),
            format!("{head}<status>x</status></xml>"),
            format!("{head}<status>0</status><appid>not an appid</appid></xml>"),
        ] {
            assert!(
                matches!(
                    ComponentEvent::parse(&body),
                    Err(PushError::MalformedEvent { .. })
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn a_penalty_push_is_typed_and_its_detail_kept_as_pushed() {
        // illegalEvent.html's fields, as a message-URL push.
        let xml = r#"<xml><ToUserName><![CDATA[gh_abcdef123456]]></ToUserName><FromUserName><![CDATA[o-sys]]></FromUserName><CreateTime>1700000100</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[wxa_punish_event]]></Event><event_type>2</event_type><punish_id><![CDATA[punish_123]]></punish_id><appid><![CDATA[wxf8b4f85f3a794e77]]></appid><punish_time>1700000000</punish_time><illegal_reason><![CDATA[内容涉嫌欺诈]]></illegal_reason><illegal_content><![CDATA[违规内容]]></illegal_content><rule_name><![CDATA[《微信小程序平台运营规范》]]></rule_name><rule_url><![CDATA[https://example.com/rule]]></rule_url><adjust_guide_url><![CDATA[https://example.com/guide]]></adjust_guide_url><detail><![CDATA[{"banned_days":[7],"banned_function_names":["搜索"]}]]></detail></xml>"#;
        match AuthorizerEvent::parse(xml).unwrap() {
            AuthorizerEvent::Punished { header, punishment } => {
                assert_eq!(header.to_user_name, "gh_abcdef123456");
                assert_eq!(punishment.punish_id, "punish_123");
                assert_eq!(punishment.event_type, 2);
                assert_eq!(punishment.punish_time, 1700000000);
                assert_eq!(punishment.appid.as_str(), "wxf8b4f85f3a794e77");
                assert_eq!(punishment.illegal_reason, "内容涉嫌欺诈");
                assert!(punishment.detail.contains("banned_days"));
            }
            other => panic!("{other:?}"),
        }
        // Without its id it is malformed, not unknown.
        let bad = xml.replace("<punish_id><![CDATA[punish_123]]></punish_id>", "");
        assert!(matches!(
            AuthorizerEvent::parse(&bad),
            Err(PushError::MalformedEvent { .. })
        ));
    }

    #[test]
    fn an_appeal_push_is_typed() {
        let xml = r#"<xml><ToUserName><![CDATA[gh_abcdef123456]]></ToUserName><CreateTime>1600055810</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[wxa_appeal_record]]></Event><appeal_record_id>4111001</appeal_record_id><appid>wxf8b4f85f3a794e77</appid><appeal_time>1600055800</appeal_time><appeal_count>1</appeal_count><appeal_from>0</appeal_from><appeal_status>3</appeal_status><audit_time>1600056000</audit_time><audit_reason><![CDATA[材料不足]]></audit_reason><punish_description><![CDATA[内容涉嫌欺诈]]></punish_description><material><illegal_material><content>违规内容1</content></illegal_material></material></xml>"#;
        match AuthorizerEvent::parse(xml).unwrap() {
            AuthorizerEvent::AppealRecord { appeal, .. } => {
                assert_eq!(appeal.appeal_record_id, 4111001);
                assert_eq!(appeal.appeal_status, 3);
                assert_eq!(appeal.audit_time, Some(1600056000));
                assert_eq!(appeal.audit_reason, "材料不足");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_filing_pushes_are_read_at_either_url() {
        // As captured at the authorization-event URL.
        let xml = "<xml><AppId><![CDATA[wx143f74e55082b8cb]]></AppId><CreateTime>1700000000</CreateTime><InfoType><![CDATA[notify_apply_icpfiling_result]]></InfoType><authorizer_appid><![CDATA[wx1e8cd2dad279e29f]]></authorizer_appid><beian_status>5</beian_status></xml>";
        let ComponentEvent::IcpFilingResult(r) = ComponentEvent::parse(xml).unwrap() else {
            panic!("not a filing result")
        };
        assert_eq!(r.status, IcpStatus::AdministrationRejected);
        assert_eq!(r.create_time, 1_700_000_000);
        assert_eq!(r.authorizer_appid.unwrap().as_str(), "wx1e8cd2dad279e29f");
        // As WeChat's pages place it: an event at the message URL.
        let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o]]></FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[notify_apply_icpfiling_result]]></Event><beian_status>6</beian_status></xml>";
        let AuthorizerEvent::IcpFilingResult { header, result } =
            AuthorizerEvent::parse(xml).unwrap()
        else {
            panic!("not a filing result")
        };
        assert_eq!(
            (header.to_user_name.as_str(), result.status),
            ("gh_1", IcpStatus::Filed)
        );
        assert_eq!(result.authorizer_appid, None);
        // The face check, at either URL.
        let xml = "<xml><AppId>wx143f74e55082b8cb</AppId><CreateTime>1</CreateTime><InfoType>notify_icpfiling_verify_result</InfoType><task_id>t1</task_id><verify_appid>wx1e8cd2dad279e29f</verify_appid><result>3</result><along_with_auth_result>9</along_with_auth_result></xml>";
        let ComponentEvent::IcpVerifyResult(v) = ComponentEvent::parse(xml).unwrap() else {
            panic!("not a face check")
        };
        assert_eq!(
            (v.task_id.as_str(), v.result, v.along_with_auth_result),
            ("t1", FaceStatus::Succeeded, Some(9))
        );
        // A status that is not a number is malformed, not a guess.
        let bad = "<xml><AppId>wx143f74e55082b8cb</AppId><CreateTime>1</CreateTime><InfoType>notify_apply_icpfiling_result</InfoType><beian_status>x</beian_status></xml>";
        assert!(matches!(
            ComponentEvent::parse(bad),
            Err(PushError::MalformedEvent { .. })
        ));
    }
}
