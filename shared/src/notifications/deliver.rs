//! The drainer: takes due notifications from the outbox, routes them by the rules at their
//! first attempt, sends each to its channels, and records the outcome; retries with backoff
//! until the notification's retry window closes, then marks it failed.
//!
//! Two drainers never send one notification at once: each claims it first by moving its
//! `next_attempt_at` a lease ahead in a versioned write; the loser skips it.

use super::channel::{SendError, Sender};
use super::channel_secrets::{load_rules, ChannelSecretStore};
use super::rules::NotificationRules;
use super::RETRY_WINDOW_SECS;
use crate::domain::UnixTime;
use crate::store::{
    ChannelDelivery, DeliveryState, Notification, NotificationStatus, Store, StoreError,
    StoreResult,
};

/// How long a claim holds a notification: longer than its sends (5 s each, concurrent).
const LEASE_SECS: i64 = 60;
/// Due notifications taken per store read.
const DRAIN_PAGE: u32 = 100;
/// Pages one drain works through at most (the next run takes the rest).
const DRAIN_PAGES: usize = 20;

/// The wait before the next attempt after `attempts` failed ones: 1, 2, 4... minutes, an hour
/// at most.
pub fn backoff_secs(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(6);
    (60i64 << exp).min(3_600)
}

/// What one drain did, for its log line and its metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    /// Notifications every channel of which now has them.
    pub delivered: u64,
    /// Notifications with a failed channel, to be tried again.
    pub retrying: u64,
    /// Notifications whose retry window closed with a channel still failing: now `failed`.
    pub failed: u64,
    /// Notifications no rule routes anywhere.
    pub unrouted: u64,
}

/// The metric failed notifications count in (namespace `wxopen`, dimension `Function`); an alarm
/// in `template.yaml` watches it.
pub const FAILED_METRIC: &str = "NotificationsFailed";

impl DrainReport {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Unrouted => self.unrouted += 1,
            Outcome::Skipped => {}
        }
    }

    /// The Embedded Metric Format document of this drain by `function` (printed to stdout,
    /// where CloudWatch turns it into metrics).
    pub fn emf(&self, function: &str, timestamp_ms: u64) -> serde_json::Value {
        serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": "wxopen",
                    "Dimensions": [["Function"]],
                    "Metrics": [
                        { "Name": "NotificationsDelivered", "Unit": "Count" },
                        { "Name": "NotificationsRetrying", "Unit": "Count" },
                        { "Name": FAILED_METRIC, "Unit": "Count" },
                    ],
                }],
            },
            "Function": function,
            "NotificationsDelivered": self.delivered,
            "NotificationsRetrying": self.retrying,
            FAILED_METRIC: self.failed,
        })
    }
}

/// What one attempt at one notification came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retrying,
    Failed,
    Unrouted,
    /// Not due, not pending, gone, or claimed by another drainer.
    Skipped,
}

/// Delivers the outbox: the channels' sender, the console's URL the messages link to, and where
/// the channels' URLs and signing secrets are kept.
#[derive(Clone)]
pub struct Notifier {
    sender: Sender,
    /// The console's base URL (`{WXOPEN_PUBLIC_URL}/console`); `None`: messages carry no link.
    console_url: Option<String>,
    secrets: std::sync::Arc<dyn ChannelSecretStore>,
}

impl Notifier {
    pub fn new(
        sender: Sender,
        console_url: Option<String>,
        secrets: std::sync::Arc<dyn ChannelSecretStore>,
    ) -> Notifier {
        Notifier {
            sender,
            console_url,
            secrets,
        }
    }

    /// Where the channels' secret parts are kept (the rules routes write them there).
    pub fn channel_secrets(&self) -> &dyn ChannelSecretStore {
        self.secrets.as_ref()
    }

    /// The console link base, from the public URL the API is reached at.
    pub fn console_url_for(public_url: Option<&str>) -> Option<String> {
        public_url.map(|u| format!("{}/console", u.trim_end_matches('/')))
    }

    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    pub fn console_url(&self) -> Option<&str> {
        self.console_url.as_deref()
    }

