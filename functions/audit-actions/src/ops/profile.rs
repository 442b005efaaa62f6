//! One mini program's profile, set up on the merchant's behalf: its name (reviewed when it hits
//! a keyword), avatar (uploaded through wxopen as a temporary media), signature, search status
//! and categories (a category that needs a qualification is reviewed), and what a first audit
//! still needs ([`Missing`]), which [`require_complete`] checks before every submission.
//!
//! Every change but the search status is never repeated after a lost answer: each spends one of
//! a limited number of changes (two names a year, five avatars a year, the month's signatures
//! and category changes). A doubt is recorded before the call ([`reconcile::write_doubt`] under
//! [`SingleUseKind::ProfileChangeInDoubt`], one per kind of change and app) and settled from
//! what WeChat shows afterwards (getaccountbasicinfo's values and change counters, getcategory's
//! list), by the call's own recovery read, by the next change of that kind or by the next
//! `GET .../profile`. What WeChat does not show is never taken as proof that the call did not
//! arrive: the doubt stays (a new change of that kind refused) until
//! [`reconcile::APPLY_LATE_SECS`] has passed.
//!
//! Reviews end with a push (`wxa_nickname_audit`, `wxa_category_audit`, recorded by
//! [`wxopen::push_apply`]); when the push is late, `GET .../profile` polls (querynickname for a
//! name checked for longer than [`REVIEW_POLL_AFTER_SECS`], getcategory on every read).

use super::field_error::FieldError;
use super::OpsError;
use crate::Deps;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wxopen::domain::{AppId, UnixTime};
use wxopen::failure::{Classify, Failure, Hint, StatusCode};
use wxopen::lifecycle::Action;
use wxopen::push_apply::{record_category_decision, record_nickname_decision, NicknameDecision};
use wxopen::store::{
    update_profile_state, Authorizer, CategoryReview, NicknameReview, ProfileSnapshot,
    ReviewStatus, SingleUseKind,
};
use wxopen::wechat::account::{
    AccountBasicInfo, AddCategory, CategoryAuditStatus, CategoryChoice, Certificate,
    ChangeSearchStatus, DeleteCategory, GetAccountBasicInfo, GetAllCategories, GetSearchStatus,
    GetSettingCategories, ModifyCategory, ModifyHeadImage, ModifySignature, NicknameAuditStatus,
    QueryNickname, SearchStatus, SetNickname, SettingCategories, TempMediaType, UploadTempMedia,
};
use wxopen::wechat::component::ApiGetAuthorizerInfo;
use wxopen::wechat::reconcile::{self, APPLY_LATE_SECS};
use wxopen::wechat::wxa::GetCategory;
use wxopen::wechat::WechatError;

/// How long a profile read stands in for WeChat's answer in the completeness guard: a batch
/// submitting the same apps again soon asks WeChat nothing more.
pub const SNAPSHOT_FRESH_SECS: i64 = 600;
/// A name checked for longer than this is polled (querynickname) by `GET .../profile`: the
/// push is late.
pub const REVIEW_POLL_AFTER_SECS: i64 = 3600;
/// The largest avatar taken (a temporary image may be 10 MB; an avatar needs far less).
pub const AVATAR_MAX_BYTES: usize = 2 * 1024 * 1024;
/// How long WeChat's category tree is kept.
const CATEGORY_TABLE_KEEP_SECS: i64 = 86_400;

// ---------------------------------------------------------------------------------------------
// What a first audit needs

/// A piece of the profile a first audit cannot do without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    Name,
    Avatar,
    Signature,
    /// No category WeChat approved.
    ApprovedCategory,
}

impl Missing {
    fn of(s: &ProfileSnapshot) -> Vec<Missing> {
        let mut out = Vec::new();
        if s.nickname.trim().is_empty() {
            out.push(Missing::Name);
        }
        if s.head_image_url.trim().is_empty() {
            out.push(Missing::Avatar);
        }
        if s.signature.trim().is_empty() {
            out.push(Missing::Signature);
        }
        if s.approved_categories == 0 {
            out.push(Missing::ApprovedCategory);
        }
        out
    }

    fn as_str(self) -> &'static str {
        match self {
            Missing::Name => "name",
            Missing::Avatar => "avatar",
            Missing::Signature => "signature",
            Missing::ApprovedCategory => "approved_category",
        }
    }
}

/// Which change a doubt is about (one at a time per kind and app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Name,
    Avatar,
    Signature,
    Category,
}

impl ChangeKind {
    const ALL: [ChangeKind; 4] = [
        ChangeKind::Name,
        ChangeKind::Avatar,
        ChangeKind::Signature,
        ChangeKind::Category,
    ];

