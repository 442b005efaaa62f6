//! The platform secrets of a local run: the component appid and appsecret, the message Token,
//! the EncodingAESKey and the plain operator key.
//!
//! Each comes from its environment variable or flag when given (`WXOPEN_COMPONENT_APPID`,
//! `WXOPEN_COMPONENT_APPSECRET`, `WXOPEN_TOKEN`, `WXOPEN_ENCODING_AES_KEY`,
//! `WXOPEN_OPERATOR_KEY`); otherwise from `<data dir>/local-secrets.json`, where values are
//! generated the first time they are needed and kept (file mode 0600), so a restart keeps the
//! same platform, the same stored tokens and the same operator key. Given values are never
//! written there. The operator key stays plain here (local only); what the handlers hold, as a
//! deployment's platform secret does, is its SHA-256 (an `admin` key). The file may also hold
//! `operator_keys`, entries with a role as in the platform secret (`wxopen keys new` prints
//! them), to try the roles locally.

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use wxopen::secrets::PlatformSecrets;

/// The file under the data directory that keeps the generated values.
pub const FILE_NAME: &str = "local-secrets.json";

/// Where a value in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Its environment variable or flag.
    Given,
    /// Generated now and kept in the file.
    Generated,
    /// Generated on an earlier start, read back from the file.
    Kept,
}

/// Values given by environment variables or flags; each overrides the kept one.
#[derive(Default, Clone)]
pub struct Given {
    pub component_appid: Option<String>,
    pub component_appsecret: Option<SecretString>,
    pub token: Option<SecretString>,
    pub encoding_aes_key: Option<SecretString>,
    pub operator_key: Option<SecretString>,
}

/// The values in use and where each came from.
pub struct LocalSecrets {
    pub platform: PlatformSecrets,
    pub operator_key: SecretString,
    pub file: PathBuf,
    pub component_appid_source: Source,
    pub component_appsecret_source: Source,
    pub token_source: Source,
    pub encoding_aes_key_source: Source,
    pub operator_key_source: Source,
}

/// The names in the file, in the order of [`Given`].
const FIELDS: [&str; 5] = [
    "component_appid",
    "component_appsecret",
    "token",
    "encoding_aes_key",
    "operator_key",
];

