//! Registering a mini program for a merchant who has none (快速注册): enterprise, personal, a
//! trial (made formal later), or on an authorized official account's subject; each bound to the
//! customer who asked, followed until WeChat says how it ended.
//!
//! A registration is checked field by field before WeChat sees it, then recorded in doubt
//! ([`RegistrationStatus::Submitting`]) *before* the create is sent: a create is never repeated
//! (a second one answers 89249 for a day, or starts a second task). A lost answer is settled from
//! a read: the enterprise `action=search` (at once, and again by [`settle`] when the
//! registration is looked at), the personal task's `action=query`; a personal or trial create
//! whose answer (its `taskid` or `unique_id`) was lost stays in doubt until its result push,
//! which names its subject. The result push ([`wxopen::push_apply`]) takes the new mini program
//! on, bound to the registration's customer; one whose push is lost is settled by [`settle`]:
//! the search says it exists, and WeChat's authorizer list names it.

use crate::ops::field_error::FieldError;
use crate::ops::OpsError;
use crate::Deps;
use serde::Serialize;
use serde_json::{json, Map, Value};
use wxopen::domain::{AppId, UnixTime};
use wxopen::failure::{Classify, Failure, Hint, StatusCode};
use wxopen::operator_auth::Operator;
use wxopen::push_apply::settle_registration;
use wxopen::store::registration::{change_registration, Personal};
use wxopen::store::{
    Applicant, Authorizer, AuthorizerStatus, BetaVerification, Page, Registration,
    RegistrationKind, RegistrationState, RegistrationStatus, UNASSIGNED_CUSTOMER,
};
use wxopen::wechat::account::{
    BetaVerifyInfo, CodeType, EnterpriseApplicant, FastRegisterBetaWeapp,
    FastRegisterPersonalWeapp, FastRegisterWeapp, PersonalTaskStatus, QueryPersonalWeapp,
    ReuseOfficialAccountRegister, SearchFastRegisterWeapp, VerifyBetaWeapp,
};
use wxopen::wechat::component::{ApiGetAuthorizerInfo, AuthorizationInfo};
use wxopen::wechat::WechatError;

/// How long an open registration is left before looking at it asks WeChat again (the search is
/// a call of the component's daily quota; the confirmation takes minutes to hours).
pub const SETTLE_AFTER_SECS: i64 = 300;
/// How far before the registration a new authorizer's `auth_time` may be and still be its app.
const AUTH_TIME_SKEW_SECS: i64 = 60;

// ---------------------------------------------------------------------------------------------
// Refusals

/// Why a registration was refused; each with its code, facts and hint.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationRefusal {
    /// wxopen's own check found fields at fault: WeChat was not asked.
    #[error("the registration breaks {} rule(s): {}", fields.len(), fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>().join(", "))]
    InvalidRegistration { fields: Vec<FieldError> },
    /// WeChat refused the create (recorded as failed).
    #[error("WeChat refused the registration (errcode {errcode}): {errmsg}")]
    RefusedByWechat {
        registration_id: String,
        errcode: i64,
        errmsg: String,
    },
    /// A registration of the same subject is open: a second create would answer 89249.
    #[error("registration {registration_id} of the same subject is {}: follow it instead", state.as_str())]
    InProgress {
        registration_id: String,
        state: RegistrationState,
    },
    /// Only a trial registration that created its mini program can be made formal.
    #[error("registration {registration_id} is not a trial whose mini program exists")]
    NotATrial { registration_id: String },
    /// The trial's verification is in progress or done.
    #[error(
        "the trial of registration {registration_id} is being made formal already (or is formal)"
    )]
    VerificationOpen { registration_id: String },
}

impl RegistrationRefusal {
    fn hint(&self) -> Hint {
        let h = Hint::new;
        match self {
            RegistrationRefusal::InvalidRegistration { .. } => h("fix each field listed in `fields` (each says what is wrong in English and Chinese) and send it again; WeChat was not asked", "请按 fields 中每一项的说明修正后重新提交；本次未提交给微信"),
            RegistrationRefusal::RefusedByWechat { .. } => h("WeChat refused the registration: check the subject's data against its licence (89249: a task for this subject runs already; wait a day, or follow the one running)", "微信拒绝了本次注册：请对照营业执照核对主体信息（89249 表示该主体已有进行中的任务：请等待 24 小时或跟进该任务）"),
            RegistrationRefusal::InProgress { .. } => h("follow the open registration (GET /ops/registrations/{id}); the legal person confirms it in WeChat", "该主体已有进行中的注册：请通过 GET /ops/registrations/{id} 跟进，等待法人在微信中确认"),
            RegistrationRefusal::NotATrial { .. } => h("only a trial (beta) registration whose mini program was created can be made formal", "只有已创建成功的试用小程序注册才能转为正式小程序"),
            RegistrationRefusal::VerificationOpen { .. } => h("follow the verification on the registration (GET /ops/registrations/{id}); the legal person confirms it in WeChat", "该试用小程序的转正申请已在进行中（或已完成）：请通过 GET /ops/registrations/{id} 跟进"),
        }
    }
}

