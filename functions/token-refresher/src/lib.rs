//! `token-refresher`: on a schedule (EventBridge), keep every token fresh before it expires.
//!
//! One run ([`run`]):
//! 1. **Ticket watchdog**: reports the age of the latest `component_verify_ticket`; over 20 min
//!    it asks WeChat to push one (`api_start_push_ticket`, at most once per 10 min across all
//!    runs) and logs an error; over 30 min the `StaleTicket` metric is 1 (an alarm watches it).
//! 2. **Component token** kept valid for at least 20 more minutes.
//! 3. **Daily reconcile** with `api_get_authorizer_list` (at most once per 24 h, claimed in the
//!    store): see [`reconcile`].
//! 4. **Authorizer tokens** expiring within the window (default 30 min) are listed page by page
//!    through the store's due index (never a scan) and refreshed at a bounded concurrency, each
//!    through the token manager's lease (a token someone refreshed meanwhile is skipped, never
//!    refreshed twice; a lost refresh token is recovered from what WeChat reports).
//!    45009 (daily quota) and 61004 (IP not whitelisted) stop the run and fail it; transient
//!    errors are retried with backoff, then left for the next run; a refresh token WeChat
//!    refused, and reports no other for, is marked `needs_reauthorization` by the token manager
//!    (token and profile of the judged grant in one write) and kept out of later runs. A refusal
//!    whose recovery read failed marks nothing: it stays due and is counted apart
//!    (`RefusalsUnconfirmed`).
//! 5. No refresh starts once the invocation's remaining time is under a margin: the next run
//!    picks up the rest.
//! 6. **Reauthorization census**, once an hour (claimed in the store): how many authorizers are
//!    in `needs_reauthorization`, whenever they were marked; a gauge, so its alarm stays on until
//!    every such merchant has authorized again (the per-run count of newly marked ones only says
//!    when it happened).
//! 7. **ICP filing census**: each authorized app not filed is asked about once a day, at its
//!    slot of the day ([`filing_census`]); skipped when the run stopped (quota, IP whitelist).
//! 8. A summary: one JSON log line and CloudWatch Embedded Metric Format ([`summary`]).
//! 9. Notifications ([`wxopen::notifications`]) in the outbox: each authorizer marked
//!    `needs_reauthorization`, a stale ticket and a run's failures (the last two at most once an
//!    hour: the refresher runs every few minutes).

pub mod filing_census;
pub mod reconcile;
pub mod summary;

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use summary::{Counters, RunSummary};
use tokio::time::Instant;
use wxopen::domain::{AppId, Clock};
use wxopen::notifications::{self, Event};
use wxopen::store::{
    authorizer_pages, AuthorizerFilter, AuthorizerStatus, Store, StoreError, TokenKey,
    VersionedToken,
};
use wxopen::wechat::{ErrorKind, TokenManager, WechatError};

/// Timing and limits of a run. `Default` is production; [`RefresherConfig::from_env`] reads
/// overrides.
#[derive(Debug, Clone)]
pub struct RefresherConfig {
    /// Refresh authorizer tokens that expire within this many seconds (a 2 h token is refreshed
    /// about every 90 minutes with the default 30 min and a 10 min schedule).
    pub window_secs: i64,
    /// The component token must stay valid at least this long after a run.
    pub component_min_secs: i64,
    /// Refreshes in flight at once.
    pub concurrency: usize,
    /// Due tokens read per store page.
    pub page_size: u32,
    /// No refresh starts when less than this is left of the invocation.
    pub deadline_margin: Duration,
    /// Attempts per token for transient failures (-1, 89401, 45011, timeouts).
    pub attempts: u32,
    /// Backoff before retry n is `retry_base * 2^(n-1)`.
    pub retry_base: Duration,
    pub reconcile_every_secs: i64,
    /// How often authorizers awaiting reauthorization are counted (one pass over the profiles).
    pub census_every_secs: i64,
    /// Ticket age after which WeChat is asked to push one.
    pub ticket_restart_after_secs: i64,
    /// Ticket age after which the stale-ticket metric fires.
    pub ticket_stale_after_secs: i64,
    /// At most one `api_start_push_ticket` per this many seconds, across all runs.
    pub start_push_every_secs: i64,
    /// Print the run's Embedded Metric Format document on stdout (CloudWatch reads it there);
    /// off where stdout is for people (`wxopen-local demo`).
    pub emit_metrics: bool,
}

