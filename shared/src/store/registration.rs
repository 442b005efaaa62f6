//! Mini programs registered for merchants who have none (快速注册): who asked (the customer), what
//! was sent, and where the registration stands at WeChat.
//!
//! A registration is recorded *before* WeChat is asked ([`RegistrationStatus::Submitting`]): a
//! create is never repeated (a second one answers 89249 for a day, or starts a second task), so
//! an answer lost on the way leaves the record in doubt, settled later from a read (the
//! enterprise search, the personal task's query) or from the result push, never by a second
//! create. The push names no registration: it carries the applicant's data (enterprise and
//! personal) or the trial's `unique_id`, so each record keeps a digest of those as its
//! [`Registration::subject`], and [`RegistrationStore::find_registration_by_subject`] finds the
//! newest registration of a subject.
//!
//! The applicant's personal data (the legal person's name, ID and WeChat id, a user's openid)
//! is kept in [`Personal`], which `Debug` never prints.

use super::{Page, StoreError, StoreResult};
use crate::domain::{AppId, UnixTime};
pub use crate::wechat::account::Personal;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which of WeChat's registrations a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationKind {
    /// fastregisterweapp: an enterprise (or sole trader), confirmed by its legal person.
    Enterprise,
    /// fastregisterpersonalweapp: a person, confirmed by that user.
    Personal,
    /// fastregisterbetaweapp: a trial mini program, made formal later (verifybetaweapp).
    Beta,
    /// account/fastregister: a mini program on an authorized official account's subject.
    ReuseOfficialAccount,
}

impl RegistrationKind {
    pub const ALL: [RegistrationKind; 4] = [
        RegistrationKind::Enterprise,
        RegistrationKind::Personal,
        RegistrationKind::Beta,
        RegistrationKind::ReuseOfficialAccount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationKind::Enterprise => "enterprise",
            RegistrationKind::Personal => "personal",
            RegistrationKind::Beta => "beta",
            RegistrationKind::ReuseOfficialAccount => "reuse_official_account",
        }
    }

    pub fn parse(s: &str) -> Option<RegistrationKind> {
        RegistrationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a registration (or a trial's verification) stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RegistrationStatus {
    /// Sent (or about to be) and WeChat's answer is not known: in doubt until a read or the
    /// push settles it. Never sent again.
    Submitting { since: UnixTime },
    /// WeChat took it; the legal person (or the user) has to confirm in WeChat.
    WaitingForConfirmation,
    /// WeChat refused it (`errcode`), or the push or a read said it failed (`reason`).
    Failed {
        reason: String,
        #[serde(default)]
        errcode: Option<i64>,
    },
    /// The mini program exists. `appid` is `None` while only a read (which names no appid) said
    /// so: the push, or the authorizer list, names it.
    Succeeded {
        #[serde(default)]
        appid: Option<AppId>,
    },
}

/// [`RegistrationStatus`] without its facts: what a listing filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    Submitting,
    WaitingForConfirmation,
    Failed,
    Succeeded,
}

impl RegistrationState {
    pub const ALL: [RegistrationState; 4] = [
        RegistrationState::Submitting,
        RegistrationState::WaitingForConfirmation,
        RegistrationState::Failed,
        RegistrationState::Succeeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationState::Submitting => "submitting",
            RegistrationState::WaitingForConfirmation => "waiting_for_confirmation",
            RegistrationState::Failed => "failed",
            RegistrationState::Succeeded => "succeeded",
        }
    }

    pub fn parse(s: &str) -> Option<RegistrationState> {
        RegistrationState::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl RegistrationStatus {
    pub fn state(&self) -> RegistrationState {
        match self {
            RegistrationStatus::Submitting { .. } => RegistrationState::Submitting,
            RegistrationStatus::WaitingForConfirmation => RegistrationState::WaitingForConfirmation,
            RegistrationStatus::Failed { .. } => RegistrationState::Failed,
            RegistrationStatus::Succeeded { .. } => RegistrationState::Succeeded,
        }
    }

    /// Still open at WeChat (in doubt, or waiting for the confirmation).
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            RegistrationStatus::Submitting { .. } | RegistrationStatus::WaitingForConfirmation
        )
    }

    pub fn appid(&self) -> Option<&AppId> {
        match self {
            RegistrationStatus::Succeeded { appid } => appid.as_ref(),
            _ => None,
        }
    }
}

/// What was sent for a registration, by kind; what WeChat hands back to follow it (`taskid`,
/// `unique_id`) is kept beside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Applicant {
    Enterprise {
        /// 企业名 (public: also the mini program's subject).
        name: String,
        code: Personal,
        /// 1 统一社会信用代码, 2 组织机构代码, 3 营业执照注册号.
        code_type: i64,
        legal_persona_wechat: Personal,
        legal_persona_name: Personal,
        #[serde(default)]
        component_phone: Personal,
    },
    Personal {
        idname: Personal,
        wxuser: Personal,
        #[serde(default)]
        component_phone: Personal,
        /// The task WeChat created (its answer); the query settles the task by it.
        #[serde(default)]
        taskid: Option<String>,
    },
    Beta {
        /// The trial's name (WeChat adds "的体验小程序").
        name: String,
        openid: Personal,
        /// WeChat's answer: the push carries it.
        #[serde(default)]
        unique_id: Option<String>,
    },
    ReuseOfficialAccount {
        official_account_appid: AppId,
    },
}

