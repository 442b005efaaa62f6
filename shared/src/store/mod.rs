//! State: tickets, tokens, authorizers, audits, single-use items, seen pushes and batches.
//!
//! Every store is a set of traits, one per concept, so a function asks only for what it uses. Two
//! implementations are held to one contract suite (`tests/integration/store_contract.rs`):
//! [`dynamo::DynamoStore`] (production) and [`embedded::EmbeddedStore`] (local runs, on redb).
//!
//! Concurrency is compare-and-set on a `version` number: a writer passes the version it read and
//! loses with [`StoreError::Conflict`] if someone wrote in between. Items that expire carry an
//! `expires_at`; an expired item reads as absent even before the backend deletes it.

use crate::domain::{AppId, AuditId, AuditStatus, UnixTime};
use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub mod dynamo;
pub mod embedded;
pub mod quota_reset;
pub mod violation;

pub use quota_reset::{
    QuotaAccount, QuotaReservation, QuotaResetLedger, QuotaResetOutcome, QuotaResetStore,
    QuotaResetUse, QUOTA_RESETS_PER_MONTH,
};
pub use violation::{Appeal, AppealStatus, Penalty, PenaltyKind, ViolationStore};
pub mod filing;

pub use filing::{FilingPrerequisite, FilingState, FilingStatus, FilingStore, SmsVerify};
pub mod notification;
pub mod profile;
pub use profile::{
    update_profile_state, CategoryReview, NicknameReview, ProfileSnapshot, ProfileState,
    ProfileStore, ReviewStatus,
};

pub use notification::*;
pub mod registration;

pub use registration::{
    Applicant, BetaVerification, Personal, Registration, RegistrationKind, RegistrationState,
    RegistrationStatus, RegistrationStore, VersionedRegistration,
};

/// Errors every store can return. Conflicts and single-use refusals are typed: callers branch on them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The version read is no longer current (or the item exists when `None` was expected).
    #[error("version conflict: the item changed since it was read")]
    Conflict,
    /// A single-use item was already consumed.
    #[error("already consumed")]
    AlreadyConsumed,
    /// The item does not exist, or has expired.
    #[error("not found")]
    NotFound,
    /// A change dated before the item it would change (e.g. an audit result older than the
    /// audit's submission): refused inside the write, so it cannot land on a newer item.
    #[error("the change predates the item it would change")]
    OutOfOrder,
    /// A pagination cursor that this store did not issue.
    #[error("invalid page cursor")]
    InvalidCursor,
    /// The backend failed (I/O, DynamoDB error after the SDK's retries, corrupt item).
    #[error("store backend error: {0:#}")]
    Backend(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a listing. `next` is an opaque cursor; `None` means the listing is complete.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The latest `component_verify_ticket` (valid 12 h after WeChat pushed it).
#[derive(Debug, Clone)]
pub struct Ticket {
    pub value: SecretString,
    pub received_at: UnixTime,
    /// WeChat's CreateTime of the push: the order tickets were issued in. A retried older push
    /// arriving late never replaces a newer ticket.
    pub created_at: UnixTime,
}

#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Keeps `ticket` as the latest for this component, unless a newer one (by `created_at`, WeChat's
    /// CreateTime) is stored.
    async fn save_ticket(&self, component: &AppId, ticket: &Ticket) -> StoreResult<()>;
    async fn latest_ticket(&self, component: &AppId) -> StoreResult<Option<Ticket>>;
}

/// Whose token an item holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenKey {
    /// `component_access_token` of the platform with this appid.
    Component(AppId),
    /// `authorizer_access_token` (and refresh token) of an authorized mini program / account.
    Authorizer(AppId),
}

/// A token item as stored. `access_token` is `None` before the first fetch (e.g. only a lease
/// or only a refresh token exists). `lease_until` > now means a refresher is at work: others wait.
///
/// An item is never deleted: revoking an authorization leaves a tombstone (no tokens) whose
/// version keeps counting, so a version read before the revocation can never match an item
/// written after it (a stale lease holder cannot write a revoked refresh token back).
#[derive(Debug, Clone, Default)]
pub struct TokenState {
    pub access_token: Option<SecretString>,
    /// Authorizer tokens only: the `authorizer_refresh_token`. Losing it forces re-authorization.
    pub refresh_token: Option<SecretString>,
    /// When `access_token` stops working (0 when there is none).
    pub expires_at: UnixTime,
    /// A refresher holds the right to refresh until this time (0: nobody).
    pub lease_until: UnixTime,
    /// Who holds the lease (an id per process/invocation), for logs and for the holder's own check.
    pub lease_owner: Option<String>,
    /// Authorizer tokens: when the authorization these tokens belong to last changed (the
    /// `authorized`/`unauthorized` push's CreateTime, or when the callback stored it). An
    /// authorization event older than this changes nothing.
    pub auth_changed_at: UnixTime,
    /// WeChat refused the refresh token (61023) and the token WeChat still reports was the same:
    /// only the merchant can fix it. Such items leave the due index until a new authorization.
    pub needs_reauthorization: bool,
    /// When `access_token` was issued (0: unknown), shown to operators as token health.
    pub refreshed_at: UnixTime,
}

