//! One classification of failures for every HTTP function: what went wrong becomes a status
//! (whose fault it is), a stable code, the facts a caller needs, a hint in English and Chinese,
//! and a `Retry-After` when waiting helps.
//!
//! Each failure type implements [`Classify`] once (the WeChat client's, the stores', onboarding's
//! here; the operations layer's in audit-actions); each function only renders a [`Failure`]: as
//! JSON (audit-actions, ticket-push) or as a page (auth-callback).

pub use lambda_http::http::StatusCode;
use serde_json::{Map, Value};

/// What the caller can do about a refusal, in English and in Chinese (the body's `hint` and
/// `hint_zh`; the console and the CLI show both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub en: &'static str,
    pub zh: &'static str,
}

impl Hint {
    pub const fn new(en: &'static str, zh: &'static str) -> Self {
        Hint { en, zh }
    }
}

/// How one failure is answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: StatusCode,
    /// Stable, snake_case: callers match on it (`audit_pending`, `wechat_refused`, ...).
    pub code: &'static str,
    /// Facts for the body (the pending auditid, WeChat's errcode and errmsg, ...).
    pub facts: Map<String, Value>,
    pub hint: Option<Hint>,
    /// Seconds to wait before trying again, when waiting helps.
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Failure {
            status,
            code,
            facts: Map::new(),
            hint: None,
            retry_after: None,
        }
    }

    pub fn fact(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.facts.insert(key.to_owned(), value.into());
        self
    }

    pub fn hint(mut self, hint: Option<Hint>) -> Self {
        self.hint = hint;
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// A failure type that knows how it is answered.
pub trait Classify: std::fmt::Display {
    fn classify(&self) -> Failure;
}
