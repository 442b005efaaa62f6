//! Filing on the merchant's behalf (ICP 备案, and 认证 + 备案 in one): the media uploaded
//! through wxopen and remembered in the app's activity, the responsible person's face check,
//! the application checked field by field against WeChat's reference tables and the pages' field
//! rules before WeChat sees it, then applied; a withdrawal of an application still in the
//! platform's review.
//!
//! An application changes state at WeChat and is never repeated blindly: a doubt is recorded
//! before the call (the code lifecycle's mechanism, [`reconcile::write_doubt`], under
//! [`SingleUseKind::IcpApplicationInDoubt`]) and settled from `get_icp_entrance_info` (the status
//! moved into review: applied) by the call's own recovery read, or by the next application,
//! withdrawal or [`settle_application`]. While WeChat shows no trace of it and it may still
//! arrive ([`reconcile::APPLY_LATE_SECS`]), a new application is refused.

use super::OpsError;
use crate::Deps;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use wxopen::domain::{AppId, UnixTime};
use wxopen::failure::{Classify, Failure, Hint, StatusCode};
use wxopen::lifecycle::Action;
use wxopen::store::{Authorizer, SingleUseKind, StoreError};
use wxopen::wechat::icp::{
    AuthData, CancelApplyIcpFiling, CreateIcpVerifyTask, FaceStatus, FieldHint, GetIcpEntranceInfo,
    IcpApplets, IcpApplied, IcpEntrance, IcpMaterials, IcpMediaType, IcpStatus, IcpSubject,
    IcpTypes, PrincipalInfo, ProcedureStatus, QueryAuthAndIcp, QueryIcpCertificateTypes,
    QueryIcpDistrictCode, QueryIcpNrlxTypes, QueryIcpServiceContentTypes, QueryIcpSubjectTypes,
    QueryIcpVerifyTask, SmsVerifyStatus, SubmitAuthAndIcp, UploadIcpMedia,
};
use wxopen::wechat::reconcile::{self, APPLY_LATE_SECS};
use wxopen::wechat::WechatError;

/// The largest file taken (uploadIcpMedia's page gives no limit; WeChat's own filing pages take
/// images of at most 5 MB): larger files are refused before WeChat is asked.
pub const MEDIA_MAX_BYTES: usize = 5 * 1024 * 1024;
/// How long the reference tables are kept before they are fetched again (WeChat changes them
/// without notice, rarely).
const TABLES_KEEP_SECS: i64 = 86_400;
/// How many pages of the app's activity are searched for the media uploaded through wxopen.
const MEDIA_ACTIVITY_PAGES: usize = 5;

// ---------------------------------------------------------------------------------------------
// Refusals

pub use super::field_error::FieldError;

/// Which application a doubt or a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// apply_icp_filing.
    Filing,
    /// submit_auth_and_icp (认证 + 备案).
    AuthAndFiling,
}

/// Why filing on the merchant's behalf was refused; each with its code, facts and hint.
#[derive(Debug, thiserror::Error)]
pub enum FilingRefusal {
    /// wxopen's own check found fields at fault: WeChat was not asked.
    #[error("the filing data breaks {} rule(s): {}", fields.len(), fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>().join(", "))]
    InvalidFiling { fields: Vec<FieldError> },
    /// WeChat refused fields before any review (86202 with `hints`).
    #[error("WeChat refused the application's fields ({errcode}): {}", fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>().join(", "))]
    RefusedByWechat {
        errcode: i64,
        fields: Vec<FieldError>,
    },
    /// An application is with the platform or the administration already.
    #[error("an application is in review already (status {}): wait for its result, or withdraw it while the platform reviews it", status.code())]
    InReview { status: IcpStatus },
    #[error("the mini program is filed already")]
    AlreadyFiled,
    /// `available` is 0: WeChat takes no application now.
    #[error("WeChat's filing entrance is closed for this mini program (a keyword in its name, or the administration's system is down)")]
    EntranceClosed { status: IcpStatus },
    /// Not filed, and the mini program lacks what an application needs first.
    #[error("the mini program cannot apply yet: {}", missing.join(", "))]
    NotReady {
        status: IcpStatus,
        missing: Vec<&'static str>,
    },
    /// An earlier application's answer was lost and WeChat does not show (or could not be
    /// asked) whether it arrived: applying again could apply twice.
    #[error("an application sent at {since} may have reached WeChat (its answer was lost) and is not settled yet{}", if *asked { "" } else { ": WeChat could not be asked" })]
    InDoubt {
        flow: Flow,
        since: UnixTime,
        /// Whether WeChat was asked (and showed no trace yet) or could not be asked.
        asked: bool,
        retry_after: i64,
    },
    /// A combined application is in progress at WeChat (86324).
    #[error("a verification + filing application of this mini program is in progress at WeChat")]
    AuthAndFilingInProgress,
    /// Nothing to withdraw.
    #[error("there is no application to withdraw (status {})", status.code())]
    NothingToCancel { status: IcpStatus },
    /// Past the platform's review: WeChat no longer withdraws it (86330).
    #[error("the application has passed the platform's review: WeChat no longer withdraws it")]
    CancelTooLate { status: IcpStatus },
    /// No combined application recorded for the app (GET auth-and-filing without one).
    #[error(
        "no verification + filing application was submitted through wxopen for this mini program"
    )]
    NoProcedure,
    /// No face check started through wxopen for the app (GET verify-task without one).
    #[error("no face check was started through wxopen for this mini program")]
    NoVerifyTask,
}

impl FilingRefusal {
    fn hint(&self) -> Hint {
        let h = Hint::new;
        match self {
            FilingRefusal::InvalidFiling { .. } => h("fix each field listed in `fields` (each says what is wrong in English and Chinese) and apply again; WeChat was not asked", "请按 fields 中每一项的说明修正对应字段后重新提交；本次未提交给微信"),
            FilingRefusal::RefusedByWechat { .. } => h("WeChat refused the listed fields before review: fix them (upload a new image through POST .../filing/media where a media_id is refused) and apply again", "微信在审核前驳回了所列字段：请修正（图片类字段请通过 POST .../filing/media 重新上传）后重新提交"),
            FilingRefusal::InReview { .. } => h("wait for the review's result (GET .../filing); an application still in the platform's review can be withdrawn (DELETE .../filing)", "备案正在审核中：请等待审核结果；平台审核中的申请可撤回（DELETE .../filing）"),
            FilingRefusal::AlreadyFiled => h("the mini program is filed: nothing to apply for", "该小程序已完成备案，无需再次提交"),
            FilingRefusal::EntranceClosed { .. } => h("WeChat takes no filing for this mini program now: check its name for restricted words, or try again later", "微信当前不接受该小程序的备案申请：请检查名称是否含受限词汇，或稍后再试"),
            FilingRefusal::NotReady { .. } => h("complete what is missing in the mini program's settings (name, avatar and introduction, category, verification) first", "请先补全小程序的名称、头像与简介、类目或完成认证后再提交备案"),
            FilingRefusal::InDoubt { .. } => h("an earlier application's answer was lost: wxopen settles it from WeChat's filing status before applying again, so as not to apply twice; try again after retry_after_secs", "上一次提交的结果未知（应答丢失）：为避免重复提交，wxopen 须先从微信的备案状态确认，请在 retry_after_secs 秒后重试"),
            FilingRefusal::AuthAndFilingInProgress => h("a verification + filing application is in progress at WeChat: follow it with GET .../auth-and-filing, or in WeChat's console if its procedure_id was lost", "该小程序已有进行中的认证及备案申请：请通过 GET .../auth-and-filing 查看进度；若 procedure_id 丢失，请在微信后台查看"),
            FilingRefusal::NothingToCancel { .. } => h("no application is in review: there is nothing to withdraw", "当前没有审核中的备案申请，无需撤回"),
            FilingRefusal::CancelTooLate { .. } => h("the application is with the administration (管局): WeChat no longer withdraws it; wait for its result", "备案已进入管局审核，无法撤回：请等待审核结果"),
            FilingRefusal::NoProcedure => h("submit one first (POST .../auth-and-filing)", "请先提交认证及备案申请（POST .../auth-and-filing）"),
            FilingRefusal::NoVerifyTask => h("start one first (POST .../filing/verify-task), or name it with ?task_id=", "请先发起人脸核身（POST .../filing/verify-task），或用 ?task_id= 指定任务"),
        }
    }
}

