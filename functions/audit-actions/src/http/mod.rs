//! The HTTP layer: thin routers that take a request apart (the operator, the app, the body),
//! call [`crate::ops`] and render its answer or its failure ([`error::render`]). Every `/ops`
//! route sits behind the operator key and its role ([`access`]).

pub mod access;
mod apps;
mod batches;
mod console;
pub mod error;
mod filing;
mod filing_application;
pub mod invitations;
mod notifications;
mod profile;
mod quota;
mod registration;
mod routes;
pub mod svc;
mod templates;
pub mod views;
mod violations;

use crate::ops::{self, OpsError};
use crate::Deps;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use error::ApiError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use wxopen::operator_auth::Operator;
use wxopen::store::{Authorizer, Page};

/// The handlers' state: the dependencies.
pub(crate) type S = axum::extract::State<Arc<Deps>>;
/// A handler's answer: JSON unless said otherwise, or a failure rendered.
pub(crate) type ApiResult<T = Json<Value>> = Result<T, ApiError>;

routes::declare_routes! {
    ME_RULES, me_routes;
    GET "/ops/me" => me: Viewer, ONE;
}

/// A module's `/ops` routes: its table of rules and its router, declared together.
type OpsRoutes = (&'static [access::Rule], fn() -> Router<Arc<Deps>>);

/// Every `/ops` module, once: the router merges their routers, [`access::RULES`] their tables.
const OPS_ROUTES: &[OpsRoutes] = &[
    (ME_RULES, me_routes),
    (invitations::RULES, invitations::routes),
    (apps::RULES, apps::routes),
    (templates::RULES, templates::routes),
    (batches::RULES, batches::routes),
    (svc::OPS_RULES, svc::ops_routes),
    (filing_application::RULES, filing_application::routes),
    (quota::RULES, quota::routes),
    (violations::RULES, violations::routes),
    (filing::RULES, filing::routes),
    (notifications::RULES, notifications::routes),
    (registration::RULES, registration::routes),
    (profile::RULES, profile::routes),
];

pub fn router(deps: Arc<Deps>) -> Router {
    let ops = OPS_ROUTES
        .iter()
        .fold(Router::new(), |router, (_, routes)| router.merge(routes()));
    // The provider's backends (`/svc`, `service` keys only): the same key check, its own table.
    let ops = behind_the_key(&deps, ops, "/ops", access::restore_ops_prefix);
    let svc = behind_the_key(&deps, svc::routes(), "/svc", access::restore_svc_prefix);
    Router::new()
        .nest_service("/ops", ops)
        .nest_service("/svc", svc)
        // The console page and its assets hold no secret: served without the key.
        .merge(console::routes())
        .with_state(deps)
}

/// `routes` (declared with their full path under `prefix`) behind the key check: every request
/// under `prefix`, even to an unknown route (404) or with a wrong method (405), first shows the
/// key and its role. The key is checked around the routes, not inside them (where a 405 would
/// add the route's `Allow` header to the 401); nesting strips the prefix, `restore` puts it back.
fn behind_the_key<F>(
    deps: &Arc<Deps>,
    routes: Router<Arc<Deps>>,
    prefix: &str,
    restore: fn(Request) -> F,
) -> Router
where
    F: std::future::Future<Output = Request> + Send + 'static,
{
    let routes = routes
        .route(prefix, axum::routing::any(not_found))
        .route(
            &format!("{prefix}/{{*rest}}"),
            axum::routing::any(not_found),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(deps.clone());
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn_with_state(
            deps.clone(),
            access::operator_access,
        ))
        .layer(middleware::map_request(restore))
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
    ApiError::not_found("route")
}

/// The route's path parameter `name`, as sent (empty when the route has none).
pub(crate) async fn path_param<S: Send + Sync>(parts: &mut Parts, state: &S, name: &str) -> String {
    RawPathParams::from_request_parts(parts, state)
        .await
        .ok()
        .and_then(|p| {
            p.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
        .unwrap_or_default()
}

/// The route's app, known, of any status: its history stays readable after a revocation.
pub(crate) struct KnownApp(pub Authorizer);

impl FromRequestParts<Arc<Deps>> for KnownApp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, deps: &Arc<Deps>) -> Result<Self, ApiError> {
        let appid = path_param(parts, deps, "appid").await;
        Ok(KnownApp(
            ops::app::known(deps.store.as_ref(), &appid).await?,
        ))
    }
}

/// The route's app, known and authorized (404 unknown, 409 `not_authorized`).
pub(crate) struct AuthorizedApp(pub Authorizer);

impl FromRequestParts<Arc<Deps>> for AuthorizedApp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, deps: &Arc<Deps>) -> Result<Self, ApiError> {
        let KnownApp(a) = KnownApp::from_request_parts(parts, deps).await?;
        Ok(AuthorizedApp(ops::app::still_authorized(a)?))
    }
}

