//! The secret parts of the notification channels — a WeCom robot's URL (it carries the robot's
//! key) and a webhook's URL and signing secret — kept in one Secrets Manager secret, never in the
//! store: the rules item holds each channel's reference (`{secret_id}#{channel}`) and the URL's
//! scheme and host for showing.
//!
//! ```json
//! {"channels": {"ops-group": {"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"},
//!               "backend": {"url": "https://…", "signing_secret": "at least 16 characters"}}}
//! ```
//!
//! `PUT /ops/notifications/rules` writes the secret ([`save_rules`]: `PutSecretValue`, then the
//! rules item); the drainer reads it once per drain ([`load_rules`]: one `GetSecretValue`, and
//! none when no channel has a secret part). In AWS the secret is the stack's
//! `NotificationChannelsSecret` (`WXOPEN_NOTIFY_SECRET_ID`); `wxopen-local` keeps the same JSON
//! in a file of its data directory, readable by its owner only ([`LocalChannelSecrets`]).

use super::rules::NotificationRules;
use crate::secrets::SecretsError;
use crate::store::{NotificationStore, StoreError, StoreResult};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One channel's secret parts. `Debug` prints neither.
#[derive(Clone, Default)]
pub struct ChannelSecret {
    pub url: Option<SecretString>,
    pub signing_secret: Option<SecretString>,
}

impl std::fmt::Debug for ChannelSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSecret")
            .field("url_set", &self.url.is_some())
            .field("signing_secret_set", &self.signing_secret.is_some())
            .finish()
    }
}

/// Every channel's secret parts, by channel name: the secret's content.
#[derive(Debug, Clone, Default)]
pub struct ChannelSecrets(pub BTreeMap<String, ChannelSecret>);

impl ChannelSecrets {
    /// Parses the secret's JSON; an error says what is wrong, never quotes a value.
    pub fn from_json(text: &str) -> Result<Self, SecretsError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|_| SecretsError::NotJson)?;
        let invalid = |reason| SecretsError::Invalid {
            field: "channels",
            reason,
        };
        let mut out = BTreeMap::new();
        let channels = match v.get("channels") {
            None | Some(serde_json::Value::Null) => return Ok(Self::default()),
            Some(c) => c
                .as_object()
                .ok_or_else(|| invalid("must map channel names to objects"))?,
        };
        for (name, c) in channels {
            let part = |key: &str| -> Result<Option<SecretString>, SecretsError> {
                match c.get(key) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(serde_json::Value::String(s)) => Ok(Some(SecretString::from(s.clone()))),
                    Some(_) => Err(invalid("url and signing_secret must be strings")),
                }
            };
            out.insert(
                name.clone(),
                ChannelSecret {
                    url: part("url")?,
                    signing_secret: part("signing_secret")?,
                },
            );
        }
        Ok(ChannelSecrets(out))
    }

    /// The secret's JSON, values in clear: for the secret only, never for a log or an answer.
    pub fn to_json(&self) -> String {
        let channels: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(name, c)| {
                let mut o = serde_json::Map::new();
                if let Some(u) = &c.url {
                    o.insert("url".into(), u.expose_secret().into());
                }
                if let Some(s) = &c.signing_secret {
                    o.insert("signing_secret".into(), s.expose_secret().into());
                }
                (name.clone(), serde_json::Value::Object(o))
            })
            .collect();
        serde_json::json!({ "channels": channels }).to_string()
    }
}

/// Where the channels' secret parts are kept.
#[async_trait]
pub trait ChannelSecretStore: Send + Sync {
    /// The secret's name (or the local file's path): what a channel's reference names.
    fn secret_id(&self) -> &str;
    async fn load(&self) -> Result<ChannelSecrets, SecretsError>;
    /// Replaces the whole content (a channel left out has its secret parts removed).
    async fn save(&self, secrets: &ChannelSecrets) -> Result<(), SecretsError>;
}

/// The stack's Secrets Manager secret (`NotificationChannelsSecret`).
pub struct SecretsManagerChannelSecrets {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerChannelSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerChannelSecrets {
            client,
            secret_id: secret_id.into(),
        }
    }
}

fn source(what: &str, id: &str, e: impl std::fmt::Display) -> SecretsError {
    SecretsError::Source(anyhow::anyhow!("{what} {id}: {e}"))
}

#[async_trait]
impl ChannelSecretStore for SecretsManagerChannelSecrets {
    fn secret_id(&self) -> &str {
        &self.secret_id
    }

    async fn load(&self) -> Result<ChannelSecrets, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                source(
                    "GetSecretValue",
                    &self.secret_id,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e),
                )
            })?;
        match out.secret_string() {
            Some(text) => ChannelSecrets::from_json(text),
            None => Ok(ChannelSecrets::default()),
        }
    }

    async fn save(&self, secrets: &ChannelSecrets) -> Result<(), SecretsError> {
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(secrets.to_json())
            .send()
            .await
            .map_err(|e| {
                source(
                    "PutSecretValue",
                    &self.secret_id,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e),
                )
            })?;
        Ok(())
    }
}

/// `wxopen-local`'s: the secret's JSON in a file (mode 0600), beside the embedded store.
pub struct LocalChannelSecrets {
    path: PathBuf,
    id: String,
}

