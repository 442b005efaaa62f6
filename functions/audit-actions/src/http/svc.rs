//! The `/svc` routes for the provider's own backends (a `service` key, scoped to its customers:
//! [`crate::access`]), and the operators' `/ops/apps/{appid}/wxacode`: each parses its request,
//! calls one operation of [`crate::ops::services`] and renders its outcome. Tokens, session keys
//! and phone numbers are answered with `Cache-Control: no-store` and never logged.

use super::error::ApiError;
use super::routes::declare_routes;
use super::JsonBody;
use crate::ops::services::{self as ops, NewSubscribeTemplate, SubscribeMessage, WxaCodeRequest};
use crate::Deps;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use wxopen::domain::AppId;
use wxopen::wechat::services::GetPubTemplateTitles;
use wxopen::wechat::token::Issued;
use wxopen::wechat::wxa::{CreateWxaQrCode, GetWxaCode, GetWxaCodeUnlimit};

// The `/svc` routes (declared with their full path; [`crate::router`] nests them behind the
// key check).
declare_routes! {
    RULES, routes;
    GET "/svc/apps/{appid}/access-token" => access_token: Service, ONE;
    POST "/svc/apps/{appid}/access-token/invalid" => invalid_token: Service, ONE;
    GET "/svc/component/access-token" => component_token: Service, ALL;
    POST "/svc/apps/{appid}/sessions" => session: Service, ONE;
    POST "/svc/apps/{appid}/phone-number" => phone_number: Service, ONE;
    POST "/svc/apps/{appid}/wxacode" => wxacode: Service, ONE;
    GET "/svc/apps/{appid}/subscribe-templates" => subscribe_templates: Service, ONE;
    POST "/svc/apps/{appid}/subscribe-templates" => add_subscribe_template: Service, ONE;
    DELETE "/svc/apps/{appid}/subscribe-templates/{name}" => delete_subscribe_template: Service, ONE;
    POST "/svc/apps/{appid}/subscribe-messages" => send_subscribe_message: Service, ONE;
    GET "/svc/apps/{appid}/subscribe-library/categories" => subscribe_categories: Service, ONE;
    GET "/svc/apps/{appid}/subscribe-library/titles" => subscribe_titles: Service, ONE;
    GET "/svc/apps/{appid}/subscribe-library/titles/{tid}/keywords" => subscribe_keywords: Service, ONE;
}

// The operators' route to the same mini program codes.
declare_routes! {
    OPS_RULES, ops_routes;
    POST "/ops/apps/{appid}/wxacode" => wxacode: Op, ONE;
}

/// A handler's answer: a response, or any failure rendered like every other route's.
type SvcResult = Result<Response, ApiError>;

/// The route's appid, parsed (400 `invalid_appid`). No store read: the key check already
/// looked the app up for a scoped key, and WeChat's answer (or the stored token) says the rest.
struct SvcApp(AppId);

impl FromRequestParts<Arc<Deps>> for SvcApp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, deps: &Arc<Deps>) -> Result<Self, ApiError> {
        let raw = super::path_param(parts, deps, "appid").await;
        AppId::parse(&raw)
            .map(SvcApp)
            .map_err(|e| ApiError::bad("invalid_appid", e.to_string()))
    }
}

