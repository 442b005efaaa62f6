//! Audits that sit "auditing" with no word from WeChat: their push was lost (or never sent).
//! Once an hour the batch runner's tick walks the authorized apps and asks WeChat
//! (`get_latest_auditstatus`, through [`super::audits::refresh_latest`]) about every audit that has
//! been pending for over [`STALE_AFTER_SECS`] without an update, so a lost approval does not
//! leave an app unreleased for ever. A normal audit gets its push within hours and is asked
//! about at most once an hour; WeChat's audits take 1 to 7 days, so the cost is one query per
//! pending app per hour, not per app.
//!
//! The same walk settles the submissions and releases left in doubt (their answer lost and the
//! read after it failed: [`wxopen::wechat::reconcile`]), and completes a profile stored without
//! WeChat's details, so an app's audit pushes are matched to it.

use super::{app, audits, OpsError};
use crate::Deps;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use wxopen::domain::AppId;
use wxopen::store::{authorizer_pages, Authorizer, StoreError};
use wxopen::wechat::reconcile::{self, ReleaseSettlement, SubmissionSettlement};
use wxopen::wechat::WechatError;

/// An audit not updated for this long is asked about.
pub const STALE_AFTER_SECS: i64 = 3600;
/// How often the reconcile runs (claimed in the store, so two runners never both run it).
pub const EVERY_SECS: i64 = 3600;
/// Apps looked at and asked about at once.
const CONCURRENCY: usize = 8;

/// What one reconcile did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct StaleReport {
    /// Authorized apps looked at.
    pub apps: u64,
    /// Pending audits older than the threshold: asked of WeChat.
    pub asked: u64,
    /// Of those, now reported as decided (approved, rejected, withdrawn).
    pub decided: u64,
    /// Asked, but WeChat's answer could not be had (left for the next run).
    pub failed: u64,
    /// Submissions and releases in doubt that WeChat's answer settled (taken or not).
    pub doubts_settled: u64,
    /// Submissions and releases in doubt that could not be settled now (left for the next run).
    pub doubts_left: u64,
}

/// Asks WeChat about every authorized app's audit pending for over `stale_after_secs`.
pub async fn reconcile(deps: &Deps, stale_after_secs: i64) -> Result<StaleReport, StoreError> {
    let now = deps.clock.now();
    let filter = app::authorized_only();
    let mut report = StaleReport::default();
    let mut pages = std::pin::pin!(authorizer_pages(&*deps.store, &filter));
    while let Some(page) = pages.try_next().await? {
        report.apps += page.len() as u64;
        // The futures are built first: a closure yielding them inside the stream would not be
        // `Send` for every lifetime (the local runner spawns this).
        let checks: Vec<_> = page
            .iter()
            .map(|a| async move {
                let doubts = settle_doubts(deps, a).await?;
                Ok::<_, StoreError>((
                    doubts,
                    check_one(deps, &a.appid, now, stale_after_secs).await?,
                ))
            })
            .collect();
        let outcomes: Vec<Result<(Doubts, Asked), StoreError>> = futures::stream::iter(checks)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for o in outcomes {
            let (doubts, asked) = o?;
            report.doubts_settled += doubts.settled;
            report.doubts_left += doubts.left;
            match asked {
                Asked::No => {}
                Asked::Pending => report.asked += 1,
                Asked::Decided => {
                    report.asked += 1;
                    report.decided += 1;
                }
                Asked::Failed => {
                    report.asked += 1;
                    report.failed += 1;
                }
            }
        }
    }
    Ok(report)
}

/// What became of one app.
enum Asked {
    /// No stale pending audit.
    No,
    /// Asked: still pending at WeChat.
    Pending,
    /// Asked: decided meanwhile (the lost push's news is now stored).
    Decided,
    /// Asked, no answer: the next run asks again.
    Failed,
}

/// The doubts of one app, and what became of them.
#[derive(Default)]
struct Doubts {
    settled: u64,
    left: u64,
}

/// Settles the app's submission and release in doubt, and completes its profile if it was
/// stored without WeChat's details. WeChat's failures are left for the next run.
async fn settle_doubts(deps: &Deps, a: &Authorizer) -> Result<Doubts, StoreError> {
    let (mgr, store, clock, appid) = (
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        &a.appid,
    );
    if a.user_name.is_empty() {
        app::with_complete_profile(deps, a.clone()).await;
    }
    let mut doubts = Doubts::default();
    let mut count = |settled: Result<bool, WechatError>| -> Result<(), StoreError> {
        match settled {
            Ok(true) => doubts.settled += 1,
            Ok(false) => {}
            Err(WechatError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(%appid, error = %e, "a call in doubt could not be settled; the next run tries again");
                doubts.left += 1;
            }
        }
        Ok(())
    };
    count(
        reconcile::settle_submission(mgr, store, clock, appid)
            .await
            .map(|s| {
                matches!(
                    s,
                    SubmissionSettlement::Adopted(_)
                        | SubmissionSettlement::NotTaken { dropped: true }
                )
            }),
    )?;
    count(
        reconcile::settle_release(mgr, store, clock, appid)
            .await
            .map(|s| {
                matches!(
                    s,
                    ReleaseSettlement::Released { .. }
                        | ReleaseSettlement::NotReleased { dropped: true }
                )
            }),
    )?;
    Ok(doubts)
}

async fn check_one(
    deps: &Deps,
    appid: &AppId,
    now: i64,
    stale_after_secs: i64,
) -> Result<Asked, StoreError> {
    let Some(r) = deps.store.latest_audit(appid).await? else {
        return Ok(Asked::No);
    };
    if !r.status.is_pending() || now - r.updated_at < stale_after_secs {
        return Ok(Asked::No);
    }
    match audits::refresh_latest(deps, appid).await {
        Ok(Some(fresh)) if fresh.auditid == r.auditid && fresh.status.is_pending() => {
            Ok(Asked::Pending)
        }
        Ok(fresh) => {
            tracing::warn!(%appid, auditid = %r.auditid, status = fresh.as_ref().map(|f| f.status.as_str()), "an audit result WeChat never pushed was found by polling");
            Ok(Asked::Decided)
        }
        Err(OpsError::Store(e)) => Err(e),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "a stale audit could not be asked about; the next run tries again");
            Ok(Asked::Failed)
        }
    }
}

/// The hourly reconcile if it is due (claimed in the store), else nothing.
pub async fn reconcile_if_due(deps: &Deps) -> Result<Option<StaleReport>, StoreError> {
    if !deps
        .store
        .claim_run("stale_audits", deps.clock.now(), EVERY_SECS)
        .await?
    {
        return Ok(None);
    }
    let report = reconcile(deps, STALE_AFTER_SECS).await?;
    tracing::info!(?report, "stale audits reconciled");
    Ok(Some(report))
}
