//! Platform secrets: one Secrets Manager secret holding JSON, or local configuration.
//!
//! ```json
//! {"component_appid": "wx…", "component_appsecret": "…", "token": "…",
//!  "encoding_aes_key": "43 characters", "operator_key_sha256": ["64 hex", …],
//!  "encoding_aes_key_previous": "43 characters (optional: the key before the last change)",
//!  "operator_keys": [{"label": "support", "sha256": "64 hex", "role": "viewer",
//!                     "customers": ["acme"] (optional)}, …]}
//! ```
//!
//! `operator_keys` gives each key a label, a role and optionally the customers it is limited to
//! ([`crate::operator_auth`]); `operator_key_sha256`, the older form, lists bare digests that act
//! as `admin` keys of every customer. Either list may be absent, not both.
//!
//! Values are validated on load so a bad secret fails at the first request with an error that
//! names the field, never its value. Every secret value is a [`SecretString`], so `Debug` prints a
//! redaction and a stray `{:?}` in a log line leaks nothing.
//!
//! [`SecretsManagerSource`] caches the parsed secret for a short TTL: a Lambda execution
//! environment reuses it across invocations, and a rotated secret is picked up within the TTL.

use crate::domain::AppId;
use crate::operator_auth::{OperatorKey, Role};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Default time a fetched secret is trusted before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Why secrets could not be loaded. Messages name fields and sources, never values.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A field is missing or has the wrong shape.
    #[error("{field} {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    /// The secret is not a JSON object (the parser's message is withheld: it may quote the value).
    #[error("the platform secret is not a JSON object")]
    NotJson,
    /// The source could not be read (Secrets Manager error, missing file).
    #[error("platform secret unavailable: {0:#}")]
    Source(anyhow::Error),
}

/// The platform's own credentials and the operators' key hashes.
#[derive(Clone)]
pub struct PlatformSecrets {
    pub component_appid: AppId,
    pub component_appsecret: SecretString,
    /// The message-verification token (消息校验Token).
    pub token: SecretString,
    /// The message encryption key (消息加解密Key): 43 characters of base64 without padding.
    pub encoding_aes_key: SecretString,
    /// The EncodingAESKey in use before the last change, if any: WeChat advises accepting pushes
    /// under the old key for a while after changing it (pushes already under way keep it).
    pub encoding_aes_key_previous: Option<SecretString>,
    /// SHA-256 (lowercase hex) of each valid operator bearer key configured without a role:
    /// each acts as an `admin` of every customer.
    pub operator_key_sha256: Vec<String>,
    /// The keys with a label, a role and maybe a customer scope; several during a rotation.
    pub operator_keys: Vec<OperatorKey>,
}

impl std::fmt::Debug for PlatformSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSecrets")
            .field("component_appid", &self.component_appid)
            .field("component_appsecret", &self.component_appsecret)
            .field("token", &self.token)
            .field("encoding_aes_key", &self.encoding_aes_key)
            .field("encoding_aes_key_previous", &self.encoding_aes_key_previous)
            // Hashes are not keys, but listing them helps no one: a count is enough.
            .field("operator_key_sha256", &self.operator_key_sha256.len())
            .field("operator_keys", &self.operator_keys.len())
            .finish()
    }
}