impl TokenState {
    /// Whether this item is in the due index: an authorizer token that can still be refreshed.
    pub fn refreshable(&self) -> bool {
        self.refresh_token.is_some() && !self.needs_reauthorization
    }

    /// A revoked authorization: no tokens left (see [`TokenStore::delete_token`]).
    pub fn is_tombstone(&self) -> bool {
        self.access_token.is_none() && self.refresh_token.is_none() && self.lease_until == 0
    }
}

/// A [`TokenState`] with the version it was read at.
#[derive(Debug, Clone)]
pub struct VersionedToken {
    pub state: TokenState,
    pub version: u64,
}

/// An authorizer token that expires soon, as listed by the due-token index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueToken {
    pub appid: AppId,
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn get_token(&self, key: &TokenKey) -> StoreResult<Option<VersionedToken>>;
    /// Writes `state` if the stored version equals `expected` (`None`: only if no item exists).
    /// Returns the new version. Authorizer tokens with a refresh token are kept in the due-token
    /// index by `expires_at`.
    async fn put_token(
        &self,
        key: &TokenKey,
        state: &TokenState,
        expected: Option<u64>,
    ) -> StoreResult<u64>;
    /// The tokens of `keys`, in the same order, read as [`TokenStore::get_token`] reads them
    /// (strongly consistent), in as few requests as the backend allows (DynamoDB: BatchGetItem,
    /// 100 keys a request). The refresher reads a page of due tokens at once.
    async fn get_tokens(&self, keys: &[TokenKey]) -> StoreResult<Vec<Option<VersionedToken>>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.get_token(k).await?);
        }
        Ok(out)
    }
    /// Revokes a token item: its tokens and lease go, the item stays as a tombstone whose version
    /// goes on counting (never back to 1), so no writer holding an older version can match it.
    /// Missing items are fine.
    async fn delete_token(&self, key: &TokenKey) -> StoreResult<()>;
    /// Refreshable authorizer tokens ([`TokenState::refreshable`]) with `expires_at < before`
    /// (including never-fetched ones, expires_at 0),
    /// in ascending `expires_at`, through an index: never a table scan.
    async fn due_authorizer_tokens(
        &self,
        before: UnixTime,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<DueToken>>;
}

/// Where an authorizer stands with the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizerStatus {
    Authorized,
    /// The merchant revoked the authorization (`unauthorized` push). History is kept.
    Unauthorized,
    /// WeChat refused the refresh token (61023): the merchant must authorize again.
    NeedsReauthorization,
}

impl AuthorizerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizerStatus::Authorized => "authorized",
            AuthorizerStatus::Unauthorized => "unauthorized",
            AuthorizerStatus::NeedsReauthorization => "needs_reauthorization",
        }
    }
}

/// An authorized account and its profile (from `api_get_authorizer_info`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorizer {
    pub appid: AppId,
    pub status: AuthorizerStatus,
    /// The provider's customer (merchant) this authorization came from, via the invitation.
    pub customer_id: Option<String>,
    pub nick_name: String,
    /// Original id `gh_…`: audit pushes name the mini program by it.
    pub user_name: String,
    pub principal_name: String,
    pub is_mini_program: bool,
    /// Permission set ids actually granted (`func_info[].funcscope_category.id`).
    pub func_info: Vec<u32>,
    /// `authorizer_info` as WeChat returned it, kept whole for operators.
    pub profile: serde_json::Value,
    pub authorized_at: UnixTime,
    pub updated_at: UnixTime,
    /// Every change of `customer_id` after the first binding, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customer_moves: Vec<CustomerMove>,
}

/// The customer of an authorizer that came without an invitation (a push or the daily reconcile
/// found it first), until an operator's invitation binds one. Binding it is not a move.
pub const UNASSIGNED_CUSTOMER: &str = "unassigned";

/// The provider's customer an authorization is for: the invitation it came through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerBinding {
    pub customer_id: String,
    pub invitation_id: String,
}

/// An authorizer moved from one customer to another by a new authorization through another
/// customer's invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMove {
    pub from: Option<String>,
    pub to: String,
    pub invitation_id: String,
    pub at: UnixTime,
}