fn conflict(code: &'static str) -> Failure {
    Failure::new(StatusCode::CONFLICT, code)
}

impl Classify for FilingRefusal {
    fn classify(&self) -> Failure {
        let f = match self {
            FilingRefusal::InvalidFiling { fields } => {
                Failure::new(StatusCode::BAD_REQUEST, "invalid_filing")
                    .fact("fields", json!(fields))
            }
            FilingRefusal::RefusedByWechat { errcode, fields } => {
                Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "filing_refused")
                    .fact("errcode", *errcode)
                    .fact("fields", json!(fields))
            }
            FilingRefusal::InReview { status } => conflict("filing_in_review")
                .fact("status", filing_status(*status))
                .fact("wechat_status", status.code()),
            FilingRefusal::AlreadyFiled => conflict("already_filed"),
            FilingRefusal::EntranceClosed { status } => conflict("filing_entrance_closed")
                .fact("wechat_status", status.code())
                .fact("available", 0),
            FilingRefusal::NotReady { status, missing } => conflict("filing_not_ready")
                .fact("wechat_status", status.code())
                .fact("missing", json!(missing)),
            FilingRefusal::InDoubt {
                flow,
                since,
                asked,
                retry_after,
            } => {
                let f = conflict("filing_in_doubt")
                    .fact("flow", json!(flow))
                    .fact("since", *since)
                    .fact("wechat_asked", *asked)
                    .fact("retry_after_secs", *retry_after);
                match u64::try_from(*retry_after) {
                    Ok(secs) => f.retry_after(secs),
                    Err(_) => f,
                }
            }
            FilingRefusal::AuthAndFilingInProgress => conflict("auth_and_filing_in_progress"),
            FilingRefusal::NothingToCancel { status } => conflict("nothing_to_cancel")
                .fact("status", filing_status(*status))
                .fact("wechat_status", status.code()),
            FilingRefusal::CancelTooLate { status } => conflict("cancel_too_late")
                .fact("status", filing_status(*status))
                .fact("wechat_status", status.code()),
            FilingRefusal::NoProcedure => Failure::new(StatusCode::NOT_FOUND, "no_procedure"),
            FilingRefusal::NoVerifyTask => Failure::new(StatusCode::NOT_FOUND, "no_verify_task"),
        };
        f.hint(Some(self.hint()))
    }
}

/// A filing status as a word (the filing view's words).
pub fn filing_status(s: IcpStatus) -> &'static str {
    match s {
        IcpStatus::PlatformReview => "platform_review",
        IcpStatus::PlatformRejected => "platform_rejected",
        IcpStatus::AdministrationReview => "administration_review",
        IcpStatus::AdministrationRejected => "administration_rejected",
        IcpStatus::Filed => "filed",
        IcpStatus::NotFiled(_) => "not_filed",
        IcpStatus::Unknown(_) => "unknown",
    }
}

// ---------------------------------------------------------------------------------------------
// Media

/// `POST .../filing/media`: one file, base64 in JSON (API Gateway passes JSON through as it is;
/// a multipart body would reach the function base64-encoded anyway).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaBody {
    /// The application field the file is for, e.g. `icp_subject.principal_info.certificate_photo_front`.
    pub icp_order_field: String,
    /// `image` or `video`; from `content_type` when absent.
    #[serde(default, rename = "type")]
    pub media_type: Option<IcpMediaType>,
    /// The certificate's type, required for a certificate's photo.
    #[serde(default)]
    pub certificate_type: Option<i64>,
    #[serde(default)]
    pub filename: Option<String>,
    /// `image/jpeg`, `image/png`, `video/mp4`…
    pub content_type: String,
    /// The file, base64 (standard alphabet).
    pub data_base64: String,
}

/// The fields of an application that take a media_id (`icp_materials.*` besides).
const MEDIA_FIELDS: &[&str] = &[
    "icp_subject.personal_info.residence_permit",
    "icp_subject.organize_info.certificate_photo",
    "icp_subject.principal_info.certificate_photo_front",
    "icp_subject.principal_info.certificate_photo_back",
    "icp_subject.principal_info.authorization_letter",
    "icp_applets.principal_info.certificate_photo_front",
    "icp_applets.principal_info.certificate_photo_back",
    "icp_applets.principal_info.authorization_letter",
    "icp_applets.base_info.nrlx_details.media",
];

