//! What operators are told about: one [`Event`] per thing that happened, rendered for people
//! (a WeCom group robot's markdown, Chinese first and English beneath, with a link to the app in
//! the console) and for machines (JSON, for the signed webhook and SNS).

use crate::domain::AppId;
use crate::store::AppealStatus;
use serde::{Deserialize, Serialize};

/// Something an operator should hear about. Each variant carries the facts its message shows;
/// [`Event::kind`] is what the rules route on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    AuditApproved {
        appid: AppId,
        auditid: u64,
    },
    AuditRejected {
        appid: AppId,
        auditid: u64,
        reason: String,
    },
    AuditDelayed {
        appid: AppId,
        auditid: u64,
        reason: String,
    },
    /// A batch has a result for every app.
    BatchFinished {
        batch_id: String,
        operation: String,
        ok: u64,
        skipped: u64,
        failed: u64,
    },
    /// A version went online.
    ReleaseDone {
        appid: AppId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// The merchant revoked the authorization.
    Unauthorized {
        appid: AppId,
    },
    /// WeChat refused the refresh token for good: the merchant must authorize again.
    NeedsReauthorization {
        appid: AppId,
    },
    /// A token refresher run with failures (or one that stopped: quota, IP whitelist).
    RefreshFailures {
        failed: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// No `component_verify_ticket` for too long (`None`: none at all).
    TicketStale {
        age_secs: Option<i64>,
    },
    /// Less than 10% of the month's audit quota is left.
    AuditQuotaLow {
        remaining: u64,
        limit: u64,
    },
    /// WeChat penalised an app (a violation or penalty notice).
    Violation {
        appid: AppId,
        detail: String,
    },
    /// An appeal against a penalty was filed, or has its result: told once per state an appeal
    /// reaches ([`appeal_event_id`]), whether wxopen learnt it from a push or from
    /// getappealrecords.
    AppealUpdated {
        appid: AppId,
        appeal_record_id: u64,
        status: AppealStatus,
        /// WeChat's reason for the result (empty while processing).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// A filing (备案) was filed or rejected, or waits for the responsible person's SMS check.
    FilingResult {
        appid: AppId,
        outcome: FilingOutcome,
        detail: String,
    },
    /// A fast registration (快速注册) succeeded or failed.
    RegistrationResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        appid: Option<AppId>,
        approved: bool,
        detail: String,
    },
    /// WeChat's review of a profile change (a new name, a category's qualification) ended.
    ProfileReview {
        appid: AppId,
        subject: ReviewSubject,
        approved: bool,
        /// The reviewer's reason of a rejection, as WeChat wrote it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// `POST /ops/notifications/test`: proves a channel reaches its receiver.
    Test {
        operator: String,
    },
}

/// Where a filing (备案) stands when operators are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingOutcome {
    Filed,
    Rejected,
    /// The administration's SMS check waits for the responsible person's answer.
    SmsWaiting,
}

/// What a profile review was about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReviewSubject {
    Name { nickname: String },
    Category { first: u64, second: u64 },
}

/// An [`Event`]'s kind, without its facts: what the rules name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    AuditApproved,
    AuditRejected,
    AuditDelayed,
    BatchFinished,
    ReleaseDone,
    Unauthorized,
    NeedsReauthorization,
    RefreshFailures,
    TicketStale,
    AuditQuotaLow,
    Violation,
    AppealUpdated,
    FilingResult,
    RegistrationResult,
    ProfileReview,
    Test,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AuditApproved => "audit_approved",
            EventKind::AuditRejected => "audit_rejected",
            EventKind::AuditDelayed => "audit_delayed",
            EventKind::BatchFinished => "batch_finished",
            EventKind::ReleaseDone => "release_done",
            EventKind::Unauthorized => "unauthorized",
            EventKind::NeedsReauthorization => "needs_reauthorization",
            EventKind::RefreshFailures => "refresh_failures",
            EventKind::TicketStale => "ticket_stale",
            EventKind::AuditQuotaLow => "audit_quota_low",
            EventKind::Violation => "violation",
            EventKind::AppealUpdated => "appeal_updated",
            EventKind::FilingResult => "filing_result",
            EventKind::RegistrationResult => "registration_result",
            EventKind::ProfileReview => "profile_review",
            EventKind::Test => "test",
        }
    }
}

/// WeCom caps a robot's markdown at 4096 bytes; a reason WeChat wrote is cut well before.
const MAX_DETAIL_CHARS: usize = 600;