/// What an `unauthorized` push did ([`AuthorizerStore::revoke_authorization`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Status set to `Unauthorized` and the token item made a tombstone, in one transaction.
    Revoked,
    /// The authorization changed after the event was created (a late retry of an old push, after
    /// the merchant authorized again): nothing changed.
    Stale,
}

/// The rule both stores apply inside their [`AuthorizerStore::revoke_authorization`]
/// transaction: an `unauthorized` created at `event_time` is stale when the authorization changed
/// after it (the token's `auth_changed_at`, or the profile's `authorized_at`).
pub fn revocation_is_stale(
    token_changed_at: Option<UnixTime>,
    profile: Option<&Authorizer>,
    event_time: UnixTime,
) -> bool {
    token_changed_at.is_some_and(|t| t > event_time)
        || profile.is_some_and(|p| p.authorized_at > event_time)
}

/// The rule both stores apply inside [`AuthorizerStore::mark_needs_reauthorization`]: a refused
/// refresh token of the grant made at `grant` (the token's `auth_changed_at`) marks the profile
/// only if the profile still says `Authorized` (a revocation says more) and records no later
/// authorization (`authorized_at` after `grant`: the merchant authorized again meanwhile, and that
/// grant was not judged). A `grant` of 0 (a token stored before grants were dated) is taken as the
/// profile's own.
pub fn reauthorization_marks_profile(profile: &Authorizer, grant: UnixTime) -> bool {
    profile.status == AuthorizerStatus::Authorized && (grant == 0 || profile.authorized_at <= grant)
}

impl Authorizer {
    /// The profile after an `unauthorized` at `at`: history and customer kept.
    pub fn revoke(&mut self, at: UnixTime) {
        self.status = AuthorizerStatus::Unauthorized;
        self.updated_at = self.updated_at.max(at);
    }

    /// The rule for recording an authorization (callback, `authorized`/`updateauthorized` push,
    /// reconcile), whichever path comes first: the profile fields are `fresh` from WeChat; the
    /// customer is kept unless `binding` names another one, and then the move is recorded; the
    /// history (moves, first `authorized_at` when it is an update of the same authorization) is
    /// kept. A revocation stored after `fresh.authorized_at` keeps its status; a
    /// needs-reauthorization mark does not: it judged the refresh token of an earlier grant, and
    /// a fresh authorization brings its own (the token item's mark is cleared the same way).
    pub fn merge_authorization(
        existing: Option<&Authorizer>,
        mut fresh: Authorizer,
        binding: Option<&CustomerBinding>,
    ) -> Authorizer {
        let Some(old) = existing else {
            if let Some(b) = binding {
                fresh.customer_id = Some(b.customer_id.clone());
            }
            return fresh;
        };
        fresh.customer_moves = old.customer_moves.clone();
        if old
            .customer_id
            .as_deref()
            .is_some_and(|c| c != UNASSIGNED_CUSTOMER)
        {
            fresh.customer_id = old.customer_id.clone();
        }
        if let Some(b) = binding {
            fresh.bind_customer(b, fresh.updated_at);
        }
        if old.status == AuthorizerStatus::Unauthorized && old.updated_at > fresh.authorized_at {
            fresh.status = old.status;
        }
        fresh.authorized_at = fresh.authorized_at.max(old.authorized_at);
        fresh.updated_at = fresh.updated_at.max(old.updated_at);
        fresh
    }

    /// Binds the customer of `binding`, recording a move when it replaces another customer.
    /// Answers whether anything changed.
    pub fn bind_customer(&mut self, binding: &CustomerBinding, at: UnixTime) -> bool {
        if self.customer_id.as_deref() == Some(binding.customer_id.as_str()) {
            return false;
        }
        if self
            .customer_id
            .as_deref()
            .is_some_and(|c| c != UNASSIGNED_CUSTOMER)
        {
            self.customer_moves.push(CustomerMove {
                from: self.customer_id.clone(),
                to: binding.customer_id.clone(),
                invitation_id: binding.invitation_id.clone(),
                at,
            });
        }
        self.customer_id = Some(binding.customer_id.clone());
        self.updated_at = self.updated_at.max(at);
        true
    }
}

/// A read-modify-write of one authorizer profile: given the stored profile (if any), the profile
/// to store, or `None` to leave it as it is.
pub type AuthorizerChange<'a> =
    &'a (dyn Fn(Option<&Authorizer>) -> Option<Authorizer> + Send + Sync);

/// Filters for [`AuthorizerStore::list_authorizers`]; `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct AuthorizerFilter {
    pub status: Option<AuthorizerStatus>,
    pub customer_id: Option<String>,
}

