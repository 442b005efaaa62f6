//! Batches: one action (commit, submit_audit, release, add_subscribe_template) over many apps.
//!
//! [`create`] stores the batch (the route answers 202 at once (API Gateway waits 30 s at most)); the
//! work is done by [`run_open_batches`], run by the `batch-runner` Lambda on a one-minute
//! schedule (and, in `wxopen-local`, at once on a wake-up). Why the schedule: it needs no client
//! beyond DynamoDB (no Lambda or SQS SDK), a run that dies is simply followed by the next one,
//! and a minute's delay is nothing beside audits that take hours.
//!
//! No app is acted on twice: a runner claims an app under a lease before acting and records its
//! outcome after; a claim whose runner died is taken over only once its lease has run out, and
//! the new runner first asks WeChat whether the old one's submission or release went through.
//! The same `Idempotency-Key` posted again answers the same batch.
//!
//! A runner never outlives its lease: its work on an app is cut off before the lease runs out
//! (an abandoned submission or release is in doubt, recorded before the call, and settled from
//! WeChat by whoever comes next), and its result is written only while the claim is still its
//! own, so a late runner never writes over the one that took the app over.

use super::code::{self, CommitBody, Done};
use super::services::{self, ServiceError};
use super::{app, audits, OpsError};
use crate::Deps;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use wxopen::domain::{AppId, AuditStatus, UnixTime};
use wxopen::store::{
    authorizer_pages, AuthorizerFilter, Batch, BatchClaim, BatchItemResult, BatchOutcome,
    BatchProgress, BatchStore, SingleUseItem, SingleUseKind, StoreError,
};
use wxopen::wechat::reconcile::{self, ReleaseSettlement};
use wxopen::wechat::wxa::{self, GetVersionInfo, QueryQuota};

/// At most this many apps in one batch.
pub const MAX_APPS: usize = 1_000;
/// Apps worked on at once by one runner, unless configured otherwise.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// How long a runner holds an app before another may take it over: well beyond one app's
/// longest work (a lost answer waits out the client timeout, then asks WeChat).
pub const LEASE_SECS: i64 = 180;
/// `WXOPEN_BATCH_CONCURRENCY` (1 to 64), else [`DEFAULT_CONCURRENCY`].
pub fn concurrency_from_env() -> usize {
    std::env::var("WXOPEN_BATCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or(DEFAULT_CONCURRENCY)
}

/// How long an `Idempotency-Key` is remembered.
const IDEMPOTENCY_SECS: i64 = 7 * 86_400;
/// How far WeChat's times may lag a claim when matching what an earlier runner did.
const CLOCK_SKEW_SECS: i64 = 300;

/// The actions a batch can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Commit,
    SubmitAudit,
    Release,
    /// A subscribe template under the provider's name on every app named
    /// ([`services::add_subscribe_template`]): an app that has the name already is skipped.
    AddSubscribeTemplate,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Commit => "commit",
            Action::SubmitAudit => "submit_audit",
            Action::Release => "release",
            Action::AddSubscribeTemplate => "add_subscribe_template",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "commit" => Action::Commit,
            "submit_audit" => Action::SubmitAudit,
            "release" => Action::Release,
            "add_subscribe_template" => Action::AddSubscribeTemplate,
            _ => return None,
        })
    }
}

/// A JSON document as `T`, or [`OpsError::InvalidBody`] naming the field at fault (its path
/// under `prefix`, e.g. `params.item_list[2].tag`) and serde's reason.
fn from_json<T: serde::de::DeserializeOwned>(v: &Value, prefix: &str) -> Result<T, OpsError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => prefix.to_owned(),
            p => format!("{prefix}.{p}"),
        };
        let message = format!("{field}: {}", e.inner());
        OpsError::InvalidBody { field, message }
    })
}

/// A batch's params, checked as the single-app route checks its body.
enum Params {
    Commit(Box<CommitBody>),
    SubmitAudit(Box<wxa::SubmitAudit>),
    Release,
    AddSubscribeTemplate(services::NewSubscribeTemplate),
}

/// The add_subscribe_template params: the body of `POST /svc/apps/{appid}/subscribe-templates`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateParams {
    name: String,
    tid: u64,
    kid_list: Vec<u64>,
    #[serde(default)]
    scene_desc: Option<String>,
}

