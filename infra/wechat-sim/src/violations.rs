//! Violations: a mini program's penalty records (`wxa/getillegalrecords`), their appeals
//! (`wxa/getappealrecords`) and the pushes of both (`wxa_punish_event`, `wxa_appeal_record`),
//! with the `/_sim` controls that penalise an app and decide an appeal as WeChat would.
//!
//! Sources: Third-party_Platforms/2.0/api/records/getillegalrecords.html, getappealrecords.html,
//! record_event.html (the appeal push) and Third-party_Platforms/2.0/product/illegalEvent.html
//! (the penalty push; received only with permission set 76).

use crate::api::{Ctx, WxErr};
use crate::push::Target;
use crate::state::State;
use crate::{Inner, Simulator};
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use wxopen::domain::{AppId, UnixTime};

/// getillegalrecords.html: without a bound, the 90 days before `end_time` / after `start_time`.
const WINDOW_SECS: i64 = 90 * 86_400;

/// What a test penalises an app with (`Simulator::punish`): illegalEvent.html's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Punishment {
    /// Generated (`{event_type}_{n}`, like getillegalrecords' `2_11100`) when empty.
    pub punish_id: String,
    /// 1 警告, 2 功能封禁, 3 下架, 4 账号封禁, 10 页面封禁.
    pub event_type: i64,
    pub illegal_reason: String,
    pub illegal_content: String,
    pub rule_name: String,
    pub rule_url: String,
    pub adjust_guide_url: String,
    /// The push's `detail`, a JSON string of this value.
    pub detail: Value,
}

/// One penalty the simulator holds, and its appeals.
#[derive(Debug, Clone, Serialize)]
pub struct Penalty {
    pub punishment: Punishment,
    pub create_time: UnixTime,
    pub appeals: Vec<Appeal>,
}

/// One appeal of a penalty (getappealrecords.html).
#[derive(Debug, Clone, Serialize)]
pub struct Appeal {
    pub appeal_record_id: u64,
    pub appeal_time: UnixTime,
    pub appeal_count: i64,
    pub appeal_from: i64,
    /// 1 正在处理, 2 申诉通过, 3 申诉不通过, 4 申诉已撤销.
    pub appeal_status: i64,
    pub audit_time: Option<UnixTime>,
    pub audit_reason: String,
}

/// Every account's penalties, by appid, oldest first.
#[derive(Debug, Default)]
pub struct ViolationState {
    pub penalties: BTreeMap<AppId, Vec<Penalty>>,
    next_id: u64,
}

fn granted_76(st: &State, appid: &AppId) -> bool {
    st.accounts
        .get(appid)
        .and_then(|a| a.authorization.as_ref())
        .is_some_and(|a| a.func_info.contains(&76))
}

/// Both reads need permission set 76 besides 18 (the pages' 注意事项).
fn check_set_76(st: &State, appid: &AppId) -> Result<(), WxErr> {
    if granted_76(st, appid) {
        Ok(())
    } else {
        Err(WxErr(61007, "api is unauthorized to component".to_owned()))
    }
}

fn body(ctx: &Ctx) -> Result<Map<String, Value>, WxErr> {
    if ctx.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(ctx.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(WxErr(47001, "data format error".to_owned())),
    }
}

fn time_field(m: &Map<String, Value>, k: &str) -> Result<Option<i64>, WxErr> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| WxErr(47001, "data format error".to_owned())),
    }
}

/// `/wxa/getillegalrecords`.
pub(crate) fn getillegalrecords(st: &mut State, ctx: &Ctx, appid: &AppId) -> Result<Value, WxErr> {
    check_set_76(st, appid)?;
    let m = body(ctx)?;
    let (start, end) = match (time_field(&m, "start_time")?, time_field(&m, "end_time")?) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + WINDOW_SECS),
        (None, Some(e)) => (e - WINDOW_SECS, e),
        (None, None) => (ctx.now - WINDOW_SECS, ctx.now),
    };
    let records: Vec<Value> = st
        .violations
        .penalties
        .get(appid)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|p| (start..=end).contains(&p.create_time))
        .map(|p| {
            json!({
                "illegal_record_id": p.punishment.punish_id,
                "create_time": p.create_time,
                "illegal_reason": p.punishment.illegal_reason,
                "illegal_content": p.punishment.illegal_content,
                "rule_url": p.punishment.rule_url,
                "rule_name": p.punishment.rule_name,
            })
        })
        .collect();
    Ok(json!({ "records": records }))
}

