//! The operators' bearer-key check shared by every `/ops/*` route, and what a key may do.
//!
//! The platform secret keeps only SHA-256 digests (lowercase hex) of the valid keys, so a leaked
//! secret does not leak a usable key, and several digests may be live during a rotation. The
//! presented key is hashed and compared with every configured digest in constant time
//! (`subtle`), without stopping at the first match, so timing reveals neither which digest
//! matched nor how many bytes did. No digest configured means every request is refused.
//!
//! Each key carries a [`Role`] and, optionally, the customers it is limited to: support staff
//! read, operators act on one app at a time, admins also act on many, and a merchant's own
//! people see only their apps. Keys configured before roles existed (a bare digest) are admins.

use lambda_http::http::{header::AUTHORIZATION, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// What a key may do. Ordered for the operators' roles (`viewer` < `operator` < `admin`);
/// `service` stands apart: it serves the token endpoints, and nothing else serves it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads only.
    Viewer,
    /// Also acts on one app at a time (commit, submit, undo, speed-up, release, testers,
    /// domains, privacy).
    Operator,
    /// Also acts on many apps (batches), and on what is riskier or platform-wide (revert, gray
    /// release, visit status, invitations, templates and their requirements).
    Admin,
    /// Machine callers of the token endpoints; no operator route.
    Service,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Service];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a key of this role may do what needs `needed`.
    pub fn grants(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Service, needed) => needed == Role::Service,
            (_, Role::Service) => false,
            (have, needed) => have >= needed,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One configured key, as the platform secret holds it: never the key, only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorKey {
    /// Names the key in logs and in every activity it records.
    pub label: String,
    /// SHA-256 of the key, 64 lowercase hex digits.
    pub sha256: String,
    pub role: Role,
    /// The customers whose apps the key sees and acts on; `None`: every customer.
    pub customers: Option<Vec<String>>,
}

impl OperatorKey {
    /// The entry for the plaintext `key`: only its SHA-256 is kept.
    pub fn for_key(
        label: &str,
        key: &str,
        role: Role,
        customers: Option<Vec<String>>,
    ) -> OperatorKey {
        OperatorKey {
            label: label.to_owned(),
            sha256: hex::encode(Sha256::digest(key.as_bytes())),
            role,
            customers,
        }
    }

    /// A key configured as a bare digest (before roles): an admin of every customer, named
    /// `key-` and the digest's first 8 hex digits.
    pub fn legacy(sha256: &str) -> OperatorKey {
        let sha256 = sha256.trim().to_owned();
        OperatorKey {
            label: format!("key-{}", sha256.get(..8).unwrap_or_default()),
            sha256,
            role: Role::Admin,
            customers: None,
        }
    }

    /// The entry's JSON in the platform secret's `operator_keys`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "label": self.label,
            "sha256": self.sha256,
            "role": self.role,
        });
        if let Some(c) = &self.customers {
            v["customers"] = serde_json::json!(c);
        }
        v
    }
}

/// Why a request was refused; the reason is for logs and the JSON message, never the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OperatorAuthError {
    #[error("no operator key is configured: every /ops request is refused")]
    NoKeysConfigured,
    #[error("missing Authorization: Bearer <key> header")]
    Missing,
    #[error("Authorization header is not of the form \"Bearer <key>\"")]
    Malformed,
    #[error("operator key is not valid")]
    WrongKey,
}

impl OperatorAuthError {
    /// A short name for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            OperatorAuthError::NoKeysConfigured => "no_keys_configured",
            OperatorAuthError::Missing => "missing",
            OperatorAuthError::Malformed => "malformed",
            OperatorAuthError::WrongKey => "wrong_key",
        }
    }
}

/// 401 `unauthorized`: the message says what is wrong with the header, never the key.
impl crate::failure::Classify for OperatorAuthError {
    fn classify(&self) -> crate::failure::Failure {
        crate::failure::Failure::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }
}

/// Who made a request: the matched key's label, role and customer scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub label: String,
    pub role: Role,
    /// `None`: every customer.
    pub customers: Option<Vec<String>>,
}

impl Operator {
    /// Whether the key sees an app bound to `customer` (`None`: bound to no customer, which only
    /// an unscoped key sees).
    pub fn sees_customer(&self, customer: Option<&str>) -> bool {
        match (&self.customers, customer) {
            (None, _) => true,
            (Some(scope), Some(c)) => scope.iter().any(|s| s == c),
            (Some(_), None) => false,
        }
    }
}