impl Applicant {
    pub fn kind(&self) -> RegistrationKind {
        match self {
            Applicant::Enterprise { .. } => RegistrationKind::Enterprise,
            Applicant::Personal { .. } => RegistrationKind::Personal,
            Applicant::Beta { .. } => RegistrationKind::Beta,
            Applicant::ReuseOfficialAccount { .. } => RegistrationKind::ReuseOfficialAccount,
        }
    }

    /// The subject digest its result push will carry, when known yet (a trial's only once
    /// WeChat answered with its `unique_id`; account/fastregister answers at once, no push).
    pub fn subject(&self) -> Option<String> {
        match self {
            Applicant::Enterprise {
                name,
                legal_persona_wechat,
                legal_persona_name,
                ..
            } => Some(enterprise_subject(
                name,
                legal_persona_wechat.expose(),
                legal_persona_name.expose(),
            )),
            Applicant::Personal { idname, wxuser, .. } => {
                Some(personal_subject(idname.expose(), wxuser.expose()))
            }
            Applicant::Beta { unique_id, .. } => unique_id.as_deref().map(beta_subject),
            Applicant::ReuseOfficialAccount { .. } => None,
        }
    }

    /// The public name to show: the enterprise's, the trial's (a person's name is personal).
    pub fn display_name(&self) -> Option<&str> {
        match self {
            Applicant::Enterprise { name, .. } | Applicant::Beta { name, .. } => Some(name),
            _ => None,
        }
    }
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The enterprise registration's subject: the three fields `action=search` takes, which the push
/// echoes in its `<info>`.
pub fn enterprise_subject(
    name: &str,
    legal_persona_wechat: &str,
    legal_persona_name: &str,
) -> String {
    digest(&["enterprise", name, legal_persona_wechat, legal_persona_name])
}

/// The personal registration's subject: the user's name and WeChat id, echoed by the push.
pub fn personal_subject(idname: &str, wxuser: &str) -> String {
    digest(&["personal", idname, wxuser])
}

/// The trial registration's subject: the `unique_id` WeChat answered, echoed by the push.
pub fn beta_subject(unique_id: &str) -> String {
    digest(&["beta", unique_id])
}

/// A trial made formal (verifybetaweapp): what was sent and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetaVerification {
    pub status: RegistrationStatus,
    pub enterprise_name: String,
    pub code: Personal,
    pub code_type: i64,
    pub legal_persona_wechat: Personal,
    pub legal_persona_name: Personal,
    pub operator: String,
    pub updated_at: UnixTime,
}

/// One registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub registration_id: String,
    /// The provider's customer the new mini program is bound to.
    pub customer_id: String,
    pub applicant: Applicant,
    pub status: RegistrationStatus,
    /// Where the legal person or user confirms (personal, trial), as WeChat answered.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// The digest the result push is matched by ([`Applicant::subject`]).
    #[serde(default)]
    pub subject: Option<String>,
    /// The trial made formal, once asked.
    #[serde(default)]
    pub verification: Option<BetaVerification>,
    /// Whether the new mini program was taken on (stored, bound to the customer).
    #[serde(default)]
    pub taken_on: bool,
    /// When WeChat was last asked where it stands (the settling read is made at most every few
    /// minutes).
    #[serde(default)]
    pub checked_at: Option<UnixTime>,
    /// The operator key's label that started it.
    pub operator: String,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl Registration {
    pub fn kind(&self) -> RegistrationKind {
        self.applicant.kind()
    }
}

/// A registration with the version its next write is conditioned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedRegistration {
    pub registration: Registration,
    pub version: u64,
}

#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// Stores a new registration (and its subject's pointer, when known); `Conflict` when the
    /// id exists.
    async fn create_registration(&self, r: &Registration) -> StoreResult<()>;
    async fn get_registration(&self, id: &str) -> StoreResult<Option<VersionedRegistration>>;
    /// Replaces the registration if it is still at `expected` (and points its subject at it);
    /// the new version. `Conflict`: changed meanwhile; `NotFound`: no such registration.
    async fn put_registration(&self, r: &Registration, expected: u64) -> StoreResult<u64>;
    /// The newest registration whose subject digest is `subject` (the push's way in).
    async fn find_registration_by_subject(
        &self,
        subject: &str,
    ) -> StoreResult<Option<VersionedRegistration>>;
    /// Registrations newest first, optionally of one state, a page at a time.
    async fn list_registrations(
        &self,
        state: Option<RegistrationState>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Registration>>;
}

/// A read-modify-write of registration `id`: `change` gets the stored registration and answers
/// the one to store, or `None` to leave it. Retried on a concurrent write. Answers what is
/// stored after it (`None`: no such registration).
pub async fn change_registration<S: RegistrationStore + ?Sized>(
    store: &S,
    id: &str,
    change: impl Fn(&Registration) -> Option<Registration>,
) -> StoreResult<Option<Registration>> {
    for _ in 0..8 {
        let Some(v) = store.get_registration(id).await? else {
            return Ok(None);
        };
        let Some(next) = change(&v.registration) else {
            return Ok(Some(v.registration));
        };
        match store.put_registration(&next, v.version).await {
            Ok(_) => return Ok(Some(next)),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}

/// The subject of the mini program a registration created: a trial's verification push names
/// only the trial's appid.
pub fn app_subject(appid: &AppId) -> String {
    digest(&["app", appid.as_str()])
}
