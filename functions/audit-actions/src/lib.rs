//! The `audit-actions` function: the operators' API under `/ops`, every route behind the
//! operator bearer key and its role ([`access`]), JSON in and out, every failure mapped once
//! ([`error::ApiError`]).
//!
//! `main.rs` hands [`router`] to `lambda_http::run`; `wxopen-local` merges the same router.

pub mod access;
mod apps;
pub mod batches;
mod console;
pub mod error;
pub mod ext_json;
mod http;
pub mod ops;
mod requirements;
pub mod stale_audits;
mod templates;
pub mod views;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use error::ApiError;
use serde::Deserialize;
use std::sync::Arc;
use wxopen::domain::{AppId, Clock};
use wxopen::operator_auth::Operator;
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
    let ops = Router::new()
        .route("/ops/me", get(me))
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
        .merge(http::svc::ops_routes())
        .route("/ops", axum::routing::any(not_found))
        .route("/ops/{*rest}", axum::routing::any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(deps.clone());
    // Every `/ops` request, even to an unknown route or with a wrong method, first shows the
    // operator key and its role: the key is checked around the routes, not inside them (where
    // a 405 would add the route's `Allow` header to the 401).
    let ops = Router::new()
        .fallback_service(ops)
        .layer(middleware::from_fn_with_state(
            deps.clone(),
            access::operator_access,
        ))
        .layer(middleware::map_request(access::restore_ops_prefix));
    // The provider's backends (`/svc`, `service` keys only): the same key check, its own table.
    let svc = Router::new()
        .merge(http::svc::routes())
        .route("/svc", axum::routing::any(not_found))
        .route("/svc/{*rest}", axum::routing::any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(deps.clone());
    let svc = Router::new()
        .fallback_service(svc)
        .layer(middleware::from_fn_with_state(
            deps.clone(),
            access::operator_access,
        ))
        .layer(middleware::map_request(access::restore_svc_prefix));
    Router::new()
        .nest_service("/ops", ops)
        .nest_service("/svc", svc)
        // The console page and its assets hold no secret: served without the key.
        .merge(console::routes())
        .with_state(deps)
}

/// The key's label, role and customer scope, and what it may do: the console shows only that.
async fn me(Extension(op): Extension<Operator>) -> Json<serde_json::Value> {
    let routes: Vec<_> = access::RULES
        .iter()
        .map(|r| {
            serde_json::json!({
                "method": r.method,
                "route": r.route,
                "role": r.role,
                "allowed": access::permits(&op, r),
            })
        })
        .collect();
    Json(serde_json::json!({
        "label": op.label,
        "role": op.role,
        "customers": op.customers,
        "routes": routes,
    }))
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
    // Every body is one JSON object: serde would take an array for a struct (its fields in
    // order, the missing ones defaulted) and stop reading after the first value.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::invalid_body(
            ".".into(),
            "the body must be one JSON object ({...})".into(),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let field = e.path().to_string();
        let message = if field == "." {
            e.inner().to_string()
        } else {
            format!("{field}: {}", e.inner())
        };
        ApiError::invalid_body(field, message)
    })?;
    de.end().map_err(|_| {
        ApiError::invalid_body(
            ".".into(),
            "trailing data after the JSON object: send exactly one object".into(),
        )
    })?;
    Ok(value)
}

async fn create_invitation(
    State(deps): State<Arc<Deps>>,
    Extension(op): Extension<Operator>,
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
    Extension(op): Extension<Operator>,
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
        "items": page.items.iter()
            .filter(|i| op.sees_customer(Some(&i.customer_id)))
            .map(|i| views::invitation(i, &base, now)).collect::<Vec<_>>(),
        "next": page.next,
    })))
}

async fn show_invitation(
    State(deps): State<Arc<Deps>>,
    Extension(op): Extension<Operator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let inv = deps
        .store
        .get_invitation(&id)
        .await?
        .filter(|i| op.sees_customer(Some(&i.customer_id)))
        .ok_or(ApiError::NotFound { what: "invitation" })?;
    let base =
        wxopen::http::public_base_url(deps.public_url.as_deref(), &headers).unwrap_or_default();
    Ok(Json(views::invitation(&inv, &base, deps.clock.now())))
}

/// Revoking is idempotent; a used invitation cannot be revoked (its authorization stands).
async fn revoke_invitation(
    State(deps): State<Arc<Deps>>,
    Extension(op): Extension<Operator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // A key limited to some customers revokes only theirs (another's is unknown to it). The
    // customer of an invitation never changes, so reading it first races with nothing.
    if op.customers.is_some() {
        deps.store
            .get_invitation(&id)
            .await?
            .filter(|i| op.sees_customer(Some(&i.customer_id)))
            .ok_or(ApiError::NotFound { what: "invitation" })?;
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
    Extension(op): Extension<Operator>,
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
    let filter = AuthorizerFilter {
        status,
        customer_id,
    };
    let mut page = deps
        .store
        .list_authorizers(&filter, q.cursor.as_deref(), page_limit(q.limit)?)
        .await?;
    page.items
        .retain(|a| op.sees_customer(a.customer_id.as_deref()));
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
