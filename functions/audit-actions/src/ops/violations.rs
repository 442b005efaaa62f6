//! An app's violations as operators see them: the penalties and appeals WeChat pushed (stored
//! once each, [`ViolationStore`]), WeChat's own penalty records (`getillegalrecords`) and one
//! record's appeals (`getappealrecords`); and the penalties of the authorizer list's rows, and
//! its `penalised` filter. An appeal WeChat lists is notified once per state it reaches
//! ([`notifications::emit_appeal`]), as its push is.

use super::OpsError;
use crate::Deps;
use serde::Serialize;
use wxopen::domain::UnixTime;
use wxopen::notifications;
use wxopen::store::{
    Appeal, AppealStatus, Authorizer, AuthorizerFilter, AuthorizerStore, Page, Penalty,
    PenaltyKind, ViolationStore,
};
use wxopen::wechat::violations::{
    AppealRecords, GetAppealRecords, GetIllegalRecords, IllegalRecords,
};

/// What the app view and `GET /ops/apps/{appid}/violations` show of an app's penalties.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Penalties recorded from pushes.
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<Latest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latest {
    pub punish_id: String,
    pub kind: PenaltyKind,
    pub punish_time: UnixTime,
    pub illegal_reason: String,
}

/// The summary of `penalties` (newest first, as the store lists them).
pub fn summary(penalties: &[Penalty]) -> Summary {
    Summary {
        count: penalties.len(),
        latest: penalties.first().map(|p| Latest {
            punish_id: p.punish_id.clone(),
            kind: p.kind,
            punish_time: p.punish_time,
            illegal_reason: p.illegal_reason.clone(),
        }),
    }
}

/// One app's violations: what was pushed and stored, and what WeChat lists now.
#[derive(Debug, Serialize)]
pub struct AppViolations {
    pub penalties: Vec<Penalty>,
    pub appeals: Vec<Appeal>,
    /// getillegalrecords between `start_time` and `end_time` (WeChat's default: the last 90
    /// days); `None` when the app is not authorized now.
    pub wechat: Option<IllegalRecords>,
}

/// The stored penalties and appeals of `app`, and WeChat's records when it is authorized.
pub async fn of_app(
    deps: &Deps,
    app: &Authorizer,
    start_time: Option<UnixTime>,
    end_time: Option<UnixTime>,
) -> Result<AppViolations, OpsError> {
    if let (Some(s), Some(e)) = (start_time, end_time) {
        if s > e {
            return Err(OpsError::invalid(
                "invalid_time_range",
                "start_time must not be after end_time",
            ));
        }
    }
    let penalties = deps.store.list_penalties(&app.appid).await?;
    let appeals = deps.store.list_appeals(&app.appid).await?;
    let wechat = if app.status == wxopen::store::AuthorizerStatus::Authorized {
        Some(
            deps.mgr
                .wxa(&app.appid)
                .call(&GetIllegalRecords {
                    start_time,
                    end_time,
                })
                .await?,
        )
    } else {
        None
    };
    Ok(AppViolations {
        penalties,
        appeals,
        wechat,
    })
}

/// One penalty record's appeals, from WeChat.
pub async fn appeals(
    deps: &Deps,
    app: &Authorizer,
    illegal_record_id: &str,
) -> Result<AppealRecords, OpsError> {
    let ok = !illegal_record_id.is_empty()
        && illegal_record_id.len() <= 64
        && illegal_record_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if !ok {
        return Err(OpsError::invalid(
            "invalid_illegal_record_id",
            "illegal_record_id is a record's id as getillegalrecords lists it, e.g. 2_11100",
        ));
    }
    let records = deps
        .mgr
        .wxa(&app.appid)
        .call(&GetAppealRecords {
            illegal_record_id: illegal_record_id.to_owned(),
        })
        .await?;
    // What WeChat lists is what wxopen learns of appeals it was not pushed (or not yet): each
    // appeal's state is told once, the same message a push of it makes.
    let now = deps.clock.now();
    for r in &records.records {
        let status = AppealStatus::from_code(r.appeal_status);
        if let Err(e) = notifications::emit_appeal(
            deps.store.as_ref(),
            &app.appid,
            r.appeal_record_id,
            status,
            &r.audit_reason,
            now,
        )
        .await
        {
            tracing::error!(appid = %app.appid, appeal_record_id = r.appeal_record_id, error = %e, "an appeal's notification could not be written to the outbox");
        }
    }
    Ok(records)
}

/// A page of the penalised apps' profiles that match `filter`, in appid order (a page may hold
/// fewer rows than asked when some do not match; `next` goes on).
pub async fn penalised_page<S: ViolationStore + AuthorizerStore + ?Sized>(
    store: &S,
    filter: &AuthorizerFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Authorizer>, OpsError> {
    let page = store.penalised_apps(cursor, limit).await?;
    let profiles =
        futures::future::try_join_all(page.items.iter().map(|a| store.get_authorizer(a))).await?;
    let items = profiles
        .into_iter()
        .flatten()
        .filter(|a| filter.status.is_none_or(|s| a.status == s))
        .filter(|a| {
            filter
                .customer_id
                .as_deref()
                .is_none_or(|c| a.customer_id.as_deref() == Some(c))
        })
        .collect();
    Ok(Page {
        items,
        next: page.next,
    })
}
