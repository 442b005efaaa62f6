//! ICP filing (小程序备案) and the combined verification + filing flow (认证及备案): the
//! `/wxa/icp/*` and `/wxa/sec/*_auth_and_icp` endpoints, the filing as a process over the sim
//! clock, its `/_sim` controls and its pushes. The README's "ICP filing" section cites the page
//! of every field and errcode, and says where the pages leave a gap the simulator fills.
//!
//! A filing walks platform review (status 2) → administration review (4, with the SMS check
//! `sms_verify_status` 1 waiting / 2 done / 3 timed out) → filed (6), or is rejected at either
//! review (3, 5) with field-level reasons (`audit_data`). Each review's outcome is pushed as
//! `notify_apply_icpfiling_result`, a finished face check as `notify_icpfiling_verify_result`.

use crate::api::{check_token, err_answer, json_answer, ok_answer, Ctx, WxErr};
use crate::form::Form;
use crate::push::Target;
use crate::state::{random_alnum, random_lower_alnum, wechat_rid, State, TokenKind};
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

pub const ENTRANCE_INFO: &str = "/wxa/icp/get_icp_entrance_info";
pub const ONLINE_ORDER: &str = "/wxa/icp/get_online_icp_order";
pub const SUBJECT_TYPES: &str = "/wxa/icp/query_icp_subject_types";
pub const CERTIFICATE_TYPES: &str = "/wxa/icp/query_icp_certificate_types";
pub const DISTRICT_CODE: &str = "/wxa/icp/query_icp_district_code";
pub const NRLX_TYPES: &str = "/wxa/icp/query_icp_nrlx_types";
pub const SERVICE_CONTENT_TYPES: &str = "/wxa/icp/query_icp_service_content_types";
pub const UPLOAD_MEDIA: &str = "/wxa/icp/upload_icp_media";
pub const CREATE_VERIFY_TASK: &str = "/wxa/icp/create_icp_verifytask";
pub const QUERY_VERIFY_TASK: &str = "/wxa/icp/query_icp_verifytask";
pub const APPLY: &str = "/wxa/icp/apply_icp_filing";
pub const CANCEL_APPLY: &str = "/wxa/icp/cancel_apply_icp_filing";
pub const SUBMIT_AUTH_AND_ICP: &str = "/wxa/sec/submit_auth_and_icp";
pub const QUERY_AUTH_AND_ICP: &str = "/wxa/sec/query_auth_and_icp";

/// createIcpVerifyTask: a task lives 3 days for a filing, 1 day with `along_with_auth`.
pub const TASK_TTL: i64 = 3 * 86_400;
pub const TASK_TTL_ALONG_WITH_AUTH: i64 = 86_400;

/// Answers one ICP request: the authorizer token's account, then [`dispatch`]. A refusal that
/// carries its own errcode (86202 with `hints`) is answered as it is.
fn answer(ctx: &Ctx, path: &str) -> Response {
    let result = {
        let mut st = ctx.inner.lock();
        check_token(&st, ctx.query, TokenKind::Authorizer, ctx.now).and_then(|appid| {
            let appid = appid.ok_or_else(|| WxErr(40001, "invalid credential".into()))?;
            dispatch(&mut st, path, &appid, ctx.form, ctx.body, ctx.now)
        })
    };
    match result {
        Ok(v) if v.get("errcode").is_some() => json_answer(StatusCode::OK, v),
        Ok(v) => ok_answer(v),
        Err(e) => err_answer(e),
    }
}

/// One route handler per path (the routes list takes plain functions).
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
    entrance_info => ENTRANCE_INFO,
    online_order => ONLINE_ORDER,
    subject_types => SUBJECT_TYPES,
    certificate_types => CERTIFICATE_TYPES,
    district_code => DISTRICT_CODE,
    nrlx_types => NRLX_TYPES,
    service_content_types => SERVICE_CONTENT_TYPES,
    upload_icp_media => UPLOAD_MEDIA,
    create_icp_verifytask => CREATE_VERIFY_TASK,
    query_icp_verifytask => QUERY_VERIFY_TASK,
    apply_icp_filing => APPLY,
    cancel_apply_icp_filing => CANCEL_APPLY,
    submit_auth_and_icp => SUBMIT_AUTH_AND_ICP,
    query_auth_and_icp => QUERY_AUTH_AND_ICP,
}

/// Where a filing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    PlatformReview,
    PlatformRejected,
    AdministrationReview,
    AdministrationRejected,
    Filed,
}

impl Stage {
    /// getIcpEntranceInfo's status number.
    pub fn status(self) -> i64 {
        match self {
            Stage::PlatformReview => 2,
            Stage::PlatformRejected => 3,
            Stage::AdministrationReview => 4,
            Stage::AdministrationRejected => 5,
            Stage::Filed => 6,
        }
    }
}

/// The administration's SMS check (`sms_verify_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sms {
    Waiting,
    Done,
    TimedOut,
}

impl Sms {
    fn code(self) -> i64 {
        match self {
            Sms::Waiting => 1,
            Sms::Done => 2,
            Sms::TimedOut => 3,
        }
    }
}

/// One rejected field (`audit_data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub key_name: String,
    pub error: String,
    #[serde(default)]
    pub suggest: String,
}

/// An application in progress or decided.
#[derive(Debug, Clone, Serialize)]
pub struct Filing {
    pub stage: Stage,
    /// When the current stage began (sim clock).
    pub since: UnixTime,
    pub sms: Option<Sms>,
    pub sms_done_at: Option<UnixTime>,
    pub reasons: Vec<Reason>,
    pub subject_name: String,
    pub applet_name: String,
    /// The combined flow's procedure, when it came from submit_auth_and_icp.
    pub procedure_id: Option<String>,
}

/// One mini program's filing state.
#[derive(Debug, Clone, Serialize)]
pub struct IcpApp {
    /// The status reported while nothing is applied for: 1024-1031.
    pub not_filed_status: i64,
    /// Whether the filing entrance is open (`available`).
    pub available: bool,
    pub filing: Option<Filing>,
    /// After filing: the subject's and the mini program's record numbers.
    pub record_numbers: Option<(String, String)>,
    /// Applications accepted, ever (a lost answer must not make this 2).
    pub applications: u32,
}

impl Default for IcpApp {
    fn default() -> Self {
        IcpApp {
            not_filed_status: 1024,
            available: true,
            filing: None,
            record_numbers: None,
            applications: 0,
        }
    }
}

