//! The embedded store: the local default (`wxopen-local`), on redb, in one file under a data
//! directory so local state survives a restart.
//!
//! Semantics match [`super::dynamo::DynamoStore`] (the contract suite runs against both): redb
//! serializes write transactions, so every compare-and-set (versions, single-use consumes, push
//! dedup) reads and writes inside one write transaction and cannot interleave with another.
//! Expired items read as absent; [`EmbeddedStore::open`] purges them, standing in for DynamoDB's TTL.
//!
//! Each concept has its own redb table, and secondary orders (due tokens by expiry, audits by
//! submission, profiles by original id) are kept as index tables written in the same transaction.

use super::*;
use crate::domain::{Clock, SystemClock};
use anyhow::{anyhow, Context};
use base64::Engine as _;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use secrecy::ExposeSecret;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

/// File name of the database under the data directory.
pub const FILE_NAME: &str = "wxopen.redb";

const TICKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("tickets");
/// Key: `component:{appid}` or `authorizer:{appid}`.
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
/// Authorizer tokens holding a refresh token, by `(expires_at, appid)`.
const DUE: TableDefinition<(i64, &str), ()> = TableDefinition::new("due");
const AUTHORIZERS: TableDefinition<&str, &[u8]> = TableDefinition::new("authorizers");
/// Original id (`gh_…`) -> appid.
const USER_NAMES: TableDefinition<&str, &str> = TableDefinition::new("user_names");
/// `(appid, auditid)` -> record.
const AUDITS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("audits");
/// `(appid, submitted_at, auditid)`: submission order.
const AUDIT_ORDER: TableDefinition<(&str, i64, u64), ()> = TableDefinition::new("audit_order");
/// Key: `{kind}#{id}`.
const SINGLE_USE: TableDefinition<&str, &[u8]> = TableDefinition::new("single_use");
/// Digest -> expires_at.
const PUSHES: TableDefinition<&str, i64> = TableDefinition::new("pushes");
const BATCHES: TableDefinition<&str, &[u8]> = TableDefinition::new("batches");
/// `(appid, at, sequence)` -> activity.
const ACTIVITY: TableDefinition<(&str, i64, u64), &[u8]> = TableDefinition::new("activity");
/// Invitation id (sortable by creation time) -> invitation.
const INVITATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("invitations");
/// Periodic job name → when it last ran.
const RUNS: TableDefinition<&str, i64> = TableDefinition::new("runs");
/// template_id -> [`TemplateRequirements`] as JSON.
const TEMPLATE_REQUIREMENTS: TableDefinition<u64, &[u8]> =
    TableDefinition::new("template_requirements");
/// `(appid, name)` -> [`NamedSubscribeTemplate`] as JSON.
const SUBSCRIBE_TEMPLATES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("subscribe_templates");
/// `(batch id, appid)` -> result.
const BATCH_ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("batch_items");
/// appid -> [`FilingState`] JSON.
const FILINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("filings");

/// The local store. Cheap to clone; clones share one database.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

fn be<E: Into<anyhow::Error>>(e: E) -> StoreError {
    StoreError::Backend(e.into())
}
fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(anyhow!("corrupt record: {what}"))
}
fn dec<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|_| corrupt(what))
}
fn enc<T: Serialize>(v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v)
        .context("serialize record")
        .map_err(be)
}

#[derive(Serialize, Deserialize)]
struct TicketRow {
    value: String,
    received_at: UnixTime,
    /// Rows written before CreateTime was kept order by `received_at`.
    #[serde(default)]
    created_at: Option<UnixTime>,
}

impl TicketRow {
    fn created_at(&self) -> UnixTime {
        self.created_at.unwrap_or(self.received_at)
    }
}

/// Token values are kept in the clear in the local file, as they are in the DynamoDB item: the
/// file lives in the operator's data directory and is created readable by its owner only.
#[derive(Serialize, Deserialize)]
struct TokenRow {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_at: UnixTime,
    lease_until: UnixTime,
    lease_owner: Option<String>,
    #[serde(default)]
    auth_changed_at: UnixTime,
    #[serde(default)]
    needs_reauthorization: bool,
    #[serde(default)]
    refreshed_at: UnixTime,
    version: u64,
}

impl TokenRow {
    fn new(state: &TokenState, version: u64) -> TokenRow {
        TokenRow {
            access_token: state
                .access_token
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            refresh_token: state
                .refresh_token
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            expires_at: state.expires_at,
            lease_until: state.lease_until,
            lease_owner: state.lease_owner.clone(),
            auth_changed_at: state.auth_changed_at,
            needs_reauthorization: state.needs_reauthorization,
            refreshed_at: state.refreshed_at,
            version,
        }
    }

    fn state(self) -> TokenState {
        TokenState {
            access_token: self.access_token.map(SecretString::from),
            refresh_token: self.refresh_token.map(SecretString::from),
            expires_at: self.expires_at,
            lease_until: self.lease_until,
            lease_owner: self.lease_owner,
            auth_changed_at: self.auth_changed_at,
            needs_reauthorization: self.needs_reauthorization,
            refreshed_at: self.refreshed_at,
        }
    }

    /// In the due index: an authorizer token that can still be refreshed.
    fn refreshable(&self) -> bool {
        self.refresh_token.is_some() && !self.needs_reauthorization
    }
}

/// Writes `row` at `k` inside `txn`, keeping the due index in step with the row it replaces.
fn write_token_row(
    txn: &redb::WriteTransaction,
    k: &str,
    current: Option<&TokenRow>,
    row: &TokenRow,
) -> StoreResult<()> {
    txn.open_table(TOKENS)
        .map_err(be)?
        .insert(k, enc(row)?.as_slice())
        .map_err(be)?;
    if let Some(app) = k.strip_prefix("authorizer:") {
        let mut due = txn.open_table(DUE).map_err(be)?;
        if let Some(old) = current.filter(|r| r.refreshable()) {
            due.remove((old.expires_at, app)).map_err(be)?;
        }
        if row.refreshable() {
            due.insert((row.expires_at, app), ()).map_err(be)?;
        }
    }
    Ok(())
}

fn read_token_row(txn: &redb::WriteTransaction, k: &str) -> StoreResult<Option<TokenRow>> {
    let t = txn.open_table(TOKENS).map_err(be)?;
    let row = match t.get(k).map_err(be)? {
        Some(v) => Some(dec(v.value(), "token")?),
        None => None,
    };
    Ok(row)
}

/// The tombstone that replaces `current` (see [`TokenStore::delete_token`]).
fn tombstone(current: Option<&TokenRow>, auth_changed_at: UnixTime) -> TokenRow {
    TokenRow {
        access_token: None,
        refresh_token: None,
        expires_at: 0,
        lease_until: 0,
        lease_owner: None,
        auth_changed_at: current
            .map_or(auth_changed_at, |c| c.auth_changed_at.max(auth_changed_at)),
        needs_reauthorization: false,
        refreshed_at: 0,
        version: current.map_or(1, |c| c.version + 1),
    }
}

#[derive(Serialize, Deserialize)]
struct SingleUseRow {
    payload: serde_json::Value,
    expires_at: UnixTime,
    consumed_at: Option<UnixTime>,
}

/// Where a listing resumes: the key of the last item handed out.
#[derive(Serialize, Deserialize)]
#[serde(tag = "k", deny_unknown_fields)]
enum Cursor {
    Due {
        t: i64,
        a: String,
    },
    Authorizers {
        a: String,
    },
    /// `a`: the app whose audits these are; a cursor is refused for another app's listing.
    Audits {
        a: String,
        t: i64,
        id: u64,
    },
    Invitations {
        id: String,
    },
    Activity {
        a: String,
        t: i64,
        n: u64,
    },
    Batches {
        id: String,
        open: bool,
    },
}

fn encode_cursor(c: &Cursor) -> StoreResult<String> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(enc(c)?))
}
fn decode_cursor(c: &str) -> StoreResult<Cursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| StoreError::InvalidCursor)?;
    serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
}