impl Classify for RegistrationRefusal {
    fn classify(&self) -> Failure {
        let f = match self {
            RegistrationRefusal::InvalidRegistration { fields } => {
                Failure::new(StatusCode::BAD_REQUEST, "invalid_registration")
                    .fact("fields", json!(fields))
            }
            RegistrationRefusal::RefusedByWechat {
                registration_id,
                errcode,
                errmsg,
            } => Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "registration_refused")
                .fact("registration_id", registration_id.as_str())
                .fact("errcode", *errcode)
                .fact("errmsg", errmsg.as_str()),
            RegistrationRefusal::InProgress {
                registration_id,
                state,
            } => Failure::new(StatusCode::CONFLICT, "registration_in_progress")
                .fact("registration_id", registration_id.as_str())
                .fact("status", state.as_str()),
            RegistrationRefusal::NotATrial { registration_id } => {
                Failure::new(StatusCode::CONFLICT, "not_a_trial")
                    .fact("registration_id", registration_id.as_str())
            }
            RegistrationRefusal::VerificationOpen { registration_id } => {
                Failure::new(StatusCode::CONFLICT, "verification_in_progress")
                    .fact("registration_id", registration_id.as_str())
            }
        };
        f.hint(Some(self.hint()))
    }
}

// ---------------------------------------------------------------------------------------------
// Input

/// A registration asked for, checked.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub customer_id: String,
    pub applicant: Applicant,
    /// account/fastregister's ticket (the official account's administrator's scan).
    pub ticket: Option<String>,
}

/// Reads a body's fields, collecting every fault.
struct Fields<'a> {
    body: &'a Map<String, Value>,
    errors: Vec<FieldError>,
    allowed: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// The body's fields, or the refusal of a body that is not a JSON object.
    fn of(body: &'a Value) -> Result<Self, OpsError> {
        let Some(obj) = body.as_object() else {
            return Err(invalid(vec![FieldError::new(
                ".",
                "must be a JSON object",
                "须为 JSON 对象",
            )]));
        };
        Ok(Fields {
            body: obj,
            errors: Vec::new(),
            allowed: vec![],
        })
    }

    fn text(&mut self, name: &'static str, required: bool) -> Option<String> {
        self.allowed.push(name);
        match self.body.get(name) {
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "required", "必填"));
                None
            }
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.is_empty() && required {
                    self.errors
                        .push(FieldError::new(name, "must not be empty", "不能为空"));
                    None
                } else if s.chars().any(char::is_control) {
                    self.errors.push(FieldError::new(
                        name,
                        "must not contain control characters",
                        "不能包含控制字符",
                    ));
                    None
                } else {
                    Some(s.to_owned())
                }
            }
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "must be a string", "须为字符串"));
                None
            }
        }
    }

    fn chars(
        &mut self,
        name: &'static str,
        required: bool,
        range: std::ops::RangeInclusive<usize>,
    ) -> Option<String> {
        let s = self.text(name, required)?;
        if s.is_empty() {
            return Some(s);
        }
        let n = s.chars().count();
        if !range.contains(&n) {
            self.errors.push(FieldError::new(
                name,
                format!("must be {} to {} characters", range.start(), range.end()),
                format!("长度须为 {} 至 {} 个字符", range.start(), range.end()),
            ));
            return None;
        }
        Some(s)
    }

    fn wechat_id(&mut self, name: &'static str) -> Option<String> {
        let s = self.text(name, true)?;
        if !valid_wechat_id(&s) {
            self.errors.push(FieldError::new(
                name,
                "must be a WeChat id: 6 to 20 letters, digits, _ or -, starting with a letter",
                "须为微信号：6 至 20 位字母、数字、下划线或减号，以字母开头",
            ));
            return None;
        }
        Some(s)
    }

    fn phone(&mut self, name: &'static str) -> Personal {
        match self.text(name, false) {
            Some(p) if !p.is_empty() => {
                let ok = (5..=20).contains(&p.len())
                    && p.chars()
                        .all(|c| c.is_ascii_digit() || c == '-' || c == '+');
                if !ok {
                    self.errors.push(FieldError::new(
                        name,
                        "must be a phone number (5 to 20 digits, - or +)",
                        "须为电话号码（5 至 20 位数字、- 或 +）",
                    ));
                }
                Personal::new(p)
            }
            _ => Personal::default(),
        }
    }

    fn code_type(&mut self, name: &'static str) -> Option<CodeType> {
        self.allowed.push(name);
        match self.body.get(name).and_then(Value::as_i64) {
            Some(n @ 1..=3) => Some(CodeType::from_code(n)),
            _ => {
                self.errors.push(FieldError::new(
                    name,
                    "must be 1 (unified social credit code), 2 (organization code) or 3 (business licence number)",
                    "须为 1（统一社会信用代码）、2（组织机构代码）或 3（营业执照注册号）",
                ));
                None
            }
        }
    }

    /// The enterprise's code, checked against its type's format.
    fn code(&mut self, name: &'static str, code_type: Option<CodeType>) -> Option<String> {
        let s = self.text(name, true)?;
        let ok = match code_type {
            Some(CodeType::UnifiedSocialCreditCode) => {
                s.len() == 18
                    && s.chars()
                        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            }
            Some(CodeType::OrganizationCode) => {
                let plain: String = s.chars().filter(|c| *c != '-').collect();
                plain.len() == 9 && plain.chars().all(|c| c.is_ascii_alphanumeric())
            }
            Some(CodeType::BusinessLicenceNumber) => {
                s.len() == 15 && s.chars().all(|c| c.is_ascii_digit())
            }
            _ => true,
        };
        if !ok {
            self.errors.push(FieldError::new(
                name,
                "does not match its code_type: 18 digits or capital letters (1), 9 characters as xxxxxxxx-x (2), 15 digits (3)",
                "与 code_type 不符：统一社会信用代码 18 位数字或大写字母（1），组织机构代码 9 位 xxxxxxxx-x（2），营业执照注册号 15 位数字（3）",
            ));
            return None;
        }
        Some(s)
    }

    /// Every field not read is refused (a misspelt optional field would go unnoticed).
    fn finish(mut self) -> Vec<FieldError> {
        for k in self.body.keys() {
            if !self.allowed.contains(&k.as_str()) {
                self.errors
                    .push(FieldError::new(k, "unknown field", "未知字段"));
            }
        }
        self.errors
    }
}

