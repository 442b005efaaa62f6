//! The notification outbox: every event an operator should hear about, written in the path that
//! produced it (keyed by the event's id, so a repeated push makes no second one) and delivered
//! later by the drainer ([`crate::notifications::Notifier`]), which records each channel's
//! attempts here. And the routing rules, one item.

use super::{Page, StoreResult};
use crate::domain::UnixTime;
use crate::notifications::{Event, NotificationRules};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where a notification stands, across its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Some channel has not had it yet and is still being tried.
    Pending,
    /// Every channel it was routed to took it.
    Delivered,
    /// A channel refused it for its whole retry window: kept, listed, counted.
    Failed,
    /// No rule routes it anywhere: kept for the record.
    Unrouted,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Delivered => "delivered",
            NotificationStatus::Failed => "failed",
            NotificationStatus::Unrouted => "unrouted",
        }
    }
}

/// One channel's part of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

/// A notification's delivery to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDelivery {
    pub channel: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// Why the last attempt failed (a status code or WeCom's errcode; never the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<UnixTime>,
}

/// An outbox item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The event's id (`audit/{appid}/{auditid}/rejected`, `batch/{id}/finished`...): the same
    /// event emitted twice is one notification.
    pub id: String,
    pub event: Event,
    pub created_at: UnixTime,
    pub status: NotificationStatus,
    /// The rules were applied (at the first attempt, so a rule changed meanwhile counts).
    #[serde(default)]
    pub routed: bool,
    #[serde(default)]
    pub deliveries: Vec<ChannelDelivery>,
    /// When the drainer next tries it (also its lease while one drainer is at work on it).
    pub next_attempt_at: UnixTime,
    /// Failed deliveries are retried until then (24 h after creation, or after a manual retry).
    pub retry_until: UnixTime,
    #[serde(default)]
    pub updated_at: UnixTime,
}

/// A [`Notification`] with the version it was read at.
#[derive(Debug, Clone)]
pub struct VersionedNotification {
    pub notification: Notification,
    pub version: u64,
}

/// How long an outbox item is kept after it was created.
pub const NOTIFICATION_RETENTION_SECS: i64 = 30 * 86_400;

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Writes a new notification; `false` (and nothing written) when one with its id exists.
    async fn create_notification(&self, n: &Notification) -> StoreResult<bool>;
    async fn get_notification(&self, id: &str) -> StoreResult<Option<VersionedNotification>>;
    /// Replaces it if the stored version is `expected` (else `Conflict`; `NotFound` when gone).
    /// Pending ones are kept in the due order by `next_attempt_at`.
    async fn put_notification(&self, n: &Notification, expected: u64) -> StoreResult<u64>;
    /// Ids of pending notifications whose `next_attempt_at` is at or before `now`, soonest
    /// first, through an index (never a scan).
    async fn due_notifications(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<String>>;
    /// Newest first, a page at a time; `status` filters.
    async fn list_notifications(
        &self,
        status: Option<NotificationStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Notification>>;
    /// The routing rules (empty when none were set).
    async fn get_notification_rules(&self) -> StoreResult<NotificationRules>;
    async fn put_notification_rules(&self, rules: &NotificationRules) -> StoreResult<()>;
}