fn is_media_field(f: &str) -> bool {
    MEDIA_FIELDS.contains(&f)
        || f.strip_prefix("icp_materials.").is_some_and(|k| {
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
}

/// A media uploaded through wxopen, as the app's activity remembers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadedMedia {
    pub media_id: String,
    #[serde(rename = "type")]
    pub media_type: IcpMediaType,
    pub icp_order_field: String,
    #[serde(default)]
    pub certificate_type: Option<i64>,
    pub created_at: i64,
    pub bytes: usize,
    /// The file's SHA-256 (never the file: a certificate's photo is personal data).
    pub sha256: String,
}

impl MediaBody {
    /// What serde cannot say: the field, the type, the certificate type, the file.
    fn check(self) -> Result<UploadIcpMedia, OpsError> {
        let bad = |field: &str, en: &str, zh: &str| -> OpsError {
            FilingRefusal::InvalidFiling {
                fields: vec![FieldError::new(field, en, zh)],
            }
            .into()
        };
        if !is_media_field(&self.icp_order_field) {
            return Err(bad(
                "icp_order_field",
                "not a field of the application that takes a media_id (e.g. icp_subject.principal_info.certificate_photo_front, icp_materials.commitment_letter)",
                "不是备案申请中需要 media_id 的字段（例如 icp_subject.principal_info.certificate_photo_front、icp_materials.commitment_letter）",
            ));
        }
        let media_type = match self.media_type {
            Some(t) => t,
            None if self.content_type.starts_with("image/") => IcpMediaType::Image,
            None if self.content_type.starts_with("video/") => IcpMediaType::Video,
            None => {
                return Err(bad(
                    "type",
                    "say whether the file is an image or a video (type, or an image/… or video/… content_type)",
                    "请说明文件是图片还是视频（type，或 image/…、video/… 的 content_type）",
                ))
            }
        };
        if self.icp_order_field.contains("certificate_photo") && self.certificate_type.is_none() {
            return Err(bad(
                "certificate_type",
                "a certificate's photo needs its certificate_type (from query_icp_certificate_types)",
                "证件照片须同时提供证件类型 certificate_type",
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.data_base64.trim())
            .map_err(|_| {
                bad(
                    "data_base64",
                    "not base64 (standard alphabet)",
                    "不是有效的 base64 编码",
                )
            })?;
        if bytes.is_empty() {
            return Err(bad("data_base64", "the file is empty", "文件为空"));
        }
        if bytes.len() > MEDIA_MAX_BYTES {
            return Err(bad(
                "data_base64",
                "the file is larger than 5 MB",
                "文件超过 5 MB",
            ));
        }
        let filename = self
            .filename
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| "media".to_owned());
        Ok(UploadIcpMedia {
            media_type,
            certificate_type: self.certificate_type,
            icp_order_field: self.icp_order_field,
            filename,
            content_type: self.content_type,
            bytes,
        })
    }
}

/// Uploads one file for the application and remembers its media_id in the app's activity.
/// Never repeated: each upload is a new media_id (a lost answer is uploaded again by the
/// operator; the lost one is never used).
pub async fn upload_media(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    body: MediaBody,
) -> Result<UploadedMedia, OpsError> {
    let req = body.check()?;
    let sha256 = hex::encode(Sha256::digest(&req.bytes));
    let got = deps.mgr.wxa(&a.appid).call(&req).await?;
    let media = UploadedMedia {
        media_id: got.media_id,
        media_type: got.media_type,
        icp_order_field: req.icp_order_field.clone(),
        certificate_type: req.certificate_type,
        created_at: got.created_at,
        bytes: req.bytes.len(),
        sha256,
    };
    let details = json!(media);
    deps.record(operator, &a.appid, Action::UploadIcpMedia, |x| {
        x.details = details
    })
    .await;
    Ok(media)
}

/// The media uploaded through wxopen for the app, by media_id (newest activity first).
async fn remembered_media(
    deps: &Deps,
    appid: &AppId,
) -> Result<BTreeMap<String, UploadedMedia>, OpsError> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MEDIA_ACTIVITY_PAGES {
        let page = deps
            .store
            .list_activity(appid, cursor.as_deref(), 100)
            .await?;
        for x in page.items.iter().filter(|x| x.is(Action::UploadIcpMedia)) {
            if let Ok(m) = serde_json::from_value::<UploadedMedia>(x.details.clone()) {
                out.entry(m.media_id.clone()).or_insert(m);
            }
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The face check

/// A face check started: what to show the merchant.
#[derive(Debug, Serialize)]
pub struct VerifyTaskStarted {
    pub task_id: String,
    pub along_with_auth: bool,
    /// The page the responsible person opens (only with `along_with_auth`; show it as a link or
    /// a QR code). Without it, WeChat sends the administrator a notice in WeChat itself.
    pub verify_url: Option<String>,
    /// When the task lapses (3 days, 1 day with `along_with_auth`).
    pub expires_at: UnixTime,
    /// What to tell the merchant.
    pub show_merchant: Value,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VerifyTaskBody {
    /// For the combined verification + filing flow (its `auth_data.taskid`).
    #[serde(default)]
    pub along_with_auth: bool,
}

/// Starts the responsible person's face check (create_icp_verifytask), remembered in the app's
/// activity. Never repeated: each call sends the administrator a new notice.
pub async fn start_verify_task(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    b: VerifyTaskBody,
) -> Result<VerifyTaskStarted, OpsError> {
    let req = CreateIcpVerifyTask {
        along_with_auth: b.along_with_auth,
    };
    let task = deps.mgr.wxa(&a.appid).call(&req).await?;
    let ttl = if b.along_with_auth {
        86_400
    } else {
        3 * 86_400
    };
    let expires_at = deps.clock.now() + ttl;
    let show_merchant = match &task.verify_url {
        Some(_) => json!({
            "en": "Ask the mini program's administrator to open verify_url in WeChat (or scan it as a QR code) and complete the face check within 24 hours.",
            "zh": "请小程序管理员在微信中打开 verify_url（或扫描其二维码）并在 24 小时内完成人脸核身。",
        }),
        None => json!({
            "en": "WeChat has sent the mini program's administrator a face-check notice in WeChat: ask them to open it and complete the check within 24 hours.",
            "zh": "微信已向小程序管理员发送人脸核身通知：请管理员在微信中打开通知，并在 24 小时内完成核身。",
        }),
    };
    let details = json!({
        "task_id": task.task_id,
        "along_with_auth": b.along_with_auth,
        "expires_at": expires_at,
    });
    deps.record(operator, &a.appid, Action::CreateIcpVerifyTask, |x| {
        x.details = details
    })
    .await;
    Ok(VerifyTaskStarted {
        task_id: task.task_id,
        along_with_auth: b.along_with_auth,
        verify_url: task.verify_url,
        expires_at,
        show_merchant,
    })
}

/// A face check's state as `face_status` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceCheck {
    NotStarted,
    Waiting,
    Failed,
    Succeeded,
    Unknown,
}

impl From<FaceStatus> for FaceCheck {
    fn from(s: FaceStatus) -> Self {
        match s {
            FaceStatus::NotStarted => FaceCheck::NotStarted,
            FaceStatus::Waiting => FaceCheck::Waiting,
            FaceStatus::Failed => FaceCheck::Failed,
            FaceStatus::Succeeded => FaceCheck::Succeeded,
            FaceStatus::Unknown(_) => FaceCheck::Unknown,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct VerifyTaskState {
    pub task_id: String,
    pub is_finish: bool,
    pub face_status: FaceCheck,
    pub wechat_face_status: i64,
    /// With `along_with_auth`: 9 once the verification's SMS check passed.
    pub along_with_auth_result: Option<i64>,
}

/// The face check's state (query_icp_verifytask): `task_id`, or the latest one started
/// through wxopen.
pub async fn verify_task_state(
    deps: &Deps,
    a: &Authorizer,
    task_id: Option<String>,
) -> Result<VerifyTaskState, OpsError> {
    let task_id = given_or_latest(
        deps,
        &a.appid,
        task_id,
        Action::CreateIcpVerifyTask,
        "task_id",
        FilingRefusal::NoVerifyTask,
    )
    .await?;
    let got = deps
        .mgr
        .wxa(&a.appid)
        .call(&QueryIcpVerifyTask {
            task_id: task_id.clone(),
        })
        .await
        .map_err(|e| match e.errcode() {
            Some(86328) => OpsError::NotFound { what: "face check" },
            _ => e.into(),
        })?;
    Ok(VerifyTaskState {
        task_id,
        is_finish: got.is_finish,
        face_status: got.face_status.into(),
        wechat_face_status: got.face_status.code(),
        along_with_auth_result: got.along_with_auth_result,
    })
}

/// `given` when the caller named one, else a string detail (`key`) of the app's latest activity
/// of `action`, else the refusal `none`.
async fn given_or_latest(
    deps: &Deps,
    appid: &AppId,
    given: Option<String>,
    action: Action,
    key: &str,
    none: FilingRefusal,
) -> Result<String, OpsError> {
    if let Some(g) = given.filter(|g| !g.is_empty()) {
        return Ok(g);
    }
    Ok(super::app::recent_activity(deps.store.as_ref(), appid)
        .await?
        .into_iter()
        .find(|x| x.is(action))
        .and_then(|x| x.details[key].as_str().map(str::to_owned))
        .ok_or(none)?)
}

// ---------------------------------------------------------------------------------------------
// The reference tables

/// One row of a reference table, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRow {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub subject_type: Option<i64>,
    #[serde(default)]
    pub parent_type: Option<i64>,
}

/// A province, city or district (codes as numbers; the application sends them as strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistrictRow {
    pub code: i64,
    pub name: String,
    /// Empty for a district (and then not kept: the table is kept as one store item).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub: Vec<DistrictRow>,
}

/// WeChat's reference tables, fetched through wxopen and kept a day
/// ([`SingleUseKind::IcpReferenceTables`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceTables {
    pub subject_types: Vec<TypeRow>,
    pub certificate_types: Vec<TypeRow>,
    pub nrlx_types: Vec<TypeRow>,
    pub service_content_types: Vec<TypeRow>,
    pub districts: Vec<DistrictRow>,
}

fn rows(t: IcpTypes) -> Vec<TypeRow> {
    t.items
        .into_iter()
        .map(|i| TypeRow {
            id: i.id,
            name: i.name,
            subject_type: i.subject_type,
            parent_type: i.parent_type,
        })
        .collect()
}

fn district_rows(list: Vec<wxopen::wechat::icp::IcpDistrict>) -> Vec<DistrictRow> {
    list.into_iter()
        .map(|d| DistrictRow {
            code: d.code,
            name: d.name,
            sub: district_rows(d.sub_list),
        })
        .collect()
}

const TABLES_ID: &str = "all";

/// The reference tables: the kept copy while it is younger than a day, else fetched (five
/// reads with the app's token) and kept.
pub async fn reference_tables(deps: &Deps, appid: &AppId) -> Result<ReferenceTables, OpsError> {
    let store = deps.store.as_ref();
    let now = deps.clock.now();
    if let Some(item) = store
        .peek_single_use(SingleUseKind::IcpReferenceTables, TABLES_ID, now)
        .await?
    {
        if let Ok(t) = serde_json::from_value::<ReferenceTables>(item.payload) {
            return Ok(t);
        }
    }
    let wxa = deps.mgr.wxa(appid);
    let tables = ReferenceTables {
        subject_types: rows(wxa.call(&QueryIcpSubjectTypes {}).await?),
        certificate_types: rows(wxa.call(&QueryIcpCertificateTypes {}).await?),
        nrlx_types: rows(wxa.call(&QueryIcpNrlxTypes {}).await?),
        service_content_types: rows(wxa.call(&QueryIcpServiceContentTypes {}).await?),
        districts: district_rows(wxa.call(&QueryIcpDistrictCode {}).await?.items),
    };
    let payload = json!(tables);
    store
        .delete_single_use(SingleUseKind::IcpReferenceTables, TABLES_ID)
        .await?;
    match store
        .create_single_use(
            SingleUseKind::IcpReferenceTables,
            TABLES_ID,
            &payload,
            now,
            now + TABLES_KEEP_SECS,
        )
        .await
    {
        // Kept by a concurrent check meanwhile: the same tables.
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(e) => {
            tracing::warn!(error = %e, "the ICP reference tables were not kept; the next check fetches them again")
        }
    }
    Ok(tables)
}

// ---------------------------------------------------------------------------------------------
// The application and its check

/// `POST .../filing`: the subject, the mini program and the materials, as apply_icp_filing
/// takes them.
#[derive(Debug, Clone, Deserialize)]
pub struct FilingApplication {
    pub icp_subject: IcpSubject,
    pub icp_applets: IcpApplets,
    #[serde(default)]
    pub icp_materials: IcpMaterials,
}

/// `POST .../auth-and-filing`: the verification's data besides.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthAndFilingApplication {
    pub auth_data: AuthData,
    #[serde(flatten)]
    pub filing: FilingApplication,
}

/// Parses an application body: a field serde cannot read is a field error too.
pub fn parse_application<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, OpsError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let field = e.path().to_string();
        let reason = e.inner().to_string();
        FilingRefusal::InvalidFiling {
            fields: vec![FieldError::new(
                if field == "." { String::new() } else { field },
                format!("missing or of the wrong type: {reason}"),
                format!("字段缺失或类型不正确：{reason}"),
            )],
        }
        .into()
    })
}

