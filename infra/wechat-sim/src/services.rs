//! The endpoints a provider's backends call for an authorized mini program: login
//! (`sns/component/jscode2session`), phone numbers (`wxa/business/getuserphonenumber`), the
//! subscribe-message template library (`wxaapi/newtmpl/*`) and subscribe sends
//! (`cgi-bin/message/subscribe/send`), with their `/_sim` controls: minting the single-use
//! js_codes and phone codes a mini program would obtain, recording a user's acceptance of a
//! template, and reading the messages sent.

use crate::api::{Ctx, WxErr};
use crate::state::{random_alnum, random_lower_alnum, State};
use crate::{Inner, Simulator};
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wxopen::domain::{AppId, UnixTime};

/// js_codes and phone codes last 5 minutes (getPhoneNumber: "code的有效期为5min"; wx.login's
/// code likewise).
pub const CODE_TTL: i64 = 300;
/// addMessageTemplate: at most 50 templates per account (200012 beyond).
pub const TEMPLATE_LIMIT: usize = 50;

#[derive(Debug, Clone)]
struct LoginCode {
    appid: AppId,
    openid: String,
    unionid: Option<String>,
    expires_at: UnixTime,
    used: bool,
}

#[derive(Debug, Clone)]
struct PhoneCode {
    appid: AppId,
    phone: String,
    country_code: String,
    expires_at: UnixTime,
    used: bool,
}

/// One template an account added from the public library.
#[derive(Debug, Clone, Serialize)]
pub struct AddedTemplate {
    pub pri_tmpl_id: String,
    pub tid: u64,
    pub kids: Vec<u64>,
    pub scene_desc: String,
}

/// A message subscribe/send accepted.
#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    pub msgid: u64,
    pub appid: AppId,
    pub touser: String,
    pub template_id: String,
    pub page: Option<String>,
    pub data: BTreeMap<String, String>,
    pub time: UnixTime,
}

#[derive(Debug, Default)]
pub struct Services {
    js_codes: HashMap<String, LoginCode>,
    phone_codes: HashMap<String, PhoneCode>,
    templates: BTreeMap<AppId, Vec<AddedTemplate>>,
    /// Sends each user allowed per (app, openid, priTmplId): one per one-time acceptance.
    acceptances: HashMap<(AppId, String, String), u32>,
    sent: Vec<SentMessage>,
    next_msgid: u64,
    /// The limited codes (getwxacode, createwxaqrcode) each app has made, by kind and path: a
    /// path asked again is the same permanent code and is not counted twice (an assumption: the
    /// pages say only "总共生成的码数量限制为 100,000").
    pub(crate) limited_codes: HashMap<AppId, std::collections::BTreeSet<String>>,
    /// The limit of limited codes per app (100,000 unless a test lowers it).
    pub(crate) limited_code_limit: Option<usize>,
}

/// getQRCode + createQRCode: "总共生成的码数量限制为 100,000" per mini program (45029 beyond).
pub const LIMITED_CODES: usize = 100_000;

/// The public template library: (category id, name, titles).
struct Title {
    tid: u64,
    title: &'static str,
    keywords: &'static [(u64, &'static str, &'static str, &'static str)],
}

const LIBRARY: &[(u64, &str, &[Title])] = &[
    (
        307,
        "电商平台",
        &[
            Title {
                tid: 1001,
                title: "订单发货提醒",
                keywords: &[
                    (1, "订单号", "TN20240101001", "character_string"),
                    (2, "物流公司", "顺丰速运", "thing"),
                    (3, "发货时间", "2024-01-01 12:00", "time"),
                    (4, "商品名称", "蓝牙耳机", "thing"),
                ],
            },
            Title {
                tid: 1002,
                title: "退款成功通知",
                keywords: &[
                    (1, "退款金额", "¥10.00", "amount"),
                    (2, "退款时间", "2024-01-01 12:00", "time"),
                    (3, "订单号", "TN20240101001", "character_string"),
                ],
            },
        ],
    ),
    (
        411,
        "餐饮服务",
        &[Title {
            tid: 2001,
            title: "取餐提醒",
            keywords: &[
                (1, "取餐号", "A042", "character_string"),
                (2, "门店", "人民广场店", "thing"),
                (3, "状态", "待取餐", "phrase"),
            ],
        }],
    ),
];

