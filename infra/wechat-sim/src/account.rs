//! Account setup: registering mini programs for merchants (快速注册: enterprise, personal,
//! reusing an official account's subject, trial) and their profile (name, avatar, signature,
//! search status, categories), with the confirmations and reviews as processes over the sim
//! clock, their `/_sim` controls and their pushes. The README's "Registration and profile"
//! section cites the page of every field and errcode, and says where the simulator chooses.
//!
//! - An enterprise, personal or trial registration waits for the legal person (or the user) to
//!   confirm; confirmed, a new mini program appears, authorized to the component, and the result
//!   is pushed to the authorization-event URL (`notify_third_fasteregister`,
//!   `notify_third_fastregisterbetaapp`); failed, the push carries the reason.
//! - A name that hits a keyword is reviewed (checking → approved / rejected with a reason), and
//!   so is a category that needs a qualification; their results are pushed to the message URL
//!   (`wxa_nickname_audit`, `wxa_category_audit`).

use crate::api::{check_token, err_answer, ok_answer, Ctx, WxErr};
use crate::icp::{app_id, bad, parse};
use crate::push::{audit_xml, Target};
use crate::state::{random_alnum, random_lower_alnum, State, TokenKind};
use crate::{AccountKind, Inner, Simulator};
use axum::extract::{Path, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use wxopen::domain::{AppId, UnixTime};

pub const FAST_REGISTER: &str = "/cgi-bin/component/fastregisterweapp";
pub const FAST_REGISTER_PERSONAL: &str = "/wxa/component/fastregisterpersonalweapp";
pub const FAST_REGISTER_BETA: &str = "/wxa/component/fastregisterbetaweapp";
pub const REUSE_OFFICIAL_ACCOUNT: &str = "/cgi-bin/account/fastregister";
pub const VERIFY_BETA: &str = "/wxa/verifybetaweapp";
pub const SET_BETA_NICKNAME: &str = "/wxa/setbetaweappnickname";
pub const BASIC_INFO: &str = "/cgi-bin/account/getaccountbasicinfo";
pub const SET_NICKNAME: &str = "/wxa/setnickname";
pub const QUERY_NICKNAME: &str = "/wxa/api_wxa_querynickname";
pub const CHECK_NICKNAME: &str = "/cgi-bin/wxverify/checkwxverifynickname";
pub const MEDIA_UPLOAD: &str = "/cgi-bin/media/upload";
pub const HEAD_IMAGE: &str = "/cgi-bin/account/modifyheadimage";
pub const SIGNATURE: &str = "/cgi-bin/account/modifysignature";
pub const GET_SEARCH_STATUS: &str = "/wxa/getwxasearchstatus";
pub const CHANGE_SEARCH_STATUS: &str = "/wxa/changewxasearchstatus";
pub const ALL_CATEGORIES: &str = "/cgi-bin/wxopen/getallcategories";
pub const SETTING_CATEGORIES: &str = "/cgi-bin/wxopen/getcategory";
pub const ADD_CATEGORY: &str = "/cgi-bin/wxopen/addcategory";
pub const DELETE_CATEGORY: &str = "/cgi-bin/wxopen/deletecategory";
pub const MODIFY_CATEGORY: &str = "/cgi-bin/wxopen/modifycategory";

/// setnickname: 2 changes a natural year (reset on 1 January).
pub const NICKNAME_CHANGES_PER_YEAR: u32 = 2;
/// modifyheadimage: 5 changes a year.
pub const HEAD_IMAGE_CHANGES_PER_YEAR: u32 = 5;
/// modifysignature: changes a month (the page names the limit, 53200, not its size).
pub const SIGNATURE_CHANGES_PER_MONTH: u32 = 5;
/// getcategory's example: 5 additions per change cycle (a month here), 20 categories at most.
pub const CATEGORY_CHANGES_PER_CYCLE: u32 = 5;
pub const CATEGORY_LIMIT: usize = 20;
/// A temporary upload (media/upload) is valid 3 days.
pub const TEMP_MEDIA_TTL: i64 = 3 * 86_400;
/// A fast registration of the same subject is refused for 24 hours while one runs (89249).
pub const TASK_RUNNING_SECS: i64 = 86_400;

/// Registration types as api_get_authorizer_info reports them (`register_type`).
pub const REGISTER_TYPE_REUSE_OFFICIAL_ACCOUNT: i64 = 2;
pub const REGISTER_TYPE_ENTERPRISE: i64 = 6;
pub const REGISTER_TYPE_BETA: i64 = 13;
pub const REGISTER_TYPE_PERSONAL: i64 = 16;
pub const REGISTER_TYPE_BETA_MADE_FORMAL: i64 = 19;

/// The permission sets a registration grants the component (the registration pages' list:
/// account management, development, open-platform account, basic information, plug-ins).
pub const REGISTERED_FUNC_INFO: &[u32] = &[17, 18, 19, 25, 30];

/// Answers one request of this module: the token, then [`dispatch`].
fn answer(ctx: &Ctx, path: &'static str) -> Response {
    let result = {
        let mut st = ctx.inner.lock();
        let kind = if COMPONENT_PATHS.contains(&path) {
            TokenKind::Component
        } else {
            TokenKind::Authorizer
        };
        check_token(&st, ctx.query, kind, ctx.now)
            .and_then(|appid| dispatch(&mut st, ctx, path, appid.as_ref()))
    };
    match result {
        Ok(v) => ok_answer(v),
        Err(e) => err_answer(e),
    }
}

const COMPONENT_PATHS: &[&str] = &[FAST_REGISTER, FAST_REGISTER_PERSONAL, FAST_REGISTER_BETA];

macro_rules! handlers {
    ($($name:ident => $path:ident),* $(,)?) => {
        $(
            pub(crate) fn $name(ctx: &Ctx) -> Response {
                answer(ctx, $path)
            }
        )*
    };
}

handlers! {
    fast_register => FAST_REGISTER,
    fast_register_personal => FAST_REGISTER_PERSONAL,
    fast_register_beta => FAST_REGISTER_BETA,
    reuse_official_account => REUSE_OFFICIAL_ACCOUNT,
    verify_beta => VERIFY_BETA,
    set_beta_nickname => SET_BETA_NICKNAME,
    basic_info => BASIC_INFO,
    set_nickname => SET_NICKNAME,
    query_nickname => QUERY_NICKNAME,
    check_nickname => CHECK_NICKNAME,
    media_upload => MEDIA_UPLOAD,
    head_image => HEAD_IMAGE,
    signature => SIGNATURE,
    get_search_status => GET_SEARCH_STATUS,
    change_search_status => CHANGE_SEARCH_STATUS,
    all_categories => ALL_CATEGORIES,
    setting_categories => SETTING_CATEGORIES,
    add_category => ADD_CATEGORY,
    delete_category => DELETE_CATEGORY,
    modify_category => MODIFY_CATEGORY,
}

// ---------------------------------------------------------------------------------------------
// State

/// Which registration a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationKind {
    Enterprise,
    Personal,
    Beta,
    /// A trial mini program being made formal (verifybetaweapp).
    BetaVerification,
}

/// Where a registration task stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "stage")]
pub enum RegistrationStage {
    /// Waiting for the legal person (or the user) to confirm.
    Waiting,
    Succeeded {
        appid: AppId,
    },
    Failed {
        status: i64,
        reason: String,
    },
}

/// One registration task (the applicant's personal data is kept for the push's `<info>`).
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub id: String,
    pub kind: RegistrationKind,
    /// Enterprise: 企业名; personal: idname; beta: the mini program's name.
    pub name: String,
    #[serde(skip)]
    fields: Map<String, Value>,
    pub stage: RegistrationStage,
    pub since: UnixTime,
    /// Personal: taskid; beta: unique_id; verification: the trial mini program's appid.
    pub key: String,
}

/// How a control decides a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum RegistrationDecision {
    Confirm,
    Fail {
        #[serde(default)]
        reason: String,
        /// The push's `status` (personal: the task status, default 2 refused; else default -1).
        #[serde(default)]
        status: Option<i64>,
    },
}

