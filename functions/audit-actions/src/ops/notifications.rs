//! Notifications as operators manage them: the routing rules (which events go to which channel,
//! optionally per customer), a test send, the outbox listed by status, a failed notification
//! sent again; and the events this function produces (a release done, the audit quota running
//! low). Delivery itself is [`wxopen::notifications::Notifier`]'s.

use super::OpsError;
use crate::Deps;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};
use wxopen::domain::{beijing_month_start, AppId, AuditId, UnixTime};
use wxopen::notifications::channel::test_event;
use wxopen::notifications::{self, Channel, ChannelKind, Event, NotificationRules, Route};
use wxopen::store::{ChannelDelivery, Notification, NotificationStatus, Page};
use wxopen::wechat::wxa::QueryQuota;

/// One channel as `PUT /ops/notifications/rules` takes it. `url` and `signing_secret` may be
/// left out to keep the ones stored for a channel of that name (the API never shows them back).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    name: String,
    kind: ChannelKind,
    #[serde(default)]
    url: Option<SecretString>,
    #[serde(default)]
    signing_secret: Option<SecretString>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesBody {
    channels: Vec<ChannelBody>,
    #[serde(default)]
    routes: Vec<Route>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// The channel to send the test to.
    channel: String,
}

/// The rules as operators see them: channels without their secrets.
pub fn rules_view(rules: &NotificationRules) -> Value {
    json!({
        "channels": rules.channels.iter().map(Channel::view).collect::<Vec<_>>(),
        "routes": rules.routes,
        "operator": rules.operator,
        "updated_at": rules.updated_at,
    })
}

/// The rules as stored: the channels' secret parts are not even read.
pub async fn rules(deps: &Deps) -> Result<Value, OpsError> {
    Ok(rules_view(&deps.store.get_notification_rules().await?))
}

/// Replaces the rules, after checking them (a refused body changes nothing): the channels' URLs
/// and signing secrets to their Secrets Manager secret, the rest with references to the store.
pub async fn put_rules(deps: &Deps, operator: &str, body: RulesBody) -> Result<Value, OpsError> {
    let secrets = deps.notifier.channel_secrets();
    let stored = notifications::load_rules(deps.store.as_ref(), secrets).await?;
    let channels = body
        .channels
        .into_iter()
        .map(|c| {
            let kept = stored.channel(&c.name).filter(|s| s.kind == c.kind);
            Channel {
                url: c.url.or_else(|| kept.and_then(|k| k.url.clone())),
                signing_secret: c
                    .signing_secret
                    .or_else(|| kept.and_then(|k| k.signing_secret.clone())),
                name: c.name,
                kind: c.kind,
                secret_ref: None,
                url_view: None,
            }
        })
        .collect();
    let mut rules = NotificationRules {
        channels,
        routes: body.routes,
        operator: operator.to_owned(),
        updated_at: deps.clock.now(),
    };
    rules.validate().map_err(|e| OpsError::InvalidBody {
        field: "channels".into(),
        message: e.to_string(),
    })?;
    notifications::save_rules(deps.store.as_ref(), secrets, &mut rules).await?;
    tracing::info!(
        operator,
        channels = rules.channels.len(),
        routes = rules.routes.len(),
        "notification rules replaced"
    );
    Ok(rules_view(&rules))
}

/// Sends a test message to one channel now (not through the outbox): whether it arrived, and
/// the receiver's refusal when it did not.
pub async fn test(deps: &Deps, operator: &str, body: TestBody) -> Result<Value, OpsError> {
    let rules =
        notifications::load_rules(deps.store.as_ref(), deps.notifier.channel_secrets()).await?;
    let channel = rules
        .channel(&body.channel)
        .ok_or(OpsError::NotFound { what: "channel" })?;
    let now = deps.clock.now();
    let n = Notification {
        id: format!("test:{now}"),
        event: test_event(operator),
        created_at: now,
        status: NotificationStatus::Pending,
        routed: true,
        deliveries: vec![],
        next_attempt_at: now,
        retry_until: now,
        updated_at: now,
    };
    let sent = deps
        .notifier
        .sender()
        .send(channel, &n, deps.notifier.console_url(), now)
        .await;
    Ok(json!({
        "channel": channel.name,
        "delivered": sent.is_ok(),
        "error": sent.err().map(|e| e.to_string()),
    }))
}

