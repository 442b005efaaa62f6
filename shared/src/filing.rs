//! Learning where an app's ICP filing stands: asking WeChat (`get_icp_entrance_info`, and
//! `get_online_icp_order` for the record number once filed) and keeping the answer in the
//! [`FilingStore`]. Shared by the release guard and the operator's look (audit-actions), the
//! daily census (token-refresher) and the filing pushes ([`crate::push_apply`]), so all of them
//! store the same state the same way.
//!
//! The daily census's slot ([`census_slot`]) is here too: a pure function of the appid, so every
//! run and every process agree on when an app is asked.

use crate::domain::{AppId, UnixTime};
use crate::store::{FilingState, FilingStore};
use crate::wechat::icp::{GetIcpEntranceInfo, GetOnlineIcpOrder};
use crate::wechat::{TokenManager, WechatError};
use sha2::{Digest, Sha256};

/// Seconds in a day; the census's day is Beijing's (UTC+8), as WeChat's quotas are.
pub const DAY_SECS: i64 = 86_400;
const BEIJING_OFFSET_SECS: i64 = 8 * 3_600;

/// Asks WeChat where `appid`'s filing stands and stores it (learned at `now`); answers the state
/// as stored afterwards (a newer one already stored wins and is answered).
///
/// Filed: the record number comes from `get_online_icp_order` once (kept from the stored state
/// afterwards); when that read fails the state is stored without it, never dropped.
pub async fn check<S: FilingStore + ?Sized>(
    mgr: &TokenManager,
    store: &S,
    appid: &AppId,
    now: UnixTime,
) -> Result<FilingState, WechatError> {
    let wxa = mgr.wxa(appid);
    let entrance = wxa.call(&GetIcpEntranceInfo::default()).await?.info;
    let mut state = FilingState::from_entrance(appid, &entrance, now);
    if state.is_filed() {
        let stored = store.get_filing(appid).await?;
        state.record_number = stored.and_then(|s| s.record_number);
        if state.record_number.is_none() {
            match wxa.call(&GetOnlineIcpOrder::default()).await {
                Ok(order) => state.record_number = order.applet_record_number().map(str::to_owned),
                Err(WechatError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(%appid, error = %e, "filed, but the record number was not read; read again at the next check")
                }
            }
        }
    }
    record(store, state).await.map_err(Into::into)
}

/// Stores `state` unless a later one is stored; the state as stored afterwards.
pub async fn record<S: FilingStore + ?Sized>(
    store: &S,
    state: FilingState,
) -> Result<FilingState, crate::store::StoreError> {
    if store.record_filing(&state).await? {
        return Ok(state);
    }
    Ok(store.get_filing(&state.appid).await?.unwrap_or(state))
}

/// The start (UTC seconds) of the Beijing day holding `now`.
pub fn day_start(now: UnixTime) -> UnixTime {
    now - (now + BEIJING_OFFSET_SECS).rem_euclid(DAY_SECS)
}

/// When in each day the census asks about `appid`: seconds after the day's start, from a hash
/// of the appid, so a fleet's asks spread over the day instead of landing at once.
pub fn census_slot(appid: &AppId) -> i64 {
    let digest = Sha256::digest(appid.as_str().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % DAY_SECS as u64) as i64
}

/// Whether the census asks about an app at `now`: never once filed; otherwise once its slot
/// of today has come and nothing was learned of it since today began (a push or a release's
/// check today stands for the census's ask).
pub fn census_due(appid: &AppId, stored: Option<&FilingState>, now: UnixTime) -> bool {
    let today = day_start(now);
    if now < today + census_slot(appid) {
        return false;
    }
    match stored {
        Some(s) if s.is_filed() => false,
        Some(s) => s.checked_at < today,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FilingStatus;

    fn app(n: u32) -> AppId {
        AppId::parse(&format!("wx{n:016x}")).unwrap()
    }

    #[test]
    fn the_day_is_beijings_and_slots_spread_over_it() {
        // 2024-01-01 00:00 Beijing = 2023-12-31 16:00 UTC.
        assert_eq!(day_start(1_704_038_400 + 5), 1_704_038_400);
        assert_eq!(day_start(1_704_038_400 - 1), 1_704_038_400 - DAY_SECS);
        let slots: Vec<i64> = (0..200).map(|n| census_slot(&app(n))).collect();
        assert!(slots.iter().all(|s| (0..DAY_SECS).contains(s)));
        let hours: std::collections::BTreeSet<i64> = slots.iter().map(|s| s / 3600).collect();
        assert!(hours.len() > 20, "spread over the day: {hours:?}");
        assert_eq!(census_slot(&app(1)), census_slot(&app(1)));
    }

    #[test]
    fn the_census_asks_once_a_day_after_the_slot_and_never_once_filed() {
        let a = app(7);
        let slot_time = day_start(1_704_038_400) + census_slot(&a);
        assert!(!census_due(&a, None, slot_time - 1));
        assert!(census_due(&a, None, slot_time));
        let mut s = FilingState {
            appid: a.clone(),
            status: FilingStatus::NotFiled,
            wechat_status: 1024,
            reasons: vec![],
            sms_verify: None,
            missing: vec![],
            record_number: None,
            checked_at: slot_time,
        };
        assert!(!census_due(&a, Some(&s), slot_time + 3600), "asked today");
        assert!(
            census_due(&a, Some(&s), slot_time + DAY_SECS),
            "asked again tomorrow"
        );
        s.status = FilingStatus::Filed;
        s.checked_at = 0;
        assert!(!census_due(&a, Some(&s), slot_time + DAY_SECS));
    }
}