fn token_key(key: &TokenKey) -> String {
    match key {
        TokenKey::Component(a) => format!("component:{a}"),
        TokenKey::Authorizer(a) => format!("authorizer:{a}"),
    }
}
fn single_key(kind: SingleUseKind, id: &str) -> String {
    match kind {
        SingleUseKind::AuthState => format!("state#{id}"),
        SingleUseKind::AuthStateOutcome => format!("state-outcome#{id}"),
        SingleUseKind::AuthCodeClaim => format!("code#{id}"),
        SingleUseKind::AuthCodeOutcome => format!("code-outcome#{id}"),
        SingleUseKind::BatchRequest => format!("batch-request#{id}"),
        SingleUseKind::AuditSubmissionInDoubt => format!("audit-in-doubt#{id}"),
        SingleUseKind::ReleaseInDoubt => format!("release-in-doubt#{id}"),
        SingleUseKind::AuthCodeState => format!("code-state#{id}"),
        SingleUseKind::AuthStartPage => format!("start-page#{id}"),
        SingleUseKind::AuthStartQuota => format!("start-quota#{id}"),
        SingleUseKind::IcpApplicationInDoubt => format!("icp-application-in-doubt#{id}"),
        SingleUseKind::IcpReferenceTables => format!("icp-reference-tables#{id}"),
        SingleUseKind::SubscribeTemplateInDoubt => format!("subscribe-template-in-doubt#{id}"),
        SingleUseKind::ProfileChangeInDoubt => format!("profile-change-in-doubt#{id}"),
        SingleUseKind::CategoryTable => format!("category-table#{id}"),
    }
}
/// Writes a profile and keeps the original-id index in step, inside the caller's transaction.
fn put_authorizer(
    txn: &redb::WriteTransaction,
    old: Option<&Authorizer>,
    a: &Authorizer,
    bytes: &[u8],
) -> StoreResult<()> {
    let mut t = txn.open_table(AUTHORIZERS).map_err(be)?;
    t.insert(a.appid.as_str(), bytes).map_err(be)?;
    let mut names = txn.open_table(USER_NAMES).map_err(be)?;
    if let Some(old) = old.filter(|o| o.user_name != a.user_name && !o.user_name.is_empty()) {
        names.remove(old.user_name.as_str()).map_err(be)?;
    }
    if !a.user_name.is_empty() {
        names
            .insert(a.user_name.as_str(), a.appid.as_str())
            .map_err(be)?;
    }
    Ok(())
}

/// Optimistic read-modify-write attempts before giving up with `Conflict`.
const RMW_ATTEMPTS: usize = 16;

fn page_limit(limit: u32) -> usize {
    limit.clamp(1, 1000) as usize
}

impl EmbeddedStore {
    /// One app's batch result, in one write transaction: `claimer`, when given, must still hold
    /// the app's claim (a runner that outlived its lease writes nothing).
    async fn write_batch_result(
        &self,
        batch_id: &str,
        appid: &AppId,
        claimer: Option<&str>,
        result: &BatchItemResult,
    ) -> StoreResult<()> {
        let (id, appid, claimer, result) = (
            batch_id.to_owned(),
            appid.clone(),
            claimer.map(str::to_owned),
            result.clone(),
        );
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let batches = txn.open_table(BATCHES).map_err(be)?;
                let batch: Batch = match batches.get(id.as_str()).map_err(be)? {
                    Some(v) => dec(v.value(), "batch")?,
                    None => return Err(StoreError::NotFound),
                };
                if !batch.appids.contains(&appid) {
                    return Err(StoreError::NotFound);
                }
                let mut t = txn.open_table(BATCH_ITEMS).map_err(be)?;
                let mut row: BatchItemRow =
                    match t.get((id.as_str(), appid.as_str())).map_err(be)? {
                        Some(v) => dec(v.value(), "batch item")?,
                        None => BatchItemRow::default(),
                    };
                if claimer.is_some() && row.claimer != claimer {
                    return Err(StoreError::Conflict);
                }
                row.result = Some(result);
                row.lease_until = None;
                t.insert((id.as_str(), appid.as_str()), enc(&row)?.as_slice())
                    .map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    /// Opens (or creates) `dir/wxopen.redb`, creating `dir` if needed, and purges expired items.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create data directory {}", dir.display()))?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path)
            .with_context(|| format!("open embedded store {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restrict permissions of {}", path.display()))?;
        }
        let txn = db.begin_write()?;
        {
            txn.open_table(TICKETS)?;
            txn.open_table(TOKENS)?;
            txn.open_table(DUE)?;
            txn.open_table(AUTHORIZERS)?;
            txn.open_table(USER_NAMES)?;
            txn.open_table(AUDITS)?;
            txn.open_table(AUDIT_ORDER)?;
            txn.open_table(SINGLE_USE)?;
            txn.open_table(PUSHES)?;
            txn.open_table(BATCHES)?;
            txn.open_table(RUNS)?;
            txn.open_table(TEMPLATE_REQUIREMENTS)?;
            txn.open_table(BATCH_ITEMS)?;
            txn.open_table(INVITATIONS)?;
            txn.open_table(ACTIVITY)?;
            txn.open_table(SUBSCRIBE_TEMPLATES)?;
            txn.open_table(FILINGS)?;
            // notifications
            txn.open_table(NOTIFICATIONS)?;
            txn.open_table(NOTIFICATIONS_DUE)?;
            txn.open_table(NOTIFICATIONS_ORDER)?;
            txn.open_table(NOTIFICATION_RULES)?;
            // registrations
            txn.open_table(REGISTRATIONS)?;
            txn.open_table(REGISTRATIONS_ORDER)?;
            txn.open_table(REGISTRATION_SUBJECTS)?;
        }
        txn.commit()?;
        let store = EmbeddedStore { db: Arc::new(db) };
        store
            .purge_expired(SystemClock.now())
            .map_err(|e| anyhow!("purge expired items: {e}"))?;
        Ok(store)
    }

    /// Deletes single-use items and push records that expired before `now`, and invitations past
    /// their retention; returns how many.
    pub fn purge_expired(&self, now: UnixTime) -> StoreResult<usize> {
        let txn = self.db.begin_write().map_err(be)?;
        let mut purged = 0;
        {
            let mut t = txn.open_table(PUSHES).map_err(be)?;
            t.retain(|_, exp| {
                let keep = exp > now;
                purged += usize::from(!keep);
                keep
            })
            .map_err(be)?;
            let mut t = txn.open_table(SINGLE_USE).map_err(be)?;
            t.retain(|_, row| {
                // Unreadable rows are kept: purging must never destroy what it cannot judge.
                let keep = serde_json::from_slice::<SingleUseRow>(row)
                    .map(|r| r.expires_at > now)
                    .unwrap_or(true);
                purged += usize::from(!keep);
                keep
            })
            .map_err(be)?;
            let mut t = txn.open_table(INVITATIONS).map_err(be)?;
            t.retain(|_, row| {
                let keep = serde_json::from_slice::<Invitation>(row)
                    .map(|i| i.expires_at + INVITATION_RETENTION_SECS > now)
                    .unwrap_or(true);
                purged += usize::from(!keep);
                keep
            })
            .map_err(be)?;
        }
        txn.commit().map_err(be)?;
        Ok(purged)
    }

    /// Runs blocking redb work off the async runtime (commits fsync).
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Backend(anyhow!("store task failed: {e}")))?
    }
}

#[async_trait]
impl TicketStore for EmbeddedStore {
    async fn save_ticket(&self, component: &AppId, ticket: &Ticket) -> StoreResult<()> {
        let key = component.to_string();
        let row = enc(&TicketRow {
            value: ticket.value.expose_secret().to_owned(),
            received_at: ticket.received_at,
            created_at: Some(ticket.created_at),
        })?;
        let created_at = ticket.created_at;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(TICKETS).map_err(be)?;
                let newer = match t.get(key.as_str()).map_err(be)? {
                    Some(v) => dec::<TicketRow>(v.value(), "ticket")?.created_at() > created_at,
                    None => false,
                };
                if !newer {
                    t.insert(key.as_str(), row.as_slice()).map_err(be)?;
                }
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn latest_ticket(&self, component: &AppId) -> StoreResult<Option<Ticket>> {
        let key = component.to_string();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(TICKETS).map_err(be)?;
            let Some(v) = t.get(key.as_str()).map_err(be)? else {
                return Ok(None);
            };
            let row: TicketRow = dec(v.value(), "ticket")?;
            Ok(Some(Ticket {
                created_at: row.created_at(),
                received_at: row.received_at,
                value: SecretString::from(row.value),
            }))
        })
        .await
    }
}

