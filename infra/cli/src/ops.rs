//! The operator commands: the operator API (`/ops/...`, see
//! `functions/audit-actions/openapi.yaml`) from a terminal, as readable tables, or raw JSON with
//! `--json` for scripts. The operator key goes in the `Authorization` header and nowhere else:
//! never printed, never in a URL.

pub mod filing_application;
pub mod profile;
pub mod registration;

use crate::table;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use wxopen::domain::AppId;

/// Where the operator API is and how to present its answers.
#[derive(Args, Clone)]
pub struct Global {
    /// The operator API's base URL (API Gateway's, or wxopen-local's, e.g. http://127.0.0.1:3000).
    #[arg(long, env = "WXOPEN_API_URL", global = true)]
    pub api_url: Option<String>,
    /// The operator key (sent as a bearer token, never printed).
    #[arg(
        long,
        env = "WXOPEN_OPERATOR_KEY",
        hide_env_values = true,
        global = true
    )]
    pub operator_key: Option<String>,
    /// Print the API's JSON as it came (errors too, on stdout), for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum AuthorizersCommand {
    /// The authorized accounts with their permission sets and token health (every page).
    List {
        /// authorized, unauthorized or needs_reauthorization.
        #[arg(long)]
        status: Option<String>,
        /// Only this customer's accounts.
        #[arg(long)]
        customer: Option<String>,
        /// Only accounts whose ICP filing is this: not_filed, platform_review,
        /// platform_rejected, administration_review, administration_rejected, filed,
        /// unrecognized, or unchecked (never looked at).
        #[arg(long)]
        filing: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum FilingCommand {
    /// Where one mini program's ICP filing (小程序备案) stands: status, the reasons of a
    /// rejection with each field's suggestion, the SMS check, the record number.
    Show {
        appid: String,
        /// Ask WeChat now instead of showing what wxopen last learned.
        #[arg(long)]
        refresh: bool,
    },
    /// Filing on the merchant's behalf: submit, cancel, media, verify-task.
    #[command(flatten)]
    Application(filing_application::FilingApplicationCommand),
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// One mini program: profile, permission sets, token health, experience and online
    /// versions, latest audit, last commit, running batches.
    Show { appid: String },
}

/// The batch actions.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
#[value(rename_all = "snake_case")]
pub enum Operation {
    Commit,
    SubmitAudit,
    Release,
    /// A subscribe template under the provider's name on every app (skipped where it is).
    AddSubscribeTemplate,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Commit => "commit",
            Operation::SubmitAudit => "submit_audit",
            Operation::Release => "release",
            Operation::AddSubscribeTemplate => "add_subscribe_template",
        }
    }
}

/// What a commit sends.
#[derive(Args, Clone)]
pub struct CommitArgs {
    /// The template in the platform's library (GET /ops/templates).
    #[arg(long)]
    pub template_id: Option<u64>,
    /// The version name, e.g. 1.2.0.
    #[arg(long)]
    pub user_version: Option<String>,
    /// The version description (default: the version name).
    #[arg(long)]
    pub user_desc: Option<String>,
    /// A JSON file with the ext.json object ("-": stdin); default {}.
    #[arg(long)]
    pub ext_json: Option<PathBuf>,
}

/// What a fleet subscribe batch adds.
#[derive(Args, Clone)]
pub struct TemplateArgs {
    /// The provider's name for the template, e.g. order_shipped (what backends send by).
    #[arg(long)]
    pub name: Option<String>,
    /// The public title's id (GET /svc/apps/{appid}/subscribe-library/titles).
    #[arg(long)]
    pub tid: Option<u64>,
    /// Its keyword ids, 2 to 5, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub kid_list: Option<Vec<u64>>,
    /// What the apps send it for (addtemplate's sceneDesc).
    #[arg(long)]
    pub scene_desc: Option<String>,
}

impl TemplateArgs {
    fn given(&self) -> bool {
        self.name.is_some()
            || self.tid.is_some()
            || self.kid_list.is_some()
            || self.scene_desc.is_some()
    }

    fn params(&self) -> Result<Value, Failure> {
        let (Some(name), Some(tid), Some(kids)) = (&self.name, self.tid, &self.kid_list) else {
            return Err(
                "--operation add_subscribe_template needs --name, --tid and --kid-list".into(),
            );
        };
        let mut p = json!({ "name": name, "tid": tid, "kid_list": kids });
        if let Some(d) = &self.scene_desc {
            p["scene_desc"] = json!(d);
        }
        Ok(p)
    }
}

/// What a submission sends.
#[derive(Args, Clone)]
pub struct SubmitArgs {
    /// A JSON file with the whole submission (item_list, preview_info, ugc_declare...; "-":
    /// stdin); the flags below override its fields. Default {}.
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// version_desc: what changed, for the reviewers.
    #[arg(long)]
    pub version_desc: Option<String>,
    /// privacy_api_not_use: the code never calls the privacy interfaces it references.
    #[arg(long)]
    pub privacy_api_not_use: bool,
}