fn title(tid: u64) -> Option<&'static Title> {
    LIBRARY
        .iter()
        .flat_map(|(_, _, titles)| titles.iter())
        .find(|t| t.tid == tid)
}

/// jscode2session (thirdpartyCode2Session): 41002 without component_appid or a wrong one 61011
/// (as the other component calls), 40029 for an unknown or expired code or another app's,
/// 40163 for a used one, 61003 for an app not authorized to the platform.
pub(crate) fn jscode2session(st: &mut State, ctx: &Ctx) -> Result<Value, WxErr> {
    let component_appid = &ctx.inner.config.component_appid;
    let (query, now) = (ctx.query, ctx.now);
    let q = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    match q("component_appid") {
        "" => return Err(WxErr(41002, "appid missing".into())),
        a if a != component_appid => return Err(WxErr(61011, "invalid component".into())),
        _ => {}
    }
    if q("grant_type") != "authorization_code" {
        return Err(WxErr(40002, "invalid grant_type".into()));
    }
    let appid = AppId::parse(q("appid")).map_err(|_| WxErr(40013, "invalid appid".into()))?;
    let authorized = st
        .accounts
        .get(&appid)
        .is_some_and(|a| a.authorization.is_some());
    if !authorized {
        return Err(WxErr(
            61003,
            "component is not authorized by this account".into(),
        ));
    }
    let invalid = || WxErr(40029, "invalid code".into());
    let code = st
        .services
        .js_codes
        .get_mut(q("js_code"))
        .ok_or_else(invalid)?;
    if code.appid != appid || code.expires_at <= now {
        return Err(invalid());
    }
    if code.used {
        return Err(WxErr(40163, "code been used".into()));
    }
    code.used = true;
    let mut answer = json!({
        "openid": code.openid,
        "session_key": random_alnum(24),
    });
    if let Some(u) = &code.unionid {
        answer["unionid"] = json!(u);
    }
    Ok(answer)
}

/// `/wxa/business/getuserphonenumber`.
pub(crate) fn get_user_phone_number(
    st: &mut State,
    ctx: &Ctx,
    appid: &AppId,
) -> Result<Value, WxErr> {
    let sv = &mut st.services;
    let body: &[u8] = ctx.body;
    let now = ctx.now;
    // getPhoneNumber: each code once, for 5 minutes, for the app it was made for.
    let m = json_body(body)?;
    let code = str_field(&m, "code");
    let p = sv
        .phone_codes
        .get_mut(code)
        .filter(|p| &p.appid == appid && p.expires_at > now && !p.used)
        .ok_or_else(|| WxErr(40029, "invalid code".into()))?;
    p.used = true;
    Ok(json!({"phone_info": {
        "phoneNumber": if p.country_code == "86" { p.phone.clone() } else { format!("+{}{}", p.country_code, p.phone) },
        "purePhoneNumber": p.phone,
        "countryCode": p.country_code,
        "watermark": {"timestamp": now, "appid": appid},
    }}))
}

/// `/wxaapi/newtmpl/getcategory`.
pub(crate) fn get_category(_st: &mut State, _ctx: &Ctx, _appid: &AppId) -> Result<Value, WxErr> {
    Ok(json!({"data": LIBRARY
        .iter()
        .map(|(id, name, _)| json!({"id": id, "name": name}))
        .collect::<Vec<_>>()}))
}