fn cut(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_DETAIL_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// One message in both languages: a title and lines, each `(中文, English)`.
struct Text {
    zh_title: &'static str,
    en_title: &'static str,
    lines: Vec<(String, String)>,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::AuditApproved { .. } => EventKind::AuditApproved,
            Event::AuditRejected { .. } => EventKind::AuditRejected,
            Event::AuditDelayed { .. } => EventKind::AuditDelayed,
            Event::BatchFinished { .. } => EventKind::BatchFinished,
            Event::ReleaseDone { .. } => EventKind::ReleaseDone,
            Event::Unauthorized { .. } => EventKind::Unauthorized,
            Event::NeedsReauthorization { .. } => EventKind::NeedsReauthorization,
            Event::RefreshFailures { .. } => EventKind::RefreshFailures,
            Event::TicketStale { .. } => EventKind::TicketStale,
            Event::AuditQuotaLow { .. } => EventKind::AuditQuotaLow,
            Event::Violation { .. } => EventKind::Violation,
            Event::AppealUpdated { .. } => EventKind::AppealUpdated,
            Event::FilingResult { .. } => EventKind::FilingResult,
            Event::RegistrationResult { .. } => EventKind::RegistrationResult,
            Event::ProfileReview { .. } => EventKind::ProfileReview,
            Event::Test { .. } => EventKind::Test,
        }
    }

    /// The app the event is about, if one: its customer picks the per-customer rules, and the
    /// message links to it in the console.
    pub fn appid(&self) -> Option<&AppId> {
        match self {
            Event::AuditApproved { appid, .. }
            | Event::AuditRejected { appid, .. }
            | Event::AuditDelayed { appid, .. }
            | Event::ReleaseDone { appid, .. }
            | Event::Unauthorized { appid }
            | Event::NeedsReauthorization { appid }
            | Event::Violation { appid, .. }
            | Event::AppealUpdated { appid, .. }
            | Event::FilingResult { appid, .. }
            | Event::ProfileReview { appid, .. } => Some(appid),
            Event::RegistrationResult { appid, .. } => appid.as_ref(),
            Event::BatchFinished { .. }
            | Event::RefreshFailures { .. }
            | Event::TicketStale { .. }
            | Event::AuditQuotaLow { .. }
            | Event::Test { .. } => None,
        }
    }

    fn text(&self) -> Text {
        let t = |zh_title, en_title, lines: Vec<(String, String)>| Text {
            zh_title,
            en_title,
            lines,
        };
        let app = |a: &AppId| (format!("小程序：{a}"), format!("Mini program: {a}"));
        match self {
            Event::AuditApproved { appid, auditid } => t(
                "审核通过",
                "Audit approved",
                vec![
                    app(appid),
                    (format!("审核单：{auditid}，可以发布"), format!("Audit {auditid}: ready to release")),
                ],
            ),
            Event::AuditRejected {
                appid,
                auditid,
                reason,
            } => t(
                "审核未通过",
                "Audit rejected",
                vec![
                    app(appid),
                    (format!("审核单：{auditid}"), format!("Audit {auditid}")),
                    (format!("原因：{}", cut(reason)), format!("Reason (as WeChat wrote it): {}", cut(reason))),
                ],
            ),
            Event::AuditDelayed {
                appid,
                auditid,
                reason,
            } => t(
                "审核延后",
                "Audit delayed",
                vec![
                    app(appid),
                    (format!("审核单：{auditid}"), format!("Audit {auditid}")),
                    (format!("原因：{}", cut(reason)), format!("Reason: {}", cut(reason))),
                ],
            ),
            Event::BatchFinished {
                batch_id,
                operation,
                ok,
                skipped,
                failed,
            } => t(
                "批量操作完成",
                "Batch finished",
                vec![
                    (format!("批次：{batch_id}（{operation}）"), format!("Batch {batch_id} ({operation})")),
                    (
                        format!("成功 {ok}，跳过 {skipped}，失败 {failed}"),
                        format!("{ok} ok, {skipped} skipped, {failed} failed"),
                    ),
                ],
            ),
            Event::ReleaseDone { appid, version } => {
                let v = version.as_deref().unwrap_or("-");
                t(
                    "发布完成",
                    "Released",
                    vec![app(appid), (format!("版本：{v}"), format!("Version: {v}"))],
                )
            }
            Event::Unauthorized { appid } => t(
                "商家已取消授权",
                "Authorization revoked",
                vec![
                    app(appid),
                    ("商家在微信中取消了对平台的授权，历史记录保留。".into(), "The merchant revoked the platform's authorization; history is kept.".into()),
                ],
            ),
            Event::NeedsReauthorization { appid } => t(
                "需要商家重新授权",
                "Merchant must authorize again",
                vec![
                    app(appid),
                    ("微信拒绝了刷新令牌（61023），请发送新的授权邀请。".into(), "WeChat refused the refresh token (61023): send the merchant a new invitation.".into()),
                ],
            ),
            Event::RefreshFailures { failed, error } => {
                let mut lines = vec![(
                    format!("本次刷新失败 {failed} 个令牌"),
                    format!("{failed} token refreshes failed in one run"),
                )];
                if let Some(e) = error {
                    lines.push((format!("运行中止：{}", cut(e)), format!("The run stopped: {}", cut(e))));
                }
                t("令牌刷新失败", "Token refresh failures", lines)
            }
            Event::TicketStale { age_secs } => {
                let age = match age_secs {
                    Some(s) => (format!("已有 {} 分钟未收到", s / 60), format!("none for {} minutes", s / 60)),
                    None => ("从未收到".into(), "none ever received".into()),
                };
                t(
                    "component_verify_ticket 过期",
                    "component_verify_ticket is stale",
                    vec![
                        age,
                        ("请检查授权事件接收URL。".into(), "Check the authorization event URL.".into()),
                    ],
                )
            }
            Event::AuditQuotaLow { remaining, limit } => t(
                "本月审核额度不足 10%",
                "Under 10% of the month's audit quota left",
                vec![(
                    format!("剩余 {remaining} / {limit}"),
                    format!("{remaining} of {limit} left"),
                )],
            ),
            Event::Violation { appid, detail } => t(
                "小程序违规处罚",
                "Violation or penalty",
                vec![app(appid), (format!("详情：{}", cut(detail)), format!("Detail: {}", cut(detail)))],
            ),
            Event::AppealUpdated {
                appid,
                appeal_record_id,
                status,
                reason,
            } => {
                let (zh_title, en_title) = match status {
                    AppealStatus::Processing => ("处罚申诉已提交", "Appeal filed"),
                    AppealStatus::Approved => ("处罚申诉通过", "Appeal approved"),
                    AppealStatus::Rejected => ("处罚申诉不通过", "Appeal rejected"),
                    AppealStatus::Withdrawn => ("处罚申诉已撤销", "Appeal withdrawn"),
                    AppealStatus::Other => ("处罚申诉状态变化", "Appeal changed"),
                };
                let mut lines = vec![
                    app(appid),
                    (
                        format!("申诉单：{appeal_record_id}"),
                        format!("Appeal {appeal_record_id}"),
                    ),
                ];
                if !reason.is_empty() {
                    lines.push((format!("原因：{}", cut(reason)), format!("Reason: {}", cut(reason))));
                }
                t(zh_title, en_title, lines)
            }
            Event::FilingResult {
                appid,
                outcome,
                detail,
            } => t(
                match outcome {
                    FilingOutcome::Filed => "备案通过",
                    FilingOutcome::Rejected => "备案未通过",
                    FilingOutcome::SmsWaiting => "备案待短信核验",
                },
                match outcome {
                    FilingOutcome::Filed => "Filing approved",
                    FilingOutcome::Rejected => "Filing rejected",
                    FilingOutcome::SmsWaiting => "Filing waits for the SMS check",
                },
                vec![app(appid), (format!("详情：{}", cut(detail)), format!("Detail: {}", cut(detail)))],
            ),
            Event::RegistrationResult {
                appid,
                approved,
                detail,
            } => {
                let mut lines = vec![];
                if let Some(a) = appid {
                    lines.push(app(a));
                }
                lines.push((format!("详情：{}", cut(detail)), format!("Detail: {}", cut(detail))));
                t(
                    if *approved { "快速注册成功" } else { "快速注册失败" },
                    if *approved { "Registration succeeded" } else { "Registration failed" },
                    lines,
                )
            }
            Event::ProfileReview {
                appid,
                subject,
                approved,
                reason,
            } => {
                let what = match subject {
                    ReviewSubject::Name { nickname } => {
                        (format!("名称：{}", cut(nickname)), format!("Name: {}", cut(nickname)))
                    }
                    ReviewSubject::Category { first, second } => (
                        format!("类目：{first}/{second}"),
                        format!("Category: {first}/{second}"),
                    ),
                };
                let mut lines = vec![app(appid), what];
                if !*approved {
                    lines.push((format!("原因：{}", cut(reason)), format!("Reason (as WeChat wrote it): {}", cut(reason))));
                }
                t(
                    if *approved { "资料审核通过" } else { "资料审核未通过" },
                    if *approved { "Profile review approved" } else { "Profile review rejected" },
                    lines,
                )
            }
            Event::Test { operator } => t(
                "测试通知",
                "Test notification",
                vec![(
                    format!("来自 {operator}：此渠道可以收到 wxopen 的通知。"),
                    format!("From {operator}: this channel receives wxopen's notifications."),
                )],
            ),
        }
    }

    /// Where the console shows what the event is about: the app's view, else the notifications
    /// view. `console_url`: the base URL the console is served under (`…/console`).
    pub fn console_link(&self, console_url: &str) -> String {
        let base = console_url.trim_end_matches('/');
        match self.appid() {
            Some(a) => format!("{base}#/apps/{a}"),
            None => format!("{base}#/notifications"),
        }
    }

    /// The WeCom group robot message (markdown, at most 4096 bytes): the Chinese title and
    /// lines, the English beneath, and a link to the console when its URL is known.
    pub fn wecom_markdown(&self, console_url: Option<&str>) -> String {
        let text = self.text();
        let mut md = format!("### {}\n", text.zh_title);
        for (zh, _) in &text.lines {
            md.push_str(&format!("> {zh}\n"));
        }
        md.push_str(&format!("\n**{}**\n", text.en_title));
        for (_, en) in &text.lines {
            md.push_str(&format!("> {en}\n"));
        }
        if let Some(url) = console_url {
            md.push_str(&format!(
                "\n[在控制台查看 · Open in the console]({})",
                self.console_link(url)
            ));
        }
        md
    }

    /// A plain-text subject and body (SNS e-mail subscribers).
    pub fn plain_text(&self, console_url: Option<&str>) -> (String, String) {
        let text = self.text();
        let subject = format!("wxopen: {} / {}", text.zh_title, text.en_title);
        let mut body = String::new();
        for (zh, _) in &text.lines {
            body.push_str(zh);
            body.push('\n');
        }
        body.push('\n');
        for (_, en) in &text.lines {
            body.push_str(en);
            body.push('\n');
        }
        if let Some(url) = console_url {
            body.push_str(&format!("\n{}\n", self.console_link(url)));
        }
        (subject, body)
    }

    /// The JSON document machines receive (the webhook's body, SNS's message attributes): the
    /// notification's id, when it was created, the event with its facts, a summary and the link.
    pub fn json(&self, id: &str, created_at: i64, console_url: Option<&str>) -> serde_json::Value {
        let text = self.text();
        serde_json::json!({
            "id": id,
            "created_at": created_at,
            "event": self,
            "title": { "zh": text.zh_title, "en": text.en_title },
            "console_url": console_url.map(|u| self.console_link(u)),
        })
    }
}