/// Checks the request's `Authorization: Bearer <key>` against the configured keys.
pub fn check(headers: &HeaderMap, keys: &[OperatorKey]) -> Result<Operator, OperatorAuthError> {
    let digests: Vec<(usize, [u8; 32])> = keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(k.sha256.trim(), &mut out)
                .ok()
                .map(|_| (i, out))
        })
        .collect();
    if digests.is_empty() {
        return Err(OperatorAuthError::NoKeysConfigured);
    }
    let value = headers
        .get(AUTHORIZATION)
        .ok_or(OperatorAuthError::Missing)?
        .to_str()
        .map_err(|_| OperatorAuthError::Malformed)?;
    let (scheme, key) = value.split_once(' ').ok_or(OperatorAuthError::Malformed)?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(OperatorAuthError::Malformed);
    }
    let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut matched = subtle::Choice::from(0u8);
    let mut index = 0u64;
    for (i, d) in &digests {
        let eq = d.ct_eq(&presented);
        index.conditional_assign(&(*i as u64), eq);
        matched |= eq;
    }
    if !bool::from(matched) {
        return Err(OperatorAuthError::WrongKey);
    }
    let k = &keys[index as usize];
    Ok(Operator {
        label: k.label.clone(),
        role: k.role,
        customers: k.customers.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn digest(key: &str) -> String {
        hex::encode(Sha256::digest(key.as_bytes()))
    }

    fn legacy(digests: &[String]) -> Vec<OperatorKey> {
        digests.iter().map(|d| OperatorKey::legacy(d)).collect()
    }

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn accepts_any_configured_key_during_a_rotation() {
        let keys = vec![digest("old-key"), digest("new-key")];
        assert_eq!(
            check(&headers(Some("Bearer old-key")), &legacy(&keys)).map(|o| o.label),
            Ok(format!("key-{}", &digest("old-key")[..8]))
        );
        assert!(check(&headers(Some("bearer new-key")), &legacy(&keys)).is_ok());
    }

    #[test]
    fn refuses_missing_malformed_and_wrong_keys() {
        let keys = vec![digest("right")];
        assert_eq!(
            check(&headers(None), &legacy(&keys)),
            Err(OperatorAuthError::Missing)
        );
        assert_eq!(
            check(&headers(Some("Basic right")), &legacy(&keys)),
            Err(OperatorAuthError::Malformed)
        );
        assert_eq!(
            check(&headers(Some("Bearer")), &legacy(&keys)),
            Err(OperatorAuthError::Malformed)
        );
        assert_eq!(
            check(&headers(Some("Bearer wrong")), &legacy(&keys)),
            Err(OperatorAuthError::WrongKey)
        );
        // The digest itself is not a key.
        assert_eq!(
            check(
                &headers(Some(&format!("Bearer {}", keys[0]))),
                &legacy(&keys)
            ),
            Err(OperatorAuthError::WrongKey)
        );
    }

    #[test]
    fn no_keys_configured_refuses_everything() {
        assert_eq!(
            check(&headers(Some("Bearer anything")), &legacy(&[])),
            Err(OperatorAuthError::NoKeysConfigured)
        );
        assert_eq!(
            check(
                &headers(Some("Bearer x")),
                &legacy(&["not hex".to_string()])
            ),
            Err(OperatorAuthError::NoKeysConfigured)
        );
    }

    #[test]
    fn refusal_is_401_json_unauthorized_without_the_key() {
        use crate::failure::Classify;
        let e = check(
            &headers(Some("Bearer s3cr3t-key")),
            &legacy(&[digest("other")]),
        )
        .unwrap_err();
        let f = e.classify();
        assert_eq!(f.status, StatusCode::UNAUTHORIZED);
        let body = serde_json::Value::Object(f.into_body(e.to_string())).to_string();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "unauthorized");
        assert!(!body.contains("s3cr3t-key"));
    }
}

#[cfg(test)]
mod role_tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn key(label: &str, key: &str, role: Role, customers: Option<&[&str]>) -> OperatorKey {
        let customers = customers.map(|c| c.iter().map(|s| s.to_string()).collect());
        OperatorKey::for_key(label, key, role, customers)
    }

    #[test]
    fn the_matched_key_answers_its_own_label_role_and_scope() {
        let keys = vec![
            key("support", "k-viewer", Role::Viewer, None),
            key("acme-ops", "k-acme", Role::Operator, Some(&["acme"])),
            key("root", "k-admin", Role::Admin, None),
        ];
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer k-acme"));
        let op = check(&h, &keys).unwrap();
        assert_eq!((op.label.as_str(), op.role), ("acme-ops", Role::Operator));
        assert!(op.sees_customer(Some("acme")));
        assert!(!op.sees_customer(Some("globex")));
        assert!(!op.sees_customer(None));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer k-viewer"));
        let op = check(&h, &keys).unwrap();
        assert_eq!((op.label.as_str(), op.role), ("support", Role::Viewer));
        assert!(op.sees_customer(None));
    }

    #[test]
    fn roles_grant_upward_and_service_stands_apart() {
        use Role::*;
        assert!(Admin.grants(Operator) && Admin.grants(Viewer) && Operator.grants(Viewer));
        assert!(!Viewer.grants(Operator) && !Operator.grants(Admin));
        assert!(!Admin.grants(Service) && !Service.grants(Viewer) && Service.grants(Service));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