/// `/wxa/getappealrecords`.
pub(crate) fn getappealrecords(st: &mut State, ctx: &Ctx, appid: &AppId) -> Result<Value, WxErr> {
    check_set_76(st, appid)?;
    let m = body(ctx)?;
    // The page names no errcode for a missing id: the global 47001 (data format error).
    let id = match m.get("illegal_record_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id,
        _ => return Err(WxErr(47001, "data format error".to_owned())),
    };
    let records: Vec<Value> = st
        .violations
        .penalties
        .get(appid)
        .and_then(|ps| ps.iter().find(|p| p.punishment.punish_id == id))
        .map(|p| {
            p.appeals
                .iter()
                .map(|a| {
                    json!({
                        "appeal_record_id": a.appeal_record_id,
                        "appeal_time": a.appeal_time,
                        "appeal_count": a.appeal_count,
                        "appeal_from": a.appeal_from,
                        "appeal_status": a.appeal_status,
                        "audit_time": a.audit_time,
                        "audit_reason": a.audit_reason,
                        "punish_description": p.punishment.illegal_reason,
                        "materials": [{
                            "illegal_material": { "content": p.punishment.illegal_content, "content_url": "" },
                            "appeal_material": { "reason": "", "proof_material_ids": [] },
                        }],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({ "records": records }))
}

fn cdata(tag: &str, v: &str) -> String {
    format!("<{tag}><![CDATA[{v}]]></{tag}>")
}

impl Inner {
    /// Penalises `appid`: the record getillegalrecords lists, and a `wxa_punish_event` push to
    /// its message URL when the account granted set 76. Answers the punishment as recorded.
    pub(crate) async fn punish(
        &self,
        appid: &AppId,
        mut p: Punishment,
    ) -> anyhow::Result<Punishment> {
        let now = self.now();
        let user_name = {
            let mut st = self.lock();
            let user_name = st
                .accounts
                .get(appid)
                .map(|a| a.user_name.clone())
                .ok_or_else(|| anyhow::anyhow!("no account {appid}"))?;
            st.violations.next_id += 1;
            if p.punish_id.is_empty() {
                p.punish_id = format!("{}_{}", p.event_type, 11_100 + st.violations.next_id);
            }
            st.violations
                .penalties
                .entry(appid.clone())
                .or_default()
                .push(Penalty {
                    punishment: p.clone(),
                    create_time: now,
                    appeals: Vec::new(),
                });
            if !granted_76(&st, appid) {
                return Ok(p);
            }
            user_name
        };
        self.deliver_punishment(appid, &user_name, &p, now).await;
        Ok(p)
    }

    /// Pushes `wxa_punish_event` of `p` again (as WeChat re-pushes: a new CreateTime).
    pub(crate) async fn repush_punishment(
        &self,
        appid: &AppId,
        punish_id: &str,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let (user_name, p) = {
            let st = self.lock();
            let acc = st
                .accounts
                .get(appid)
                .ok_or_else(|| anyhow::anyhow!("no account {appid}"))?;
            let p = st
                .violations
                .penalties
                .get(appid)
                .and_then(|ps| ps.iter().find(|x| x.punishment.punish_id == punish_id))
                .ok_or_else(|| anyhow::anyhow!("no penalty {punish_id}"))?;
            (acc.user_name.clone(), p.punishment.clone())
        };
        self.deliver_punishment(appid, &user_name, &p, now).await;
        Ok(())
    }

    async fn deliver_punishment(
        &self,
        appid: &AppId,
        user_name: &str,
        p: &Punishment,
        now: UnixTime,
    ) {
        let detail = if p.detail.is_null() {
            String::new()
        } else {
            p.detail.to_string()
        };
        let extra = format!(
            "<event_type>{}</event_type>{}{}<punish_time>{now}</punish_time>{}{}{}{}{}{}",
            p.event_type,
            cdata("punish_id", &p.punish_id),
            cdata("appid", appid.as_str()),
            cdata("illegal_reason", &p.illegal_reason),
            cdata("illegal_content", &p.illegal_content),
            cdata("rule_name", &p.rule_name),
            cdata("rule_url", &p.rule_url),
            cdata("adjust_guide_url", &p.adjust_guide_url),
            cdata("detail", &detail),
        );
        let xml = crate::push::audit_xml(user_name, now, "wxa_punish_event", &extra);
        self.deliver(
            Target::Message {
                appid: appid.to_string(),
                user_name: user_name.to_owned(),
            },
            "wxa_punish_event",
            xml,
        )
        .await;
    }

    /// Records an appeal of `punish_id` in `status` (a new appeal when none is processing) and
    /// pushes `wxa_appeal_record`. Answers its appeal_record_id.
    pub(crate) async fn appeal(
        &self,
        appid: &AppId,
        punish_id: &str,
        status: i64,
        audit_reason: &str,
    ) -> anyhow::Result<u64> {
        let now = self.now();
        let (user_name, appeal, description, push) = {
            let mut st = self.lock();
            let push = granted_76(&st, appid);
            st.violations.next_id += 1;
            let fresh_id = 4_111_000 + st.violations.next_id;
            let user_name = st
                .accounts
                .get(appid)
                .map(|a| a.user_name.clone())
                .ok_or_else(|| anyhow::anyhow!("no account {appid}"))?;
            let penalty = st
                .violations
                .penalties
                .get_mut(appid)
                .and_then(|ps| ps.iter_mut().find(|x| x.punishment.punish_id == punish_id))
                .ok_or_else(|| anyhow::anyhow!("no penalty {punish_id}"))?;
            let decided = status != 1 && status != 4;
            let count = i64::try_from(penalty.appeals.len()).unwrap_or(i64::MAX);
            let appeal = match penalty.appeals.iter_mut().find(|a| a.appeal_status == 1) {
                Some(a) => {
                    a.appeal_status = status;
                    a.audit_time = decided.then_some(now);
                    a.audit_reason = if decided {
                        audit_reason.to_owned()
                    } else {
                        String::new()
                    };
                    a.clone()
                }
                None => {
                    let a = Appeal {
                        appeal_record_id: fresh_id,
                        appeal_time: now,
                        appeal_count: count + 1,
                        appeal_from: 1,
                        appeal_status: status,
                        audit_time: decided.then_some(now),
                        audit_reason: if decided {
                            audit_reason.to_owned()
                        } else {
                            String::new()
                        },
                    };
                    penalty.appeals.push(a.clone());
                    a
                }
            };
            (
                user_name,
                appeal,
                penalty.punishment.illegal_reason.clone(),
                push,
            )
        };
        if push {
            // record_event.html: audit_time and audit_reason absent while processing or withdrawn.
            let audit = match appeal.audit_time {
                Some(t) => format!(
                    "<audit_time>{t}</audit_time>{}",
                    cdata("audit_reason", &appeal.audit_reason)
                ),
                None => String::new(),
            };
            let extra = format!(
                "<appeal_record_id>{}</appeal_record_id>{}<appeal_time>{}</appeal_time><appeal_count>{}</appeal_count><appeal_from>{}</appeal_from><appeal_status>{}</appeal_status>{audit}{}",
                appeal.appeal_record_id,
                cdata("appid", appid.as_str()),
                appeal.appeal_time,
                appeal.appeal_count,
                appeal.appeal_from,
                appeal.appeal_status,
                cdata("punish_description", &description),
            );
            let xml = crate::push::audit_xml(&user_name, now, "wxa_appeal_record", &extra);
            self.deliver(
                Target::Message {
                    appid: appid.to_string(),
                    user_name,
                },
                "wxa_appeal_record",
                xml,
            )
            .await;
        }
        Ok(appeal.appeal_record_id)
    }
}

/// The controls: `POST /_sim/accounts/{appid}/punish` (a [`Punishment`]),
/// `POST /_sim/accounts/{appid}/appeal` (`{"punish_id", "status", "audit_reason"}`).
pub(crate) fn control_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/_sim/accounts/{appid}/punish", post(punish))
        .route("/_sim/accounts/{appid}/appeal", post(appeal))
        .with_state(inner)
}

fn rejected(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.to_string() })),
    )
        .into_response()
}

