//! `/ops/invitations` (the links a merchant authorizes through, bound to a customer) and
//! `/ops/authorizers` (the apps authorized, with their token health, latest audit and last
//! release).

use super::error::ApiError;
use super::routes::declare_routes;
use super::{listing, page_limit, views, JsonBody, OpsQuery, Paged};
use super::{ApiResult, S};
use crate::ops::{self, OpsError};
use crate::Deps;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use std::sync::Arc;
use wxopen::domain::AppId;
use wxopen::operator_auth::Operator;
use wxopen::store::{
    AuthorizerFilter, AuthorizerStatus, Invitation, InvitationState, StoreError, TokenKey,
};

/// Who asks about invitations (the operator, whose customers bound what it sees) and the base
/// URL the links are shown with: `WXOPEN_PUBLIC_URL`, else the request's `Host` (`None` when
/// neither is known).
struct Asking {
    op: Operator,
    base: Option<String>,
}

impl FromRequestParts<Arc<Deps>> for Asking {
    /// Never met: the key check puts the operator in every `/ops` request.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, deps: &Arc<Deps>) -> Result<Self, Response> {
        let op = super::operator(parts).await?;
        let base = wxopen::http::public_base_url(deps.public_url.as_deref(), &parts.headers);
        Ok(Asking { op, base })
    }
}

declare_routes! {
    RULES, routes;
    GET "/ops/invitations" => list_invitations: Admin, ONE;
    POST "/ops/invitations" => create_invitation: Admin, ONE;
    GET "/ops/invitations/{id}" => show_invitation: Admin, ONE;
    DELETE "/ops/invitations/{id}" => revoke_invitation: Admin, ONE;
    GET "/ops/authorizers" => list_authorizers: Viewer, ONE;
    GET "/ops/authorizers/{appid}" => show_authorizer: Viewer, ONE;
}