/// The release body: `{}`, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

impl Params {
    fn parse(action: Action, params: &Value) -> Result<Params, OpsError> {
        Ok(match action {
            Action::Commit => {
                let b: CommitBody = from_json(params, "params")?;
                b.check()?;
                Params::Commit(Box::new(b))
            }
            Action::SubmitAudit => {
                let r: wxa::SubmitAudit = from_json(params, "params")?;
                code::check_submission(&r)?;
                Params::SubmitAudit(Box::new(r))
            }
            Action::Release => {
                if !params.is_null() {
                    let _: EmptyBody = from_json(params, "params")?;
                }
                Params::Release
            }
            Action::AddSubscribeTemplate => {
                let p: TemplateParams = from_json(params, "params")?;
                let new = services::NewSubscribeTemplate {
                    name: p.name,
                    tid: p.tid,
                    kid_list: p.kid_list,
                    scene_desc: p.scene_desc,
                };
                new.check()
                    .map_err(|(code, message)| OpsError::invalid(code, message))?;
                Params::AddSubscribeTemplate(new)
            }
        })
    }
}

/// A batch request as posted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBatch {
    action: String,
    /// A list of appids, `"all_authorized"`, or `{"customer": "…"}` (that customer's
    /// authorized apps).
    appids: Value,
    #[serde(default)]
    params: Value,
    /// submit_audit: when the monthly quota is short, submit as many as it allows (the first
    /// apps of the list) instead of refusing the batch.
    #[serde(default)]
    up_to_quota: bool,
}

/// A batch as [`create`] left it: new, or the one the same key made before.
#[derive(Debug, Serialize)]
pub struct Created {
    pub batch_id: String,
    pub replayed: bool,
}

