//! `/ops/templates`, `/ops/template-drafts`, `/ops/quota`: the platform's template library
//! (called with the component token) and its audit quota.

use crate::error::ApiError;
use crate::{json_body, Deps, OpsQuery};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use wxopen::domain::AppId;
use wxopen::operator_auth::Operator;
use wxopen::store::AuthorizerStatus;
use wxopen::wechat::component::TemplateType;

pub fn routes() -> Router<Arc<Deps>> {
    Router::new()
        .route("/ops/templates", get(list).post(add))
        .route("/ops/templates/{template_id}", delete(remove))
        .route(
            "/ops/templates/{template_id}/requirements",
            get(crate::requirements::show)
                .put(crate::requirements::put)
                .delete(crate::requirements::delete),
        )
        .route("/ops/template-drafts", get(drafts))
        .route("/ops/quota", get(quota))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    template_type: Option<u8>,
}

fn template_type(t: u8) -> Result<TemplateType, ApiError> {
    TemplateType::try_from(t).map_err(|_| {
        ApiError::bad(
            "invalid_template_type",
            "template_type must be 0 (normal) or 1 (standard)",
        )
    })
}

async fn list(
    State(deps): State<Arc<Deps>>,
    OpsQuery(q): OpsQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = q.template_type.map(template_type).transpose()?;
    let t = deps.mgr.component().get_template_list(filter).await?;
    Ok(Json(json!({ "templates": t })))
}

async fn drafts(State(deps): State<Arc<Deps>>) -> Result<Json<Value>, ApiError> {
    let d = deps.mgr.component().get_template_draft_list().await?;
    Ok(Json(json!({ "drafts": d })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    draft_id: u64,
    #[serde(default)]
    template_type: u8,
}

async fn add(
    State(deps): State<Arc<Deps>>,
    Extension(op): Extension<Operator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: AddBody = json_body(&headers, &body)?;
    let tt = template_type(b.template_type)?;
    deps.mgr.component().add_to_template(b.draft_id, tt).await?;
    tracing::info!(operator = %op.label, draft_id = b.draft_id, "draft added to the template library");
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "status": "added", "draft_id": b.draft_id, "template_type": b.template_type }),
        ),
    )
        .into_response())
}

async fn remove(
    State(deps): State<Arc<Deps>>,
    Extension(op): Extension<Operator>,
    Path(template_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let template_id: u64 = template_id
        .parse()
        .map_err(|_| ApiError::bad("invalid_template_id", "template_id must be a number"))?;
    deps.mgr.component().delete_template(template_id).await?;
    tracing::info!(operator = %op.label, template_id, "template deleted");
    Ok(Json(
        json!({ "status": "deleted", "template_id": template_id }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaQuery {
    appid: Option<String>,
}

/// The quota is the platform's, but WeChat asks for it with an authorizer's token: the named app,
/// or the first authorized one.
async fn quota(
    State(deps): State<Arc<Deps>>,
    OpsQuery(q): OpsQuery<QuotaQuery>,
) -> Result<Json<Value>, ApiError> {
    let appid = match q.appid.filter(|a| !a.is_empty()) {
        Some(a) => AppId::parse(&a).map_err(|e| ApiError::bad("invalid_appid", e.to_string()))?,
        None => {
            let filter = wxopen::store::AuthorizerFilter {
                status: Some(AuthorizerStatus::Authorized),
                customer_id: None,
            };
            let page = deps.store.list_authorizers(&filter, None, 1).await?;
            page.items
                .into_iter()
                .next()
                .map(|a| a.appid)
                .ok_or_else(|| {
                    ApiError::conflict(
                        "no_authorized_app",
                        "the quota is read with an authorized app's token, and none is authorized",
                        json!({}),
                    )
                })?
        }
    };
    let q = deps
        .mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::QueryQuota)
        .await?;
    Ok(Json(json!({
        "appid": appid,
        "rest": q.rest,
        "limit": q.limit,
        "speedup_rest": q.speedup_rest,
        "speedup_limit": q.speedup_limit,
    })))
}
