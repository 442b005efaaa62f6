//! The `audit-actions` function: the operators' API under `/ops`, every route behind the
//! operator bearer key ([`wxopen::operator_auth`]), JSON in and out, every failure mapped once
//! ([`error::ApiError`]).
//!
//! Routes so far: invitations (create, list, show, revoke) and authorizers (list with filters,
//! show). `main.rs` hands [`router`] to `lambda_http::run`; `wxopen-local` merges the same router.

mod apps;
pub mod batches;
mod console;
pub mod error;
pub mod ext_json;
mod requirements;
pub mod stale_audits;
mod templates;
pub mod views;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use error::ApiError;
use serde::Deserialize;
use std::sync::Arc;
use wxopen::domain::{AppId, Clock};
use wxopen::secrets::SecretsSource;
use wxopen::store::{
    AuthorizerFilter, AuthorizerStatus, Invitation, InvitationState, Store, StoreError, TokenKey,
};
use wxopen::wechat::TokenManager;

/// What the handlers need, built once per Lambda instance.
pub struct Deps {
    pub store: Arc<dyn Store>,
    /// The operator key digests (and rotations) come from here, cached by the source.
    pub secrets: Arc<dyn SecretsSource>,
    pub clock: Arc<dyn Clock>,
    /// WeChat, with the tokens kept fresh.
    pub mgr: Arc<TokenManager>,
    /// Apps a batch runner works on at once ([`batches::DEFAULT_CONCURRENCY`]).
    pub batch_concurrency: usize,
    /// Poked when a batch is created: `wxopen-local`'s runner starts at once (in Lambda nobody
    /// listens; the schedule runs the batch).
    pub batch_wakeup: Arc<tokio::sync::Notify>,
    /// The base URL merchants reach `/auth/start` at (`WXOPEN_PUBLIC_URL`); `None`: the
    /// request's `Host`.
    pub public_url: Option<String>,
}

pub fn router(deps: Arc<Deps>) -> Router {
    Router::new()
        .route(
            "/ops/invitations",
            get(list_invitations).post(create_invitation),
        )
        .route(
            "/ops/invitations/{id}",
            get(show_invitation).delete(revoke_invitation),
        )
        .route("/ops/authorizers", get(list_authorizers))
        .route("/ops/authorizers/{appid}", get(show_authorizer))
        .merge(apps::routes())
        .merge(templates::routes())
        .merge(batches::routes())
        .route("/ops", axum::routing::any(not_found))
        .route("/ops/{*rest}", axum::routing::any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(deps.clone(), operator_key))
        // The console page and its assets hold no secret: served without the key.
        .merge(console::routes())
        .with_state(deps)
}

/// Every `/ops` request, even to an unknown route, first shows the operator key.
async fn operator_key(
    State(deps): State<Arc<Deps>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let secrets = deps.secrets.load().await.map_err(|_| ApiError::Secrets)?;
    let operator = wxopen::operator_auth::check(req.headers(), &secrets.operator_key_sha256)?;
    req.extensions_mut().insert(operator);
    Ok(next.run(req).await)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn not_found() -> ApiError {
    ApiError::NotFound { what: "route" }
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

/// Parses a JSON body into `T`, answering a 400 that names the field at fault (its path, e.g.
/// `item_list[2].tag`) and serde's reason, instead of axum's plain-text rejection.
/// A query string, or 400 `invalid_query` in the API's JSON (axum's own rejection is text).
pub(crate) struct OpsQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S>
    for OpsQuery<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(q)) => Ok(OpsQuery(q)),
            Err(e) => Err(ApiError::bad("invalid_query", e.body_text())),
        }
    }
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !json {
        return Err(ApiError::bad(
            "unsupported_content_type",
            "send the body as Content-Type: application/json",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let message = if field == "." {
            e.inner().to_string()
        } else {
            format!("{field}: {}", e.inner())
        };
        ApiError::invalid_body(field, message)
    })
}

async fn create_invitation(
    State(deps): State<Arc<Deps>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: NewInvitation = json_body(&headers, &body)?;
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
    let base = wxopen::http::public_base_url(deps.public_url.as_deref(), &headers)
        .ok_or_else(|| ApiError::bad("no_host", "the request names no Host"))?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    pub(crate) cursor: Option<String>,
    pub(crate) limit: Option<u32>,
}

pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(50) {
        l @ 1..=100 => Ok(l),
        _ => Err(ApiError::bad("invalid_limit", "limit must be 1 to 100")),
    }
}

async fn list_invitations(
    State(deps): State<Arc<Deps>>,
    headers: HeaderMap,
    OpsQuery(q): OpsQuery<PageQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let base =
        wxopen::http::public_base_url(deps.public_url.as_deref(), &headers).unwrap_or_default();
    let page = deps
        .store
        .list_invitations(q.cursor.as_deref(), page_limit(q.limit)?)
        .await?;
    let now = deps.clock.now();
    Ok(Json(serde_json::json!({
        "items": page.items.iter().map(|i| views::invitation(i, &base, now)).collect::<Vec<_>>(),
        "next": page.next,
    })))
}

async fn show_invitation(
    State(deps): State<Arc<Deps>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let inv = deps
        .store
        .get_invitation(&id)
        .await?
        .ok_or(ApiError::NotFound { what: "invitation" })?;
    let base =
        wxopen::http::public_base_url(deps.public_url.as_deref(), &headers).unwrap_or_default();
    Ok(Json(views::invitation(&inv, &base, deps.clock.now())))
}

/// Revoking is idempotent; a used invitation cannot be revoked (its authorization stands).
async fn revoke_invitation(
    State(deps): State<Arc<Deps>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
            StoreError::NotFound => ApiError::NotFound { what: "invitation" },
            StoreError::Conflict => ApiError::conflict(
                "invitation_used",
                "the invitation was already used; revoke the authorization in WeChat instead",
                serde_json::json!({}),
            ),
            e => e.into(),
        })?;
    tracing::info!(invitation = %inv.id, "invitation revoked");
    let base =
        wxopen::http::public_base_url(deps.public_url.as_deref(), &headers).unwrap_or_default();
    Ok(Json(views::invitation(&inv, &base, now)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizerQuery {
    status: Option<String>,
    customer_id: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// How many of an app's newest audits the authorizer list reads for its latest audit and last
/// release.
const RECENT_AUDITS: u32 = 10;

async fn list_authorizers(
    State(deps): State<Arc<Deps>>,
    OpsQuery(q): OpsQuery<AuthorizerQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    let filter = AuthorizerFilter {
        status,
        customer_id: q.customer_id.filter(|c| !c.is_empty()),
    };
    let page = deps
        .store
        .list_authorizers(&filter, q.cursor.as_deref(), page_limit(q.limit)?)
        .await?;
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
        .map(|((a, t), audits)| {
            let mut v = views::authorizer(a, t, false);
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

async fn show_authorizer(
    State(deps): State<Arc<Deps>>,
    Path(appid): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let appid = AppId::parse(&appid).map_err(|e| ApiError::bad("invalid_appid", e.to_string()))?;
    let a = deps
        .store
        .get_authorizer(&appid)
        .await?
        .ok_or(ApiError::NotFound { what: "authorizer" })?;
    let token = views::token_health(deps.store.as_ref(), &appid).await?;
    Ok(Json(views::authorizer(&a, token, true)))
}