/// The outbox id of an appeal's `status`: one notification per state an appeal reaches, however
/// often (and by whichever path, push or getappealrecords) wxopen learns it.
pub fn appeal_event_id(appid: &AppId, appeal_record_id: u64, status: AppealStatus) -> String {
    format!("appeal:{appid}:{appeal_record_id}:{}", status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppId {
        AppId::parse("wxf8b4f85f3a794e77").unwrap()
    }

    #[test]
    fn a_rejection_reads_chinese_first_then_english_then_the_console_link() {
        let e = Event::AuditRejected {
            appid: app(),
            auditid: 7,
            reason: "小程序名称涉嫌侵权".into(),
        };
        let md = e.wecom_markdown(Some("https://wx.example.com/console"));
        let zh = md.find("审核未通过").unwrap();
        let en = md.find("Audit rejected").unwrap();
        let link = md
            .find("(https://wx.example.com/console#/apps/wxf8b4f85f3a794e77)")
            .unwrap();
        assert!(zh < en && en < link, "{md}");
        assert!(md.contains("小程序名称涉嫌侵权"));
        assert!(md.len() <= 4096);
    }

    #[test]
    fn a_long_reason_stays_within_wecoms_4096_bytes() {
        let e = Event::AuditRejected {
            appid: app(),
            auditid: 7,
            reason: "违".repeat(5000),
        };
        assert!(e.wecom_markdown(Some("https://x/console")).len() <= 4096);
    }

    #[test]
    fn the_json_names_the_kind_and_its_facts() {
        let e = Event::BatchFinished {
            batch_id: "b1".into(),
            operation: "release".into(),
            ok: 3,
            skipped: 1,
            failed: 0,
        };
        let j = e.json("batch/b1", 10, None);
        assert_eq!(j["event"]["kind"], "batch_finished");
        assert_eq!(j["event"]["ok"], 3);
        assert_eq!(j["id"], "batch/b1");
        let back: Event = serde_json::from_value(j["event"].clone()).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.kind().as_str(), "batch_finished");
        assert_eq!(
            serde_json::to_value(e.kind()).unwrap(),
            serde_json::json!("batch_finished")
        );
    }
}