/// What [`check`] needs besides the application: the tables, the app and its media.
pub struct CheckContext<'a> {
    pub tables: &'a ReferenceTables,
    pub appid: &'a AppId,
    pub media: &'a BTreeMap<String, UploadedMedia>,
    /// The combined flow: the face check is `auth_data.taskid`, not the principal's task.
    pub combined: bool,
}

fn is_mobile(s: &str) -> bool {
    s.len() == 11 && s.starts_with('1') && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && !domain.contains('@')
                && domain
                    .split_once('.')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// A mainland resident ID number: 17 digits and a check character (GB 11643).
fn is_resident_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b[17].to_ascii_uppercase() == CHECK[(sum % 11) as usize]
}

fn date(s: &str) -> Option<time::Date> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// The field rules of the application pages (applyIcpFiling, submitAuthAndIcp) and the
/// reference tables, checked before WeChat sees anything; every field at fault is listed.
pub fn check(app: &FilingApplication, cx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut err = |f: &str, en: &str, zh: &str| out.push(FieldError::new(f, en, zh));
    let t = cx.tables;
    let required = |v: &str| !v.trim().is_empty();

    // The subject.
    let base = &app.icp_subject.base_info;
    let subject_type = t.subject_types.iter().find(|r| r.id == base.subject_type);
    if subject_type.is_none() {
        err(
            "icp_subject.base_info.type",
            "not a subject type of query_icp_subject_types",
            "主体性质不在 query_icp_subject_types 的取值中",
        );
    }
    if !required(base.name.expose()) {
        err(
            "icp_subject.base_info.name",
            "the subject's name is required",
            "主办单位名称不能为空",
        );
    }
    if !required(base.address.expose()) {
        err(
            "icp_subject.base_info.address",
            "the address is required (without province, city and district)",
            "通讯地址不能为空（不含省市区）",
        );
    }
    let code = |s: &str| s.trim().parse::<i64>().ok();
    let province = code(&base.province).and_then(|c| t.districts.iter().find(|d| d.code == c));
    let city =
        province.and_then(|p| code(&base.city).and_then(|c| p.sub.iter().find(|d| d.code == c)));
    let district =
        city.and_then(|p| code(&base.district).and_then(|c| p.sub.iter().find(|d| d.code == c)));
    if province.is_none() {
        err(
            "icp_subject.base_info.province",
            "not a province code of query_icp_district_code",
            "省份代码不在 query_icp_district_code 中",
        );
    } else if city.is_none() {
        err(
            "icp_subject.base_info.city",
            "not a city of that province in query_icp_district_code",
            "城市代码不属于该省份",
        );
    } else if district.is_none() {
        err(
            "icp_subject.base_info.district",
            "not a district of that city in query_icp_district_code",
            "区县代码不属于该城市",
        );
    }
    let org = &app.icp_subject.organize_info;
    let fits = t.certificate_types.iter().any(|r| {
        r.id == org.certificate_type
            && (r.subject_type.is_none() || r.subject_type == Some(base.subject_type))
    });
    if !fits {
        err(
            "icp_subject.organize_info.certificate_type",
            "not a certificate type of query_icp_certificate_types for this subject type",
            "证件类型不在 query_icp_certificate_types 中，或与主体性质不符",
        );
    }
    if !required(org.certificate_number.expose()) {
        err(
            "icp_subject.organize_info.certificate_number",
            "the certificate's number is required",
            "证件号码不能为空",
        );
    }
    if !required(org.certificate_address.expose()) {
        err(
            "icp_subject.organize_info.certificate_address",
            "the address on the certificate is required",
            "证件住所不能为空",
        );
    }
    let media = |field: &str, id: &str, needed: bool, out: &mut Vec<FieldError>| {
        if id.is_empty() {
            if needed {
                out.push(FieldError::new(
                    field,
                    "required: upload the file first (POST .../filing/media) and give its media_id",
                    "必填：请先上传文件（POST .../filing/media）并填写返回的 media_id",
                ));
            }
        } else if !cx.media.contains_key(id) {
            out.push(FieldError::new(field, "not a media_id uploaded through wxopen for this mini program (POST .../filing/media)", "不是通过 wxopen 为该小程序上传的 media_id（POST .../filing/media）"));
        }
    };
    media(
        "icp_subject.organize_info.certificate_photo",
        &org.certificate_photo,
        true,
        &mut out,
    );
    if let Some(p) = &app.icp_subject.personal_info {
        media(
            "icp_subject.personal_info.residence_permit",
            &p.residence_permit,
            false,
            &mut out,
        );
    }
    if let Some(l) = &app.icp_subject.legal_person_info {
        if !required(l.name.expose()) {
            out.push(FieldError::new(
                "icp_subject.legal_person_info.name",
                "the legal representative's name is required",
                "法人姓名不能为空",
            ));
        }
        if !required(l.certificate_number.expose()) {
            out.push(FieldError::new(
                "icp_subject.legal_person_info.certificate_number",
                "the legal representative's ID number is required",
                "法人身份证号码不能为空",
            ));
        }
    }
    for (who, p) in [
        (
            "icp_subject.principal_info",
            &app.icp_subject.principal_info,
        ),
        (
            "icp_applets.principal_info",
            &app.icp_applets.principal_info,
        ),
    ] {
        principal(who, p, t, &mut out);
        media(
            &format!("{who}.certificate_photo_front"),
            &p.certificate_photo_front,
            true,
            &mut out,
        );
        media(
            &format!("{who}.certificate_photo_back"),
            &p.certificate_photo_back,
            true,
            &mut out,
        );
        media(
            &format!("{who}.authorization_letter"),
            &p.authorization_letter,
            false,
            &mut out,
        );
    }
    if !cx.combined
        && app
            .icp_applets
            .principal_info
            .verify_task_id
            .trim()
            .is_empty()
    {
        out.push(FieldError::new("icp_applets.principal_info.verify_task_id", "required: start the responsible person's face check (POST .../filing/verify-task) and give its task_id once it succeeded", "必填：请先发起负责人人脸核身（POST .../filing/verify-task），核身成功后填写其 task_id"));
    }

    // The mini program.
    let applet = &app.icp_applets.base_info;
    if applet.appid != cx.appid.as_str() {
        out.push(FieldError::new(
            "icp_applets.base_info.appid",
            "must be the appid of the mini program being filed",
            "须为本次备案的小程序 appid",
        ));
    }
    if applet.name.trim().is_empty() {
        out.push(FieldError::new(
            "icp_applets.base_info.name",
            "the mini program's name is required",
            "小程序名称不能为空",
        ));
    }
    let second_level = |id: &i64| {
        t.service_content_types
            .iter()
            .any(|r| r.id == *id && r.parent_type.is_some_and(|p| p != 0))
    };
    if applet.service_content_types.is_empty()
        || !applet.service_content_types.iter().all(second_level)
    {
        out.push(FieldError::new("icp_applets.base_info.service_content_types", "give at least one second-level type of query_icp_service_content_types (parent_type not 0)", "请至少填写一个 query_icp_service_content_types 中的二级服务内容类型（parent_type 不为 0）"));
    }
    for (i, d) in applet.nrlx_details.iter().enumerate() {
        if !t.nrlx_types.iter().any(|r| r.id == d.nrlx_type) {
            out.push(FieldError::new(
                format!("icp_applets.base_info.nrlx_details[{i}].type"),
                "not a type of query_icp_nrlx_types",
                "前置审批项类型不在 query_icp_nrlx_types 中",
            ));
        }
        media(
            &format!("icp_applets.base_info.nrlx_details[{i}].media"),
            &d.media,
            false,
            &mut out,
        );
    }

    // The materials.
    let m = &app.icp_materials;
    let listed = [
        ("commitment_letter", &m.commitment_letter),
        (
            "business_name_change_letter",
            &m.business_name_change_letter,
        ),
        (
            "party_building_confirmation_letter",
            &m.party_building_confirmation_letter,
        ),
    ];
    for (k, ids) in listed {
        for (i, id) in ids.iter().enumerate() {
            media(&format!("icp_materials.{k}[{i}]"), id, true, &mut out);
        }
    }
    for (k, v) in &m.other {
        let ids: Vec<&str> = match v {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            Value::String(s) => vec![s.as_str()],
            _ => vec![],
        };
        for (i, id) in ids.iter().enumerate() {
            media(&format!("icp_materials.{k}[{i}]"), id, true, &mut out);
        }
    }
    out
}

