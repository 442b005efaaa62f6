//! The simulator's mutable world: tickets, tokens, accounts, code state, counters, faults, pushes.
//!
//! Everything sits behind one `std::sync::Mutex`; it is never held across an `.await`.

use crate::{AccountKind, Fault};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use wxopen::domain::{AppId, AuditStatus, UnixTime};

/// Lifetime of component and authorizer access tokens.
pub const TOKEN_TTL: i64 = 7200;
/// Lifetime of a pre_auth_code and of an authorization code.
pub const CODE_TTL: i64 = 600;
/// A component_verify_ticket is accepted for 12 hours.
pub const TICKET_TTL: i64 = 12 * 3600;
/// WeChat keeps (and lists) the last 5 released versions.
pub const HISTORY_LEN: usize = 5;
/// Withdrawals per day (undocodeaudit).
pub const UNDO_PER_DAY: u32 = 5;
/// undocodeaudit.html: 10 withdrawals a month.
pub const UNDO_PER_MONTH: u32 = 10;
/// clear_quota.html: 10 resets a month per account.
pub const QUOTA_RESETS_PER_MONTH: u32 = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub value: String,
    pub issued_at: UnixTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreAuthCode {
    pub expires_at: UnixTime,
    pub used: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthCode {
    pub appid: AppId,
    pub expires_at: UnixTime,
    pub used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Component,
    Authorizer,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub kind: TokenKind,
    /// The authorizer for an authorizer token.
    pub appid: Option<AppId>,
    pub expires_at: UnixTime,
    /// When a newer token of the same kind (and authorizer) was issued: this one then stays
    /// valid [`SUPERSEDED_GRACE`] seconds more, then answers 40001.
    pub superseded_at: Option<UnixTime>,
}

/// How long a superseded access token keeps working after a new one is issued: WeChat lets both
/// work for 5 minutes so callers can switch over.
pub const SUPERSEDED_GRACE: i64 = 300;

#[derive(Debug, Clone, Serialize)]
pub struct Authorization {
    pub func_info: Vec<u32>,
    pub refresh_token: String,
    pub auth_time: UnixTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct Category {
    pub first_class: String,
    pub second_class: String,
    pub first_id: u64,
    pub second_id: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    pub template_id: u64,
    pub user_version: String,
    pub user_desc: String,
    pub ext_json: String,
    pub commit_time: UnixTime,
    pub pages: Vec<String>,
    /// Privacy interfaces the committed code uses (from its template) that ext_json's
    /// `requiredPrivateInfos` does not declare: get_code_privacy_info's `without_conf_list`.
    pub undeclared_private_apis: Vec<String>,
    /// Every privacy interface the committed code uses (its template's): those never applied
    /// for (when applications are required) are get_code_privacy_info's `without_auth_list`.
    pub private_apis: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub auditid: u64,
    #[serde(serialize_with = "ser_status")]
    pub status: AuditStatus,
    pub reason: String,
    pub screenshot: String,
    pub user_version: String,
    pub user_desc: String,
    pub commit_time: UnixTime,
    pub submit_audit_time: UnixTime,
    pub sped_up: bool,
    pub released: bool,
    /// Sim-clock time at which the audit is approved automatically (if configured).
    pub auto_approve_at: Option<UnixTime>,
}

fn ser_status<S: serde::Serializer>(s: &AuditStatus, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub app_version: u64,
    pub user_version: String,
    pub user_desc: String,
    pub commit_time: UnixTime,
    /// When it went online (getversioninfo's `release_time`).
    pub release_time: UnixTime,
    /// Its pages (those of the commit it was released from): what getwxacodeunlimit's
    /// `check_path` checks a `page` against.
    #[serde(default)]
    pub pages: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrayPlan {
    pub status: u8,
    pub create_timestamp: UnixTime,
    pub gray_percentage: u64,
    pub support_experiencer_first: bool,
    pub support_debuger_first: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Domains {
    pub requestdomain: Vec<String>,
    pub wsrequestdomain: Vec<String>,
    pub uploaddomain: Vec<String>,
    pub downloaddomain: Vec<String>,
    pub udpdomain: Vec<String>,
    pub tcpdomain: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CodeState {
    pub commit: Option<Commit>,
    pub audits: Vec<Audit>,
    pub online: Option<Version>,
    /// Previously online versions, newest first (at most [`HISTORY_LEN`]).
    pub history: Vec<Version>,
    pub next_app_version: u64,
    pub gray: Option<GrayPlan>,
    /// true = open (1 in getvisitstatus), false = closed/paused.
    pub visit_open: bool,
    pub domains: Domains,
    pub webviewdomain: Vec<String>,
    /// (day number, withdrawals that day)
    pub undo: (i64, u32),
    /// (month number, withdrawals that month): 10 a month beside 5 a day.
    pub undo_month: (i64, u32),
    /// The online version is the result of a revert: no further revert (87012) and no history
    /// offered until the next release (revertcoderelease.html).
    pub reverted: bool,
    /// Experience members, `(wechatid, userstr)`, in binding order (bind_tester).
    pub testers: Vec<(String, String)>,
    /// The privacy guide online (privacy_ver 1) and in development (2, what the next release
    /// carries), as set by setprivacysetting, with when.
    pub privacy_online: Option<(serde_json::Value, UnixTime)>,
    pub privacy_dev: Option<(serde_json::Value, UnixTime)>,
    /// Server domains set with modify_domain_directly (not gated by the platform's list).
    pub direct_domains: Domains,
    /// Web-view domains set with setwebviewdomain_directly.
    pub direct_webviewdomain: Vec<String>,
    /// Applications for privacy interfaces (apply_privacy_interface), by `api_name`.
    pub privacy_applications: BTreeMap<String, PrivacyApplication>,
    /// Uploaded audit material (uploadmedia): media id -> (type, size in bytes).
    pub media: BTreeMap<String, (String, usize)>,
}

/// One application for a privacy interface (get_privacy_interface's `interface_list` entry).
#[derive(Debug, Clone, Serialize)]
pub struct PrivacyApplication {
    /// get_privacy_interface.html: 1 待申请开通, 2 无权限, 3 申请中, 4 申请失败, 5 已开通.
    pub status: u8,
    pub audit_id: u64,
    pub apply_time: UnixTime,
    pub fail_reason: String,
    pub content: String,
}

/// What one answered request looked like, kept for `openapi/rid/get` under the rid of its errmsg.
#[derive(Debug, Clone, Serialize)]
pub struct RidRecord {
    /// The account the call counted against (as for daily quotas).
    pub account: String,
    pub invoke_time: UnixTime,
    pub cost_in_ms: u64,
    pub request_url: String,
    pub request_body: String,
    pub response_body: String,
    pub client_ip: String,
}

impl CodeState {
    pub fn latest_audit(&self) -> Option<&Audit> {
        self.audits.last()
    }
    pub fn latest_audit_mut(&mut self) -> Option<&mut Audit> {
        self.audits.last_mut()
    }
    pub fn pending_audit_mut(&mut self) -> Option<&mut Audit> {
        self.audits.iter_mut().rev().find(|a| a.status.is_pending())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub appid: AppId,
    pub kind: AccountKind,
    pub nick_name: String,
    pub user_name: String,
    pub principal_name: String,
    pub signature: String,
    pub head_img: String,
    pub categories: Vec<Category>,
    pub authorization: Option<Authorization>,
    pub code: CodeState,
}

#[derive(Debug, Clone, Serialize)]
pub struct Template {
    pub template_id: u64,
    pub user_version: String,
    pub user_desc: String,
    pub create_time: UnixTime,
    pub template_type: u8,
    /// The pages of the template's code (its app.json): what `get_page` lists and what paths in
    /// ext_json may name (85045 otherwise).
    pub pages: Vec<String>,
    /// Privacy interfaces the template's code calls (`wx.getLocation`…): each must be declared
    /// in ext_json's `requiredPrivateInfos` (without the `wx.`), else submit_audit answers 61040.
    pub private_apis: Vec<String>,
}

/// A template's pages unless told otherwise.
pub fn default_template_pages() -> Vec<String> {
    vec!["pages/index/index".to_owned()]
}

#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub draft_id: u64,
    pub user_version: String,
    pub user_desc: String,
    pub create_time: UnixTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditQuota {
    pub rest: u64,
    pub limit: u64,
    pub speedup_rest: u64,
    pub speedup_limit: u64,
}

/// A sealed push ready to send, or held back until released (a push late or lost in transit):
/// kept here, in the state it is held in, so that the push module depends on the state and not
/// the reverse.
#[derive(Debug)]
pub struct HeldPush {
    pub(crate) id: u64,
    pub(crate) kind: String,
    pub(crate) url: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: String,
}

/// One push, as delivered (or not) to our URLs.
#[derive(Debug, Clone, Serialize)]
pub struct PushRecord {
    pub id: u64,
    /// InfoType or Event: `component_verify_ticket`, `authorized`, `weapp_audit_success`, ...
    pub kind: String,
    pub appid: Option<String>,
    pub url: String,
    /// The plaintext XML before encryption.
    pub plaintext: String,
    pub attempts: u32,
    pub delivered: bool,
    pub last_error: Option<String>,
    pub time: UnixTime,
}

#[derive(Debug, Clone)]
pub struct ActiveFault {
    pub fault: Fault,
    pub remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub struct State {
    /// Penalties and appeals (getillegalrecords, getappealrecords and their pushes).
    pub violations: crate::violations::ViolationState,
    /// Per account (an authorizer's appid, or the platform's): (month, resets that month), shared
    /// by clear_quota and clear_quota/v2: 10 a month, then 48006 (clear_quota.html).
    pub quota_resets: HashMap<String, (i64, u32)>,
    /// Newest last; only the last two are accepted by api_component_token.
    pub tickets: Vec<Ticket>,
    pub tokens: HashMap<String, AccessToken>,
    pub pre_auth_codes: HashMap<String, PreAuthCode>,
    pub auth_codes: HashMap<String, AuthCode>,
    pub accounts: BTreeMap<AppId, Account>,
    pub calls: BTreeMap<String, u64>,
    /// (endpoint, day) -> calls, for daily quotas.
    /// Calls per (path, account, day): WeChat counts daily quotas per API per account, the
    /// account being the authorizer whose token a call carries, else the platform ("component").
    pub daily_calls: HashMap<(String, String, i64), u64>,
    pub daily_quotas: HashMap<String, u64>,
    pub templates: BTreeMap<u64, Template>,
    pub drafts: BTreeMap<u64, Draft>,
    pub faults: Vec<ActiveFault>,
    pub pushes: Vec<PushRecord>,
    pub next_push_id: u64,
    pub next_auditid: u64,
    pub clock_offset: i64,
    pub audit_quota: Option<AuditQuota>,
    /// How long WeChat's privacy-interface detection runs after a commit: until then
    /// submit_audit and get_code_privacy_info answer 61039. 0 (the default): done at once.
    pub privacy_detection_secs: i64,
    /// The platform's registered mini-program business domains (hosts), set with
    /// modify_wxa_jump_domain: what setwebviewdomain may give an authorized mini program.
    pub jump_domains: Vec<String>,
    /// The platform's mini-program server domains (hosts), set with modify_wxa_server_domain:
    /// (testing, published). `None` until first set, and then `modify_domain` is not gated (as
    /// before the platform list was simulated); once set, only these hosts may be given.
    pub server_domains: Option<(Vec<String>, Vec<String>)>,
    /// When true, a privacy interface is usable only once an application for it was approved
    /// (`require_privacy_applications`); false (the default): every one counts as applied for.
    pub privacy_applications_required: bool,
    pub next_privacy_audit_id: u64,
    /// Requests by the rid their error answer carried (openapi/rid/get).
    pub rids: HashMap<String, RidRecord>,
    /// Addresses allowed to call the API (61004 for others); `None`: all.
    pub ip_whitelist: Option<Vec<std::net::IpAddr>>,
    /// Every refresh token ever presented to api_authorizer_token, and how often one came again.
    pub presented_refresh_tokens: std::collections::HashSet<String>,
    pub refresh_token_reuses: u64,
    /// Push kinds (`authorized`, ...) held back instead of delivered, and the pushes held.
    pub held_kinds: std::collections::HashSet<String>,
    pub held_pushes: Vec<HeldPush>,
    /// Login and phone codes, subscribe templates, acceptances and sent messages.
    pub services: crate::services::Services,
    /// ICP filings, their media and face checks, combined applications.
    pub icp: crate::icp::Icp,
    /// Registrations, profiles, name and category reviews, temporary media.
    pub setup: crate::account::AccountSetup,
    /// What modify_domain answers when no domain given passes the platform's list: 85017 (the
    /// default, as before) or 85301 (what captures since 2021 show).
    pub server_domain_refusal: Option<i64>,
}

impl State {
    pub fn quota(&mut self) -> &mut AuditQuota {
        self.audit_quota.get_or_insert(AuditQuota {
            rest: 100,
            limit: 100,
            speedup_rest: 5,
            speedup_limit: 5,
        })
    }

    /// The latest ticket, if any.
    pub fn current_ticket(&self) -> Option<&Ticket> {
        self.tickets.last()
    }

    pub fn record_ticket(&mut self, value: String, now: UnixTime) {
        self.tickets.push(Ticket {
            value,
            issued_at: now,
        });
        if self.tickets.len() > 2 {
            self.tickets.remove(0);
        }
    }

    pub fn issue_token(&mut self, kind: TokenKind, appid: Option<AppId>, now: UnixTime) -> String {
        let token = random_token(if kind == TokenKind::Component {
            "cat"
        } else {
            "aat"
        });
        for t in self.tokens.values_mut() {
            if t.kind == kind && t.appid == appid && t.superseded_at.is_none() {
                t.superseded_at = Some(now);
            }
        }
        // Tokens long past use are forgotten (an unknown token answers 40001 as well).
        self.tokens.retain(|_, t| t.expires_at > now - TOKEN_TTL);
        self.tokens.insert(
            token.clone(),
            AccessToken {
                kind,
                appid,
                expires_at: now + TOKEN_TTL,
                superseded_at: None,
            },
        );
        token
    }

    /// Grants (or re-grants) an authorization: a new refresh token, a new single-use auth code.
    /// Returns the auth code.
    pub fn grant(&mut self, appid: &AppId, func_info: &[u32], now: UnixTime) -> Option<String> {
        let acc = self.accounts.get_mut(appid)?;
        acc.authorization = Some(Authorization {
            func_info: func_info.to_vec(),
            refresh_token: random_token("refreshtoken@@@"),
            auth_time: now,
        });
        Some(self.new_auth_code(appid, now))
    }

    pub fn new_auth_code(&mut self, appid: &AppId, now: UnixTime) -> String {
        let code = random_token("queryauthcode@@@");
        self.auth_codes.insert(
            code.clone(),
            AuthCode {
                appid: appid.clone(),
                expires_at: now + CODE_TTL,
                used: false,
            },
        );
        code
    }
}

pub fn random_alnum(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

pub fn random_lower_alnum(n: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

/// A token-looking string: prefix, then URL-safe characters (WeChat tokens use `[A-Za-z0-9_-]`).
pub fn random_token(prefix: &str) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let body: String = (0..64)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}{body}")
}

/// A rid as WeChat's errmsgs carry it (`64dc7e85-258c9211-2604fd01`, get_rid_info.html's
/// examples): three dash-separated groups of 8 lowercase hex digits.
pub fn wechat_rid() -> String {
    let g: [u32; 3] = rand::random();
    format!("{:08x}-{:08x}-{:08x}", g[0], g[1], g[2])
}

pub fn random_appid() -> AppId {
    AppId::parse(&format!("wx{}", random_lower_alnum(16))).expect("valid appid")
}

/// Day number in China Standard Time (UTC+8): WeChat's daily quotas reset at midnight Beijing time.
pub fn day_of(now: UnixTime) -> i64 {
    (now + 8 * 3600).div_euclid(86400)
}

/// The calendar month of `now` in Beijing time (the first second of it), the key of monthly
/// limits: WeChat's calendar, from the domain module wxopen counts by as well.
pub fn month_of(now: UnixTime) -> i64 {
    wxopen::domain::beijing_month_start(now)
}