/// Which of WeChat's mini program codes (`POST /ops/apps/{appid}/wxacode`'s `kind`).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug, Default)]
#[value(rename_all = "snake_case")]
pub enum WxaCodeKind {
    /// getwxacodeunlimit: a --scene, as many codes as wanted.
    #[default]
    Unlimited,
    /// getwxacode: a --path with its query; one of the app's 100,000 limited codes.
    Limited,
    /// createwxaqrcode: a square QR code for a --path; one of the same 100,000.
    Qrcode,
}

impl WxaCodeKind {
    fn as_str(self) -> &'static str {
        match self {
            WxaCodeKind::Unlimited => "unlimited",
            WxaCodeKind::Limited => "limited",
            WxaCodeKind::Qrcode => "qrcode",
        }
    }
}

/// What a mini program code is made of.
#[derive(Args, Clone)]
pub struct WxaCodeArgs {
    #[arg(long, value_enum, default_value_t = WxaCodeKind::Unlimited)]
    pub kind: WxaCodeKind,
    /// unlimited: what the page receives as `scene` (1 to 32 visible characters).
    #[arg(long)]
    pub scene: Option<String>,
    /// unlimited: the page to open (default: the home page).
    #[arg(long)]
    pub page: Option<String>,
    /// limited, qrcode: the page to open with its query (e.g. pages/index/index?order=42).
    #[arg(long)]
    pub path: Option<String>,
    /// Width in pixels, 280 to 1280 (WeChat's default 430).
    #[arg(long)]
    pub width: Option<u32>,
    /// release (default), trial or develop (unlimited, limited).
    #[arg(long)]
    pub env_version: Option<String>,
    /// A transparent background (unlimited, limited).
    #[arg(long)]
    pub hyaline: bool,
    /// unlimited: do not require the page to be in the released version.
    #[arg(long)]
    pub no_check_path: bool,
    /// Where to save the image ("-": stdout).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

impl WxaCodeArgs {
    /// The request body; the API checks the fields each kind takes.
    fn body(&self) -> Value {
        let mut b = Map::new();
        if self.kind != WxaCodeKind::Unlimited {
            b.insert("kind".into(), json!(self.kind.as_str()));
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                b.insert(k.into(), v);
            }
        };
        put("scene", self.scene.as_ref().map(|s| json!(s)));
        put("page", self.page.as_ref().map(|s| json!(s)));
        put("path", self.path.as_ref().map(|s| json!(s)));
        put("width", self.width.map(|w| json!(w)));
        put("env_version", self.env_version.as_ref().map(|s| json!(s)));
        put("is_hyaline", self.hyaline.then_some(json!(true)));
        put("check_path", self.no_check_path.then_some(json!(false)));
        Value::Object(b)
    }
}

/// The operator API with the key, and how to print.
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
    pub json: bool,
}

/// Why a command did not succeed.
pub enum Failure {
    /// The API answered an error: its status and JSON body.
    Api { status: u16, body: Value },
    /// Anything else, already worded.
    Other(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Other(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure::Other(s.to_owned())
    }
}

/// An error and the errors that caused it, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        source = s.source();
    }
    out
}

impl Api {
    pub fn new(g: &Global) -> Result<Api, Failure> {
        let base = g
            .api_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or("no API URL: set WXOPEN_API_URL or pass --api-url (wxopen-local prints it at start)")?;
        let parsed = reqwest::Url::parse(base)
            .map_err(|e| format!("the API URL {base} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("the API URL {base} is not http(s)").into());
        }
        let key = g
            .operator_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or("no operator key: set WXOPEN_OPERATOR_KEY or pass --operator-key")?
            .to_owned();
        let http = wxopen::https::reqwest_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the HTTP client: {}", chain(&e)))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
            json: g.json,
        })
    }

    /// One call; a non-2xx answer is [`Failure::Api`].
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, Failure> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.map_err(|e| {
            format!(
                "cannot reach the operator API at {}: {}",
                self.base,
                chain(&e)
            )
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("reading the answer of {path}: {}", chain(&e)))?;
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(v) => v,
            Err(_) => {
                let snippet: String = text.chars().take(200).collect();
                let v = json!({
                    "error": "not_json",
                    "message": format!("{path} answered {status} without JSON: {snippet}"),
                });
                if (200..300).contains(&status) {
                    return Err(Failure::Other(
                        v["message"].as_str().unwrap_or("").to_owned(),
                    ));
                }
                v
            }
        };
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(Failure::Api {
                status,
                body: value,
            })
        }
    }

    /// A POST answered with an image: its Content-Type and bytes; an error is JSON as for
    /// [`Api::call`].
    async fn post_for_bytes(&self, path: &str, body: &Value) -> Result<(String, Vec<u8>), Failure> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot reach the operator API at {}: {}",
                    self.base,
                    chain(&e)
                )
            })?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("reading the answer of {path}: {}", chain(&e)))?;
        if (200..300).contains(&status) && content_type.starts_with("image/") {
            return Ok((content_type, bytes.to_vec()));
        }
        let body = serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|_| {
            let snippet: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
            json!({ "error": "not_an_image", "message": format!("{path} answered {status} {content_type}: {snippet}") })
        });
        Err(Failure::Api {
            status: if (200..300).contains(&status) {
                502
            } else {
                status
            },
            body,
        })
    }

    pub(crate) async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, Failure> {
        self.call(Method::GET, path, query, None, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(Method::POST, path, &[], Some(body), None).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(Method::PUT, path, &[], Some(body), None).await
    }
}