impl LocalChannelSecrets {
    pub fn new(path: PathBuf) -> Self {
        let id = path.display().to_string();
        LocalChannelSecrets { path, id }
    }
}

#[async_trait]
impl ChannelSecretStore for LocalChannelSecrets {
    fn secret_id(&self) -> &str {
        &self.id
    }

    async fn load(&self) -> Result<ChannelSecrets, SecretsError> {
        // A small file, on wxopen-local only: read in place.
        match std::fs::read_to_string(&self.path) {
            Ok(text) => ChannelSecrets::from_json(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ChannelSecrets::default()),
            Err(e) => Err(source("read", &self.id, e)),
        }
    }

    async fn save(&self, secrets: &ChannelSecrets) -> Result<(), SecretsError> {
        let (path, text) = (self.path.clone(), secrets.to_json());
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(&path)?.write_all(text.as_bytes())
        })
        .await
        .map_err(|e| source("write", &self.id, e))?
        .map_err(|e| source("write", &self.id, e))
    }
}

/// No secret configured (`WXOPEN_NOTIFY_SECRET_ID` unset): rules without a WeCom or webhook
/// channel still work; one with is refused, and its deliveries fail, saying why.
pub struct UnconfiguredChannelSecrets;

#[async_trait]
impl ChannelSecretStore for UnconfiguredChannelSecrets {
    fn secret_id(&self) -> &str {
        "(none)"
    }

    async fn load(&self) -> Result<ChannelSecrets, SecretsError> {
        Err(unconfigured())
    }

    async fn save(&self, _: &ChannelSecrets) -> Result<(), SecretsError> {
        Err(unconfigured())
    }
}

fn unconfigured() -> SecretsError {
    SecretsError::Source(anyhow::anyhow!(
        "no notification channel secret is configured (WXOPEN_NOTIFY_SECRET_ID)"
    ))
}

fn secrets_failed(e: SecretsError) -> StoreError {
    StoreError::Backend(anyhow::anyhow!("notification channel secret: {e}"))
}

/// The rules with each channel's secret parts filled in from `secrets`: what delivery and a
/// rules change work with. The secret is read only when a channel refers to it.
pub async fn load_rules<S: NotificationStore + ?Sized>(
    store: &S,
    secrets: &dyn ChannelSecretStore,
) -> StoreResult<NotificationRules> {
    let mut rules = store.get_notification_rules().await?;
    if rules.channels.iter().all(|c| c.secret_ref.is_none()) {
        return Ok(rules);
    }
    let mut parts = secrets.load().await.map_err(secrets_failed)?.0;
    for c in &mut rules.channels {
        if c.secret_ref.is_some() {
            if let Some(p) = parts.remove(&c.name) {
                c.url = p.url;
                c.signing_secret = p.signing_secret;
            }
        }
    }
    Ok(rules)
}

/// Stores `rules` (checked by the caller): every channel's secret parts to `secrets` first, then
/// the rules item with only references. Sets each channel's `secret_ref` and `url_view`.
pub async fn save_rules<S: NotificationStore + ?Sized>(
    store: &S,
    secrets: &dyn ChannelSecretStore,
    rules: &mut NotificationRules,
) -> StoreResult<()> {
    let mut parts = BTreeMap::new();
    for c in &mut rules.channels {
        c.url_view = c
            .url
            .as_ref()
            .map(|u| super::rules::redacted_url(u.expose_secret()));
        if c.url.is_some() || c.signing_secret.is_some() {
            c.secret_ref = Some(format!("{}#{}", secrets.secret_id(), c.name));
            parts.insert(
                c.name.clone(),
                ChannelSecret {
                    url: c.url.clone(),
                    signing_secret: c.signing_secret.clone(),
                },
            );
        } else {
            c.secret_ref = None;
        }
    }
    // The secret first: should the item's write fail, the old item's references still resolve
    // (by channel name) and no item ever refers to a secret part that is not there.
    let had_secrets = !parts.is_empty()
        || store
            .get_notification_rules()
            .await?
            .channels
            .iter()
            .any(|c| c.secret_ref.is_some());
    if had_secrets {
        secrets
            .save(&ChannelSecrets(parts))
            .await
            .map_err(secrets_failed)?;
    }
    store.put_notification_rules(rules).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_round_trips_and_debug_prints_no_value() {
        let text = r#"{"channels":{"ops":{"url":"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-123"},"hook":{"url":"https://h/x","signing_secret":"s-0123456789abcdef"}}}"#;
        let s = ChannelSecrets::from_json(text).unwrap();
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("k-123") && !dbg.contains("s-0123456789abcdef"),
            "{dbg}"
        );
        let back = ChannelSecrets::from_json(&s.to_json()).unwrap();
        assert_eq!(
            back.0["hook"]
                .signing_secret
                .as_ref()
                .unwrap()
                .expose_secret(),
            "s-0123456789abcdef"
        );
        assert!(back.0["ops"].signing_secret.is_none());
        for bad in [
            "nope",
            r#"{"channels":[1]}"#,
            r#"{"channels":{"a":{"url":1}}}"#,
        ] {
            assert!(ChannelSecrets::from_json(bad).is_err(), "{bad}");
        }
    }
}