impl IcpApp {
    /// How an app the filing process has not seen yet stands: not filed (1024), or, when the
    /// simulator is set up with [`crate::SimConfig::icp_apps_filed`], filed before wxopen knew
    /// it (status 6 with record numbers, no application counted), as most live mini programs
    /// are since 2024-03-31.
    fn starting(filed: bool) -> IcpApp {
        let mut app = IcpApp::default();
        if filed {
            app.filing = Some(Filing {
                stage: Stage::Filed,
                since: 0,
                sms: None,
                sms_done_at: None,
                reasons: Vec::new(),
                subject_name: "模拟商户有限公司".into(),
                applet_name: "模拟小程序".into(),
                procedure_id: None,
            });
            app.record_numbers = Some(("京ICP备19000000号".into(), "京ICP备19000000号-1X".into()));
        }
        app
    }

    /// Filed before the simulator saw any application ([`IcpApp::starting`]).
    fn filed_from_start(&self) -> bool {
        self.applications == 0
            && self
                .filing
                .as_ref()
                .is_some_and(|f| f.stage == Stage::Filed)
    }

    /// `/_sim/apps/{appid}/icp/entrance`: the status while nothing is applied for; an app filed
    /// from the start becomes not filed.
    fn set_entrance(&mut self, not_filed_status: i64, available: bool) {
        if self.filed_from_start() {
            self.filing = None;
            self.record_numbers = None;
        }
        self.not_filed_status = not_filed_status;
        self.available = available;
    }

    fn status(&self) -> i64 {
        self.filing
            .as_ref()
            .map_or(self.not_filed_status, |f| f.stage.status())
    }
}

#[derive(Debug, Clone, Serialize)]
struct Media {
    appid: AppId,
    kind: String,
    icp_order_field: String,
    certificate_type: Option<i64>,
}

/// A face check of the mini program's administrator.
#[derive(Debug, Clone, Serialize)]
pub struct FaceTask {
    pub task_id: String,
    pub appid: AppId,
    pub along_with_auth: bool,
    pub expires_at: UnixTime,
    /// 0 not started, 1 waiting, 2 failed, 3 succeeded.
    pub face_status: i64,
    pub used: bool,
}

/// How the verification part of a combined application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStage {
    Review,
    Refill,
    Failed,
    Passed,
}

#[derive(Debug, Clone, Serialize)]
struct Procedure {
    appid: AppId,
    auth: AuthStage,
    reason: String,
    orderid: u64,
    subject_name: String,
    applet_name: String,
}

/// Sim-clock durations of the automatic steps; `None` (the default): only `/_sim` decides.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IcpTiming {
    /// Platform review passes after this long.
    pub platform_review_secs: Option<i64>,
    /// The administration approves this long after the SMS check was answered.
    pub administration_review_secs: Option<i64>,
    /// An unanswered SMS check times out (`sms_verify_status` 3) after this long.
    pub sms_timeout_secs: Option<i64>,
}

/// Which URL the filing and face-check pushes go to. WeChat's pages list them under 消息与事件
/// (the message URL); developers' captures show them at the authorization-event URL as XML with
/// an `InfoType`. Default: the authorization-event URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushTarget {
    #[default]
    AuthEvent,
    Message,
}

#[derive(Debug, Default)]
pub struct Icp {
    /// Whether apps start filed ([`crate::SimConfig::icp_apps_filed`]).
    pub apps_filed: bool,
    apps: BTreeMap<AppId, IcpApp>,
    media: HashMap<String, Media>,
    tasks: HashMap<String, FaceTask>,
    procedures: HashMap<String, Procedure>,
    pub timing: IcpTiming,
    pub push_target: PushTarget,
    next_record: u64,
    next_orderid: u64,
}

impl Icp {
    /// `appid`'s filing state, created as [`IcpApp::starting`] on first sight.
    fn app(&mut self, appid: &AppId) -> &mut IcpApp {
        let filed = self.apps_filed;
        self.apps
            .entry(appid.clone())
            .or_insert_with(|| IcpApp::starting(filed))
    }

    /// `appid`'s filing state as it stands or would start.
    fn peek(&self, appid: &AppId) -> IcpApp {
        self.apps
            .get(appid)
            .cloned()
            .unwrap_or_else(|| IcpApp::starting(self.apps_filed))
    }
}

/// A push to send once the state lock is released.
#[derive(Debug, Clone)]
pub enum IcpPush {
    Filing { appid: AppId, status: i64 },
    Face { task: FaceTask },
}

// ---------------------------------------------------------------------------------------------
// The reference tables: small excerpts of the pages' examples (the real tables are longer and
// change without notice).

/// queryIcpSubjectTypes: (type, name, remark).
const SUBJECT_TYPES_TABLE: &[(i64, &str, &str)] = &[
    (1, "国防机构", ""),
    (2, "政府机关", ""),
    (3, "事业单位", ""),
    (4, "企业", ""),
    (5, "个人", ""),
    (6, "社会团体", ""),
];

/// queryIcpCertificateTypes: (type, subject_type, name). 1 for a business licence and 2 for
/// the ID card are the values WeChat's staff give in the community threads the README cites.
const CERTIFICATE_TYPES_TABLE: &[(i64, i64, &str)] =
    &[(1, 4, "营业执照（个人或企业）"), (2, 5, "居民身份证")];

/// queryIcpNrlxTypes: the page's example.
const NRLX_TYPES_TABLE: &[(i64, &str)] = &[
    (1, "新闻"),
    (2, "出版"),
    (3, "教育"),
    (4, "医疗保健"),
    (5, "药品和医疗器械"),
    (6, "电子公告服务"),
    (9, "文化"),
    (10, "广播电影电视节目"),
    (11, "网络预约车"),
    (13, "互联网金融"),
    (14, "校外培训"),
];

/// queryIcpServiceContentTypes: (type, parent_type, name, remark), the page's example plus its
/// first-level parent.
const SERVICE_CONTENT_TABLE: &[(i64, i64, &str, &str)] = &[
    (500, 0, "生活服务", ""),
    (1, 500, "生活缴费", "水电煤气话费等"),
    (2, 500, "招聘", ""),
];