fn random_from(alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

const HEX: &[u8] = b"0123456789abcdef";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A fresh value for `field`, in the form WeChat uses: appid `wx` + 16 hex digits, appsecret 32
/// hex digits, Token 32 letters and digits, EncodingAESKey 43; the operator key 40.
fn generate(field: &str) -> String {
    match field {
        "component_appid" => format!("wx{}", random_from(HEX, 16)),
        "component_appsecret" => random_from(HEX, 32),
        "token" => random_from(ALNUM, 32),
        "encoding_aes_key" => random_from(ALNUM, 43),
        _ => random_from(ALNUM, 40),
    }
}

/// A value and where it came from, per field of [`FIELDS`] (`None`: given, so not read).
type Values = [Option<(String, Source)>; 5];

/// Writes `values` to `path` with mode 0600, through a temporary file renamed into place.
fn write_file(
    path: &Path,
    values: &serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let text = serde_json::to_string_pretty(values)? + "\n";
    {
        use std::io::Write;
        let mut f = options
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The values kept in `data_dir`, generating (and keeping) those the file lacks; each with
/// whether it was generated now. Fields given in `skip` are neither read nor generated.
fn kept(data_dir: &Path, skip: [bool; 5]) -> anyhow::Result<(PathBuf, Values)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join(FILE_NAME);
    let mut values = match std::fs::read_to_string(&path) {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(m)) => m,
            // Never echo the content: it holds secrets.
            _ => bail!(
                "{} is not a JSON object: fix or delete it (new values are then generated)",
                path.display()
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut out: Values = Default::default();
    let mut changed = false;
    for (i, field) in FIELDS.iter().enumerate() {
        if skip[i] {
            continue;
        }
        match values.get(*field) {
            Some(serde_json::Value::String(v)) if !v.is_empty() => {
                out[i] = Some((v.clone(), Source::Kept));
            }
            Some(_) => bail!(
                "{}: {field} is not a string: fix or delete it",
                path.display()
            ),
            None => {
                let v = generate(field);
                values.insert((*field).to_owned(), serde_json::Value::String(v.clone()));
                out[i] = Some((v, Source::Generated));
                changed = true;
            }
        }
    }
    if changed {
        write_file(&path, &values)?;
    }
    Ok((path, out))
}

/// The `operator_keys` entries the file holds, if any (never generated).
fn role_keys(path: &Path) -> anyhow::Result<Vec<wxopen::operator_auth::OperatorKey>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match v.get("operator_keys") {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(list) => PlatformSecrets::operator_keys_from_json(list)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
    }
}

impl LocalSecrets {
    /// The secrets in use: the given ones, the rest from (or generated into) the data
    /// directory's file. Errors name the field at fault, never its value.
    pub fn resolve(data_dir: &Path, given: &Given) -> anyhow::Result<LocalSecrets> {
        let given_values: [Option<String>; 5] = [
            given.component_appid.clone(),
            given
                .component_appsecret
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            given.token.as_ref().map(|s| s.expose_secret().to_owned()),
            given
                .encoding_aes_key
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            given
                .operator_key
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
        ];
        let skip = given_values.clone().map(|v| v.is_some());
        let (file, from_file) = kept(data_dir, skip)?;
        let mut values: Vec<(String, Source)> = Vec::with_capacity(5);
        for (g, f) in given_values.into_iter().zip(from_file) {
            values.push(match (g, f) {
                (Some(g), _) => (g, Source::Given),
                (None, Some(f)) => f,
                (None, None) => unreachable!("every field not given is read or generated"),
            });
        }
        let operator_key = &values[4].0;
        if operator_key.is_empty() || !operator_key.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("operator_key (WXOPEN_OPERATOR_KEY) must be non-empty printable ASCII without spaces");
        }
        let digest = hex::encode(Sha256::digest(operator_key.as_bytes()));
        let platform = PlatformSecrets::with_keys(
            &values[0].0,
            &values[1].0,
            &values[2].0,
            &values[3].0,
            vec![digest],
            role_keys(&file)?,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "{e} (from WXOPEN_* or {}; a generated value is always valid)",
                file.display()
            )
        })?;
        Ok(LocalSecrets {
            platform,
            operator_key: SecretString::from(values[4].0.clone()),
            file,
            component_appid_source: values[0].1,
            component_appsecret_source: values[1].1,
            token_source: values[2].1,
            encoding_aes_key_source: values[3].1,
            operator_key_source: values[4].1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_may_hold_role_keys_beside_the_generated_admin_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalSecrets::resolve(dir.path(), &Given::default()).unwrap();
        assert!(first.platform.operator_keys.is_empty());
        let path = dir.path().join(FILE_NAME);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        v["operator_keys"] =
            serde_json::json!([{ "label": "desk", "sha256": "a".repeat(64), "role": "viewer" }]);
        std::fs::write(&path, v.to_string()).unwrap();
        let again = LocalSecrets::resolve(dir.path(), &Given::default()).unwrap();
        assert_eq!(
            again.operator_key.expose_secret(),
            first.operator_key.expose_secret()
        );
        let keys = again.platform.all_operator_keys();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].label, "desk");
        assert_eq!(keys[1].role, wxopen::operator_auth::Role::Admin);
        v["operator_keys"] =
            serde_json::json!([{ "label": "desk", "sha256": "a".repeat(64), "role": "root" }]);
        std::fs::write(&path, v.to_string()).unwrap();
        let e = LocalSecrets::resolve(dir.path(), &Given::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("operator_keys"), "{e}");
    }
}
