//! # wechat-sim — a WeChat Open Platform (第三方平台) simulator
//!
//! Test equipment: every test of wxopen talks to this instead of `https://api.weixin.qq.com`.
//! It follows `shared/reference/wechat-api.md` to the field and errcode. Start it in-process with
//! [`Simulator::start`] (binds `127.0.0.1:0`) and point the WeChat client's base URL at
//! [`Simulator::base_url`], or run the `wechat-sim` binary.
//!
//! ## Time
//! All lifetimes (tokens 7200 s, pre_auth_code and auth codes 600 s, tickets 12 h, audit
//! auto-approval, daily quotas) use the **sim clock**: `config.clock.now()` plus an offset that
//! `POST /_sim/clock/advance {"secs":N}` adds to (works with any clock, also the system clock).
//! Tests that pass a [`wxopen::domain::ManualClock`] can also move it directly.
//! Daily quotas and the withdrawal limit reset at midnight China time (UTC+8).
//! `audit_auto_approve_after` counts **sim-clock** seconds from submission; a background task
//! checks for due audits every 100 ms (real time), and every request checks too.
//!
//! ## WeChat API (same paths as WeChat)
//! One list routes them (`api::ROUTES`: path, method, token, handler), held equal to the
//! client's `wxopen::wechat::endpoint::ENDPOINTS` by a test.
//! Component token (`component_access_token=` or `access_token=`):
//! `POST /cgi-bin/component/api_component_token` (no token), `api_create_preauthcode`,
//! `api_query_auth`, `api_authorizer_token`, `api_get_authorizer_info`, `api_get_authorizer_list`,
//! `api_start_push_ticket` (no token needed), `clear_quota/v2` (no token, appsecret),
//! `GET /wxa/gettemplatedraftlist`, `POST /wxa/addtotemplate`, `GET /wxa/gettemplatelist`,
//! `POST /wxa/deletetemplate`, `modify_wxa_jump_domain`, `modify_wxa_server_domain`,
//! `get_domain_confirmfile`.
//! Either token: `POST /cgi-bin/openapi/quota/get`, `POST /cgi-bin/openapi/rid/get`,
//! `POST /cgi-bin/clear_quota` (the token's own account).
//! Authorizer token (`access_token=`, permission set 18): `/wxa/commit`, `get_qrcode` (a real JPEG,
//! `Content-Type: image/jpeg`), `get_category`, `get_page`, `submit_audit`, `get_auditstatus`,
//! `get_latest_auditstatus`, `undocodeaudit`, `speedupaudit`, `release`, `revertcoderelease`,
//! `change_visitstatus`, `getvisitstatus`, `grayrelease`, `getgrayreleaseplan`,
//! `revertgrayrelease`, `modify_domain` (gated by the platform's server domains once set),
//! `modify_domain_directly`, `get_effective_domain`, `setwebviewdomain`,
//! `setwebviewdomain_directly`, `queryquota`, `uploadmedia` (multipart), `getwxacodeunlimit`
//! (a PNG), `getwxacode` (a PNG) and `cgi-bin/wxaapp/createwxaqrcode` (a JPEG), 100,000 per app
//! together (45029), `security/apply_privacy_interface`, `security/get_privacy_interface`,
//! `security/get_code_privacy_info`, and with permission set 76 too `getillegalrecords`,
//! `getappealrecords` (the penalties `/_sim/accounts/{appid}/punish` imposes, pushed as
//! `wxa_punish_event`). The README has every behaviour and errcode.
//! ICP filing (authorizer token, permission set 18 or 156; see the README's "ICP filing"):
//! `GET /wxa/icp/get_icp_entrance_info`, `get_online_icp_order`, `query_icp_subject_types`,
//! `query_icp_certificate_types`, `query_icp_district_code`, `query_icp_nrlx_types`,
//! `query_icp_service_content_types`; `POST /wxa/icp/upload_icp_media` (multipart),
//! `create_icp_verifytask`, `query_icp_verifytask`, `apply_icp_filing`,
//! `cancel_apply_icp_filing`, `/wxa/sec/submit_auth_and_icp`, `/wxa/sec/query_auth_and_icp`.
//! Account setup (see the README's "Registration and profile"): component token
//! `POST /cgi-bin/component/fastregisterweapp?action=create|search`,
//! `/wxa/component/fastregisterpersonalweapp?action=create|query`,
//! `/wxa/component/fastregisterbetaweapp`; authorizer token `POST /cgi-bin/account/fastregister`
//! (an official account's), `/wxa/verifybetaweapp`, `/wxa/setbetaweappnickname`,
//! `/cgi-bin/account/getaccountbasicinfo`, `/wxa/setnickname`, `/wxa/api_wxa_querynickname`,
//! `/cgi-bin/wxverify/checkwxverifynickname`, `/cgi-bin/media/upload` (multipart),
//! `/cgi-bin/account/modifyheadimage`, `/cgi-bin/account/modifysignature`,
//! `GET /wxa/getwxasearchstatus`, `POST /wxa/changewxasearchstatus`,
//! `GET /cgi-bin/wxopen/getallcategories`, `GET /cgi-bin/wxopen/getcategory`,
//! `POST /cgi-bin/wxopen/addcategory`, `deletecategory`, `modifycategory`.
//! Wrong HTTP method: 43001 (require GET) / 43002 (require POST). Unknown path: HTTP 404 with
//! `{"errcode":-1,...}`. Malformed JSON: 47001. Empty body where one is needed: 44002.
//!
//! ## Consent pages
//! `GET /cgi-bin/componentloginpage`, `GET /safe/bindcomponent`, `GET /wxaopen/safe/bindcomponent`
//! (query `component_appid, pre_auth_code, redirect_uri, auth_type, biz_appid`). A bad appid or an
//! unknown/expired/used pre_auth_code answers **HTTP 400** with a small HTML error page. Otherwise
//! an HTML page lists the accounts (filtered by `auth_type` 1 公众号 / 2 小程序 / 3 both, and by
//! `biz_appid`) with a form per account that POSTs to `/_sim/consent/approve`
//! (`pre_auth_code, redirect_uri, appid, func_info` repeated). Approval consumes the pre_auth_code,
//! pushes `authorized` and answers 302 to `redirect_uri?auth_code=…&expires_in=600`.
//!
//! ## Control API (JSON)
//! | method & path | body / answer |
//! |---|---|
//! | `GET /_sim/config` | component appid, secret, token, key, URLs |
//! | `POST /_sim/ticket` | pushes a new ticket → `{"ticket"}` |
//! | `GET /_sim/ticket` | `{"ticket","previous"}` |
//! | `POST /_sim/accounts` | `{"kind":"mini_program"\|"official_account","appid"?,"nick_name"?,"principal_name"?}` → `{"appid","user_name"}` |
//! | `GET /_sim/accounts`, `GET /_sim/accounts/{appid}` | account state (authorization, code state) |
//! | `POST /_sim/accounts/{appid}/authorize` | `{"func_info":[17,18]}` → `{"auth_code"}`, pushes `authorized` |
//! | `POST /_sim/accounts/{appid}/update_authorization` | `{"func_info":[…]}` → `{"auth_code"}`, pushes `updateauthorized` |
//! | `POST /_sim/accounts/{appid}/unauthorize` | pushes `unauthorized` |
//! | `POST /_sim/accounts/{appid}/audit/decide` | `{"outcome":"success"\|"fail"\|"delay","reason"?,"screenshots"?:[…]}` |
//! | `GET /_sim/counters`, `DELETE /_sim/counters` | calls per endpoint path |
//! | `GET/POST/DELETE /_sim/faults` | `{"endpoint"?,"latency_ms"?,"error_rate"?,"timeout"?,"lose_answer"?,"apply_late"?,"errcode"?,"errmsg"?,"times"?,"after"?,"meanwhile"?}` (`apply_late`: applied after `latency_ms` even if the caller gave up; `after`: requests let through first; `meanwhile`: `{"unauthorize":"wx…"}` or `{"authorize":"wx…"}` just before the answer) |
//! | `POST /_sim/quotas` | `{"/cgi-bin/...": N}` daily quotas (merged) |
//! | `POST /_sim/audit_quota` | `{"rest","limit","speedup_rest","speedup_limit"}` (queryquota) |
//! | `POST /_sim/templates` | `{"template_id","user_version","user_desc"?}` |
//! | `POST /_sim/drafts` | `{"draft_id","user_version","user_desc"?}` |
//! | `POST /_sim/tokens/expire` | expires every access token |
//! | `GET /_sim/clock`, `POST /_sim/clock/advance` | `{"now"}` / `{"secs":N}` |
//! | `GET /_sim/pushes`, `DELETE /_sim/pushes` | push deliveries with plaintext, attempts, result |
//! | `POST /_sim/server_domains` | `["host", …]`: the platform's server domains |
//! | `POST /_sim/privacy_applications` | `{"required": bool}` |
//! | `POST /_sim/accounts/{appid}/privacy_applications/decide` | `{"api_name","approve","fail_reason"?}` |
//! | `POST /_sim/fast_register` | pushes `notify_third_fasteregister` (see README) |
//! | `GET /_sim/apps/{appid}/icp`, `POST …/icp/decide`, `…/icp/sms`, `…/icp/face`, `…/icp/auth`, `…/icp/entrance` | the filing's state and decisions (README "Control API") |
//! | `POST /_sim/icp/config` | `{"platform_review_secs"?,"administration_review_secs"?,"sms_timeout_secs"?,"push_target"?}` |
//! | `GET /_sim/registrations`, `POST /_sim/registrations/{id}/decide` | registration tasks; `{"outcome":"confirm"}` or `{"outcome":"fail","reason"?,"status"?}` |
//! | `POST /_sim/official_accounts/{appid}/register_ticket`, `GET/POST /_sim/apps/{appid}/profile`, `POST …/nickname/decide`, `…/categories/decide` | account setup (README "Control API") |
//! | `POST /_sim/account_setup/config` | `{"confirm_secs"?,"nickname_review_secs"?,"category_review_secs"?,"taken_names"?,"keyword_names"?}` |
//! | `POST /_sim/server_domains/refusal` | `{"errcode":85017\|85301}` |
//! | `POST /_sim/consent/approve` | form: `pre_auth_code, redirect_uri, appid, func_info…` → 302 |