/// `/wxaapi/newtmpl/getpubtemplatetitles`.
pub(crate) fn get_pub_template_titles(
    _st: &mut State,
    ctx: &Ctx,
    _appid: &AppId,
) -> Result<Value, WxErr> {
    let query = ctx.query;
    // getPubTemplateTitleList: ids (comma-separated category ids; 200018 missing, 200019
    // not numbers), start (200016), limit 1..=30 (200017).
    let ids = query.get("ids").map(String::as_str).unwrap_or("");
    if ids.is_empty() {
        return Err(WxErr(200018, "missing parameter ids".into()));
    }
    let ids: Vec<u64> = ids
        .split(',')
        .map(|x| x.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| WxErr(200019, "invalid parameter ids".into()))?;
    let start: usize = query
        .get("start")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| WxErr(200016, "invalid parameter start".into()))?;
    let limit: usize = query
        .get("limit")
        .and_then(|s| s.parse().ok())
        .filter(|l| (1..=30).contains(l))
        .ok_or_else(|| WxErr(200017, "invalid parameter limit".into()))?;
    let all: Vec<Value> = LIBRARY
        .iter()
        .filter(|(id, _, _)| ids.contains(id))
        .flat_map(|(id, _, titles)| {
            titles.iter().map(move |t| {
                json!({"tid": t.tid, "title": t.title, "type": 2, "categoryId": id.to_string()})
            })
        })
        .collect();
    let count = all.len();
    let data: Vec<Value> = all.into_iter().skip(start).take(limit).collect();
    Ok(json!({"count": count, "data": data}))
}

/// `/wxaapi/newtmpl/getpubtemplatekeywords`.
pub(crate) fn get_pub_template_keywords(
    _st: &mut State,
    ctx: &Ctx,
    _appid: &AppId,
) -> Result<Value, WxErr> {
    let query = ctx.query;
    let t = query
        .get("tid")
        .and_then(|s| s.parse().ok())
        .and_then(title)
        .ok_or_else(|| WxErr(200014, "invalid tid".into()))?;
    Ok(
        json!({"count": t.keywords.len(), "data": t.keywords.iter().map(|(kid, name, example, rule)| {
        json!({"kid": kid, "name": name, "example": example, "rule": rule})
    }).collect::<Vec<_>>()}),
    )
}

/// `/wxaapi/newtmpl/addtemplate`.
pub(crate) fn add_template(st: &mut State, ctx: &Ctx, appid: &AppId) -> Result<Value, WxErr> {
    let sv = &mut st.services;
    let body: &[u8] = ctx.body;
    // addMessageTemplate: 200014 bad tid, 200020 bad kidList (2 to 5 known, distinct
    // keywords), 200021 sceneDesc over 15 characters, 200012 at 50 templates.
    let m = json_body(body)?;
    let tid = match m.get("tid") {
        Some(Value::String(s)) => s.parse().ok(),
        Some(v) => v.as_u64(),
        None => None,
    };
    let t = tid
        .and_then(title)
        .ok_or_else(|| WxErr(200014, "invalid tid".into()))?;
    let kids: Vec<u64> = m
        .get("kidList")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let mut distinct = kids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let known = kids.iter().all(|k| t.keywords.iter().any(|kw| kw.0 == *k));
    if !(2..=5).contains(&kids.len()) || distinct.len() != kids.len() || !known {
        return Err(WxErr(200020, "invalid kidList".into()));
    }
    let scene_desc = str_field(&m, "sceneDesc").to_owned();
    if scene_desc.chars().count() > 15 {
        return Err(WxErr(200021, "invalid sceneDesc".into()));
    }
    let list = sv.templates.entry(appid.clone()).or_default();
    if list.len() >= TEMPLATE_LIMIT {
        return Err(WxErr(200012, "template count reach limit".into()));
    }
    let pri_tmpl_id = random_alnum(43);
    list.push(AddedTemplate {
        pri_tmpl_id: pri_tmpl_id.clone(),
        tid: t.tid,
        kids,
        scene_desc,
    });
    Ok(json!({"priTmplId": pri_tmpl_id}))
}