    fn doubt_id(self, appid: &AppId) -> String {
        let k = match self {
            ChangeKind::Name => "name",
            ChangeKind::Avatar => "avatar",
            ChangeKind::Signature => "signature",
            ChangeKind::Category => "category",
        };
        format!("{appid}#{k}")
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals

/// Why a profile operation was refused; each with its code, facts and hint.
#[derive(Debug, thiserror::Error)]
pub enum ProfileRefusal {
    /// wxopen's own check found fields at fault: WeChat was not asked.
    #[error("the profile change breaks {} rule(s): {}", fields.len(), fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid { fields: Vec<FieldError> },
    /// A first audit needs these; WeChat would refuse the submission.
    #[error("the mini program's profile is incomplete: {} missing", missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "))]
    Incomplete { missing: Vec<Missing> },
    /// An earlier change of this kind may have reached WeChat (its answer was lost) and is not
    /// settled yet: sending another could spend a second change.
    #[error("a {} change sent at {since} may have reached WeChat (its answer was lost) and is not settled yet{}", kind_word(*kind), if *asked { "" } else { ": WeChat could not be asked" })]
    InDoubt {
        kind: ChangeKind,
        since: UnixTime,
        asked: bool,
        retry_after: i64,
    },
}

fn kind_word(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Name => "name",
        ChangeKind::Avatar => "avatar",
        ChangeKind::Signature => "signature",
        ChangeKind::Category => "category",
    }
}

impl ProfileRefusal {
    fn hint(&self) -> Hint {
        let h = Hint::new;
        match self {
            ProfileRefusal::Invalid { .. } => h("fix each field listed in `fields` (each says what is wrong in English and Chinese) and send again; WeChat was not asked", "请按 fields 中每一项的说明修正后重新提交；本次未提交给微信"),
            ProfileRefusal::Incomplete { .. } => h("set what `missing` lists first (PUT /ops/apps/{appid}/profile for the name, avatar and signature; POST /ops/apps/{appid}/categories, then wait for WeChat's approval), then submit again; WeChat was not asked", "请先补全 missing 所列资料（名称、头像、简介通过 PUT /ops/apps/{appid}/profile 设置；类目通过 POST /ops/apps/{appid}/categories 添加并等待审核通过）后再提交审核；本次未提交给微信"),
            ProfileRefusal::InDoubt { .. } => h("an earlier change's answer was lost: wxopen settles it from WeChat's profile before changing again, so as not to spend a second change; GET .../profile settles it, or try again after retry_after_secs", "上一次修改的结果未知（应答丢失）：为避免重复消耗修改次数，wxopen 须先从微信的资料确认；可通过 GET .../profile 确认，或在 retry_after_secs 秒后重试"),
        }
    }
}

impl Classify for ProfileRefusal {
    fn classify(&self) -> Failure {
        let f = match self {
            ProfileRefusal::Invalid { fields } => {
                Failure::new(StatusCode::BAD_REQUEST, "invalid_profile")
                    .fact("fields", json!(fields))
            }
            ProfileRefusal::Incomplete { missing } => {
                Failure::new(StatusCode::CONFLICT, "profile_incomplete")
                    .fact("missing", json!(missing))
            }
            ProfileRefusal::InDoubt {
                kind,
                since,
                asked,
                retry_after,
            } => {
                let f = Failure::new(StatusCode::CONFLICT, "profile_change_in_doubt")
                    .fact("change", json!(kind))
                    .fact("since", *since)
                    .fact("wechat_asked", *asked)
                    .fact("retry_after_secs", *retry_after);
                match u64::try_from(*retry_after) {
                    Ok(secs) => f.retry_after(secs),
                    Err(_) => f,
                }
            }
        };
        f.hint(Some(self.hint()))
    }
}

fn invalid(fields: Vec<FieldError>) -> OpsError {
    ProfileRefusal::Invalid { fields }.into()
}

// ---------------------------------------------------------------------------------------------
// Reading the profile

/// The errcodes with which WeChat refuses the profile reads to a mini program it did not
/// register through the API (41033) or whose merchant did not grant basic information (61007):
/// the authorizer information and the code-management category list answer instead.
fn read_refused(e: &WechatError) -> bool {
    matches!(e.errcode(), Some(41033 | 61007 | 91001))
}

/// What WeChat shows of the profile now.
struct Facts {
    /// getaccountbasicinfo's answer (the counters settle doubts); `None`: refused to this app.
    basic: Option<AccountBasicInfo>,
    nickname: String,
    head_image_url: String,
    signature: String,
    /// getcategory's list; `None`: refused to this app (then `approved` comes from get_category).
    categories: Option<SettingCategories>,
    approved: Vec<(u64, u64, String, String)>,
}

impl Facts {
    fn snapshot(&self, now: UnixTime) -> ProfileSnapshot {
        ProfileSnapshot {
            nickname: self.nickname.clone(),
            head_image_url: self.head_image_url.clone(),
            signature: self.signature.clone(),
            approved_categories: u32::try_from(self.approved.len()).unwrap_or(u32::MAX),
            read_at: now,
        }
    }
}

async fn authorizer_info(
    deps: &Deps,
    appid: &AppId,
) -> Result<(String, String, String), WechatError> {
    let info = deps
        .mgr
        .component()
        .call(&ApiGetAuthorizerInfo {
            component_appid: deps.mgr.component_appid(),
            authorizer_appid: appid,
        })
        .await?
        .authorizer_info;
    Ok((info.nick_name, info.head_img, info.signature))
}

async fn approved_from_code_management(
    deps: &Deps,
    appid: &AppId,
) -> Result<Vec<(u64, u64, String, String)>, WechatError> {
    Ok(deps
        .mgr
        .wxa(appid)
        .call(&GetCategory)
        .await?
        .category_list
        .into_iter()
        .map(|c| (c.first_id, c.second_id, c.first_class, c.second_class))
        .collect())
}

/// The profile as the profile reads show it (getaccountbasicinfo, getcategory), or, where WeChat
/// refuses them to this app, as the authorizer information and get_category show it.
async fn read_facts(deps: &Deps, appid: &AppId) -> Result<Facts, WechatError> {
    let wxa = deps.mgr.wxa(appid);
    let basic = match wxa.call(&GetAccountBasicInfo {}).await {
        Ok(b) => Some(b),
        Err(e) if read_refused(&e) => None,
        Err(e) => return Err(e),
    };
    let (nickname, head_image_url, signature) = match &basic {
        Some(b) => (
            b.nickname.clone(),
            b.head_image_info
                .as_ref()
                .map(|h| h.value.head_image_url.clone())
                .unwrap_or_default(),
            b.signature_info
                .as_ref()
                .map(|s| s.value.signature.clone())
                .unwrap_or_default(),
        ),
        None => authorizer_info(deps, appid).await?,
    };
    let categories = match wxa.call(&GetSettingCategories {}).await {
        Ok(c) => Some(c),
        Err(e) if read_refused(&e) => None,
        Err(e) => return Err(e),
    };
    let approved = match &categories {
        Some(c) => c
            .categories
            .iter()
            .filter(|c| c.audit_status == CategoryAuditStatus::Approved)
            .map(|c| {
                (
                    c.first,
                    c.second,
                    c.first_name.clone(),
                    c.second_name.clone(),
                )
            })
            .collect(),
        None => approved_from_code_management(deps, appid).await?,
    };
    Ok(Facts {
        basic,
        nickname,
        head_image_url,
        signature,
        categories,
        approved,
    })
}

async fn store_snapshot(deps: &Deps, appid: &AppId, snapshot: ProfileSnapshot) {
    let stored = update_profile_state(deps.store.as_ref(), appid, |s| {
        s.snapshot = Some(snapshot.clone());
        true
    })
    .await;
    if let Err(e) = stored {
        tracing::warn!(%appid, error = %e, "the profile read was not kept; the next guard reads WeChat again");
    }
}

/// Forgets the stored profile read (after a change through wxopen): the guard reads WeChat.
async fn forget_snapshot(deps: &Deps, appid: &AppId) {
    let _ = update_profile_state(deps.store.as_ref(), appid, |s| s.snapshot.take().is_some())
        .await
        .map_err(|e| tracing::warn!(%appid, error = %e, "the stale profile read was not dropped"));
}

/// The completeness guard: an app without a name, an avatar, a signature or an approved
/// category is refused before a submission reaches WeChat (which would refuse it, spending the
/// platform's monthly audit quota on nothing). The facts come from the stored profile read while
/// it is fresh, else from the authorizer information and get_category (two reads every mini
/// program answers, kept for [`SNAPSHOT_FRESH_SECS`]).
pub async fn require_complete(deps: &Deps, appid: &AppId) -> Result<(), OpsError> {
    let now = deps.clock.now();
    let fresh = deps
        .store
        .get_profile_state(appid)
        .await?
        .and_then(|s| s.snapshot)
        .filter(|s| now - s.read_at < SNAPSHOT_FRESH_SECS && s.read_at <= now);
    let snapshot = match fresh {
        Some(s) => s,
        None => {
            let (nickname, head_image_url, signature) = authorizer_info(deps, appid).await?;
            let approved = approved_from_code_management(deps, appid).await?;
            let s = ProfileSnapshot {
                nickname,
                head_image_url,
                signature,
                approved_categories: u32::try_from(approved.len()).unwrap_or(u32::MAX),
                read_at: now,
            };
            store_snapshot(deps, appid, s.clone()).await;
            s
        }
    };
    let missing = Missing::of(&snapshot);
    if missing.is_empty() {
        return Ok(());
    }
    Err(ProfileRefusal::Incomplete { missing }.into())
}

// ---------------------------------------------------------------------------------------------
// The doubt of a lost answer

/// A change that may have reached WeChat, recorded before the call with what tells it apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ChangeDoubt {
    Name {
        nickname: String,
        /// getaccountbasicinfo's `nickname_info.modify_used_count` before the call: a name
        /// sent to review shows as one more change spent.
        used_before: Option<i64>,
        since: UnixTime,
    },
    Avatar {
        url_before: String,
        used_before: Option<i64>,
        since: UnixTime,
    },
    Signature {
        signature: String,
        since: UnixTime,
    },
    AddCategory {
        first: u64,
        second: u64,
        since: UnixTime,
    },
    DeleteCategory {
        first: u64,
        second: u64,
        since: UnixTime,
    },
    ModifyCategory {
        first: u64,
        second: u64,
        /// The category's review status before (a modification sends it to review).
        status_before: i64,
        since: UnixTime,
    },
}

