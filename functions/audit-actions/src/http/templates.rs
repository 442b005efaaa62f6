//! `/ops/templates`, `/ops/template-drafts`, `/ops/quota`: the platform's template library
//! (called with the component token), what each template needs of an app
//! ([`ops::requirements`]) and the platform's audit quota.

use super::error::ApiError;
use super::routes::declare_routes;
use super::{ApiResult, S};
use super::{JsonBody, OpsQuery};
use crate::ops::{self, requirements::template_id, OpsError};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use wxopen::operator_auth::Operator;
use wxopen::wechat::component::{
    AddToTemplate, DeleteTemplate, GetTemplateDraftList, GetTemplateList, TemplateType,
};
use wxopen::wechat::wxa::QueryQuota;

declare_routes! {
    RULES, routes;
    GET "/ops/templates" => list: Viewer, ONE;
    POST "/ops/templates" => add: Admin, ALL;
    DELETE "/ops/templates/{template_id}" => remove: Admin, ALL;
    GET "/ops/templates/{template_id}/requirements" => requirements: Viewer, ONE;
    PUT "/ops/templates/{template_id}/requirements" => set_requirements: Admin, ALL;
    DELETE "/ops/templates/{template_id}/requirements" => remove_requirements: Admin, ALL;
    GET "/ops/template-drafts" => drafts: Viewer, ONE;
    GET "/ops/quota" => quota: Viewer, ONE;
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

async fn list(State(deps): S, OpsQuery(q): OpsQuery<ListQuery>) -> ApiResult {
    let filter = q.template_type.map(template_type).transpose()?;
    let t = deps
        .mgr
        .component()
        .call(&GetTemplateList {
            template_type: filter,
        })
        .await?
        .template_list;
    Ok(Json(json!({ "templates": t })))
}

async fn drafts(State(deps): S) -> ApiResult {
    let d = deps
        .mgr
        .component()
        .call(&GetTemplateDraftList)
        .await?
        .draft_list;
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
    State(deps): S,
    Extension(op): Extension<Operator>,
    JsonBody(b): JsonBody<AddBody>,
) -> ApiResult<Response> {
    let tt = template_type(b.template_type)?;
    let add = AddToTemplate {
        draft_id: b.draft_id,
        template_type: tt,
    };
    deps.mgr.component().call(&add).await?;
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
    State(deps): S,
    Extension(op): Extension<Operator>,
    Path(template_id): Path<String>,
) -> ApiResult {
    let template_id: u64 = template_id
        .parse()
        .map_err(|_| ApiError::bad("invalid_template_id", "template_id must be a number"))?;
    deps.mgr
        .component()
        .call(&DeleteTemplate { template_id })
        .await?;
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
async fn quota(State(deps): S, OpsQuery(q): OpsQuery<QuotaQuery>) -> ApiResult {
    let appid = match q.appid.filter(|a| !a.is_empty()) {
        Some(a) => ops::app::parse_appid(&a)?,
        None => {
            let filter = ops::app::authorized_only();
            let page = deps.store.list_authorizers(&filter, None, 1).await?;
            let first = page.items.into_iter().next();
            first.map(|a| a.appid).ok_or(OpsError::NoAuthorizedApp)?
        }
    };
    let q = deps.mgr.wxa(&appid).call(&QueryQuota).await?;
    ops::notifications::audit_quota_seen(&deps, q.rest, q.limit).await;
    Ok(Json(json!({
        "appid": appid,
        "rest": q.rest,
        "limit": q.limit,
        "speedup_rest": q.speedup_rest,
        "speedup_limit": q.speedup_limit,
    })))
}

/// The `{template_id}` of a requirements route, or 400 `invalid_template_id`.
struct TemplateId(u64);

impl<S: Send + Sync> FromRequestParts<S> for TemplateId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad("invalid_template_id", e.body_text()))?;
        Ok(TemplateId(template_id(&raw)?))
    }
}

async fn requirements(State(deps): S, TemplateId(id): TemplateId) -> ApiResult {
    let r = deps
        .store
        .get_template_requirements(id)
        .await?
        .ok_or(OpsError::NotFound {
            what: "template requirements",
        })?;
    Ok(Json(json!(r)))
}

async fn set_requirements(
    State(deps): S,
    Extension(op): Extension<Operator>,
    TemplateId(id): TemplateId,
    JsonBody(b): JsonBody<ops::requirements::RequirementsBody>,
) -> ApiResult {
    let r = b.into_requirements(id, &op.label, deps.clock.now())?;
    deps.store.put_template_requirements(&r).await?;
    tracing::info!(operator = %op.label, template_id = id, "template requirements set");
    Ok(Json(json!(r)))
}

async fn remove_requirements(State(deps): S, TemplateId(id): TemplateId) -> ApiResult {
    deps.store.delete_template_requirements(id).await?;
    Ok(Json(json!({ "status": "removed", "template_id": id })))
}