/// A review's state (a name's or a category's): 1 checking, 2 rejected, 3 approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    Checking,
    Rejected,
    Approved,
}

impl Review {
    fn code(self) -> i64 {
        match self {
            Review::Checking => 1,
            Review::Rejected => 2,
            Review::Approved => 3,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NicknameAudit {
    pub audit_id: u64,
    pub appid: AppId,
    pub nickname: String,
    pub review: Review,
    pub reason: String,
    pub create_time: UnixTime,
    pub audit_time: UnixTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetCategory {
    pub first: u64,
    pub second: u64,
    pub review: Review,
    pub reason: String,
    pub since: UnixTime,
    pub certificates: Certificates,
}

/// What the simulator keeps of one mini program's profile beyond [`crate::Account`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Profile {
    /// Registered through the API: only such mini programs may use setnickname (91001),
    /// getaccountbasicinfo, checkwxverifynickname and the category calls (41033).
    pub api_registered: bool,
    pub register_type: i64,
    /// A trial mini program not yet formal.
    pub beta: bool,
    pub search_hidden: bool,
    /// changewxasearchstatus answers 85083.
    pub search_banned: bool,
    pub nickname_changes: (i64, u32),
    pub head_image_changes: (i64, u32),
    pub signature_changes: (i64, u32),
    pub category_changes: (i64, u32),
    pub categories: Vec<SetCategory>,
}

/// Sim-clock durations of the automatic steps; `None` (the default): only `/_sim` decides.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SetupTiming {
    /// The legal person (or user) confirms a registration after this long.
    pub confirm_secs: Option<i64>,
    /// A name review approves after this long.
    pub nickname_review_secs: Option<i64>,
    /// A category review approves after this long.
    pub category_review_secs: Option<i64>,
}

#[derive(Debug)]
pub struct AccountSetup {
    registrations: Vec<Registration>,
    nickname_audits: BTreeMap<u64, NicknameAudit>,
    profiles: BTreeMap<AppId, Profile>,
    /// Temporary media: id -> (owner, expiry).
    media: HashMap<String, (AppId, UnixTime)>,
    /// Tickets of official accounts' administrators' scans (account/fastregister).
    oa_tickets: HashMap<String, AppId>,
    /// Names other accounts hold (91007 / 53012).
    pub taken_names: BTreeSet<String>,
    /// Names that hit a keyword: they need material and a review (91009 without).
    pub keyword_names: BTreeSet<String>,
    pub timing: SetupTiming,
    next_id: u64,
}

impl Default for AccountSetup {
    fn default() -> Self {
        AccountSetup {
            registrations: Vec::new(),
            nickname_audits: BTreeMap::new(),
            profiles: BTreeMap::new(),
            media: HashMap::new(),
            oa_tickets: HashMap::new(),
            taken_names: ["微信支付".to_owned()].into(),
            keyword_names: ["腾讯".to_owned()].into(),
            timing: SetupTiming::default(),
            next_id: 0,
        }
    }
}

/// A push to send once the state lock is released.
#[derive(Debug, Clone)]
pub enum SetupPush {
    /// A registration ended: create the mini program (on success), then push.
    Registration(Registration),
    Nickname(NicknameAudit),
    Category {
        appid: AppId,
        category: SetCategory,
    },
}

// ---------------------------------------------------------------------------------------------
// The category table: a small stand-in for getallcategories (ids from the pages' examples).

/// (id, name, level, father, sensitive)
const CATEGORIES: &[(u64, &str, u64, u64, i64)] = &[
    (1, "快递业与邮政", 1, 0, 0),
    (2, "快递、物流", 2, 1, 0),
    (8, "教育", 1, 0, 0),
    (39, "出国移民", 2, 8, 1),
    (150, "工具", 1, 0, 0),
    (666, "备忘录", 2, 150, 0),
    (402, "商业服务", 1, 0, 0),
    (920, "律师", 2, 402, 1),
];

fn category(id: u64) -> Option<&'static (u64, &'static str, u64, u64, i64)> {
    CATEGORIES.iter().find(|c| c.0 == id)
}

fn all_categories_json() -> Value {
    let mut list = vec![json!({
        "id": 0,
        "children": CATEGORIES.iter().filter(|c| c.2 == 1).map(|c| c.0).collect::<Vec<_>>(),
        "qualify": {"exter_list": [], "remark": ""},
    })];
    for (id, name, level, father, sensitive) in CATEGORIES {
        let children: Vec<u64> = CATEGORIES
            .iter()
            .filter(|c| c.3 == *id)
            .map(|c| c.0)
            .collect();
        let exter = if *sensitive == 1 {
            json!([{"inner_list": [{"name": format!("{name}资质证明"), "url": ""}]}])
        } else {
            json!([])
        };
        list.push(json!({
            "id": id, "name": name, "level": level, "father": father, "children": children,
            "sensitive_type": sensitive, "qualify": {"exter_list": exter, "remark": ""},
        }));
    }
    json!({"categories_list": {"categories": list}})
}

// ---------------------------------------------------------------------------------------------
// The endpoints

fn body(ctx: &Ctx) -> Result<Map<String, Value>, WxErr> {
    if ctx.body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxErr(44002, "empty post data".into()));
    }
    match serde_json::from_slice::<Value>(ctx.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(WxErr(47001, "data format error".into())),
    }
}

fn text<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("").trim()
}