mod account;
mod api;
mod control;
mod form;
mod icp;
mod push;
mod qrcode;
mod services;
mod state;
mod violations;

pub use account::{
    NicknameAudit as SetupNicknameAudit, Profile as SetupProfile, Registration,
    RegistrationDecision, RegistrationKind, RegistrationResult, RegistrationStage,
    Review as SetupReview, SetCategory, SetupTiming,
};
pub use icp::{
    AuthDecision, FaceTask, Filing, IcpApp, IcpDecision, IcpSnapshot, IcpTiming, PushTarget,
    Reason as IcpReason, Sms, SmsOutcome, Stage as IcpStage,
};
pub use push::FastRegisterResult;
pub use services::{AddedTemplate, SentMessage};
pub use state::{month_of, Account, Audit, CodeState, PushRecord};
pub use violations::Punishment;

use anyhow::{anyhow, bail, Context};
use push::Target;
use serde::{Deserialize, Serialize};
use state::State;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wxopen::crypto::MsgCrypt;
use wxopen::domain::{AppId, AuditStatus, Clock, SystemClock, UnixTime};

/// How the simulator is set up.
#[derive(Clone)]
pub struct SimConfig {
    pub component_appid: String,
    pub component_appsecret: String,
    pub token: String,
    pub encoding_aes_key: String,
    /// 授权事件接收URL: tickets and authorized/updateauthorized/unauthorized are POSTed here.
    pub auth_event_url: Option<String>,
    /// 消息与事件接收URL, may contain `$APPID$` (replaced by the mini program's appid).
    pub message_url: Option<String>,
    /// Push a fresh ticket this often (real time); None = only on demand.
    pub ticket_interval: Option<Duration>,
    /// Daily quota per endpoint path (e.g. "/cgi-bin/component/api_component_token" -> 2000).
    pub daily_quotas: HashMap<String, u64>,
    /// Approve a submitted audit automatically after this much **sim-clock** time.
    /// None = only by [`Simulator::decide_audit`] / the control API.
    pub audit_auto_approve_after: Option<Duration>,
    /// Whether api_authorizer_token hands out a new refresh token each time (the old one then
    /// answers 61023).
    pub rotate_refresh_tokens: bool,
    /// Whether mini programs start ICP-filed (get_icp_entrance_info status 6 with record
    /// numbers), as live ones are since 2024-03-31: wxopen's release guard then lets them go
    /// live. `POST /_sim/apps/{appid}/icp/entrance {"status":1024}` makes one not filed.
    /// Default false: status 1024 until an application (the filing tests' start).
    pub icp_apps_filed: bool,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("component_appid", &self.component_appid)
            .field("auth_event_url", &self.auth_event_url)
            .field("message_url", &self.message_url)
            .field("ticket_interval", &self.ticket_interval)
            .field("daily_quotas", &self.daily_quotas)
            .field("audit_auto_approve_after", &self.audit_auto_approve_after)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            component_appid: state::random_appid().to_string(),
            component_appsecret: state::random_lower_alnum(32),
            token: state::random_alnum(16),
            encoding_aes_key: state::random_alnum(43),
            auth_event_url: None,
            message_url: None,
            ticket_interval: None,
            daily_quotas: HashMap::new(),
            audit_auto_approve_after: None,
            rotate_refresh_tokens: false,
            icp_apps_filed: false,
            clock: Arc::new(SystemClock),
        }
    }
}