/// A JSON answer no cache may keep (it carries a token, a session key or personal data).
fn no_store(body: Value) -> Response {
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn token_body(t: &Issued) -> Response {
    no_store(json!({
        "access_token": t.access_token.expose_secret(),
        "expires_at": t.expires_at,
    }))
}

fn items(items: Vec<Value>) -> Response {
    Json(json!({ "items": items })).into_response()
}

/// A required secret field that must not be empty.
fn non_empty(field: &'static str, v: &SecretString) -> Result<(), ApiError> {
    if v.expose_secret().trim().is_empty() {
        return Err(ApiError::bad(
            "invalid_body",
            format!("{field} must not be empty"),
        ));
    }
    Ok(())
}

async fn access_token(State(deps): State<Arc<Deps>>, SvcApp(appid): SvcApp) -> SvcResult {
    Ok(token_body(&ops::access_token(&deps.mgr, &appid).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidToken {
    /// The token WeChat answered 40001/42001 for.
    access_token: SecretString,
}

async fn invalid_token(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    JsonBody(req): JsonBody<InvalidToken>,
) -> SvcResult {
    non_empty("access_token", &req.access_token)?;
    let t = ops::report_invalid_token(&deps.mgr, &appid, &req.access_token).await?;
    Ok(token_body(&t))
}

async fn component_token(State(deps): State<Arc<Deps>>) -> SvcResult {
    Ok(token_body(&ops::component_access_token(&deps.mgr).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    js_code: SecretString,
    #[serde(default)]
    with_session_key: bool,
}

async fn session(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    JsonBody(req): JsonBody<NewSession>,
) -> SvcResult {
    non_empty("js_code", &req.js_code)?;
    let s = ops::login(&deps.mgr, &appid, req.js_code, req.with_session_key).await?;
    let mut v = json!({ "openid": s.openid });
    if let Some(u) = s.unionid {
        v["unionid"] = json!(u);
    }
    if let Some(k) = s.session_key {
        v["session_key"] = json!(k.expose_secret());
    }
    Ok(no_store(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneCode {
    code: SecretString,
}

async fn phone_number(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    JsonBody(req): JsonBody<PhoneCode>,
) -> SvcResult {
    non_empty("code", &req.code)?;
    let p = ops::phone_number(&deps.mgr, &appid, req.code).await?;
    Ok(no_store(json!({
        "phone_number": p.phone_number,
        "pure_phone_number": p.pure_phone_number,
        "country_code": p.country_code,
        "watermark": { "timestamp": p.watermark.timestamp, "appid": p.watermark.appid },
    })))
}

/// Which version a code opens.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EnvVersion {
    Release,
    Trial,
    Develop,
}

impl EnvVersion {
    fn as_str(self) -> &'static str {
        match self {
            EnvVersion::Release => "release",
            EnvVersion::Trial => "trial",
            EnvVersion::Develop => "develop",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Rgb {
    r: u8,
    g: u8,
    b: u8,
}

/// Which of WeChat's three codes: `unlimited` (getwxacodeunlimit, the default: a `scene`, as
/// many as wanted), `limited` (getwxacode: a `path` with its query) or `qrcode`
/// (createwxaqrcode: a square QR code for a `path`); the last two share the app's 100,000.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WxaCodeKind {
    #[default]
    Unlimited,
    Limited,
    Qrcode,
}

/// A code's fields, checked before WeChat is asked: each kind takes only its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WxaCodeBody {
    #[serde(default)]
    kind: WxaCodeKind,
    #[serde(default)]
    scene: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    env_version: Option<EnvVersion>,
    #[serde(default)]
    check_path: Option<bool>,
    #[serde(default)]
    auto_color: Option<bool>,
    #[serde(default)]
    line_color: Option<Rgb>,
    #[serde(default)]
    is_hyaline: Option<bool>,
}

/// getUnlimitedQRCode: `scene` 1 to 32 visible characters; every kind: `width` 280 to 1280 px.
const SCENE_MAX_CHARS: usize = 32;
const WIDTH_RANGE: std::ops::RangeInclusive<u32> = 280..=1280;
/// getQRCode: `path` at most 1024 characters; createQRCode: at most 128.
const LIMITED_PATH_MAX_CHARS: usize = 1024;
const QRCODE_PATH_MAX_CHARS: usize = 128;

/// A path a limited kind opens: 1 to `max` characters, no control characters, and not the
/// reserved `scancode_time` parameter.
fn code_path(path: Option<String>, max: usize) -> Result<String, ApiError> {
    let path = path.unwrap_or_default();
    let n = path.chars().count();
    if n == 0 || n > max || path.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "invalid_path",
            format!("path: the page to open with its query, 1 to {max} characters"),
        ));
    }
    if path.contains("scancode_time") {
        return Err(ApiError::bad(
            "invalid_path",
            "path: scancode_time is reserved by WeChat",
        ));
    }
    Ok(path)
}

impl WxaCodeBody {
    /// The fields `kind` does not take, if any was sent.
    fn stray_fields(&self) -> Vec<&'static str> {
        let sent = [
            ("scene", self.scene.is_some()),
            ("page", self.page.is_some()),
            ("check_path", self.check_path.is_some()),
            ("path", self.path.is_some()),
            ("env_version", self.env_version.is_some()),
            ("auto_color", self.auto_color.is_some()),
            ("line_color", self.line_color.is_some()),
            ("is_hyaline", self.is_hyaline.is_some()),
        ];
        let takes: &[&str] = match self.kind {
            WxaCodeKind::Unlimited => &[
                "scene",
                "page",
                "check_path",
                "env_version",
                "auto_color",
                "line_color",
                "is_hyaline",
            ],
            WxaCodeKind::Limited => &[
                "path",
                "env_version",
                "auto_color",
                "line_color",
                "is_hyaline",
            ],
            WxaCodeKind::Qrcode => &["path"],
        };
        sent.iter()
            .filter(|(f, s)| *s && !takes.contains(f))
            .map(|(f, _)| *f)
            .collect()
    }

    fn into_request(self) -> Result<WxaCodeRequest, ApiError> {
        let stray = self.stray_fields();
        if !stray.is_empty() {
            return Err(ApiError::bad(
                "invalid_body",
                format!("kind {:?} does not take {}", self.kind, stray.join(", ")),
            ));
        }
        if self.width.is_some_and(|w| !WIDTH_RANGE.contains(&w)) {
            return Err(ApiError::bad(
                "invalid_width",
                "width must be 280 to 1280 (pixels)",
            ));
        }
        let env_version = self.env_version.map(|e| e.as_str().to_owned());
        let line_color = self.line_color.map(|c| json!(c));
        Ok(match self.kind {
            WxaCodeKind::Unlimited => {
                let scene = self.scene.unwrap_or_default();
                let n = scene.chars().count();
                if n == 0 || n > SCENE_MAX_CHARS || scene.chars().any(|c| !c.is_ascii_graphic()) {
                    return Err(ApiError::bad(
                        "invalid_scene",
                        format!("scene must be 1 to {SCENE_MAX_CHARS} visible ASCII characters"),
                    ));
                }
                WxaCodeRequest::Unlimited(GetWxaCodeUnlimit {
                    scene,
                    page: self.page.filter(|p| !p.is_empty()),
                    check_path: self.check_path,
                    env_version,
                    width: self.width,
                    auto_color: self.auto_color,
                    line_color,
                    is_hyaline: self.is_hyaline,
                })
            }
            WxaCodeKind::Limited => WxaCodeRequest::Limited(GetWxaCode {
                path: code_path(self.path, LIMITED_PATH_MAX_CHARS)?,
                env_version,
                width: self.width,
                auto_color: self.auto_color,
                line_color,
                is_hyaline: self.is_hyaline,
            }),
            WxaCodeKind::Qrcode => WxaCodeRequest::QrCode(CreateWxaQrCode {
                path: code_path(self.path, QRCODE_PATH_MAX_CHARS)?,
                width: self.width,
            }),
        })
    }
}

async fn wxacode(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    JsonBody(req): JsonBody<WxaCodeBody>,
) -> SvcResult {
    let img = ops::wxacode(&deps.mgr, &appid, &req.into_request()?).await?;
    let ct =
        HeaderValue::from_str(&img.content_type).unwrap_or(HeaderValue::from_static("image/png"));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], img.bytes).into_response())
}

fn template_view(t: &wxopen::store::NamedSubscribeTemplate) -> Value {
    json!({
        "name": t.name,
        "pri_tmpl_id": t.pri_tmpl_id,
        "tid": t.tid,
        "kid_list": t.kid_list,
        "added_at": t.added_at,
    })
}

async fn subscribe_templates(State(deps): State<Arc<Deps>>, SvcApp(appid): SvcApp) -> SvcResult {
    let all = ops::subscribe_templates(deps.store.as_ref(), &appid).await?;
    Ok(items(all.iter().map(template_view).collect()))
}

fn valid_template_name(name: &str) -> Result<(), ApiError> {
    ops::check_template_name(name).map_err(|(code, message)| ApiError::bad(code, message))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTemplateBody {
    name: String,
    tid: u64,
    kid_list: Vec<u64>,
    #[serde(default)]
    scene_desc: Option<String>,
}

async fn add_subscribe_template(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    JsonBody(req): JsonBody<NewTemplateBody>,
) -> SvcResult {
    let new = NewSubscribeTemplate {
        name: req.name,
        tid: req.tid,
        kid_list: req.kid_list,
        scene_desc: req.scene_desc,
    };
    new.check()
        .map_err(|(code, message)| ApiError::bad(code, message))?;
    let done = ops::add_subscribe_template(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &appid,
        &new,
    )
    .await?;
    let status = if done.added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = template_view(&done.template);
    if done.reconciled {
        body["reconciled"] = json!(true);
    }
    Ok((status, Json(body)).into_response())
}

/// A keyword's value: WeChat's `{"value": "..."}` or the bare string.
#[derive(Deserialize)]
#[serde(untagged)]
enum KeywordValue {
    Bare(String),
    Wrapped { value: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    /// The provider's template name.
    template: String,
    touser: String,
    data: BTreeMap<String, KeywordValue>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    miniprogram_state: Option<MiniprogramState>,
    #[serde(default)]
    lang: Option<String>,
}

/// Which version the message opens.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MiniprogramState {
    Developer,
    Trial,
    Formal,
}

impl MiniprogramState {
    fn as_str(self) -> &'static str {
        match self {
            MiniprogramState::Developer => "developer",
            MiniprogramState::Trial => "trial",
            MiniprogramState::Formal => "formal",
        }
    }
}

async fn send_subscribe_message(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    JsonBody(req): JsonBody<SendBody>,
) -> SvcResult {
    valid_template_name(&req.template)?;
    ApiError::unless(
        !req.touser.trim().is_empty(),
        "invalid_body",
        "touser must not be empty",
    )?;
    let msg = SubscribeMessage {
        template: req.template,
        touser: req.touser,
        data: req
            .data
            .into_iter()
            .map(|(k, v)| match v {
                KeywordValue::Bare(value) | KeywordValue::Wrapped { value } => (k, value),
            })
            .collect(),
        page: req.page,
        miniprogram_state: req.miniprogram_state.map(|m| m.as_str().to_owned()),
        lang: req.lang,
    };
    let msgid = ops::send_subscribe_message(&deps.mgr, deps.store.as_ref(), &appid, msg).await?;
    Ok(Json(json!({ "msgid": msgid })).into_response())
}

async fn delete_subscribe_template(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    Path((_, name)): Path<(String, String)>,
) -> SvcResult {
    valid_template_name(&name)?;
    ops::delete_subscribe_template(&deps.mgr, deps.store.as_ref(), &appid, &name).await?;
    Ok(Json(json!({ "deleted": name })).into_response())
}

async fn subscribe_categories(State(deps): State<Arc<Deps>>, SvcApp(appid): SvcApp) -> SvcResult {
    let cats = ops::subscribe_categories(&deps.mgr, &appid).await?;
    Ok(items(
        cats.iter()
            .map(|c| json!({ "id": c.id, "name": c.name }))
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TitlesQuery {
    /// Category ids, comma-separated.
    ids: String,
    #[serde(default)]
    start: u32,
    #[serde(default)]
    limit: Option<u32>,
}

/// getpubtemplatetitles answers at most 30 titles a page.
const TITLES_PAGE_MAX: u32 = 30;

async fn subscribe_titles(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    super::OpsQuery(q): super::OpsQuery<TitlesQuery>,
) -> SvcResult {
    let ids: Result<Vec<u64>, _> = q.ids.split(',').map(|i| i.trim().parse()).collect();
    let limit = q.limit.unwrap_or(TITLES_PAGE_MAX);
    let req = match ids {
        Ok(ids) if !ids.is_empty() && (1..=TITLES_PAGE_MAX).contains(&limit) => {
            GetPubTemplateTitles {
                category_ids: ids,
                start: q.start,
                limit,
            }
        }
        _ => {
            return Err(ApiError::bad(
                "invalid_query",
                format!("ids: category ids, comma-separated; limit: 1 to {TITLES_PAGE_MAX}"),
            ))
        }
    };
    let t = ops::subscribe_titles(&deps.mgr, &appid, &req).await?;
    let items: Vec<_> = t
        .data
        .iter()
        .map(|x| json!({ "tid": x.tid, "title": x.title, "type": x.kind, "category_id": x.category_id }))
        .collect();
    Ok(Json(json!({ "count": t.count, "items": items })).into_response())
}

async fn subscribe_keywords(
    State(deps): State<Arc<Deps>>,
    SvcApp(appid): SvcApp,
    Path((_, tid)): Path<(String, String)>,
) -> SvcResult {
    let tid = tid
        .parse::<u64>()
        .map_err(|_| ApiError::bad("invalid_tid", "tid is a number"))?;
    let kws = ops::subscribe_keywords(&deps.mgr, &appid, tid).await?;
    Ok(items(
        kws.iter()
            .map(|k| json!({ "kid": k.kid, "name": k.name, "example": k.example, "rule": k.rule }))
            .collect(),
    ))
}