/// queryIcpDistrictCode: (code, name, cities: (code, name, districts)).
type District = (i64, &'static str, &'static [(i64, &'static str)]);
const DISTRICTS: &[(i64, &str, &[District])] = &[
    (
        110000,
        "北京市",
        &[(110100, "市辖区", &[(110101, "东城区"), (110105, "朝阳区")])],
    ),
    (
        440000,
        "广东省",
        &[(440300, "深圳市", &[(440304, "福田区"), (440305, "南山区")])],
    ),
];

fn district_json() -> Value {
    let items: Vec<Value> = DISTRICTS
        .iter()
        .map(|(code, name, cities)| {
            let cities: Vec<Value> = cities
                .iter()
                .map(|(code, name, districts)| {
                    let districts: Vec<Value> = districts
                        .iter()
                        .map(|(code, name)| json!({"type": 3, "code": code, "name": name}))
                        .collect();
                    json!({"type": 2, "code": code, "name": name, "sub_list": districts})
                })
                .collect();
            json!({"type": 1, "code": code, "name": name, "sub_list": cities})
        })
        .collect();
    json!({ "items": items })
}

fn district_valid(province: &str, city: &str, district: &str) -> bool {
    let n = |s: &str| s.parse::<i64>().ok();
    let (Some(p), Some(c), Some(d)) = (n(province), n(city), n(district)) else {
        return false;
    };
    DISTRICTS.iter().any(|(pc, _, cities)| {
        *pc == p
            && cities
                .iter()
                .any(|(cc, _, ds)| *cc == c && ds.iter().any(|(dc, _)| *dc == d))
    })
}

// ---------------------------------------------------------------------------------------------
// The endpoints

/// Answers one `/wxa/icp/*` or `/wxa/sec/*_auth_and_icp` request of `appid`'s authorizer token.
/// A refusal with field hints is an `Ok` carrying its own `errcode` (86202) and `hints`.
pub fn dispatch(
    st: &mut State,
    path: &str,
    appid: &AppId,
    form: Option<&Form>,
    body: &[u8],
    now: UnixTime,
) -> Result<Value, WxErr> {
    // Permission set 18 (小程序开发与数据分析) or 156 (小程序备案); the combined flow: 18 only.
    let sets: &[u32] = if path.starts_with("/wxa/sec/") {
        &[18]
    } else {
        &[18, 156]
    };
    let granted = st
        .accounts
        .get(appid)
        .and_then(|a| a.authorization.as_ref())
        .is_some_and(|a| a.func_info.iter().any(|f| sets.contains(f)));
    if !granted {
        return Err(WxErr(61007, "api is unauthorized to component".into()));
    }
    let icp = &mut st.icp;
    match path {
        ENTRANCE_INFO => {
            let app = icp.app(appid);
            let mut info = json!({
                "status": app.status(),
                "is_canceling": false,
                "available": i64::from(app.available),
            });
            if let Some(f) = &app.filing {
                if !f.reasons.is_empty() {
                    info["audit_data"] = json!(f.reasons);
                }
                if let (Stage::AdministrationReview, Some(sms)) = (f.stage, f.sms) {
                    info["sms_verify_status"] = json!(sms.code());
                }
            }
            Ok(json!({ "info": info }))
        }
        ONLINE_ORDER => {
            // The page documents the filed record only; for an app that is not filed the
            // simulator answers no record (errcode 0): the page says nothing of that case.
            let app = icp.app(appid);
            match (&app.filing, &app.record_numbers) {
                (Some(f), Some((subject_no, applet_no))) if f.stage == Stage::Filed => Ok(json!({
                    "icp_subject": {"base_info": {"type": 4, "name": f.subject_name, "record_number": subject_no}},
                    "icp_applets": [{"base_info": {"appid": appid, "name": f.applet_name, "record_number": applet_no}}],
                })),
                _ => Ok(json!({})),
            }
        }
        SUBJECT_TYPES => Ok(json!({"items": SUBJECT_TYPES_TABLE
            .iter()
            .map(|(t, n, r)| json!({"type": t, "name": n, "remark": r}))
            .collect::<Vec<_>>()})),
        CERTIFICATE_TYPES => Ok(json!({"items": CERTIFICATE_TYPES_TABLE
            .iter()
            .map(|(t, s, n)| json!({"type": t, "subject_type": s, "name": n, "remark": ""}))
            .collect::<Vec<_>>()})),
        NRLX_TYPES => Ok(json!({"items": NRLX_TYPES_TABLE
            .iter()
            .map(|(t, n)| json!({"type": t, "name": n}))
            .collect::<Vec<_>>()})),
        SERVICE_CONTENT_TYPES => Ok(json!({"items": SERVICE_CONTENT_TABLE
            .iter()
            .map(|(t, p, n, r)| json!({"type": t, "parent_type": p, "name": n, "remark": r}))
            .collect::<Vec<_>>()})),
        DISTRICT_CODE => Ok(district_json()),
        UPLOAD_MEDIA => upload_media(icp, appid, form, now),
        CREATE_VERIFY_TASK => {
            let m = optional_json_body(body)?;
            let along = m
                .get("along_with_auth")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let task_id = random_alnum(22);
            let ttl = if along {
                TASK_TTL_ALONG_WITH_AUTH
            } else {
                TASK_TTL
            };
            icp.tasks.insert(
                task_id.clone(),
                FaceTask {
                    task_id: task_id.clone(),
                    appid: appid.clone(),
                    along_with_auth: along,
                    expires_at: now + ttl,
                    face_status: 0,
                    used: false,
                },
            );
            let mut answer = json!({ "task_id": task_id });
            if along {
                answer["verify_url"] = json!(format!(
                    "https://mp.weixin.qq.com/wxamp/sim/verify?task_id={task_id}"
                ));
            }
            Ok(answer)
        }
        QUERY_VERIFY_TASK => {
            let m = json_body(body)?;
            let task_id = str_field(&m, "task_id");
            if task_id.is_empty() {
                return Err(WxErr(41001, "task_id missing".into()));
            }
            let t = icp
                .tasks
                .get(task_id)
                .filter(|t| &t.appid == appid)
                .ok_or_else(|| WxErr(86328, "无法找到资源".into()))?;
            if t.expires_at <= now && !matches!(t.face_status, 2 | 3) {
                return Err(WxErr(1, "code过期或不存在".into()));
            }
            let mut answer = json!({
                "is_finish": matches!(t.face_status, 2 | 3),
                "face_status": t.face_status,
            });
            if t.along_with_auth && t.face_status == 3 {
                answer["along_with_auth_result"] = json!(9);
            }
            Ok(answer)
        }
        APPLY => {
            let m = json_body(body)?;
            let app = icp.app(appid).clone();
            refuse_unless_open(&app)?;
            let mut hints = Vec::new();
            let names = check_application(icp, appid, &m, now, false, &mut hints);
            if !hints.is_empty() {
                return Ok(refused(hints, None));
            }
            start_filing(icp, appid, names, None, now);
            Ok(json!({}))
        }
        CANCEL_APPLY => {
            // cancelApplyIcpFiling: only an application still in the platform's review.
            let app = icp.app(appid);
            match app.filing.as_ref().map(|f| f.stage) {
                Some(Stage::PlatformReview) => {
                    app.filing = None;
                    Ok(json!({}))
                }
                Some(Stage::AdministrationReview) => {
                    Err(WxErr(86330, "备案审核订单未处于可以撤回的状态".into()))
                }
                _ => Err(WxErr(86368, "不存在可撤回的审核订单".into())),
            }
        }
        SUBMIT_AUTH_AND_ICP => {
            let m = json_body(body)?;
            let app = icp.app(appid).clone();
            refuse_unless_open(&app)?;
            let in_progress = icp
                .procedures
                .values()
                .any(|p| &p.appid == appid && p.auth == AuthStage::Review);
            if in_progress {
                return Err(WxErr(86324, "当前正在审核中,请勿重复提交".into()));
            }
            let mut hints = Vec::new();
            check_auth_data(icp, appid, &m, now, &mut hints);
            let names = check_application(icp, appid, &m, now, true, &mut hints);
            let procedure_id = random_lower_alnum(32);
            if !hints.is_empty() {
                return Ok(refused(hints, Some(procedure_id)));
            }
            icp.next_orderid += 1;
            icp.procedures.insert(
                procedure_id.clone(),
                Procedure {
                    appid: appid.clone(),
                    auth: AuthStage::Review,
                    reason: String::new(),
                    orderid: 7_000_000 + icp.next_orderid,
                    subject_name: names.0,
                    applet_name: names.1,
                },
            );
            let mut answer = json!({ "procedure_id": procedure_id });
            let pays_itself = m
                .get("auth_data")
                .and_then(|a| a.get("pay_type"))
                .and_then(Value::as_i64)
                == Some(2);
            if pays_itself {
                answer["pay_url"] = json!(format!(
                    "https://mp.weixin.qq.com/wxamp/sim/pay?procedure_id={procedure_id}"
                ));
            }
            Ok(answer)
        }
        QUERY_AUTH_AND_ICP => {
            let m = json_body(body)?;
            let id = str_field(&m, "procedure_id");
            let p = icp
                .procedures
                .get(id)
                .filter(|p| &p.appid == appid)
                .ok_or_else(|| WxErr(86328, "无法找到资源".into()))?;
            let filing = icp
                .apps
                .get(appid)
                .and_then(|a| a.filing.as_ref())
                .filter(|f| f.procedure_id.as_deref() == Some(id));
            Ok(procedure_answer(p, filing))
        }
        _ => Err(WxErr(-1, "system error".into())),
    }
}

/// queryAuthAndIcp's answer. 18, 20, 21, 23, 24 and 25 are the page's; the verification under
/// review, the filing in platform review and the filed state have numbers the stored page does
/// not show: the simulator answers 0, 22 and 26 for them (see the README).
fn procedure_answer(p: &Procedure, filing: Option<&Filing>) -> Value {
    let mut answer = json!({ "orderid": p.orderid });
    let status = match (p.auth, filing) {
        (AuthStage::Review, _) => 0,
        (AuthStage::Refill, _) => {
            answer["refill_reason"] = json!(p.reason);
            18
        }
        (AuthStage::Failed, _) => {
            answer["fail_reason"] = json!(p.reason);
            20
        }
        (AuthStage::Passed, None) => 22,
        (AuthStage::Passed, Some(f)) => {
            let mut audit = json!({});
            if !f.reasons.is_empty() {
                audit["audit_data"] = json!(f.reasons);
            }
            if let (Stage::AdministrationReview, Some(sms)) = (f.stage, f.sms) {
                audit["sms_verify_status"] = json!(sms.code());
            }
            answer["icp_audit"] = audit;
            match f.stage {
                Stage::PlatformReview => 22,
                Stage::PlatformRejected => 23,
                Stage::AdministrationReview => 24,
                Stage::AdministrationRejected => 25,
                Stage::Filed => 26,
            }
        }
    };
    answer["procedure_status"] = json!(status);
    answer
}

/// The filing entrance is closed (`available` 0), or an application is with WeChat already.
fn refuse_unless_open(app: &IcpApp) -> Result<(), WxErr> {
    match app.filing.as_ref().map(|f| f.stage) {
        Some(Stage::PlatformReview | Stage::AdministrationReview) => {
            return Err(WxErr(86324, "当前正在审核中,请勿重复提交".into()))
        }
        // Filed already: the pages give no errcode; the apply page's generic failure.
        Some(Stage::Filed) => return Err(WxErr(86202, "apply icp filing fail".into())),
        _ => {}
    }
    if !app.available {
        // The page says the entrance must be open; it gives no errcode for a closed one.
        return Err(WxErr(86202, "apply icp filing fail".into()));
    }
    Ok(())
}

fn refused(hints: Vec<Value>, procedure_id: Option<String>) -> Value {
    let mut v = json!({
        "errcode": 86202,
        "errmsg": format!("apply icp filing fail rid: {}", wechat_rid()),
        "hints": hints,
    });
    if let Some(p) = procedure_id {
        v["procedure_id"] = json!(p);
    }
    v
}

/// A field the simulator refuses: 86328 (无法找到资源) for a media_id or task it does not know,
/// 40097 (invalid args) for a missing or invalid value.
fn hint(hints: &mut Vec<Value>, errcode: i64, field: &str, msg: &str) {
    hints.push(json!({"errcode": errcode, "err_field": field, "errmsg": msg}));
}

/// Checks an application's `icp_subject`, `icp_applets` and `icp_materials`; answers the
/// subject's and the mini program's names.
fn check_application(
    icp: &Icp,
    appid: &AppId,
    m: &Map<String, Value>,
    now: UnixTime,
    along_with_auth: bool,
    hints: &mut Vec<Value>,
) -> (String, String) {
    let get = |path: &str| -> Option<&Value> {
        let mut v: Option<&Value> = None;
        for (i, part) in path.split('.').enumerate() {
            v = if i == 0 { m.get(part) } else { v?.get(part) };
        }
        v
    };
    let text = |path: &str| get(path).and_then(Value::as_str).unwrap_or("").to_owned();
    let required = |hints: &mut Vec<Value>, path: &str| {
        if text(path).trim().is_empty() {
            hint(hints, 40097, path, "必填字段不能为空");
        }
    };
    let media = |hints: &mut Vec<Value>, path: &str, required: bool| {
        let id = text(path);
        if id.is_empty() {
            if required {
                hint(hints, 40097, path, "必填字段不能为空");
            }
        } else if icp.media.get(&id).is_none_or(|md| &md.appid != appid) {
            hint(hints, 86328, path, "无法找到资源");
        }
    };

    let subject_type = get("icp_subject.base_info.type").and_then(Value::as_i64);
    if !subject_type.is_some_and(|t| SUBJECT_TYPES_TABLE.iter().any(|(st, _, _)| *st == t)) {
        hint(
            hints,
            40097,
            "icp_subject.base_info.type",
            "主体性质不在 query_icp_subject_types 中",
        );
    }
    required(hints, "icp_subject.base_info.name");
    required(hints, "icp_subject.base_info.address");
    if !district_valid(
        &text("icp_subject.base_info.province"),
        &text("icp_subject.base_info.city"),
        &text("icp_subject.base_info.district"),
    ) {
        hint(
            hints,
            40097,
            "icp_subject.base_info.district",
            "省市区不在 query_icp_district_code 中",
        );
    }
    let cert_type = get("icp_subject.organize_info.certificate_type").and_then(Value::as_i64);
    let cert_fits = cert_type.is_some_and(|c| {
        CERTIFICATE_TYPES_TABLE
            .iter()
            .any(|(t, s, _)| *t == c && Some(*s) == subject_type)
    });
    if !cert_fits {
        hint(
            hints,
            40097,
            "icp_subject.organize_info.certificate_type",
            "证件类型与主体性质不符",
        );
    }
    required(hints, "icp_subject.organize_info.certificate_number");
    media(hints, "icp_subject.organize_info.certificate_photo", true);
    for who in ["icp_subject.principal_info", "icp_applets.principal_info"] {
        required(hints, &format!("{who}.name"));
        required(hints, &format!("{who}.certificate_number"));
        let mobile = text(&format!("{who}.mobile"));
        if !(mobile.len() == 11
            && mobile.starts_with('1')
            && mobile.bytes().all(|b| b.is_ascii_digit()))
        {
            hint(hints, 40097, &format!("{who}.mobile"), "手机号码格式不正确");
        }
        media(hints, &format!("{who}.certificate_photo_front"), true);
        media(hints, &format!("{who}.certificate_photo_back"), true);
    }
    // The mini program's responsible person: a finished, successful face check of this app.
    let task_field = "icp_applets.principal_info.verify_task_id";
    let task_id = text(task_field);
    match icp.tasks.get(&task_id).filter(|t| &t.appid == appid) {
        // The combined flow's face check is auth_data.taskid.
        None if task_id.is_empty() && along_with_auth => {}
        None if task_id.is_empty() => hint(hints, 40097, task_field, "必填字段不能为空"),
        None => hint(hints, 86328, task_field, "无法找到资源"),
        Some(t) if t.expires_at <= now => hint(hints, 40097, task_field, "人脸核身任务已过期"),
        Some(t) if t.face_status != 3 => hint(hints, 40097, task_field, "人脸核身未完成"),
        Some(t) if t.along_with_auth != along_with_auth => {
            hint(hints, 40097, task_field, "人脸核身任务的场景不符")
        }
        Some(_) => {}
    }
    if text("icp_applets.base_info.appid") != appid.as_str() {
        hint(
            hints,
            40097,
            "icp_applets.base_info.appid",
            "appid 与调用的小程序不符",
        );
    }
    required(hints, "icp_applets.base_info.name");
    let services: Vec<i64> = get("icp_applets.base_info.service_content_types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let second_level = |t: &i64| {
        SERVICE_CONTENT_TABLE
            .iter()
            .any(|(id, parent, _, _)| id == t && *parent != 0)
    };
    if services.is_empty() || !services.iter().all(second_level) {
        hint(
            hints,
            40097,
            "icp_applets.base_info.service_content_types",
            "只能填写二级服务内容类型",
        );
    }
    if let Some(details) = get("icp_applets.base_info.nrlx_details").and_then(Value::as_array) {
        for d in details {
            let t = d.get("type").and_then(Value::as_i64);
            if !t.is_some_and(|t| NRLX_TYPES_TABLE.iter().any(|(id, _)| *id == t)) {
                hint(
                    hints,
                    40097,
                    "icp_applets.base_info.nrlx_details",
                    "前置审批项类型不在 query_icp_nrlx_types 中",
                );
            }
        }
    }
    if let Some(materials) = get("icp_materials").and_then(Value::as_object) {
        for (k, v) in materials {
            for id in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if icp.media.get(id).is_none_or(|md| &md.appid != appid) {
                    hint(hints, 86328, &format!("icp_materials.{k}"), "无法找到资源");
                }
            }
        }
    }
    (
        text("icp_subject.base_info.name"),
        text("icp_applets.base_info.name"),
    )
}

/// submitAuthAndIcp's `auth_data`.
fn check_auth_data(
    icp: &Icp,
    appid: &AppId,
    m: &Map<String, Value>,
    now: UnixTime,
    hints: &mut Vec<Value>,
) {
    let a = m.get("auth_data").and_then(Value::as_object);
    let num = |k: &str| a.and_then(|a| a.get(k)).and_then(Value::as_i64);
    let text = |k: &str| {
        a.and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    if !num("customer_type").is_some_and(|c| matches!(c, 1 | 12 | 15)) {
        hint(
            hints,
            40097,
            "auth_data.customer_type",
            "企业为1,个体工商户为12,个人为15",
        );
    }
    let taskid = text("taskid");
    let task_ok = icp.tasks.get(&taskid).is_some_and(|t| {
        &t.appid == appid && t.along_with_auth && t.face_status == 3 && t.expires_at > now
    });
    if !task_ok {
        hint(hints, 86328, "auth_data.taskid", "无法找到资源");
    }
    let contact = a.and_then(|a| a.get("contact_info"));
    for k in ["name", "email"] {
        if contact
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            hint(
                hints,
                40097,
                &format!("auth_data.contact_info.{k}"),
                "必填字段不能为空",
            );
        }
    }
    if text("account_name").is_empty() {
        hint(hints, 40097, "auth_data.account_name", "必填字段不能为空");
    }
    if !num("account_name_type").is_some_and(|t| matches!(t, 1 | 2)) {
        hint(hints, 40097, "auth_data.account_name_type", "1 或 2");
    }
    if !num("pay_type").is_some_and(|t| matches!(t, 1 | 2)) {
        hint(hints, 40097, "auth_data.pay_type", "1 或 2");
    }
}

fn start_filing(
    icp: &mut Icp,
    appid: &AppId,
    (subject_name, applet_name): (String, String),
    procedure_id: Option<String>,
    now: UnixTime,
) {
    let app = icp.app(appid);
    app.applications += 1;
    app.filing = Some(Filing {
        stage: Stage::PlatformReview,
        since: now,
        sms: None,
        sms_done_at: None,
        reasons: Vec::new(),
        subject_name,
        applet_name,
        procedure_id,
    });
}

/// uploadIcpMedia: multipart `type` (`image`/`video`), `certificate_type` (required for a
/// certificate's photo), `icp_order_field`, and the file as `media`.
fn upload_media(
    icp: &mut Icp,
    appid: &AppId,
    form: Option<&Form>,
    now: UnixTime,
) -> Result<Value, WxErr> {
    let invalid = || WxErr(40097, "invalid args".into());
    let form = form.ok_or_else(invalid)?;
    let field = |name: &str| form.text(name);
    let kind = field("type").ok_or_else(invalid)?;
    if kind != "image" && kind != "video" {
        return Err(invalid());
    }
    let icp_order_field = field("icp_order_field")
        .filter(|f| !f.is_empty())
        .ok_or_else(invalid)?;
    let certificate_type = match field("certificate_type") {
        Some(c) => Some(c.parse::<i64>().map_err(|_| invalid())?),
        None => None,
    };
    if icp_order_field.contains("certificate_photo") && certificate_type.is_none() {
        return Err(invalid());
    }
    form.part("media")
        .filter(|p| !p.data.is_empty())
        .ok_or_else(invalid)?;
    let media_id = random_alnum(75);
    icp.media.insert(
        media_id.clone(),
        Media {
            appid: appid.clone(),
            kind: kind.clone(),
            icp_order_field,
            certificate_type,
        },
    );
    Ok(json!({ "type": kind, "media_id": media_id, "created_at": now }))
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

/// createIcpVerifyTask takes an empty body or `{"along_with_auth":…}`.
fn optional_json_body(body: &[u8]) -> Result<Map<String, Value>, WxErr> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    json_body(body)
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// The process over time, its decisions and pushes

/// A reviewer's decision on the current stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IcpDecision {
    /// Platform review passes (to the administration, SMS check waiting), or the administration
    /// approves (filed; its SMS check must be done).
    Approve,
    /// The current review rejects, with the fields and why.
    Reject { reasons: Vec<Reason> },
}

/// The responsible person answers the administration's SMS, or lets it time out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsOutcome {
    Done,
    Timeout,
}

/// The verification part of a combined application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AuthDecision {
    /// Verified: the filing starts (platform review).
    Approve,
    /// 打回重填 (procedure status 18).
    Refill { reason: String },
    /// 最终失败 (procedure status 20).
    Fail { reason: String },
}

