//! Operators are told, not left to look: events (an audit rejected, a merchant who revoked, a
//! batch finished...) become notifications to WeCom group robots, signed webhooks and the
//! stack's SNS topic.
//!
//! Never lost, never blocking: the path that produced an event only writes it to the store's
//! outbox ([`emit`], one conditional write keyed by the event's id, so a repeated push makes no
//! second notification). Delivery is the drainer's ([`deliver::Notifier`]): the batch runner
//! drains every minute, and the operator API sends right away where that is cheap (a test send,
//! a retry). A failed delivery is retried with backoff for 24 hours, then kept as failed, listed
//! (`GET /ops/notifications?status=failed`) and counted (`NotificationsFailed`, with an alarm).
//!
//! - [`event`]: the [`Event`]s and how each reads (WeCom markdown, plain text, JSON).
//! - [`rules`]: which events go to which channel, optionally per customer.
//! - [`channel_secrets`]: the channels' URLs and signing secrets, kept in Secrets Manager.
//! - [`channel`]: sending to one channel (and the webhook's signature).
//! - [`deliver`]: the drainer.

pub mod channel;
pub mod channel_secrets;
pub mod deliver;
pub mod event;
pub mod rules;

pub use channel::{Sender, SnsTopic};
pub use channel_secrets::{
    load_rules, save_rules, ChannelSecretStore, LocalChannelSecrets, SecretsManagerChannelSecrets,
};
pub use deliver::{DrainReport, Notifier};
pub use event::{Event, EventKind, ReviewSubject};
pub use rules::{Channel, ChannelKind, NotificationRules, Route};

use crate::domain::{AppId, UnixTime};
use crate::store::{
    AppealStatus, Notification, NotificationStatus, NotificationStore, StoreResult,
};

/// How long failed deliveries are retried after a notification is created (or retried by hand).
pub const RETRY_WINDOW_SECS: i64 = 86_400;

/// What [`emit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    /// Written to the outbox: the drainer delivers it.
    New,
    /// A notification with this id exists: nothing written.
    Repeated,
}

/// Puts `event` in the outbox under `event_id` (the same id twice is one notification), due at
/// once. Only the store is touched: the caller's answer (a push's `success`) never waits for a
/// delivery.
pub async fn emit<S: NotificationStore + ?Sized>(
    store: &S,
    event: Event,
    event_id: &str,
    now: UnixTime,
) -> StoreResult<Emitted> {
    let kind = event.kind();
    let n = Notification {
        id: event_id.to_owned(),
        event,
        created_at: now,
        status: NotificationStatus::Pending,
        routed: false,
        deliveries: vec![],
        next_attempt_at: now,
        retry_until: now + RETRY_WINDOW_SECS,
        updated_at: now,
    };
    let emitted = if store.create_notification(&n).await? {
        Emitted::New
    } else {
        Emitted::Repeated
    };
    tracing::info!(
        event = kind.as_str(),
        id = event_id,
        ?emitted,
        "notification emitted"
    );
    Ok(emitted)
}

/// [`emit`] for a path that must not fail because of a notification (the refresher's summary, a
/// batch's end): a store failure is logged, not returned.
pub async fn emit_logged<S: NotificationStore + ?Sized>(
    store: &S,
    event: Event,
    event_id: &str,
    now: UnixTime,
) {
    let kind = event.kind();
    if let Err(e) = emit(store, event, event_id, now).await {
        tracing::error!(event = kind.as_str(), id = event_id, error = %e, "a notification could not be written to the outbox");
    }
}

/// An appeal reached `status` ([`Event::AppealUpdated`]): in the outbox once per appeal and
/// state, so the push and a later getappealrecords read of the same state make one message.
pub async fn emit_appeal<S: NotificationStore + ?Sized>(
    store: &S,
    appid: &AppId,
    appeal_record_id: u64,
    status: AppealStatus,
    reason: &str,
    now: UnixTime,
) -> StoreResult<Emitted> {
    let id = event::appeal_event_id(appid, appeal_record_id, status);
    let event = Event::AppealUpdated {
        appid: appid.clone(),
        appeal_record_id,
        status,
        reason: reason.to_owned(),
    };
    emit(store, event, &id, now).await
}