/// Creates the batch `req` asks for under the `Idempotency-Key` `key` (the same key and request
/// again answer the same batch), its params and apps checked first, a submit batch checked
/// against the monthly audit quota; the runner is woken up.
pub async fn create(
    deps: &Deps,
    operator: &str,
    key: &str,
    req: NewBatch,
) -> Result<Created, OpsError> {
    let action = Action::parse(&req.action).ok_or_else(|| OpsError::InvalidBody {
        field: "action".into(),
        message: "action: must be commit, submit_audit, release or add_subscribe_template".into(),
    })?;
    if let Params::Commit(b) = Params::parse(action, &req.params)? {
        b.check_template(deps).await?;
    }
    let appids = targets(deps, &req.appids).await?;

    // The request as asked (with "all_authorized" unresolved): the same key must come with it.
    let request_sha256 = hex::encode(Sha256::digest(
        json!({ "action": req.action, "appids": req.appids, "params": req.params, "up_to_quota": req.up_to_quota }).to_string(),
    ));
    let key_sha256 = hex::encode(Sha256::digest(key.as_bytes()));
    let now = deps.clock.now();
    // Sorts by creation: seconds from the clock, then the wall clock's nanoseconds (two batches
    // posted within one second keep their order), then 64 random bits.
    let mut r = [0u8; 8];
    rand::fill(&mut r);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let fresh_id = format!("{:012x}{nanos:08x}{}", now.max(0), hex::encode(r));
    let claim = json!({ "batch_id": fresh_id, "request_sha256": request_sha256 });
    let replay = |earlier: SingleUseItem| -> Result<String, OpsError> {
        let batch_id = earlier.payload["batch_id"].as_str().map(str::to_owned);
        if earlier.payload["request_sha256"] != json!(request_sha256) {
            return Err(OpsError::IdempotencyKeyReused { batch_id });
        }
        batch_id.ok_or(OpsError::Store(StoreError::Conflict))
    };
    let store = deps.store.as_ref();
    let earlier = store
        .peek_single_use(SingleUseKind::BatchRequest, &key_sha256, now)
        .await?;
    let (batch_id, replayed, appids) = match earlier {
        // A replay acts on what the first request stored; its quota was checked then.
        Some(earlier) => (replay(earlier)?, true, appids),
        None => {
            let appids = if action == Action::SubmitAudit {
                within_audit_quota(deps, appids, req.up_to_quota).await?
            } else {
                appids
            };
            let expires = now + IDEMPOTENCY_SECS;
            match store
                .create_single_use(
                    SingleUseKind::BatchRequest,
                    &key_sha256,
                    &claim,
                    now,
                    expires,
                )
                .await
            {
                Ok(()) => (fresh_id, false, appids),
                Err(StoreError::Conflict) => {
                    let earlier = store
                        .peek_single_use(SingleUseKind::BatchRequest, &key_sha256, now)
                        .await?
                        .ok_or(OpsError::Store(StoreError::Conflict))?;
                    (replay(earlier)?, true, appids)
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    // Also on a replay: the first request may have died between the key and the batch.
    let batch = Batch {
        id: batch_id.clone(),
        operation: action.as_str().to_owned(),
        params: req.params,
        appids,
        created_at: now,
        operator: operator.to_owned(),
        finished_at: None,
    };
    match store.create_batch(&batch).await {
        Ok(()) => {
            tracing::info!(batch = %batch_id, action = action.as_str(), apps = batch.appids.len(), operator, "batch created");
        }
        Err(StoreError::Conflict) if replayed => {}
        Err(e) => return Err(e.into()),
    }
    deps.batch_wakeup.notify_one();
    Ok(Created { batch_id, replayed })
}

/// Checks a submit batch against the platform's monthly audit quota (queryquota, asked with the
/// first app's token that answers): refused with the figures when short, or cut to what the
/// quota allows when the operator asked for that. Not refused when WeChat cannot tell (the
/// batch then meets 85085 app by app).
async fn within_audit_quota(
    deps: &Deps,
    mut appids: Vec<AppId>,
    up_to_quota: bool,
) -> Result<Vec<AppId>, OpsError> {
    let mut quota = None;
    for appid in appids.iter().take(5) {
        match deps.mgr.wxa(appid).call(&QueryQuota).await {
            Ok(q) => {
                quota = Some(q);
                break;
            }
            Err(e) => tracing::warn!(%appid, error = %e, "queryquota failed; trying the next app"),
        }
    }
    let Some(q) = quota else {
        return Ok(appids);
    };
    super::notifications::audit_quota_seen(deps, q.rest, q.limit).await;
    let rest = usize::try_from(q.rest.max(0)).unwrap_or(0);
    if appids.len() <= rest {
        return Ok(appids);
    }
    if up_to_quota && rest > 0 {
        appids.truncate(rest);
        return Ok(appids);
    }
    Err(OpsError::AuditQuota {
        rest: q.rest,
        limit: q.limit,
        needed: appids.len(),
    })
}

/// The apps a batch names: a list (checked, duplicates dropped), every authorized app, or one
/// customer's authorized apps.
async fn targets(deps: &Deps, appids: &Value) -> Result<Vec<AppId>, OpsError> {
    let bad = |message: String| OpsError::InvalidBody {
        field: "appids".into(),
        message,
    };
    let customer = match appids {
        Value::Object(m) if m.len() == 1 => match m.get("customer") {
            Some(Value::String(c)) if !c.trim().is_empty() => Some(c.clone()),
            _ => None,
        },
        _ => None,
    };
    let list = match appids {
        _ if customer.is_some() || appids.as_str() == Some("all_authorized") => {
            let filter = AuthorizerFilter {
                customer_id: customer,
                ..app::authorized_only()
            };
            let mut all = Vec::new();
            let mut pages = std::pin::pin!(authorizer_pages(&*deps.store, &filter));
            while let Some(page) = pages.try_next().await? {
                all.extend(page.into_iter().map(|a| a.appid));
                if all.len() > MAX_APPS {
                    return Err(bad(format!(
                        "appids: more than {MAX_APPS} apps are authorized; name them in batches of at most {MAX_APPS}"
                    )));
                }
            }
            all
        }
        Value::Array(items) => {
            let mut seen = HashSet::new();
            let mut list = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                let a = v
                    .as_str()
                    .and_then(|s| AppId::parse(s).ok())
                    .ok_or_else(|| bad(format!("appids[{i}]: not an appid")))?;
                if seen.insert(a.clone()) {
                    list.push(a);
                }
            }
            if list.len() > MAX_APPS {
                return Err(bad(format!("appids: at most {MAX_APPS} apps per batch")));
            }
            list
        }
        _ => {
            return Err(bad(
                "appids: a list of appids, \"all_authorized\", or {\"customer\": \"…\"}".into(),
            ))
        }
    };
    if list.is_empty() {
        return Err(bad("appids: no app to act on".into()));
    }
    Ok(list)
}

/// The app's place in a batch still running: one that has not reached it yet or is on it.
#[derive(Debug, Serialize)]
pub struct PendingBatch {
    pub batch_id: String,
    pub action: String,
    /// `pending` or `running`.
    pub state: &'static str,
    pub created_at: UnixTime,
}

/// Every open batch, newest first.
async fn open_batches(store: &dyn BatchStore) -> Result<Vec<Batch>, StoreError> {
    let mut open = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list_batches(true, cursor.as_deref(), 100).await?;
        open.extend(page.items);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok(open),
        }
    }
}

/// The app's place in batches still running.
pub async fn pending_for(
    store: &dyn BatchStore,
    appid: &AppId,
) -> Result<Vec<PendingBatch>, StoreError> {
    let mut out = Vec::new();
    for b in open_batches(store).await? {
        if !b.appids.contains(appid) {
            continue;
        }
        let Some(p) = store.get_batch(&b.id).await? else {
            continue;
        };
        if let Some(i) = p
            .items
            .iter()
            .find(|i| &i.appid == appid && i.result.is_none())
        {
            out.push(PendingBatch {
                state: if i.claimed_at.is_some() {
                    "running"
                } else {
                    "pending"
                },
                batch_id: b.id,
                action: b.operation,
                created_at: b.created_at,
            });
        }
    }
    Ok(out)
}

/// What one run did, for its log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub batches: usize,
    pub apps_done: usize,
    pub finished: usize,
    /// Apps left for the next run because the deadline came.
    pub left_for_later: usize,
}