/// A number, or a string holding one.
fn number(m: &Map<String, Value>, k: &str) -> Option<i64> {
    match m.get(k)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn month(now: UnixTime) -> i64 {
    crate::state::month_of(now)
}

/// The calendar year (China time) of `now`.
fn year(now: UnixTime) -> i64 {
    const BEIJING_OFFSET: i64 = 8 * 3600;
    wxopen::domain::civil_from_days((now + BEIJING_OFFSET).div_euclid(86_400)).0
}

/// Spends one change of a quota kept as (period, used): false when none is left.
fn spend(counter: &mut (i64, u32), period: i64, limit: u32) -> bool {
    if counter.0 != period {
        *counter = (period, 0);
    }
    if counter.1 >= limit {
        return false;
    }
    counter.1 += 1;
    true
}

fn dispatch(
    st: &mut State,
    ctx: &Ctx,
    path: &'static str,
    caller: Option<&AppId>,
) -> Result<Value, WxErr> {
    let now = ctx.now;
    if COMPONENT_PATHS.contains(&path) {
        return registration(st, ctx, path);
    }
    let appid = caller.ok_or_else(|| WxErr(40001, "invalid credential".into()))?;
    let func_info: Vec<u32> = st
        .accounts
        .get(appid)
        .and_then(|a| a.authorization.as_ref())
        .map(|a| a.func_info.clone())
        .unwrap_or_default();
    let kind = st.accounts.get(appid).map(|a| a.kind);
    // The permission set each page names: 18 for the search status, 30 (basic information) for
    // the rest of the profile; an official account's own set 3 for account/fastregister.
    let needed: &[u32] = match path {
        GET_SEARCH_STATUS | CHANGE_SEARCH_STATUS => &[18],
        REUSE_OFFICIAL_ACCOUNT => &[1, 3],
        VERIFY_BETA | SET_BETA_NICKNAME | MEDIA_UPLOAD => &[17, 18, 30],
        _ => &[30],
    };
    if !func_info.iter().any(|f| needed.contains(f)) {
        return Err(WxErr(61007, "api is unauthorized to component".into()));
    }
    if path == REUSE_OFFICIAL_ACCOUNT {
        return reuse_official_account_register(st, ctx, appid, kind);
    }
    if path == MEDIA_UPLOAD {
        return upload(st, ctx, appid);
    }
    let setup = &mut st.setup;
    let profile = setup.profiles.entry(appid.clone()).or_default().clone();
    let api_only = || WxErr(41033, "invaid register type".into());
    match path {
        BASIC_INFO => {
            if !profile.api_registered {
                return Err(api_only());
            }
            let acc = st
                .accounts
                .get(appid)
                .ok_or_else(|| WxErr(40001, "invalid credential".into()))?;
            let y = year(now);
            let m = month(now);
            let used = |c: (i64, u32), p: i64| if c.0 == p { c.1 } else { 0 };
            Ok(json!({
                "appid": appid,
                "account_type": 3,
                "principal_type": if profile.register_type == REGISTER_TYPE_PERSONAL { 0 } else { 1 },
                "principal_name": acc.principal_name,
                "realname_status": 1,
                "nickname": acc.nick_name,
                "nickname_info": {"nickname": acc.nick_name, "modify_used_count": used(profile.nickname_changes, y), "modify_quota": NICKNAME_CHANGES_PER_YEAR},
                "signature_info": {"signature": acc.signature, "modify_used_count": used(profile.signature_changes, m), "modify_quota": SIGNATURE_CHANGES_PER_MONTH},
                "head_image_info": {"head_image_url": acc.head_img, "modify_used_count": used(profile.head_image_changes, y), "modify_quota": HEAD_IMAGE_CHANGES_PER_YEAR},
                "wx_verify_info": {"qualification_verify": false, "naming_verify": false},
                "registered_country": 1,
                "credential": "",
                "customer_type": 0,
            }))
        }
        SET_BETA_NICKNAME => {
            if !profile.beta {
                return Err(WxErr(
                    40097,
                    "invalid args: not a trial mini program".into(),
                ));
            }
            let name = text(&body(ctx)?, "name").to_owned();
            let chars = name.chars().count();
            if !(4..=30).contains(&chars) {
                return Err(WxErr(53010, "名称格式不合法".into()));
            }
            if let Some(acc) = st.accounts.get_mut(appid) {
                acc.nick_name = format!("{name}的体验小程序");
            }
            Ok(json!({}))
        }
        VERIFY_BETA => {
            if !profile.beta {
                return Err(WxErr(
                    40097,
                    "invalid args: not a trial mini program".into(),
                ));
            }
            let m = body(ctx)?;
            let info = m
                .get("verify_info")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for k in [
                "enterprise_name",
                "code",
                "legal_persona_wechat",
                "legal_persona_name",
            ] {
                if text(&info, k).is_empty() {
                    return Err(WxErr(89253, "lack of some params".into()));
                }
            }
            if !matches!(number(&info, "code_type"), Some(1..=3)) {
                return Err(WxErr(89248, "invalid code type".into()));
            }
            let waiting = setup.registrations.iter().any(|r| {
                r.kind == RegistrationKind::BetaVerification
                    && r.key == appid.as_str()
                    && r.stage == RegistrationStage::Waiting
            });
            if waiting {
                return Err(WxErr(89251, "legal person checking".into()));
            }
            let name = text(&info, "enterprise_name").to_owned();
            setup.new_registration(
                RegistrationKind::BetaVerification,
                name,
                info,
                appid.to_string(),
                now,
            );
            Ok(json!({}))
        }
        SET_NICKNAME => apply_nickname(st, ctx, appid, &profile),
        QUERY_NICKNAME => {
            let m = body(ctx)?;
            let id = number(&m, "audit_id").unwrap_or(0) as u64;
            let a = setup
                .nickname_audits
                .get(&id)
                .filter(|a| &a.appid == appid)
                .ok_or_else(|| WxErr(91011, "查不到昵称修改审核单信息".into()))?;
            Ok(json!({
                "nickname": a.nickname,
                "audit_stat": a.review.code(),
                "fail_reason": a.reason,
                "create_time": a.create_time,
                "audit_time": a.audit_time,
            }))
        }
        CHECK_NICKNAME => {
            if !profile.api_registered {
                return Err(WxErr(41033, "该接口只允许通过API创建的小程序使用".into()));
            }
            let name = text(&body(ctx)?, "nick_name").to_owned();
            nickname_format(&name).map_err(|_| WxErr(53010, "名称格式不合法".into()))?;
            if setup.taken_names.contains(&name) {
                return Err(WxErr(53012, "名称已被占用".into()));
            }
            let hit = setup
                .keyword_names
                .iter()
                .any(|k| name.contains(k.as_str()));
            Ok(json!({
                "hit_condition": hit,
                "wording": if hit { "你申请的名称可能涉及特定主体姓名或名称,请提供可确认主体材料与名称对应的材料,或提供《商标注册证》等其他材料,以证明你有权合理且善意使用该名称,否则可能审核不通过" } else { "" },
            }))
        }
        HEAD_IMAGE => {
            let m = body(ctx)?;
            let media = text(&m, "head_img_media_id");
            if !setup
                .media
                .get(media)
                .is_some_and(|(owner, exp)| owner == appid && *exp > now)
            {
                return Err(WxErr(40007, "invalid media_id".into()));
            }
            let coord = |k: &str| -> Option<f64> {
                match m.get(k)? {
                    Value::String(s) => s.trim().parse().ok(),
                    Value::Number(n) => n.as_f64(),
                    _ => None,
                }
                .filter(|v: &f64| (0.0..=1.0).contains(v))
            };
            let (Some(x1), Some(y1), Some(x2), Some(y2)) =
                (coord("x1"), coord("y1"), coord("x2"), coord("y2"))
            else {
                return Err(WxErr(
                    53205,
                    "cut size invalid, please check x1 y1 x2 y2".into(),
                ));
            };
            if x1 >= x2 || y1 >= y2 {
                return Err(WxErr(
                    53205,
                    "cut size invalid, please check x1 y1 x2 y2".into(),
                ));
            }
            let p = setup.profiles.entry(appid.clone()).or_default();
            if !spend(
                &mut p.head_image_changes,
                year(now),
                HEAD_IMAGE_CHANGES_PER_YEAR,
            ) {
                return Err(WxErr(53202, "本月头像修改次数已用完".into()));
            }
            if let Some(acc) = st.accounts.get_mut(appid) {
                acc.head_img = format!(
                    "http://wx.qlogo.cn/mmopen/sim/{}/0",
                    &media[..8.min(media.len())]
                );
            }
            Ok(json!({}))
        }
        SIGNATURE => {
            let signature = text(&body(ctx)?, "signature").to_owned();
            if !(4..=120).contains(&signature.chars().count()) {
                return Err(WxErr(53204, "功能介绍不合法".into()));
            }
            if SIGNATURE_BLACKLIST.iter().any(|w| signature.contains(w)) {
                return Err(WxErr(53201, "功能介绍内容命中黑名单关键字".into()));
            }
            let p = setup.profiles.entry(appid.clone()).or_default();
            if !spend(
                &mut p.signature_changes,
                month(now),
                SIGNATURE_CHANGES_PER_MONTH,
            ) {
                return Err(WxErr(53200, "本月功能介绍修改次数已用完".into()));
            }
            if let Some(acc) = st.accounts.get_mut(appid) {
                acc.signature = signature;
            }
            Ok(json!({}))
        }
        GET_SEARCH_STATUS => Ok(json!({"status": i64::from(profile.search_hidden)})),
        CHANGE_SEARCH_STATUS => {
            let status = number(&body(ctx)?, "status");
            let hidden = match status {
                Some(0) => false,
                Some(1) => true,
                _ => return Err(WxErr(40097, "invalid args".into())),
            };
            if profile.search_banned {
                return Err(WxErr(85083, "search status is banned".into()));
            }
            setup
                .profiles
                .entry(appid.clone())
                .or_default()
                .search_hidden = hidden;
            Ok(json!({}))
        }
        ALL_CATEGORIES => Ok(all_categories_json()),
        SETTING_CATEGORIES => {
            if !profile.api_registered {
                return Err(api_only());
            }
            let m = month(now);
            let used = if profile.category_changes.0 == m {
                profile.category_changes.1
            } else {
                0
            };
            let list: Vec<Value> = profile
                .categories
                .iter()
                .map(|c| {
                    json!({
                        "first": c.first,
                        "first_name": category(c.first).map_or("", |x| x.1),
                        "second": c.second,
                        "second_name": category(c.second).map_or("", |x| x.1),
                        "audit_status": c.review.code(),
                        "audit_reason": c.reason,
                    })
                })
                .collect();
            Ok(json!({
                "categories": list,
                "limit": CATEGORY_CHANGES_PER_CYCLE,
                "quota": CATEGORY_CHANGES_PER_CYCLE.saturating_sub(used),
                "category_limit": CATEGORY_LIMIT,
            }))
        }
        ADD_CATEGORY => {
            if !profile.api_registered {
                return Err(api_only());
            }
            let m = body(ctx)?;
            let list = m
                .get("categories")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| WxErr(53303, "提交的参数不合法".into()))?;
            let mut adds = Vec::new();
            for c in list {
                let c = c
                    .as_object()
                    .ok_or_else(|| WxErr(53303, "提交的参数不合法".into()))?;
                let (first, second, certs) = category_choice(setup, appid, c, now)?;
                let duplicate = profile
                    .categories
                    .iter()
                    .chain(adds.iter())
                    .any(|x| x.first == first && x.second == second);
                if duplicate {
                    return Err(WxErr(53304, "与已有类目重复".into()));
                }
                let sensitive = category(second).is_some_and(|x| x.4 == 1);
                if sensitive && certs.is_empty() {
                    return Err(WxErr(53305, "包含未提交的资质".into()));
                }
                adds.push(SetCategory {
                    first,
                    second,
                    review: if sensitive {
                        Review::Checking
                    } else {
                        Review::Approved
                    },
                    reason: String::new(),
                    since: now,
                    certificates: certs,
                });
            }
            if profile.categories.len() + adds.len() > CATEGORY_LIMIT {
                return Err(WxErr(53301, "超出可配置类目总数限制".into()));
            }
            let p = setup.profiles.entry(appid.clone()).or_default();
            if !spend(
                &mut p.category_changes,
                month(now),
                CATEGORY_CHANGES_PER_CYCLE,
            ) {
                return Err(WxErr(53300, "超出每月次数限制".into()));
            }
            p.categories.extend(adds);
            let approved = p.categories.clone();
            sync_categories(st, appid, &approved);
            Ok(json!({}))
        }
        DELETE_CATEGORY => {
            if !profile.api_registered {
                return Err(api_only());
            }
            let m = body(ctx)?;
            let (first, second) = (number(&m, "first"), number(&m, "second"));
            let p = setup.profiles.entry(appid.clone()).or_default();
            let before = p.categories.len();
            p.categories
                .retain(|c| Some(c.first as i64) != first || Some(c.second as i64) != second);
            if p.categories.len() == before {
                return Err(WxErr(53303, "提交的参数不合法".into()));
            }
            let left = p.categories.clone();
            sync_categories(st, appid, &left);
            Ok(json!({}))
        }
        MODIFY_CATEGORY => {
            if !profile.api_registered {
                return Err(api_only());
            }
            let m = body(ctx)?;
            let (first, second, certs) = category_choice(setup, appid, &m, now)?;
            let p = setup.profiles.entry(appid.clone()).or_default();
            let Some(c) = p
                .categories
                .iter_mut()
                .find(|c| c.first == first && c.second == second)
            else {
                // The ids of a set category cannot change (53306): another pair is not set.
                return Err(WxErr(
                    53306,
                    "修改类目只允许修改类目资质,不允许修改类目ID".into(),
                ));
            };
            if certs.is_empty() {
                return Err(WxErr(53305, "包含未提交的资质".into()));
            }
            c.certificates = certs;
            c.review = Review::Checking;
            c.reason.clear();
            c.since = now;
            let all = p.categories.clone();
            sync_categories(st, appid, &all);
            Ok(json!({}))
        }
        _ => Err(WxErr(-1, "system error".into())),
    }
}