#[async_trait]
pub trait AuthorizerStore: Send + Sync {
    /// Inserts or replaces the profile (status, customer, profile fields) of `a.appid`.
    async fn upsert_authorizer(&self, a: &Authorizer) -> StoreResult<()>;
    /// Sets the status (e.g. `Unauthorized`, `NeedsReauthorization`); `NotFound` if unknown.
    async fn set_authorizer_status(
        &self,
        appid: &AppId,
        status: AuthorizerStatus,
        at: UnixTime,
    ) -> StoreResult<()>;
    async fn get_authorizer(&self, appid: &AppId) -> StoreResult<Option<Authorizer>>;
    /// Applies `change` to the stored profile of `appid` atomically (retried on a concurrent
    /// write) and answers the profile as stored afterwards (`None`: there is none).
    async fn update_authorizer(
        &self,
        appid: &AppId,
        change: AuthorizerChange<'_>,
    ) -> StoreResult<Option<Authorizer>>;
    /// Applies an `unauthorized` push that WeChat created at `event_time`: in ONE transaction the
    /// profile (if any) becomes `Unauthorized` and the token item a tombstone
    /// ([`TokenStore::delete_token`]) remembering `event_time`. If the authorization changed after
    /// `event_time` (the token's `auth_changed_at` or the profile's `authorized_at` is later), it
    /// changes nothing and answers [`Revocation::Stale`].
    async fn revoke_authorization(
        &self,
        appid: &AppId,
        event_time: UnixTime,
    ) -> StoreResult<Revocation>;
    /// WeChat refused the refresh token of the authorization the caller judged (61023 with no
    /// other reported, or the account no longer authorizes the platform). In ONE write: the token
    /// item becomes `marked` (the caller's state, `needs_reauthorization` set) if it is still at
    /// `token_version`, else [`StoreError::Conflict`] and nothing changes (a new grant, a
    /// revocation or another refresher wrote meanwhile); and the profile (if any) becomes
    /// `NeedsReauthorization` at `at` when [`reauthorization_marks_profile`] says it belongs to
    /// the judged grant (`marked.auth_changed_at`). Answers the token's new version.
    async fn mark_needs_reauthorization(
        &self,
        appid: &AppId,
        marked: &TokenState,
        token_version: u64,
        at: UnixTime,
    ) -> StoreResult<u64>;
    /// Finds the authorizer whose original id (`gh_…`) is `user_name`.
    async fn authorizer_by_user_name(&self, user_name: &str) -> StoreResult<Option<Authorizer>>;
    /// All authorizers matching `filter`, in appid order, a page at a time (no repeats, no gaps).
    async fn list_authorizers(
        &self,
        filter: &AuthorizerFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>>;
}

/// One submitted audit of one mini program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub appid: AppId,
    pub auditid: AuditId,
    pub status: AuditStatus,
    pub reason: Option<String>,
    /// media_ids from `ScreenShot` (`|`-separated on the wire).
    pub screenshots: Vec<String>,
    pub template_id: Option<u64>,
    pub user_version: Option<String>,
    pub user_desc: Option<String>,
    pub submitted_at: UnixTime,
    pub updated_at: UnixTime,
    /// Set once the approved version was released.
    pub released_at: Option<UnixTime>,
}

/// A status change from a push or a poll.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditUpdate {
    pub status: AuditStatus,
    pub reason: Option<String>,
    pub screenshots: Vec<String>,
    pub at: UnixTime,
}

impl AuditRecord {
    /// Applies a status change: the one rule both stores follow, inside their write. A result
    /// dated before this audit was submitted belongs to an older audit: [`StoreError::OutOfOrder`].
    ///
    /// WeChat's news of one audit only moves forward, judged here inside the write so that two
    /// deliveries racing each other cannot regress it: a decided audit (approved, rejected,
    /// withdrawn) never goes back to pending, and news dated before what is stored (of the same
    /// kind: pending or decided) is older news.
    pub fn apply(&mut self, update: &AuditUpdate) -> StoreResult<()> {
        if update.at < self.submitted_at {
            return Err(StoreError::OutOfOrder);
        }
        let (stored_decided, update_decided) =
            (!self.status.is_pending(), !update.status.is_pending());
        if (stored_decided && !update_decided)
            || (stored_decided == update_decided && update.at < self.updated_at)
        {
            return Err(StoreError::OutOfOrder);
        }
        self.status = update.status;
        self.reason = update.reason.clone();
        self.screenshots = update.screenshots.clone();
        self.updated_at = self.updated_at.max(update.at);
        Ok(())
    }

    /// Marks the audit's version as released at `at`.
    pub fn release(&mut self, at: UnixTime) {
        self.released_at = Some(at);
        self.updated_at = at;
    }
}