/// Works through every open batch, oldest first, `deps.batch_concurrency` apps at a time; stops
/// starting apps once `deadline` passes (the next run picks up the rest).
pub async fn run_open_batches(
    deps: &Deps,
    deadline: Option<tokio::time::Instant>,
) -> Result<RunReport, StoreError> {
    run_open_batches_with_lease(deps, deadline, LEASE_SECS).await
}

/// [`run_open_batches`] holding each app for `lease_secs` (tests shorten it).
pub async fn run_open_batches_with_lease(
    deps: &Deps,
    deadline: Option<tokio::time::Instant>,
    lease_secs: i64,
) -> Result<RunReport, StoreError> {
    let mut open = open_batches(deps.store.as_ref()).await?;
    open.reverse();
    // This run's name in its claims: a claim it sends again is its own.
    let claimer = hex::encode(rand::random::<[u8; 8]>());
    let claimer = claimer.as_str();
    let mut report = RunReport::default();
    for batch in open {
        report.batches += 1;
        let Some(progress) = deps.store.get_batch(&batch.id).await? else {
            continue;
        };
        let todo: Vec<AppId> = progress
            .items
            .iter()
            .filter(|i| i.result.is_none())
            .map(|i| i.appid.clone())
            .collect();
        let done = futures::stream::iter(todo)
            .map(|appid| {
                let batch = &progress.batch;
                async move {
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        return (false, true);
                    }
                    (
                        work_one(deps, batch, &appid, claimer, lease_secs).await,
                        false,
                    )
                }
            })
            .buffer_unordered(deps.batch_concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        report.apps_done += done.iter().filter(|(d, _)| *d).count();
        report.left_for_later += done.iter().filter(|(_, l)| *l).count();
        let now = deps.clock.now();
        if let Some(p) = deps.store.get_batch(&batch.id).await? {
            if p.items.iter().all(|i| i.result.is_some()) {
                // In the outbox before the batch is closed: a failed write leaves it open, and
                // the next run writes it (once: keyed by the batch) and closes it then.
                notify_finished(deps, &p, now).await?;
                deps.store.finish_batch(&batch.id, now).await?;
                report.finished += 1;
                tracing::info!(batch = %batch.id, "batch finished");
            }
        }
    }
    Ok(report)
}