/// A category's qualification files: (name, media_id).
type Certificates = Vec<(String, String)>;

const SIGNATURE_BLACKLIST: &[&str] = &["赌博", "色情"];

/// A category choice's ids (a level-2 category of its level-1 parent) and its certificates'
/// media (each this mini program's, unexpired).
fn category_choice(
    setup: &AccountSetup,
    appid: &AppId,
    c: &Map<String, Value>,
    now: UnixTime,
) -> Result<(u64, u64, Certificates), WxErr> {
    let bad = || WxErr(53303, "提交的参数不合法".into());
    let first = number(c, "first").filter(|n| *n > 0).ok_or_else(bad)? as u64;
    let second = number(c, "second").filter(|n| *n > 0).ok_or_else(bad)? as u64;
    let valid = category(second).is_some_and(|x| x.2 == 2 && x.3 == first)
        && category(first).is_some_and(|x| x.2 == 1);
    if !valid {
        return Err(bad());
    }
    let mut certs = Vec::new();
    for cert in c
        .get("certicates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let cert = cert.as_object().ok_or_else(bad)?;
        let (key, value) = (text(cert, "key"), text(cert, "value"));
        if key.is_empty() || value.is_empty() {
            return Err(bad());
        }
        if !setup
            .media
            .get(value)
            .is_some_and(|(owner, exp)| owner == appid && *exp > now)
        {
            return Err(WxErr(40007, "invalid media_id".into()));
        }
        certs.push((key.to_owned(), value.to_owned()));
    }
    Ok((first, second, certs))
}

/// The approved categories are what `/wxa/get_category` (and so submit_audit) sees.
fn sync_categories(st: &mut State, appid: &AppId, set: &[SetCategory]) {
    if let Some(acc) = st.accounts.get_mut(appid) {
        acc.categories = set
            .iter()
            .filter(|c| c.review == Review::Approved)
            .map(|c| crate::state::Category {
                first_class: category(c.first).map_or("", |x| x.1).to_owned(),
                second_class: category(c.second).map_or("", |x| x.1).to_owned(),
                first_id: c.first,
                second_id: c.second,
            })
            .collect();
    }
}

/// A name's format (setnickname 91004, checkwxverifynickname 53010): 4-30 characters, not
/// containing "小程序".
fn nickname_format(name: &str) -> Result<(), ()> {
    let n = name.chars().count();
    if !(2..=30).contains(&n) || name.contains("小程序") {
        return Err(());
    }
    Ok(())
}

fn apply_nickname(
    st: &mut State,
    ctx: &Ctx,
    appid: &AppId,
    profile: &Profile,
) -> Result<Value, WxErr> {
    let now = ctx.now;
    if !profile.api_registered {
        return Err(WxErr(91001, "not fast register".into()));
    }
    let m = body(ctx)?;
    let name = text(&m, "nick_name").to_owned();
    if nickname_format(&name).is_err() {
        return Err(WxErr(91004, "昵称不合法".into()));
    }
    let in_code_audit = st
        .accounts
        .get(appid)
        .is_some_and(|a| a.code.audits.iter().any(|x| x.status.is_pending()));
    if in_code_audit {
        return Err(WxErr(91019, "小程序正在审核中".into()));
    }
    let setup = &mut st.setup;
    if setup.taken_names.contains(&name) {
        return Err(WxErr(91007, "昵称已被占用".into()));
    }
    let reviewing = setup
        .nickname_audits
        .values()
        .any(|a| &a.appid == appid && a.review == Review::Checking);
    if reviewing {
        return Err(WxErr(91003, "改名状态不合法".into()));
    }
    let hit = setup
        .keyword_names
        .iter()
        .any(|k| name.contains(k.as_str()));
    let material: Vec<&str> = [
        "id_card",
        "license",
        "naming_other_stuff_1",
        "naming_other_stuff_2",
        "naming_other_stuff_3",
        "naming_other_stuff_4",
        "naming_other_stuff_5",
    ]
    .into_iter()
    .map(|k| text(&m, k))
    .filter(|v| !v.is_empty())
    .collect();
    for media in &material {
        if !setup
            .media
            .get(*media)
            .is_some_and(|(owner, exp)| owner == appid && *exp > now)
        {
            return Err(WxErr(40007, "invalid media_id".into()));
        }
    }
    let wording = "你申请的名称可能涉及特定主体姓名或名称,请提供可确认主体材料与名称对应的材料";
    if hit && material.is_empty() {
        return Err(WxErr(91009, "需要提交材料".into()));
    }
    let p = setup.profiles.entry(appid.clone()).or_default();
    if !spend(
        &mut p.nickname_changes,
        year(now),
        NICKNAME_CHANGES_PER_YEAR,
    ) {
        // The page says the changes (2 a year) run out; it names no errcode for that. The
        // simulator answers 91010 (其他错误), see the README.
        return Err(WxErr(91010, "nickname modify quota used up".into()));
    }
    if !hit {
        if let Some(acc) = st.accounts.get_mut(appid) {
            acc.nick_name = name;
        }
        return Ok(json!({"wording": ""}));
    }
    setup.next_id += 1;
    let audit_id = 420_000_000 + setup.next_id;
    setup.nickname_audits.insert(
        audit_id,
        NicknameAudit {
            audit_id,
            appid: appid.clone(),
            nickname: name,
            review: Review::Checking,
            reason: String::new(),
            create_time: now,
            audit_time: 0,
        },
    );
    Ok(json!({"wording": wording, "audit_id": audit_id}))
}