/// WeChat's rule: 43 characters of `[A-Za-z0-9]`.
fn valid_aes_key(k: &str) -> bool {
    k.len() == 43 && k.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn invalid(field: &'static str, reason: &'static str) -> SecretsError {
    SecretsError::Invalid { field, reason }
}

fn valid_digest(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One entry of `operator_keys`; errors name the field, never a value.
fn operator_key_from_json(v: &serde_json::Value) -> Result<OperatorKey, SecretsError> {
    const FIELD: &str = "operator_keys";
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(FIELD, "must be a list of objects"))?;
    if obj
        .keys()
        .any(|k| !["label", "sha256", "role", "customers"].contains(&k.as_str()))
    {
        return Err(invalid(
            FIELD,
            "entries take only label, sha256, role and customers",
        ));
    }
    let label = obj
        .get("label")
        .and_then(|x| x.as_str())
        .filter(|l| !l.is_empty() && l.len() <= 64 && l.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            invalid(
                FIELD,
                "label must be 1 to 64 printable ASCII characters without spaces",
            )
        })?;
    let sha256 = obj
        .get("sha256")
        .and_then(|x| x.as_str())
        .filter(|h| valid_digest(h))
        .ok_or_else(|| invalid(FIELD, "sha256 must be 64 lowercase hex characters"))?;
    let role = obj
        .get("role")
        .and_then(|x| x.as_str())
        .and_then(Role::parse)
        .ok_or_else(|| invalid(FIELD, "role must be viewer, operator, admin or service"))?;
    let customers = match obj.get("customers") {
        None | Some(serde_json::Value::Null) => None,
        Some(c) => Some(
            c.as_array()
                .filter(|a| !a.is_empty())
                .and_then(|a| {
                    a.iter()
                        .map(|x| x.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    invalid(FIELD, "customers must be a non-empty list of customer ids")
                })?,
        ),
    };
    Ok(OperatorKey {
        label: label.to_owned(),
        sha256: sha256.to_owned(),
        role,
        customers,
    })
}

impl PlatformSecrets {
    /// Validates raw values; each error names the first bad field.
    pub fn new(
        component_appid: &str,
        component_appsecret: &str,
        token: &str,
        encoding_aes_key: &str,
        operator_key_sha256: Vec<String>,
    ) -> Result<Self, SecretsError> {
        Self::with_keys(
            component_appid,
            component_appsecret,
            token,
            encoding_aes_key,
            operator_key_sha256,
            Vec::new(),
        )
    }

    /// [`PlatformSecrets::new`] with keys that carry roles too; one of the two lists may be
    /// empty, not both.
    pub fn with_keys(
        component_appid: &str,
        component_appsecret: &str,
        token: &str,
        encoding_aes_key: &str,
        operator_key_sha256: Vec<String>,
        operator_keys: Vec<OperatorKey>,
    ) -> Result<Self, SecretsError> {
        let component_appid = AppId::parse(component_appid).map_err(|_| {
            invalid(
                "component_appid",
                "must be \"wx\" followed by 16 lowercase letters or digits",
            )
        })?;
        if component_appsecret.is_empty()
            || !component_appsecret.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid(
                "component_appsecret",
                "must be non-empty printable ASCII without spaces",
            ));
        }
        // WeChat's own rule for the token: 3 to 32 letters or digits.
        if !(3..=32).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid(
                "token",
                "must be 3 to 32 characters of A-Z a-z 0-9",
            ));
        }
        if !valid_aes_key(encoding_aes_key) {
            return Err(invalid(
                "encoding_aes_key",
                "must be 43 characters of A-Z a-z 0-9",
            ));
        }
        if operator_key_sha256.is_empty() && operator_keys.is_empty() {
            return Err(invalid(
                "operator_key_sha256",
                "must list at least one SHA-256 hex digest (or give operator_keys)",
            ));
        }
        if !operator_keys.iter().all(|k| valid_digest(&k.sha256)) {
            return Err(invalid(
                "operator_keys",
                "sha256 must be 64 lowercase hex characters",
            ));
        }
        let mut labels: Vec<&str> = operator_keys.iter().map(|k| k.label.as_str()).collect();
        labels.sort_unstable();
        if labels.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("operator_keys", "labels must be unique"));
        }
        if !operator_key_sha256.iter().all(|h| valid_digest(h)) {
            return Err(invalid(
                "operator_key_sha256",
                "must hold 64 lowercase hex characters per entry",
            ));
        }
        Ok(PlatformSecrets {
            component_appid,
            component_appsecret: SecretString::from(component_appsecret.to_owned()),
            token: SecretString::from(token.to_owned()),
            encoding_aes_key: SecretString::from(encoding_aes_key.to_owned()),
            encoding_aes_key_previous: None,
            operator_key_sha256,
            operator_keys,
        })
    }

    /// Parses a JSON list of `operator_keys` entries (the secret's, or a local file's).
    pub fn operator_keys_from_json(
        v: &serde_json::Value,
    ) -> Result<Vec<OperatorKey>, SecretsError> {
        v.as_array()
            .ok_or_else(|| invalid("operator_keys", "is not a list"))?
            .iter()
            .map(operator_key_from_json)
            .collect()
    }

    /// Every key that opens `/ops`: the role keys, then the bare digests as `admin` keys.
    pub fn all_operator_keys(&self) -> Vec<OperatorKey> {
        self.operator_keys
            .iter()
            .cloned()
            .chain(
                self.operator_key_sha256
                    .iter()
                    .map(|d| OperatorKey::legacy(d)),
            )
            .collect()
    }

    /// Adds the EncodingAESKey used before the last change (see the field); `None` or an empty
    /// string means there is none.
    pub fn with_previous_encoding_aes_key(
        mut self,
        previous: Option<&str>,
    ) -> Result<Self, SecretsError> {
        self.encoding_aes_key_previous = match previous.filter(|k| !k.is_empty()) {
            None => None,
            Some(k) if valid_aes_key(k) => Some(SecretString::from(k.to_owned())),
            Some(_) => {
                return Err(invalid(
                    "encoding_aes_key_previous",
                    "must be 43 characters of A-Z a-z 0-9",
                ))
            }
        };
        Ok(self)
    }

    /// Parses the secret's JSON. Fields are taken one by one (not with derive), so that an error
    /// can name the field without serde quoting the offending value.
    pub fn from_json(text: &str) -> Result<Self, SecretsError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|_| SecretsError::NotJson)?;
        let obj = v.as_object().ok_or(SecretsError::NotJson)?;
        let string = |field: &'static str| -> Result<&str, SecretsError> {
            obj.get(field)
                .and_then(|x| x.as_str())
                .ok_or_else(|| invalid(field, "is missing or not a string"))
        };
        let role_keys = match obj.get("operator_keys") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(v) => v
                .as_array()
                .ok_or_else(|| invalid("operator_keys", "is not a list"))?
                .iter()
                .map(operator_key_from_json)
                .collect::<Result<Vec<_>, _>>()?,
        };
        let empty = Vec::new();
        let keys = match obj.get("operator_key_sha256") {
            None if !role_keys.is_empty() => &empty,
            v => v
                .and_then(|x| x.as_array())
                .ok_or_else(|| invalid("operator_key_sha256", "is missing or not a list"))?,
        }
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid("operator_key_sha256", "must be a list of strings"))
        })
        .collect::<Result<Vec<_>, _>>()?;
        let previous = match obj.get("encoding_aes_key_previous") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| invalid("encoding_aes_key_previous", "is not a string"))?,
            ),
        };
        Self::with_keys(
            string("component_appid")?,
            string("component_appsecret")?,
            string("token")?,
            string("encoding_aes_key")?,
            keys,
            role_keys,
        )?
        .with_previous_encoding_aes_key(previous)
    }

    /// The JSON a secret holds (for tests, the local file and seeding a secret).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "component_appid": self.component_appid.as_str(),
            "component_appsecret": self.component_appsecret.expose_secret(),
            "token": self.token.expose_secret(),
            "encoding_aes_key": self.encoding_aes_key.expose_secret(),
            "encoding_aes_key_previous": self.encoding_aes_key_previous.as_ref().map(|k| k.expose_secret()),
            "operator_key_sha256": self.operator_key_sha256,
            "operator_keys": self.operator_keys.iter().map(OperatorKey::to_json).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// Reads `WXOPEN_COMPONENT_APPID`, `WXOPEN_COMPONENT_APPSECRET`, `WXOPEN_TOKEN`,
    /// `WXOPEN_ENCODING_AES_KEY`, `WXOPEN_OPERATOR_KEY_SHA256` (comma-separated) and, optionally,
    /// `WXOPEN_ENCODING_AES_KEY_PREVIOUS` and `WXOPEN_OPERATOR_KEYS` (the JSON list of
    /// `operator_keys`; then `WXOPEN_OPERATOR_KEY_SHA256` may be left out).
    pub fn from_env() -> Result<Self, SecretsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`PlatformSecrets::from_env`] over any variable lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SecretsError> {
        let var = |name: &str, field: &'static str| {
            get(name).ok_or_else(|| invalid(field, "is not set (WXOPEN_* environment variable)"))
        };
        let role_keys = match get("WXOPEN_OPERATOR_KEYS").filter(|v| !v.trim().is_empty()) {
            None => Vec::new(),
            Some(text) => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .ok_or_else(|| invalid("operator_keys", "is not a JSON list"))?
                .iter()
                .map(operator_key_from_json)
                .collect::<Result<Vec<_>, _>>()?,
        };
        let keys = match get("WXOPEN_OPERATOR_KEY_SHA256") {
            None if !role_keys.is_empty() => String::new(),
            _ => var("WXOPEN_OPERATOR_KEY_SHA256", "operator_key_sha256")?,
        }
        .split(',')
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect();
        Self::with_keys(
            &var("WXOPEN_COMPONENT_APPID", "component_appid")?,
            &var("WXOPEN_COMPONENT_APPSECRET", "component_appsecret")?,
            &var("WXOPEN_TOKEN", "token")?,
            &var("WXOPEN_ENCODING_AES_KEY", "encoding_aes_key")?,
            keys,
            role_keys,
        )?
        .with_previous_encoding_aes_key(get("WXOPEN_ENCODING_AES_KEY_PREVIOUS").as_deref())
    }

    /// Reads a file holding the same JSON as the Secrets Manager secret.
    pub fn from_file(path: &Path) -> Result<Self, SecretsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SecretsError::Source(anyhow::anyhow!("read {}: {e}", path.display())))?;
        Self::from_json(&text)
    }
}