pub(crate) fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

fn appid(s: &str) -> Result<AppId, Failure> {
    AppId::parse(s.trim())
        .map_err(|_| format!("{s} is not an appid (wx followed by 16 letters or digits)").into())
}

/// A JSON object from a file, or stdin for "-".
pub(crate) fn json_object_file(path: &PathBuf, what: &str) -> Result<Map<String, Value>, Failure> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(4 * 1024 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| format!("reading {what} from stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| format!("reading {what} {}: {e}", path.display()))?
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("{what} {} is not a JSON object", path.display()).into()),
        Err(e) => Err(format!("{what} {} is not JSON: {e}", path.display()).into()),
    }
}

fn commit_body(c: &CommitArgs) -> Result<Value, Failure> {
    let template_id = c
        .template_id
        .ok_or("--template-id is required for a commit")?;
    let user_version = c
        .user_version
        .clone()
        .ok_or("--user-version is required for a commit")?;
    let ext_json = match &c.ext_json {
        Some(p) => json_object_file(p, "--ext-json")?,
        None => Map::new(),
    };
    Ok(json!({
        "template_id": template_id,
        "ext_json": ext_json,
        "user_desc": c.user_desc.clone().unwrap_or_else(|| user_version.clone()),
        "user_version": user_version,
    }))
}