impl ChangeDoubt {
    fn kind(&self) -> ChangeKind {
        match self {
            ChangeDoubt::Name { .. } => ChangeKind::Name,
            ChangeDoubt::Avatar { .. } => ChangeKind::Avatar,
            ChangeDoubt::Signature { .. } => ChangeKind::Signature,
            _ => ChangeKind::Category,
        }
    }

    fn since(&self) -> UnixTime {
        match self {
            ChangeDoubt::Name { since, .. }
            | ChangeDoubt::Avatar { since, .. }
            | ChangeDoubt::Signature { since, .. }
            | ChangeDoubt::AddCategory { since, .. }
            | ChangeDoubt::DeleteCategory { since, .. }
            | ChangeDoubt::ModifyCategory { since, .. } => *since,
        }
    }

    /// Whether WeChat's profile shows the change: its value, one more change counted, or the
    /// category on (or gone from) the list. Not shown is no proof it did not arrive.
    fn shown_by(&self, f: &Facts) -> bool {
        let set = |first: u64, second: u64| {
            f.categories.as_ref().and_then(|c| {
                c.categories
                    .iter()
                    .find(|c| c.first == first && c.second == second)
            })
        };
        match self {
            ChangeDoubt::Name {
                nickname,
                used_before,
                ..
            } => {
                let count = f
                    .basic
                    .as_ref()
                    .and_then(|b| b.nickname_info.as_ref())
                    .map(|n| n.modify_used_count);
                f.nickname == *nickname
                    || matches!((count, used_before), (Some(c), Some(b)) if c > *b)
            }
            ChangeDoubt::Avatar {
                url_before,
                used_before,
                ..
            } => {
                let count = f
                    .basic
                    .as_ref()
                    .and_then(|b| b.head_image_info.as_ref())
                    .map(|h| h.modify_used_count);
                (!f.head_image_url.is_empty() && f.head_image_url != *url_before)
                    || matches!((count, used_before), (Some(c), Some(b)) if c > *b)
            }
            ChangeDoubt::Signature { signature, .. } => f.signature == *signature,
            ChangeDoubt::AddCategory { first, second, .. } => set(*first, *second).is_some(),
            // Gone from a list it was on: the deletion is what WeChat shows.
            ChangeDoubt::DeleteCategory { first, second, .. } => {
                f.categories.is_some() && set(*first, *second).is_none()
            }
            ChangeDoubt::ModifyCategory {
                first,
                second,
                status_before,
                ..
            } => set(*first, *second).is_some_and(|c| {
                c.audit_status == CategoryAuditStatus::Checking
                    && *status_before != CategoryAuditStatus::Checking.code()
            }),
        }
    }
}

async fn doubt(
    deps: &Deps,
    appid: &AppId,
    kind: ChangeKind,
) -> Result<Option<ChangeDoubt>, OpsError> {
    Ok(reconcile::read_doubt(
        deps.store.as_ref(),
        SingleUseKind::ProfileChangeInDoubt,
        &kind.doubt_id(appid),
        deps.clock.now(),
    )
    .await?)
}

async fn clear(deps: &Deps, appid: &AppId, kind: ChangeKind) {
    reconcile::clear_doubt(
        deps.store.as_ref(),
        SingleUseKind::ProfileChangeInDoubt,
        &kind.doubt_id(appid),
    )
    .await;
}

/// How a change in doubt stands after WeChat's profile was read.
#[derive(Debug, Clone, PartialEq)]
enum Settled {
    /// WeChat shows it: done (a name possibly in review).
    Taken(ChangeDoubt),
    /// No trace yet; `dropped`: too long ago to arrive, forgotten.
    NotShown { dropped: bool, doubt: ChangeDoubt },
}