impl Icp {
    fn decide(
        &mut self,
        appid: &AppId,
        decision: IcpDecision,
        now: UnixTime,
    ) -> anyhow::Result<IcpPush> {
        let next_record = self.next_record + 1;
        let app = self
            .apps
            .get_mut(appid)
            .ok_or_else(|| anyhow::anyhow!("{appid} has applied for no filing"))?;
        let f = app
            .filing
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("{appid} has applied for no filing"))?;
        match (f.stage, decision) {
            (Stage::PlatformReview, IcpDecision::Approve) => {
                f.stage = Stage::AdministrationReview;
                f.sms = Some(Sms::Waiting);
            }
            (Stage::AdministrationReview, IcpDecision::Approve) => {
                if f.sms != Some(Sms::Done) {
                    anyhow::bail!("the administration approves only after the SMS check is done");
                }
                f.stage = Stage::Filed;
                f.sms = None;
                self.next_record = next_record;
                app.record_numbers = Some((
                    format!("京ICP备{:08}号", 20_000_000 + next_record),
                    format!("京ICP备{:08}号-1X", 20_000_000 + next_record),
                ));
            }
            (Stage::PlatformReview, IcpDecision::Reject { reasons }) => {
                f.stage = Stage::PlatformRejected;
                f.reasons = reasons;
            }
            (Stage::AdministrationReview, IcpDecision::Reject { reasons }) => {
                f.stage = Stage::AdministrationRejected;
                f.sms = None;
                f.reasons = reasons;
            }
            (stage, _) => anyhow::bail!("{appid}'s filing is {stage:?}: nothing to decide"),
        }
        f.since = now;
        Ok(IcpPush::Filing {
            appid: appid.clone(),
            status: f.stage.status(),
        })
    }

    fn sms(&mut self, appid: &AppId, outcome: SmsOutcome, now: UnixTime) -> anyhow::Result<()> {
        let f = self
            .apps
            .get_mut(appid)
            .and_then(|a| a.filing.as_mut())
            .filter(|f| f.stage == Stage::AdministrationReview)
            .ok_or_else(|| anyhow::anyhow!("{appid} is not in the administration's review"))?;
        match outcome {
            SmsOutcome::Done => {
                f.sms = Some(Sms::Done);
                f.sms_done_at = Some(now);
            }
            SmsOutcome::Timeout => f.sms = Some(Sms::TimedOut),
        }
        Ok(())
    }

    fn finish_face(
        &mut self,
        appid: &AppId,
        task_id: Option<&str>,
        success: bool,
    ) -> anyhow::Result<IcpPush> {
        let task = match task_id {
            Some(id) => self.tasks.get_mut(id).filter(|t| &t.appid == appid),
            None => self
                .tasks
                .values_mut()
                .filter(|t| &t.appid == appid && !matches!(t.face_status, 2 | 3))
                .max_by_key(|t| t.expires_at),
        }
        .ok_or_else(|| anyhow::anyhow!("{appid} has no face check waiting"))?;
        task.face_status = if success { 3 } else { 2 };
        Ok(IcpPush::Face { task: task.clone() })
    }

    fn decide_auth(&mut self, appid: &AppId, d: AuthDecision, now: UnixTime) -> anyhow::Result<()> {
        let (id, p) = self
            .procedures
            .iter_mut()
            .find(|(_, p)| &p.appid == appid && p.auth == AuthStage::Review)
            .ok_or_else(|| anyhow::anyhow!("{appid} has no verification under review"))?;
        let id = id.clone();
        match d {
            AuthDecision::Approve => p.auth = AuthStage::Passed,
            AuthDecision::Refill { reason } => {
                p.auth = AuthStage::Refill;
                p.reason = reason;
            }
            AuthDecision::Fail { reason } => {
                p.auth = AuthStage::Failed;
                p.reason = reason;
            }
        }
        if p.auth == AuthStage::Passed {
            let names = (p.subject_name.clone(), p.applet_name.clone());
            start_filing(self, appid, names, Some(id), now);
        }
        Ok(())
    }

    /// The automatic steps that are due at `now` (see [`IcpTiming`]).
    fn due(&mut self, now: UnixTime) -> Vec<IcpPush> {
        let timing = self.timing.clone();
        let mut decisions = Vec::new();
        for (appid, app) in &mut self.apps {
            let Some(f) = app.filing.as_mut() else {
                continue;
            };
            let sms_done = f.sms_done_at.unwrap_or(f.since);
            let due = |secs: Option<i64>, from: UnixTime| secs.is_some_and(|s| now >= from + s);
            match (f.stage, f.sms) {
                (Stage::PlatformReview, _) if due(timing.platform_review_secs, f.since) => {
                    decisions.push(appid.clone());
                }
                (Stage::AdministrationReview, Some(Sms::Waiting))
                    if due(timing.sms_timeout_secs, f.since) =>
                {
                    f.sms = Some(Sms::TimedOut);
                }
                (Stage::AdministrationReview, Some(Sms::Done))
                    if due(timing.administration_review_secs, sms_done) =>
                {
                    decisions.push(appid.clone());
                }
                _ => {}
            }
        }
        decisions
            .into_iter()
            .filter_map(|appid| self.decide(&appid, IcpDecision::Approve, now).ok())
            .collect()
    }
}