/// A WeChat id as the registration pages take it.
fn valid_wechat_id(s: &str) -> bool {
    (6..=20).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn invalid(fields: Vec<FieldError>) -> OpsError {
    RegistrationRefusal::InvalidRegistration { fields }.into()
}

/// Checks a `POST /ops/registrations` body: every field of its kind, all faults at once.
pub fn parse_new(body: &Value) -> Result<NewRegistration, OpsError> {
    let mut f = Fields::of(body)?;
    let customer_id = f.chars("customer_id", true, 1..=64);
    f.allowed.push("kind");
    let kind = match f.body.get("kind").and_then(Value::as_str) {
        Some(k) => RegistrationKind::parse(k),
        None => None,
    };
    let Some(kind) = kind else {
        f.errors.push(FieldError::new(
            "kind",
            "must be enterprise, personal, beta or reuse_official_account",
            "须为 enterprise、personal、beta 或 reuse_official_account",
        ));
        let errors = f.errors;
        return Err(invalid(errors));
    };
    let mut ticket = None;
    let applicant = match kind {
        RegistrationKind::Enterprise => {
            let name = f.chars("name", true, 1..=100);
            let code_type = f.code_type("code_type");
            let code = f.code("code", code_type);
            let wechat = f.wechat_id("legal_persona_wechat");
            let legal = f.chars("legal_persona_name", true, 1..=50);
            let phone = f.phone("component_phone");
            match (name, code_type, code, wechat, legal) {
                (Some(name), Some(code_type), Some(code), Some(w), Some(l)) => {
                    Some(Applicant::Enterprise {
                        name,
                        code: Personal::new(code),
                        code_type: code_type.code(),
                        legal_persona_wechat: Personal::new(w),
                        legal_persona_name: Personal::new(l),
                        component_phone: phone,
                    })
                }
                _ => None,
            }
        }
        RegistrationKind::Personal => {
            let idname = f.chars("idname", true, 1..=50);
            let wxuser = f.wechat_id("wxuser");
            let phone = f.phone("component_phone");
            match (idname, wxuser) {
                (Some(i), Some(w)) => Some(Applicant::Personal {
                    idname: Personal::new(i),
                    wxuser: Personal::new(w),
                    component_phone: phone,
                    taskid: None,
                }),
                _ => None,
            }
        }
        RegistrationKind::Beta => {
            let name = f.chars("name", true, 4..=30);
            let openid = f.chars("openid", true, 1..=128);
            match (name, openid) {
                (Some(n), Some(o)) => Some(Applicant::Beta {
                    name: n,
                    openid: Personal::new(o),
                    unique_id: None,
                }),
                _ => None,
            }
        }
        RegistrationKind::ReuseOfficialAccount => {
            let oa = f.text("official_account_appid", true);
            let oa = oa.and_then(|a| match AppId::parse(&a) {
                Ok(a) => Some(a),
                Err(_) => {
                    f.errors.push(FieldError::new(
                        "official_account_appid",
                        "must be an appid (wx and 16 lowercase letters or digits)",
                        "须为 appid（wx 加 16 位小写字母或数字）",
                    ));
                    None
                }
            });
            ticket = f.chars("ticket", true, 1..=512);
            oa.map(|official_account_appid| Applicant::ReuseOfficialAccount {
                official_account_appid,
            })
        }
    };
    let errors = f.finish();
    match (customer_id, applicant) {
        (Some(customer_id), Some(applicant)) if errors.is_empty() => Ok(NewRegistration {
            customer_id,
            applicant,
            ticket,
        }),
        _ => Err(invalid(errors)),
    }
}

/// A trial made formal: the enterprise's data (verifybetaweapp's `verify_info`).
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    pub info: BetaVerifyInfo,
}