/// Settles `d` against `facts`: taken (a name sent to review recorded as checking), or not
/// shown (dropped once it can no longer arrive).
async fn settle_with(deps: &Deps, appid: &AppId, d: ChangeDoubt, facts: &Facts) -> Settled {
    let kind = d.kind();
    if d.shown_by(facts) {
        if let ChangeDoubt::Name {
            nickname, since, ..
        } = &d
        {
            if facts.nickname != *nickname {
                // Taken, and under review: the push (or a poll) brings the result.
                let review = NicknameReview {
                    nickname: nickname.clone(),
                    audit_id: None,
                    status: ReviewStatus::Checking,
                    reason: String::new(),
                    since: *since,
                    decided_at: None,
                };
                let _ = update_profile_state(deps.store.as_ref(), appid, |s| {
                    s.nickname_review = Some(review.clone());
                    true
                })
                .await
                .map_err(
                    |e| tracing::warn!(%appid, error = %e, "the name review was not recorded"),
                );
            }
        }
        clear(deps, appid, kind).await;
        tracing::info!(%appid, change = kind_word(kind), "a profile change in doubt was taken by WeChat");
        return Settled::Taken(d);
    }
    let dropped = deps.clock.now() - d.since() >= APPLY_LATE_SECS;
    if dropped {
        clear(deps, appid, kind).await;
        tracing::info!(%appid, change = kind_word(kind), "a profile change in doubt never showed at WeChat; dropped");
    }
    Settled::NotShown { dropped, doubt: d }
}

/// Before a change of `kind`: an earlier one in doubt settled, or the refusal that keeps a
/// change from being sent twice. `Some`: it had been taken.
async fn settle_first(
    deps: &Deps,
    appid: &AppId,
    kind: ChangeKind,
) -> Result<Option<ChangeDoubt>, OpsError> {
    let Some(d) = doubt(deps, appid, kind).await? else {
        return Ok(None);
    };
    let since = d.since();
    let facts = match read_facts(deps, appid).await {
        Ok(f) => f,
        Err(WechatError::Store(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "the profile could not be read; the change stays in doubt");
            return Err(ProfileRefusal::InDoubt {
                kind,
                since,
                asked: false,
                retry_after: 60,
            }
            .into());
        }
    };
    match settle_with(deps, appid, d, &facts).await {
        Settled::Taken(d) => Ok(Some(d)),
        Settled::NotShown { dropped: true, .. } => Ok(None),
        Settled::NotShown { dropped: false, .. } => Err(ProfileRefusal::InDoubt {
            kind,
            since,
            asked: true,
            retry_after: (since + APPLY_LATE_SECS - deps.clock.now()).max(1),
        }
        .into()),
    }
}

/// Sends a never-repeated change with its doubt recorded first. A lost answer is settled at once
/// from WeChat's profile: taken, it answers `Ok(None)`-like success (`reconciled`); not shown or
/// unreadable, the first fault is answered and the doubt stays.
async fn send_once<T>(
    deps: &Deps,
    appid: &AppId,
    d: ChangeDoubt,
    call: impl std::future::Future<Output = Result<T, WechatError>>,
) -> Result<Sent<T>, OpsError> {
    let kind = d.kind();
    let store = deps.store.as_ref();
    reconcile::write_doubt(
        store,
        SingleUseKind::ProfileChangeInDoubt,
        &kind.doubt_id(appid),
        &d,
        d.since(),
    )
    .await?;
    match call.await {
        Ok(answer) => {
            clear(deps, appid, kind).await;
            forget_snapshot(deps, appid).await;
            Ok(Sent::Answered(answer))
        }
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(%appid, change = kind_word(kind), error = %e, "a profile change's answer was lost; asking WeChat's profile");
            let facts = match read_facts(deps, appid).await {
                Ok(f) => f,
                Err(WechatError::Store(se)) => return Err(se.into()),
                Err(read) => {
                    tracing::warn!(%appid, error = %read, "the profile could not be read; the change stays in doubt");
                    return Err(e.into());
                }
            };
            match settle_with(deps, appid, d, &facts).await {
                Settled::Taken(_) => {
                    forget_snapshot(deps, appid).await;
                    Ok(Sent::Reconciled)
                }
                Settled::NotShown { .. } => Err(e.into()),
            }
        }
        Err(e) => {
            // WeChat's definite answer: nothing was changed.
            clear(deps, appid, kind).await;
            Err(e.into())
        }
    }
}

enum Sent<T> {
    Answered(T),
    /// The answer was lost; WeChat's profile shows the change.
    Reconciled,
}

// ---------------------------------------------------------------------------------------------
// The view

#[derive(Debug, Serialize)]
pub struct Counted<T: Serialize> {
    pub value: T,
    /// Changes used in the current period and allowed (getaccountbasicinfo; absent when WeChat
    /// does not answer it for this app).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_used: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_quota: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct CategoryView {
    pub first: u64,
    pub first_name: String,
    pub second: u64,
    pub second_name: String,
    pub status: ReviewStatus,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct ProfileView {
    pub appid: AppId,
    /// Whether WeChat answers the profile reads for this app (only mini programs registered
    /// through the API: the others show what the authorizer information shows).
    pub registered_through_api: bool,
    pub name: Counted<String>,
    /// The review of the last name set through wxopen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_review: Option<NicknameReview>,
    pub avatar: Counted<String>,
    pub signature: Counted<String>,
    pub categories: Vec<CategoryView>,
    /// getcategory's `limit`, `quota` and `category_limit`, when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_quota: Option<Value>,
    /// `searchable` or `hidden`; absent when WeChat could not say (permission set 18 missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchWord>,
    /// What a first audit still needs (empty: complete).
    pub missing: Vec<Missing>,
    /// Changes whose answer was lost and that WeChat does not show yet.
    pub in_doubt: Vec<ChangeKind>,
    pub read_at: UnixTime,
}

/// The search status as a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchWord {
    Searchable,
    Hidden,
}

impl SearchWord {
    fn from_wechat(s: SearchStatus) -> Option<SearchWord> {
        match s {
            SearchStatus::Searchable => Some(SearchWord::Searchable),
            SearchStatus::Hidden => Some(SearchWord::Hidden),
            SearchStatus::Unknown(_) => None,
        }
    }

    fn to_wechat(self) -> SearchStatus {
        match self {
            SearchWord::Searchable => SearchStatus::Searchable,
            SearchWord::Hidden => SearchStatus::Hidden,
        }
    }
}

