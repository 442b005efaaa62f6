//! What wxopen keeps of one app's profile (name, avatar, signature, categories) beside what
//! WeChat answers: the reviews WeChat runs on a new name and on a category that needs a
//! qualification (their results come as pushes, `wxa_nickname_audit` and `wxa_category_audit`,
//! or from a poll when a push is late), and the last profile read, which the completeness guard
//! before a first audit uses while it is fresh instead of asking WeChat on every submission.
//!
//! One item per app, written whole and conditioned on its `version`
//! ([`ProfileStore::put_profile_state`]): a push and an operator's change landing together never
//! overwrite each other ([`update_profile_state`] reads again and reapplies on a conflict).

use super::{StoreError, StoreResult};
use crate::domain::{AppId, UnixTime};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A review's state, for a name as for a category (WeChat's 1 / 2 / 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Checking,
    Rejected,
    Approved,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Checking => "checking",
            ReviewStatus::Rejected => "rejected",
            ReviewStatus::Approved => "approved",
        }
    }

    /// WeChat's number (`audit_stat`, `audit_status`, a push's `ret`); `None` for one the pages
    /// do not name.
    pub fn from_code(code: i64) -> Option<ReviewStatus> {
        match code {
            1 => Some(ReviewStatus::Checking),
            2 => Some(ReviewStatus::Rejected),
            3 => Some(ReviewStatus::Approved),
            _ => None,
        }
    }
}

/// The review of a name set through wxopen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicknameReview {
    pub nickname: String,
    /// setnickname's `audit_id`; `None` when the call's answer was lost and WeChat's counters
    /// showed it was taken (the push, which names the name, settles it).
    #[serde(default)]
    pub audit_id: Option<u64>,
    pub status: ReviewStatus,
    /// The reviewer's reason of a rejection, as WeChat wrote it.
    #[serde(default)]
    pub reason: String,
    pub since: UnixTime,
    /// When the result was learned (push or poll).
    #[serde(default)]
    pub decided_at: Option<UnixTime>,
}

/// A category's review as last learned (from a push, or from `getcategory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryReview {
    pub first: u64,
    pub second: u64,
    pub status: ReviewStatus,
    #[serde(default)]
    pub reason: String,
    /// When this state was learned.
    pub at: UnixTime,
}

/// The profile as last read from WeChat: what the completeness guard needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSnapshot {
    pub nickname: String,
    pub head_image_url: String,
    pub signature: String,
    /// Categories WeChat approved (those a submission may name).
    pub approved_categories: u32,
    pub read_at: UnixTime,
}

/// One app's profile state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileState {
    pub appid: AppId,
    #[serde(default)]
    pub nickname_review: Option<NicknameReview>,
    #[serde(default)]
    pub category_reviews: Vec<CategoryReview>,
    #[serde(default)]
    pub snapshot: Option<ProfileSnapshot>,
    /// 0: never stored. Each write stores `version + 1`.
    #[serde(default)]
    pub version: u64,
}

impl ProfileState {
    pub fn new(appid: AppId) -> Self {
        ProfileState {
            appid,
            nickname_review: None,
            category_reviews: Vec::new(),
            snapshot: None,
            version: 0,
        }
    }

    /// The review of the category `(first, second)`, if one is kept.
    pub fn category_review(&self, first: u64, second: u64) -> Option<&CategoryReview> {
        self.category_reviews
            .iter()
            .find(|c| c.first == first && c.second == second)
    }

    /// Keeps `review` as the category's state (replacing the one kept).
    pub fn set_category_review(&mut self, review: CategoryReview) {
        self.category_reviews
            .retain(|c| c.first != review.first || c.second != review.second);
        self.category_reviews.push(review);
    }
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn get_profile_state(&self, appid: &AppId) -> StoreResult<Option<ProfileState>>;

    /// Stores `state` as version `state.version + 1`, if the stored version is `state.version`
    /// (0: none stored); `StoreError::Conflict` otherwise.
    async fn put_profile_state(&self, state: &ProfileState) -> StoreResult<()>;
}

/// Reads the app's state (a new one if none), applies `change` and stores it; on a concurrent
/// write, reads and applies again (a few times). `change` answers whether anything changed
/// (nothing is written otherwise). Answers the state as stored.
pub async fn update_profile_state<S: ProfileStore + ?Sized>(
    store: &S,
    appid: &AppId,
    mut change: impl FnMut(&mut ProfileState) -> bool,
) -> StoreResult<ProfileState> {
    for _ in 0..5 {
        let mut state = store
            .get_profile_state(appid)
            .await?
            .unwrap_or_else(|| ProfileState::new(appid.clone()));
        if !change(&mut state) {
            return Ok(state);
        }
        match store.put_profile_state(&state).await {
            Ok(()) => {
                state.version += 1;
                return Ok(state);
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}