/// Where the platform secrets come from. Handlers hold an `Arc<dyn SecretsSource>` and call
/// [`SecretsSource::load`] per request: cheap when cached.
#[async_trait]
pub trait SecretsSource: Send + Sync {
    async fn load(&self) -> Result<Arc<PlatformSecrets>, SecretsError>;
}

/// Secrets fixed at start-up (`wxopen-local`: from the environment or a file).
#[derive(Debug, Clone)]
pub struct StaticSecrets(pub Arc<PlatformSecrets>);

impl StaticSecrets {
    pub fn new(s: PlatformSecrets) -> Self {
        StaticSecrets(Arc::new(s))
    }
}

#[async_trait]
impl SecretsSource for StaticSecrets {
    async fn load(&self) -> Result<Arc<PlatformSecrets>, SecretsError> {
        Ok(self.0.clone())
    }
}

/// One Secrets Manager secret, cached in memory for `ttl`.
///
/// Concurrent callers on an expired cache wait on one lock and share one fetch, so a burst of
/// requests after a cold start costs one `GetSecretValue`. A failed fetch is not cached.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    cache: Mutex<Option<(Instant, Arc<PlatformSecrets>)>>,
}

impl std::fmt::Debug for SecretsManagerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerSource")
            .field("secret_id", &self.secret_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self::with_ttl(client, secret_id, DEFAULT_TTL)
    }

    pub fn with_ttl(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        SecretsManagerSource {
            client,
            secret_id: secret_id.into(),
            ttl,
            cache: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<PlatformSecrets, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                SecretsError::Source(anyhow::anyhow!(
                    "GetSecretValue {}: {}",
                    self.secret_id,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ))
            })?;
        let text = out.secret_string().ok_or_else(|| {
            SecretsError::Source(anyhow::anyhow!(
                "secret {} has no SecretString",
                self.secret_id
            ))
        })?;
        PlatformSecrets::from_json(text)
    }
}