/// `GET .../profile`: the profile as WeChat shows it, with the reviews wxopen follows (a name
/// checked for long polled), the changes in doubt settled, and what a first audit still needs.
pub async fn view(deps: &Deps, a: &Authorizer) -> Result<ProfileView, OpsError> {
    let appid = &a.appid;
    let facts = read_facts(deps, appid).await?;
    let mut in_doubt = Vec::new();
    for kind in ChangeKind::ALL {
        if let Some(d) = doubt(deps, appid, kind).await? {
            if let Settled::NotShown { dropped: false, .. } =
                settle_with(deps, appid, d, &facts).await
            {
                in_doubt.push(kind);
            }
        }
    }
    let now = deps.clock.now();
    poll_name_review(deps, appid, now).await;
    // getcategory is the poll of the category reviews: a decision it shows is recorded (and
    // notified once) as a push would be.
    if let Some(c) = &facts.categories {
        let state = deps.store.get_profile_state(appid).await?;
        for c in &c.categories {
            let Some(status) = ReviewStatus::from_code(c.audit_status.code()) else {
                continue;
            };
            let kept = state
                .as_ref()
                .and_then(|s| s.category_review(c.first, c.second).cloned());
            let differs = kept
                .as_ref()
                .is_none_or(|k| k.status != status || k.reason != c.audit_reason);
            if differs {
                let d = CategoryReview {
                    first: c.first,
                    second: c.second,
                    status,
                    reason: c.audit_reason.clone(),
                    at: now,
                };
                if let Err(e) = record_category_decision(deps.store.as_ref(), appid, d, now).await {
                    tracing::warn!(%appid, error = %e, "a category's review was not recorded");
                }
            }
        }
    }
    let snapshot = facts.snapshot(now);
    let missing = Missing::of(&snapshot);
    store_snapshot(deps, appid, snapshot).await;
    let search = match deps.mgr.wxa(appid).call(&GetSearchStatus {}).await {
        Ok(s) => SearchWord::from_wechat(s.status),
        Err(WechatError::Store(e)) => return Err(e.into()),
        Err(e) => {
            tracing::info!(%appid, error = %e, "the search status was not read");
            None
        }
    };
    let state = deps.store.get_profile_state(appid).await?;
    let categories = match &facts.categories {
        Some(c) => c
            .categories
            .iter()
            .map(|c| CategoryView {
                first: c.first,
                first_name: c.first_name.clone(),
                second: c.second,
                second_name: c.second_name.clone(),
                status: ReviewStatus::from_code(c.audit_status.code())
                    .unwrap_or(ReviewStatus::Checking),
                reason: c.audit_reason.clone(),
            })
            .collect(),
        None => facts
            .approved
            .iter()
            .map(|(first, second, first_name, second_name)| CategoryView {
                first: *first,
                first_name: first_name.clone(),
                second: *second,
                second_name: second_name.clone(),
                status: ReviewStatus::Approved,
                reason: String::new(),
            })
            .collect(),
    };
    let b = facts.basic.as_ref();
    Ok(ProfileView {
        appid: appid.clone(),
        registered_through_api: b.is_some(),
        name: Counted {
            value: facts.nickname.clone(),
            changes_used: b.and_then(|b| b.nickname_info.as_ref().map(|q| q.modify_used_count)),
            changes_quota: b.and_then(|b| b.nickname_info.as_ref().map(|q| q.modify_quota)),
        },
        name_review: state.and_then(|s| s.nickname_review),
        avatar: Counted {
            value: facts.head_image_url.clone(),
            changes_used: b.and_then(|b| b.head_image_info.as_ref().map(|q| q.modify_used_count)),
            changes_quota: b.and_then(|b| b.head_image_info.as_ref().map(|q| q.modify_quota)),
        },
        signature: Counted {
            value: facts.signature.clone(),
            changes_used: b.and_then(|b| b.signature_info.as_ref().map(|q| q.modify_used_count)),
            changes_quota: b.and_then(|b| b.signature_info.as_ref().map(|q| q.modify_quota)),
        },
        categories,
        category_quota: facts.categories.as_ref().map(
            |c| json!({"limit": c.limit, "quota": c.quota, "category_limit": c.category_limit}),
        ),
        search,
        missing,
        in_doubt,
        read_at: now,
    })
}

/// A name checked for longer than [`REVIEW_POLL_AFTER_SECS`] with its audit_id known: asked with
/// querynickname, its decision recorded as the push would record it. A failed poll is logged.
async fn poll_name_review(deps: &Deps, appid: &AppId, now: UnixTime) {
    let review = match deps.store.get_profile_state(appid).await {
        Ok(s) => s.and_then(|s| s.nickname_review),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "the name review was not read");
            return;
        }
    };
    let Some(r) = review else { return };
    let (ReviewStatus::Checking, Some(audit_id)) = (r.status, r.audit_id) else {
        return;
    };
    if now - r.since < REVIEW_POLL_AFTER_SECS {
        return;
    }
    let got = match deps.mgr.wxa(appid).call(&QueryNickname { audit_id }).await {
        Ok(got) => got,
        Err(e) => {
            tracing::info!(%appid, error = %e, "the name review could not be polled");
            return;
        }
    };
    let status = match got.audit_stat {
        NicknameAuditStatus::Approved => ReviewStatus::Approved,
        NicknameAuditStatus::Rejected => ReviewStatus::Rejected,
        _ => return,
    };
    let d = NicknameDecision {
        nickname: if got.nickname.is_empty() {
            r.nickname
        } else {
            got.nickname
        },
        status,
        reason: got.fail_reason,
        at: if got.audit_time > 0 {
            got.audit_time
        } else {
            now
        },
    };
    if let Err(e) = record_nickname_decision(deps.store.as_ref(), appid, d, now).await {
        tracing::warn!(%appid, error = %e, "the polled name review was not recorded");
    }
}

// ---------------------------------------------------------------------------------------------
// Changing the profile

/// An image, base64 in JSON (as the filing's media route takes it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageBody {
    /// `image/jpeg`, `image/png`…
    pub content_type: String,
    pub data_base64: String,
    #[serde(default)]
    pub filename: Option<String>,
}

/// `PUT .../profile`: the pieces to change (at least one).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    #[serde(default)]
    pub name: Option<String>,
    /// Material for a name that hits a keyword (uploaded as temporary media first): a licence
    /// for an organisation's mini program, an ID card for a person's.
    #[serde(default)]
    pub name_license: Option<ImageBody>,
    #[serde(default)]
    pub avatar: Option<ImageBody>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub search: Option<SearchWord>,
}

/// A checked image.
struct Image {
    content_type: String,
    filename: String,
    bytes: Vec<u8>,
}