/// A mini program or an official account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    #[default]
    MiniProgram,
    OfficialAccount,
}

/// What to create with [`Simulator::add_account`]; unset fields get generated values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSpec {
    pub kind: AccountKind,
    pub appid: Option<AppId>,
    pub nick_name: Option<String>,
    pub principal_name: Option<String>,
}

impl AccountSpec {
    pub fn mini_program() -> Self {
        AccountSpec::default()
    }
    pub fn official_account() -> Self {
        AccountSpec {
            kind: AccountKind::OfficialAccount,
            ..AccountSpec::default()
        }
    }
}

/// How an audit ends (or is delayed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    Fail {
        reason: String,
        #[serde(default)]
        screenshots: Vec<String>,
    },
    Delay {
        reason: String,
    },
}

/// A fault knob. `endpoint` None applies to every WeChat API path (never to `/_sim/…`).
/// Per request, the first matching fault is used: sleep `latency`, then `timeout` (sleep 60 s,
/// then answer -1), else `lose_answer` (the call is APPLIED, then its answer is held 60 s and
/// replaced by -1: to the caller, whose timeout is shorter, the answer is lost, as when WeChat
/// applied a call whose answer never arrived), else `forced_errcode`, else -1 with probability
/// `error_rate`. `times`: how many requests it affects before it is removed (None = until cleared).
///
/// A caller that gives up (times out, disconnects) cancels its request: during `latency` that
/// means "never applied". With `apply_late` the request's work is detached from the connection
/// instead: after `latency` the call is applied whether or not its caller is still there ("applied
/// late", as WeChat behind its proxies may apply a request whose client timed out);
/// [`Simulator::settle_late_calls`] waits until every such call is done.
///
/// `after` lets that many matching requests through before the fault starts; `meanwhile` changes
/// the world (a merchant revokes or authorizes) just before the faulted request is answered.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    pub endpoint: Option<String>,
    pub latency: Duration,
    pub error_rate: f64,
    pub timeout: bool,
    /// Apply the call, then lose its answer (see above).
    pub lose_answer: bool,
    pub forced_errcode: Option<(i64, String)>,
    pub times: Option<u32>,
    /// Apply the call after `latency` even if its caller gave up meanwhile (see above).
    pub apply_late: bool,
    /// Matching requests let through untouched before the fault starts (1: the second request
    /// is the first one faulted).
    pub after: u32,
    /// What a merchant does at WeChat just before a faulted request is answered.
    pub meanwhile: Option<Meanwhile>,
}