/// `notify_apply_icpfiling_result` / `notify_icpfiling_verify_result` as captured at the
/// authorization-event URL (an `InfoType` document), or at the message URL as an event.
fn push_document(
    target: PushTarget,
    component_appid: &str,
    user_name: &str,
    now: UnixTime,
    push: &IcpPush,
) -> (&'static str, String) {
    let (kind, fields) = match push {
        IcpPush::Filing { appid, status } => (
            "notify_apply_icpfiling_result",
            format!(
                "<authorizer_appid><![CDATA[{appid}]]></authorizer_appid><beian_status>{status}</beian_status>"
            ),
        ),
        IcpPush::Face { task } => {
            let along = if task.along_with_auth && task.face_status == 3 {
                "<along_with_auth_result>9</along_with_auth_result>"
            } else {
                ""
            };
            (
                "notify_icpfiling_verify_result",
                format!(
                    "<task_id><![CDATA[{}]]></task_id><verify_appid><![CDATA[{}]]></verify_appid><result>{}</result>{along}",
                    task.task_id, task.appid, task.face_status
                ),
            )
        }
    };
    let xml = match target {
        PushTarget::AuthEvent => format!(
            "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[{kind}]]></InfoType>{fields}</xml>"
        ),
        PushTarget::Message => crate::push::audit_xml(user_name, now, kind, &fields),
    };
    (kind, xml)
}