/// The rules of a responsible person (主体负责人, 小程序负责人).
fn principal(who: &str, p: &PrincipalInfo, t: &ReferenceTables, out: &mut Vec<FieldError>) {
    let mut err =
        |f: &str, en: &str, zh: &str| out.push(FieldError::new(format!("{who}.{f}"), en, zh));
    if p.name.expose().trim().is_empty() {
        err(
            "name",
            "the responsible person's name is required",
            "负责人姓名不能为空",
        );
    }
    if !is_mobile(p.mobile.expose()) {
        err(
            "mobile",
            "a mainland mobile number: 11 digits starting with 1",
            "请填写 11 位、以 1 开头的手机号码",
        );
    }
    if !is_email(p.email.expose()) {
        err(
            "email",
            "an e-mail address (name@example.com)",
            "请填写有效的电子邮件地址",
        );
    }
    if !is_mobile(p.emergency_contact.expose()) {
        err(
            "emergency_contact",
            "an emergency mobile number: 11 digits starting with 1",
            "应急联系电话须为 11 位、以 1 开头的手机号码",
        );
    } else if p.emergency_contact.expose() == p.mobile.expose() {
        err(
            "emergency_contact",
            "the emergency number must differ from the mobile number",
            "应急联系电话不能与手机号码相同",
        );
    }
    let cert = t
        .certificate_types
        .iter()
        .find(|r| r.id == p.certificate_type);
    match cert {
        None => err(
            "certificate_type",
            "not a certificate type of query_icp_certificate_types",
            "证件类型不在 query_icp_certificate_types 中",
        ),
        Some(c)
            if c.name.contains("居民身份证") && !is_resident_id(p.certificate_number.expose()) =>
        {
            err(
                "certificate_number",
                "not a valid resident ID number (18 characters, the last a check digit or X)",
                "不是有效的居民身份证号码（18 位，末位为校验码或 X）",
            )
        }
        Some(_) if p.certificate_number.expose().trim().is_empty() => err(
            "certificate_number",
            "the certificate's number is required",
            "证件号码不能为空",
        ),
        Some(_) => {}
    }
    let start = date(&p.certificate_validity_date_start);
    if start.is_none() {
        err(
            "certificate_validity_date_start",
            "a date as YYYY-MM-DD",
            "请按 YYYY-MM-DD 填写日期",
        );
    }
    let end = p.certificate_validity_date_end.as_str();
    if end != "长期" {
        match (start, date(end)) {
            (_, None) => err(
                "certificate_validity_date_end",
                "a date as YYYY-MM-DD, or 长期 for no end",
                "请按 YYYY-MM-DD 填写日期，长期有效请填写“长期”",
            ),
            (Some(s), Some(e)) if e <= s => err(
                "certificate_validity_date_end",
                "the validity must end after it starts",
                "有效期结束日期须晚于开始日期",
            ),
            _ => {}
        }
    }
}

/// The verification's data of the combined flow (submitAuthAndIcp's `auth_data`).
pub fn check_auth_data(d: &AuthData) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut err =
        |f: &str, en: &str, zh: &str| out.push(FieldError::new(format!("auth_data.{f}"), en, zh));
    if !matches!(d.customer_type, 1 | 12 | 15) {
        err(
            "customer_type",
            "1 enterprise, 12 individual business, 15 person",
            "主体类型：企业为 1，个体工商户为 12，个人为 15",
        );
    }
    if d.taskid.trim().is_empty() {
        err("taskid", "required: the face check started with along_with_auth (POST .../filing/verify-task {\"along_with_auth\": true})", "必填：请先发起认证场景的人脸核身（along_with_auth: true）并填写其 task_id");
    }
    if d.contact_info.name.expose().trim().is_empty() {
        err(
            "contact_info.name",
            "the contact's name is required",
            "联系人姓名不能为空",
        );
    }
    if !is_email(d.contact_info.email.expose()) {
        err(
            "contact_info.email",
            "an e-mail address (name@example.com)",
            "请填写有效的联系人电子邮件地址",
        );
    }
    if d.account_name.trim().is_empty() {
        err(
            "account_name",
            "the account name is required",
            "小程序名称不能为空",
        );
    }
    if !matches!(d.account_name_type, 1 | 2) {
        err(
            "account_name_type",
            "1 a name of its own choosing, 2 a trademark",
            "名称命名类型：1 自选词汇，2 商标",
        );
    }
    if !matches!(d.pay_type, 1 | 2) {
        err(
            "pay_type",
            "1 the provider's prepaid package, 2 the merchant pays",
            "支付方式：1 服务商预购包，2 开发者自行支付",
        );
    }
    out
}

/// The face check named in a locally valid application, asked of WeChat: finished and passed.
async fn check_face(
    deps: &Deps,
    appid: &AppId,
    field: &str,
    task_id: &str,
    out: &mut Vec<FieldError>,
) -> Result<(), OpsError> {
    if task_id.trim().is_empty() {
        return Ok(());
    }
    let req = QueryIcpVerifyTask {
        task_id: task_id.to_owned(),
    };
    match deps.mgr.wxa(appid).call(&req).await {
        Ok(s) if s.is_finish && s.face_status == FaceStatus::Succeeded => {}
        Ok(s) if s.is_finish => out.push(FieldError::new(
            field,
            "the face check failed: start a new one (POST .../filing/verify-task)",
            "人脸核身未通过：请重新发起（POST .../filing/verify-task）",
        )),
        Ok(_) => out.push(FieldError::new(
            field,
            "the face check is not finished: ask the responsible person to complete it, then apply",
            "人脸核身尚未完成：请负责人完成核身后再提交",
        )),
        Err(e) if matches!(e.errcode(), Some(86328) | Some(1)) => out.push(FieldError::new(
            field,
            "no such face check of this mini program, or it lapsed: start a new one",
            "找不到该小程序的此人脸核身任务，或已过期：请重新发起",
        )),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Every check of an application before WeChat sees it: the tables, the rules, the media
/// uploaded through wxopen, then (only when all that passes) the face check asked of WeChat.
async fn check_all(
    deps: &Deps,
    a: &Authorizer,
    app: &FilingApplication,
    auth: Option<&AuthData>,
) -> Result<(), OpsError> {
    let tables = reference_tables(deps, &a.appid).await?;
    let media = remembered_media(deps, &a.appid).await?;
    let cx = CheckContext {
        tables: &tables,
        appid: &a.appid,
        media: &media,
        combined: auth.is_some(),
    };
    let mut fields = check(app, &cx);
    if let Some(d) = auth {
        fields.extend(check_auth_data(d));
    }
    if fields.is_empty() {
        let task = &app.icp_applets.principal_info.verify_task_id;
        let field = "icp_applets.principal_info.verify_task_id";
        check_face(deps, &a.appid, field, task, &mut fields).await?;
        if let Some(d) = auth {
            check_face(deps, &a.appid, "auth_data.taskid", &d.taskid, &mut fields).await?;
        }
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(FilingRefusal::InvalidFiling { fields }.into())
    }
}

// ---------------------------------------------------------------------------------------------
// The doubt of a lost answer

/// An application that may have reached WeChat, recorded before the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationDoubt {
    pub flow: Flow,
    pub since: UnixTime,
    /// The status before the call: the application shows as a move away from it.
    pub from_status: i64,
    /// The operator who applied (the settlement records the application under this label).
    pub operator: String,
}

/// How an application in doubt stands after asking WeChat.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    NoDoubt,
    /// WeChat took it: recorded in the activity.
    Applied {
        flow: Flow,
        since: UnixTime,
    },
    /// No trace of it yet; `dropped`: too long ago to arrive, so the doubt is gone.
    NotTaken {
        dropped: bool,
        doubt: ApplicationDoubt,
    },
}