/// A merchant acting at WeChat while a request is in flight (a list that shifts between two
/// page reads): applied, with its push, just before the faulted request is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meanwhile {
    /// The merchant revokes the authorization.
    Unauthorize(AppId),
    /// The merchant authorizes (again), with permission sets 17 and 18: a new refresh token.
    Authorize(AppId),
}

/// How long a `timeout` fault holds the request before answering -1.
pub const TIMEOUT_HOLD: Duration = Duration::from_secs(60);

pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) crypt: MsgCrypt,
    pub(crate) http: reqwest::Client,
    state: Mutex<State>,
    /// `apply_late` requests whose work is not done yet.
    pub(crate) late_calls: tokio::sync::watch::Sender<usize>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now(&self) -> UnixTime {
        let offset = self.lock().clock_offset;
        self.config.clock.now() + offset
    }

    pub(crate) async fn push_ticket(&self) -> String {
        let ticket = format!("ticket@@@{}", state::random_token(""));
        let now = self.now();
        self.lock().record_ticket(ticket.clone(), now);
        let xml = push::ticket_xml(&self.config.component_appid, now, &ticket);
        self.deliver(Target::AuthEvent, "component_verify_ticket", xml)
            .await;
        ticket
    }

    /// Consent approval (with or without a pre_auth_code): grants, pushes `authorized`.
    pub(crate) async fn authorize(
        &self,
        appid: &AppId,
        func_info: &[u32],
        pre_auth_code: &str,
    ) -> anyhow::Result<String> {
        let now = self.now();
        let code = self
            .lock()
            .grant(appid, func_info, now)
            .ok_or_else(|| anyhow!("unknown account {appid}"))?;
        let xml = push::authorized_xml(
            "authorized",
            &self.config.component_appid,
            now,
            appid.as_str(),
            &code,
            now + state::CODE_TTL,
            pre_auth_code,
        );
        self.deliver(Target::AuthEvent, "authorized", xml).await;
        Ok(code)
    }

    pub(crate) async fn update_authorization(
        &self,
        appid: &AppId,
        func_info: &[u32],
    ) -> anyhow::Result<String> {
        let now = self.now();
        let code = {
            let mut st = self.lock();
            let acc = st
                .accounts
                .get_mut(appid)
                .ok_or_else(|| anyhow!("unknown account {appid}"))?;
            let auth = acc
                .authorization
                .as_mut()
                .ok_or_else(|| anyhow!("account {appid} is not authorized"))?;
            auth.func_info = func_info.to_vec();
            st.new_auth_code(appid, now)
        };
        let pre = state::random_token("preauthcode@@@");
        let xml = push::authorized_xml(
            "updateauthorized",
            &self.config.component_appid,
            now,
            appid.as_str(),
            &code,
            now + state::CODE_TTL,
            &pre,
        );
        self.deliver(Target::AuthEvent, "updateauthorized", xml)
            .await;
        Ok(code)
    }

    pub(crate) async fn unauthorize(&self, appid: &AppId) -> anyhow::Result<()> {
        let now = self.now();
        {
            let mut st = self.lock();
            let acc = st
                .accounts
                .get_mut(appid)
                .ok_or_else(|| anyhow!("unknown account {appid}"))?;
            if acc.authorization.take().is_none() {
                bail!("account {appid} is not authorized");
            }
            st.tokens.retain(|_, t| t.appid.as_ref() != Some(appid));
            st.auth_codes.retain(|_, c| &c.appid != appid);
        }
        let xml = push::unauthorized_xml(&self.config.component_appid, now, appid.as_str());
        self.deliver(Target::AuthEvent, "unauthorized", xml).await;
        Ok(())
    }

    /// A fast-registration task finished: a successful one creates the mini program, authorized
    /// with permission sets 17 and 18 and a fresh auth code, then the push is delivered.
    pub(crate) async fn fast_register(
        &self,
        mut result: FastRegisterResult,
    ) -> anyhow::Result<FastRegisterResult> {
        let now = self.now();
        if result.status == 0 {
            let appid = match result.appid.as_deref() {
                Some(a) => AppId::parse(a).map_err(|e| anyhow!("{e}"))?,
                None => state::random_appid(),
            };
            let mut spec = AccountSpec::mini_program();
            spec.appid = Some(appid.clone());
            if !result.name.is_empty() {
                spec.principal_name = Some(result.name.clone());
            }
            self.add_account(spec);
            let code = self
                .lock()
                .grant(&appid, &[17, 18], now)
                .ok_or_else(|| anyhow!("account {appid} was not created"))?;
            result.appid = Some(appid.to_string());
            result.auth_code = Some(code);
            if result.msg.is_empty() {
                result.msg = "OK".into();
            }
        }
        let xml = push::fast_register_xml(&self.config.component_appid, now, &result);
        self.deliver(Target::AuthEvent, "notify_third_fasteregister", xml)
            .await;
        Ok(result)
    }

    pub(crate) async fn decide_audit(
        &self,
        appid: &AppId,
        outcome: AuditOutcome,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let (user_name, event, extra) = {
            let mut st = self.lock();
            let acc = st
                .accounts
                .get_mut(appid)
                .ok_or_else(|| anyhow!("unknown account {appid}"))?;
            let user_name = acc.user_name.clone();
            let audit = acc
                .code
                .pending_audit_mut()
                .ok_or_else(|| anyhow!("account {appid} has no audit in progress"))?;
            audit.auto_approve_at = None;
            match &outcome {
                AuditOutcome::Success => {
                    audit.status = AuditStatus::Approved;
                    audit.reason.clear();
                    audit.screenshot.clear();
                    (
                        user_name,
                        "weapp_audit_success",
                        format!("<SuccTime>{now}</SuccTime>"),
                    )
                }
                AuditOutcome::Fail {
                    reason,
                    screenshots,
                } => {
                    audit.status = AuditStatus::Rejected;
                    audit.reason = reason.clone();
                    audit.screenshot = screenshots.join("|");
                    (
                        user_name,
                        "weapp_audit_fail",
                        format!(
                            "<Reason><![CDATA[{reason}]]></Reason><FailTime>{now}</FailTime><ScreenShot><![CDATA[{}]]></ScreenShot>",
                            audit.screenshot
                        ),
                    )
                }
                AuditOutcome::Delay { reason } => {
                    audit.status = AuditStatus::Delayed;
                    audit.reason = reason.clone();
                    (
                        user_name,
                        "weapp_audit_delay",
                        format!(
                            "<Reason><![CDATA[{reason}]]></Reason><DelayTime>{now}</DelayTime>"
                        ),
                    )
                }
            }
        };
        let xml = push::audit_xml(&user_name, now, event, &extra);
        self.deliver(
            Target::Message {
                appid: appid.to_string(),
                user_name,
            },
            event,
            xml,
        )
        .await;
        Ok(())
    }

    /// Approves every audit whose auto-approval time has come.
    pub(crate) async fn run_auto_approvals(&self) {
        let now = self.now();
        let due: Vec<AppId> = {
            let st = self.lock();
            st.accounts
                .values()
                .filter(|a| {
                    a.code.audits.iter().any(|au| {
                        au.status.is_pending() && au.auto_approve_at.is_some_and(|t| t <= now)
                    })
                })
                .map(|a| a.appid.clone())
                .collect()
        };
        for appid in due {
            if let Err(e) = self.decide_audit(&appid, AuditOutcome::Success).await {
                tracing::warn!(%appid, error = %e, "auto-approval failed");
            }
        }
    }

    pub(crate) fn add_account(&self, spec: AccountSpec) -> AppId {
        let appid = spec.appid.unwrap_or_else(state::random_appid);
        let n = {
            let st = self.lock();
            st.accounts.len() + 1
        };
        let kind_name = match spec.kind {
            AccountKind::MiniProgram => "小程序",
            AccountKind::OfficialAccount => "公众号",
        };
        let account = state::Account {
            appid: appid.clone(),
            kind: spec.kind,
            nick_name: spec
                .nick_name
                .unwrap_or_else(|| format!("模拟{kind_name}{n}")),
            user_name: format!("gh_{}", state::random_lower_alnum(12)),
            principal_name: spec
                .principal_name
                .unwrap_or_else(|| format!("模拟商户{n}有限公司")),
            signature: format!("simulated {kind_name} #{n}"),
            head_img: format!("http://wx.qlogo.cn/mmopen/sim{n}/0"),
            categories: vec![state::Category {
                first_class: "工具".into(),
                second_class: "备忘录".into(),
                first_id: 1,
                second_id: 2,
            }],
            authorization: None,
            code: state::CodeState {
                next_app_version: 1,
                visit_open: true,
                ..Default::default()
            },
        };
        self.lock().accounts.insert(appid.clone(), account);
        appid
    }
}