/// A notification as operators see it.
pub fn view(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "kind": n.event.kind(),
        "event": n.event,
        "status": n.status,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
        "next_attempt_at": (n.status == NotificationStatus::Pending).then_some(n.next_attempt_at),
        "retry_until": n.retry_until,
        "deliveries": n.deliveries.iter().map(|d: &ChannelDelivery| json!({
            "channel": d.channel,
            "state": d.state,
            "attempts": d.attempts,
            "last_error": d.last_error,
            "delivered_at": d.delivered_at,
        })).collect::<Vec<_>>(),
    })
}

pub async fn list(
    deps: &Deps,
    status: Option<NotificationStatus>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Value, OpsError> {
    let Page { items, next } = deps.store.list_notifications(status, cursor, limit).await?;
    Ok(json!({ "items": items.iter().map(view).collect::<Vec<_>>(), "next": next }))
}

/// Sends a failed notification again now, with a fresh 24 hours of retries.
pub async fn retry(deps: &Deps, id: &str) -> Result<Value, OpsError> {
    let now = deps.clock.now();
    let (outcome, n) = deps
        .notifier
        .retry(deps.store.as_ref(), id, now)
        .await?
        .ok_or(OpsError::NotFound {
            what: "notification",
        })?;
    tracing::info!(id, ?outcome, "notification retried by an operator");
    Ok(view(&n))
}

/// A version went online: in the outbox once per audit.
pub async fn release_done(
    deps: &Deps,
    appid: &AppId,
    auditid: Option<AuditId>,
    version: Option<String>,
    at: UnixTime,
) {
    let id = format!(
        "release:{appid}:{}",
        auditid.map_or_else(|| at.to_string(), |a| a.0.to_string())
    );
    let event = Event::ReleaseDone {
        appid: appid.clone(),
        version,
    };
    notifications::emit_logged(deps.store.as_ref(), event, &id, deps.clock.now()).await;
}

/// The audit quota as WeChat reported it, wherever wxopen reads it (a batch's check, a single
/// submission, a speed-up, `GET /ops/quota`): under 10% left is notified once a month. The quota
/// is the platform's (queryquota answers the same figures with any app's token), so the month is
/// the whole event id: one message however many apps and reads see it low.
pub async fn audit_quota_seen(deps: &Deps, rest: i64, limit: i64) {
    if limit <= 0 || rest.max(0) * 10 >= limit {
        return;
    }
    let now = deps.clock.now();
    let id = format!("audit_quota_low:{}", beijing_month_start(now));
    let event = Event::AuditQuotaLow {
        remaining: rest.max(0) as u64,
        limit: limit as u64,
    };
    notifications::emit_logged(deps.store.as_ref(), event, &id, now).await;
}

/// Reads the audit quota after one app's submission (one queryquota with its token), so that
/// the quota running low is told when a submission spends it, not only when a batch checks it.
/// A failed read is logged: the submission stands.
pub async fn audit_quota_after_submit(deps: &Deps, appid: &AppId) {
    match deps.mgr.wxa(appid).call(&QueryQuota).await {
        Ok(q) => audit_quota_seen(deps, q.rest, q.limit).await,
        Err(e) => {
            tracing::warn!(%appid, error = %e, "audit quota not read after the submission")
        }
    }
}

/// Parses a `status` filter.
pub fn parse_status(s: &str) -> Result<NotificationStatus, OpsError> {
    serde_json::from_value(Value::String(s.to_owned())).map_err(|_| OpsError::Invalid {
        code: "invalid_status",
        message: "status is one of pending, delivered, failed, unrouted".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_filter_is_one_of_the_four() {
        assert_eq!(parse_status("failed").unwrap(), NotificationStatus::Failed);
        assert!(parse_status("lost").is_err());
    }

    #[test]
    fn the_rules_view_holds_no_url() {
        let rules = NotificationRules {
            channels: vec![Channel {
                name: "ops".into(),
                kind: ChannelKind::Wecom,
                url: Some(SecretString::from(
                    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123".to_owned(),
                )),
                signing_secret: None,
                secret_ref: None,
                url_view: None,
            }],
            ..Default::default()
        };
        let v = rules_view(&rules).to_string();
        assert!(!v.contains("abc-123"), "{v}");
    }
}