/// Every authorizer matching `filter`, in appid order, as a stream of store pages (100 each), for
/// the walks that act a page at a time: the refresher's reauthorization census, a batch over
/// all authorized apps, the hourly check of stale audits.
pub fn authorizer_pages<'a, S: AuthorizerStore + ?Sized>(
    store: &'a S,
    filter: &'a AuthorizerFilter,
) -> impl futures::Stream<Item = StoreResult<Vec<Authorizer>>> + Send + 'a {
    // The state is the cursor of the next page to read; `None` once the last one was read.
    futures::stream::try_unfold(Some(None::<String>), move |next| async move {
        let Some(cursor) = next else {
            return Ok(None);
        };
        let page = store
            .list_authorizers(filter, cursor.as_deref(), 100)
            .await?;
        Ok(Some((page.items, page.next.map(Some))))
    })
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records a new submission; `Conflict` if this auditid is already recorded for the app.
    async fn record_audit(&self, audit: &AuditRecord) -> StoreResult<()>;
    /// Applies a status change; `NotFound` if the audit is unknown, `OutOfOrder` if the change is
    /// dated before the audit's submission (checked inside the write).
    async fn update_audit(
        &self,
        appid: &AppId,
        auditid: AuditId,
        update: &AuditUpdate,
    ) -> StoreResult<()>;
    /// Marks an approved audit as released; `NotFound` if unknown.
    async fn mark_released(&self, appid: &AppId, auditid: AuditId, at: UnixTime)
        -> StoreResult<()>;
    /// The most recently submitted audit of the app: the first of [`AuditStore::list_audits`].
    async fn latest_audit(&self, appid: &AppId) -> StoreResult<Option<AuditRecord>> {
        Ok(self
            .list_audits(appid, None, 1)
            .await?
            .items
            .into_iter()
            .next())
    }
    /// The app's audits, newest first, a page at a time.
    async fn list_audits(
        &self,
        appid: &AppId,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<AuditRecord>>;
}

/// Kinds of single-use items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SingleUseKind {
    /// The `state` bound to one authorization attempt, checked at the callback; its payload names
    /// the invitation and customer.
    AuthState,
    /// The outcome of a completed callback, under the same id as its state, so reloading the
    /// callback page shows the result instead of an error.
    AuthStateOutcome,
    /// The right to exchange one authorization code (id: the code's SHA-256), taken by the
    /// callback or the `authorized` push, whichever comes first: a code is exchanged once.
    AuthCodeClaim,
    /// Which authorizer a code's exchange stored (id: the code's SHA-256), for the path that
    /// came second.
    AuthCodeOutcome,
    /// A batch request's `Idempotency-Key` (id: the key's SHA-256): its payload names the batch
    /// and the request's digest, so posting the same key again acts on no app twice.
    BatchRequest,
    /// A `submit_audit` that may have reached WeChat with its auditid unknown (id: the appid),
    /// written before the call and removed once WeChat's answer or its audit list settles it
    /// (`wechat::reconcile`): the pending rule, the audit pushes and the hourly check see it.
    AuditSubmissionInDoubt,
    /// A `release` that may have gone online unrecorded (id: the appid), likewise.
    ReleaseInDoubt,
    /// The first callback `state` a code was brought with (id: the code's SHA-256): a code's
    /// stored outcome is replayed for that state only, so a spent code never moves an app.
    AuthCodeState,
    /// The consent page shown for an invitation (id: the invitation id): its state and
    /// `pre_auth_code`, reused by reloads for their lifetime.
    AuthStartPage,
    /// One slot of an invitation's allowance of new consent pages (id: invitation, window, slot).
    AuthStartQuota,
    /// An ICP filing application (`apply_icp_filing` or `submit_auth_and_icp`) that may have
    /// reached WeChat with its answer lost (id: the appid), written before the call and removed
    /// once WeChat's answer or the filing's status settles it: never applied twice.
    IcpApplicationInDoubt,
    /// WeChat's ICP reference tables (subject, certificate, district, nrlx and service content
    /// types; id: `all`), kept a day so an application's check does not fetch them each time.
    IcpReferenceTables,
    /// An `addtemplate` that may have added a subscribe template unrecorded (id:
    /// `{appid}#{name}`), written before the call and settled from `gettemplate`
    /// (`wechat::reconcile`): the next add of that name settles it before adding again.
    SubscribeTemplateInDoubt,
    /// A profile change (setnickname, modifyheadimage, modifysignature, addcategory,
    /// deletecategory, modifycategory) that may have reached WeChat with its answer lost (id:
    /// `{appid}#{change}`), written before the call and settled from getaccountbasicinfo /
    /// getcategory: never sent twice.
    ProfileChangeInDoubt,
    /// WeChat's category tree (getallcategories; id: `all`), kept a day.
    CategoryTable,
}

/// A single-use item as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleUseItem {
    pub payload: serde_json::Value,
    pub consumed: bool,
}