/// The operator the key check found (it puts one in every `/ops` request).
pub(crate) async fn operator(parts: &mut Parts) -> Result<Operator, Response> {
    let Extension(op) = Extension::<Operator>::from_request_parts(parts, &())
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(op)
}

/// An operator acting on an authorized app: the label the app's activity records it under.
pub(crate) struct Acting {
    pub op: Operator,
    pub app: Authorizer,
}

impl FromRequestParts<Arc<Deps>> for Acting {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, deps: &Arc<Deps>) -> Result<Self, Response> {
        let op = operator(parts).await?;
        let AuthorizedApp(app) = AuthorizedApp::from_request_parts(parts, deps)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Acting { op, app })
    }
}

/// A query string, or 400 `invalid_query` in the API's JSON (axum's own rejection is text).
pub(crate) struct OpsQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for OpsQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(q)) => Ok(OpsQuery(q)),
            Err(e) => Err(ApiError::bad("invalid_query", e.body_text())),
        }
    }
}

/// The body: one JSON object as `T`, or a 400 that names the field at fault.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (headers, body) = read_body(req, state).await?;
        Ok(JsonBody(json_body(&headers, &body)?))
    }
}

/// A body that may be left out: none (or only whitespace) is `T::default()`, anything else is
/// read as [`JsonBody`] reads it.
pub(crate) struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (headers, body) = read_body(req, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        Ok(OptionalJsonBody(json_body(&headers, &body)?))
    }
}

/// The request's headers and whole body, or the JSON 413/400 of a body too large or cut off.
async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<(HeaderMap, Bytes), ApiError> {
    let headers = req.headers().clone();
    let body = Bytes::from_request(req, state).await?;
    Ok((headers, body))
}

/// Parses a JSON body into `T`, answering a 400 that names the field at fault (its path, e.g.
/// `item_list[2].tag`) and serde's reason, instead of axum's plain-text rejection.
pub(crate) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
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

/// The query of a listing that takes only a page.
pub(crate) type Paged = OpsQuery<PageQuery>;

/// A page of a listing asked for: where to go on from (`cursor`) and how many (`limit`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

impl PageQuery {
    pub(crate) fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    pub(crate) fn limit(&self) -> Result<u32, OpsError> {
        page_limit(self.limit)
    }
}

/// A listing's page size: 1 to 100, 50 unless asked.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, OpsError> {
    match limit.unwrap_or(50) {
        l @ 1..=100 => Ok(l),
        _ => Err(OpsError::invalid("invalid_limit", "limit must be 1 to 100")),
    }
}

/// A page of a listing as the API answers it: its items, each through `view`, and where the
/// next page starts.
pub(crate) fn listing<T>(page: Page<T>, view: impl FnMut(&T) -> Value) -> Json<Value> {
    let items: Vec<Value> = page.items.iter().map(view).collect();
    Json(json!({ "items": items, "next": page.next }))
}