/// A running simulator. Dropping it stops the server and its background tasks.
pub struct Simulator {
    inner: Arc<Inner>,
    addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Simulator {
    /// Starts on `127.0.0.1:0` (a random free port).
    pub async fn start(config: SimConfig) -> anyhow::Result<Simulator> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> anyhow::Result<Simulator> {
        AppId::parse(&config.component_appid).context("component_appid")?;
        let crypt = MsgCrypt::new(
            &config.token,
            &config.encoding_aes_key,
            &config.component_appid,
        )
        .map_err(|e| anyhow!("encoding_aes_key: {e}"))?;
        let http = wxopen::https::reqwest_builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("http client")?;
        let mut state = State {
            daily_quotas: config.daily_quotas.clone(),
            next_auditid: 400_000_000,
            ..State::default()
        };
        state.icp.apps_filed = config.icp_apps_filed;
        let inner = Arc::new(Inner {
            config,
            crypt,
            http,
            state: Mutex::new(state),
            late_calls: tokio::sync::watch::Sender::new(0),
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("bind {addr}"))?;
        let addr = listener.local_addr()?;
        let app = control::router(inner.clone())
            .merge(services::control_router(inner.clone()))
            .merge(icp::control_router(inner.clone()))
            .merge(violations::control_router(inner.clone()))
            .merge(account::control_router(inner.clone()))
            .merge(api::router(inner.clone()));
        let mut tasks = vec![tokio::spawn(async move {
            // The caller's address is the one the IP whitelist (61004) checks.
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        })];
        {
            let inner = inner.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    inner.run_auto_approvals().await;
                    inner.run_icp_timers().await;
                    inner.run_setup_timers().await;
                }
            }));
        }
        if let Some(every) = inner.config.ticket_interval {
            let inner = inner.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    inner.push_ticket().await;
                    tokio::time::sleep(every).await;
                }
            }));
        }
        Ok(Simulator { inner, addr, tasks })
    }

    /// `http://127.0.0.1:PORT`: use it where the client would use `https://api.weixin.qq.com`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// Sim-clock now (the configured clock plus the control API's offset).
    pub fn now(&self) -> UnixTime {
        self.inner.now()
    }

    /// Moves the sim clock forward (an offset on top of the configured clock).
    pub fn advance_clock(&self, secs: i64) {
        self.inner.lock().clock_offset += secs;
    }

    /// Issues a new ticket, pushes it (if `auth_event_url` is set; awaited, with retries) and
    /// returns it. The ticket is valid even if delivery failed.
    pub async fn push_ticket(&self) -> anyhow::Result<String> {
        Ok(self.inner.push_ticket().await)
    }

    pub fn current_ticket(&self) -> Option<String> {
        self.inner.lock().current_ticket().map(|t| t.value.clone())
    }

    pub fn add_account(&self, spec: AccountSpec) -> AppId {
        self.inner.add_account(spec)
    }

    /// A snapshot of one account (authorization, code state).
    pub fn account(&self, appid: &AppId) -> Option<Account> {
        self.inner.lock().accounts.get(appid).cloned()
    }

    /// As if the admin approved in the consent page (no pre_auth_code needed): a new refresh
    /// token (the old one answers 61023), a new auth code, and an `authorized` push.
    pub async fn authorize(&self, appid: &AppId, func_info: &[u32]) -> anyhow::Result<String> {
        let pre = state::random_token("preauthcode@@@");
        self.inner.authorize(appid, func_info, &pre).await
    }

    /// Removes the authorization (tokens and refresh token stop working), pushes `unauthorized`.
    pub async fn unauthorize(&self, appid: &AppId) -> anyhow::Result<()> {
        self.inner.unauthorize(appid).await
    }

    /// Changes the granted permission sets and pushes `updateauthorized` with a new auth code.
    /// The refresh token stays valid (only a new consent-page authorization replaces it).
    pub async fn update_authorization(
        &self,
        appid: &AppId,
        func_info: &[u32],
    ) -> anyhow::Result<String> {
        self.inner.update_authorization(appid, func_info).await
    }

    /// Decides the pending audit of `appid` and pushes the matching `weapp_audit_*` event to the
    /// message URL. `Delay` leaves the audit pending (a final decision must follow).
    pub async fn decide_audit(&self, appid: &AppId, outcome: AuditOutcome) -> anyhow::Result<()> {
        self.inner.decide_audit(appid, outcome).await
    }

    /// Holds back pushes of `kind` (e.g. `authorized`): recorded but not delivered until
    /// [`Simulator::release_held_pushes`] — a push that is late, or (never released) lost.
    pub fn hold_pushes(&self, kind: &str) {
        self.inner.lock().held_kinds.insert(kind.to_owned());
    }

    /// Stops holding every kind and delivers what was held; answers how many.
    pub async fn release_held_pushes(&self) -> usize {
        self.inner.lock().held_kinds.clear();
        self.inner.release_held().await
    }

    /// Calls that reached `endpoint_path` (all answers, errors and faults included).
    pub fn calls(&self, endpoint_path: &str) -> u64 {
        self.inner
            .lock()
            .calls
            .get(endpoint_path)
            .copied()
            .unwrap_or(0)
    }

    /// How many api_authorizer_token calls presented a refresh token that an earlier call had
    /// already presented (with `rotate_refresh_tokens`, each of those answers 61023 unless it
    /// was the live one). A refresher that never lets two processes use one token keeps this 0.
    pub fn refresh_token_reuses(&self) -> u64 {
        self.inner.lock().refresh_token_reuses
    }

    pub fn all_calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.inner.lock().calls.clone()
    }

    pub fn reset_calls(&self) {
        let mut st = self.inner.lock();
        st.calls.clear();
        st.daily_calls.clear();
    }

    pub fn set_fault(&self, fault: Fault) {
        let remaining = fault.times;
        self.inner
            .lock()
            .faults
            .push(state::ActiveFault { fault, remaining });
    }

    pub fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }

    /// `apply_late` requests still at work (their caller may be long gone).
    pub fn late_calls(&self) -> usize {
        *self.inner.late_calls.borrow()
    }

    /// Waits until every `apply_late` request that has arrived is applied (and answered, if its
    /// caller was still there): a test then sees the world as WeChat left it, without sleeping.
    pub async fn settle_late_calls(&self) {
        let mut rx = self.inner.late_calls.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Sets (or replaces) the daily quota of one endpoint path, counted per account: each
    /// authorizer on its own, and the platform for calls without an authorizer token.
    pub fn set_daily_quota(&self, endpoint_path: &str, quota: u64) {
        self.inner
            .lock()
            .daily_quotas
            .insert(endpoint_path.to_owned(), quota);
    }

    /// Seeds the template library (as if a draft had been added with addtotemplate), its code
    /// having the one page `pages/index/index`.
    pub fn add_template(&self, template_id: u64, user_version: &str) {
        self.add_template_with_pages(template_id, user_version, &["pages/index/index"]);
    }

    /// Makes a template's code call these privacy interfaces (`wx.getLocation`…): a commit whose
    /// ext_json does not declare them in `requiredPrivateInfos` cannot be submitted (61040).
    pub fn set_template_private_apis(&self, template_id: u64, apis: &[&str]) {
        if let Some(t) = self.inner.lock().templates.get_mut(&template_id) {
            t.private_apis = apis.iter().map(|a| (*a).to_owned()).collect();
        }
    }

    /// Seeds the template library with a template whose code has `pages`.
    pub fn add_template_with_pages(&self, template_id: u64, user_version: &str, pages: &[&str]) {
        let now = self.now();
        self.inner.lock().templates.insert(
            template_id,
            state::Template {
                template_id,
                user_version: user_version.to_owned(),
                user_desc: format!("template {template_id}"),
                create_time: now,
                template_type: 0,
                pages: pages.iter().map(|p| (*p).to_owned()).collect(),
                private_apis: Vec::new(),
            },
        );
    }

    /// Seeds the draft box (gettemplatedraftlist / addtotemplate).
    pub fn add_draft(&self, draft_id: u64, user_version: &str) {
        let now = self.now();
        self.inner.lock().drafts.insert(
            draft_id,
            state::Draft {
                draft_id,
                user_version: user_version.to_owned(),
                user_desc: format!("draft {draft_id}"),
                create_time: now,
            },
        );
    }

    /// The platform's monthly audit quota and speed-ups as queryquota reports them (what
    /// `POST /_sim/audit_quota` sets): submit_audit answers 85085 once `rest` is 0.
    pub fn set_audit_quota(&self, rest: u64, limit: u64, speedup_rest: u64, speedup_limit: u64) {
        self.inner.lock().audit_quota = Some(state::AuditQuota {
            rest,
            limit,
            speedup_rest,
            speedup_limit,
        });
    }

    /// After each commit, WeChat's privacy-interface detection runs this long (simulator clock):
    /// submit_audit and get_code_privacy_info answer 61039 until it is done.
    pub fn set_privacy_detection(&self, d: Duration) {
        self.inner.lock().privacy_detection_secs = d.as_secs() as i64;
    }

    /// The platform's registered mini-program business domains (hosts, as
    /// modify_wxa_jump_domain sets them): what setwebviewdomain may give a mini program.
    pub fn set_platform_webview_domains(&self, hosts: &[&str]) {
        self.inner.lock().jump_domains = hosts.iter().map(|h| (*h).to_owned()).collect();
    }

    /// The platform's mini-program server domains (hosts, as modify_wxa_server_domain sets
    /// them, testing and published alike): once set, modify_domain takes only these (85017).
    pub fn set_platform_server_domains(&self, hosts: &[&str]) {
        let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        self.inner.lock().server_domains = Some((hosts.clone(), hosts));
    }

    /// Whether privacy interfaces need an approved application (apply_privacy_interface) before
    /// the code may use them: off by default (every interface counts as applied for).
    pub fn require_privacy_applications(&self, required: bool) {
        self.inner.lock().privacy_applications_required = required;
    }

    /// Decides a pending application for a privacy interface: approved (status 5) or rejected
    /// (status 4 with `fail_reason`). Errors when the account never applied for it.
    pub fn decide_privacy_application(
        &self,
        appid: &AppId,
        api_name: &str,
        approve: bool,
        fail_reason: &str,
    ) -> anyhow::Result<()> {
        let mut st = self.inner.lock();
        let app = st
            .accounts
            .get_mut(appid)
            .ok_or_else(|| anyhow!("unknown account {appid}"))?
            .code
            .privacy_applications
            .get_mut(api_name)
            .ok_or_else(|| anyhow!("{appid} never applied for {api_name}"))?;
        app.status = if approve { 5 } else { 4 };
        app.fail_reason = if approve {
            String::new()
        } else {
            fail_reason.to_owned()
        };
        Ok(())
    }

    /// Finishes a fast-registration task (快速注册小程序) and pushes
    /// `notify_third_fasteregister` to the authorization-event URL. With `status` 0 the mini
    /// program is created (its appid as given, else a new one) and authorized with permission
    /// sets 17 and 18; the push carries a fresh `auth_code` for api_query_auth. Answers what was
    /// pushed.
    pub async fn push_fast_register(
        &self,
        result: FastRegisterResult,
    ) -> anyhow::Result<FastRegisterResult> {
        self.inner.fast_register(result).await
    }

    /// The platform's IP whitelist (WeChat console): when set, an API call from any other address
    /// answers 61004 naming that address. `None` (the default): every address is allowed.
    pub fn set_ip_whitelist(&self, ips: Option<Vec<std::net::IpAddr>>) {
        self.inner.lock().ip_whitelist = ips;
    }

    /// Every component and authorizer access token expires now (next use: 42001).
    pub fn expire_all_tokens(&self) {
        let now = self.now();
        for t in self.inner.lock().tokens.values_mut() {
            t.expires_at = t.expires_at.min(now);
        }
    }

    /// Push deliveries so far, oldest first.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.inner.lock().pushes.clone()
    }

    /// Approves due audits now instead of waiting for the background task.
    pub async fn run_auto_approvals(&self) {
        self.inner.run_auto_approvals().await
    }
}
