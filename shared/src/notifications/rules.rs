//! Which events go to which channel, optionally per customer: the operators' configuration
//! (`GET/PUT /ops/notifications/rules`), kept in the store as one item.
//!
//! A channel's URL is a secret (a WeCom robot's URL carries its key; a webhook's may carry a
//! token) and so is a webhook's signing secret: both are held in [`SecretString`]s, so `Debug`
//! prints neither, shown to operators only as [`Channel::view`] (scheme and host), and kept in
//! Secrets Manager, not in the store ([`super::channel_secrets`]): the stored item holds each
//! channel's reference to its secret parts.

use super::event::EventKind;
use crate::domain::UnixTime;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Where a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A WeCom (企业微信) group robot webhook: markdown messages.
    Wecom,
    /// Any HTTPS endpoint: the JSON document, signed with HMAC-SHA256.
    Webhook,
    /// The stack's SNS topic (e-mail subscribers).
    Sns,
}

/// One named channel.
#[derive(Debug, Clone)]
pub struct Channel {
    /// What routes name it by (letters, digits, `-`, `_`).
    pub name: String,
    pub kind: ChannelKind,
    /// WeCom and webhook channels: where to POST.
    pub url: Option<SecretString>,
    /// Webhook channels: the HMAC-SHA256 key receivers verify the signature with.
    pub signing_secret: Option<SecretString>,
    /// Where `url` and `signing_secret` are kept (`{secret_id}#{name}`): the stored item holds
    /// this, never them ([`super::channel_secrets::save_rules`] sets it).
    pub secret_ref: Option<String>,
    /// The URL's scheme and host, for showing (not secret; stored with the reference).
    pub url_view: Option<String>,
}

/// Events of `events` (all, when empty) go to `channel`, for the apps of `customer_id` only when
/// given (events about no app, or an app of another customer, do not match it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub channel: String,
    #[serde(default)]
    pub events: Vec<EventKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone, Default)]
pub struct NotificationRules {
    pub channels: Vec<Channel>,
    pub routes: Vec<Route>,
    /// The operator key's label that set them, and when.
    pub operator: String,
    pub updated_at: UnixTime,
}

/// Why a configuration is refused (nothing stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("channel name {0:?}: use 1 to 64 letters, digits, '-' or '_'")]
    BadName(String),
    #[error("channel {0:?} is named twice")]
    DuplicateChannel(String),
    #[error("channel {0:?} needs an https url (http only to loopback)")]
    BadUrl(String),
    #[error("webhook channel {0:?} needs a signing_secret of at least 16 characters")]
    WeakSecret(String),
    #[error("a route names channel {0:?}, which is not defined")]
    UnknownChannel(String),
}

/// The stored form: names, kinds, references and the URLs' hosts, never a secret part.
#[derive(Serialize, Deserialize)]
struct StoredChannel {
    name: String,
    kind: ChannelKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url_view: Option<String>,
    /// Items written before the secret parts moved to Secrets Manager held them here: read (so
    /// delivery goes on after an upgrade), never written; the next `PUT` moves them.
    #[serde(default, skip_serializing)]
    url: Option<String>,
    #[serde(default, skip_serializing)]
    signing_secret: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredRules {
    channels: Vec<StoredChannel>,
    routes: Vec<Route>,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    updated_at: UnixTime,
}

impl NotificationRules {
    /// The stored JSON: without the channels' secret parts (their references only).
    pub fn to_stored_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&StoredRules {
            channels: self
                .channels
                .iter()
                .map(|c| StoredChannel {
                    name: c.name.clone(),
                    kind: c.kind,
                    secret_ref: c.secret_ref.clone(),
                    url_view: c.url_view.clone(),
                    url: None,
                    signing_secret: None,
                })
                .collect(),
            routes: self.routes.clone(),
            operator: self.operator.clone(),
            updated_at: self.updated_at,
        })
    }

    /// The stored rules, the channels' secret parts not filled in
    /// ([`super::channel_secrets::load_rules`] does).
    pub fn from_stored_json(s: &str) -> serde_json::Result<Self> {
        let r: StoredRules = serde_json::from_str(s)?;
        Ok(NotificationRules {
            channels: r
                .channels
                .into_iter()
                .map(|c| Channel {
                    name: c.name,
                    kind: c.kind,
                    url: c.url.map(SecretString::from),
                    signing_secret: c.signing_secret.map(SecretString::from),
                    secret_ref: c.secret_ref,
                    url_view: c.url_view,
                })
                .collect(),
            routes: r.routes,
            operator: r.operator,
            updated_at: r.updated_at,
        })
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// The channels an event of `kind` about an app of `customer` goes to, each once, in the
    /// order they are defined.
    pub fn channels_for(&self, kind: EventKind, customer: Option<&str>) -> Vec<&Channel> {
        self.channels
            .iter()
            .filter(|c| {
                self.routes.iter().any(|r| {
                    r.channel == c.name
                        && (r.events.is_empty() || r.events.contains(&kind))
                        && r.customer_id
                            .as_deref()
                            .is_none_or(|rc| Some(rc) == customer)
                })
            })
            .collect()
    }

    /// Checks a configuration before it is stored.
    pub fn validate(&self) -> Result<(), RulesError> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.channels {
            let name_ok = (1..=64).contains(&c.name.len())
                && c.name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if !name_ok {
                return Err(RulesError::BadName(c.name.clone()));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(RulesError::DuplicateChannel(c.name.clone()));
            }
            if c.kind != ChannelKind::Sns
                && !c
                    .url
                    .as_ref()
                    .is_some_and(|u| url_allowed(u.expose_secret()))
            {
                return Err(RulesError::BadUrl(c.name.clone()));
            }
            if c.kind == ChannelKind::Webhook
                && c.signing_secret
                    .as_ref()
                    .is_none_or(|s| s.expose_secret().len() < 16)
            {
                return Err(RulesError::WeakSecret(c.name.clone()));
            }
        }
        for r in &self.routes {
            if !seen.contains(r.channel.as_str()) {
                return Err(RulesError::UnknownChannel(r.channel.clone()));
            }
        }
        Ok(())
    }
}