/// `/wxaapi/newtmpl/deltemplate`.
pub(crate) fn del_template(st: &mut State, ctx: &Ctx, appid: &AppId) -> Result<Value, WxErr> {
    let sv = &mut st.services;
    let body: &[u8] = ctx.body;
    let m = json_body(body)?;
    let id = str_field(&m, "priTmplId");
    let list = sv.templates.entry(appid.clone()).or_default();
    let before = list.len();
    list.retain(|t| t.pri_tmpl_id != id);
    if list.len() == before {
        return Err(WxErr(20002, "invalid priTmplId".into()));
    }
    Ok(json!({}))
}

/// `/wxaapi/newtmpl/gettemplate`.
pub(crate) fn get_template(st: &mut State, _ctx: &Ctx, appid: &AppId) -> Result<Value, WxErr> {
    let sv = &mut st.services;
    let list = sv.templates.get(appid).cloned().unwrap_or_default();
    Ok(json!({"data": list.iter().filter_map(|a| {
        let t = title(a.tid)?;
        let content: String = keywords_of(a)
            .map(|(key, name, _)| format!("{name}:{{{{{key}.DATA}}}}\n"))
            .collect();
        let example: String = keywords_of(a)
            .map(|(_, name, ex)| format!("{name}:{ex}\n"))
            .collect();
        Some(json!({"priTmplId": a.pri_tmpl_id, "title": t.title, "content": content,
            "example": example, "type": 2}))
    }).collect::<Vec<_>>()}))
}

/// `/cgi-bin/message/subscribe/send`.
pub(crate) fn subscribe_send(st: &mut State, ctx: &Ctx, appid: &AppId) -> Result<Value, WxErr> {
    let sv = &mut st.services;
    let body: &[u8] = ctx.body;
    let now = ctx.now;
    send(sv, appid, body, now)
}

/// The data keys (`{rule}{kid}`, as `thing2`), names and examples of an added template.
fn keywords_of(
    a: &AddedTemplate,
) -> impl Iterator<Item = (String, &'static str, &'static str)> + '_ {
    let t = title(a.tid);
    a.kids.iter().filter_map(move |kid| {
        let kw = t?.keywords.iter().find(|kw| kw.0 == *kid)?;
        Some((format!("{}{}", kw.3, kw.0), kw.1, kw.2))
    })
}

/// sendMessage: 40003 an openid the app does not know, 40037 a template_id not the app's,
/// 47003 data that does not match the template's keywords or their rules, 43101 a user with no
/// acceptance left; a one-time acceptance allows one send.
fn send(sv: &mut Services, appid: &AppId, body: &[u8], now: UnixTime) -> Result<Value, WxErr> {
    let m = json_body(body)?;
    let touser = str_field(&m, "touser").to_owned();
    let known_user = sv
        .js_codes
        .values()
        .any(|c| &c.appid == appid && c.openid == touser)
        || sv
            .acceptances
            .keys()
            .any(|(a, o, _)| a == appid && *o == touser);
    if touser.is_empty() || !known_user {
        return Err(WxErr(40003, "invalid openid".into()));
    }
    let template_id = str_field(&m, "template_id").to_owned();
    let template = sv
        .templates
        .get(appid)
        .and_then(|l| l.iter().find(|t| t.pri_tmpl_id == template_id))
        .cloned()
        .ok_or_else(|| WxErr(40037, "invalid template_id".into()))?;
    let data = m
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| WxErr(47003, "argument invalid! data is empty".into()))?;
    let mut values = BTreeMap::new();
    for (key, v) in data {
        let value = v
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| WxErr(47003, format!("argument invalid! data.{key}.value")))?;
        values.insert(key.clone(), value.to_owned());
    }
    let keys: Vec<String> = keywords_of(&template).map(|(k, _, _)| k).collect();
    for key in &keys {
        let value = values.get(key).ok_or_else(|| {
            WxErr(
                47003,
                format!("argument invalid! data.{key}.value is empty"),
            )
        })?;
        let rule = key.trim_end_matches(|c: char| c.is_ascii_digit());
        if !value_fits(rule, value) {
            return Err(WxErr(
                47003,
                format!("argument invalid! data.{key}.value invalid"),
            ));
        }
    }
    if let Some(extra) = values.keys().find(|k| !keys.contains(*k)) {
        return Err(WxErr(
            47003,
            format!("argument invalid! data.{extra} not in template"),
        ));
    }
    let left = sv
        .acceptances
        .get_mut(&(appid.clone(), touser.clone(), template_id.clone()))
        .filter(|n| **n > 0)
        .ok_or_else(|| WxErr(43101, "user refuse to accept the msg".into()))?;
    *left -= 1;
    sv.next_msgid += 1;
    let msgid = 2_000_000_000 + sv.next_msgid;
    sv.sent.push(SentMessage {
        msgid,
        appid: appid.clone(),
        touser,
        template_id,
        page: m.get("page").and_then(Value::as_str).map(str::to_owned),
        data: values,
        time: now,
    });
    Ok(json!({"msgid": msgid}))
}