#[async_trait]
impl TokenStore for EmbeddedStore {
    async fn get_token(&self, key: &TokenKey) -> StoreResult<Option<VersionedToken>> {
        let k = token_key(key);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(TOKENS).map_err(be)?;
            let Some(v) = t.get(k.as_str()).map_err(be)? else {
                return Ok(None);
            };
            let row: TokenRow = dec(v.value(), "token")?;
            let version = row.version;
            Ok(Some(VersionedToken {
                state: row.state(),
                version,
            }))
        })
        .await
    }

    async fn put_token(
        &self,
        key: &TokenKey,
        state: &TokenState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        let k = token_key(key);
        let mut row = TokenRow::new(state, 0);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let current = read_token_row(&txn, &k)?;
            if current.as_ref().map(|r| r.version) != expected {
                return Err(StoreError::Conflict);
            }
            row.version = expected.map_or(1, |v| v + 1);
            write_token_row(&txn, &k, current.as_ref(), &row)?;
            txn.commit().map_err(be)?;
            Ok(row.version)
        })
        .await
    }

    async fn delete_token(&self, key: &TokenKey) -> StoreResult<()> {
        let k = token_key(key);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let Some(current) = read_token_row(&txn, &k)? else {
                return Ok(());
            };
            write_token_row(&txn, &k, Some(&current), &tombstone(Some(&current), 0))?;
            txn.commit().map_err(be)
        })
        .await
    }

    async fn due_authorizer_tokens(
        &self,
        before: UnixTime,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<DueToken>> {
        let start = match cursor.map(decode_cursor).transpose()? {
            None => None,
            Some(Cursor::Due { t, a }) => Some((t, a)),
            Some(_) => return Err(StoreError::InvalidCursor),
        };
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(DUE).map_err(be)?;
            let lower = match &start {
                Some((t, a)) => Bound::Excluded((*t, a.as_str())),
                None => Bound::Unbounded,
            };
            let mut items = Vec::new();
            let mut more = false;
            for entry in t
                .range((lower, Bound::Excluded((before, ""))))
                .map_err(be)?
            {
                let (k, _) = entry.map_err(be)?;
                if items.len() == limit {
                    more = true;
                    break;
                }
                let (expires_at, app) = k.value();
                let appid = AppId::parse(app).map_err(|_| corrupt("due"))?;
                items.push(DueToken { appid, expires_at });
            }
            let next = match items.last().filter(|_| more) {
                Some(d) => Some(encode_cursor(&Cursor::Due {
                    t: d.expires_at,
                    a: d.appid.to_string(),
                })?),
                None => None,
            };
            Ok(Page { items, next })
        })
        .await
    }
}

#[async_trait]
impl AuthorizerStore for EmbeddedStore {
    async fn upsert_authorizer(&self, a: &Authorizer) -> StoreResult<()> {
        let a = a.clone();
        let bytes = enc(&a)?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let t = txn.open_table(AUTHORIZERS).map_err(be)?;
                let old: Option<Authorizer> = match t.get(a.appid.as_str()).map_err(be)? {
                    Some(v) => Some(dec(v.value(), "authorizer")?),
                    None => None,
                };
                drop(t);
                put_authorizer(&txn, old.as_ref(), &a, &bytes)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn set_authorizer_status(
        &self,
        appid: &AppId,
        status: AuthorizerStatus,
        at: UnixTime,
    ) -> StoreResult<()> {
        let key = appid.to_string();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(AUTHORIZERS).map_err(be)?;
                let mut a: Authorizer = match t.get(key.as_str()).map_err(be)? {
                    Some(v) => dec(v.value(), "authorizer")?,
                    None => return Err(StoreError::NotFound),
                };
                a.status = status;
                a.updated_at = at;
                t.insert(key.as_str(), enc(&a)?.as_slice()).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn revoke_authorization(
        &self,
        appid: &AppId,
        event_time: UnixTime,
    ) -> StoreResult<Revocation> {
        let app = appid.to_string();
        let k = token_key(&TokenKey::Authorizer(appid.clone()));
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let token = read_token_row(&txn, &k)?;
            let profile: Option<Authorizer> = {
                let t = txn.open_table(AUTHORIZERS).map_err(be)?;
                let p = match t.get(app.as_str()).map_err(be)? {
                    Some(v) => Some(dec(v.value(), "authorizer")?),
                    None => None,
                };
                p
            };
            let changed_at = token.as_ref().map(|t| t.auth_changed_at);
            if revocation_is_stale(changed_at, profile.as_ref(), event_time) {
                return Ok(Revocation::Stale);
            }
            write_token_row(
                &txn,
                &k,
                token.as_ref(),
                &tombstone(token.as_ref(), event_time),
            )?;
            if let Some(mut p) = profile {
                p.revoke(event_time);
                txn.open_table(AUTHORIZERS)
                    .map_err(be)?
                    .insert(app.as_str(), enc(&p)?.as_slice())
                    .map_err(be)?;
            }
            txn.commit().map_err(be)?;
            Ok(Revocation::Revoked)
        })
        .await
    }