fn submit_body(s: &SubmitArgs) -> Result<Value, Failure> {
    let mut body = match &s.body {
        Some(p) => json_object_file(p, "--body")?,
        None => Map::new(),
    };
    if let Some(d) = &s.version_desc {
        body.insert("version_desc".into(), json!(d));
    }
    if s.privacy_api_not_use {
        body.insert("privacy_api_not_use".into(), json!(true));
    }
    Ok(Value::Object(body))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Seconds until `t` in words: "in 1 h 55 min", "expired".
fn until(now: i64, t: i64) -> String {
    let d = t - now;
    if d <= 0 {
        return "expired".to_owned();
    }
    let (h, m) = (d / 3600, (d % 3600) / 60);
    if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{d} s")
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Token health in a few words.
fn token_words(t: &Value) -> String {
    if t["needs_reauthorization"] == json!(true) {
        return "needs reauthorization".to_owned();
    }
    match t["access_expires_at"].as_i64() {
        Some(at) => format!("valid, {}", until(now(), at)),
        None if t["has_refresh_token"] == json!(true) => "refreshable".to_owned(),
        None => "none".to_owned(),
    }
}

fn sets(v: &Value) -> String {
    v.as_array()
        .map(|a| a.iter().map(text).collect::<Vec<_>>().join(","))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

pub async fn authorizers_list(
    api: &Api,
    status: Option<String>,
    customer: Option<String>,
    filing: Option<String>,
) -> Result<ExitCode, Failure> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, &str)> = vec![("limit", "100")];
        if let Some(s) = status.as_deref() {
            q.push(("status", s));
        }
        if let Some(c) = customer.as_deref() {
            q.push(("customer_id", c));
        }
        if let Some(f) = filing.as_deref() {
            q.push(("filing", f));
        }
        if let Some(c) = cursor.as_deref() {
            q.push(("cursor", c));
        }
        let page = api.get("/ops/authorizers", &q).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(n) if !n.is_empty() => cursor = Some(n.to_owned()),
            _ => break,
        }
    }
    if api.json {
        print_json(&json!({ "items": items }));
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        println!("no authorizer matches");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table::new(&[
        "APPID",
        "NAME",
        "CUSTOMER",
        "STATUS",
        "FILING",
        "SETS",
        "CODE MGMT (18)",
        "TOKEN",
        "PENALTIES",
        "AUTHORIZED (UTC+8)",
    ]);
    for a in &items {
        t.add_row(vec![
            text(&a["appid"]),
            text(&a["nick_name"]),
            text(&a["customer_id"]),
            text(&a["status"]),
            text(&a["filing"]),
            sets(&a["func_info"]),
            if a["development_permission"] == json!(true) {
                "yes".to_owned()
            } else {
                "NO".to_owned()
            },
            token_words(&a["token"]),
            match a["penalties"]["count"].as_u64() {
                None | Some(0) => "-".to_owned(),
                Some(n) => format!("{n} ({})", text(&a["penalties"]["latest"]["kind"])),
            },
            a["authorized_at"]
                .as_i64()
                .map(table::time)
                .unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    println!("{t}");
    println!("{} authorizer(s)", items.len());
    Ok(ExitCode::SUCCESS)
}

/// `wxopen filing show APPID`.
pub async fn filing_show(api: &Api, appid_arg: &str, refresh: bool) -> Result<ExitCode, Failure> {
    let appid = appid(appid_arg)?;
    let q: Vec<(&str, &str)> = if refresh {
        vec![("refresh", "true")]
    } else {
        vec![]
    };
    let v = api.get(&format!("/ops/apps/{appid}/filing"), &q).await?;
    if api.json {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<(String, String)> = vec![
        ("appid".into(), appid.to_string()),
        (
            "filing".into(),
            format!(
                "{} (WeChat status {})",
                text(&v["status"]).replace('_', " "),
                text(&v["wechat_status"])
            ),
        ),
    ];
    let missing = v["missing"].as_array().cloned().unwrap_or_default();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(text).collect();
        rows.push(("missing".into(), names.join(", ")));
    }
    if let Some(sms) = v["sms_verify"].as_str() {
        rows.push(("SMS check".into(), sms.replace('_', " ")));
    }
    rows.push(("record number".into(), text(&v["record_number"])));
    rows.push((
        "checked (UTC+8)".into(),
        v["checked_at"]
            .as_i64()
            .map(table::time)
            .unwrap_or_else(|| "-".to_owned()),
    ));
    for r in v["reasons"].as_array().cloned().unwrap_or_default() {
        rows.push((
            format!("rejected: {}", text(&r["key_name"])),
            format!("{}; suggestion: {}", text(&r["error"]), text(&r["suggest"])),
        ));
    }
    let mut t = table::plain();
    for (k, val) in rows {
        t.add_row(vec![k, val]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

pub async fn invite(
    api: &Api,
    customer: String,
    auth_type: Option<u8>,
    expires_in: Option<i64>,
) -> Result<ExitCode, Failure> {
    let mut body = json!({ "customer_id": customer });
    if let Some(a) = auth_type {
        body["auth_type"] = json!(a);
    }
    if let Some(e) = expires_in {
        body["expires_in"] = json!(e);
    }
    let v = api.post("/ops/invitations", &body).await?;
    if api.json {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "invitation {} for customer {}, valid until {} (UTC+8); send this link to the merchant:",
        text(&v["invitation_id"]),
        text(&v["customer_id"]),
        v["expires_at"]
            .as_i64()
            .map(table::time)
            .unwrap_or_else(|| "-".to_owned()),
    );
    println!("{}", text(&v["url"]));
    Ok(ExitCode::SUCCESS)
}

fn version_words(v: &Value) -> String {
    if v.is_null() {
        return "-".to_owned();
    }
    let mut s = text(&v["user_version"]);
    if let Some(t) = v["time"].as_i64() {
        s.push_str(&format!(" ({})", table::time(t)));
    }
    if let Some(d) = v["desc"]
        .as_str()
        .filter(|d| !d.is_empty() && *d != v["user_version"].as_str().unwrap_or_default())
    {
        s.push_str(&format!(" {d}"));
    }
    s
}

pub async fn app_show(api: &Api, appid_arg: &str) -> Result<ExitCode, Failure> {
    let appid = appid(appid_arg)?;
    let v = api.get(&format!("/ops/apps/{appid}"), &[]).await?;
    if api.json {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<(String, String)> = vec![
        ("appid".into(), text(&v["appid"])),
        ("name".into(), text(&v["nick_name"])),
        ("principal".into(), text(&v["principal_name"])),
        ("original id".into(), text(&v["user_name"])),
        ("customer".into(), text(&v["customer_id"])),
        ("status".into(), text(&v["status"])),
        (
            "permission sets".into(),
            format!(
                "{}{}",
                sets(&v["func_info"]),
                if v["development_permission"] == json!(true) {
                    ""
                } else {
                    "  (set 18, code management, missing: send a new invitation)"
                }
            ),
        ),
        ("token".into(), token_words(&v["token"])),
    ];
    // The code's lifecycle stage (committed, submitted, auditing, approved, released...).
    let stage = &v["lifecycle"];
    if let Some(name) = stage["stage"].as_str() {
        let mut s = name.replace('_', " ");
        if let Some(version) = stage["user_version"].as_str() {
            s.push_str(&format!(", version {version}"));
        }
        if let Some(auditid) = stage["auditid"].as_u64() {
            s.push_str(&format!(", audit {auditid}"));
        }
        rows.push(("stage".into(), s));
    }
    // The ICP filing beside the code stage: an app not filed is not released.
    rows.push((
        "ICP filing".into(),
        match v["filing"]["status"].as_str() {
            Some(f) => f.replace('_', " "),
            None => "unchecked (wxopen filing show APPID asks WeChat)".to_owned(),
        },
    ));
    let versions = &v["versions"];
    if versions["error"].is_string() {
        rows.push((
            "versions".into(),
            format!("WeChat did not say: {}", text(&versions["error"])),
        ));
    } else if !versions.is_null() {
        rows.push((
            "experience version".into(),
            version_words(&versions["experience"]),
        ));
        rows.push(("online version".into(), version_words(&versions["online"])));
    }
    let audit = &v["latest_audit"];
    rows.push((
        "latest audit".into(),
        if audit.is_null() {
            "-".to_owned()
        } else {
            let mut s = format!(
                "{} {} (version {}, submitted {})",
                text(&audit["auditid"]),
                text(&audit["status"]),
                text(&audit["user_version"]),
                audit["submitted_at"]
                    .as_i64()
                    .map(table::time)
                    .unwrap_or_else(|| "-".to_owned())
            );
            if let Some(r) = audit["reason"].as_str().filter(|r| !r.is_empty()) {
                s.push_str(&format!("; reason: {r}"));
            }
            if let Some(at) = audit["released_at"].as_i64() {
                s.push_str(&format!("; released {}", table::time(at)));
            }
            s
        },
    ));
    let commit = &v["last_commit"];
    rows.push((
        "last commit".into(),
        if commit.is_null() {
            "-".to_owned()
        } else {
            format!(
                "template {} as {} by {} ({})",
                text(&commit["template_id"]),
                text(&commit["user_version"]),
                text(&commit["operator"]),
                commit["at"]
                    .as_i64()
                    .map(table::time)
                    .unwrap_or_else(|| "-".to_owned())
            )
        },
    ));
    let batches = v["pending_batches"].as_array().cloned().unwrap_or_default();
    rows.push((
        "running batches".into(),
        if batches.is_empty() {
            "-".to_owned()
        } else {
            batches
                .iter()
                .map(|b| {
                    format!(
                        "{} {} ({})",
                        text(&b["batch_id"]),
                        text(&b["action"]),
                        text(&b["state"])
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    ));
    let mut t = table::plain();
    for (k, val) in rows {
        t.add_row(vec![k, val]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

pub async fn commit(api: &Api, appid_arg: &str, c: &CommitArgs) -> Result<ExitCode, Failure> {
    let appid = appid(appid_arg)?;
    let body = commit_body(c)?;
    let v = api
        .post(&format!("/ops/apps/{appid}/commit"), &body)
        .await?;
    if api.json {
        print_json(&v);
    } else {
        println!(
            "committed template {} as version {} to {appid}: it is now the experience version (next: wxopen submit {appid})",
            text(&v["template_id"]),
            text(&v["user_version"])
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn submit(api: &Api, appid_arg: &str, s: &SubmitArgs) -> Result<ExitCode, Failure> {
    let appid = appid(appid_arg)?;
    let body = submit_body(s)?;
    let v = api
        .post(&format!("/ops/apps/{appid}/audits"), &body)
        .await?;
    if api.json {
        print_json(&v);
    } else {
        println!(
            "submitted {appid} version {} for audit: auditid {} (the result arrives by push; see wxopen app show {appid})",
            text(&v["user_version"]),
            text(&v["auditid"])
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn release(api: &Api, appid_arg: &str) -> Result<ExitCode, Failure> {
    let appid = appid(appid_arg)?;
    let v = api
        .post(&format!("/ops/apps/{appid}/release"), &json!({}))
        .await?;
    if api.json {
        print_json(&v);
    } else {
        println!(
            "released {appid} version {} (audit {}): it is online",
            text(&v["user_version"]),
            text(&v["auditid"])
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes a mini program code for `appid` and saves it to `-o` (stdout for "-").
pub async fn wxacode(api: &Api, appid_arg: &str, a: &WxaCodeArgs) -> Result<ExitCode, Failure> {
    let appid = appid(appid_arg)?;
    match a.kind {
        WxaCodeKind::Unlimited if a.scene.is_none() => {
            return Err("--scene is needed (or --kind limited/qrcode with --path)".into())
        }
        WxaCodeKind::Limited | WxaCodeKind::Qrcode if a.path.is_none() => {
            return Err(format!("--kind {} needs --path", a.kind.as_str()).into())
        }
        _ => {}
    }
    let (content_type, bytes) = api
        .post_for_bytes(&format!("/ops/apps/{appid}/wxacode"), &a.body())
        .await?;
    if a.output.as_os_str() == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)
            .and_then(|_| out.flush())
            .map_err(|e| format!("writing the image to stdout: {e}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::write(&a.output, &bytes)
        .map_err(|e| format!("writing {}: {e}", a.output.display()))?;
    if api.json {
        print_json(
            &json!({ "appid": appid, "kind": a.kind.as_str(), "content_type": content_type, "bytes": bytes.len(), "output": a.output }),
        );
    } else {
        println!(
            "saved {} ({content_type}, {} bytes) for {appid}",
            a.output.display(),
            bytes.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What a batch is asked to do.
pub struct BatchRequest {
    pub operation: Operation,
    pub appids: Option<String>,
    pub all: bool,
    /// One customer's authorized apps.
    pub customer: Option<String>,
    pub template: TemplateArgs,
    pub commit: CommitArgs,
    pub submit: SubmitArgs,
    pub up_to_quota: bool,
    pub idempotency_key: Option<String>,
    pub no_wait: bool,
    pub poll: Duration,
}

/// A batch item's outcome in a few words.
fn outcome_words(item: &Value) -> String {
    let d = &item["detail"];
    if d.is_null() {
        return "-".to_owned();
    }
    let s = if d["error"].is_string() {
        let mut s = format!("{}: {}", text(&d["error"]), text(&d["message"]));
        if let Some(code) = d["errcode"].as_i64() {
            s.push_str(&format!(" (errcode {code})"));
        }
        s
    } else {
        let mut parts = vec![text(&d["status"])];
        if let Some(v) = d["user_version"].as_str() {
            parts.push(format!("version {v}"));
        }
        if let Some(a) = d["auditid"].as_u64() {
            parts.push(format!("auditid {a}"));
        }
        if let Some(p) = d["pri_tmpl_id"].as_str() {
            parts.push(format!("{} priTmplId {p}", text(&d["name"])));
        }
        if d["reconciled"] == json!(true) {
            parts.push("(found done at WeChat)".into());
        }
        parts.join(" ")
    };
    table::shorten(&s, 120)
}

pub async fn batch(api: &Api, r: BatchRequest) -> Result<ExitCode, Failure> {
    let appids =
        match (&r.appids, r.all, &r.customer) {
            (Some(_), true, _) | (Some(_), _, Some(_)) | (_, true, Some(_)) => {
                return Err("give one of --appids, --all and --customer".into())
            }
            (None, false, None) => return Err(
                "name the apps: --appids wx…,wx…, --all (every authorized app) or --customer ID"
                    .into(),
            ),
            (None, false, Some(c)) => json!({ "customer": c }),
            (None, true, None) => json!("all_authorized"),
            (Some(list), false, None) => {
                let list = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| appid(s).map(|a| a.to_string()))
                    .collect::<Result<Vec<_>, _>>()?;
                if list.is_empty() {
                    return Err("--appids names no app".into());
                }
                json!(list)
            }
        };
    let c = &r.commit;
    let commit_flags = c.template_id.is_some()
        || c.user_version.is_some()
        || c.user_desc.is_some()
        || c.ext_json.is_some();
    if commit_flags && r.operation != Operation::Commit {
        return Err(
            "--template-id, --user-version, --user-desc and --ext-json are for --operation commit"
                .into(),
        );
    }
    let s = &r.submit;
    let submit_flags =
        s.body.is_some() || s.version_desc.is_some() || s.privacy_api_not_use || r.up_to_quota;
    if submit_flags && r.operation != Operation::SubmitAudit {
        return Err("--body, --version-desc, --privacy-api-not-use and --up-to-quota are for --operation submit_audit".into());
    }
    if r.template.given() && r.operation != Operation::AddSubscribeTemplate {
        return Err(
            "--name, --tid, --kid-list and --scene-desc are for --operation add_subscribe_template"
                .into(),
        );
    }
    let mut body = json!({ "action": r.operation.as_str(), "appids": appids });
    match r.operation {
        Operation::AddSubscribeTemplate => body["params"] = r.template.params()?,
        Operation::Commit => body["params"] = commit_body(&r.commit)?,
        Operation::SubmitAudit => {
            body["params"] = submit_body(&r.submit)?;
            if r.up_to_quota {
                body["up_to_quota"] = json!(true);
            }
        }
        Operation::Release => {}
    }
    let key = r
        .idempotency_key
        .clone()
        .unwrap_or_else(|| format!("wxopen-cli-{}", hex::encode(rand::random::<[u8; 16]>())));
    let created = api
        .call(Method::POST, "/ops/batches", &[], Some(&body), Some(&key))
        .await
        .map_err(|e| match e {
            // The answer may be lost after the batch was created: the same key finds it.
            Failure::Other(m) => Failure::Other(format!(
                "{m}\n  the batch may have been created: run the same command again with --idempotency-key {key} (no app is acted on twice)"
            )),
            e => e,
        })?;
    let batch_id = created["batch_id"]
        .as_str()
        .ok_or("the API answered no batch_id")?
        .to_owned();
    eprintln!(
        "batch {batch_id} {} (Idempotency-Key {key}: run again with --idempotency-key {key} to follow it; no app is acted on twice)",
        if created["replayed"] == json!(true) {
            "was already posted with this key"
        } else {
            "accepted"
        }
    );
    if r.no_wait {
        if api.json {
            print_json(&created);
        } else {
            println!("{batch_id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let path = format!("/ops/batches/{batch_id}");
    // Drawn on stderr, only on a terminal (indicatif hides it otherwise); made once the total
    // is known.
    let mut bar: Option<indicatif::ProgressBar> = None;
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {elapsed:>4} [{wide_bar}] {pos}/{len} apps  {msg}",
    )
    .map_err(|e| e.to_string())?
    .progress_chars("=> ");
    let abandon = |bar: &Option<indicatif::ProgressBar>| {
        if let Some(b) = bar {
            b.abandon();
        }
    };
    let mut failures = 0;
    let done = loop {
        match api.get(&path, &[]).await {
            Ok(v) => {
                failures = 0;
                let c = &v["counts"];
                let n = |k: &str| c[k].as_u64().unwrap_or(0);
                let b = bar.get_or_insert_with(|| {
                    let b = indicatif::ProgressBar::new(v["total"].as_u64().unwrap_or(0))
                        .with_style(style.clone());
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                });
                b.set_position(n("ok") + n("skipped") + n("failed"));
                b.set_message(format!(
                    "ok {} · skipped {} · failed {} · running {}",
                    n("ok"),
                    n("skipped"),
                    n("failed"),
                    n("running")
                ));
                if v["status"] == "done" {
                    break v;
                }
            }
            // The batch runs on whatever happens here: a passing failure only delays the news.
            Err(Failure::Api { status, body }) if status >= 500 || status == 429 => {
                failures += 1;
                if failures >= 10 {
                    abandon(&bar);
                    return Err(Failure::Api { status, body });
                }
            }
            Err(Failure::Other(e)) => {
                failures += 1;
                if failures >= 10 {
                    abandon(&bar);
                    return Err(Failure::Other(e));
                }
            }
            Err(e) => {
                abandon(&bar);
                return Err(e);
            }
        }
        tokio::time::sleep(r.poll).await;
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let c = &done["counts"];
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    if api.json {
        print_json(&done);
    } else {
        let items = done["items"].as_array().cloned().unwrap_or_default();
        let mut t = table::new(&["APPID", "OUTCOME", "DETAIL"]);
        for i in &items {
            t.add_row(vec![text(&i["appid"]), text(&i["state"]), outcome_words(i)]);
        }
        println!("{t}");
        println!(
            "batch {batch_id} ({}) done: {} ok, {} skipped, {} failed of {}",
            text(&done["action"]),
            n("ok"),
            n("skipped"),
            n("failed"),
            text(&done["total"])
        );
    }
    Ok(if n("failed") > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints a failure plainly on stderr (and, with `--json`, the API's JSON on stdout).
/// The exit code of a failure, by what the caller can do about it (see the crate's doc).
pub fn exit_code(f: &Failure) -> std::process::ExitCode {
    let code = match f {
        Failure::Api {
            status: 429 | 503, ..
        } => 3,
        Failure::Api { status: 504, .. } => 5,
        Failure::Api { status, .. } if *status >= 500 => 4,
        _ => 1,
    };
    std::process::ExitCode::from(code)
}

pub fn report(f: &Failure, json_out: bool) {
    match f {
        Failure::Other(m) => eprintln!("error: {m}"),
        Failure::Api { status, body } => {
            if json_out {
                print_json(body);
            }
            let code = body["error"].as_str().unwrap_or("error");
            let message = body["message"].as_str().unwrap_or("");
            eprintln!("error: {message} ({status} {code})");
            if let Some(errcode) = body["errcode"].as_i64() {
                eprintln!("  WeChat: errcode {errcode} {}", text(&body["errmsg"]));
            }
            if let Some(h) = body["hint"].as_str() {
                eprintln!("  hint: {h}");
            }
            if let Some(h) = body["hint_zh"].as_str() {
                eprintln!("  提示: {h}");
            }
            // A refusal field by field (a filing's `fields`): one line each, in both languages.
            for f in body["fields"].as_array().into_iter().flatten() {
                eprintln!(
                    "  {}: {} / {}",
                    text(&f["field"]),
                    text(&f["en"]),
                    text(&f["zh"])
                );
            }
            if let Some(obj) = body.as_object() {
                for (k, v) in obj {
                    if ![
                        "error", "message", "errcode", "errmsg", "hint", "hint_zh", "fields",
                    ]
                    .contains(&k.as_str())
                    {
                        eprintln!("  {k}: {}", text(v));
                    }
                }
            }
            if *status == 403 {
                eprintln!("  hint: this key's role does not allow it: ask an admin (wxopen keys new --role ...)");
            }
            if *status == 401 {
                eprintln!("  hint: check the operator key (WXOPEN_OPERATOR_KEY or --operator-key) and the API URL");
            }
        }
    }
}

// --- Issue 27: violations and the daily API quota tools ---

/// The daily API quota (45009).
#[derive(Subcommand)]
pub enum QuotaCommand {
    /// Zero the daily API counts of APPID (clear_quota), or the platform's with --platform
    /// (clear_quota/v2). 10 a month per account: refused with the count when none is left.
    Clear {
        /// The mini program (omit with --platform).
        appid: Option<String>,
        /// The platform's own counts (admin key).
        #[arg(long)]
        platform: bool,
        /// The API that ran out (e.g. /wxa/get_category): its count is read before and after, so
        /// a lost answer is settled.
        #[arg(long)]
        cgi_path: Option<String>,
    },
    /// One API's count today for APPID and the month's resets.
    Get {
        appid: String,
        /// The API's path, e.g. /wxa/get_category.
        #[arg(long)]
        cgi_path: Option<String>,
    },
}

pub async fn quota(api: &Api, c: QuotaCommand) -> Result<ExitCode, Failure> {
    match c {
        QuotaCommand::Clear {
            appid: a,
            platform,
            cgi_path,
        } => {
            let path = match (a.as_deref(), platform) {
                (Some(a), false) => format!("/ops/apps/{}/quota/clear", appid(a)?),
                (None, true) => "/ops/component/quota/clear".to_owned(),
                _ => {
                    return Err(
                        "name one APPID, or --platform for the platform's own counts".into(),
                    )
                }
            };
            let body = match cgi_path {
                Some(p) => json!({ "cgi_path": p }),
                None => json!({}),
            };
            let v = api.post(&path, &body).await?;
            if api.json {
                print_json(&v);
            } else {
                println!(
                    "cleared the daily API quota of {}: {} of {} resets used this month",
                    text(&v["account"]),
                    text(&v["spent"]),
                    text(&v["limit"])
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        QuotaCommand::Get { appid: a, cgi_path } => {
            let a = appid(&a)?;
            let mut q: Vec<(&str, &str)> = Vec::new();
            if let Some(p) = cgi_path.as_deref() {
                q.push(("cgi_path", p));
            }
            let v = api.get(&format!("/ops/apps/{a}/quota"), &q).await?;
            if api.json {
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = table::new(&["", ""]);
            if !v["quota"].is_null() {
                t.add_row(vec![
                    format!("{} today", text(&v["cgi_path"])),
                    format!(
                        "{} used of {} ({} left)",
                        text(&v["quota"]["used"]),
                        text(&v["quota"]["daily_limit"]),
                        text(&v["quota"]["remain"])
                    ),
                ]);
            }
            t.add_row(vec![
                "resets this month".to_owned(),
                format!(
                    "{} of {}",
                    text(&v["resets"]["spent"]),
                    text(&v["resets"]["limit"])
                ),
            ]);
            println!("{t}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What WeChat kept of a failed call by its rid (the platform's, or APPID's).
pub async fn rid(api: &Api, rid: &str, app: Option<&str>) -> Result<ExitCode, Failure> {
    let mut q: Vec<(&str, &str)> = Vec::new();
    let a = app.map(appid).transpose()?.map(|a| a.to_string());
    if let Some(a) = a.as_deref() {
        q.push(("appid", a));
    }
    let rid = rid.trim();
    if rid.is_empty() || !rid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!("{rid:?} is not a rid (e.g. 64dc7e85-258c9211-2604fd01)").into());
    }
    let v = api.get(&format!("/ops/rid/{rid}"), &q).await?;
    if api.json {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let r = &v["request"];
    let mut t = table::new(&["", ""]);
    t.add_row(vec![
        "invoked (UTC+8)".to_owned(),
        r["invoke_time"]
            .as_i64()
            .map(table::time)
            .unwrap_or_else(|| "-".to_owned()),
    ]);
    t.add_row(vec!["cost (ms)".to_owned(), text(&r["cost_in_ms"])]);
    t.add_row(vec!["client ip".to_owned(), text(&r["client_ip"])]);
    t.add_row(vec!["request body".to_owned(), text(&r["request_body"])]);
    t.add_row(vec!["response body".to_owned(), text(&r["response_body"])]);
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

/// One app's penalties and appeals (pushed) and WeChat's penalty records.
pub async fn violations(api: &Api, appid_arg: &str) -> Result<ExitCode, Failure> {
    let a = appid(appid_arg)?;
    let v = api.get(&format!("/ops/apps/{a}/violations"), &[]).await?;
    if api.json {
        print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let penalties = v["penalties"].as_array().cloned().unwrap_or_default();
    if penalties.is_empty() {
        println!("no penalty pushed for {a}");
    } else {
        let mut t = table::new(&["PUNISH ID", "KIND", "TIME (UTC+8)", "REASON", "RULE"]);
        for p in &penalties {
            t.add_row(vec![
                text(&p["punish_id"]),
                text(&p["kind"]),
                p["punish_time"]
                    .as_i64()
                    .map(table::time)
                    .unwrap_or_else(|| "-".to_owned()),
                text(&p["illegal_reason"]),
                text(&p["rule_name"]),
            ]);
        }
        println!("{t}");
    }
    for ap in v["appeals"].as_array().cloned().unwrap_or_default() {
        println!(
            "appeal {}: {} {}",
            text(&ap["appeal_record_id"]),
            text(&ap["status"]),
            text(&ap["audit_reason"])
        );
    }
    if let Some(records) = v["wechat_records"].as_array() {
        println!(
            "{} record(s) at WeChat (getillegalrecords, last 90 days)",
            records.len()
        );
        for r in records {
            println!(
                "  {}  {}  {}",
                text(&r["illegal_record_id"]),
                r["create_time"]
                    .as_i64()
                    .map(table::time)
                    .unwrap_or_else(|| "-".to_owned()),
                text(&r["illegal_reason"])
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod exit_code_tests {
    use super::*;
    use std::process::ExitCode;

    #[test]
    fn each_status_has_the_exit_code_of_what_to_do_about_it() {
        let api = |status| Failure::Api {
            status,
            body: Value::Null,
        };
        for (status, code) in [
            (400, 1),
            (401, 1),
            (403, 1),
            (404, 1),
            (409, 1),
            (422, 1),
            (429, 3),
            (503, 3),
            (502, 4),
            (500, 4),
            (504, 5),
        ] {
            assert_eq!(exit_code(&api(status)), ExitCode::from(code), "{status}");
        }
        assert_eq!(exit_code(&Failure::Other("x".into())), ExitCode::from(1));
    }
}
