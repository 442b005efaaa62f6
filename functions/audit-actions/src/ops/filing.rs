//! One app's ICP filing (小程序备案) as the operations see it: where it stands (stored, or asked
//! of WeChat when never checked), the release guard that refuses an app not filed before WeChat
//! is asked to release it, and the authorizer list's filter by filing status.
//!
//! Since 2023-09-01 a mini program that is not filed may not go live: without the guard an app
//! commits, is approved, and only then cannot be released. The state is kept current by the
//! filing pushes and the refresher's daily census ([`wxopen::filing`]).

use super::OpsError;
use crate::Deps;
use serde_json::{json, Value};
use wxopen::domain::AppId;
use wxopen::filing;
use wxopen::store::{Authorizer, FilingState, FilingStatus, Page, Store};

/// The app's filing: the stored state, or WeChat's answer (stored) when there is none or
/// `refresh` asks for a fresh look.
pub async fn current(deps: &Deps, appid: &AppId, refresh: bool) -> Result<FilingState, OpsError> {
    if !refresh {
        if let Some(stored) = deps.store.get_filing(appid).await? {
            return Ok(stored);
        }
    }
    Ok(filing::check(&deps.mgr, deps.store.as_ref(), appid, deps.clock.now()).await?)
}

/// The release guard: `Ok` only when the app's filing is `filed`, else 409
/// `icp_filing_required` with the status, before WeChat is asked to release.
///
/// A stored `filed` is trusted (a filing is not undone between two releases, and the census no
/// longer asks filed apps). Any other state, or none (never checked), is asked of WeChat once
/// now and stored, so a merchant whose filing passed since the last look is not held back.
/// When that read fails the app is never released blind: with a stored state the refusal stands
/// on it (409, as last known); with none, WeChat's failure is the answer (the release fails and
/// may be tried again).
pub async fn require_filed(deps: &Deps, appid: &AppId) -> Result<(), OpsError> {
    let stored = deps.store.get_filing(appid).await?;
    if stored.as_ref().is_some_and(FilingState::is_filed) {
        return Ok(());
    }
    let state = match filing::check(&deps.mgr, deps.store.as_ref(), appid, deps.clock.now()).await {
        Ok(state) => state,
        Err(e) => match stored {
            Some(stored) if !matches!(e, wxopen::wechat::WechatError::Store(_)) => {
                tracing::warn!(%appid, error = %e, "filing status not read; the release is refused on the stored one");
                stored
            }
            _ => return Err(e.into()),
        },
    };
    if state.is_filed() {
        return Ok(());
    }
    Err(OpsError::IcpFilingRequired {
        status: state.status,
        wechat_status: state.wechat_status,
    })
}

/// The filing as `GET /ops/apps/{appid}/filing` answers it.
pub fn view(s: &FilingState) -> Value {
    json!({
        "status": s.status.as_str(),
        "wechat_status": s.wechat_status,
        "reasons": s.reasons,
        "sms_verify": s.sms_verify,
        "missing": s.missing,
        "record_number": s.record_number,
        "checked_at": s.checked_at,
    })
}

/// The authorizer list's `filing` value: the status, or `unchecked` when never learned.
pub fn list_value(s: Option<&FilingState>) -> &'static str {
    s.map_or(UNCHECKED, |s| s.status.as_str())
}

/// An app whose filing wxopen has never learned (the census or a release asks soon).
pub const UNCHECKED: &str = "unchecked";

/// `?filing=` of the authorizer list: one status, or the apps never checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilingFilter {
    Status(FilingStatus),
    Unchecked,
}

impl FilingFilter {
    /// `None` for an empty value (no filter); 400 `invalid_filing` for an unknown one.
    pub fn parse(raw: Option<&str>) -> Result<Option<FilingFilter>, OpsError> {
        match raw {
            None | Some("") => Ok(None),
            Some(UNCHECKED) => Ok(Some(FilingFilter::Unchecked)),
            Some(s) => FilingStatus::parse(s)
                .map(|f| Some(FilingFilter::Status(f)))
                .ok_or_else(|| {
                    let names: Vec<&str> = FilingStatus::ALL.iter().map(|f| f.as_str()).collect();
                    OpsError::invalid(
                        "invalid_filing",
                        format!("filing must be one of {} or {UNCHECKED}", names.join(", ")),
                    )
                }),
        }
    }

    fn matches(self, s: Option<&FilingState>) -> bool {
        match (self, s) {
            (FilingFilter::Unchecked, s) => s.is_none(),
            (FilingFilter::Status(want), Some(s)) => s.status == want,
            (FilingFilter::Status(_), None) => false,
        }
    }
}

/// Store pages one listing request reads at most while they hold no match (then it answers
/// an empty page whose `next` goes on).
const MAX_PAGES_PER_REQUEST: usize = 10;

/// One page of the authorizer list (as `list` reads the store's pages: all the apps, or the
/// penalised ones) with each app's filing, filtered by `filing` and `keep` (the key's
/// customers). The filing is its own item, so the filter is a pass over the store's
/// pages, not an index: a page holds at most `limit` rows and may hold fewer (or none) while
/// `next` goes on; pages never repeat or skip an app, since each answer ends at a store page's
/// end and `next` is that page's cursor.
pub async fn authorizers_page<F, Fut>(
    store: &dyn Store,
    filing: Option<FilingFilter>,
    keep: impl Fn(&Authorizer) -> bool,
    list: F,
    cursor: Option<&str>,
) -> Result<(Vec<(Authorizer, Option<FilingState>)>, Option<String>), OpsError>
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<Authorizer>, OpsError>>,
{
    let mut cursor = cursor.map(str::to_owned);
    for _ in 0..MAX_PAGES_PER_REQUEST {
        let page = list(cursor.clone()).await?;
        let items: Vec<Authorizer> = page.items.into_iter().filter(|a| keep(a)).collect();
        let appids: Vec<AppId> = items.iter().map(|a| a.appid.clone()).collect();
        let filings = store.get_filings(&appids).await?;
        let rows: Vec<(Authorizer, Option<FilingState>)> = items
            .into_iter()
            .zip(filings)
            .filter(|(_, f)| filing.is_none_or(|want| want.matches(f.as_ref())))
            .collect();
        cursor = page.next;
        if !rows.is_empty() || cursor.is_none() || filing.is_none() {
            return Ok((rows, cursor));
        }
    }
    Ok((Vec::new(), cursor))
}