/// Whether the filing status shows the application sent from `from`: it is in review, or it
/// moved to a decision since. (Rejected again at the same stage before the read is not told
/// apart: that doubt is kept until [`APPLY_LATE_SECS`] and then dropped.)
fn shows_application(from: IcpStatus, now: IcpStatus) -> bool {
    // No application is sent while one is in review: a review then is someone else's.
    if from.in_review() {
        return false;
    }
    now.in_review()
        || (now != from
            && matches!(
                now,
                IcpStatus::PlatformRejected | IcpStatus::AdministrationRejected | IcpStatus::Filed
            ))
}

async fn doubt(deps: &Deps, appid: &AppId) -> Result<Option<ApplicationDoubt>, OpsError> {
    let now = deps.clock.now();
    Ok(reconcile::read_doubt(
        deps.store.as_ref(),
        SingleUseKind::IcpApplicationInDoubt,
        appid.as_str(),
        now,
    )
    .await?)
}

/// Settles the app's application in doubt against `entrance`, the filing status just read.
async fn settle_with(
    deps: &Deps,
    appid: &AppId,
    d: ApplicationDoubt,
    entrance: Option<&IcpEntrance>,
) -> Settlement {
    let store = deps.store.as_ref();
    let taken = d.flow == Flow::Filing
        && entrance
            .is_some_and(|e| shows_application(IcpStatus::from_code(d.from_status), e.status));
    if taken {
        deps.record(&d.operator, appid, Action::ApplyIcpFiling, |x| {
            x.at = d.since;
            x.details = json!({ "reconciled": true });
        })
        .await;
        reconcile::clear_doubt(store, SingleUseKind::IcpApplicationInDoubt, appid.as_str()).await;
        tracing::info!(%appid, "a filing application in doubt was taken by WeChat; recorded");
        return Settlement::Applied {
            flow: d.flow,
            since: d.since,
        };
    }
    let dropped = deps.clock.now() - d.since >= APPLY_LATE_SECS;
    if dropped {
        reconcile::clear_doubt(store, SingleUseKind::IcpApplicationInDoubt, appid.as_str()).await;
        tracing::info!(%appid, "a filing application in doubt was never taken by WeChat; dropped");
    }
    Settlement::NotTaken { dropped, doubt: d }
}

/// Asks WeChat (get_icp_entrance_info) about the app's application in doubt, if there is one;
/// for the census and the filing pushes as for the next application. A failed read leaves the
/// doubt for the next chance.
pub async fn settle_application(deps: &Deps, appid: &AppId) -> Result<Settlement, OpsError> {
    let Some(d) = doubt(deps, appid).await? else {
        return Ok(Settlement::NoDoubt);
    };
    let entrance = deps.mgr.wxa(appid).call(&GetIcpEntranceInfo {}).await?.info;
    Ok(settle_with(deps, appid, d, Some(&entrance)).await)
}