impl Inner {
    /// Sends filing and face-check pushes (after the state lock is released).
    pub(crate) async fn send_icp_pushes(&self, pushes: Vec<IcpPush>) {
        let now = self.now();
        for push in pushes {
            let appid = match &push {
                IcpPush::Filing { appid, .. } => appid.clone(),
                IcpPush::Face { task } => task.appid.clone(),
            };
            let (target, user_name) = {
                let st = self.lock();
                let user_name = st
                    .accounts
                    .get(&appid)
                    .map(|a| a.user_name.clone())
                    .unwrap_or_default();
                (st.icp.push_target, user_name)
            };
            let (kind, xml) =
                push_document(target, &self.config.component_appid, &user_name, now, &push);
            let to = match target {
                PushTarget::AuthEvent => Target::AuthEvent,
                PushTarget::Message => Target::Message {
                    appid: appid.to_string(),
                    user_name,
                },
            };
            self.deliver(to, kind, xml).await;
        }
    }

    /// Runs the filing steps that are due on the sim clock, with their pushes.
    pub(crate) async fn run_icp_timers(&self) {
        let now = self.now();
        let pushes = self.lock().icp.due(now);
        if !pushes.is_empty() {
            self.send_icp_pushes(pushes).await;
        }
    }

    async fn decide_icp(&self, appid: &AppId, d: IcpDecision) -> anyhow::Result<()> {
        let now = self.now();
        let push = self.lock().icp.decide(appid, d, now)?;
        self.send_icp_pushes(vec![push]).await;
        Ok(())
    }