/// A finished batch's counts, in the notification outbox.
async fn notify_finished(deps: &Deps, p: &BatchProgress, now: UnixTime) -> Result<(), StoreError> {
    let count = |o: BatchOutcome| {
        p.items
            .iter()
            .filter(|i| i.result.as_ref().is_some_and(|r| r.outcome == o))
            .count() as u64
    };
    let event = wxopen::notifications::Event::BatchFinished {
        batch_id: p.batch.id.clone(),
        operation: p.batch.operation.clone(),
        ok: count(BatchOutcome::Ok),
        skipped: count(BatchOutcome::Skipped),
        failed: count(BatchOutcome::Failed),
    };
    let id = format!("batch:{}:finished", p.batch.id);
    wxopen::notifications::emit(deps.store.as_ref(), event, &id, now).await?;
    Ok(())
}

/// How much of the lease that is left the work on one app may take: the rest is kept for
/// recording its outcome before another runner may take the app over.
fn work_budget(lease_left_secs: i64) -> Duration {
    Duration::from_millis(u64::try_from(lease_left_secs.max(0)).unwrap_or(0) * 1000 * 5 / 6)
}

/// Claims one app and acts on it; `true` if this runner recorded its outcome.
async fn work_one(
    deps: &Deps,
    batch: &Batch,
    appid: &AppId,
    claimer: &str,
    lease_secs: i64,
) -> bool {
    let now = deps.clock.now();
    let lease_until = now + lease_secs;
    let claim = match deps
        .store
        .claim_batch_item(&batch.id, appid, claimer, now, lease_until)
        .await
    {
        Ok(c) => c,
        Err(StoreError::Conflict) => return false,
        Err(e) => {
            tracing::warn!(batch = %batch.id, %appid, error = %e, "could not claim; left for the next run");
            return false;
        }
    };
    let budget = work_budget(lease_until - deps.clock.now());
    let Ok(outcome) = tokio::time::timeout(budget, act(deps, batch, appid, claim)).await else {
        // A call cut off may still be applied by WeChat: its doubt was recorded before it was
        // sent. The claim runs out and the next runner asks WeChat before acting again.
        tracing::warn!(batch = %batch.id, %appid, "the app's work was cut off at the end of its lease; the next runner asks WeChat what became of it");
        return false;
    };
    let (outcome, detail) = match outcome {
        Ok(done) => (
            done.batch_outcome(),
            serde_json::to_value(done).unwrap_or_default(),
        ),
        Err(e) => match e.batch_outcome() {
            Some(outcome) => (outcome, Value::Object(super::error::failure_body(&e))),
            None => {
                // WeChat's privacy detection still runs: the batch moves on and comes back. The
                // claim is given up at once (its lease ends now), so the next run takes the app
                // again.
                tracing::info!(batch = %batch.id, %appid, "waiting (privacy detection, or an add in doubt); the next run comes back");
                let _ = deps
                    .store
                    .claim_batch_item(&batch.id, appid, claimer, now, now)
                    .await;
                return false;
            }
        },
    };
    let result = BatchItemResult {
        outcome,
        detail,
        at: deps.clock.now(),
    };
    match deps
        .store
        .record_claimed_batch_item(&batch.id, appid, claimer, &result)
        .await
    {
        Ok(()) => true,
        Err(StoreError::Conflict) => {
            // Another runner took the app over: its work and result are the newer ones.
            tracing::warn!(batch = %batch.id, %appid, "the app was taken over by another runner; this runner's outcome is not recorded");
            false
        }
        Err(e) => {
            // The lease runs out and the next runner asks WeChat what this one did.
            tracing::error!(batch = %batch.id, %appid, error = %e, "outcome not recorded");
            false
        }
    }
}

async fn act(
    deps: &Deps,
    batch: &Batch,
    appid: &AppId,
    claim: BatchClaim,
) -> Result<Done, OpsError> {
    let action = Action::parse(&batch.operation).ok_or_else(|| {
        OpsError::invalid("invalid_action", "the stored batch names no known action")
    })?;
    let params = Params::parse(action, &batch.params)?;
    let a = app::authorized(deps.store.as_ref(), appid.as_str()).await?;
    if let BatchClaim::TakenOver { since } = claim {
        if let Some(done) = earlier_runner_did(deps, action, appid, since).await? {
            return Ok(done);
        }
    }
    match params {
        Params::Commit(b) => code::commit(deps, &batch.operator, &a, *b).await,
        Params::SubmitAudit(r) => code::submit(deps, &batch.operator, &a, &r).await,
        Params::Release => code::release(deps, &batch.operator, &a).await,
        Params::AddSubscribeTemplate(new) => add_subscribe_template(deps, appid, &new).await,
    }
}