/// Before any new application or withdrawal: an earlier application in doubt settled, or the
/// refusal that keeps it from being applied twice. `Some`: it had been taken (the answer this
/// request gets).
async fn settle_first(deps: &Deps, appid: &AppId) -> Result<Option<Settlement>, OpsError> {
    let Some(d) = doubt(deps, appid).await? else {
        return Ok(None);
    };
    let (flow, since) = (d.flow, d.since);
    let entrance = match deps.mgr.wxa(appid).call(&GetIcpEntranceInfo {}).await {
        Ok(e) => e.info,
        Err(WechatError::Store(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(%appid, error = %e, "the filing status could not be read; the application stays in doubt");
            return Err(FilingRefusal::InDoubt {
                flow,
                since,
                asked: false,
                retry_after: 60,
            }
            .into());
        }
    };
    match settle_with(deps, appid, d, Some(&entrance)).await {
        s @ Settlement::Applied { .. } => Ok(Some(s)),
        Settlement::NotTaken { dropped: true, .. } | Settlement::NoDoubt => Ok(None),
        Settlement::NotTaken { dropped: false, .. } => Err(FilingRefusal::InDoubt {
            flow,
            since,
            asked: true,
            retry_after: (since + APPLY_LATE_SECS - deps.clock.now()).max(1),
        }
        .into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Apply, cancel

/// An application WeChat took.
#[derive(Debug, Serialize)]
pub struct Applied {
    /// `applied`.
    pub status: &'static str,
    pub flow: Flow,
    /// The filing's status now, as the filing view says it.
    pub filing: &'static str,
    /// The combined flow's procedure (for GET .../auth-and-filing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procedure_id: Option<String>,
    /// The combined flow, when the merchant pays the verification fee: the page to pay on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_url: Option<String>,
    /// Its answer had been lost; WeChat's filing status says it was taken.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reconciled: bool,
}

/// Whether the filing status lets an application be sent now. The combined flow is for an app
/// not verified yet: that one lack does not hold it back.
fn open_for_application(e: &IcpEntrance, flow: Flow) -> Result<(), FilingRefusal> {
    match e.status {
        s if s.in_review() => return Err(FilingRefusal::InReview { status: s }),
        IcpStatus::Filed => return Err(FilingRefusal::AlreadyFiled),
        IcpStatus::NotFiled(b) => {
            let mut missing = Vec::new();
            if b.info_missing {
                missing.push("info (name, avatar, introduction)");
            }
            if b.category_missing {
                missing.push("category");
            }
            if b.not_verified && flow == Flow::Filing {
                missing.push("verification (认证)");
            }
            if !missing.is_empty() {
                return Err(FilingRefusal::NotReady {
                    status: e.status,
                    missing,
                });
            }
        }
        _ => {}
    }
    if !e.entrance_open() {
        return Err(FilingRefusal::EntranceClosed { status: e.status });
    }
    Ok(())
}

fn hints_to_fields(hints: Vec<FieldHint>) -> Vec<FieldError> {
    hints
        .into_iter()
        .map(|h| {
            let en = format!("WeChat: {} (errcode {})", h.errmsg, h.errcode);
            let zh = format!("微信：{}（错误码 {}）", h.errmsg, h.errcode);
            FieldError::new(h.err_field, en, zh)
        })
        .collect()
}

/// Files the mini program on the merchant's behalf: checked, then applied once.
pub async fn apply(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    app: FilingApplication,
) -> Result<Applied, OpsError> {
    send(deps, operator, a, app, None).await
}

/// Verification + filing in one (submit_auth_and_icp): checked, then submitted once.
pub async fn apply_with_auth(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    app: AuthAndFilingApplication,
) -> Result<Applied, OpsError> {
    send(deps, operator, a, app.filing, Some(app.auth_data)).await
}

async fn send(
    deps: &Deps,
    operator: &str,
    a: &Authorizer,
    app: FilingApplication,
    auth: Option<AuthData>,
) -> Result<Applied, OpsError> {
    let appid = &a.appid;
    let flow = if auth.is_some() {
        Flow::AuthAndFiling
    } else {
        Flow::Filing
    };
    if let Some(Settlement::Applied { flow, .. }) = settle_first(deps, appid).await? {
        return Ok(Applied {
            status: "applied",
            flow,
            filing: filing_status(IcpStatus::PlatformReview),
            procedure_id: None,
            pay_url: None,
            reconciled: true,
        });
    }
    check_all(deps, a, &app, auth.as_ref()).await?;
    let wxa = deps.mgr.wxa(appid);
    let entrance = wxa.call(&GetIcpEntranceInfo {}).await?.info;
    open_for_application(&entrance, flow)?;

    let store = deps.store.as_ref();
    let since = deps.clock.now();
    let d = ApplicationDoubt {
        flow,
        since,
        from_status: entrance.status.code(),
        operator: operator.to_owned(),
    };
    let kind = SingleUseKind::IcpApplicationInDoubt;
    reconcile::write_doubt(store, kind, appid.as_str(), &d, since).await?;
    let answer = match auth {
        None => {
            let req = wxopen::wechat::icp::ApplyIcpFiling {
                icp_subject: app.icp_subject,
                icp_applets: app.icp_applets,
                icp_materials: app.icp_materials,
            };
            wxa.call(&req).await
        }
        Some(auth_data) => {
            let req = SubmitAuthAndIcp {
                auth_data,
                icp_subject: app.icp_subject,
                icp_applets: app.icp_applets,
                icp_materials: app.icp_materials,
            };
            wxa.call(&req).await
        }
    };
    let (procedure_id, pay_url) = match answer {
        Ok(IcpApplied::Accepted {
            procedure_id,
            pay_url,
        }) => (procedure_id, pay_url),
        Ok(IcpApplied::Refused { errcode, hints, .. }) => {
            // WeChat's definite answer: nothing was applied.
            reconcile::clear_doubt(store, kind, appid.as_str()).await;
            return Err(FilingRefusal::RefusedByWechat {
                errcode,
                fields: hints_to_fields(hints),
            }
            .into());
        }
        Err(e) if e.outcome_unknown() || e.errcode() == Some(86324) => {
            tracing::warn!(%appid, error = %e, "a filing application's answer was lost or refused as in review; asking WeChat for the filing status");
            return settle_lost(deps, appid, flow, e).await;
        }
        Err(e) => {
            reconcile::clear_doubt(store, kind, appid.as_str()).await;
            return Err(e.into());
        }
    };
    reconcile::clear_doubt(store, kind, appid.as_str()).await;
    let action = match flow {
        Flow::Filing => Action::ApplyIcpFiling,
        Flow::AuthAndFiling => Action::SubmitAuthAndIcp,
    };
    let details = json!({ "procedure_id": procedure_id, "pay_url": pay_url });
    deps.record(operator, appid, action, |x| x.details = details)
        .await;
    let filing = match flow {
        Flow::Filing => filing_status(IcpStatus::PlatformReview),
        // The filing starts once the verification passes.
        Flow::AuthAndFiling => filing_status(entrance.status),
    };
    Ok(Applied {
        status: "applied",
        flow,
        filing,
        procedure_id,
        pay_url,
        reconciled: false,
    })
}

/// The application's answer was lost (or WeChat said one is in review): the filing status
/// tells whether it was taken; when that read fails too, the doubt stays and the operator
/// hears the first fault.
async fn settle_lost(
    deps: &Deps,
    appid: &AppId,
    flow: Flow,
    e: WechatError,
) -> Result<Applied, OpsError> {
    let Some(d) = doubt(deps, appid).await? else {
        return Err(e.into());
    };
    let entrance = match deps.mgr.wxa(appid).call(&GetIcpEntranceInfo {}).await {
        Ok(got) => got.info,
        Err(WechatError::Store(se)) => return Err(se.into()),
        Err(read) => {
            tracing::warn!(%appid, error = %read, "the filing status could not be read; the application stays in doubt");
            return Err(e.into());
        }
    };
    match settle_with(deps, appid, d, Some(&entrance)).await {
        Settlement::Applied { flow, .. } => Ok(Applied {
            status: "applied",
            flow,
            filing: filing_status(entrance.status),
            procedure_id: None,
            pay_url: None,
            reconciled: true,
        }),
        _ if e.errcode() == Some(86324) => {
            // Refused: an application that is not this one is in review.
            reconcile::clear_doubt(
                deps.store.as_ref(),
                SingleUseKind::IcpApplicationInDoubt,
                appid.as_str(),
            )
            .await;
            Err(match flow {
                Flow::AuthAndFiling => FilingRefusal::AuthAndFilingInProgress,
                Flow::Filing => FilingRefusal::InReview {
                    status: entrance.status,
                },
            }
            .into())
        }
        _ => Err(e.into()),
    }
}

/// An application withdrawn.
#[derive(Debug, Serialize)]
pub struct Cancelled {
    /// `cancelled`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reconciled: bool,
}

/// Withdraws the application still in the platform's review (cancel_apply_icp_filing); refused
/// when there is none or it is with the administration already. A lost answer is settled from
/// the filing status (no longer in the platform's review: withdrawn).
pub async fn cancel(deps: &Deps, operator: &str, a: &Authorizer) -> Result<Cancelled, OpsError> {
    let appid = &a.appid;
    settle_first(deps, appid).await?;
    let wxa = deps.mgr.wxa(appid);
    let status = wxa.call(&GetIcpEntranceInfo {}).await?.info.status;
    match status {
        IcpStatus::PlatformReview => {}
        IcpStatus::AdministrationReview => {
            return Err(FilingRefusal::CancelTooLate { status }.into())
        }
        _ => return Err(FilingRefusal::NothingToCancel { status }.into()),
    }
    let reconciled = match wxa.call(&CancelApplyIcpFiling {}).await {
        Ok(_) => false,
        Err(e) if e.errcode() == Some(86368) => {
            return Err(FilingRefusal::NothingToCancel { status }.into())
        }
        Err(e) if e.errcode() == Some(86330) => {
            return Err(FilingRefusal::CancelTooLate {
                status: IcpStatus::AdministrationReview,
            }
            .into())
        }
        Err(e) if e.outcome_unknown() => match wxa.call(&GetIcpEntranceInfo {}).await {
            Ok(now) if !now.info.status.in_review() && now.info.status != IcpStatus::Filed => true,
            _ => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    deps.record(operator, appid, Action::CancelIcpFiling, |x| {
        if reconciled {
            x.details = json!({ "reconciled": true });
        }
    })
    .await;
    Ok(Cancelled {
        status: "cancelled",
        reconciled,
    })
}

// ---------------------------------------------------------------------------------------------
// The combined flow's progress

/// queryAuthAndIcp's `procedure_status` as a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedure {
    /// 18: the verification asks for corrections (`refill_reason`): submit again.
    AuthRefill,
    /// 20: the verification failed for good (`fail_reason`).
    AuthFailed,
    /// 21: the filing order could not be created (`hints`).
    IcpOrderFailed,
    /// 23: the platform rejected the filing (`audit_data`).
    IcpPlatformRejected,
    /// 24: with the administration (`sms_verify_status`).
    IcpAdministrationReview,
    /// 25: the administration rejected the filing (`audit_data`).
    IcpAdministrationRejected,
    /// A value the page does not name (the verification in review, the filing in the
    /// platform's review, filed: see `wechat_status`).
    Other,
}

impl From<ProcedureStatus> for Procedure {
    fn from(s: ProcedureStatus) -> Self {
        match s {
            ProcedureStatus::AuthRefill => Procedure::AuthRefill,
            ProcedureStatus::AuthFailed => Procedure::AuthFailed,
            ProcedureStatus::IcpOrderFailed => Procedure::IcpOrderFailed,
            ProcedureStatus::IcpPlatformRejected => Procedure::IcpPlatformRejected,
            ProcedureStatus::IcpAdministrationReview => Procedure::IcpAdministrationReview,
            ProcedureStatus::IcpAdministrationRejected => Procedure::IcpAdministrationRejected,
            ProcedureStatus::Unknown(_) => Procedure::Other,
        }
    }
}

fn sms_word(s: SmsVerifyStatus) -> &'static str {
    match s {
        SmsVerifyStatus::Waiting => "waiting",
        SmsVerifyStatus::Done => "done",
        SmsVerifyStatus::TimedOut => "timed_out",
        SmsVerifyStatus::Unknown(_) => "unknown",
    }
}

/// Where the app's combined application stands (query_auth_and_icp): `procedure_id`, or the
/// latest one submitted through wxopen.
pub async fn auth_and_filing_progress(
    deps: &Deps,
    a: &Authorizer,
    procedure_id: Option<String>,
) -> Result<Value, OpsError> {
    let procedure_id = given_or_latest(
        deps,
        &a.appid,
        procedure_id,
        Action::SubmitAuthAndIcp,
        "procedure_id",
        FilingRefusal::NoProcedure,
    )
    .await?;
    let req = QueryAuthAndIcp {
        procedure_id: procedure_id.clone(),
    };
    let p = deps
        .mgr
        .wxa(&a.appid)
        .call(&req)
        .await
        .map_err(|e| match e.errcode() {
            Some(86328) => OpsError::Filing(FilingRefusal::NoProcedure),
            _ => e.into(),
        })?;
    let audit = p.icp_audit.unwrap_or_default();
    Ok(json!({
        "procedure_id": procedure_id,
        "procedure": Procedure::from(p.procedure_status),
        "wechat_status": p.procedure_status.code(),
        "orderid": p.orderid,
        "refill_reason": Some(p.refill_reason).filter(|r| !r.is_empty()),
        "fail_reason": Some(p.fail_reason).filter(|r| !r.is_empty()),
        "hints": hints_to_fields(audit.hints),
        "reasons": audit.audit_data,
        "sms_verify": audit.sms_verify_status.map(sms_word),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wxopen::wechat::icp::{AppletBaseInfo, OrganizeInfo, Personal, SubjectBaseInfo};

    fn tables() -> ReferenceTables {
        let row = |id, name: &str, subject_type, parent_type| TypeRow {
            id,
            name: name.into(),
            subject_type,
            parent_type,
        };
        ReferenceTables {
            subject_types: vec![row(4, "企业", None, None), row(5, "个人", None, None)],
            certificate_types: vec![
                row(1, "营业执照", Some(4), None),
                row(2, "居民身份证", Some(5), None),
            ],
            nrlx_types: vec![row(3, "教育", None, None)],
            service_content_types: vec![
                row(500, "生活服务", None, Some(0)),
                row(1, "生活缴费", None, Some(500)),
            ],
            districts: vec![DistrictRow {
                code: 110000,
                name: "北京市".into(),
                sub: vec![DistrictRow {
                    code: 110100,
                    name: "市辖区".into(),
                    sub: vec![DistrictRow {
                        code: 110105,
                        name: "朝阳区".into(),
                        sub: vec![],
                    }],
                }],
            }],
        }
    }

    fn person() -> PrincipalInfo {
        PrincipalInfo {
            name: Personal::new("张三"),
            mobile: Personal::new("13800138000"),
            email: Personal::new("a@example.com"),
            emergency_contact: Personal::new("13900139000"),
            certificate_type: 2,
            certificate_number: Personal::new("11010519491231002X"),
            certificate_validity_date_start: "2020-01-01".into(),
            certificate_validity_date_end: "长期".into(),
            certificate_photo_front: "m1".into(),
            certificate_photo_back: "m1".into(),
            authorization_letter: String::new(),
            verify_task_id: "t1".into(),
        }
    }

    fn application() -> FilingApplication {
        FilingApplication {
            icp_subject: IcpSubject {
                base_info: SubjectBaseInfo {
                    subject_type: 4,
                    name: Personal::new("某某公司"),
                    province: "110000".into(),
                    city: "110100".into(),
                    district: "110105".into(),
                    address: Personal::new("某路 1 号"),
                    comment: String::new(),
                },
                personal_info: None,
                organize_info: OrganizeInfo {
                    certificate_type: 1,
                    certificate_number: Personal::new("91110000000000000X"),
                    certificate_address: Personal::new("某路 1 号"),
                    certificate_photo: "m1".into(),
                },
                principal_info: person(),
                legal_person_info: None,
            },
            icp_applets: IcpApplets {
                base_info: AppletBaseInfo {
                    appid: "wx0000000000000001".into(),
                    name: "小店".into(),
                    service_content_types: vec![1],
                    nrlx_details: vec![],
                    comment: String::new(),
                },
                principal_info: person(),
            },
            icp_materials: IcpMaterials::default(),
        }
    }

    fn checked(app: &FilingApplication) -> Vec<String> {
        let t = tables();
        let appid = AppId::parse("wx0000000000000001").unwrap();
        let mut media = BTreeMap::new();
        media.insert(
            "m1".to_owned(),
            UploadedMedia {
                media_id: "m1".into(),
                media_type: IcpMediaType::Image,
                icp_order_field: "x".into(),
                certificate_type: None,
                created_at: 0,
                bytes: 1,
                sha256: String::new(),
            },
        );
        let cx = CheckContext {
            tables: &t,
            appid: &appid,
            media: &media,
            combined: false,
        };
        check(app, &cx).into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_good_application_passes_and_each_rule_names_its_field() {
        assert_eq!(checked(&application()), Vec::<String>::new());
        let mut a = application();
        a.icp_subject.base_info.subject_type = 9;
        a.icp_subject.base_info.district = "110101".into();
        a.icp_subject.organize_info.certificate_photo = "unknown".into();
        a.icp_applets.principal_info.mobile = Personal::new("2380013800");
        a.icp_applets.principal_info.certificate_number = Personal::new("110105194912310021");
        a.icp_applets.principal_info.certificate_validity_date_end = "2019-01-01".into();
        a.icp_applets.principal_info.emergency_contact = Personal::new("13800138000");
        a.icp_applets.base_info.service_content_types = vec![500];
        a.icp_applets.principal_info.verify_task_id = String::new();
        assert_eq!(
            checked(&a),
            vec![
                "icp_subject.base_info.type",
                "icp_subject.base_info.district",
                "icp_subject.organize_info.certificate_type",
                "icp_subject.organize_info.certificate_photo",
                "icp_applets.principal_info.mobile",
                "icp_applets.principal_info.certificate_number",
                "icp_applets.principal_info.certificate_validity_date_end",
                "icp_applets.principal_info.verify_task_id",
                "icp_applets.base_info.service_content_types",
            ]
        );
    }

    #[test]
    fn resident_ids_carry_their_check_digit() {
        assert!(is_resident_id("11010519491231002X"));
        assert!(is_resident_id("11010519491231002x"));
        assert!(!is_resident_id("110105194912310021"));
        assert!(!is_resident_id("1101051949123100"));
    }

    #[test]
    fn every_refusal_has_a_hint_in_both_languages() {
        let refusals = [
            FilingRefusal::InvalidFiling { fields: vec![] },
            FilingRefusal::AlreadyFiled,
            FilingRefusal::NothingToCancel {
                status: IcpStatus::from_code(1024),
            },
            FilingRefusal::InDoubt {
                flow: Flow::Filing,
                since: 1,
                asked: false,
                retry_after: 60,
            },
        ];
        for r in refusals {
            let f = r.classify();
            let h = f.hint.unwrap();
            assert!(h.en.is_ascii() && !h.en.is_empty());
            assert!(h.zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
        }
    }

    #[test]
    fn the_status_shows_an_application_once_it_moved_into_review_or_to_a_decision() {
        let not_filed = IcpStatus::from_code(1024);
        assert!(shows_application(not_filed, IcpStatus::PlatformReview));
        assert!(!shows_application(not_filed, not_filed));
        assert!(shows_application(
            IcpStatus::PlatformRejected,
            IcpStatus::AdministrationReview
        ));
        assert!(!shows_application(
            IcpStatus::PlatformRejected,
            IcpStatus::PlatformRejected
        ));
        assert!(shows_application(not_filed, IcpStatus::PlatformRejected));
        assert!(!shows_application(
            IcpStatus::PlatformReview,
            IcpStatus::PlatformReview
        ));
    }
}