fn check_image(name: &str, b: ImageBody, errors: &mut Vec<FieldError>) -> Option<Image> {
    if !b.content_type.starts_with("image/") {
        errors.push(FieldError::new(
            format!("{name}.content_type"),
            "an image (image/jpeg, image/png…)",
            "须为图片（image/jpeg、image/png 等）",
        ));
        return None;
    }
    let bytes = match base64::engine::general_purpose::STANDARD.decode(b.data_base64.trim()) {
        Ok(b) => b,
        Err(_) => {
            errors.push(FieldError::new(
                format!("{name}.data_base64"),
                "not base64 (standard alphabet)",
                "不是有效的 base64 编码",
            ));
            return None;
        }
    };
    if bytes.is_empty() || bytes.len() > AVATAR_MAX_BYTES {
        errors.push(FieldError::new(
            format!("{name}.data_base64"),
            "the image must be 1 byte to 2 MB",
            "图片大小须在 2 MB 以内且不为空",
        ));
        return None;
    }
    Some(Image {
        filename: b
            .filename
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| "image".to_owned()),
        content_type: b.content_type,
        bytes,
    })
}

/// setnickname's rule (91004): 2 to 30 characters, not containing 小程序.
fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let n = name.trim().chars().count();
    if !(2..=30).contains(&n) || name.contains("小程序") || name.trim() != name {
        errors.push(FieldError::new(
            "name",
            "2 to 30 characters, without surrounding spaces and without 小程序",
            "名称须为 2-30 个字符，首尾无空格，且不含“小程序”",
        ));
    }
}

/// modifysignature's rule (53204): 4 to 120 characters.
fn check_signature(s: &str, errors: &mut Vec<FieldError>) {
    let n = s.trim().chars().count();
    if !(4..=120).contains(&n) {
        errors.push(FieldError::new(
            "signature",
            "4 to 120 characters",
            "简介须为 4-120 个字符",
        ));
    }
}

/// What each piece of a `PUT .../profile` became.
#[derive(Debug, Default, Serialize)]
pub struct Changed {
    /// `set`, or `checking` (WeChat reviews the name: the push or a poll brings the result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_audit_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchWord>,
    /// Changes whose answer was lost and which WeChat's profile shows were done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reconciled: Vec<ChangeKind>,
}

/// Uploads an image as a temporary media (never repeated: each upload is a new media_id; a lost
/// one is never used).
async fn upload(deps: &Deps, appid: &AppId, img: Image) -> Result<String, OpsError> {
    let req = UploadTempMedia {
        media_type: TempMediaType::Image,
        filename: img.filename,
        content_type: img.content_type,
        bytes: img.bytes,
    };
    Ok(deps.mgr.wxa(appid).call(&req).await?.media_id)
}

/// Applies a profile change: every piece checked first (nothing is sent when one is wrong), then
/// the search status, the signature, the avatar and the name, in that order; a failure stops the
/// rest (what was done before it stays done, and `GET .../profile` shows it).
pub async fn change(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    b: ProfileChange,
) -> Result<Changed, OpsError> {
    let appid = &a.appid;
    let mut errors = Vec::new();
    if b.name.is_none() && b.avatar.is_none() && b.signature.is_none() && b.search.is_none() {
        errors.push(FieldError::new(
            ".",
            "give at least one of name, avatar, signature, search",
            "请至少提供 name、avatar、signature、search 之一",
        ));
    }
    if let Some(n) = &b.name {
        check_name(n, &mut errors);
    }
    if b.name_license.is_some() && b.name.is_none() {
        errors.push(FieldError::new(
            "name_license",
            "material goes with a name",
            "材料须与名称一同提交",
        ));
    }
    if let Some(s) = &b.signature {
        check_signature(s, &mut errors);
    }
    let license = b
        .name_license
        .and_then(|i| check_image("name_license", i, &mut errors));
    let avatar = b.avatar.and_then(|i| check_image("avatar", i, &mut errors));
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let wxa = deps.mgr.wxa(appid);
    let mut out = Changed::default();
    if let Some(word) = b.search {
        // Setting what is set: repeatable.
        wxa.call(&ChangeSearchStatus {
            status: word.to_wechat(),
        })
        .await?;
        out.search = Some(word);
        noted(deps, operator, appid, json!({ "search": word })).await;
    }
    if let Some(signature) = b.signature {
        if let Some(ChangeDoubt::Signature { signature: s, .. }) =
            settle_first(deps, appid, ChangeKind::Signature).await?
        {
            if s == signature {
                out.signature = Some("set");
                out.reconciled.push(ChangeKind::Signature);
            }
        }
        if out.signature.is_none() {
            let d = ChangeDoubt::Signature {
                signature: signature.clone(),
                since: deps.clock.now(),
            };
            let req = ModifySignature { signature };
            let call = wxa.call(&req);
            if let Sent::Reconciled = send_once(deps, appid, d, call).await? {
                out.reconciled.push(ChangeKind::Signature);
            }
            out.signature = Some("set");
        }
        noted(deps, operator, appid, json!({ "signature": "set" })).await;
    }
    if let Some(img) = avatar {
        settle_first(deps, appid, ChangeKind::Avatar).await?;
        let before = basic_info(deps, appid).await;
        let media_id = upload(deps, appid, img).await?;
        let d = ChangeDoubt::Avatar {
            url_before: before
                .as_ref()
                .and_then(|b| b.head_image_info.as_ref())
                .map(|h| h.value.head_image_url.clone())
                .unwrap_or_default(),
            used_before: before
                .as_ref()
                .and_then(|b| b.head_image_info.as_ref())
                .map(|h| h.modify_used_count),
            since: deps.clock.now(),
        };
        let req = ModifyHeadImage::whole(media_id);
        let call = wxa.call(&req);
        if let Sent::Reconciled = send_once(deps, appid, d, call).await? {
            out.reconciled.push(ChangeKind::Avatar);
        }
        out.avatar = Some("set");
        noted(deps, operator, appid, json!({ "avatar": "set" })).await;
    }
    if let Some(name) = b.name {
        if let Some(ChangeDoubt::Name { nickname, .. }) =
            settle_first(deps, appid, ChangeKind::Name).await?
        {
            if nickname == name {
                out.name = Some(name_outcome(deps, appid).await);
                out.reconciled.push(ChangeKind::Name);
                noted(
                    deps,
                    operator,
                    appid,
                    json!({ "name": name, "outcome": out.name }),
                )
                .await;
                return Ok(out);
            }
        }
        let license = match license {
            Some(img) => upload(deps, appid, img).await?,
            None => String::new(),
        };
        let before = basic_info(deps, appid).await;
        let since = deps.clock.now();
        let d = ChangeDoubt::Name {
            nickname: name.clone(),
            used_before: before
                .as_ref()
                .and_then(|b| b.nickname_info.as_ref())
                .map(|n| n.modify_used_count),
            since,
        };
        let name_sent = name.clone();
        let req = SetNickname {
            nick_name: name.clone(),
            license,
            ..SetNickname::default()
        };
        match send_once(deps, appid, d, wxa.call(&req)).await? {
            Sent::Answered(set) => {
                let review = set.review();
                let r = NicknameReview {
                    nickname: name,
                    audit_id: review,
                    status: if review.is_some() {
                        ReviewStatus::Checking
                    } else {
                        ReviewStatus::Approved
                    },
                    reason: String::new(),
                    since,
                    decided_at: review.is_none().then_some(since),
                };
                update_profile_state(deps.store.as_ref(), appid, |s| {
                    s.nickname_review = Some(r.clone());
                    true
                })
                .await?;
                out.name = Some(if review.is_some() { "checking" } else { "set" });
                out.name_audit_id = review;
            }
            Sent::Reconciled => {
                out.name = Some(name_outcome(deps, appid).await);
                out.reconciled.push(ChangeKind::Name);
            }
        }
        noted(
            deps,
            operator,
            appid,
            json!({ "name": name_sent, "outcome": out.name }),
        )
        .await;
    }
    Ok(out)
}