#[async_trait]
pub trait SingleUseStore: Send + Sync {
    /// Creates an item; `Conflict` if the id exists and has not expired at `now` (an expired
    /// item the backend has not purged yet is replaced).
    async fn create_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        payload: &serde_json::Value,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()>;
    /// Reads an unexpired item without consuming it.
    async fn peek_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<SingleUseItem>>;
    /// Removes an item (a claim given back because its work never started); absent is fine.
    async fn delete_single_use(&self, kind: SingleUseKind, id: &str) -> StoreResult<()>;
    /// Consumes the item exactly once and returns its payload. `AlreadyConsumed` on every later
    /// try; `NotFound` if it never existed or has expired (`now >= expires_at`).
    async fn consume_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<serde_json::Value>;
}

/// One operator action on one mini program, kept as its history: who did what, with which
/// template and version, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub appid: AppId,
    pub at: UnixTime,
    /// The operator key's label (never the key).
    pub operator: String,
    /// `commit`, `submit_audit`, `undo_audit`, `speedup_audit`, `release`, `revert`, ...
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auditid: Option<AuditId>,
    /// Anything else worth keeping (the ext_json digest, the version rolled back to, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

#[async_trait]
pub trait ActivityLog: Send + Sync {
    async fn record_activity(&self, activity: &Activity) -> StoreResult<()>;
    /// The app's activity, newest first, a page at a time.
    async fn list_activity(
        &self,
        appid: &AppId,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Activity>>;
}

/// An invitation link the provider sends a merchant: authorizations through it are bound to
/// `customer_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// Unguessable and sortable by creation time (listings show the newest first).
    pub id: String,
    pub customer_id: String,
    /// WeChat's `auth_type`: 1 official accounts, 2 mini programs, 3 both.
    pub auth_type: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_appid: Option<AppId>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<UnixTime>,
    /// The first authorization completed through it; later opens are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<AppId>,
}

/// Where an invitation stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Active,
    Used,
    Revoked,
    Expired,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Active => "active",
            InvitationState::Used => "used",
            InvitationState::Revoked => "revoked",
            InvitationState::Expired => "expired",
        }
    }
}

impl Invitation {
    /// Revoked and used win over expired: they say what happened.
    pub fn state(&self, now: UnixTime) -> InvitationState {
        if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if self.used_at.is_some() {
            InvitationState::Used
        } else if now >= self.expires_at {
            InvitationState::Expired
        } else {
            InvitationState::Active
        }
    }
}

/// Why an invitation refuses to bind an app ([`InvitationStore::bind_invitation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationRefusal {
    /// No such invitation (deleted, or never existed).
    Unknown,
    Revoked,
    Expired,
    /// It already bound another app: one invitation binds one mini program.
    UsedByAnother(AppId),
    /// It names the one app it is for (`biz_appid`), and this is another.
    ForAnotherApp(AppId),
    /// Its `auth_type` excludes this kind of account (1: official accounts, 2: mini programs).
    WrongKind {
        auth_type: u8,
    },
}

/// What [`InvitationStore::bind_invitation`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum InvitationBinding {
    /// The invitation is (now, or already was) used by the app, and the profile change was
    /// written in the same transaction: the profile as stored afterwards.
    Bound(Option<Authorizer>),
    /// Nothing was written.
    Refused(InvitationRefusal),
}

impl Invitation {
    /// Whether this invitation may bind `appid` at `now`: active, or already used by this very
    /// app (a reload), and within its terms. `is_mini_program`: the account's kind, when known.
    pub fn admits(
        &self,
        appid: &AppId,
        is_mini_program: Option<bool>,
        now: UnixTime,
    ) -> Result<(), InvitationRefusal> {
        if self.revoked_at.is_some() {
            return Err(InvitationRefusal::Revoked);
        }
        match &self.used_by {
            Some(used) if used == appid => return Ok(()),
            Some(used) => return Err(InvitationRefusal::UsedByAnother(used.clone())),
            None if self.used_at.is_some() => {
                return Err(InvitationRefusal::UsedByAnother(appid.clone()))
            }
            None => {}
        }
        if now >= self.expires_at {
            return Err(InvitationRefusal::Expired);
        }
        if let Some(only) = &self.biz_appid {
            if only != appid {
                return Err(InvitationRefusal::ForAnotherApp(only.clone()));
            }
        }
        if matches!(
            (self.auth_type, is_mini_program),
            (1, Some(true)) | (2, Some(false))
        ) {
            return Err(InvitationRefusal::WrongKind {
                auth_type: self.auth_type,
            });
        }
        Ok(())
    }