async fn punish(
    AxState(inner): AxState<Arc<Inner>>,
    Path(appid): Path<String>,
    Json(p): Json<Punishment>,
) -> Response {
    let Ok(appid) = AppId::parse(&appid) else {
        return rejected("invalid appid");
    };
    match inner.punish(&appid, p).await {
        Ok(p) => Json(json!(p)).into_response(),
        Err(e) => rejected(e),
    }
}

#[derive(Deserialize)]
struct AppealBody {
    punish_id: String,
    status: i64,
    #[serde(default)]
    audit_reason: String,
}

async fn appeal(
    AxState(inner): AxState<Arc<Inner>>,
    Path(appid): Path<String>,
    Json(b): Json<AppealBody>,
) -> Response {
    let Ok(appid) = AppId::parse(&appid) else {
        return rejected("invalid appid");
    };
    match inner
        .appeal(&appid, &b.punish_id, b.status, &b.audit_reason)
        .await
    {
        Ok(id) => Json(json!({ "appeal_record_id": id })).into_response(),
        Err(e) => rejected(e),
    }
}

impl Simulator {
    /// Penalises `appid` ([`Punishment`]): listed by getillegalrecords, and pushed as
    /// `wxa_punish_event` when the account granted permission set 76. Answers it as recorded
    /// (its `punish_id` generated when empty).
    pub async fn punish(&self, appid: &AppId, p: Punishment) -> anyhow::Result<Punishment> {
        self.inner.punish(appid, p).await
    }

    /// Pushes a recorded penalty again, with a new CreateTime (as WeChat may).
    pub async fn repush_punishment(&self, appid: &AppId, punish_id: &str) -> anyhow::Result<()> {
        self.inner.repush_punishment(appid, punish_id).await
    }

    /// An appeal of `punish_id` in `status` (1 processing, 2 approved, 3 rejected, 4 withdrawn),
    /// pushed as `wxa_appeal_record`. Answers its appeal_record_id.
    pub async fn appeal(
        &self,
        appid: &AppId,
        punish_id: &str,
        status: i64,
        audit_reason: &str,
    ) -> anyhow::Result<u64> {
        self.inner
            .appeal(appid, punish_id, status, audit_reason)
            .await
    }
}
