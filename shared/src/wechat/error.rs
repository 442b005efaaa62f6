//! Errors of the WeChat client and the token manager, classified by what a caller should do.
//!
//! Nothing here ever holds a URL with its query string or a token: reqwest errors are stripped of
//! their URL, decode errors keep only the serde category and position (a serde message may quote
//! a value from the body, and bodies carry tokens).

use crate::domain::{AppId, UnixTime};
use crate::store::StoreError;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Transient (errcode -1, timeouts, connection failures, HTTP 5xx): retry with backoff.
    Retryable,
    /// WeChat asks to come back later (89401 "system unstable", 45011 per-minute frequency
    /// limit): retry after a delay, not at once.
    RetryLater,
    /// 61004: the caller's IP is not on the platform's whitelist. Nothing works until an
    /// operator adds it in the WeChat console: alert, never retry.
    IpNotWhitelisted,
    /// 61005/61006: the component_verify_ticket expired or is invalid. Ask WeChat to push one
    /// (`api_start_push_ticket`) and alert: pushes are not arriving.
    TicketInvalid,
    /// 61007/48001: the authorizer did not grant the permission set this API needs (set 18 for
    /// code management). Only the merchant can change that.
    PermissionMissing,
    /// The access token was refused (40001, 42001, 40014): refresh it once and retry once.
    TokenRejected,
    /// The authorizer's refresh token is invalid (61023) or missing: the merchant must authorize
    /// again. Mark the authorizer and alert; retrying is useless.
    NeedsReauthorization,
    /// A daily API quota is exhausted (45009): stop and alert, never retry.
    Quota,
    /// WeChat refused the request for a business reason (85009, 85019, 85020, ...): return it to
    /// the caller as it is.
    Business,
    /// Our side or the platform setup: no ticket yet, an undecodable response, a store failure.
    /// Not retried by the client.
    Internal,
}

/// Errcodes meaning "the access token is no good" (invalid credential, expired, invalid token).
pub const TOKEN_REJECTED_CODES: [i64; 3] = [40001, 42001, 40014];
/// `refresh_token is invalid`: the merchant must authorize again.
pub const REFRESH_TOKEN_INVALID: i64 = 61023;
/// `reach max api daily quota limit`.
pub const DAILY_QUOTA: i64 = 45009;
/// `system error`, retry.
pub const SYSTEM_ERROR: i64 = -1;

/// Classifies a non-zero WeChat errcode.
pub fn classify_errcode(code: i64) -> ErrorKind {
    match code {
        SYSTEM_ERROR => ErrorKind::Retryable,
        89401 | 45011 => ErrorKind::RetryLater,
        61004 => ErrorKind::IpNotWhitelisted,
        61005 | 61006 => ErrorKind::TicketInvalid,
        61007 | 48001 => ErrorKind::PermissionMissing,
        c if TOKEN_REJECTED_CODES.contains(&c) => ErrorKind::TokenRejected,
        REFRESH_TOKEN_INVALID => ErrorKind::NeedsReauthorization,
        DAILY_QUOTA => ErrorKind::Quota,
        _ => ErrorKind::Business,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat {endpoint} failed: errcode {code}, errmsg {errmsg:?}")]
    Api {
        code: i64,
        errmsg: String,
        endpoint: &'static str,
    },
    /// The request did not complete (connect failure, timeout, broken body). The inner error has
    /// no URL.
    #[error("transport error calling WeChat {endpoint}: {source}")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// WeChat (or a proxy) answered with a non-success HTTP status.
    #[error("WeChat {endpoint} answered HTTP {status}")]
    Http { endpoint: &'static str, status: u16 },
    /// The response body is not what the endpoint documents.
    #[error("undecodable response from WeChat {endpoint}: {detail}")]
    Decode {
        endpoint: &'static str,
        detail: String,
    },
    /// No `component_verify_ticket` is stored yet.
    #[error(
        "no component_verify_ticket received yet for component {component}; WeChat pushes one every 10 minutes to the authorization event URL (or ask for one with api_start_push_ticket)"
    )]
    NoTicket { component: AppId },
    /// The latest ticket is older than its 12 h validity: pushes have stopped arriving.
    #[error(
        "the latest component_verify_ticket for component {component} was received at {received_at}, {age_secs} s ago, beyond its 12 h validity; WeChat pushes one every 10 minutes: check the authorization event URL"
    )]
    TicketExpired {
        component: AppId,
        received_at: UnixTime,
        age_secs: i64,
    },
    /// No refresh token is stored for this authorizer: it was never authorized, was unauthorized,
    /// or lost its token. The merchant must authorize again.
    #[error("no authorizer_refresh_token stored for {appid}: the merchant must authorize again")]
    NoRefreshToken { appid: AppId },
    /// WeChat refused the stored refresh token (61023) and reports no other (or the account no
    /// longer authorizes us): the merchant must authorize again. Marked in the store.
    #[error("the refresh token of {appid} was refused and WeChat reports no other: the merchant must authorize again")]
    NeedsReauthorization { appid: AppId },
    /// WeChat refused the stored refresh token (61023) but the read of the one it holds now
    /// (`api_get_authorizer_info`) failed too: refused is not proof that the merchant must
    /// authorize again (a lost answer may have rotated it), so nothing is marked and the token
    /// stays due, to be tried again.
    #[error("the refresh token of {appid} was refused (61023) and reading the live one failed ({recovery}): left due, to be tried again")]
    RefusalUnconfirmed {
        appid: AppId,
        #[source]
        recovery: Box<WechatError>,
    },
    /// Another refresher held the lease and no fresh token appeared within the wait budget.
    #[error("timed out waiting for another refresher of the {what} token")]
    LeaseWaitTimeout { what: String },
    /// The state store failed.
    #[error("token store: {0}")]
    Store(#[from] StoreError),
    /// A request that cannot be built (bad base URL, a bad argument).
    #[error("invalid request to WeChat {endpoint}: {detail}")]
    InvalidRequest {
        endpoint: &'static str,
        detail: String,
    },
}