    async fn mark_needs_reauthorization(
        &self,
        appid: &AppId,
        marked: &TokenState,
        token_version: u64,
        at: UnixTime,
    ) -> StoreResult<u64> {
        let app = appid.to_string();
        let k = token_key(&TokenKey::Authorizer(appid.clone()));
        let grant = marked.auth_changed_at;
        let row = TokenRow::new(marked, token_version + 1);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let token = read_token_row(&txn, &k)?;
            if token.as_ref().map(|t| t.version) != Some(token_version) {
                return Err(StoreError::Conflict);
            }
            write_token_row(&txn, &k, token.as_ref(), &row)?;
            let profile: Option<Authorizer> = {
                let t = txn.open_table(AUTHORIZERS).map_err(be)?;
                let p = match t.get(app.as_str()).map_err(be)? {
                    Some(v) => Some(dec(v.value(), "authorizer")?),
                    None => None,
                };
                p
            };
            if let Some(mut p) = profile.filter(|p| reauthorization_marks_profile(p, grant)) {
                p.status = AuthorizerStatus::NeedsReauthorization;
                p.updated_at = p.updated_at.max(at);
                txn.open_table(AUTHORIZERS)
                    .map_err(be)?
                    .insert(app.as_str(), enc(&p)?.as_slice())
                    .map_err(be)?;
            }
            txn.commit().map_err(be)?;
            Ok(row.version)
        })
        .await
    }

    async fn get_authorizer(&self, appid: &AppId) -> StoreResult<Option<Authorizer>> {
        let key = appid.to_string();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(AUTHORIZERS).map_err(be)?;
            match t.get(key.as_str()).map_err(be)? {
                Some(v) => dec(v.value(), "authorizer").map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn update_authorizer(
        &self,
        appid: &AppId,
        change: AuthorizerChange<'_>,
    ) -> StoreResult<Option<Authorizer>> {
        // Optimistic: `change` borrows from the caller, so it runs here, and the write lands only
        // if the record is still the one it saw.
        for _ in 0..RMW_ATTEMPTS {
            let key = appid.to_string();
            let seen: Option<Vec<u8>> = self
                .run(move |db| {
                    let txn = db.begin_read().map_err(be)?;
                    let t = txn.open_table(AUTHORIZERS).map_err(be)?;
                    Ok(t.get(key.as_str()).map_err(be)?.map(|v| v.value().to_vec()))
                })
                .await?;
            let current: Option<Authorizer> =
                seen.as_deref().map(|b| dec(b, "authorizer")).transpose()?;
            let Some(new) = change(current.as_ref()) else {
                return Ok(current);
            };
            let bytes = enc(&new)?;
            let written = new.clone();
            let landed = self
                .run(move |db| {
                    let txn = db.begin_write().map_err(be)?;
                    {
                        let t = txn.open_table(AUTHORIZERS).map_err(be)?;
                        let now = t
                            .get(written.appid.as_str())
                            .map_err(be)?
                            .map(|v| v.value().to_vec());
                        if now != seen {
                            return Ok(false);
                        }
                    }
                    put_authorizer(&txn, current.as_ref(), &written, &bytes)?;
                    txn.commit().map_err(be)?;
                    Ok(true)
                })
                .await?;
            if landed {
                return Ok(Some(new));
            }
        }
        Err(StoreError::Conflict)
    }

    async fn authorizer_by_user_name(&self, user_name: &str) -> StoreResult<Option<Authorizer>> {
        let name = user_name.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let names = txn.open_table(USER_NAMES).map_err(be)?;
            let Some(appid) = names.get(name.as_str()).map_err(be)? else {
                return Ok(None);
            };
            let t = txn.open_table(AUTHORIZERS).map_err(be)?;
            let appid = appid.value().to_owned();
            match t.get(appid.as_str()).map_err(be)? {
                Some(v) => dec(v.value(), "authorizer").map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn list_authorizers(
        &self,
        filter: &AuthorizerFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        let after = match cursor.map(decode_cursor).transpose()? {
            None => None,
            Some(Cursor::Authorizers { a }) => Some(a),
            Some(_) => return Err(StoreError::InvalidCursor),
        };
        let filter = filter.clone();
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(AUTHORIZERS).map_err(be)?;
            let lower = match &after {
                Some(a) => Bound::Excluded(a.as_str()),
                None => Bound::Unbounded,
            };
            let mut items: Vec<Authorizer> = Vec::new();
            let mut more = false;
            for entry in t.range::<&str>((lower, Bound::Unbounded)).map_err(be)? {
                let (_, v) = entry.map_err(be)?;
                let a: Authorizer = dec(v.value(), "authorizer")?;
                let keep = filter.status.is_none_or(|s| s == a.status)
                    && filter
                        .customer_id
                        .as_ref()
                        .is_none_or(|c| a.customer_id.as_ref() == Some(c));
                if !keep {
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(a);
            }
            let next = match items.last().filter(|_| more) {
                Some(a) => Some(encode_cursor(&Cursor::Authorizers {
                    a: a.appid.to_string(),
                })?),
                None => None,
            };
            Ok(Page { items, next })
        })
        .await
    }
}

/// Applies `f` to a stored audit inside one write transaction.
fn modify_audit(
    db: &Database,
    appid: &str,
    auditid: u64,
    f: impl FnOnce(&mut AuditRecord) -> StoreResult<()>,
) -> StoreResult<()> {
    let txn = db.begin_write().map_err(be)?;
    {
        let mut t = txn.open_table(AUDITS).map_err(be)?;
        let mut a: AuditRecord = match t.get((appid, auditid)).map_err(be)? {
            Some(v) => dec(v.value(), "audit")?,
            None => return Err(StoreError::NotFound),
        };
        f(&mut a)?;
        t.insert((appid, auditid), enc(&a)?.as_slice())
            .map_err(be)?;
    }
    txn.commit().map_err(be)
}

#[async_trait]
impl AuditStore for EmbeddedStore {
    async fn record_audit(&self, audit: &AuditRecord) -> StoreResult<()> {
        let bytes = enc(audit)?;
        let (app, id, t) = (audit.appid.to_string(), audit.auditid.0, audit.submitted_at);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut audits = txn.open_table(AUDITS).map_err(be)?;
                if audits.get((app.as_str(), id)).map_err(be)?.is_some() {
                    return Err(StoreError::Conflict);
                }
                audits
                    .insert((app.as_str(), id), bytes.as_slice())
                    .map_err(be)?;
                txn.open_table(AUDIT_ORDER)
                    .map_err(be)?
                    .insert((app.as_str(), t, id), ())
                    .map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn update_audit(
        &self,
        appid: &AppId,
        auditid: AuditId,
        update: &AuditUpdate,
    ) -> StoreResult<()> {
        let (app, update) = (appid.to_string(), update.clone());
        self.run(move |db| modify_audit(db, &app, auditid.0, |a| a.apply(&update)))
            .await
    }

    async fn mark_released(
        &self,
        appid: &AppId,
        auditid: AuditId,
        at: UnixTime,
    ) -> StoreResult<()> {
        let app = appid.to_string();
        self.run(move |db| {
            modify_audit(db, &app, auditid.0, |a| {
                a.release(at);
                Ok(())
            })
        })
        .await
    }

    async fn list_audits(
        &self,
        appid: &AppId,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<AuditRecord>> {
        let app = appid.to_string();
        let before = match cursor.map(decode_cursor).transpose()? {
            None => None,
            Some(Cursor::Audits { a, t, id }) if a == app => Some((t, id)),
            Some(_) => return Err(StoreError::InvalidCursor),
        };
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let order = txn.open_table(AUDIT_ORDER).map_err(be)?;
            let audits = txn.open_table(AUDITS).map_err(be)?;
            let upper = match before {
                Some((t, id)) => Bound::Excluded((app.as_str(), t, id)),
                None => Bound::Included((app.as_str(), i64::MAX, u64::MAX)),
            };
            let lower = Bound::Included((app.as_str(), i64::MIN, 0u64));
            let mut items: Vec<AuditRecord> = Vec::new();
            let mut more = false;
            for entry in order.range((lower, upper)).map_err(be)?.rev() {
                let (k, _) = entry.map_err(be)?;
                if items.len() == limit {
                    more = true;
                    break;
                }
                let (_, _, id) = k.value();
                let v = audits
                    .get((app.as_str(), id))
                    .map_err(be)?
                    .ok_or_else(|| corrupt("audit order"))?;
                items.push(dec(v.value(), "audit")?);
            }
            let next = match items.last().filter(|_| more) {
                Some(a) => Some(encode_cursor(&Cursor::Audits {
                    a: app.clone(),
                    t: a.submitted_at,
                    id: a.auditid.0,
                })?),
                None => None,
            };
            Ok(Page { items, next })
        })
        .await
    }
}

#[async_trait]
impl SingleUseStore for EmbeddedStore {
    async fn create_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        payload: &serde_json::Value,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        let key = single_key(kind, id);
        let bytes = enc(&SingleUseRow {
            payload: payload.clone(),
            expires_at,
            consumed_at: None,
        })?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(SINGLE_USE).map_err(be)?;
                if let Some(v) = t.get(key.as_str()).map_err(be)? {
                    let row: SingleUseRow = dec(v.value(), "single use")?;
                    if row.expires_at > now {
                        return Err(StoreError::Conflict);
                    }
                }
                t.insert(key.as_str(), bytes.as_slice()).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn consume_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<serde_json::Value> {
        let key = single_key(kind, id);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let payload = {
                let mut t = txn.open_table(SINGLE_USE).map_err(be)?;
                let mut row: SingleUseRow = match t.get(key.as_str()).map_err(be)? {
                    Some(v) => dec(v.value(), "single use")?,
                    None => return Err(StoreError::NotFound),
                };
                if row.expires_at <= now {
                    return Err(StoreError::NotFound);
                }
                if row.consumed_at.is_some() {
                    return Err(StoreError::AlreadyConsumed);
                }
                row.consumed_at = Some(now);
                t.insert(key.as_str(), enc(&row)?.as_slice()).map_err(be)?;
                row.payload
            };
            txn.commit().map_err(be)?;
            Ok(payload)
        })
        .await
    }

    async fn peek_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<SingleUseItem>> {
        let key = single_key(kind, id);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(SINGLE_USE).map_err(be)?;
            let Some(v) = t.get(key.as_str()).map_err(be)? else {
                return Ok(None);
            };
            let row: SingleUseRow = dec(v.value(), "single use")?;
            Ok((row.expires_at > now).then(|| SingleUseItem {
                payload: row.payload,
                consumed: row.consumed_at.is_some(),
            }))
        })
        .await
    }

    async fn delete_single_use(&self, kind: SingleUseKind, id: &str) -> StoreResult<()> {
        let key = single_key(kind, id);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(SINGLE_USE).map_err(be)?;
                t.remove(key.as_str()).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }
}

#[async_trait]
impl InvitationStore for EmbeddedStore {
    async fn create_invitation(&self, invitation: &Invitation) -> StoreResult<()> {
        let id = invitation.id.clone();
        let bytes = enc(invitation)?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(INVITATIONS).map_err(be)?;
                if t.get(id.as_str()).map_err(be)?.is_some() {
                    return Err(StoreError::Conflict);
                }
                t.insert(id.as_str(), bytes.as_slice()).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn get_invitation(&self, id: &str) -> StoreResult<Option<Invitation>> {
        let id = id.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(INVITATIONS).map_err(be)?;
            t.get(id.as_str())
                .map_err(be)?
                .map(|v| dec(v.value(), "invitation"))
                .transpose()
        })
        .await
    }

    async fn update_invitation(
        &self,
        id: &str,
        change: InvitationChange<'_>,
    ) -> StoreResult<Invitation> {
        for _ in 0..RMW_ATTEMPTS {
            let Some(mut inv) = self.get_invitation(id).await? else {
                return Err(StoreError::NotFound);
            };
            let seen = enc(&inv)?;
            change(&mut inv)?;
            let bytes = enc(&inv)?;
            let key = id.to_owned();
            let landed = self
                .run(move |db| {
                    let txn = db.begin_write().map_err(be)?;
                    {
                        let mut t = txn.open_table(INVITATIONS).map_err(be)?;
                        let now = t.get(key.as_str()).map_err(be)?.map(|v| v.value().to_vec());
                        if now.as_deref() != Some(seen.as_slice()) {
                            return Ok(false);
                        }
                        t.insert(key.as_str(), bytes.as_slice()).map_err(be)?;
                    }
                    txn.commit().map_err(be)?;
                    Ok(true)
                })
                .await?;
            if landed {
                return Ok(inv);
            }
        }
        Err(StoreError::Conflict)
    }

    async fn bind_invitation(
        &self,
        id: &str,
        appid: &AppId,
        is_mini_program: Option<bool>,
        now: UnixTime,
        change: AuthorizerChange<'_>,
    ) -> StoreResult<InvitationBinding> {
        // Optimistic like `update_authorizer` (`change` runs here); the write transaction lands
        // only if neither the invitation nor the profile changed since they were read.
        for _ in 0..RMW_ATTEMPTS {
            let (inv_key, app_key) = (id.to_owned(), appid.to_string());
            let (seen_inv, seen_app): (Option<Vec<u8>>, Option<Vec<u8>>) = self
                .run(move |db| {
                    let txn = db.begin_read().map_err(be)?;
                    let inv = txn.open_table(INVITATIONS).map_err(be)?;
                    let apps = txn.open_table(AUTHORIZERS).map_err(be)?;
                    Ok((
                        inv.get(inv_key.as_str())
                            .map_err(be)?
                            .map(|v| v.value().to_vec()),
                        apps.get(app_key.as_str())
                            .map_err(be)?
                            .map(|v| v.value().to_vec()),
                    ))
                })
                .await?;
            let Some(seen_inv) = seen_inv else {
                return Ok(InvitationBinding::Refused(InvitationRefusal::Unknown));
            };
            let mut inv: Invitation = dec(&seen_inv, "invitation")?;
            if let Err(why) = inv.admits(appid, is_mini_program, now) {
                return Ok(InvitationBinding::Refused(why));
            }
            let current: Option<Authorizer> = seen_app
                .as_deref()
                .map(|b| dec(b, "authorizer"))
                .transpose()?;
            let new = change(current.as_ref());
            if inv.used_by.as_ref() == Some(appid) && new.is_none() {
                return Ok(InvitationBinding::Bound(current));
            }
            inv.mark_used(appid, now);
            let inv_bytes = enc(&inv)?;
            let app_bytes = new.as_ref().map(enc).transpose()?;
            let (inv_key, written, old) = (id.to_owned(), new.clone(), current.clone());
            let app_key = appid.to_string();
            let landed = self
                .run(move |db| {
                    let txn = db.begin_write().map_err(be)?;
                    {
                        let mut t = txn.open_table(INVITATIONS).map_err(be)?;
                        let now_inv = t
                            .get(inv_key.as_str())
                            .map_err(be)?
                            .map(|v| v.value().to_vec());
                        if now_inv.as_deref() != Some(seen_inv.as_slice()) {
                            return Ok(false);
                        }
                        let apps = txn.open_table(AUTHORIZERS).map_err(be)?;
                        let now_app = apps
                            .get(app_key.as_str())
                            .map_err(be)?
                            .map(|v| v.value().to_vec());
                        if now_app != seen_app {
                            return Ok(false);
                        }
                        drop(apps);
                        t.insert(inv_key.as_str(), inv_bytes.as_slice())
                            .map_err(be)?;
                    }
                    if let (Some(a), Some(bytes)) = (&written, &app_bytes) {
                        put_authorizer(&txn, old.as_ref(), a, bytes)?;
                    }
                    txn.commit().map_err(be)?;
                    Ok(true)
                })
                .await?;
            if landed {
                return Ok(InvitationBinding::Bound(new.or(current)));
            }
        }
        Err(StoreError::Conflict)
    }

    async fn list_invitations(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Invitation>> {
        let before = match cursor.map(decode_cursor).transpose()? {
            None => None,
            Some(Cursor::Invitations { id }) => Some(id),
            Some(_) => return Err(StoreError::InvalidCursor),
        };
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(INVITATIONS).map_err(be)?;
            let upper = match &before {
                Some(id) => Bound::Excluded(id.as_str()),
                None => Bound::Unbounded,
            };
            let mut items: Vec<Invitation> = Vec::new();
            let mut more = false;
            for entry in t
                .range::<&str>((Bound::Unbounded, upper))
                .map_err(be)?
                .rev()
            {
                let (_, v) = entry.map_err(be)?;
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(dec(v.value(), "invitation")?);
            }
            let next = match items.last().filter(|_| more) {
                Some(i) => Some(encode_cursor(&Cursor::Invitations { id: i.id.clone() })?),
                None => None,
            };
            Ok(Page { items, next })
        })
        .await
    }
}