fn upload(st: &mut State, ctx: &Ctx, appid: &AppId) -> Result<Value, WxErr> {
    let kind = ctx.query.get("type").map(String::as_str).unwrap_or("");
    if !matches!(kind, "image" | "voice" | "video" | "thumb") {
        return Err(WxErr(40004, "invalid media type".into()));
    }
    let media = ctx
        .form
        .and_then(|f| f.part("media"))
        .filter(|p| !p.data.is_empty())
        .ok_or_else(|| WxErr(41005, "media data missing".into()))?;
    if kind == "image" && media.data.len() > 10 << 20 {
        return Err(WxErr(40009, "invalid image size".into()));
    }
    let media_id = random_alnum(64);
    st.setup
        .media
        .insert(media_id.clone(), (appid.clone(), ctx.now + TEMP_MEDIA_TTL));
    Ok(json!({"type": kind, "media_id": media_id, "created_at": ctx.now}))
}

fn reuse_official_account_register(
    st: &mut State,
    ctx: &Ctx,
    appid: &AppId,
    kind: Option<AccountKind>,
) -> Result<Value, WxErr> {
    if kind != Some(AccountKind::OfficialAccount) {
        return Err(WxErr(61051, "公众号主体类型不允许快速创建".into()));
    }
    let ticket = text(&body(ctx)?, "ticket").to_owned();
    if st.setup.oa_tickets.get(&ticket) != Some(appid) {
        return Err(WxErr(61058, "用户扫码凭证校验不通过".into()));
    }
    st.setup.oa_tickets.remove(&ticket);
    let principal = st
        .accounts
        .get(appid)
        .map(|a| a.principal_name.clone())
        .unwrap_or_default();
    // Created at once: the answer is the new mini program (the caller adds it with
    // api_query_auth); no push.
    let new = crate::state::random_appid();
    let n = st.accounts.len() + 1;
    st.accounts
        .insert(new.clone(), blank_mini_program(&new, principal, n));
    st.grant(&new, REGISTERED_FUNC_INFO, ctx.now);
    let code = st.new_auth_code(&new, ctx.now);
    let p = st.setup.profiles.entry(new.clone()).or_default();
    p.api_registered = true;
    p.register_type = REGISTER_TYPE_REUSE_OFFICIAL_ACCOUNT;
    Ok(json!({
        "appid": new,
        "authorization_code": code,
        "is_wx_verify_succ": "true",
        "is_link_succ": "true",
    }))
}

/// A freshly registered mini program: no name, avatar, signature or category yet.
fn blank_mini_program(appid: &AppId, principal_name: String, n: usize) -> crate::Account {
    crate::Account {
        appid: appid.clone(),
        kind: AccountKind::MiniProgram,
        nick_name: String::new(),
        user_name: format!("gh_{}", random_lower_alnum(12)),
        principal_name: if principal_name.is_empty() {
            format!("模拟商户{n}有限公司")
        } else {
            principal_name
        },
        signature: String::new(),
        head_img: String::new(),
        categories: Vec::new(),
        authorization: None,
        code: Default::default(),
    }
}

fn registration(st: &mut State, ctx: &Ctx, path: &'static str) -> Result<Value, WxErr> {
    let now = ctx.now;
    let action = ctx.query.get("action").map(String::as_str);
    let setup = &mut st.setup;
    match (path, action) {
        (FAST_REGISTER, Some("create")) => {
            let m = body(ctx)?;
            for k in ["name", "code", "legal_persona_wechat", "legal_persona_name"] {
                if text(&m, k).is_empty() {
                    return Err(WxErr(89253, "lack of some params".into()));
                }
            }
            if !matches!(number(&m, "code_type"), Some(1..=3)) {
                return Err(WxErr(89248, "invalid code type".into()));
            }
            if !valid_wechat_id(text(&m, "legal_persona_wechat")) {
                return Err(WxErr(86004, "invalid wechat".into()));
            }
            let name = text(&m, "name").to_owned();
            let running = setup.registrations.iter().any(|r| {
                r.kind == RegistrationKind::Enterprise
                    && r.name == name
                    && (r.stage == RegistrationStage::Waiting || now < r.since + TASK_RUNNING_SECS)
            });
            if running {
                return Err(WxErr(89249, "task running".into()));
            }
            let key = text(&m, "legal_persona_wechat").to_owned();
            setup.new_registration(RegistrationKind::Enterprise, name, m, key, now);
            Ok(json!({}))
        }
        (FAST_REGISTER, Some("search")) => {
            let m = body(ctx)?;
            let (name, wechat, legal) = (
                text(&m, "name"),
                text(&m, "legal_persona_wechat"),
                text(&m, "legal_persona_name"),
            );
            if name.is_empty() || wechat.is_empty() || legal.is_empty() {
                return Err(WxErr(89253, "lack of some params".into()));
            }
            let r = setup
                .registrations
                .iter()
                .rev()
                .find(|r| {
                    r.kind == RegistrationKind::Enterprise
                        && r.name == name
                        && text(&r.fields, "legal_persona_wechat") == wechat
                        && text(&r.fields, "legal_persona_name") == legal
                })
                .ok_or_else(|| WxErr(89250, "task not found".into()))?;
            match &r.stage {
                RegistrationStage::Waiting => Err(WxErr(89251, "legal person checking".into())),
                RegistrationStage::Succeeded { .. } => Ok(json!({})),
                // The task ended without a mini program (the push said why): no task runs for
                // the subject any more, 89250 (see the README).
                RegistrationStage::Failed { .. } => Err(WxErr(89250, "task not found".into())),
            }
        }
        (FAST_REGISTER_PERSONAL, Some("create")) => {
            let m = body(ctx)?;
            if text(&m, "idname").is_empty() || text(&m, "wxuser").is_empty() {
                return Err(WxErr(89253, "lack of some params".into()));
            }
            if !valid_wechat_id(text(&m, "wxuser")) {
                return Err(WxErr(86004, "invalid wechat".into()));
            }
            let taskid = random_lower_alnum(32);
            let name = text(&m, "idname").to_owned();
            setup.new_registration(RegistrationKind::Personal, name, m, taskid.clone(), now);
            Ok(json!({
                "taskid": taskid,
                "authorize_url": format!("https://mp.weixin.qq.com/cgi-bin/fastregisterauth?sim=1&taskid={taskid}"),
                "status": 0,
            }))
        }
        (FAST_REGISTER_PERSONAL, Some("query")) => {
            let m = body(ctx)?;
            let taskid = text(&m, "taskid");
            let r = setup
                .registrations
                .iter()
                .find(|r| r.kind == RegistrationKind::Personal && r.key == taskid)
                .ok_or_else(|| WxErr(89250, "task not found".into()))?;
            let status = match &r.stage {
                RegistrationStage::Waiting => 0,
                RegistrationStage::Succeeded { .. } => 12,
                RegistrationStage::Failed { status, .. } => *status,
            };
            Ok(json!({"status": status}))
        }
        (FAST_REGISTER | FAST_REGISTER_PERSONAL, _) => Err(WxErr(-1, "invalid action".into())),
        (FAST_REGISTER_BETA, _) => {
            let m = body(ctx)?;
            let name = text(&m, "name").to_owned();
            if text(&m, "openid").is_empty() {
                return Err(WxErr(89253, "lack of some params".into()));
            }
            if !(4..=30).contains(&name.chars().count()) {
                return Err(WxErr(53010, "名称格式不合法".into()));
            }
            if setup
                .keyword_names
                .iter()
                .any(|k| name.contains(k.as_str()))
            {
                return Err(WxErr(53010, "名称命中品牌关键字".into()));
            }
            let unique_id = random_lower_alnum(32);
            setup.new_registration(RegistrationKind::Beta, name, m, unique_id.clone(), now);
            Ok(json!({
                "unique_id": unique_id,
                "authorize_url": format!("https://mp.weixin.qq.com/cgi-bin/fastregisterauth?sim=1&unique_id={unique_id}"),
            }))
        }
        _ => Err(WxErr(-1, "system error".into())),
    }
}