pub type WechatResult<T> = Result<T, WechatError>;

impl WechatError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            WechatError::Api { code, .. } => classify_errcode(*code),
            WechatError::Transport { source, .. } => {
                if source.is_builder() {
                    ErrorKind::Internal
                } else {
                    ErrorKind::Retryable
                }
            }
            WechatError::Http { status, .. } if *status >= 500 => ErrorKind::Retryable,
            WechatError::Http { .. } => ErrorKind::Internal,
            WechatError::Decode { .. } => ErrorKind::Internal,
            WechatError::NoTicket { .. } | WechatError::TicketExpired { .. } => ErrorKind::Internal,
            WechatError::NoRefreshToken { .. } | WechatError::NeedsReauthorization { .. } => {
                ErrorKind::NeedsReauthorization
            }
            WechatError::LeaseWaitTimeout { .. } => ErrorKind::Retryable,
            // Tried again later; what stops every call (quota, IP, ticket) still says so.
            WechatError::RefusalUnconfirmed { recovery, .. } => match recovery.kind() {
                k @ (ErrorKind::Quota
                | ErrorKind::IpNotWhitelisted
                | ErrorKind::TicketInvalid
                | ErrorKind::RetryLater) => k,
                _ => ErrorKind::Retryable,
            },
            WechatError::Store(_) => ErrorKind::Internal,
            WechatError::InvalidRequest { .. } => ErrorKind::Internal,
        }
    }

    /// The WeChat errcode, if WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WechatError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The request provably never reached WeChat (no connection was made): even a call that
    /// changes state may be sent again.
    pub fn never_sent(&self) -> bool {
        matches!(self, WechatError::Transport { source, .. } if source.is_connect())
    }

    /// The request may have reached WeChat and been applied, but no usable answer came back (a
    /// timeout after sending, a broken body, an HTTP 5xx, errcode -1). A call that changes state
    /// must not be repeated blindly: reconcile from what WeChat reports instead.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            WechatError::Transport { source, .. } => !source.is_connect() && !source.is_builder(),
            WechatError::Http { status, .. } => *status >= 500,
            WechatError::Api { code, .. } => *code == SYSTEM_ERROR,
            _ => false,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retryable
    }

    pub fn is_token_rejected(&self) -> bool {
        self.kind() == ErrorKind::TokenRejected
    }

    /// The authorizer must authorize again (61023 or no refresh token): mark it and alert.
    pub fn needs_reauthorization(&self) -> bool {
        self.kind() == ErrorKind::NeedsReauthorization
    }

    pub(crate) fn transport(endpoint: &'static str, err: reqwest::Error) -> Self {
        WechatError::Transport {
            endpoint,
            source: err.without_url(),
        }
    }

    /// A decode error that never quotes the body (it may contain tokens).
    pub(crate) fn decode(endpoint: &'static str, err: &serde_json::Error) -> Self {
        WechatError::Decode {
            endpoint,
            detail: format!(
                "{:?} error at line {} column {}",
                err.classify(),
                err.line(),
                err.column()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_are_classified_as_the_error_policy_says() {
        assert_eq!(classify_errcode(-1), ErrorKind::Retryable);
        for c in [40001, 42001, 40014] {
            assert_eq!(classify_errcode(c), ErrorKind::TokenRejected, "{c}");
        }
        assert_eq!(classify_errcode(61023), ErrorKind::NeedsReauthorization);
        assert_eq!(classify_errcode(45009), ErrorKind::Quota);
        for c in [85009, 85019, 85020, 85085, 86000, 87013, 89402, 61039] {
            assert_eq!(classify_errcode(c), ErrorKind::Business, "{c}");
        }
        for c in [89401, 45011] {
            assert_eq!(classify_errcode(c), ErrorKind::RetryLater, "{c}");
        }
        assert_eq!(classify_errcode(61004), ErrorKind::IpNotWhitelisted);
        for c in [61005, 61006] {
            assert_eq!(classify_errcode(c), ErrorKind::TicketInvalid, "{c}");
        }
        for c in [61007, 48001] {
            assert_eq!(classify_errcode(c), ErrorKind::PermissionMissing, "{c}");
        }
    }

    #[test]
    fn local_errors_have_their_own_kinds() {
        let app = AppId::parse("wxf8b4f85f3a794e77").unwrap();
        assert_eq!(
            WechatError::NoRefreshToken { appid: app.clone() }.kind(),
            ErrorKind::NeedsReauthorization
        );
        assert_eq!(
            WechatError::NoTicket { component: app }.kind(),
            ErrorKind::Internal
        );
        assert_eq!(
            WechatError::Http {
                endpoint: "/x",
                status: 503
            }
            .kind(),
            ErrorKind::Retryable
        );
        assert_eq!(
            WechatError::Store(StoreError::Conflict).kind(),
            ErrorKind::Internal
        );
        let e = serde_json::from_str::<u64>("\"SECRET-TOKEN\"").unwrap_err();
        let d = WechatError::decode("/x", &e);
        assert!(!d.to_string().contains("SECRET-TOKEN"), "{d}");
        assert!(!format!("{d:?}").contains("SECRET-TOKEN"));
    }
}