/// One piece of a profile change, in the app's activity as soon as WeChat took it (a later
/// piece failing does not unrecord it).
async fn noted(deps: &Deps, operator: &str, appid: &AppId, details: Value) {
    deps.record(operator, appid, Action::ChangeProfile, |x| {
        x.details = details
    })
    .await;
}

/// After a settled name doubt: `checking` when the settlement recorded a review, else `set`.
async fn name_outcome(deps: &Deps, appid: &AppId) -> &'static str {
    match deps.store.get_profile_state(appid).await {
        Ok(Some(s))
            if s.nickname_review
                .as_ref()
                .is_some_and(|r| r.status == ReviewStatus::Checking) =>
        {
            "checking"
        }
        _ => "set",
    }
}

/// getaccountbasicinfo before a change (its counters tell a lost change apart); `None` when
/// WeChat does not answer it for this app or it failed (the change goes on: the settlement then
/// compares values only).
async fn basic_info(deps: &Deps, appid: &AppId) -> Option<AccountBasicInfo> {
    match deps.mgr.wxa(appid).call(&GetAccountBasicInfo {}).await {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::info!(%appid, error = %e, "getaccountbasicinfo not read before a change");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Categories

/// `GET /ops/categories`: every category WeChat offers (getallcategories with `appid`'s token,
/// or the first authorized app's), kept a day.
pub async fn all_categories(deps: &Deps, appid: Option<&AppId>) -> Result<Value, OpsError> {
    let store = deps.store.as_ref();
    let now = deps.clock.now();
    if let Some(item) = store
        .peek_single_use(SingleUseKind::CategoryTable, "all", now)
        .await?
    {
        return Ok(item.payload);
    }
    let appid = match appid {
        Some(a) => a.clone(),
        None => {
            let filter = super::app::authorized_only();
            let page = store.list_authorizers(&filter, None, 1).await?;
            let first = page.items.into_iter().next();
            first.map(|a| a.appid).ok_or(OpsError::NoAuthorizedApp)?
        }
    };
    let all = deps.mgr.wxa(&appid).call(&GetAllCategories {}).await?;
    let list: Vec<Value> = all
        .categories_list
        .categories
        .iter()
        .filter(|c| c.id != 0)
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "level": c.level,
                "father": c.father,
                "children": c.children,
                "needs_qualification": c.needs_qualification(),
                "qualifications": c.qualify.as_ref().map(|q| q.exter_list.iter().flat_map(|g| g.inner_list.iter().map(|f| f.name.clone())).collect::<Vec<_>>()).unwrap_or_default(),
            })
        })
        .collect();
    let payload = json!({ "categories": list, "read_at": now });
    let _ = store
        .delete_single_use(SingleUseKind::CategoryTable, "all")
        .await;
    if let Err(e) = store
        .create_single_use(
            SingleUseKind::CategoryTable,
            "all",
            &payload,
            now,
            now + CATEGORY_TABLE_KEEP_SECS,
        )
        .await
    {
        tracing::info!(error = %e, "the category tree was not kept; the next read fetches it");
    }
    Ok(payload)
}

/// One qualification file of a category: its name (as getallcategories lists it) and the image.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateBody {
    pub key: String,
    #[serde(flatten)]
    pub image: ImageBody,
}

/// `POST` / `PATCH .../categories`: a level-2 category of its level-1 parent, with its
/// qualification files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    pub first: u64,
    pub second: u64,
    #[serde(default)]
    pub certificates: Vec<CertificateBody>,
}

/// `DELETE .../categories`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryKey {
    pub first: u64,
    pub second: u64,
}

fn check_key(first: u64, second: u64, errors: &mut Vec<FieldError>) {
    if first == 0 {
        errors.push(FieldError::new(
            "first",
            "a level-1 category id (GET /ops/categories)",
            "须为一级类目 id（见 GET /ops/categories）",
        ));
    }
    if second == 0 {
        errors.push(FieldError::new(
            "second",
            "a level-2 category id (GET /ops/categories)",
            "须为二级类目 id（见 GET /ops/categories）",
        ));
    }
}

/// A category change checked: its ids and its qualification files (name, image).
struct CheckedCategory {
    first: u64,
    second: u64,
    files: Vec<(String, Image)>,
}