/// https anywhere; plain http only to loopback (a receiver on the same host, tests).
fn url_allowed(raw: &str) -> bool {
    let Ok(u) = url::Url::parse(raw) else {
        return false;
    };
    match u.scheme() {
        "https" => u.host().is_some(),
        "http" => match u.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

impl Channel {
    /// How operators see a channel: its URL as scheme and host only (the path and query hold
    /// the key), whether a signing secret is set, never its value.
    pub fn view(&self) -> serde_json::Value {
        let url = match &self.url {
            Some(u) => Some(redacted_url(u.expose_secret())),
            None => self.url_view.clone(),
        };
        serde_json::json!({
            "name": self.name,
            "kind": self.kind,
            "url": url,
            "signing_secret_set": self.signing_secret.is_some()
                || (self.kind == ChannelKind::Webhook && self.secret_ref.is_some()),
            "secret_ref": self.secret_ref,
        })
    }
}

/// `https://qyapi.weixin.qq.com/…`: the scheme and host of a secret URL.
pub fn redacted_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "…".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wecom(name: &str, url: &str) -> Channel {
        Channel {
            name: name.into(),
            kind: ChannelKind::Wecom,
            url: Some(SecretString::from(url.to_owned())),
            signing_secret: None,
            secret_ref: None,
            url_view: None,
        }
    }

    #[test]
    fn a_channel_never_prints_its_url() {
        let c = wecom(
            "ops",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx",
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("693a91f6"), "{dbg}");
        let view = c.view().to_string();
        assert!(
            !view.contains("693a91f6") && !view.contains("webhook/send"),
            "{view}"
        );
        assert!(view.contains("qyapi.weixin.qq.com"));
    }

    #[test]
    fn routes_pick_channels_by_kind_and_customer() {
        let rules = NotificationRules {
            channels: vec![
                wecom("all", "https://a.example/x"),
                wecom("acme", "https://b.example/x"),
            ],
            routes: vec![
                Route {
                    channel: "all".into(),
                    events: vec![EventKind::AuditRejected],
                    customer_id: None,
                },
                Route {
                    channel: "acme".into(),
                    events: vec![],
                    customer_id: Some("acme".into()),
                },
            ],
            ..Default::default()
        };
        rules.validate().unwrap();
        let names = |k, c| {
            rules
                .channels_for(k, c)
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(EventKind::AuditRejected, Some("acme")),
            ["all", "acme"]
        );
        assert_eq!(names(EventKind::AuditRejected, Some("other")), ["all"]);
        assert_eq!(names(EventKind::AuditApproved, Some("acme")), ["acme"]);
        assert!(names(EventKind::BatchFinished, None).is_empty());
        let stored = rules.to_stored_json().unwrap();
        assert!(!stored.contains("b.example/x"), "no URL stored: {stored}");
        let back = NotificationRules::from_stored_json(&stored).unwrap();
        assert_eq!(back.routes, rules.routes);
        assert!(back.channels[1].url.is_none());
    }

    #[test]
    fn an_item_from_before_the_secrets_moved_still_delivers_and_is_written_back_without_them() {
        let legacy = r#"{"channels":[{"name":"ops","kind":"wecom","url":"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=old-key-1"}],"routes":[]}"#;
        let r = NotificationRules::from_stored_json(legacy).unwrap();
        assert_eq!(
            r.channels[0].url.as_ref().unwrap().expose_secret(),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=old-key-1"
        );
        assert!(!r.to_stored_json().unwrap().contains("old-key-1"));
    }

    #[test]
    fn a_bad_configuration_is_refused() {
        let mut r = NotificationRules {
            channels: vec![wecom("x", "http://10.0.0.1/hook")],
            ..Default::default()
        };
        assert_eq!(r.validate(), Err(RulesError::BadUrl("x".into())));
        r.channels = vec![wecom("x", "http://127.0.0.1:9/hook")];
        r.routes = vec![Route {
            channel: "y".into(),
            events: vec![],
            customer_id: None,
        }];
        assert_eq!(r.validate(), Err(RulesError::UnknownChannel("y".into())));
        r.channels[0].kind = ChannelKind::Webhook;
        r.routes.clear();
        assert_eq!(r.validate(), Err(RulesError::WeakSecret("x".into())));
    }
}
