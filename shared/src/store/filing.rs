//! Where each app's ICP filing (小程序备案) stands, as wxopen last learned it: from
//! `get_icp_entrance_info` (the daily census, the release guard, an operator's look) or from a
//! pushed `notify_apply_icpfiling_result`. Since 2023-09-01 an app that is not filed may not go
//! live, so a release asks this first ([`FilingStatus::Filed`] only).
//!
//! A state learned earlier never replaces one learned later ([`FilingStore::record_filing`]
//! compares `checked_at` inside the write): a retried or late push cannot undo a newer answer.

use super::StoreResult;
use crate::domain::{AppId, UnixTime};
use crate::wechat::icp::{AuditReason, IcpEntrance, IcpStatus, SmsVerifyStatus};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// getIcpEntranceInfo's status, by name (`IcpStatus` with the 1025-1031 variants' reasons kept in
/// [`FilingState::missing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingStatus {
    /// 1024-1031 未备案.
    NotFiled,
    /// 2 平台审核中.
    PlatformReview,
    /// 3 平台审核驳回.
    PlatformRejected,
    /// 4 管局审核中 (with the SMS check).
    AdministrationReview,
    /// 5 管局审核驳回.
    AdministrationRejected,
    /// 6 已备案: the only status a release goes ahead with.
    Filed,
    /// A number WeChat's page does not document (kept in `wechat_status`).
    Unrecognized,
}

impl FilingStatus {
    pub const ALL: [FilingStatus; 7] = [
        FilingStatus::NotFiled,
        FilingStatus::PlatformReview,
        FilingStatus::PlatformRejected,
        FilingStatus::AdministrationReview,
        FilingStatus::AdministrationRejected,
        FilingStatus::Filed,
        FilingStatus::Unrecognized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FilingStatus::NotFiled => "not_filed",
            FilingStatus::PlatformReview => "platform_review",
            FilingStatus::PlatformRejected => "platform_rejected",
            FilingStatus::AdministrationReview => "administration_review",
            FilingStatus::AdministrationRejected => "administration_rejected",
            FilingStatus::Filed => "filed",
            FilingStatus::Unrecognized => "unrecognized",
        }
    }

    /// The status named `s` (as [`FilingStatus::as_str`] spells it).
    pub fn parse(s: &str) -> Option<FilingStatus> {
        FilingStatus::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn from_icp(status: IcpStatus) -> FilingStatus {
        match status {
            IcpStatus::NotFiled(_) => FilingStatus::NotFiled,
            IcpStatus::PlatformReview => FilingStatus::PlatformReview,
            IcpStatus::PlatformRejected => FilingStatus::PlatformRejected,
            IcpStatus::AdministrationReview => FilingStatus::AdministrationReview,
            IcpStatus::AdministrationRejected => FilingStatus::AdministrationRejected,
            IcpStatus::Filed => FilingStatus::Filed,
            IcpStatus::Unknown(_) => FilingStatus::Unrecognized,
        }
    }
}

/// The administration's SMS check (meaningful in `administration_review` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsVerify {
    /// The responsible person has not answered the SMS yet: the merchant must act.
    Waiting,
    Done,
    /// Not answered in time: the administration will reject unless it is sent again.
    TimedOut,
    Unrecognized,
}

impl SmsVerify {
    pub fn from_icp(s: SmsVerifyStatus) -> SmsVerify {
        match s {
            SmsVerifyStatus::Waiting => SmsVerify::Waiting,
            SmsVerifyStatus::Done => SmsVerify::Done,
            SmsVerifyStatus::TimedOut => SmsVerify::TimedOut,
            SmsVerifyStatus::Unknown(_) => SmsVerify::Unrecognized,
        }
    }
}

/// What an app not filed lacks before it may apply (1025-1031).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingPrerequisite {
    /// 小程序信息未填 (name, avatar, introduction).
    Info,
    /// 小程序类目未填.
    Category,
    /// 小程序未认证.
    Verification,
}

/// One app's filing as last learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilingState {
    pub appid: AppId,
    pub status: FilingStatus,
    /// WeChat's number (2-6, 1024-1031, or one it added).
    pub wechat_status: i64,
    /// The fields a review rejected, each with the reviewer's suggestion (status 3 and 5).
    #[serde(default)]
    pub reasons: Vec<AuditReason>,
    #[serde(default)]
    pub sms_verify: Option<SmsVerify>,
    /// What the app lacks before it may apply (not filed only).
    #[serde(default)]
    pub missing: Vec<FilingPrerequisite>,
    /// The mini program's record number (备案号), once filed.
    #[serde(default)]
    pub record_number: Option<String>,
    /// When this state was learned (the push's CreateTime, or when WeChat was asked).
    pub checked_at: UnixTime,
}

impl FilingState {
    /// The state `get_icp_entrance_info` reports, learned at `at`.
    pub fn from_entrance(appid: &AppId, e: &IcpEntrance, at: UnixTime) -> FilingState {
        let status = FilingStatus::from_icp(e.status);
        let missing = match e.status {
            IcpStatus::NotFiled(b) => [
                (b.info_missing, FilingPrerequisite::Info),
                (b.category_missing, FilingPrerequisite::Category),
                (b.not_verified, FilingPrerequisite::Verification),
            ]
            .into_iter()
            .filter_map(|(missing, p)| missing.then_some(p))
            .collect(),
            _ => Vec::new(),
        };
        FilingState {
            appid: appid.clone(),
            status,
            wechat_status: e.status.code(),
            reasons: e.audit_data.clone(),
            sms_verify: e
                .sms_verify_status
                .filter(|_| status == FilingStatus::AdministrationReview)
                .map(SmsVerify::from_icp),
            missing,
            record_number: None,
            checked_at: at,
        }
    }

    /// The state a pushed `beian_status` says, learned at `at` (the push carries no reasons:
    /// those come from the next `get_icp_entrance_info`).
    pub fn from_pushed_status(appid: &AppId, status: IcpStatus, at: UnixTime) -> FilingState {
        let mut s = FilingState::from_entrance(
            appid,
            &IcpEntrance {
                status,
                is_canceling: false,
                audit_data: Vec::new(),
                available: 1,
                sms_verify_status: None,
            },
            at,
        );
        if s.status == FilingStatus::AdministrationReview {
            // The platform passed it: the administration sends the SMS now.
            s.sms_verify = Some(SmsVerify::Waiting);
        }
        s
    }

    pub fn is_filed(&self) -> bool {
        self.status == FilingStatus::Filed
    }
}

#[async_trait]
pub trait FilingStore: Send + Sync {
    async fn get_filing(&self, appid: &AppId) -> StoreResult<Option<FilingState>>;
    /// The filings of `appids`, in the same order, in as few requests as the backend allows
    /// (DynamoDB: BatchGetItem): the authorizer list and the census read a page at once.
    async fn get_filings(&self, appids: &[AppId]) -> StoreResult<Vec<Option<FilingState>>> {
        let mut out = Vec::with_capacity(appids.len());
        for a in appids {
            out.push(self.get_filing(a).await?);
        }
        Ok(out)
    }
    /// Keeps `state` unless the stored one was learned later (`checked_at` compared inside the
    /// write); `true` when written. The same state written twice is one state.
    async fn record_filing(&self, state: &FilingState) -> StoreResult<bool>;
}