/// Checks a `POST /ops/registrations/{id}/verify` body.
pub fn parse_verify(body: &Value) -> Result<VerifyRequest, OpsError> {
    let mut f = Fields::of(body)?;
    let name = f.chars("enterprise_name", true, 1..=100);
    let code_type = f.code_type("code_type");
    let code = f.code("code", code_type);
    let wechat = f.wechat_id("legal_persona_wechat");
    let legal = f.chars("legal_persona_name", true, 1..=50);
    let idcard = f.chars("legal_persona_idcard", false, 15..=18);
    let phone = f.phone("component_phone");
    let errors = f.finish();
    match (name, code_type, code, wechat, legal) {
        (Some(n), Some(t), Some(c), Some(w), Some(l)) if errors.is_empty() => Ok(VerifyRequest {
            info: BetaVerifyInfo {
                enterprise_name: n,
                code: Personal::new(c),
                code_type: t,
                legal_persona_wechat: Personal::new(w),
                legal_persona_name: Personal::new(l),
                legal_persona_idcard: Personal::new(idcard.unwrap_or_default()),
                component_phone: phone,
            },
        }),
        _ => Err(invalid(errors)),
    }
}

// ---------------------------------------------------------------------------------------------
// Views

/// A registration as the API shows it (no personal data: the legal person's and the user's
/// name, ID and WeChat id stay in the store).
pub fn view(r: &Registration) -> Value {
    let mut v = json!({
        "registration_id": r.registration_id,
        "customer_id": r.customer_id,
        "kind": r.kind().as_str(),
        "name": r.applicant.display_name(),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "operator": r.operator,
        "taken_on": r.taken_on,
    });
    status_into(&mut v, &r.status);
    if let Some(url) = &r.authorize_url {
        v["authorize_url"] = json!(url);
    }
    if let Applicant::ReuseOfficialAccount {
        official_account_appid,
    } = &r.applicant
    {
        v["official_account_appid"] = json!(official_account_appid);
    }
    if let Some(ver) = &r.verification {
        let mut w = json!({
            "enterprise_name": ver.enterprise_name,
            "updated_at": ver.updated_at,
        });
        status_into(&mut w, &ver.status);
        v["verification"] = w;
    }
    v
}

fn status_into(v: &mut Value, s: &RegistrationStatus) {
    v["status"] = json!(s.state().as_str());
    match s {
        RegistrationStatus::Submitting { since } => {
            v["in_doubt_since"] = json!(since);
        }
        RegistrationStatus::WaitingForConfirmation => {}
        RegistrationStatus::Failed { reason, errcode } => {
            v["reason"] = json!(reason);
            v["errcode"] = json!(errcode);
        }
        RegistrationStatus::Succeeded { appid } => {
            v["appid"] = json!(appid);
        }
    }
}

/// What a started registration answers.
#[derive(Debug, Serialize)]
pub struct Started {
    pub registration_id: String,
    pub status: &'static str,
    /// The create's answer was lost and no read settled it yet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_doubt: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<AppId>,
    /// What the operator does about a doubt (English, then Chinese).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint_zh: Option<&'static str>,
}

