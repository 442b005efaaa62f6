//! Violations: the penalties WeChat pushes for an app (`wxa_punish_event`) and the appeals
//! against them (`wxa_appeal_record`), kept per app so that a ban on one app of 500 is seen in
//! the app's view and the authorizer list, not only in a log line.
//!
//! Both pushes carry their own id (`punish_id`, `appeal_record_id`): a penalty is recorded once
//! however often WeChat pushes it (a retry, or the same penalty pushed again with another
//! CreateTime, which the push log's digest would not catch); an appeal is one record whose
//! status the newest push sets.
//!
//! Sources: Third-party_Platforms/2.0/product/illegalEvent.html (服务商代接收小程序违规处罚信息,
//! `wxa_punish_event`), Third-party_Platforms/2.0/api/records/record_event.html (小程序申诉记录推送,
//! `wxa_appeal_record`).

use super::{Page, StoreResult};
use crate::domain::{AppId, UnixTime};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What a penalty does, from the push's `event_type` (illegalEvent.html: 1 警告, 2 功能封禁,
/// 3 下架, 4 账号封禁, 10 页面封禁).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PenaltyKind {
    /// A warning: something is banned unless rectified by a deadline (`detail`).
    Warning,
    /// Some functions banned for some days (`detail.banned_function_names`).
    FunctionBan,
    /// The mini program taken down (下架).
    TakenDown,
    /// The whole account banned.
    AccountBan,
    /// Some pages banned.
    PageBan,
    /// An `event_type` the page does not name (kept as pushed in [`Penalty::event_type`]).
    Other,
}

impl PenaltyKind {
    pub fn from_event_type(t: i64) -> PenaltyKind {
        match t {
            1 => PenaltyKind::Warning,
            2 => PenaltyKind::FunctionBan,
            3 => PenaltyKind::TakenDown,
            4 => PenaltyKind::AccountBan,
            10 => PenaltyKind::PageBan,
            _ => PenaltyKind::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PenaltyKind::Warning => "warning",
            PenaltyKind::FunctionBan => "function_ban",
            PenaltyKind::TakenDown => "taken_down",
            PenaltyKind::AccountBan => "account_ban",
            PenaltyKind::PageBan => "page_ban",
            PenaltyKind::Other => "other",
        }
    }
}

/// One penalty of one app, as `wxa_punish_event` pushed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Penalty {
    pub appid: AppId,
    /// WeChat's id of this penalty (违规处罚ID, unique per violation).
    pub punish_id: String,
    pub kind: PenaltyKind,
    /// The push's `event_type` as it came.
    pub event_type: i64,
    /// When WeChat imposed it (`punish_time`).
    pub punish_time: UnixTime,
    pub illegal_reason: String,
    pub illegal_content: String,
    pub rule_name: String,
    pub rule_url: String,
    /// Where the merchant learns how to appeal or rectify.
    pub adjust_guide_url: String,
    /// The push's `detail` JSON (its shape depends on `event_type`: a warning's deadline, the
    /// banned functions and days…), parsed; `Null` when it was absent or not JSON.
    pub detail: serde_json::Value,
    /// When wxopen received the first push of it.
    pub received_at: UnixTime,
}

/// Where an appeal stands (record_event.html: 1 正在处理, 2 申诉通过, 3 申诉不通过, 4 申诉已撤销).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealStatus {
    Processing,
    Approved,
    Rejected,
    Withdrawn,
    Other,
}

impl AppealStatus {
    pub fn from_code(c: i64) -> AppealStatus {
        match c {
            1 => AppealStatus::Processing,
            2 => AppealStatus::Approved,
            3 => AppealStatus::Rejected,
            4 => AppealStatus::Withdrawn,
            _ => AppealStatus::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AppealStatus::Processing => "processing",
            AppealStatus::Approved => "approved",
            AppealStatus::Rejected => "rejected",
            AppealStatus::Withdrawn => "withdrawn",
            AppealStatus::Other => "other",
        }
    }
}

/// One appeal of one app, as the newest `wxa_appeal_record` push of it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appeal {
    pub appid: AppId,
    pub appeal_record_id: u64,
    pub status: AppealStatus,
    pub appeal_time: UnixTime,
    pub appeal_count: i64,
    /// 0: the merchant (用户), 1: the platform (服务商).
    pub appeal_from: i64,
    /// Absent while processing or withdrawn.
    pub audit_time: Option<UnixTime>,
    pub audit_reason: String,
    pub punish_description: String,
    /// The push's CreateTime: a push older than the one recorded changes nothing.
    pub pushed_at: UnixTime,
}

#[async_trait]
pub trait ViolationStore: Send + Sync {
    /// Records a penalty and marks its app penalised, in one write; `false` (nothing written)
    /// when this app's penalty with the same `punish_id` is recorded already.
    async fn record_penalty(&self, p: &Penalty) -> StoreResult<bool>;
    /// The app's penalties, newest `punish_time` first.
    async fn list_penalties(&self, appid: &AppId) -> StoreResult<Vec<Penalty>>;
    /// Records an appeal, or replaces the one with its `appeal_record_id` when this one was
    /// pushed later; `false` when the recorded one is as new or newer (nothing written).
    async fn record_appeal(&self, a: &Appeal) -> StoreResult<bool>;
    /// The app's appeals, by `appeal_record_id`.
    async fn list_appeals(&self, appid: &AppId) -> StoreResult<Vec<Appeal>>;
    /// The apps with at least one penalty recorded, in appid order, a page at a time.
    async fn penalised_apps(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page<AppId>>;
}

/// The newest first, ties by id (both stores list the same order).
pub fn newest_first(penalties: &mut [Penalty]) {
    penalties.sort_by(|a, b| {
        b.punish_time
            .cmp(&a.punish_time)
            .then_with(|| a.punish_id.cmp(&b.punish_id))
    });
}