impl Default for RefresherConfig {
    fn default() -> Self {
        RefresherConfig {
            window_secs: 1800,
            component_min_secs: 1200,
            concurrency: 16,
            page_size: 500,
            deadline_margin: Duration::from_secs(15),
            attempts: 3,
            retry_base: Duration::from_millis(500),
            reconcile_every_secs: 86_400,
            census_every_secs: 3_600,
            ticket_restart_after_secs: 1200,
            ticket_stale_after_secs: 1800,
            start_push_every_secs: 600,
            emit_metrics: true,
        }
    }
}

impl RefresherConfig {
    /// `Default` with `WXOPEN_REFRESH_CONCURRENCY` and `WXOPEN_REFRESH_WINDOW_SECS` applied.
    pub fn from_env() -> Self {
        let mut c = RefresherConfig::default();
        let num = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        if let Some(n) = num("WXOPEN_REFRESH_CONCURRENCY").filter(|n| (1..=256).contains(n)) {
            c.concurrency = n as usize;
        }
        if let Some(n) = num("WXOPEN_REFRESH_WINDOW_SECS").filter(|n| (60..=7000).contains(n)) {
            c.window_secs = n;
        }
        c
    }
}

/// What a run needs, built once per Lambda instance.
pub struct Deps {
    pub mgr: Arc<TokenManager>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: RefresherConfig,
}

