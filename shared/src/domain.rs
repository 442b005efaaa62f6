//! Domain newtypes: values are parsed once at the boundary and trusted everywhere after.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Seconds since the Unix epoch. WeChat speaks in Unix seconds (CreateTime, expires_in), so do we.
pub type UnixTime = i64;

/// Error for a value that does not parse into a domain type; names the field, never echoes secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct ParseError {
    pub field: &'static str,
    pub reason: &'static str,
}

/// A WeChat appid (component, mini program or official account): `wx` and 16 lowercase
/// alphanumerics, as every appid WeChat issues. Parsing it strictly keeps junk out of table keys.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppId(String);

impl AppId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok = s.len() == 18
            && s.starts_with("wx")
            && s[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        if ok {
            Ok(AppId(s.to_owned()))
        } else {
            Err(ParseError {
                field: "appid",
                reason: "must be \"wx\" followed by 16 lowercase letters or digits",
            })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AppId::parse(&s)
    }
}
impl From<AppId> for String {
    fn from(a: AppId) -> String {
        a.0
    }
}
impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({})", self.0)
    }
}
impl std::str::FromStr for AppId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppId::parse(s)
    }
}

/// The id WeChat returns from `/wxa/submit_audit` and expects in `get_auditstatus` / `speedupaudit`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditId(pub u64);

impl AuditId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        s.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(AuditId)
            .ok_or(ParseError {
                field: "auditid",
                reason: "must be a positive integer",
            })
    }
}
impl fmt::Display for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Audit status as `/wxa/get_auditstatus` numbers it (0 approved, 1 rejected, 2 auditing,
/// 3 withdrawn, 4 delayed). Pushes map onto the same values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    Approved,
    Rejected,
    Auditing,
    Withdrawn,
    Delayed,
}

impl AuditStatus {
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => AuditStatus::Approved,
            1 => AuditStatus::Rejected,
            2 => AuditStatus::Auditing,
            3 => AuditStatus::Withdrawn,
            4 => AuditStatus::Delayed,
            _ => return None,
        })
    }
    pub fn code(self) -> i64 {
        match self {
            AuditStatus::Approved => 0,
            AuditStatus::Rejected => 1,
            AuditStatus::Auditing => 2,
            AuditStatus::Withdrawn => 3,
            AuditStatus::Delayed => 4,
        }
    }
    /// An audit in this state blocks a new submission (WeChat answers 85009).
    pub fn is_pending(self) -> bool {
        matches!(self, AuditStatus::Auditing | AuditStatus::Delayed)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Approved => "approved",
            AuditStatus::Rejected => "rejected",
            AuditStatus::Auditing => "auditing",
            AuditStatus::Withdrawn => "withdrawn",
            AuditStatus::Delayed => "delayed",
        }
    }
}

/// A source of "now", so token lifetimes and expiries can be tested without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixTime;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock tests move by hand; clones share the same time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl ManualClock {
    pub fn new(start: UnixTime) -> Self {
        ManualClock(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
            start,
        )))
    }
    pub fn set(&self, t: UnixTime) {
        self.0.store(t, std::sync::atomic::Ordering::SeqCst)
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appid_must_be_wx_and_16_lowercase_alphanumerics() {
        assert!(AppId::parse("wx134c8103faa5a59e").is_ok());
        for bad in [
            "",
            "wx",
            "wx134c8103faa5a59",
            "wx134c8103faa5a59ee",
            "WX134c8103faa5a59e",
            "wx134C8103faa5a59e",
            "wx134c8103faa5a5#e",
            "gh_fb9688c2a4b2",
        ] {
            assert_eq!(AppId::parse(bad).unwrap_err().field, "appid", "{bad:?}");
        }
    }

    #[test]
    fn an_auditid_must_be_a_positive_integer() {
        assert_eq!(AuditId::parse("1234567"), Ok(AuditId(1234567)));
        assert!(AuditId::parse("0").is_err());
        assert!(AuditId::parse("-1").is_err());
        assert!(AuditId::parse("12a").is_err());
    }

    #[test]
    fn audit_status_codes_round_trip_and_unknown_codes_are_refused() {
        for c in 0..=4 {
            assert_eq!(AuditStatus::from_code(c).unwrap().code(), c);
        }
        assert_eq!(AuditStatus::from_code(5), None);
        assert!(AuditStatus::Auditing.is_pending());
        assert!(AuditStatus::Delayed.is_pending());
        assert!(!AuditStatus::Approved.is_pending());
    }
}

/// WeChat counts its daily and monthly limits (undo 5 a day and 10 a month, quota resets) by
/// Beijing time, UTC+8, without daylight saving.
const BEIJING_OFFSET: i64 = 8 * 3600;

/// The first second of `t`'s day in Beijing time.
pub fn beijing_day_start(t: UnixTime) -> UnixTime {
    (t + BEIJING_OFFSET).div_euclid(86_400) * 86_400 - BEIJING_OFFSET
}

/// The first second of `t`'s calendar month in Beijing time.
pub fn beijing_month_start(t: UnixTime) -> UnixTime {
    let days = (t + BEIJING_OFFSET).div_euclid(86_400);
    let (_, _, day_of_month) = civil_from_days(days);
    (days - (day_of_month - 1)) * 86_400 - BEIJING_OFFSET
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01 (Howard Hinnant's
/// civil-from-days), for the few dates wxopen formats or counts without a date crate.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod beijing_tests {
    use super::*;

    #[test]
    fn days_and_months_start_at_midnight_beijing_time() {
        // 2026-03-01 00:30 Beijing = 2026-02-28 16:30 UTC (1772296200).
        let t = 1_772_296_200;
        assert_eq!(beijing_day_start(t), 1_772_294_400); // 2026-02-28 16:00 UTC
        assert_eq!(beijing_month_start(t), 1_772_294_400);
        // 2026-02-28 23:59 Beijing belongs to February, whose month began 2026-01-31 16:00 UTC.
        assert_eq!(beijing_month_start(1_772_294_399), 1_769_875_200);
        // A leap day: 2028-02-29 12:00 Beijing = 1835409600; February 2028 began 2028-01-31 16:00 UTC.
        assert_eq!(beijing_month_start(1_835_409_600), 1_832_947_200);
    }
}