/// The subscribe-message value rules (subscribe-message.html): `thing` at most 20 characters,
/// `character_string` at most 32 letters, digits and symbols, `phrase` at most 5 characters,
/// `time` and `amount` not empty.
fn value_fits(rule: &str, v: &str) -> bool {
    let n = v.chars().count();
    match rule {
        "thing" => (1..=20).contains(&n),
        "character_string" => (1..=32).contains(&n) && v.is_ascii() && !v.contains(' '),
        "phrase" => (1..=5).contains(&n),
        _ => n > 0,
    }
}

fn json_body(body: &[u8]) -> Result<Map<String, Value>, WxErr> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxErr(44002, "empty post data".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(WxErr(47001, "data format error".into())),
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

impl Inner {
    fn mint_js_code(
        &self,
        appid: &AppId,
        openid: Option<String>,
        unionid: Option<String>,
    ) -> (String, String) {
        let now = self.now();
        let mut st = self.lock();
        let openid = openid.unwrap_or_else(|| format!("o{}", random_alnum(27)));
        let code = format!("0{}", random_alnum(31));
        st.services.js_codes.insert(
            code.clone(),
            LoginCode {
                appid: appid.clone(),
                openid: openid.clone(),
                unionid,
                expires_at: now + CODE_TTL,
                used: false,
            },
        );
        (code, openid)
    }

    fn mint_phone_code(&self, appid: &AppId, phone: String, country_code: String) -> String {
        let now = self.now();
        let mut st = self.lock();
        let code = random_lower_alnum(64);
        st.services.phone_codes.insert(
            code.clone(),
            PhoneCode {
                appid: appid.clone(),
                phone,
                country_code,
                expires_at: now + CODE_TTL,
                used: false,
            },
        );
        code
    }

    fn accept(&self, appid: &AppId, openid: &str, pri_tmpl_id: &str, sends: u32) {
        let mut st = self.lock();
        let n = st
            .services
            .acceptances
            .entry((appid.clone(), openid.to_owned(), pri_tmpl_id.to_owned()))
            .or_default();
        *n = sends;
    }
}

impl Simulator {
    /// Lowers (or restores, `None`) every app's limit of limited codes, so a test meets 45029
    /// without making 100,000.
    pub fn set_limited_code_limit(&self, limit: Option<usize>) {
        self.inner.lock().services.limited_code_limit = limit;
    }

    /// How many limited codes (getwxacode and createwxaqrcode) `appid` has made.
    pub fn limited_codes(&self, appid: &AppId) -> usize {
        self.inner
            .lock()
            .services
            .limited_codes
            .get(appid)
            .map_or(0, std::collections::BTreeSet::len)
    }

    /// A js_code as `wx.login` gives the mini program `appid`, logging in `openid` (a new one
    /// when `None`): `(code, openid)`. Single use, 5 minutes.
    pub fn mint_js_code(&self, appid: &AppId, openid: Option<&str>) -> (String, String) {
        self.inner
            .mint_js_code(appid, openid.map(str::to_owned), None)
    }

    /// A phone-number code for `appid` (the phone-number button's), for `phone` in mainland
    /// China (country code 86). Single use, 5 minutes.
    pub fn mint_phone_code(&self, appid: &AppId, phone: &str) -> String {
        self.inner
            .mint_phone_code(appid, phone.to_owned(), "86".to_owned())
    }

    /// The user `openid` accepted template `pri_tmpl_id` of `appid` for `sends` messages (1 per
    /// one-time acceptance; 0: refused).
    pub fn set_subscription(&self, appid: &AppId, openid: &str, pri_tmpl_id: &str, sends: u32) {
        self.inner.accept(appid, openid, pri_tmpl_id, sends);
    }

    /// Every message subscribe/send accepted, oldest first.
    pub fn sent_subscribe_messages(&self) -> Vec<SentMessage> {
        self.inner.lock().services.sent.clone()
    }

    /// The templates `appid` added (addtemplate).
    pub fn subscribe_templates(&self, appid: &AppId) -> Vec<AddedTemplate> {
        self.inner
            .lock()
            .services
            .templates
            .get(appid)
            .cloned()
            .unwrap_or_default()
    }
}

type S = AxState<Arc<Inner>>;

/// The `/_sim` controls of these endpoints.
pub fn control_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/_sim/apps/{appid}/js-codes", post(js_code))
        .route("/_sim/apps/{appid}/phone-codes", post(phone_code))
        .route("/_sim/apps/{appid}/subscriptions", post(subscription))
        .route("/_sim/subscribe-messages", get(sent))
        .with_state(inner)
}