/// A WeChat id as the registration pages take it: 6-20 letters, digits, `_` or `-`, starting
/// with a letter.
fn valid_wechat_id(s: &str) -> bool {
    (6..=20).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl AccountSetup {
    /// api_get_authorizer_info's `register_type` for a mini program (0: registered normally).
    pub(crate) fn profile_register_type(&self, appid: &AppId) -> i64 {
        self.profiles.get(appid).map_or(0, |p| p.register_type)
    }

    fn new_registration(
        &mut self,
        kind: RegistrationKind,
        name: String,
        fields: Map<String, Value>,
        key: String,
        now: UnixTime,
    ) -> String {
        self.next_id += 1;
        let id = format!("reg-{}", self.next_id);
        self.registrations.push(Registration {
            id: id.clone(),
            kind,
            name,
            fields,
            stage: RegistrationStage::Waiting,
            since: now,
            key,
        });
        id
    }

    /// Decides a waiting registration (the appid of a success is filled in by the caller once
    /// the mini program exists).
    fn decide_registration(
        &mut self,
        id: &str,
        d: RegistrationDecision,
        now: UnixTime,
    ) -> anyhow::Result<Registration> {
        let r = self
            .registrations
            .iter_mut()
            .find(|r| r.id == id && r.stage == RegistrationStage::Waiting)
            .ok_or_else(|| anyhow::anyhow!("no waiting registration {id}"))?;
        r.since = now;
        r.stage = match d {
            RegistrationDecision::Confirm => RegistrationStage::Succeeded {
                appid: AppId::parse("wx0000000000000000").expect("a placeholder appid"),
            },
            RegistrationDecision::Fail { reason, status } => RegistrationStage::Failed {
                status: status.unwrap_or(if r.kind == RegistrationKind::Personal {
                    2
                } else {
                    -1
                }),
                reason,
            },
        };
        Ok(r.clone())
    }

    fn decide_nickname(
        &mut self,
        appid: &AppId,
        approve: bool,
        reason: String,
        now: UnixTime,
    ) -> anyhow::Result<NicknameAudit> {
        let a = self
            .nickname_audits
            .values_mut()
            .find(|a| &a.appid == appid && a.review == Review::Checking)
            .ok_or_else(|| anyhow::anyhow!("{appid} has no name under review"))?;
        a.review = if approve {
            Review::Approved
        } else {
            Review::Rejected
        };
        a.reason = if approve { String::new() } else { reason };
        a.audit_time = now;
        Ok(a.clone())
    }

    fn decide_category(
        &mut self,
        appid: &AppId,
        pick: Option<(u64, u64)>,
        approve: bool,
        reason: String,
    ) -> anyhow::Result<SetCategory> {
        let p = self
            .profiles
            .get_mut(appid)
            .ok_or_else(|| anyhow::anyhow!("{appid} has no categories"))?;
        let c = p
            .categories
            .iter_mut()
            .find(|c| {
                c.review == Review::Checking
                    && pick.is_none_or(|(f, s)| c.first == f && c.second == s)
            })
            .ok_or_else(|| anyhow::anyhow!("{appid} has no category under review"))?;
        c.review = if approve {
            Review::Approved
        } else {
            Review::Rejected
        };
        c.reason = if approve { String::new() } else { reason };
        Ok(c.clone())
    }

    /// The automatic steps due at `now` (see [`SetupTiming`]).
    fn due(&mut self, now: UnixTime) -> Vec<SetupPush> {
        let t = self.timing.clone();
        let due = |secs: Option<i64>, from: UnixTime| secs.is_some_and(|s| now >= from + s);
        let mut pushes = Vec::new();
        let ids: Vec<String> = self
            .registrations
            .iter()
            .filter(|r| r.stage == RegistrationStage::Waiting && due(t.confirm_secs, r.since))
            .map(|r| r.id.clone())
            .collect();
        for id in ids {
            if let Ok(r) = self.decide_registration(&id, RegistrationDecision::Confirm, now) {
                pushes.push(SetupPush::Registration(r));
            }
        }
        let names: Vec<AppId> = self
            .nickname_audits
            .values()
            .filter(|a| a.review == Review::Checking && due(t.nickname_review_secs, a.create_time))
            .map(|a| a.appid.clone())
            .collect();
        for appid in names {
            if let Ok(a) = self.decide_nickname(&appid, true, String::new(), now) {
                pushes.push(SetupPush::Nickname(a));
            }
        }
        let cats: Vec<(AppId, u64, u64)> = self
            .profiles
            .iter()
            .flat_map(|(appid, p)| {
                p.categories
                    .iter()
                    .filter(|c| {
                        c.review == Review::Checking && due(t.category_review_secs, c.since)
                    })
                    .map(move |c| (appid.clone(), c.first, c.second))
            })
            .collect();
        for (appid, first, second) in cats {
            if let Ok(c) = self.decide_category(&appid, Some((first, second)), true, String::new())
            {
                pushes.push(SetupPush::Category { appid, category: c });
            }
        }
        pushes
    }
}

// ---------------------------------------------------------------------------------------------
// Pushes

fn cdata(tag: &str, v: &str) -> String {
    format!("<{tag}><![CDATA[{v}]]></{tag}>")
}

impl Inner {
    /// Finishes what a decision started (creates a registered mini program, applies an approved
    /// name or category), then sends the pushes, after the state lock is released.
    pub(crate) async fn send_setup_pushes(&self, pushes: Vec<SetupPush>) -> Vec<Value> {
        let mut sent = Vec::new();
        for push in pushes {
            let now = self.now();
            match push {
                SetupPush::Registration(r) => sent.push(self.finish_registration(r, now).await),
                SetupPush::Nickname(a) => {
                    let user_name = {
                        let mut st = self.lock();
                        if a.review == Review::Approved {
                            if let Some(acc) = st.accounts.get_mut(&a.appid) {
                                acc.nick_name = a.nickname.clone();
                            }
                        }
                        st.accounts
                            .get(&a.appid)
                            .map(|x| x.user_name.clone())
                            .unwrap_or_default()
                    };
                    let fields = format!(
                        "<ret>{}</ret>{}{}",
                        a.review.code(),
                        cdata("nickname", &a.nickname),
                        cdata("reason", &a.reason)
                    );
                    let xml = audit_xml(&user_name, now, "wxa_nickname_audit", &fields);
                    let to = Target::Message {
                        appid: a.appid.to_string(),
                        user_name,
                    };
                    self.deliver(to, "wxa_nickname_audit", xml).await;
                    sent.push(json!({"audit_id": a.audit_id, "ret": a.review.code()}));
                }
                SetupPush::Category { appid, category } => {
                    let user_name = {
                        let mut st = self.lock();
                        let set = st
                            .setup
                            .profiles
                            .get(&appid)
                            .map(|p| p.categories.clone())
                            .unwrap_or_default();
                        sync_categories(&mut st, &appid, &set);
                        st.accounts
                            .get(&appid)
                            .map(|x| x.user_name.clone())
                            .unwrap_or_default()
                    };
                    let fields = format!(
                        "<ret>{}</ret><first>{}</first><second>{}</second>{}",
                        category.review.code(),
                        category.first,
                        category.second,
                        cdata("reason", &category.reason)
                    );
                    let xml = audit_xml(&user_name, now, "wxa_category_audit", &fields);
                    let to = Target::Message {
                        appid: appid.to_string(),
                        user_name,
                    };
                    self.deliver(to, "wxa_category_audit", xml).await;
                    sent.push(json!({"first": category.first, "second": category.second}));
                }
            }
        }
        sent
    }

    /// A decided registration: on success the mini program is created and authorized (or the
    /// trial one made formal), then the result is pushed. Answers what was pushed.
    async fn finish_registration(&self, mut r: Registration, now: UnixTime) -> Value {
        let component = self.config.component_appid.clone();
        let f = &r.fields;
        let (status, msg) = match &r.stage {
            RegistrationStage::Failed { status, reason } => (*status, reason.clone()),
            _ => (0, "OK".to_owned()),
        };
        let succeeded = status == 0;
        let mut appid: Option<AppId> = None;
        let mut auth_code: Option<String> = None;
        if succeeded {
            let mut st = self.lock();
            if r.kind == RegistrationKind::BetaVerification {
                let a = AppId::parse(&r.key).ok();
                if let Some(a) = &a {
                    let p = st.setup.profiles.entry(a.clone()).or_default();
                    p.beta = false;
                    p.register_type = REGISTER_TYPE_BETA_MADE_FORMAL;
                    if let Some(acc) = st.accounts.get_mut(a) {
                        acc.principal_name = r.name.clone();
                    }
                }
                appid = a;
            } else {
                let new = crate::state::random_appid();
                let n = st.accounts.len() + 1;
                let principal = match r.kind {
                    RegistrationKind::Enterprise => r.name.clone(),
                    _ => "个人".to_owned(),
                };
                let mut acc = blank_mini_program(&new, principal, n);
                if r.kind == RegistrationKind::Beta {
                    acc.nick_name = format!("{}的体验小程序", r.name);
                }
                st.accounts.insert(new.clone(), acc);
                auth_code = st.grant(&new, REGISTERED_FUNC_INFO, now);
                let p = st.setup.profiles.entry(new.clone()).or_default();
                p.api_registered = true;
                p.beta = r.kind == RegistrationKind::Beta;
                p.register_type = match r.kind {
                    RegistrationKind::Enterprise => REGISTER_TYPE_ENTERPRISE,
                    RegistrationKind::Personal => REGISTER_TYPE_PERSONAL,
                    _ => REGISTER_TYPE_BETA,
                };
                appid = Some(new);
            }
            if let (Some(a), Some(stored)) = (
                &appid,
                st.setup.registrations.iter_mut().find(|x| x.id == r.id),
            ) {
                stored.stage = RegistrationStage::Succeeded { appid: a.clone() };
                r.stage = stored.stage.clone();
            }
        }
        let head = format!("<AppId><![CDATA[{component}]]></AppId><CreateTime>{now}</CreateTime>");
        let appid_xml = appid
            .as_ref()
            .map(|a| cdata("appid", a.as_str()))
            .unwrap_or_default();
        let code_xml = auth_code
            .as_deref()
            .map(|c| cdata("auth_code", c))
            .unwrap_or_default();
        let (kind, info) = match r.kind {
            RegistrationKind::Enterprise => (
                "notify_third_fasteregister",
                format!(
                    "{}{}<code_type>{}</code_type>{}{}{}",
                    cdata("name", &r.name),
                    cdata("code", text(f, "code")),
                    number(f, "code_type").unwrap_or(0),
                    cdata("legal_persona_wechat", text(f, "legal_persona_wechat")),
                    cdata("legal_persona_name", text(f, "legal_persona_name")),
                    cdata("component_phone", text(f, "component_phone")),
                ),
            ),
            RegistrationKind::Personal => (
                "notify_third_fasteregister",
                format!(
                    "{}{}{}",
                    cdata("wxuser", text(f, "wxuser")),
                    cdata("idname", text(f, "idname")),
                    cdata("component_phone", text(f, "component_phone")),
                ),
            ),
            RegistrationKind::Beta => (
                "notify_third_fastregisterbetaapp",
                format!("{}{}", cdata("unique_id", &r.key), cdata("name", &r.name)),
            ),
            RegistrationKind::BetaVerification => (
                "notify_third_fastverifybetaapp",
                format!(
                    "{}{}<code_type>{}</code_type>{}{}",
                    cdata("name", &r.name),
                    cdata("code", text(f, "code")),
                    number(f, "code_type").unwrap_or(0),
                    cdata("legal_persona_wechat", text(f, "legal_persona_wechat")),
                    cdata("legal_persona_name", text(f, "legal_persona_name")),
                ),
            ),
        };
        let xml = format!(
            "<xml>{head}<InfoType><![CDATA[{kind}]]></InfoType>{appid_xml}<status>{status}</status>{code_xml}{}<info>{info}</info></xml>",
            cdata("msg", &msg)
        );
        self.deliver(Target::AuthEvent, kind, xml).await;
        json!({
            "registration_id": r.id,
            "kind": kind,
            "status": status,
            "appid": appid,
            "auth_code": auth_code,
            "msg": msg,
        })
    }

    /// Runs the confirmations and reviews due on the sim clock, with their pushes.
    pub(crate) async fn run_setup_timers(&self) {
        let now = self.now();
        let pushes = self.lock().setup.due(now);
        if !pushes.is_empty() {
            self.send_setup_pushes(pushes).await;
        }
    }
}

/// What a decided registration pushed (`GET`-able through [`Simulator::decide_registration`]).
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrationResult {
    pub registration_id: String,
    pub kind: String,
    pub status: i64,
    pub appid: Option<AppId>,
    /// For api_query_auth (success only).
    pub auth_code: Option<String>,
    pub msg: String,
}

impl Simulator {
    /// Every registration task, oldest first.
    pub fn registrations(&self) -> Vec<Registration> {
        self.inner.lock().setup.registrations.clone()
    }

    /// The legal person (or user) confirms a registration, or it fails; the mini program is
    /// created on success and the result pushed. Answers what was pushed.
    pub async fn decide_registration(
        &self,
        id: &str,
        decision: RegistrationDecision,
    ) -> anyhow::Result<RegistrationResult> {
        self.inner.decide_registration(id, decision).await
    }

    /// Decides `appid`'s name under review and pushes `wxa_nickname_audit`.
    pub async fn decide_nickname(
        &self,
        appid: &AppId,
        approve: bool,
        reason: &str,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let a = self
            .inner
            .lock()
            .setup
            .decide_nickname(appid, approve, reason.to_owned(), now)?;
        self.inner
            .send_setup_pushes(vec![SetupPush::Nickname(a)])
            .await;
        Ok(())
    }

    /// Decides one of `appid`'s categories under review (the first one when `pick` is None) and
    /// pushes `wxa_category_audit`.
    pub async fn decide_category(
        &self,
        appid: &AppId,
        pick: Option<(u64, u64)>,
        approve: bool,
        reason: &str,
    ) -> anyhow::Result<()> {
        let c = self
            .inner
            .lock()
            .setup
            .decide_category(appid, pick, approve, reason.to_owned())?;
        self.inner
            .send_setup_pushes(vec![SetupPush::Category {
                appid: appid.clone(),
                category: c,
            }])
            .await;
        Ok(())
    }

    /// The ticket an official account's administrator's scan hands back for account/fastregister.
    pub fn official_account_register_ticket(&self, appid: &AppId) -> String {
        let ticket = random_lower_alnum(32);
        self.inner
            .lock()
            .setup
            .oa_tickets
            .insert(ticket.clone(), appid.clone());
        ticket
    }

    /// Marks a mini program as registered through the API (or not) and its search status as
    /// banned from change (85083).
    pub fn set_profile_flags(&self, appid: &AppId, api_registered: bool, search_banned: bool) {
        let mut st = self.inner.lock();
        let p = st.setup.profiles.entry(appid.clone()).or_default();
        p.api_registered = api_registered;
        p.search_banned = search_banned;
    }

    /// Makes `appid` as a fresh registration leaves it: registered through the API, with no
    /// name, avatar, signature or category yet (what a first audit lacks).
    pub fn blank_profile(&self, appid: &AppId) {
        let mut st = self.inner.lock();
        if let Some(acc) = st.accounts.get_mut(appid) {
            acc.nick_name.clear();
            acc.signature.clear();
            acc.head_img.clear();
            acc.categories.clear();
        }
        let p = st.setup.profiles.entry(appid.clone()).or_default();
        p.api_registered = true;
        p.categories.clear();
    }

    pub fn profile(&self, appid: &AppId) -> Profile {
        self.inner
            .lock()
            .setup
            .profiles
            .get(appid)
            .cloned()
            .unwrap_or_default()
    }

    pub fn set_setup_timing(&self, timing: SetupTiming) {
        self.inner.lock().setup.timing = timing;
    }

    /// Names held by other accounts (91007, 53012) and names that hit a keyword (reviewed).
    pub fn set_names(&self, taken: &[&str], keyword: &[&str]) {
        let mut st = self.inner.lock();
        st.setup.taken_names = taken.iter().map(|s| (*s).to_owned()).collect();
        st.setup.keyword_names = keyword.iter().map(|s| (*s).to_owned()).collect();
    }

    /// What modify_domain answers when no domain given is the platform's: 85017 (the default)
    /// or 85301.
    pub fn set_server_domain_refusal(&self, errcode: i64) {
        self.inner.lock().server_domain_refusal = Some(errcode);
    }

    /// Runs the confirmations and reviews due on the sim clock now.
    pub async fn run_setup_timers(&self) {
        self.inner.run_setup_timers().await
    }
}

impl Inner {
    async fn decide_registration(
        &self,
        id: &str,
        d: RegistrationDecision,
    ) -> anyhow::Result<RegistrationResult> {
        let now = self.now();
        let r = self.lock().setup.decide_registration(id, d, now)?;
        let sent = self
            .send_setup_pushes(vec![SetupPush::Registration(r)])
            .await;
        let v = sent
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("nothing was pushed"))?;
        Ok(serde_json::from_value(v)?)
    }
}