/// One app of a fleet subscribe batch: added, or skipped when the app has the name already
/// (the same template, or another one: never replaced). An add whose answer was lost is
/// settled from WeChat's template list before anything is added again; while it cannot be,
/// the app waits for the next run.
async fn add_subscribe_template(
    deps: &Deps,
    appid: &AppId,
    new: &services::NewSubscribeTemplate,
) -> Result<Done, OpsError> {
    let done = services::add_subscribe_template(
        &deps.mgr,
        deps.store.as_ref(),
        deps.clock.as_ref(),
        appid,
        new,
    )
    .await;
    match done {
        Ok(d) => Ok(Done::SubscribeTemplate {
            name: d.template.name,
            pri_tmpl_id: d.template.pri_tmpl_id,
            added: d.added,
            reconciled: d.reconciled,
        }),
        Err(ServiceError::NameTaken { .. }) => Ok(Done::SubscribeTemplateNameTaken {
            name: new.name.clone(),
        }),
        Err(e) => Err(OpsError::Service(e)),
    }
}

/// After a runner died holding an app: whether its submission or release went through,
/// according to WeChat (a repeat would answer 85009 or 85052, or act twice). A commit is
/// simply made again: committing the same template and ext_json again changes nothing.
async fn earlier_runner_did(
    deps: &Deps,
    action: Action,
    appid: &AppId,
    since: UnixTime,
) -> Result<Option<Done>, OpsError> {
    let after = since - CLOCK_SKEW_SECS;
    match action {
        // A commit made again changes nothing; an add in doubt is settled by the add itself.
        Action::Commit | Action::AddSubscribeTemplate => Ok(None),
        Action::SubmitAudit => Ok(audits::refresh_latest(deps, appid)
            .await?
            .filter(|r| r.submitted_at >= after && r.status != AuditStatus::Withdrawn)
            .map(|r| Done::Submitted {
                auditid: r.auditid,
                user_version: r.user_version,
                lifecycle: None,
                reconciled: true,
            })),
        Action::Release => {
            // The release it recorded as in doubt before sending it, settled from WeChat.
            if let ReleaseSettlement::Released {
                auditid,
                user_version,
                at,
            } = reconcile::settle_release(
                &deps.mgr,
                deps.store.as_ref(),
                deps.clock.as_ref(),
                appid,
            )
            .await?
            {
                return Ok(Some(Done::Released {
                    auditid: Some(auditid),
                    user_version,
                    released_at: at,
                    lifecycle: None,
                    reconciled: true,
                }));
            }
            let online = deps
                .mgr
                .wxa(appid)
                .call(&GetVersionInfo {})
                .await?
                .release_info;
            let Some(online) = online.filter(|r| r.release_time >= after) else {
                return Ok(None);
            };
            let latest = deps.store.latest_audit(appid).await?;
            if let Some(r) = latest.filter(|r| {
                r.released_at.is_none()
                    && r.user_version
                        .as_deref()
                        .is_none_or(|v| v == online.release_version)
            }) {
                match deps
                    .store
                    .mark_released(appid, r.auditid, online.release_time)
                    .await
                {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Some(Done::Released {
                auditid: None,
                user_version: Some(online.release_version),
                released_at: online.release_time,
                lifecycle: None,
                reconciled: true,
            }))
        }
    }
}

/// `wxopen-local`'s runner: a run at once on every wake-up, and every `every` regardless.
pub fn spawn_runner(deps: Arc<Deps>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = deps.batch_wakeup.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = super::stale_audits::reconcile_if_due(&deps).await {
                tracing::warn!(error = %e, "stale audit reconcile failed");
            }
            match run_open_batches(&deps, None).await {
                Ok(r) if r.apps_done > 0 => tracing::info!(?r, "batch run"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "batch run failed"),
            }
            if let Err(e) = deps
                .notifier
                .drain(deps.store.as_ref(), deps.clock.now())
                .await
            {
                tracing::warn!(error = %e, "notification drain failed");
            }
        }
    })
}