#[async_trait]
impl ActivityLog for EmbeddedStore {
    async fn record_activity(&self, activity: &Activity) -> StoreResult<()> {
        let appid = activity.appid.to_string();
        let at = activity.at;
        let bytes = enc(activity)?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(ACTIVITY).map_err(be)?;
                // The next sequence number within the same second keeps entries apart.
                let n = match t
                    .range((appid.as_str(), at, 0)..=(appid.as_str(), at, u64::MAX))
                    .map_err(be)?
                    .next_back()
                {
                    Some(last) => last.map_err(be)?.0.value().2 + 1,
                    None => 0,
                };
                t.insert((appid.as_str(), at, n), bytes.as_slice())
                    .map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn list_activity(
        &self,
        appid: &AppId,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Activity>> {
        let app = appid.to_string();
        let before = match cursor.map(decode_cursor).transpose()? {
            None => None,
            Some(Cursor::Activity { a, t, n }) if a == app => Some((t, n)),
            Some(_) => return Err(StoreError::InvalidCursor),
        };
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(ACTIVITY).map_err(be)?;
            let lower = (app.as_str(), i64::MIN, 0u64);
            let range = match before {
                Some((bt, bn)) => t.range(lower..(app.as_str(), bt, bn)),
                None => t.range(lower..=(app.as_str(), i64::MAX, u64::MAX)),
            }
            .map_err(be)?;
            let mut items = Vec::new();
            let mut keys = Vec::new();
            let mut more = false;
            for entry in range.rev() {
                let (k, v) = entry.map_err(be)?;
                if items.len() == limit {
                    more = true;
                    break;
                }
                let (_, at, n) = k.value();
                keys.push((at, n));
                items.push(dec::<Activity>(v.value(), "activity")?);
            }
            let next = match keys.last().filter(|_| more) {
                Some(&(t, n)) => Some(encode_cursor(&Cursor::Activity {
                    a: app.clone(),
                    t,
                    n,
                })?),
                None => None,
            };
            Ok(Page { items, next })
        })
        .await
    }
}

#[async_trait]
impl PushLog for EmbeddedStore {
    async fn record_push_if_new(
        &self,
        digest: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let key = digest.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(PUSHES).map_err(be)?;
                if let Some(exp) = t.get(key.as_str()).map_err(be)? {
                    if exp.value() > now {
                        return Ok(false);
                    }
                }
                t.insert(key.as_str(), expires_at).map_err(be)?;
            }
            txn.commit().map_err(be)?;
            Ok(true)
        })
        .await
    }
}

/// One app of a batch in `batch_items`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct BatchItemRow {
    claimed_at: Option<UnixTime>,
    #[serde(default)]
    claimer: Option<String>,
    lease_until: Option<UnixTime>,
    result: Option<BatchItemResult>,
}

#[async_trait]
impl BatchStore for EmbeddedStore {
    async fn create_batch(&self, batch: &Batch) -> StoreResult<()> {
        let (id, bytes) = (batch.id.clone(), enc(batch)?);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(BATCHES).map_err(be)?;
                if t.get(id.as_str()).map_err(be)?.is_some() {
                    return Err(StoreError::Conflict);
                }
                t.insert(id.as_str(), bytes.as_slice()).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn claim_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        claimer: &str,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> StoreResult<BatchClaim> {
        let (id, appid, me) = (batch_id.to_owned(), appid.clone(), claimer.to_owned());
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let claim = {
                let mut t = txn.open_table(BATCH_ITEMS).map_err(be)?;
                let mut row: BatchItemRow =
                    match t.get((id.as_str(), appid.as_str())).map_err(be)? {
                        Some(v) => dec(v.value(), "batch item")?,
                        None => BatchItemRow::default(),
                    };
                let mine = row.claimer.as_deref() == Some(me.as_str());
                if row.result.is_some() || (!mine && row.lease_until.is_some_and(|l| l > now)) {
                    return Err(StoreError::Conflict);
                }
                let claim = match row.claimed_at {
                    Some(since) if !mine => BatchClaim::TakenOver { since },
                    _ => BatchClaim::Fresh,
                };
                row.claimed_at = Some(now);
                row.lease_until = Some(lease_until);
                row.claimer = Some(me);
                t.insert((id.as_str(), appid.as_str()), enc(&row)?.as_slice())
                    .map_err(be)?;
                claim
            };
            txn.commit().map_err(be)?;
            Ok(claim)
        })
        .await
    }

    async fn record_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        result: &BatchItemResult,
    ) -> StoreResult<()> {
        self.write_batch_result(batch_id, appid, None, result).await
    }

    async fn record_claimed_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        claimer: &str,
        result: &BatchItemResult,
    ) -> StoreResult<()> {
        self.write_batch_result(batch_id, appid, Some(claimer), result)
            .await
    }

    async fn get_batch(&self, batch_id: &str) -> StoreResult<Option<BatchProgress>> {
        let id = batch_id.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let batches = txn.open_table(BATCHES).map_err(be)?;
            let batch: Batch = match batches.get(id.as_str()).map_err(be)? {
                Some(v) => dec(v.value(), "batch")?,
                None => return Ok(None),
            };
            let rows = txn.open_table(BATCH_ITEMS).map_err(be)?;
            let items = batch
                .appids
                .iter()
                .map(|a| {
                    let row: BatchItemRow = match rows.get((id.as_str(), a.as_str())).map_err(be)? {
                        Some(v) => dec(v.value(), "batch item")?,
                        None => BatchItemRow::default(),
                    };
                    Ok(BatchItem {
                        appid: a.clone(),
                        claimed_at: row.claimed_at,
                        result: row.result,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Some(BatchProgress { batch, items }))
        })
        .await
    }

    async fn finish_batch(&self, batch_id: &str, at: UnixTime) -> StoreResult<()> {
        let id = batch_id.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(BATCHES).map_err(be)?;
                let mut batch: Batch = match t.get(id.as_str()).map_err(be)? {
                    Some(v) => dec(v.value(), "batch")?,
                    None => return Err(StoreError::NotFound),
                };
                batch.finished_at.get_or_insert(at);
                t.insert(id.as_str(), enc(&batch)?.as_slice()).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn list_batches(
        &self,
        open_only: bool,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Batch>> {
        let before = match cursor.map(decode_cursor).transpose()? {
            None => None,
            Some(Cursor::Batches { id, open }) if open == open_only => Some(id),
            Some(_) => return Err(StoreError::InvalidCursor),
        };
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(BATCHES).map_err(be)?;
            let upper = match &before {
                Some(id) => Bound::Excluded(id.as_str()),
                None => Bound::Unbounded,
            };
            let mut items: Vec<Batch> = Vec::new();
            let mut more = false;
            for entry in t
                .range::<&str>((Bound::Unbounded, upper))
                .map_err(be)?
                .rev()
            {
                let (_, v) = entry.map_err(be)?;
                let b: Batch = dec(v.value(), "batch")?;
                if open_only && b.finished_at.is_some() {
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(b);
            }
            let next = match items.last().filter(|_| more) {
                Some(b) => Some(encode_cursor(&Cursor::Batches {
                    id: b.id.clone(),
                    open: open_only,
                })?),
                None => None,
            };
            Ok(Page { items, next })
        })
        .await
    }
}

#[async_trait]
impl ScheduleStore for EmbeddedStore {
    async fn claim_run(&self, name: &str, now: UnixTime, every_secs: i64) -> StoreResult<bool> {
        let name = name.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(RUNS).map_err(be)?;
                let last = t.get(name.as_str()).map_err(be)?.map(|v| v.value());
                if last.is_some_and(|l| l > now - every_secs) {
                    return Ok(false);
                }
                t.insert(name.as_str(), now).map_err(be)?;
            }
            txn.commit().map_err(be)?;
            Ok(true)
        })
        .await
    }
}