// ---------------------------------------------------------------------------------------------
// /_sim controls

type S = AxState<Arc<Inner>>;

pub fn control_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/_sim/registrations", get(list_registrations))
        .route("/_sim/registrations/{id}/decide", post(decide_registration))
        .route(
            "/_sim/official_accounts/{appid}/register_ticket",
            post(register_ticket),
        )
        .route(
            "/_sim/apps/{appid}/profile",
            get(get_profile).post(set_profile),
        )
        .route("/_sim/apps/{appid}/nickname/decide", post(decide_nickname))
        .route(
            "/_sim/apps/{appid}/categories/decide",
            post(decide_category),
        )
        .route("/_sim/account_setup/config", post(config))
        .route("/_sim/server_domains/refusal", post(domain_refusal))
        .with_state(inner)
}

async fn list_registrations(AxState(inner): S) -> Response {
    Json(json!(inner.lock().setup.registrations)).into_response()
}

async fn decide_registration(
    AxState(inner): S,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let d = match parse::<RegistrationDecision>(&body) {
        Ok(d) => d,
        Err(e) => return bad(e),
    };
    match inner.decide_registration(&id, d).await {
        Ok(r) => Json(json!({
            "registration_id": r.registration_id,
            "status": r.status,
            "appid": r.appid,
            "msg": r.msg,
        }))
        .into_response(),
        Err(e) => bad(e),
    }
}