    /// Marks the invitation used by `appid` (kept when it already is).
    pub fn mark_used(&mut self, appid: &AppId, now: UnixTime) {
        if self.used_by.is_none() {
            self.used_at = Some(now);
            self.used_by = Some(appid.clone());
        }
    }
}

/// How long an invitation record is kept after it expires (for listings and audits of who
/// invited whom).
pub const INVITATION_RETENTION_SECS: i64 = 90 * 86_400;

/// A read-modify-write of one invitation: `Err` refuses the change (nothing written).
pub type InvitationChange<'a> = &'a (dyn Fn(&mut Invitation) -> StoreResult<()> + Send + Sync);

#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// `Conflict` if the id exists.
    async fn create_invitation(&self, invitation: &Invitation) -> StoreResult<()>;
    async fn get_invitation(&self, id: &str) -> StoreResult<Option<Invitation>>;
    /// Applies `change` atomically; `NotFound` if there is no such invitation.
    async fn update_invitation(
        &self,
        id: &str,
        change: InvitationChange<'_>,
    ) -> StoreResult<Invitation>;
    /// Binds `appid` through invitation `id` in ONE conditional write: the invitation is checked
    /// ([`Invitation::admits`], `is_mini_program` as known) and marked used by `appid`, and
    /// `change` is applied to the app's profile, both or neither. A concurrent change of either
    /// item is retried; a refusal writes nothing.
    async fn bind_invitation(
        &self,
        id: &str,
        appid: &AppId,
        is_mini_program: Option<bool>,
        now: UnixTime,
        change: AuthorizerChange<'_>,
    ) -> StoreResult<InvitationBinding>;
    /// All invitations, newest first, a page at a time.
    async fn list_invitations(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Invitation>>;
}

#[async_trait]
pub trait PushLog: Send + Sync {
    /// Records a push digest; `true` if it is new, `false` if seen and not yet expired.
    async fn record_push_if_new(
        &self,
        digest: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<bool>;
}

/// A batch: one operation over many apps, worked through after the request that made it, by
/// whichever runner claims each app first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Sorts by creation time (like invitation ids), so listings come newest first.
    pub id: String,
    pub operation: String,
    pub params: serde_json::Value,
    pub appids: Vec<AppId>,
    pub created_at: UnixTime,
    /// The label of the operator key that made it.
    #[serde(default)]
    pub operator: String,
    /// Set once every app has a result.
    #[serde(default)]
    pub finished_at: Option<UnixTime>,
}

/// How one app of a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchOutcome {
    Ok,
    /// Not attempted: a rule said no (an audit pending, nothing approved...).
    Skipped,
    Failed,
}

/// The outcome of a batch operation on one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItemResult {
    pub outcome: BatchOutcome,
    pub detail: serde_json::Value,
    pub at: UnixTime,
}

/// One app of a batch as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    pub appid: AppId,
    /// When a runner last claimed it (a claim without a result: being worked on, or its runner
    /// died).
    pub claimed_at: Option<UnixTime>,
    pub result: Option<BatchItemResult>,
}

/// A batch with every app as it stands, in the batch's order.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchProgress {
    pub batch: Batch,
    pub items: Vec<BatchItem>,
}

/// What claiming an app of a batch found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchClaim {
    /// Nobody had claimed it.
    Fresh,
    /// An earlier runner claimed it at `since` and its lease ran out with no result recorded:
    /// it may have acted, so the new runner must ask WeChat before acting again.
    TakenOver { since: UnixTime },
}

#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Creates a batch (up to 1,000 apps), open; `Conflict` if the id exists.
    async fn create_batch(&self, batch: &Batch) -> StoreResult<()>;
    /// Claims one app of the batch for the runner `claimer` until `lease_until`. `Conflict` if
    /// it has a result, or another runner's lease has not run out at `now`. The same claimer
    /// claiming again succeeds (`Fresh`): a claim whose answer was lost and is sent again is
    /// not refused by its own first write. The caller claims only apps of the batch.
    async fn claim_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        claimer: &str,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> StoreResult<BatchClaim>;
    /// Records (or overwrites) one app's result; `NotFound` if the batch or app is not part of it.
    async fn record_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        result: &BatchItemResult,
    ) -> StoreResult<()>;
    /// Records one app's result for the runner `claimer`, only while the claim is its own (one
    /// conditional write): `Conflict` once another runner took the app over, so a runner that
    /// outlived its lease never writes over the newer runner's work or result. `NotFound` as
    /// [`BatchStore::record_batch_item`].
    async fn record_claimed_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        claimer: &str,
        result: &BatchItemResult,
    ) -> StoreResult<()>;
    async fn get_batch(&self, batch_id: &str) -> StoreResult<Option<BatchProgress>>;
    /// Marks the batch finished at `at` (kept if already set); `NotFound` if there is none.
    async fn finish_batch(&self, batch_id: &str, at: UnixTime) -> StoreResult<()>;
    /// Batches newest first, a page at a time; `open_only`: those not finished.
    async fn list_batches(
        &self,
        open_only: bool,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Batch>>;
}