/// Why a run failed: Lambda reports it (and the alarm on function errors fires).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("WeChat's daily API quota is exhausted (45009): the run stopped after {refreshed} refreshes; clear it with POST /ops/component/quota/clear (wxopen quota clear --platform) or wait for the next day")]
    Quota { refreshed: u64 },
    #[error("WeChat refuses this function's IP (61004): add {} to the platform's IP whitelist in the WeChat open platform console", ip.as_deref().unwrap_or("the NAT gateway's Elastic IP"))]
    IpNotWhitelisted { ip: Option<String> },
    #[error("the component access token could not be kept fresh: {0}")]
    ComponentToken(#[source] WechatError),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// Why the refresh stream stopped early.
#[derive(Debug, Clone)]
enum Stop {
    Quota,
    IpNotWhitelisted(Option<String>),
}

/// One run. `deadline`: when the invocation ends.
pub async fn run(deps: &Deps, deadline: Instant) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let cfg = &deps.config;
    let now = deps.clock.now();
    let mut summary = RunSummary::default();
    let recovered_before = deps.mgr.recoveries();

    watch_ticket(deps, now, &mut summary).await?;

    match deps
        .mgr
        .refresh_if_expiring(
            &TokenKey::Component(deps.mgr.component_appid().clone()),
            cfg.component_min_secs,
        )
        .await
    {
        Ok(_) => {}
        Err(e) => {
            let err = fatal(&e)
                .map(|s| s.into_error(0))
                .unwrap_or(RunError::ComponentToken(e));
            summary.finish(started, Some(err.to_string()), deps.config.emit_metrics);
            return Err(err);
        }
    }

    if deps
        .store
        .claim_run("reconcile", now, cfg.reconcile_every_secs)
        .await?
    {
        match reconcile::reconcile(deps).await {
            Ok(r) => {
                summary.reconciled_added = r.added;
                summary.reconciled_removed = r.removed;
                summary.reconciled_restored = r.restored;
                summary.reconcile_unconfirmed = r.unconfirmed;
            }
            Err(e) => {
                tracing::error!(error = %e, "daily reconcile with WeChat failed; it runs again tomorrow")
            }
        }
    }

    let due = due_authorizers(deps, now).await?;
    summary.due = due.len() as u64;
    let counters = Counters::default();
    let stop: Mutex<Option<Stop>> = Mutex::new(None);
    let stopped = AtomicBool::new(false);
    // The due tokens are read a hundred at a time (one request on DynamoDB instead of one per
    // token), one chunk ahead of the refreshes.
    let chunks: Vec<Vec<AppId>> = due.chunks(READ_CHUNK).map(<[AppId]>::to_vec).collect();
    futures::stream::iter(chunks)
        .map(|chunk| read_chunk(deps, chunk))
        .buffered(2)
        .flat_map(futures::stream::iter)
        .map(|(appid, read)| {
            let (counters, stop, stopped) = (&counters, &stop, &stopped);
            async move {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                if Instant::now() + cfg.deadline_margin >= deadline {
                    counters.deferred.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                if let Some(s) = refresh_one(deps, &appid, read, counters).await {
                    stopped.store(true, Ordering::Relaxed);
                    stop.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(s);
                }
            }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
    counters.fill(&mut summary);
    summary.recovered = deps.mgr.recoveries() - recovered_before;
    // The filing census asks with the authorizer tokens just refreshed; a run WeChat stopped
    // would only fail its asks.
    let stopped_early = stop.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    if !stopped_early {
        match filing_census::run(deps, now, deadline).await {
            Ok(f) => {
                summary.filing_asked = f.asked;
                summary.filing_filed = f.filed;
                summary.filing_changed = f.changed;
                summary.filing_failed = f.failed;
            }
            Err(e) => tracing::error!(error = %e, "the filing census failed; the next run goes on"),
        }
    }
    // After the refreshes, so the authorizers this run marked are counted too. A failure here
    // leaves the gauge for the next hour and the run's own figures stand.
    match reauthorization_census(deps, now).await {
        Ok(counted) => summary.awaiting_reauthorization = counted,
        Err(e) => {
            tracing::error!(error = %e, "counting authorizers awaiting reauthorization failed")
        }
    }
    let stop = stop.into_inner().unwrap_or_else(|p| p.into_inner());
    let err = stop.map(|s| s.into_error(summary.refreshed));
    if summary.failed > 0 || err.is_some() {
        let event = Event::RefreshFailures {
            failed: summary.failed,
            error: err.as_ref().map(ToString::to_string),
        };
        let id = format!("refresh_failures:{}", hour_of(now));
        notifications::emit_logged(&*deps.store, event, &id, now).await;
    }
    summary.finish(
        started,
        err.as_ref().map(ToString::to_string),
        deps.config.emit_metrics,
    );
    match err {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Once per `census_every_secs` across all runs: the authorizers whose status is
/// `needs_reauthorization`, page by page through the store's authorizer listing (an index Query
/// with a status filter, never a scan). `None` when another run counted within the period.
async fn reauthorization_census(deps: &Deps, now: i64) -> Result<Option<u64>, StoreError> {
    if !deps
        .store
        .claim_run("reauthorization_census", now, deps.config.census_every_secs)
        .await?
    {
        return Ok(None);
    }
    let filter = AuthorizerFilter {
        status: Some(AuthorizerStatus::NeedsReauthorization),
        customer_id: None,
    };
    authorizer_pages(&*deps.store, &filter)
        .try_fold(
            0,
            |count, page| async move { Ok(count + page.len() as u64) },
        )
        .await
        .map(Some)
}

impl Stop {
    /// The run's error, after `refreshed` tokens were refreshed.
    fn into_error(self, refreshed: u64) -> RunError {
        match self {
            Stop::Quota => RunError::Quota { refreshed },
            Stop::IpNotWhitelisted(ip) => RunError::IpNotWhitelisted { ip },
        }
    }
}

/// Errors that stop the whole run: nothing else will work either.
fn fatal(e: &WechatError) -> Option<Stop> {
    match e.kind() {
        ErrorKind::Quota => Some(Stop::Quota),
        ErrorKind::IpNotWhitelisted => Some(Stop::IpNotWhitelisted(whitelist_ip(e))),
        _ => None,
    }
}

/// WeChat names the refused address in 61004's errmsg ("invalid ip 1.2.3.4 ipv6 ..., not in
/// whitelist"): the one to whitelist.
fn whitelist_ip(e: &WechatError) -> Option<String> {
    let WechatError::Api { errmsg, .. } = e else {
        return None;
    };
    let rest = &errmsg[errmsg.find("invalid ip ")? + "invalid ip ".len()..];
    let ip: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '.' || *c == ':')
        .collect();
    ip.parse::<std::net::IpAddr>().ok().map(|_| ip)
}

/// Every refreshable authorizer token expiring within the window, through the due index.
async fn due_authorizers(deps: &Deps, now: i64) -> Result<Vec<AppId>, StoreError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = deps
            .store
            .due_authorizer_tokens(
                now + deps.config.window_secs,
                cursor.as_deref(),
                deps.config.page_size,
            )
            .await?;
        out.extend(page.items.into_iter().map(|d| d.appid));
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Due tokens read at once ([`wxopen::store::TokenStore::get_tokens`]).
const READ_CHUNK: usize = 100;

/// The chunk's tokens as stored now; `None` for each when the read failed (each is then read
/// on its own by its refresh).
async fn read_chunk(
    deps: &Deps,
    chunk: Vec<AppId>,
) -> Vec<(AppId, Option<Option<VersionedToken>>)> {
    let keys: Vec<TokenKey> = chunk.iter().cloned().map(TokenKey::Authorizer).collect();
    match deps.store.get_tokens(&keys).await {
        Ok(states) => chunk
            .into_iter()
            .zip(states.into_iter().map(Some))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "due tokens not read at once; each is read on its own");
            chunk.into_iter().map(|a| (a, None)).collect()
        }
    }
}

/// Refreshes one authorizer's token, starting from `read` when the caller read it (`Some`);
/// `Some` when the whole run must stop.
async fn refresh_one(
    deps: &Deps,
    appid: &AppId,
    mut read: Option<Option<VersionedToken>>,
    counters: &Counters,
) -> Option<Stop> {
    let key = TokenKey::Authorizer(appid.clone());
    let mut attempt = 1;
    // A retry after an unconfirmed refusal fails at its first read (WeChat is asked before the
    // dead token is presented again): the token still counts as an unconfirmed refusal.
    let mut refusal_unconfirmed = false;
    loop {
        let within = deps.config.window_secs;
        let result = match read.take() {
            Some(r) => deps.mgr.refresh_if_expiring_from(&key, r, within).await,
            // A retry reads afresh.
            None => deps.mgr.refresh_if_expiring(&key, within).await,
        };
        let e = match result {
            Ok(true) => {
                counters.refreshed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Ok(false) => {
                counters.skipped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Err(e) => e,
        };
        refusal_unconfirmed |= matches!(e, WechatError::RefusalUnconfirmed { .. });
        if let Some(stop) = fatal(&e) {
            tracing::error!(authorizer = %appid, error = %e, "stopping the run");
            counters.failed.fetch_add(1, Ordering::Relaxed);
            return Some(stop);
        }
        // The token manager marked the token and, in the same write, the profile of the grant
        // it judged: nothing to write here (a write here would land on a newer grant).
        match &e {
            // Revoked after the due index listed it: nothing to refresh.
            WechatError::NoRefreshToken { .. } => {
                tracing::info!(authorizer = %appid, "no refresh token stored any more (revoked meanwhile); skipped");
                counters.skipped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            _ if e.needs_reauthorization() => {
                tracing::error!(authorizer = %appid, error = %e, "the merchant must authorize again");
                let now = deps.clock.now();
                let id = format!("needs_reauthorization:{appid}:{}", hour_of(now));
                let event = Event::NeedsReauthorization {
                    appid: appid.clone(),
                };
                notifications::emit_logged(&*deps.store, event, &id, now).await;
                counters
                    .needs_reauthorization
                    .fetch_add(1, Ordering::Relaxed);
                return None;
            }
            _ => {}
        }
        match e.kind() {
            ErrorKind::Retryable | ErrorKind::RetryLater if attempt < deps.config.attempts => {
                let delay = deps.config.retry_base * 2u32.pow(attempt - 1);
                tracing::warn!(authorizer = %appid, attempt, error = %e, "refresh failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            _ => {
                tracing::warn!(authorizer = %appid, error = %e, "refresh failed; left for the next run");
                let counter = if refusal_unconfirmed {
                    &counters.refusals_unconfirmed
                } else {
                    &counters.failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
    }
}

/// The ticket watchdog (step 1 of a run).
async fn watch_ticket(deps: &Deps, now: i64, summary: &mut RunSummary) -> Result<(), RunError> {
    let cfg = &deps.config;
    let ticket = deps.store.latest_ticket(deps.mgr.component_appid()).await?;
    let age = ticket.map(|t| now - t.received_at);
    summary.ticket_age_secs = age;
    let overdue = age.is_none_or(|a| a > cfg.ticket_restart_after_secs);
    summary.ticket_stale = age.is_none_or(|a| a > cfg.ticket_stale_after_secs);
    if summary.ticket_stale {
        let event = Event::TicketStale { age_secs: age };
        let id = format!("ticket_stale:{}", hour_of(now));
        notifications::emit_logged(&*deps.store, event, &id, now).await;
    }
    if overdue {
        tracing::error!(ticket_age_secs = ?age, "no component_verify_ticket for over 20 minutes: WeChat pushes one every 10; check the authorization event URL");
        if deps
            .store
            .claim_run("start_push_ticket", now, cfg.start_push_every_secs)
            .await?
        {
            match deps.mgr.component().start_push_ticket().await {
                Ok(()) => summary.ticket_push_requested = true,
                Err(e) => tracing::error!(error = %e, "api_start_push_ticket failed"),
            }
        }
    }
    Ok(())
}

/// The hour `t` falls in: notifications of a condition that lasts (failures, a stale ticket) are
/// keyed by it, so the refresher's frequent runs notify once an hour at most.
fn hour_of(t: i64) -> i64 {
    t - t.rem_euclid(3_600)
}

/// The Lambda handler: the invocation's deadline comes from its context.
pub async fn handler(
    deps: &Deps,
    event: lambda_runtime::LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let left = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
    let summary = run(deps, Instant::now() + left).await?;
    Ok(serde_json::to_value(summary)?)
}

/// Runs the refresher every `every` (for `wxopen-local`, where no EventBridge schedule exists).
pub fn spawn_interval(deps: Arc<Deps>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let deadline = Instant::now() + every.max(Duration::from_secs(30));
            if let Err(e) = run(&deps, deadline).await {
                tracing::error!(error = %e, "token refresher run failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ip_to_whitelist_is_read_from_61004s_errmsg() {
        let e = WechatError::Api {
            code: 61004,
            errmsg: "access clientip is not registered, invalid ip 47.98.10.2 ipv6 ::ffff:47.98.10.2, not in whitelist rid: 6a1".into(),
            endpoint: "/x",
        };
        assert_eq!(whitelist_ip(&e).as_deref(), Some("47.98.10.2"));
        let e = WechatError::Api {
            code: 61004,
            errmsg: "access clientip is not registered".into(),
            endpoint: "/x",
        };
        assert_eq!(whitelist_ip(&e), None);
        let msg = RunError::IpNotWhitelisted { ip: None }.to_string();
        assert!(msg.contains("Elastic IP"), "{msg}");
    }
}