    /// Every notification due at `now`, page by page (bounded: the next drain takes the rest).
    /// The rules and the channels' secret, read once per drain (not per notification).
    pub async fn drain(&self, store: &dyn Store, now: UnixTime) -> StoreResult<DrainReport> {
        let mut report = DrainReport::default();
        let mut rules: Option<NotificationRules> = None;
        for _ in 0..DRAIN_PAGES {
            let due = store.due_notifications(now, DRAIN_PAGE).await?;
            if due.is_empty() {
                break;
            }
            let rules = match &rules {
                Some(r) => r,
                None => rules.insert(load_rules(store, self.secrets.as_ref()).await?),
            };
            let outcomes = futures::future::join_all(
                due.iter()
                    .map(|id| self.attempt_with(store, rules, id, now)),
            )
            .await;
            let mut progressed = false;
            for o in outcomes {
                let o = o?;
                progressed |= o != Outcome::Skipped;
                report.add(o);
            }
            if !progressed {
                break;
            }
        }
        if report != DrainReport::default() {
            tracing::info!(?report, "notifications drained");
        }
        Ok(report)
    }

    /// One attempt at notification `id`, if it is pending and due at `now`.
    pub async fn attempt(
        &self,
        store: &dyn Store,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Outcome> {
        let rules = load_rules(store, self.secrets.as_ref()).await?;
        self.attempt_with(store, &rules, id, now).await
    }

    /// [`Notifier::attempt`] under rules already read (their secret parts filled in).
    async fn attempt_with(
        &self,
        store: &dyn Store,
        rules: &NotificationRules,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Outcome> {
        let Some(read) = store.get_notification(id).await? else {
            return Ok(Outcome::Skipped);
        };
        let mut n = read.notification;
        if n.status != NotificationStatus::Pending || n.next_attempt_at > now {
            return Ok(Outcome::Skipped);
        }
        if !n.routed {
            let customer = match n.event.appid() {
                Some(a) => store.get_authorizer(a).await?.and_then(|p| p.customer_id),
                None => None,
            };
            n.deliveries = rules
                .channels_for(n.event.kind(), customer.as_deref())
                .into_iter()
                .map(|c| ChannelDelivery {
                    channel: c.name.clone(),
                    state: DeliveryState::Pending,
                    attempts: 0,
                    last_error: None,
                    delivered_at: None,
                })
                .collect();
            n.routed = true;
        }
        n.updated_at = now;
        if n.deliveries.is_empty() {
            n.status = NotificationStatus::Unrouted;
            return match store.put_notification(&n, read.version).await {
                Ok(_) => Ok(Outcome::Unrouted),
                Err(StoreError::Conflict) => Ok(Outcome::Skipped),
                Err(e) => Err(e),
            };
        }
        // The claim: whoever moves the attempt time first sends; the other skips.
        n.next_attempt_at = now + LEASE_SECS;
        let version = match store.put_notification(&n, read.version).await {
            Ok(v) => v,
            Err(StoreError::Conflict) => return Ok(Outcome::Skipped),
            Err(e) => return Err(e),
        };
        let sends = n
            .deliveries
            .iter()
            .enumerate()
            .filter(|(_, d)| d.state == DeliveryState::Pending)
            .map(|(i, d)| {
                let n = &n;
                async move {
                    let r = match rules.channel(&d.channel) {
                        Some(c) => self.sender.send(c, n, self.console_url(), now).await,
                        None => Err(SendError::UnknownChannel(d.channel.clone())),
                    };
                    (i, r)
                }
            })
            .collect::<Vec<_>>();
        for (i, r) in futures::future::join_all(sends).await {
            let d = &mut n.deliveries[i];
            d.attempts += 1;
            match r {
                Ok(()) => {
                    d.state = DeliveryState::Delivered;
                    d.delivered_at = Some(now);
                    d.last_error = None;
                }
                Err(e) => {
                    tracing::warn!(id = %n.id, channel = %d.channel, attempt = d.attempts, error = %e, "notification not delivered");
                    d.last_error = Some(e.to_string());
                }
            }
        }
        let outcome = settle(&mut n, now);
        match store.put_notification(&n, version).await {
            Ok(_) => {}
            // Our lease ran out and another drainer took it over: its record stands.
            Err(StoreError::Conflict) => {
                tracing::warn!(id = %n.id, "notification taken over by another drainer; its outcome stands")
            }
            Err(e) => return Err(e),
        }
        if outcome == Outcome::Failed {
            tracing::error!(id = %n.id, event = n.event.kind().as_str(), "notification failed for its whole retry window; kept as failed");
        }
        Ok(outcome)
    }

    /// Sends a failed (or pending) notification again now, with a fresh retry window for the
    /// channels that have not had it. `None` when there is no such notification.
    pub async fn retry(
        &self,
        store: &dyn Store,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<(Outcome, Notification)>> {
        for _ in 0..4 {
            let Some(read) = store.get_notification(id).await? else {
                return Ok(None);
            };
            let mut n = read.notification;
            if n.status == NotificationStatus::Failed || n.status == NotificationStatus::Pending {
                for d in &mut n.deliveries {
                    if d.state == DeliveryState::Failed {
                        d.state = DeliveryState::Pending;
                    }
                }
                n.status = NotificationStatus::Pending;
                n.next_attempt_at = now;
                n.retry_until = now + RETRY_WINDOW_SECS;
                n.updated_at = now;
                match store.put_notification(&n, read.version).await {
                    Ok(_) => {}
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e),
                }
            }
            let outcome = self.attempt(store, id, now).await?;
            let n = store
                .get_notification(id)
                .await?
                .map(|v| v.notification)
                .unwrap_or(n);
            return Ok(Some((outcome, n)));
        }
        Err(StoreError::Conflict)
    }
}

/// The notification's status after an attempt at `now`: delivered when every channel has it;
/// else retried after the backoff, or failed once the retry window has closed.
fn settle(n: &mut Notification, now: UnixTime) -> Outcome {
    let pending: Vec<u32> = n
        .deliveries
        .iter()
        .filter(|d| d.state == DeliveryState::Pending)
        .map(|d| d.attempts)
        .collect();
    if pending.is_empty()
        && n.deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
    {
        n.status = NotificationStatus::Delivered;
        return Outcome::Delivered;
    }
    if now >= n.retry_until {
        for d in &mut n.deliveries {
            if d.state == DeliveryState::Pending {
                d.state = DeliveryState::Failed;
            }
        }
        n.status = NotificationStatus::Failed;
        return Outcome::Failed;
    }
    let attempts = pending.into_iter().max().unwrap_or(1);
    n.next_attempt_at = (now + backoff_secs(attempts)).min(n.retry_until);
    n.status = NotificationStatus::Pending;
    Outcome::Retrying
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppId;
    use crate::notifications::Event;

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        let b: Vec<i64> = (1..=9).map(backoff_secs).collect();
        assert_eq!(b, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }

    fn pending(attempts: u32, state: DeliveryState) -> Notification {
        Notification {
            id: "x".into(),
            event: Event::Unauthorized {
                appid: AppId::parse("wxf8b4f85f3a794e77").unwrap(),
            },
            created_at: 0,
            status: NotificationStatus::Pending,
            routed: true,
            deliveries: vec![ChannelDelivery {
                channel: "c".into(),
                state,
                attempts,
                last_error: None,
                delivered_at: None,
            }],
            next_attempt_at: 0,
            retry_until: RETRY_WINDOW_SECS,
            updated_at: 0,
        }
    }

    #[test]
    fn a_failure_is_retried_within_the_window_and_failed_after_it() {
        let mut n = pending(2, DeliveryState::Pending);
        assert_eq!(settle(&mut n, 100), Outcome::Retrying);
        assert_eq!(n.next_attempt_at, 220);
        // Never scheduled past the window: the last attempt is at its close.
        let mut n = pending(9, DeliveryState::Pending);
        assert_eq!(settle(&mut n, RETRY_WINDOW_SECS - 10), Outcome::Retrying);
        assert_eq!(n.next_attempt_at, RETRY_WINDOW_SECS);
        let mut n = pending(9, DeliveryState::Pending);
        assert_eq!(settle(&mut n, RETRY_WINDOW_SECS), Outcome::Failed);
        assert_eq!(n.status, NotificationStatus::Failed);
        assert_eq!(n.deliveries[0].state, DeliveryState::Failed);
        let mut n = pending(1, DeliveryState::Delivered);
        assert_eq!(settle(&mut n, 5), Outcome::Delivered);
    }

    #[test]
    fn the_failed_metric_is_declared_in_the_emf_document() {
        let r = DrainReport {
            failed: 2,
            ..Default::default()
        };
        let doc = r.emf("batch-runner", 0);
        let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&FAILED_METRIC));
        assert_eq!(doc[FAILED_METRIC], 2);
        assert_eq!(doc["Function"], "batch-runner");
    }
}