#[async_trait]
impl TemplateRequirementsStore for EmbeddedStore {
    async fn put_template_requirements(&self, r: &TemplateRequirements) -> StoreResult<()> {
        let id = r.template_id;
        let bytes = enc(r)?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(TEMPLATE_REQUIREMENTS).map_err(be)?;
                t.insert(id, bytes.as_slice()).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn get_template_requirements(
        &self,
        template_id: u64,
    ) -> StoreResult<Option<TemplateRequirements>> {
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(TEMPLATE_REQUIREMENTS).map_err(be)?;
            t.get(template_id)
                .map_err(be)?
                .map(|v| dec(v.value(), "template requirements"))
                .transpose()
        })
        .await
    }

    async fn delete_template_requirements(&self, template_id: u64) -> StoreResult<()> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(TEMPLATE_REQUIREMENTS).map_err(be)?;
                t.remove(template_id).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }
}

#[async_trait]
impl SubscribeTemplateStore for EmbeddedStore {
    async fn create_subscribe_template(&self, t: &NamedSubscribeTemplate) -> StoreResult<()> {
        let (appid, name) = (t.appid.to_string(), t.name.clone());
        let bytes = enc(t)?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut table = txn.open_table(SUBSCRIBE_TEMPLATES).map_err(be)?;
                if table
                    .get((appid.as_str(), name.as_str()))
                    .map_err(be)?
                    .is_some()
                {
                    return Err(StoreError::Conflict);
                }
                table
                    .insert((appid.as_str(), name.as_str()), bytes.as_slice())
                    .map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }

    async fn get_subscribe_template(
        &self,
        appid: &AppId,
        name: &str,
    ) -> StoreResult<Option<NamedSubscribeTemplate>> {
        let (appid, name) = (appid.to_string(), name.to_owned());
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(SUBSCRIBE_TEMPLATES).map_err(be)?;
            t.get((appid.as_str(), name.as_str()))
                .map_err(be)?
                .map(|v| dec(v.value(), "subscribe template"))
                .transpose()
        })
        .await
    }

    async fn list_subscribe_templates(
        &self,
        appid: &AppId,
    ) -> StoreResult<Vec<NamedSubscribeTemplate>> {
        let appid = appid.to_string();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(SUBSCRIBE_TEMPLATES).map_err(be)?;
            let mut out = Vec::new();
            for row in t.range((appid.as_str(), "")..).map_err(be)? {
                let (k, v) = row.map_err(be)?;
                if k.value().0 != appid {
                    break;
                }
                out.push(dec(v.value(), "subscribe template")?);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_subscribe_template(&self, appid: &AppId, name: &str) -> StoreResult<()> {
        let (appid, name) = (appid.to_string(), name.to_owned());
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(SUBSCRIBE_TEMPLATES).map_err(be)?;
                t.remove((appid.as_str(), name.as_str())).map_err(be)?;
            }
            txn.commit().map_err(be)
        })
        .await
    }
}

// --- Violations and quota resets (issue 27) ---

/// `(appid, punish_id)` -> [`Penalty`] as JSON.
const PENALTIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("penalties");
/// `(appid, appeal_record_id)` -> [`Appeal`] as JSON.
const APPEALS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("appeals");
/// The apps with a penalty, in appid order.
const PENALISED: TableDefinition<&str, ()> = TableDefinition::new("penalised");
/// `(account, month_start)` -> [`QuotaResetLedger`] as JSON.
const QUOTA_RESETS: TableDefinition<(&str, i64), &[u8]> = TableDefinition::new("quota_resets");

/// Opens `def` for reading; `None` when no write created it yet (a database from before it).
fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> StoreResult<Option<redb::ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(be(e)),
    }
}

#[async_trait]
impl ViolationStore for EmbeddedStore {
    async fn record_penalty(&self, p: &Penalty) -> StoreResult<bool> {
        let (appid, id) = (p.appid.to_string(), p.punish_id.clone());
        let bytes = enc(p)?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(PENALTIES).map_err(be)?;
                if t.get((appid.as_str(), id.as_str())).map_err(be)?.is_some() {
                    return Ok(false);
                }
                t.insert((appid.as_str(), id.as_str()), bytes.as_slice())
                    .map_err(be)?;
                let mut marks = txn.open_table(PENALISED).map_err(be)?;
                marks.insert(appid.as_str(), ()).map_err(be)?;
            }
            txn.commit().map_err(be)?;
            Ok(true)
        })
        .await
    }

    async fn list_penalties(&self, appid: &AppId) -> StoreResult<Vec<Penalty>> {
        let appid = appid.to_string();
        let mut out: Vec<Penalty> = self
            .run(move |db| {
                let txn = db.begin_read().map_err(be)?;
                let Some(t) = read_table(&txn, PENALTIES)? else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                for row in t.range((appid.as_str(), "")..).map_err(be)? {
                    let (k, v) = row.map_err(be)?;
                    if k.value().0 != appid {
                        break;
                    }
                    out.push(dec(v.value(), "penalty")?);
                }
                Ok(out)
            })
            .await?;
        violation::newest_first(&mut out);
        Ok(out)
    }

    async fn record_appeal(&self, a: &Appeal) -> StoreResult<bool> {
        let (appid, id, pushed_at) = (a.appid.to_string(), a.appeal_record_id, a.pushed_at);
        let bytes = enc(a)?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(APPEALS).map_err(be)?;
                let newer_kept = match t.get((appid.as_str(), id)).map_err(be)? {
                    Some(v) => dec::<Appeal>(v.value(), "appeal")?.pushed_at >= pushed_at,
                    None => false,
                };
                if newer_kept {
                    return Ok(false);
                }
                t.insert((appid.as_str(), id), bytes.as_slice())
                    .map_err(be)?;
            }
            txn.commit().map_err(be)?;
            Ok(true)
        })
        .await
    }

    async fn list_appeals(&self, appid: &AppId) -> StoreResult<Vec<Appeal>> {
        let appid = appid.to_string();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let Some(t) = read_table(&txn, APPEALS)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for row in t.range((appid.as_str(), 0)..).map_err(be)? {
                let (k, v) = row.map_err(be)?;
                if k.value().0 != appid {
                    break;
                }
                out.push(dec(v.value(), "appeal")?);
            }
            Ok(out)
        })
        .await
    }

    async fn penalised_apps(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page<AppId>> {
        // The cursor is the last appid of the previous page.
        let after = cursor
            .map(|c| AppId::parse(c).map_err(|_| StoreError::InvalidCursor))
            .transpose()?
            .map(|a| a.to_string());
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let Some(t) = read_table(&txn, PENALISED)? else {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            };
            let lower = match &after {
                Some(a) => Bound::Excluded(a.as_str()),
                None => Bound::Unbounded,
            };
            let mut items = Vec::new();
            let mut more = false;
            for row in t.range::<&str>((lower, Bound::Unbounded)).map_err(be)? {
                let (k, _) = row.map_err(be)?;
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(AppId::parse(k.value()).map_err(|_| corrupt("penalised appid"))?);
            }
            let next = if more {
                items.last().map(|a: &AppId| a.to_string())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }
}

#[async_trait]
impl QuotaResetStore for EmbeddedStore {
    async fn reserve_quota_reset(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
        limit: u32,
        u: &QuotaResetUse,
    ) -> StoreResult<QuotaReservation> {
        let u = u.clone();
        self.change_ledger(account, month_start, move |l| l.reserve(limit, &u))
            .await
    }

    async fn settle_quota_reset(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
        id: &str,
        outcome: QuotaResetOutcome,
        errcode: Option<i64>,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        self.change_ledger(account, month_start, move |l| {
            l.settle(&id, outcome, errcode)
        })
        .await
    }

    async fn quota_resets(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
    ) -> StoreResult<QuotaResetLedger> {
        let key = account.key();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let Some(t) = read_table(&txn, QUOTA_RESETS)? else {
                return Ok(QuotaResetLedger::default());
            };
            t.get((key.as_str(), month_start))
                .map_err(be)?
                .map(|v| dec(v.value(), "quota resets"))
                .transpose()
                .map(Option::unwrap_or_default)
        })
        .await
    }
}