    async fn finish_face_check(
        &self,
        appid: &AppId,
        task_id: Option<&str>,
        success: bool,
    ) -> anyhow::Result<()> {
        let push = self.lock().icp.finish_face(appid, task_id, success)?;
        self.send_icp_pushes(vec![push]).await;
        Ok(())
    }
}

/// A snapshot of one app's filing state and face checks (`GET /_sim/apps/{appid}/icp`).
#[derive(Debug, Clone, Serialize)]
pub struct IcpSnapshot {
    pub app: IcpApp,
    pub status: i64,
    pub face_checks: Vec<FaceTask>,
}

impl Simulator {
    /// Decides the current review of `appid`'s filing and pushes `notify_apply_icpfiling_result`.
    pub async fn decide_icp(&self, appid: &AppId, decision: IcpDecision) -> anyhow::Result<()> {
        self.inner.decide_icp(appid, decision).await
    }

    /// The responsible person answers the administration's SMS check (or lets it time out).
    pub fn icp_sms(&self, appid: &AppId, outcome: SmsOutcome) -> anyhow::Result<()> {
        let now = self.now();
        self.inner.lock().icp.sms(appid, outcome, now)
    }

    /// The administrator finishes a face check (`task_id`, or the app's newest waiting one) and
    /// `notify_icpfiling_verify_result` is pushed.
    pub async fn finish_face_check(
        &self,
        appid: &AppId,
        task_id: Option<&str>,
        success: bool,
    ) -> anyhow::Result<()> {
        self.inner.finish_face_check(appid, task_id, success).await
    }