async fn register_ticket(AxState(inner): S, Path(appid): Path<String>) -> Response {
    let appid = match app_id(&appid) {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    let mut st = inner.lock();
    if st.accounts.get(&appid).map(|a| a.kind) != Some(AccountKind::OfficialAccount) {
        return bad("not an official account");
    }
    let ticket = random_lower_alnum(32);
    st.setup.oa_tickets.insert(ticket.clone(), appid);
    Json(json!({"ticket": ticket})).into_response()
}

async fn get_profile(AxState(inner): S, Path(appid): Path<String>) -> Response {
    let appid = match app_id(&appid) {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    let st = inner.lock();
    let p = st.setup.profiles.get(&appid).cloned().unwrap_or_default();
    let audits: Vec<&NicknameAudit> = st
        .setup
        .nickname_audits
        .values()
        .filter(|a| a.appid == appid)
        .collect();
    Json(json!({"profile": p, "nickname_audits": audits})).into_response()
}

#[derive(Deserialize)]
struct ProfileFlags {
    #[serde(default)]
    api_registered: Option<bool>,
    #[serde(default)]
    search_banned: Option<bool>,
}

async fn set_profile(
    AxState(inner): S,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (appid, b) = match (app_id(&appid), parse::<ProfileFlags>(&body)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let mut st = inner.lock();
    if !st.accounts.contains_key(&appid) {
        return bad("unknown account");
    }
    let p = st.setup.profiles.entry(appid).or_default();
    if let Some(v) = b.api_registered {
        p.api_registered = v;
    }
    if let Some(v) = b.search_banned {
        p.search_banned = v;
    }
    Json(json!({})).into_response()
}

#[derive(Deserialize)]
struct ReviewDecision {
    approve: bool,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    first: Option<u64>,
    #[serde(default)]
    second: Option<u64>,
}

async fn decide_nickname(
    AxState(inner): S,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (appid, d) = match (app_id(&appid), parse::<ReviewDecision>(&body)) {
        (Ok(a), Ok(d)) => (a, d),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let now = inner.now();
    let a = inner
        .lock()
        .setup
        .decide_nickname(&appid, d.approve, d.reason, now);
    match a {
        Ok(a) => {
            inner.send_setup_pushes(vec![SetupPush::Nickname(a)]).await;
            Json(json!({})).into_response()
        }
        Err(e) => bad(e),
    }
}

async fn decide_category(
    AxState(inner): S,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (appid, d) = match (app_id(&appid), parse::<ReviewDecision>(&body)) {
        (Ok(a), Ok(d)) => (a, d),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let pick = d.first.zip(d.second);
    let c = inner
        .lock()
        .setup
        .decide_category(&appid, pick, d.approve, d.reason);
    match c {
        Ok(category) => {
            inner
                .send_setup_pushes(vec![SetupPush::Category { appid, category }])
                .await;
            Json(json!({})).into_response()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct ConfigBody {
    #[serde(flatten)]
    timing: SetupTiming,
    #[serde(default)]
    taken_names: Option<Vec<String>>,
    #[serde(default)]
    keyword_names: Option<Vec<String>>,
}

async fn config(AxState(inner): S, body: axum::body::Bytes) -> Response {
    let b = match parse::<ConfigBody>(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let negative = [
        b.timing.confirm_secs,
        b.timing.nickname_review_secs,
        b.timing.category_review_secs,
    ]
    .into_iter()
    .flatten()
    .any(|s| s < 0);
    if negative {
        return bad("durations are seconds, not negative");
    }
    let mut st = inner.lock();
    st.setup.timing = b.timing;
    if let Some(t) = b.taken_names {
        st.setup.taken_names = t.into_iter().collect();
    }
    if let Some(k) = b.keyword_names {
        st.setup.keyword_names = k.into_iter().collect();
    }
    Json(json!({})).into_response()
}

#[derive(Deserialize)]
struct RefusalBody {
    errcode: i64,
}

async fn domain_refusal(AxState(inner): S, body: axum::body::Bytes) -> Response {
    let b = match parse::<RefusalBody>(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    if !matches!(b.errcode, 85017 | 85301) {
        return bad("errcode must be 85017 or 85301");
    }
    inner.lock().server_domain_refusal = Some(b.errcode);
    Json(json!({})).into_response()
}