/// Default and bounds of `expires_in` for an invitation.
const INVITATION_DEFAULT_SECS: i64 = 7 * 86_400;
const INVITATION_MAX_SECS: i64 = 30 * 86_400;
const INVITATION_MIN_SECS: i64 = 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvitation {
    customer_id: String,
    #[serde(default)]
    auth_type: Option<u8>,
    #[serde(default)]
    biz_appid: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

async fn create_invitation(
    State(deps): S,
    Asking { op, base }: Asking,
    JsonBody(req): JsonBody<NewInvitation>,
) -> ApiResult<Response> {
    let customer_id = req.customer_id.trim().to_owned();
    if customer_id.is_empty()
        || customer_id.chars().count() > 64
        || customer_id.chars().any(char::is_control)
    {
        return Err(ApiError::bad(
            "invalid_customer_id",
            "customer_id must be 1 to 64 characters, without control characters",
        ));
    }
    if !op.sees_customer(Some(&customer_id)) {
        return Err(ApiError::out_of_scope(&op));
    }
    let auth_type = req.auth_type.unwrap_or(2);
    if !(1..=3).contains(&auth_type) {
        return Err(ApiError::bad(
            "invalid_auth_type",
            "auth_type must be 1 (official accounts), 2 (mini programs) or 3 (both)",
        ));
    }
    let biz_appid = req
        .biz_appid
        .map(|b| AppId::parse(&b))
        .transpose()
        .map_err(|e| ApiError::bad("invalid_biz_appid", format!("biz_appid: {e}")))?;
    let expires_in = req.expires_in.unwrap_or(INVITATION_DEFAULT_SECS);
    if !(INVITATION_MIN_SECS..=INVITATION_MAX_SECS).contains(&expires_in) {
        return Err(ApiError::bad(
            "invalid_expires_in",
            format!("expires_in must be {INVITATION_MIN_SECS} to {INVITATION_MAX_SECS} seconds"),
        ));
    }
    let base = base.ok_or_else(|| ApiError::bad("no_host", "the request names no Host"))?;
    let now = deps.clock.now();
    let invitation = new_invitation(customer_id, auth_type, biz_appid, now, expires_in);
    deps.store.create_invitation(&invitation).await?;
    // Not the id: until used or revoked it lets whoever holds it authorize for this customer.
    tracing::info!(customer = %invitation.customer_id, expires_at = invitation.expires_at, "invitation created");
    Ok((
        StatusCode::CREATED,
        Json(views::invitation(&invitation, &base, now)),
    )
        .into_response())
}

/// A new active invitation (inputs already checked). Its id sorts by creation time (12 hex
/// digits of seconds) and then carries 128 random bits: unguessable.
pub fn new_invitation(
    customer_id: String,
    auth_type: u8,
    biz_appid: Option<AppId>,
    now: i64,
    expires_in: i64,
) -> Invitation {
    let mut r = [0u8; 16];
    rand::fill(&mut r);
    Invitation {
        id: format!("{:012x}{}", now.max(0), hex::encode(r)),
        customer_id,
        auth_type,
        biz_appid,
        created_at: now,
        expires_at: now + expires_in,
        revoked_at: None,
        used_at: None,
        used_by: None,
    }
}

async fn list_invitations(
    State(deps): S,
    Asking { op, base }: Asking,
    OpsQuery(q): Paged,
) -> ApiResult {
    let base = base.unwrap_or_default();
    let mut page = deps.store.list_invitations(q.cursor(), q.limit()?).await?;
    page.items
        .retain(|i| op.sees_customer(Some(&i.customer_id)));
    let now = deps.clock.now();
    Ok(listing(page, |i| views::invitation(i, &base, now)))
}

async fn show_invitation(
    State(deps): S,
    Asking { op, base }: Asking,
    Path(id): Path<String>,
) -> ApiResult {
    let inv = deps
        .store
        .get_invitation(&id)
        .await?
        .filter(|i| op.sees_customer(Some(&i.customer_id)))
        .ok_or(ApiError::not_found("invitation"))?;
    let base = base.unwrap_or_default();
    Ok(Json(views::invitation(&inv, &base, deps.clock.now())))
}

/// Revoking is idempotent; a used invitation cannot be revoked (its authorization stands).
async fn revoke_invitation(
    State(deps): S,
    Asking { op, base }: Asking,
    Path(id): Path<String>,
) -> ApiResult {
    // A key limited to some customers revokes only theirs (another's is unknown to it). The
    // customer of an invitation never changes, so reading it first races with nothing.
    if op.customers.is_some() {
        deps.store
            .get_invitation(&id)
            .await?
            .filter(|i| op.sees_customer(Some(&i.customer_id)))
            .ok_or(ApiError::not_found("invitation"))?;
    }
    let now = deps.clock.now();
    let inv = deps
        .store
        .update_invitation(&id, &|inv| {
            if inv.state(now) == InvitationState::Used {
                return Err(StoreError::Conflict);
            }
            inv.revoked_at.get_or_insert(now);
            Ok(())
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => OpsError::NotFound { what: "invitation" },
            StoreError::Conflict => OpsError::InvitationUsed,
            e => e.into(),
        })?;
    tracing::info!(invitation = %inv.id, "invitation revoked");
    let base = base.unwrap_or_default();
    Ok(Json(views::invitation(&inv, &base, now)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizerQuery {
    status: Option<String>,
    customer_id: Option<String>,
    /// `true`: only the apps with a penalty recorded; `false`: only those without.
    penalised: Option<bool>,
    /// A filing status (`not_filed`, `filed`, ...) or `unchecked`.
    filing: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// How many of an app's newest audits the authorizer list reads for its latest audit and last
/// release.
const RECENT_AUDITS: u32 = 10;

async fn list_authorizers(
    State(deps): S,
    Extension(op): Extension<Operator>,
    OpsQuery(q): OpsQuery<AuthorizerQuery>,
) -> ApiResult {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some("authorized") => Some(AuthorizerStatus::Authorized),
        Some("unauthorized") => Some(AuthorizerStatus::Unauthorized),
        Some("needs_reauthorization") => Some(AuthorizerStatus::NeedsReauthorization),
        Some(_) => {
            return Err(ApiError::bad(
                "invalid_status",
                "status must be authorized, unauthorized or needs_reauthorization",
            ))
        }
    };
    let mut customer_id = q.customer_id.filter(|c| !c.is_empty());
    // A key limited to one customer lists that customer's apps; to several, each page is
    // filtered to them (a page may then hold fewer rows than asked, `next` goes on).
    if let (None, Some([only])) = (&customer_id, op.customers.as_deref()) {
        customer_id = Some(only.clone());
    }
    if customer_id
        .as_deref()
        .is_some_and(|c| !op.sees_customer(Some(c)))
    {
        return Ok(Json(serde_json::json!({ "items": [], "next": null })));
    }
    let filing = ops::filing::FilingFilter::parse(q.filing.as_deref())?;
    let filter = AuthorizerFilter {
        status,
        customer_id,
    };
    let (cursor, limit) = (q.cursor.as_deref(), page_limit(q.limit)?);
    let store = deps.store.as_ref();
    let penalised_only = q.penalised == Some(true);
    let filter = &filter;
    // Each row's filing comes with the page (one BatchGetItem); `?filing=` filters on it. The
    // rows come from the penalised apps' index with `?penalised=true`.
    let (rows, next) = ops::filing::authorizers_page(
        store,
        filing,
        |a| op.sees_customer(a.customer_id.as_deref()),
        |cursor| async move {
            if penalised_only {
                ops::violations::penalised_page(store, filter, cursor.as_deref(), limit).await
            } else {
                Ok(store
                    .list_authorizers(filter, cursor.as_deref(), limit)
                    .await?)
            }
        },
        cursor,
    )
    .await?;
    // Each row's penalties, from the stored pushes (one query per app, as its audits).
    let penalties = futures::future::try_join_all(
        rows.iter()
            .map(|(a, _)| deps.store.list_penalties(&a.appid)),
    )
    .await?;
    let (mut items, mut filings, mut summaries) = (Vec::new(), Vec::new(), Vec::new());
    for ((a, f), p) in rows.into_iter().zip(penalties) {
        if q.penalised != Some(false) || p.is_empty() {
            items.push(a);
            filings.push(f);
            summaries.push(ops::violations::summary(&p));
        }
    }
    let page = wxopen::store::Page { items, next };
    // The page's token health in one read (BatchGetItem on DynamoDB), not one per row.
    let keys: Vec<TokenKey> = page
        .items
        .iter()
        .map(|a| TokenKey::Authorizer(a.appid.clone()))
        .collect();
    let tokens: Vec<views::TokenHealth> = deps
        .store
        .get_tokens(&keys)
        .await?
        .into_iter()
        .map(|t| {
            t.map(|t| views::TokenHealth::from(&t.state))
                .unwrap_or_default()
        })
        .collect();
    // Each row's latest audit and last release through wxopen, from the stored history (one
    // query per app; WeChat is not asked: `GET /ops/apps/{appid}` gives its own account).
    let audits = futures::future::try_join_all(
        page.items
            .iter()
            .map(|a| deps.store.list_audits(&a.appid, None, RECENT_AUDITS)),
    )
    .await?;
    let items: Vec<_> = page
        .items
        .iter()
        .zip(tokens)
        .zip(audits)
        .zip(summaries)
        .zip(&filings)
        .map(|((((a, t), audits), penalties), filing)| {
            let mut v = views::authorizer(a, t, false);
            v["penalties"] = serde_json::json!(penalties);
            v["filing"] = ops::filing::list_value(filing.as_ref()).into();
            v["latest_audit"] = serde_json::json!(audits.items.first().map(views::audit));
            let released = audits.items.iter().find(|r| r.released_at.is_some());
            v["last_release"] = serde_json::json!(released.map(|r| serde_json::json!({
                "auditid": r.auditid,
                "user_version": r.user_version,
                "released_at": r.released_at,
            })));
            v
        })
        .collect();
    Ok(Json(
        serde_json::json!({ "items": items, "next": page.next }),
    ))
}

async fn show_authorizer(State(deps): S, Path(appid): Path<String>) -> ApiResult {
    let appid = ops::app::parse_appid(&appid)?;
    let a = deps
        .store
        .get_authorizer(&appid)
        .await?
        .ok_or(OpsError::NotFound { what: "authorizer" })?;
    let token = views::token_health(deps.store.as_ref(), &appid).await?;
    Ok(Json(views::authorizer(&a, token, true)))
}