fn bad(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg.to_string()})),
    )
        .into_response()
}

#[derive(Deserialize, Default)]
struct JsCodeSpec {
    openid: Option<String>,
    unionid: Option<String>,
}

async fn js_code(
    AxState(inner): S,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(appid) = AppId::parse(&appid) else {
        return bad("invalid appid");
    };
    let spec: JsCodeSpec = if body.is_empty() {
        JsCodeSpec::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(s) => s,
            Err(e) => return bad(e),
        }
    };
    let (code, openid) = inner.mint_js_code(&appid, spec.openid, spec.unionid);
    Json(json!({"js_code": code, "openid": openid, "expires_in": CODE_TTL})).into_response()
}

#[derive(Deserialize)]
struct PhoneSpec {
    phone: String,
    #[serde(default = "china")]
    country_code: String,
}

fn china() -> String {
    "86".to_owned()
}

async fn phone_code(
    AxState(inner): S,
    Path(appid): Path<String>,
    Json(spec): Json<PhoneSpec>,
) -> Response {
    let Ok(appid) = AppId::parse(&appid) else {
        return bad("invalid appid");
    };
    if spec.phone.is_empty() || !spec.phone.chars().all(|c| c.is_ascii_digit()) {
        return bad("phone must be digits");
    }
    let code = inner.mint_phone_code(&appid, spec.phone, spec.country_code);
    Json(json!({"code": code, "expires_in": CODE_TTL})).into_response()
}

#[derive(Deserialize)]
struct SubscriptionSpec {
    openid: String,
    #[serde(rename = "priTmplId")]
    pri_tmpl_id: String,
    sends: u32,
}

async fn subscription(
    AxState(inner): S,
    Path(appid): Path<String>,
    Json(spec): Json<SubscriptionSpec>,
) -> Response {
    let Ok(appid) = AppId::parse(&appid) else {
        return bad("invalid appid");
    };
    inner.accept(&appid, &spec.openid, &spec.pri_tmpl_id, spec.sends);
    Json(json!({})).into_response()
}

async fn sent(AxState(inner): S) -> Json<Value> {
    Json(json!({"messages": inner.lock().services.sent}))
}