fn check_category(b: CategoryBody, need_files: bool) -> Result<CheckedCategory, OpsError> {
    let mut errors = Vec::new();
    check_key(b.first, b.second, &mut errors);
    if need_files && b.certificates.is_empty() {
        errors.push(FieldError::new(
            "certificates",
            "a modification sends new qualification files: give at least one",
            "修改类目须提交新的资质文件：请至少提供一个",
        ));
    }
    let mut files = Vec::new();
    for (i, c) in b.certificates.into_iter().enumerate() {
        if c.key.trim().is_empty() {
            errors.push(FieldError::new(
                format!("certificates[{i}].key"),
                "the qualification's name, as GET /ops/categories lists it",
                "资质名称（见 GET /ops/categories）",
            ));
        }
        if let Some(img) = check_image(&format!("certificates[{i}]"), c.image, &mut errors) {
            files.push((c.key, img));
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    Ok(CheckedCategory {
        first: b.first,
        second: b.second,
        files,
    })
}

/// What a category change became.
#[derive(Debug, Serialize)]
pub struct CategoryChanged {
    pub first: u64,
    pub second: u64,
    /// `set` (no review), `checking`, or `deleted`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reconciled: bool,
}

async fn certificates(
    deps: &Deps,
    appid: &AppId,
    files: Vec<(String, Image)>,
) -> Result<Vec<Certificate>, OpsError> {
    let mut out = Vec::new();
    for (key, img) in files {
        out.push(Certificate {
            key,
            value: upload(deps, appid, img).await?,
        });
    }
    Ok(out)
}

/// The category's status at WeChat after a change (getcategory), as a word.
async fn category_status(deps: &Deps, appid: &AppId, first: u64, second: u64) -> &'static str {
    match deps.mgr.wxa(appid).call(&GetSettingCategories {}).await {
        Ok(c) => match c
            .categories
            .iter()
            .find(|c| c.first == first && c.second == second)
            .map(|c| c.audit_status)
        {
            Some(CategoryAuditStatus::Checking) => "checking",
            Some(_) => "set",
            None => "deleted",
        },
        Err(_) => "set",
    }
}

/// Records that WeChat reviews the category `first`/`second` since `since` (its push, or a poll,
/// brings the decision).
async fn in_review(
    deps: &Deps,
    appid: &AppId,
    first: u64,
    second: u64,
    since: UnixTime,
) -> Result<(), OpsError> {
    let review = CategoryReview {
        first,
        second,
        status: ReviewStatus::Checking,
        reason: String::new(),
        at: since,
    };
    record_category_decision(deps.store.as_ref(), appid, review, since).await?;
    Ok(())
}

/// One change of an app's categories, as an operator asks it.
#[derive(Debug)]
pub enum CategoryChange {
    Add(CategoryBody),
    Modify(CategoryBody),
    Delete(CategoryKey),
}

/// Changes the app's categories and notes the change in its activity (by whom, what it
/// became).
pub async fn change_category(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    change: CategoryChange,
) -> Result<CategoryChanged, OpsError> {
    let (action, done) = match change {
        CategoryChange::Add(b) => (Action::AddCategory, add_category(deps, a, b).await?),
        CategoryChange::Modify(b) => (Action::ModifyCategory, modify_category(deps, a, b).await?),
        CategoryChange::Delete(k) => (Action::DeleteCategory, delete_category(deps, a, k).await?),
    };
    let details = json!(done);
    deps.record(operator, &a.appid, action, |x| x.details = details)
        .await;
    Ok(done)
}

/// Adds a category (its qualification files uploaded first); a qualified one goes to review.
async fn add_category(
    deps: &Deps,
    a: &Authorizer,
    b: CategoryBody,
) -> Result<CategoryChanged, OpsError> {
    let appid = &a.appid;
    let CheckedCategory {
        first,
        second,
        files,
    } = check_category(b, false)?;
    if let Some(ChangeDoubt::AddCategory {
        first: f,
        second: s,
        ..
    }) = settle_first(deps, appid, ChangeKind::Category).await?
    {
        if (f, s) == (first, second) {
            return Ok(CategoryChanged {
                first,
                second,
                status: category_status(deps, appid, first, second).await,
                reconciled: true,
            });
        }
    }
    let certs = certificates(deps, appid, files).await?;
    let since = deps.clock.now();
    let d = ChangeDoubt::AddCategory {
        first,
        second,
        since,
    };
    let req = AddCategory {
        categories: vec![CategoryChoice {
            first,
            second,
            certificates: certs,
        }],
    };
    let sent = send_once(deps, appid, d, deps.mgr.wxa(appid).call(&req)).await?;
    let status = category_status(deps, appid, first, second).await;
    if status == "checking" {
        in_review(deps, appid, first, second, since).await?;
    }
    Ok(CategoryChanged {
        first,
        second,
        status,
        reconciled: matches!(sent, Sent::Reconciled),
    })
}

/// Modifies a category's qualification files (a new review).
async fn modify_category(
    deps: &Deps,
    a: &Authorizer,
    b: CategoryBody,
) -> Result<CategoryChanged, OpsError> {
    let appid = &a.appid;
    let CheckedCategory {
        first,
        second,
        files,
    } = check_category(b, true)?;
    settle_first(deps, appid, ChangeKind::Category).await?;
    let status_before = match deps.mgr.wxa(appid).call(&GetSettingCategories {}).await {
        Ok(c) => c
            .categories
            .iter()
            .find(|c| c.first == first && c.second == second)
            .map_or(0, |c| c.audit_status.code()),
        Err(e) if read_refused(&e) => 0,
        Err(e) => return Err(e.into()),
    };
    let certs = certificates(deps, appid, files).await?;
    let since = deps.clock.now();
    let d = ChangeDoubt::ModifyCategory {
        first,
        second,
        status_before,
        since,
    };
    let req = ModifyCategory {
        first,
        second,
        certificates: certs,
    };
    let sent = send_once(deps, appid, d, deps.mgr.wxa(appid).call(&req)).await?;
    in_review(deps, appid, first, second, since).await?;
    Ok(CategoryChanged {
        first,
        second,
        status: "checking",
        reconciled: matches!(sent, Sent::Reconciled),
    })
}

/// Deletes a category.
async fn delete_category(
    deps: &Deps,
    a: &Authorizer,
    k: CategoryKey,
) -> Result<CategoryChanged, OpsError> {
    let appid = &a.appid;
    let mut errors = Vec::new();
    check_key(k.first, k.second, &mut errors);
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let (first, second) = (k.first, k.second);
    if let Some(ChangeDoubt::DeleteCategory {
        first: f,
        second: s,
        ..
    }) = settle_first(deps, appid, ChangeKind::Category).await?
    {
        if (f, s) == (first, second) {
            return Ok(CategoryChanged {
                first,
                second,
                status: "deleted",
                reconciled: true,
            });
        }
    }
    let d = ChangeDoubt::DeleteCategory {
        first,
        second,
        since: deps.clock.now(),
    };
    let sent = send_once(
        deps,
        appid,
        d,
        deps.mgr.wxa(appid).call(&DeleteCategory { first, second }),
    )
    .await?;
    Ok(CategoryChanged {
        first,
        second,
        status: "deleted",
        reconciled: matches!(sent, Sent::Reconciled),
    })
}