/// Periodic jobs that must run at most once per period across every process (the daily
/// reconcile with WeChat, asking WeChat to push a ticket): claimed with one conditional write.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Claims the job `name` at `now` if it last ran at or before `now - every_secs` (or never):
    /// `true` exactly once per period however many callers race.
    async fn claim_run(&self, name: &str, now: UnixTime, every_secs: i64) -> StoreResult<bool>;
}

/// What a template needs of every app it is released to: the domains its code calls. Set by
/// operators per template; checked before a release so a version whose requests would fail
/// (a domain missing from the app's server or web-view list) is not put online.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateRequirements {
    pub template_id: u64,
    #[serde(default)]
    pub requestdomain: Vec<String>,
    #[serde(default)]
    pub wsrequestdomain: Vec<String>,
    #[serde(default)]
    pub uploaddomain: Vec<String>,
    #[serde(default)]
    pub downloaddomain: Vec<String>,
    #[serde(default)]
    pub webviewdomain: Vec<String>,
    /// The operator key's label that set them, and when.
    #[serde(default)]
    pub operator: String,
    #[serde(default)]
    pub updated_at: UnixTime,
}

#[async_trait]
pub trait TemplateRequirementsStore: Send + Sync {
    /// Sets (replaces) the template's requirements.
    async fn put_template_requirements(&self, r: &TemplateRequirements) -> StoreResult<()>;
    async fn get_template_requirements(
        &self,
        template_id: u64,
    ) -> StoreResult<Option<TemplateRequirements>>;
    /// Removes them; removing none is not an error.
    async fn delete_template_requirements(&self, template_id: u64) -> StoreResult<()>;
}

/// A subscribe-message template an app added (`wxaapi/newtmpl/addtemplate`), under the name the
/// provider's backends use for it (`order_shipped`): each app has its own `priTmplId` for the
/// same title and keywords, so a backend sends by name and wxopen finds the app's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedSubscribeTemplate {
    pub appid: AppId,
    /// The provider's name, the same across apps.
    pub name: String,
    /// The app's own template id.
    pub pri_tmpl_id: String,
    /// The public title and keywords it was added from.
    pub tid: u64,
    pub kid_list: Vec<u64>,
    pub added_at: UnixTime,
}

#[async_trait]
pub trait SubscribeTemplateStore: Send + Sync {
    /// Records the app's template under its name; `Conflict` when the app already has one by
    /// that name (so two concurrent adds keep one).
    async fn create_subscribe_template(&self, t: &NamedSubscribeTemplate) -> StoreResult<()>;
    async fn get_subscribe_template(
        &self,
        appid: &AppId,
        name: &str,
    ) -> StoreResult<Option<NamedSubscribeTemplate>>;
    /// The app's named templates, by name.
    async fn list_subscribe_templates(
        &self,
        appid: &AppId,
    ) -> StoreResult<Vec<NamedSubscribeTemplate>>;
    /// Removes one; removing none is not an error.
    async fn delete_subscribe_template(&self, appid: &AppId, name: &str) -> StoreResult<()>;
}

/// What the token manager needs from the store: the tokens and the ticket they are made from.
pub trait TokenBackend: TokenStore + TicketStore {}
impl<T: TokenStore + TicketStore + ?Sized> TokenBackend for T {}

/// Everything at once, for functions and `wxopen-local` that hold one store. An
/// `Arc<dyn Store>` is also each narrower view a component takes (`Arc<dyn TokenBackend>` for
/// the token manager, `Arc<dyn AuthorizerStore>`...): every one of them is a supertrait.
pub trait Store:
    TokenBackend
    + AuthorizerStore
    + AuditStore
    + SingleUseStore
    + InvitationStore
    + ActivityLog
    + PushLog
    + BatchStore
    + ScheduleStore
    + TemplateRequirementsStore
    + SubscribeTemplateStore
    + ViolationStore
    + QuotaResetStore
    + FilingStore
    + NotificationStore
    + RegistrationStore
    + ProfileStore
{
}

impl<T> Store for T where
    T: TicketStore
        + TokenStore
        + AuthorizerStore
        + AuditStore
        + SingleUseStore
        + InvitationStore
        + ActivityLog
        + PushLog
        + BatchStore
        + ScheduleStore
        + TemplateRequirementsStore
        + SubscribeTemplateStore
        + ViolationStore
        + QuotaResetStore
        + FilingStore
        + NotificationStore
        + RegistrationStore
        + ProfileStore
{
}
