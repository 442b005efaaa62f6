//! Quota resets: the uses of WeChat's `clear_quota` (an app's, with its token) and
//! `component/clear_quota/v2` (the platform's, with the appsecret), counted per account and
//! Beijing calendar month.
//!
//! WeChat allows 10 resets a month per account, both forms counting against the same 10, then
//! answers 48006 (clear_quota.html; api_componentclearquota_v2.html). A reset is scarce and is
//! never repeated blindly, so wxopen counts its own: a use is reserved before WeChat is asked
//! (two operators racing for the last one: one wins), and settled by WeChat's answer. A lost
//! answer leaves the use counted as spent: WeChat reports no count of resets, so nothing it says
//! can prove the reset did not happen.

use super::StoreResult;
use crate::domain::{AppId, UnixTime};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// clear_quota.html: 10 resets a month per account (both forms count).
pub const QUOTA_RESETS_PER_MONTH: u32 = 10;

/// Whose daily counts a reset zeroes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaAccount {
    /// The platform's own (`component/clear_quota/v2` without `appid`).
    Platform,
    /// One authorized mini program's (`clear_quota` with its token).
    App(AppId),
}

impl QuotaAccount {
    /// The store's key of the account.
    pub fn key(&self) -> String {
        match self {
            QuotaAccount::Platform => "platform".to_owned(),
            QuotaAccount::App(a) => a.to_string(),
        }
    }
}

/// What became of one use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaResetOutcome {
    /// Reserved; WeChat is being asked. Counted.
    Pending,
    /// WeChat answered success. Counted.
    Cleared,
    /// The answer was lost: the reset may have happened. Counted as spent.
    Unknown,
    /// WeChat answered with an error (or the request never left): nothing spent.
    NotSpent,
}

impl QuotaResetOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaResetOutcome::Pending => "pending",
            QuotaResetOutcome::Cleared => "cleared",
            QuotaResetOutcome::Unknown => "unknown",
            QuotaResetOutcome::NotSpent => "not_spent",
        }
    }

    fn counts(self) -> bool {
        !matches!(self, QuotaResetOutcome::NotSpent)
    }
}

/// One use of a reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaResetUse {
    /// The caller's id of this use (what [`QuotaResetStore::settle_quota_reset`] names).
    pub id: String,
    pub at: UnixTime,
    /// The operator key's label.
    pub operator: String,
    pub outcome: QuotaResetOutcome,
    /// WeChat's errcode when it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
}

/// One account's uses in one month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaResetLedger {
    pub uses: Vec<QuotaResetUse>,
    /// WeChat answered 48006: it counts every reset of the month as spent, whatever wxopen
    /// counted (resets made elsewhere, in the WeChat console or by another tool).
    #[serde(default)]
    pub exhausted_at_wechat: bool,
}

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaReservation {
    /// Reserved: `spent` counts it.
    Reserved { spent: u32 },
    /// None left: nothing reserved.
    LimitReached { spent: u32 },
}

impl QuotaResetLedger {
    /// The uses counted against the month's limit.
    pub fn spent(&self, limit: u32) -> u32 {
        if self.exhausted_at_wechat {
            return limit;
        }
        let n = self.uses.iter().filter(|u| u.outcome.counts()).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Reserves `u` (its outcome taken as [`QuotaResetOutcome::Pending`]) unless `limit` uses
    /// are counted already: the rule both stores apply inside their write.
    pub fn reserve(&mut self, limit: u32, u: &QuotaResetUse) -> QuotaReservation {
        let spent = self.spent(limit);
        if spent >= limit {
            return QuotaReservation::LimitReached { spent };
        }
        self.uses.push(QuotaResetUse {
            outcome: QuotaResetOutcome::Pending,
            ..u.clone()
        });
        QuotaReservation::Reserved { spent: spent + 1 }
    }

    /// Settles the use `id` (absent: nothing changes). 48006 marks the month exhausted.
    pub fn settle(&mut self, id: &str, outcome: QuotaResetOutcome, errcode: Option<i64>) {
        if errcode == Some(LIMIT_REACHED_ERRCODE) {
            self.exhausted_at_wechat = true;
        }
        if let Some(u) = self.uses.iter_mut().find(|u| u.id == id) {
            u.outcome = outcome;
            u.errcode = errcode;
        }
    }
}

/// `forbid to clear quota because of reaching the limit` (clear_quota.html).
pub const LIMIT_REACHED_ERRCODE: i64 = 48006;

#[async_trait]
pub trait QuotaResetStore: Send + Sync {
    /// Reserves one use of `account`'s resets in the month starting at `month_start`, in one
    /// conditional write ([`QuotaResetLedger::reserve`]): of two callers racing for the last
    /// use, one gets it.
    async fn reserve_quota_reset(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
        limit: u32,
        u: &QuotaResetUse,
    ) -> StoreResult<QuotaReservation>;
    /// Records what became of the use `id` ([`QuotaResetLedger::settle`]).
    async fn settle_quota_reset(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
        id: &str,
        outcome: QuotaResetOutcome,
        errcode: Option<i64>,
    ) -> StoreResult<()>;
    /// The month's uses (empty when none).
    async fn quota_resets(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
    ) -> StoreResult<QuotaResetLedger>;
}