impl EmbeddedStore {
    /// Reads, changes and writes one ledger in one write transaction.
    async fn change_ledger<T: Send + 'static>(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
        change: impl FnOnce(&mut QuotaResetLedger) -> T + Send + 'static,
    ) -> StoreResult<T> {
        let key = account.key();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let out = {
                let mut t = txn.open_table(QUOTA_RESETS).map_err(be)?;
                let mut ledger: QuotaResetLedger = t
                    .get((key.as_str(), month_start))
                    .map_err(be)?
                    .map(|v| dec(v.value(), "quota resets"))
                    .transpose()?
                    .unwrap_or_default();
                let out = change(&mut ledger);
                t.insert((key.as_str(), month_start), enc(&ledger)?.as_slice())
                    .map_err(be)?;
                out
            };
            txn.commit().map_err(be)?;
            Ok(out)
        })
        .await
    }
}

/// One row per app; the order check and the write share one write transaction.
#[async_trait]
impl FilingStore for EmbeddedStore {
    async fn get_filing(&self, appid: &AppId) -> StoreResult<Option<FilingState>> {
        let appid = appid.clone();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(FILINGS).map_err(be)?;
            t.get(appid.as_str())
                .map_err(be)?
                .map(|v| dec(v.value(), "filing"))
                .transpose()
        })
        .await
    }

    async fn record_filing(&self, state: &FilingState) -> StoreResult<bool> {
        let bytes = enc(state)?;
        let (appid, at) = (state.appid.clone(), state.checked_at);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let written = {
                let mut t = txn.open_table(FILINGS).map_err(be)?;
                let stored: Option<FilingState> = t
                    .get(appid.as_str())
                    .map_err(be)?
                    .map(|v| dec(v.value(), "filing"))
                    .transpose()?;
                if stored.is_some_and(|s| s.checked_at > at) {
                    false
                } else {
                    t.insert(appid.as_str(), bytes.as_slice()).map_err(be)?;
                    true
                }
            };
            txn.commit().map_err(be)?;
            Ok(written)
        })
        .await
    }
}

// ---- notifications (the outbox and its rules) ----

/// Notification id -> [`NotificationRow`].
const NOTIFICATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("notifications");
/// Pending notifications by `(next_attempt_at, id)`.
const NOTIFICATIONS_DUE: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("notifications_due");
/// Every notification by `(created_at, id)`: listings newest first.
const NOTIFICATIONS_ORDER: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("notifications_order");
/// One row, `rules`: the routing rules as stored JSON.
const NOTIFICATION_RULES: TableDefinition<&str, &str> = TableDefinition::new("notification_rules");

#[derive(Serialize, Deserialize)]
struct NotificationRow {
    version: u64,
    notification: Notification,
}

/// Where a notification listing resumes (its own tag: another listing's cursor is refused).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationCursor {
    k: String,
    t: i64,
    id: String,
    s: Option<NotificationStatus>,
}

impl EmbeddedStore {
    /// Writes a notification row at `version` and keeps the due index in step.
    fn write_notification(
        txn: &redb::WriteTransaction,
        old: Option<&Notification>,
        n: &Notification,
        version: u64,
    ) -> StoreResult<()> {
        let bytes = enc(&NotificationRow {
            version,
            notification: n.clone(),
        })?;
        txn.open_table(NOTIFICATIONS)
            .map_err(be)?
            .insert(n.id.as_str(), bytes.as_slice())
            .map_err(be)?;
        let mut due = txn.open_table(NOTIFICATIONS_DUE).map_err(be)?;
        if let Some(o) = old.filter(|o| o.status == NotificationStatus::Pending) {
            due.remove((o.next_attempt_at, o.id.as_str())).map_err(be)?;
        }
        if n.status == NotificationStatus::Pending {
            due.insert((n.next_attempt_at, n.id.as_str()), ())
                .map_err(be)?;
        }
        txn.open_table(NOTIFICATIONS_ORDER)
            .map_err(be)?
            .insert((n.created_at, n.id.as_str()), ())
            .map_err(be)?;
        Ok(())
    }
}

fn read_notification_row(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> StoreResult<Option<NotificationRow>> {
    t.get(id)
        .map_err(be)?
        .map(|v| dec(v.value(), "notification"))
        .transpose()
}

#[async_trait]
impl NotificationStore for EmbeddedStore {
    async fn create_notification(&self, n: &Notification) -> StoreResult<bool> {
        let n = n.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let t = txn.open_table(NOTIFICATIONS).map_err(be)?;
                if read_notification_row(&t, &n.id)?.is_some() {
                    return Ok(false);
                }
            }
            EmbeddedStore::write_notification(&txn, None, &n, 1)?;
            txn.commit().map_err(be)?;
            Ok(true)
        })
        .await
    }

    async fn get_notification(&self, id: &str) -> StoreResult<Option<VersionedNotification>> {
        let id = id.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(NOTIFICATIONS).map_err(be)?;
            Ok(
                read_notification_row(&t, &id)?.map(|r| VersionedNotification {
                    notification: r.notification,
                    version: r.version,
                }),
            )
        })
        .await
    }

    async fn put_notification(&self, n: &Notification, expected: u64) -> StoreResult<u64> {
        let n = n.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let old = {
                let t = txn.open_table(NOTIFICATIONS).map_err(be)?;
                read_notification_row(&t, &n.id)?.ok_or(StoreError::NotFound)?
            };
            if old.version != expected {
                return Err(StoreError::Conflict);
            }
            EmbeddedStore::write_notification(&txn, Some(&old.notification), &n, expected + 1)?;
            txn.commit().map_err(be)?;
            Ok(expected + 1)
        })
        .await
    }

    async fn due_notifications(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<String>> {
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(NOTIFICATIONS_DUE).map_err(be)?;
            let mut out = Vec::new();
            for row in t.range((i64::MIN, "")..).map_err(be)? {
                let (k, _) = row.map_err(be)?;
                let (at, id) = k.value();
                if at > now || out.len() == limit {
                    break;
                }
                out.push(id.to_owned());
            }
            Ok(out)
        })
        .await
    }

    async fn list_notifications(
        &self,
        status: Option<NotificationStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Notification>> {
        let before = match cursor {
            None => None,
            Some(c) => {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .map_err(|_| StoreError::InvalidCursor)?;
                let c: NotificationCursor =
                    serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
                if c.k != "notifications" || c.s != status {
                    return Err(StoreError::InvalidCursor);
                }
                Some((c.t, c.id))
            }
        };
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let order = txn.open_table(NOTIFICATIONS_ORDER).map_err(be)?;
            let rows = txn.open_table(NOTIFICATIONS).map_err(be)?;
            let upper = match &before {
                Some((t, id)) => Bound::Excluded((*t, id.as_str())),
                None => Bound::Unbounded,
            };
            let mut items: Vec<Notification> = Vec::new();
            let mut more = false;
            for entry in order
                .range::<(i64, &str)>((Bound::Unbounded, upper))
                .map_err(be)?
                .rev()
            {
                let (k, _) = entry.map_err(be)?;
                let Some(row) = read_notification_row(&rows, k.value().1)? else {
                    continue;
                };
                if status.is_some_and(|s| s != row.notification.status) {
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(row.notification);
            }
            let next = match items.last().filter(|_| more) {
                Some(n) => Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(enc(
                    &NotificationCursor {
                        k: "notifications".into(),
                        t: n.created_at,
                        id: n.id.clone(),
                        s: status,
                    },
                )?)),
                None => None,
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn get_notification_rules(&self) -> StoreResult<crate::notifications::NotificationRules> {
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(NOTIFICATION_RULES).map_err(be)?;
            match t.get("rules").map_err(be)? {
                Some(v) => crate::notifications::NotificationRules::from_stored_json(v.value())
                    .map_err(|_| corrupt("notification rules")),
                None => Ok(Default::default()),
            }
        })
        .await
    }

    async fn put_notification_rules(
        &self,
        rules: &crate::notifications::NotificationRules,
    ) -> StoreResult<()> {
        let json = rules
            .to_stored_json()
            .map_err(|_| corrupt("notification rules"))?;
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            txn.open_table(NOTIFICATION_RULES)
                .map_err(be)?
                .insert("rules", json.as_str())
                .map_err(be)?;
            txn.commit().map_err(be)
        })
        .await
    }
}