impl Started {
    fn of(r: &Registration) -> Started {
        let in_doubt = matches!(r.status, RegistrationStatus::Submitting { .. });
        Started {
            registration_id: r.registration_id.clone(),
            status: r.status.state().as_str(),
            in_doubt,
            authorize_url: r.authorize_url.clone(),
            appid: r.status.appid().cloned(),
            hint: in_doubt.then_some("WeChat's answer was lost: the registration may have reached WeChat. It is never sent again; wxopen settles it from WeChat's search or from the result push. Follow it with GET /ops/registrations/{id}."),
            hint_zh: in_doubt.then_some("微信的应答丢失：注册可能已提交到微信。wxopen 不会重复提交，将通过查询接口或结果推送确认；请通过 GET /ops/registrations/{id} 跟进。"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operations

fn new_id(now: UnixTime) -> String {
    format!("reg_{:010}{:08x}", now.max(0), rand::random::<u32>())
}

async fn set_status(
    deps: &Deps,
    id: &str,
    change: impl Fn(&Registration) -> Option<Registration>,
) -> Result<Registration, OpsError> {
    change_registration(deps.store.as_ref(), id, change)
        .await?
        .ok_or(OpsError::NotFound {
            what: "registration",
        })
}

/// The registration `r` with `status`, WeChat's answer `(taskid or unique_id, authorize_url)`
/// kept, checked now.
fn answered(
    r: &Registration,
    status: RegistrationStatus,
    follow: Option<(String, String)>,
    now: UnixTime,
) -> Registration {
    let mut next = r.clone();
    next.status = status;
    if let Some((key, url)) = follow {
        match &mut next.applicant {
            Applicant::Personal { taskid, .. } => *taskid = Some(key),
            Applicant::Beta { unique_id, .. } => *unique_id = Some(key),
            _ => {}
        }
        next.authorize_url = Some(url).filter(|u| !u.is_empty());
        next.subject = next.applicant.subject().or(next.subject);
    }
    next.updated_at = now;
    next.checked_at = Some(now);
    next
}

/// Starts a registration for `req.customer_id`: refused while one of the same subject is open;
/// recorded in doubt, then sent once.
pub async fn start(deps: &Deps, operator: &str, req: NewRegistration) -> Result<Started, OpsError> {
    let store = deps.store.as_ref();
    if let Applicant::ReuseOfficialAccount {
        official_account_appid,
    } = &req.applicant
    {
        usable_official_account(deps, official_account_appid, &req.customer_id).await?;
    }
    if let Some(subject) = req.applicant.subject() {
        if let Some(open) = store.find_registration_by_subject(&subject).await? {
            let open = settle(deps, open.registration).await?;
            if open.status.is_open() {
                return Err(RegistrationRefusal::InProgress {
                    registration_id: open.registration_id,
                    state: open.status.state(),
                }
                .into());
            }
        }
    }
    let now = deps.clock.now();
    let r = Registration {
        registration_id: new_id(now),
        customer_id: req.customer_id.clone(),
        subject: req.applicant.subject(),
        applicant: req.applicant.clone(),
        status: RegistrationStatus::Submitting { since: now },
        authorize_url: None,
        verification: None,
        taken_on: false,
        checked_at: None,
        operator: operator.to_owned(),
        created_at: now,
        updated_at: now,
    };
    // The doubt, before the create: whatever happens to the answer, the record says it may
    // have been sent, and nothing sends it again.
    store.create_registration(&r).await?;
    let id = r.registration_id.clone();
    tracing::info!(registration = %id, kind = r.kind().as_str(), customer = %r.customer_id, "registration recorded; sending it to WeChat");
    let sent: Result<Option<(String, String)>, WechatError> = match &req.applicant {
        Applicant::Enterprise {
            name,
            code,
            code_type,
            legal_persona_wechat,
            legal_persona_name,
            component_phone,
        } => {
            let create = FastRegisterWeapp {
                applicant: EnterpriseApplicant {
                    name: name.clone(),
                    code: code.clone(),
                    code_type: CodeType::from_code(*code_type),
                    legal_persona_wechat: legal_persona_wechat.clone(),
                    legal_persona_name: legal_persona_name.clone(),
                    component_phone: component_phone.clone(),
                },
            };
            deps.mgr.component().call(&create).await.map(|_| None)
        }
        Applicant::Personal {
            idname,
            wxuser,
            component_phone,
            ..
        } => {
            let create = FastRegisterPersonalWeapp {
                idname: idname.clone(),
                wxuser: wxuser.clone(),
                component_phone: component_phone.clone(),
            };
            deps.mgr
                .component()
                .call(&create)
                .await
                .map(|t| Some((t.taskid, t.authorize_url)))
        }
        Applicant::Beta { name, openid, .. } => {
            let create = FastRegisterBetaWeapp {
                name: name.clone(),
                openid: openid.clone(),
            };
            deps.mgr
                .component()
                .call(&create)
                .await
                .map(|b| Some((b.unique_id, b.authorize_url)))
        }
        Applicant::ReuseOfficialAccount {
            official_account_appid,
        } => {
            let create = ReuseOfficialAccountRegister {
                ticket: req.ticket.clone().unwrap_or_default(),
            };
            match deps.mgr.wxa(official_account_appid).call(&create).await {
                Ok(made) => {
                    let appid = take_on_reused(deps, &r, made).await?;
                    let done = set_status(deps, &id, |cur| {
                        settle_registration(
                            cur,
                            &RegistrationStatus::Succeeded {
                                appid: Some(appid.clone()),
                            },
                            now,
                        )
                    })
                    .await?;
                    return Ok(Started::of(&done));
                }
                Err(e) => Err(e),
            }
        }
    };
    let now = deps.clock.now();
    match sent {
        Ok(follow) => {
            let done = set_status(deps, &id, |cur| {
                matches!(cur.status, RegistrationStatus::Submitting { .. }).then(|| {
                    answered(
                        cur,
                        RegistrationStatus::WaitingForConfirmation,
                        follow.clone(),
                        now,
                    )
                })
            })
            .await?;
            Ok(Started::of(&done))
        }
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(registration = %id, error = %e, "a registration's answer was lost; settling it from WeChat, never sending it again");
            let r = store
                .get_registration(&id)
                .await?
                .map(|v| v.registration)
                .ok_or(OpsError::NotFound {
                    what: "registration",
                })?;
            let settled = ask_wechat(deps, r).await?;
            Ok(Started::of(&settled))
        }
        Err(WechatError::Store(se)) => Err(se.into()),
        Err(e) => {
            let (errcode, errmsg) = match &e {
                WechatError::Api { code, errmsg, .. } => (*code, errmsg.clone()),
                _ => return Err(e.into()),
            };
            // WeChat's definite answer: nothing was registered.
            set_status(deps, &id, |cur| {
                let mut next = cur.clone();
                next.status = RegistrationStatus::Failed {
                    reason: errmsg.clone(),
                    errcode: Some(errcode),
                };
                next.updated_at = now;
                Some(next)
            })
            .await?;
            Err(RegistrationRefusal::RefusedByWechat {
                registration_id: id,
                errcode,
                errmsg,
            }
            .into())
        }
    }
}

/// The official account a reuse registration names: authorized, an official account, and the
/// customer's (or nobody's yet).
async fn usable_official_account(
    deps: &Deps,
    appid: &AppId,
    customer_id: &str,
) -> Result<Authorizer, OpsError> {
    let refuse =
        |en: &str, zh: &str| invalid(vec![FieldError::new("official_account_appid", en, zh)]);
    let Some(a) = deps.store.get_authorizer(appid).await? else {
        return Err(refuse(
            "no authorized official account has this appid",
            "没有该 appid 的已授权公众号",
        ));
    };
    if a.status != AuthorizerStatus::Authorized || a.is_mini_program {
        return Err(refuse(
            "must be an official account that authorizes the platform now",
            "须为当前已授权的公众号",
        ));
    }
    if a.customer_id
        .as_deref()
        .is_some_and(|c| c != customer_id && c != UNASSIGNED_CUSTOMER)
    {
        return Err(refuse(
            "the official account belongs to another customer",
            "该公众号属于其他客户",
        ));
    }
    Ok(a)
}

/// The mini program account/fastregister created: its code exchanged and the app stored for the
/// registration's customer.
async fn take_on_reused(
    deps: &Deps,
    r: &Registration,
    made: wxopen::wechat::account::ReusedRegistration,
) -> Result<AppId, OpsError> {
    let appid = AppId::parse(&made.appid).map_err(|e| {
        OpsError::Wechat(WechatError::Decode {
            endpoint: "account::ReuseOfficialAccountRegister",
            detail: e.to_string(),
        })
    })?;
    let code = secrecy::SecretString::from(made.authorization_code.expose().to_owned());
    let info = deps.mgr.exchange_auth_code(&code, Some(&appid)).await?;
    store_new_app(deps, r, &appid, &info, deps.clock.now()).await?;
    Ok(appid)
}

/// Stores a registered mini program's profile, bound to the registration's customer.
async fn store_new_app(
    deps: &Deps,
    r: &Registration,
    appid: &AppId,
    auth: &AuthorizationInfo,
    auth_time: UnixTime,
) -> Result<(), OpsError> {
    let info = deps
        .mgr
        .component()
        .call(&ApiGetAuthorizerInfo {
            component_appid: deps.mgr.component_appid(),
            authorizer_appid: appid,
        })
        .await?;
    let now = deps.clock.now();
    let fresh = info.to_authorizer(Some(r.customer_id.clone()), auth_time.max(0), now);
    deps.store
        .update_authorizer(appid, &|cur| {
            Some(Authorizer::merge_authorization(cur, fresh.clone(), None))
        })
        .await?;
    let auth = AuthorizationInfo {
        authorizer_refresh_token: auth
            .authorizer_refresh_token
            .clone()
            .or(info.authorization_info.authorizer_refresh_token.clone()),
        ..info.authorization_info.clone()
    };
    deps.mgr.save_authorization_at(&auth, auth_time).await?;
    Ok(())
}

/// Asks WeChat where an open registration stands (the enterprise search, the personal task's
/// query; trials and official-account registrations have no read: their push settles them) and
/// records the answer. A read that fails leaves the registration as it is.
async fn ask_wechat(deps: &Deps, r: Registration) -> Result<Registration, OpsError> {
    let now = deps.clock.now();
    let id = r.registration_id.clone();
    let read: Result<Option<RegistrationStatus>, WechatError> = match &r.applicant {
        Applicant::Enterprise {
            name,
            legal_persona_wechat,
            legal_persona_name,
            ..
        } => {
            let search = SearchFastRegisterWeapp {
                name: name.clone(),
                legal_persona_wechat: legal_persona_wechat.clone(),
                legal_persona_name: legal_persona_name.clone(),
            };
            match deps.mgr.component().call(&search).await {
                Ok(_) => Ok(Some(RegistrationStatus::Succeeded { appid: None })),
                // 89251: the legal person has not confirmed; 89252: WeChat checks the subject.
                Err(e) if matches!(e.errcode(), Some(89251 | 89252)) => {
                    Ok(Some(RegistrationStatus::WaitingForConfirmation))
                }
                // No task runs for the subject: the create never arrived (still in doubt), or
                // the task ended without a mini program (its push said why).
                Err(e) if e.errcode() == Some(89250) => Ok(Some(RegistrationStatus::Failed {
                    reason: match r.status {
                        RegistrationStatus::Submitting { .. } => {
                            "WeChat has no task for this subject: the create never reached it"
                        }
                        _ => "WeChat has no task for this subject any more: it ended without a mini program",
                    }
                    .to_owned(),
                    errcode: Some(89250),
                })),
                Err(e) => Err(e),
            }
        }
        Applicant::Personal {
            taskid: Some(taskid),
            ..
        } => {
            let query = QueryPersonalWeapp {
                taskid: taskid.clone(),
            };
            match deps.mgr.component().call(&query).await {
                Ok(t) => Ok(Some(personal_status(t.status))),
                Err(e) => Err(e),
            }
        }
        _ => Ok(None),
    };
    let status = match read {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(r),
        Err(WechatError::Store(se)) => return Err(se.into()),
        Err(e) => {
            tracing::warn!(registration = %id, error = %e, "WeChat could not be asked where a registration stands; left as it is");
            return Ok(r);
        }
    };
    let appid = match (&status, &r.applicant) {
        (RegistrationStatus::Succeeded { appid: None }, Applicant::Enterprise { name, .. }) => {
            match find_registered_app(deps, &r, name).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(registration = %id, error = %e, "the registered mini program could not be found in WeChat's authorizer list yet");
                    None
                }
            }
        }
        _ => None,
    };
    let status = match (status, appid) {
        (RegistrationStatus::Succeeded { .. }, Some(a)) => {
            RegistrationStatus::Succeeded { appid: Some(a) }
        }
        (s, _) => s,
    };
    let settled = set_status(deps, &id, |cur| {
        let mut next = settle_registration(cur, &status, now).unwrap_or_else(|| cur.clone());
        next.checked_at = Some(now);
        Some(next)
    })
    .await?;
    if let RegistrationStatus::Succeeded { appid } = &settled.status {
        tracing::info!(registration = %id, appid = appid.as_ref().map(AppId::as_str), "registration settled by WeChat's read: succeeded");
    }
    Ok(settled)
}

fn personal_status(s: PersonalTaskStatus) -> RegistrationStatus {
    match s {
        PersonalTaskStatus::Succeeded | PersonalTaskStatus::Verified => {
            RegistrationStatus::Succeeded { appid: None }
        }
        s if s.is_final() => RegistrationStatus::Failed {
            reason: format!(
                "the user's task ended without a mini program (task status {})",
                s.code()
            ),
            errcode: None,
        },
        _ => RegistrationStatus::WaitingForConfirmation,
    }
}

/// The mini program a succeeded enterprise registration created, when its push was lost: the
/// one authorizer WeChat lists, authorized since the registration, that wxopen holds for no
/// customer and whose subject is the enterprise's name. Stored for the registration's
/// customer. None when there is none or more than one (guessing could bind the wrong app).
async fn find_registered_app(
    deps: &Deps,
    r: &Registration,
    name: &str,
) -> Result<Option<AppId>, OpsError> {
    let listed = deps.mgr.all_listed_authorizers().await?;
    let mut found = Vec::new();
    for item in listed
        .iter()
        .filter(|i| i.auth_time >= r.created_at - AUTH_TIME_SKEW_SECS)
    {
        let Some(appid) = item.appid() else { continue };
        let stored = deps.store.get_authorizer(&appid).await?;
        if stored
            .as_ref()
            .and_then(|a| a.customer_id.as_deref())
            .is_some_and(|c| c != UNASSIGNED_CUSTOMER && c != r.customer_id)
        {
            continue;
        }
        let info = deps
            .mgr
            .component()
            .call(&ApiGetAuthorizerInfo {
                component_appid: deps.mgr.component_appid(),
                authorizer_appid: &appid,
            })
            .await?;
        if info.authorizer_info.is_mini_program() && info.authorizer_info.principal_name == name {
            found.push((appid, item.clone(), info));
        }
    }
    if found.len() != 1 {
        return Ok(None);
    }
    let (appid, item, info) = found.remove(0);
    let auth = AuthorizationInfo {
        authorizer_refresh_token: item.refresh_token.clone(),
        ..info.authorization_info.clone()
    };
    store_new_app(deps, r, &appid, &auth, item.auth_time).await?;
    tracing::info!(registration = %r.registration_id, %appid, "the registered mini program found in WeChat's authorizer list and taken on");
    Ok(Some(appid))
}

/// The registration as it stands; an open one not asked about for [`SETTLE_AFTER_SECS`] is
/// asked about first (a lost push or a lost answer settled).
pub async fn settle(deps: &Deps, r: Registration) -> Result<Registration, OpsError> {
    let now = deps.clock.now();
    let last = r.checked_at.unwrap_or(r.updated_at).max(r.updated_at);
    let open =
        r.status.is_open() || matches!(r.status, RegistrationStatus::Succeeded { appid: None });
    if !open || now - last < SETTLE_AFTER_SECS {
        return Ok(r);
    }
    ask_wechat(deps, r).await
}

/// One registration the operator sees (another customer's is not found), settled if due.
pub async fn show(deps: &Deps, op: &Operator, id: &str) -> Result<Registration, OpsError> {
    let r = get_seen(deps, op, id).await?;
    settle(deps, r).await
}

async fn get_seen(deps: &Deps, op: &Operator, id: &str) -> Result<Registration, OpsError> {
    let not_found = OpsError::NotFound {
        what: "registration",
    };
    if id.is_empty() || id.len() > 64 {
        return Err(not_found);
    }
    let r = deps
        .store
        .get_registration(id)
        .await?
        .ok_or(OpsError::NotFound {
            what: "registration",
        })?
        .registration;
    if !op.sees_customer(Some(&r.customer_id)) {
        return Err(not_found);
    }
    Ok(r)
}

/// Registrations newest first (only the operator's customers'), optionally of one state.
pub async fn list(
    deps: &Deps,
    op: &Operator,
    state: Option<&str>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Registration>, OpsError> {
    let state = match state {
        None | Some("") => None,
        Some(s) => Some(RegistrationState::parse(s).ok_or_else(|| {
            OpsError::invalid(
                "invalid_status",
                "status must be submitting, waiting_for_confirmation, failed or succeeded",
            )
        })?),
    };
    let mut page = deps.store.list_registrations(state, cursor, limit).await?;
    page.items
        .retain(|r| op.sees_customer(Some(&r.customer_id)));
    Ok(page)
}

/// Makes a trial formal (verifybetaweapp): recorded in doubt first, sent once; its outcome
/// comes by push (`notify_third_fastverifybetaapp`).
pub async fn verify(
    deps: &Deps,
    op: &Operator,
    id: &str,
    req: VerifyRequest,
) -> Result<Registration, OpsError> {
    let r = get_seen(deps, op, id).await?;
    let Some(appid) = r
        .status
        .appid()
        .cloned()
        .filter(|_| r.kind() == RegistrationKind::Beta)
    else {
        return Err(RegistrationRefusal::NotATrial {
            registration_id: r.registration_id,
        }
        .into());
    };
    let now = deps.clock.now();
    let info = req.info;
    let verification = BetaVerification {
        status: RegistrationStatus::Submitting { since: now },
        enterprise_name: info.enterprise_name.clone(),
        code: info.code.clone(),
        code_type: info.code_type.code(),
        legal_persona_wechat: info.legal_persona_wechat.clone(),
        legal_persona_name: info.legal_persona_name.clone(),
        operator: op.label.clone(),
        updated_at: now,
    };
    let store = deps.store.as_ref();
    // The doubt, conditioned on no verification being open: two operators at once send one.
    let r = change_registration(store, id, |cur| {
        let open = cur
            .verification
            .as_ref()
            .is_some_and(|v| !matches!(v.status, RegistrationStatus::Failed { .. }));
        (!open).then(|| {
            let mut next = cur.clone();
            next.verification = Some(verification.clone());
            next.updated_at = now;
            next
        })
    })
    .await?
    .ok_or(OpsError::NotFound {
        what: "registration",
    })?;
    // Ours only if the stored verification is the one just written (another one was open).
    if r.verification.as_ref() != Some(&verification) {
        return Err(RegistrationRefusal::VerificationOpen {
            registration_id: r.registration_id,
        }
        .into());
    }
    let answer = deps
        .mgr
        .wxa(&appid)
        .call(&VerifyBetaWeapp { verify_info: info })
        .await;
    let now = deps.clock.now();
    let status = match answer {
        Ok(_) => RegistrationStatus::WaitingForConfirmation,
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(registration = %id, error = %e, "a trial verification's answer was lost; it stays in doubt until its push, never sent again");
            return Ok(r);
        }
        Err(WechatError::Store(se)) => return Err(se.into()),
        Err(WechatError::Api { code, errmsg, .. }) => RegistrationStatus::Failed {
            reason: errmsg,
            errcode: Some(code),
        },
        Err(e) => return Err(e.into()),
    };
    let failed = match &status {
        RegistrationStatus::Failed { reason, errcode } => {
            Some((errcode.unwrap_or(0), reason.clone()))
        }
        _ => None,
    };
    let r = set_status(deps, id, |cur| {
        let v = cur.verification.as_ref()?;
        if !matches!(v.status, RegistrationStatus::Submitting { .. }) {
            return None;
        }
        let mut next = cur.clone();
        if let Some(v) = next.verification.as_mut() {
            v.status = status.clone();
            v.updated_at = now;
        }
        next.updated_at = now;
        Some(next)
    })
    .await?;
    if let Some((errcode, errmsg)) = failed {
        return Err(RegistrationRefusal::RefusedByWechat {
            registration_id: r.registration_id,
            errcode,
            errmsg,
        }
        .into());
    }
    Ok(r)
}