    /// Decides the verification part of `appid`'s combined application; approval starts the
    /// filing.
    pub fn decide_auth(&self, appid: &AppId, decision: AuthDecision) -> anyhow::Result<()> {
        let now = self.now();
        self.inner.lock().icp.decide_auth(appid, decision, now)
    }

    /// What get_icp_entrance_info reports while nothing is applied for (1024-1031), and whether
    /// the filing entrance is open; an app filed from the start ([`SimConfig::icp_apps_filed`])
    /// becomes not filed.
    pub fn set_icp_entrance(&self, appid: &AppId, not_filed_status: i64, available: bool) {
        let mut st = self.inner.lock();
        let app = st.icp.app(appid);
        app.set_entrance(not_filed_status, available);
    }

    pub fn set_icp_timing(&self, timing: IcpTiming) {
        self.inner.lock().icp.timing = timing;
    }

    pub fn set_icp_push_target(&self, target: PushTarget) {
        self.inner.lock().icp.push_target = target;
    }

    pub fn icp(&self, appid: &AppId) -> IcpSnapshot {
        let st = self.inner.lock();
        let app = st.icp.peek(appid);
        let mut face_checks: Vec<FaceTask> = st
            .icp
            .tasks
            .values()
            .filter(|t| &t.appid == appid)
            .cloned()
            .collect();
        face_checks.sort_by_key(|t| t.expires_at);
        IcpSnapshot {
            status: app.status(),
            app,
            face_checks,
        }
    }

    /// Runs the filing steps due on the sim clock now instead of waiting for the background task.
    pub async fn run_icp_timers(&self) {
        self.inner.run_icp_timers().await
    }
}

// ---------------------------------------------------------------------------------------------
// /_sim controls

type S = AxState<Arc<Inner>>;

pub fn control_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/_sim/apps/{appid}/icp", get(snapshot))
        .route("/_sim/apps/{appid}/icp/decide", post(decide))
        .route("/_sim/apps/{appid}/icp/sms", post(sms))
        .route("/_sim/apps/{appid}/icp/face", post(face))
        .route("/_sim/apps/{appid}/icp/auth", post(auth))
        .route("/_sim/apps/{appid}/icp/entrance", post(entrance))
        .route("/_sim/icp/config", post(config))
        .with_state(inner)
}

/// A `/_sim` control refused: 400 with the reason (the account controls use these too).
pub(crate) fn bad(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg.to_string()})),
    )
        .into_response()
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid body: {e}"))
}

pub(crate) fn app_id(s: &str) -> Result<AppId, String> {
    AppId::parse(s).map_err(|_| "invalid appid".to_owned())
}

async fn snapshot(AxState(inner): S, Path(appid): Path<String>) -> Response {
    let appid = match app_id(&appid) {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    let sim_view = {
        let st = inner.lock();
        let app = st.icp.peek(&appid);
        let tasks: Vec<FaceTask> = st
            .icp
            .tasks
            .values()
            .filter(|t| t.appid == appid)
            .cloned()
            .collect();
        json!({"status": app.status(), "app": app, "face_checks": tasks})
    };
    Json(sim_view).into_response()
}

async fn decide(AxState(inner): S, Path(appid): Path<String>, body: axum::body::Bytes) -> Response {
    let (appid, d) = match (app_id(&appid), parse::<IcpDecision>(&body)) {
        (Ok(a), Ok(d)) => (a, d),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    match inner.decide_icp(&appid, d).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct SmsBody {
    outcome: SmsOutcome,
}

async fn sms(AxState(inner): S, Path(appid): Path<String>, body: axum::body::Bytes) -> Response {
    let (appid, b) = match (app_id(&appid), parse::<SmsBody>(&body)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let now = inner.now();
    let r = inner.lock().icp.sms(&appid, b.outcome, now);
    match r {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct FaceBody {
    #[serde(default)]
    task_id: Option<String>,
    success: bool,
}

async fn face(AxState(inner): S, Path(appid): Path<String>, body: axum::body::Bytes) -> Response {
    let (appid, b) = match (app_id(&appid), parse::<FaceBody>(&body)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    match inner
        .finish_face_check(&appid, b.task_id.as_deref(), b.success)
        .await
    {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => bad(e),
    }
}

async fn auth(AxState(inner): S, Path(appid): Path<String>, body: axum::body::Bytes) -> Response {
    let (appid, d) = match (app_id(&appid), parse::<AuthDecision>(&body)) {
        (Ok(a), Ok(d)) => (a, d),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let now = inner.now();
    let r = inner.lock().icp.decide_auth(&appid, d, now);
    match r {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct EntranceBody {
    status: i64,
    #[serde(default = "yes")]
    available: bool,
}

fn yes() -> bool {
    true
}

async fn entrance(
    AxState(inner): S,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (appid, b) = match (app_id(&appid), parse::<EntranceBody>(&body)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    if !(1024..=1031).contains(&b.status) {
        return bad("status must be 1024-1031 (未备案 and what is missing)");
    }
    let mut st = inner.lock();
    let app = st.icp.app(&appid);
    app.set_entrance(b.status, b.available);
    Json(json!({})).into_response()
}

#[derive(Deserialize)]
struct ConfigBody {
    #[serde(flatten)]
    timing: IcpTiming,
    #[serde(default)]
    push_target: Option<PushTarget>,
}

async fn config(AxState(inner): S, body: axum::body::Bytes) -> Response {
    let b = match parse::<ConfigBody>(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let negative = [
        b.timing.platform_review_secs,
        b.timing.administration_review_secs,
        b.timing.sms_timeout_secs,
    ]
    .into_iter()
    .flatten()
    .any(|s| s < 0);
    if negative {
        return bad("durations are seconds, not negative");
    }
    let mut st = inner.lock();
    st.icp.timing = b.timing;
    if let Some(t) = b.push_target {
        st.icp.push_target = t;
    }
    Json(json!({})).into_response()
}