// ---- registrations (mini programs registered for merchants) ----

/// Registration id -> [`RegistrationRow`].
const REGISTRATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrations");
/// Every registration by `(created_at, id)`: listings newest first.
const REGISTRATIONS_ORDER: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("registrations_order");
/// `(subject digest, created_at, id)`: the push finds the newest registration of its subject.
const REGISTRATION_SUBJECTS: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("registration_subjects");

#[derive(Serialize, Deserialize)]
struct RegistrationRow {
    version: u64,
    registration: Registration,
}

/// Where a registration listing resumes (its own tag: another listing's cursor is refused).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrationCursor {
    k: String,
    t: i64,
    id: String,
    s: Option<RegistrationState>,
}

fn read_registration_row(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> StoreResult<Option<RegistrationRow>> {
    t.get(id)
        .map_err(be)?
        .map(|v| dec(v.value(), "registration"))
        .transpose()
}

impl EmbeddedStore {
    /// Writes a registration row at `version` with its listing order and subject pointer.
    fn write_registration(
        txn: &redb::WriteTransaction,
        r: &Registration,
        version: u64,
    ) -> StoreResult<()> {
        let bytes = enc(&RegistrationRow {
            version,
            registration: r.clone(),
        })?;
        let id = r.registration_id.as_str();
        txn.open_table(REGISTRATIONS)
            .map_err(be)?
            .insert(id, bytes.as_slice())
            .map_err(be)?;
        txn.open_table(REGISTRATIONS_ORDER)
            .map_err(be)?
            .insert((r.created_at, id), ())
            .map_err(be)?;
        if let Some(subject) = &r.subject {
            txn.open_table(REGISTRATION_SUBJECTS)
                .map_err(be)?
                .insert((subject.as_str(), r.created_at, id), ())
                .map_err(be)?;
        }
        Ok(())
    }
}

#[async_trait]
impl RegistrationStore for EmbeddedStore {
    async fn create_registration(&self, r: &Registration) -> StoreResult<()> {
        let r = r.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let t = txn.open_table(REGISTRATIONS).map_err(be)?;
                if read_registration_row(&t, &r.registration_id)?.is_some() {
                    return Err(StoreError::Conflict);
                }
            }
            EmbeddedStore::write_registration(&txn, &r, 1)?;
            txn.commit().map_err(be)
        })
        .await
    }

    async fn get_registration(&self, id: &str) -> StoreResult<Option<VersionedRegistration>> {
        let id = id.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = txn.open_table(REGISTRATIONS).map_err(be)?;
            Ok(
                read_registration_row(&t, &id)?.map(|r| VersionedRegistration {
                    registration: r.registration,
                    version: r.version,
                }),
            )
        })
        .await
    }

    async fn put_registration(&self, r: &Registration, expected: u64) -> StoreResult<u64> {
        let r = r.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            let old = {
                let t = txn.open_table(REGISTRATIONS).map_err(be)?;
                read_registration_row(&t, &r.registration_id)?.ok_or(StoreError::NotFound)?
            };
            if old.version != expected {
                return Err(StoreError::Conflict);
            }
            EmbeddedStore::write_registration(&txn, &r, expected + 1)?;
            txn.commit().map_err(be)?;
            Ok(expected + 1)
        })
        .await
    }

    async fn find_registration_by_subject(
        &self,
        subject: &str,
    ) -> StoreResult<Option<VersionedRegistration>> {
        let subject = subject.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let pointers = txn.open_table(REGISTRATION_SUBJECTS).map_err(be)?;
            let rows = txn.open_table(REGISTRATIONS).map_err(be)?;
            let lower = (subject.as_str(), i64::MIN, "");
            let upper = (subject.as_str(), i64::MAX, "\u{10FFFF}");
            let newest = pointers
                .range(lower..=upper)
                .map_err(be)?
                .next_back()
                .transpose()
                .map_err(be)?;
            let Some((k, _)) = newest else {
                return Ok(None);
            };
            Ok(
                read_registration_row(&rows, k.value().2)?.map(|r| VersionedRegistration {
                    registration: r.registration,
                    version: r.version,
                }),
            )
        })
        .await
    }

    async fn list_registrations(
        &self,
        state: Option<RegistrationState>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Registration>> {
        let before = match cursor {
            None => None,
            Some(c) => {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .map_err(|_| StoreError::InvalidCursor)?;
                let c: RegistrationCursor =
                    serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
                if c.k != "registrations" || c.s != state {
                    return Err(StoreError::InvalidCursor);
                }
                Some((c.t, c.id))
            }
        };
        let limit = page_limit(limit);
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let order = txn.open_table(REGISTRATIONS_ORDER).map_err(be)?;
            let rows = txn.open_table(REGISTRATIONS).map_err(be)?;
            let upper = match &before {
                Some((t, id)) => Bound::Excluded((*t, id.as_str())),
                None => Bound::Unbounded,
            };
            let mut items: Vec<Registration> = Vec::new();
            let mut more = false;
            for entry in order
                .range::<(i64, &str)>((Bound::Unbounded, upper))
                .map_err(be)?
                .rev()
            {
                let (k, _) = entry.map_err(be)?;
                let Some(row) = read_registration_row(&rows, k.value().1)? else {
                    continue;
                };
                if state.is_some_and(|s| s != row.registration.status.state()) {
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(row.registration);
            }
            let next = match items.last().filter(|_| more) {
                Some(r) => Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(enc(
                    &RegistrationCursor {
                        k: "registrations".into(),
                        t: r.created_at,
                        id: r.registration_id.clone(),
                        s: state,
                    },
                )?)),
                None => None,
            };
            Ok(Page { items, next })
        })
        .await
    }
}

// ---- profile reviews and snapshot (store/profile.rs) ----

/// appid -> [`ProfileState`] (its `version` inside).
const PROFILE_STATES: TableDefinition<&str, &[u8]> = TableDefinition::new("profile_states");

#[async_trait]
impl ProfileStore for EmbeddedStore {
    async fn get_profile_state(&self, appid: &AppId) -> StoreResult<Option<ProfileState>> {
        let appid = appid.clone();
        self.run(move |db| {
            let txn = db.begin_read().map_err(be)?;
            let t = match txn.open_table(PROFILE_STATES) {
                Ok(t) => t,
                // Created by the first write.
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(be(e)),
            };
            t.get(appid.as_str())
                .map_err(be)?
                .map(|v| dec(v.value(), "profile state"))
                .transpose()
        })
        .await
    }

    async fn put_profile_state(&self, state: &ProfileState) -> StoreResult<()> {
        let mut stored = state.clone();
        stored.version = state.version + 1;
        let bytes = enc(&stored)?;
        let (appid, expected) = (state.appid.clone(), state.version);
        self.run(move |db| {
            let txn = db.begin_write().map_err(be)?;
            {
                let mut t = txn.open_table(PROFILE_STATES).map_err(be)?;
                let current: Option<ProfileState> = t
                    .get(appid.as_str())
                    .map_err(be)?
                    .map(|v| dec(v.value(), "profile state"))
                    .transpose()?;
                if current.map_or(0, |c| c.version) != expected {
                    return Err(StoreError::Conflict);
                }
                t.insert(appid.as_str(), bytes.as_slice()).map_err(be)?;
            }
            txn.commit().map_err(be)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn state_survives_reopening_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let app = AppId::parse("wx0000000000000001").unwrap();
        {
            let s = EmbeddedStore::open(dir.path()).unwrap();
            s.save_ticket(
                &app,
                &Ticket {
                    value: SecretString::from("ticket@@@1".to_owned()),
                    received_at: 10,
                    created_at: 10,
                },
            )
            .await
            .unwrap();
        }
        let s = EmbeddedStore::open(dir.path()).unwrap();
        let t = s.latest_ticket(&app).await.unwrap().unwrap();
        assert_eq!(t.value.expose_secret(), "ticket@@@1");
    }

    #[test]
    fn a_cursor_of_another_listing_is_refused() {
        let c = encode_cursor(&Cursor::Authorizers { a: "x".into() }).unwrap();
        assert!(matches!(
            decode_cursor("%%"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(decode_cursor(&c), Ok(Cursor::Authorizers { .. })));
        assert!(matches!(
            decode_cursor("e30"),
            Err(StoreError::InvalidCursor)
        ));
    }
}