#[async_trait]
impl SecretsSource for SecretsManagerSource {
    async fn load(&self) -> Result<Arc<PlatformSecrets>, SecretsError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, s)) = cache.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(s.clone());
            }
        }
        let fresh = Arc::new(self.fetch().await?);
        *cache = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const APPID: &str = "wx1234567890abcdef";
    const SECRET: &str = "appsecretVALUE0123456789abcdef01";
    const TOKEN: &str = "tokenVALUE42";
    const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn json_with(field: &str, value: serde_json::Value) -> String {
        let mut v = serde_json::json!({
            "component_appid": APPID, "component_appsecret": SECRET, "token": TOKEN,
            "encoding_aes_key": AES, "operator_key_sha256": [HASH],
        });
        v[field] = value;
        v.to_string()
    }

    fn err_of(text: &str) -> String {
        PlatformSecrets::from_json(text).unwrap_err().to_string()
    }

    #[test]
    fn valid_json_loads() {
        let s = PlatformSecrets::from_json(&json_with("token", TOKEN.into())).unwrap();
        assert_eq!(s.component_appid.as_str(), APPID);
        assert_eq!(s.encoding_aes_key.expose_secret(), AES);
        assert_eq!(
            PlatformSecrets::from_json(&s.to_json())
                .unwrap()
                .token
                .expose_secret(),
            TOKEN
        );
    }

    #[test]
    fn the_previous_encoding_aes_key_is_optional_validated_and_round_trips() {
        const OLD: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut";
        let s = PlatformSecrets::from_json(&json_with("token", TOKEN.into())).unwrap();
        assert!(s.encoding_aes_key_previous.is_none());
        let s = PlatformSecrets::from_json(&json_with("encoding_aes_key_previous", OLD.into()))
            .unwrap();
        assert_eq!(
            s.encoding_aes_key_previous
                .as_ref()
                .unwrap()
                .expose_secret(),
            OLD
        );
        let again = PlatformSecrets::from_json(&s.to_json()).unwrap();
        assert_eq!(
            again.encoding_aes_key_previous.unwrap().expose_secret(),
            OLD
        );
        assert!(!format!("{s:?}").contains(OLD));
        assert_eq!(
            err_of(&json_with("encoding_aes_key_previous", "short-key".into())),
            "encoding_aes_key_previous must be 43 characters of A-Z a-z 0-9"
        );
    }

    #[test]
    fn debug_prints_no_secret_value() {
        let s = PlatformSecrets::from_json(&json_with("token", TOKEN.into())).unwrap();
        let dbg = format!("{s:?}");
        for v in [SECRET, TOKEN, AES, HASH] {
            assert!(!dbg.contains(v), "{dbg}");
        }
    }

    #[test]
    fn a_bad_encoding_aes_key_is_named_and_not_echoed() {
        for bad in ["short", &format!("{}=", &AES[..42]), &format!("{AES}x")] {
            let e = err_of(&json_with("encoding_aes_key", (*bad).into()));
            assert_eq!(e, "encoding_aes_key must be 43 characters of A-Z a-z 0-9");
            assert!(!e.contains(bad));
        }
    }

    #[test]
    fn a_bad_component_appid_is_named() {
        assert!(
            err_of(&json_with("component_appid", "gh_123".into())).starts_with("component_appid ")
        );
    }

    #[test]
    fn a_bad_component_appsecret_is_named() {
        let e = err_of(&json_with("component_appsecret", "has space".into()));
        assert!(e.starts_with("component_appsecret "), "{e}");
        assert!(!e.contains("has space"));
        assert!(err_of(&json_with("component_appsecret", "".into()))
            .starts_with("component_appsecret "));
    }

    #[test]
    fn a_bad_token_is_named() {
        assert!(err_of(&json_with("token", "a!".into())).starts_with("token "));
        assert!(err_of(&json_with("token", "x".repeat(33).into())).starts_with("token "));
    }

    #[test]
    fn bad_operator_key_hashes_are_named() {
        for bad in [
            serde_json::json!([]),
            serde_json::json!("notalist"),
            serde_json::json!([HASH.to_uppercase()]),
            serde_json::json!([&HASH[..63]]),
            serde_json::json!([1]),
        ] {
            let e = err_of(&json_with("operator_key_sha256", bad));
            assert!(e.starts_with("operator_key_sha256 "), "{e}");
        }
    }

    #[test]
    fn role_keys_load_validate_and_round_trip_and_bare_digests_are_admins() {
        let entry = serde_json::json!({"label": "support", "sha256": HASH, "role": "viewer", "customers": ["acme"]});
        let mut v: serde_json::Value =
            serde_json::from_str(&json_with("operator_keys", serde_json::json!([entry]))).unwrap();
        v.as_object_mut().unwrap().remove("operator_key_sha256");
        let s = PlatformSecrets::from_json(&v.to_string()).unwrap();
        assert_eq!(s.operator_keys.len(), 1);
        assert_eq!(s.operator_keys[0].role, Role::Viewer);
        assert_eq!(
            s.operator_keys[0].customers.as_deref(),
            Some(&["acme".to_owned()][..])
        );
        let again = PlatformSecrets::from_json(&s.to_json()).unwrap();
        assert_eq!(again.all_operator_keys(), s.all_operator_keys());
        // The older form: bare digests, each an admin of every customer.
        let legacy = PlatformSecrets::from_json(&json_with("token", TOKEN.into())).unwrap();
        let keys = legacy.all_operator_keys();
        assert_eq!(
            (keys[0].role, keys[0].customers.clone()),
            (Role::Admin, None)
        );
        assert_eq!(keys[0].label, format!("key-{}", &HASH[..8]));
        for bad in [
            serde_json::json!([{"label": "a", "sha256": HASH, "role": "root"}]),
            serde_json::json!([{"label": "a", "sha256": "nothex", "role": "admin"}]),
            serde_json::json!([{"label": "", "sha256": HASH, "role": "admin"}]),
            serde_json::json!([{"label": "a", "sha256": HASH, "role": "admin", "customers": []}]),
            serde_json::json!([{"label": "a", "sha256": HASH, "role": "admin", "extra": 1}]),
            serde_json::json!([{"label": "a", "sha256": HASH, "role": "admin"}, {"label": "a", "sha256": HASH, "role": "viewer"}]),
            serde_json::json!({"label": "a"}),
        ] {
            let e = err_of(&json_with("operator_keys", bad.clone()));
            assert!(e.starts_with("operator_keys "), "{bad}: {e}");
            assert!(!e.contains(HASH));
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        let mut v: serde_json::Value =
            serde_json::from_str(&json_with("token", TOKEN.into())).unwrap();
        v.as_object_mut().unwrap().remove("component_appsecret");
        assert_eq!(
            err_of(&v.to_string()),
            "component_appsecret is missing or not a string"
        );
    }

    #[test]
    fn text_that_is_not_a_json_object_is_refused_without_echo() {
        for bad in [
            format!("{{\"token\": \"{TOKEN}\""),
            "[1]".to_owned(),
            TOKEN.to_owned(),
        ] {
            let e = err_of(&bad);
            assert_eq!(e, "the platform secret is not a JSON object");
        }
    }

    #[test]
    fn environment_variables_load_with_comma_separated_hashes() {
        let other = "a".repeat(64);
        let vars: HashMap<&str, String> = HashMap::from([
            ("WXOPEN_COMPONENT_APPID", APPID.to_owned()),
            ("WXOPEN_COMPONENT_APPSECRET", SECRET.to_owned()),
            ("WXOPEN_TOKEN", TOKEN.to_owned()),
            ("WXOPEN_ENCODING_AES_KEY", AES.to_owned()),
            ("WXOPEN_OPERATOR_KEY_SHA256", format!("{HASH}, {other}")),
        ]);
        let s = PlatformSecrets::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert_eq!(s.operator_key_sha256, vec![HASH.to_owned(), other]);
        let e = PlatformSecrets::from_lookup(|k| {
            (k != "WXOPEN_TOKEN")
                .then(|| vars.get(k).cloned())
                .flatten()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("token "));
    }

    #[test]
    fn a_file_holds_the_same_json() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secrets.json");
        std::fs::write(&p, json_with("token", TOKEN.into())).unwrap();
        assert_eq!(
            PlatformSecrets::from_file(&p)
                .unwrap()
                .token
                .expose_secret(),
            TOKEN
        );
        assert!(matches!(
            PlatformSecrets::from_file(&dir.path().join("missing.json")),
            Err(SecretsError::Source(_))
        ));
    }
}
