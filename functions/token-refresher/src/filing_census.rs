//! The daily ICP filing census: each authorized app not yet filed is asked about once a day
//! (`get_icp_entrance_info`), so the filing stage operators see and the release guard reads
//! stays current between pushes (a lost push, a filing done in WeChat's own console).
//!
//! Rules, per app:
//! - never once filed (a filed app has nothing left to learn, and the release guard trusts it);
//! - at most once per Beijing day, claimed in the store (`filing_census#{appid}`) before
//!   WeChat is asked, so concurrent runs ask once and a failed ask is not repeated that day;
//! - not before its slot of the day ([`wxopen::filing::census_slot`], a hash of the appid), so
//!   a fleet's asks spread over the day instead of landing in one run;
//! - not at all when something was learned of it today (a push, a release's check).
//!
//! It runs in every refresher pass; the pass's summary carries its figures.

use crate::Deps;
use tokio::time::Instant;
use wxopen::domain::UnixTime;
use wxopen::filing::{self, census_due, day_start};
use wxopen::store::{authorizer_pages, AuthorizerFilter, AuthorizerStatus, StoreError};

/// What one pass of the census did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CensusFigures {
    /// Apps asked about (`get_icp_entrance_info` calls).
    pub asked: u64,
    /// Of those, the ones WeChat reports filed now.
    pub filed: u64,
    /// Of those, the ones whose status is not what was stored.
    pub changed: u64,
    /// Asks that failed (not asked again until tomorrow).
    pub failed: u64,
}

/// One pass over the authorized apps: asks those due at `now`. Stops starting asks once
/// `deadline` is near (the next pass takes the rest).
pub async fn run(
    deps: &Deps,
    now: UnixTime,
    deadline: Instant,
) -> Result<CensusFigures, StoreError> {
    use futures::TryStreamExt;
    let mut figures = CensusFigures::default();
    let filter = AuthorizerFilter {
        status: Some(AuthorizerStatus::Authorized),
        customer_id: None,
    };
    // Claimed if it did not run since today began: once per Beijing day.
    let since_today = now - day_start(now) + 1;
    let mut pages = std::pin::pin!(authorizer_pages(&*deps.store, &filter));
    while let Some(page) = pages.try_next().await? {
        let appids: Vec<_> = page.into_iter().map(|a| a.appid).collect();
        let stored = deps.store.get_filings(&appids).await?;
        for (appid, stored) in appids.iter().zip(stored) {
            if !census_due(appid, stored.as_ref(), now) {
                continue;
            }
            if Instant::now() + deps.config.deadline_margin >= deadline {
                return Ok(figures);
            }
            let name = format!("filing_census#{appid}");
            if !deps.store.claim_run(&name, now, since_today).await? {
                continue;
            }
            figures.asked += 1;
            match filing::check(&deps.mgr, &*deps.store, appid, now).await {
                Ok(state) => {
                    figures.filed += u64::from(state.is_filed());
                    let before = stored.as_ref().map(|s| s.status);
                    figures.changed += u64::from(before != Some(state.status));
                }
                Err(wxopen::wechat::WechatError::Store(e)) => return Err(e),
                Err(e) => {
                    figures.failed += 1;
                    tracing::warn!(authorizer = %appid, error = %e, "filing census: status not read; asked again tomorrow");
                }
            }
        }
    }
    Ok(figures)
}
