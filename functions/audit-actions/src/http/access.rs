//! Who may call which `/ops` and `/svc` route: the tables of roles ([`RULES`], [`SVC_RULES`]),
//! the key check that runs before any routing (so a request without a valid key learns nothing
//! of the routes, not even their methods), the customer scope of one app's routes, and every
//! refusal logged and counted.

use super::error::ApiError;
use crate::Deps;
use axum::extract::{Request, State};
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use wxopen::domain::AppId;
use wxopen::operator_auth::{Operator, Role};

/// Whether a key limited to some customers may use a route at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// One customer's data (one app, or a listing filtered to the key's customers).
    PerCustomer,
    /// Spans every customer (batches, the template library): only a key of every customer.
    AllCustomers,
}

/// One route and what it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub route: &'static str,
    pub role: Role,
    pub reach: Reach,
}

/// What every `/ops` route takes: each module's table ([`super::routes::declare_routes!`]),
/// in the order the router merges them.
pub static RULES: std::sync::LazyLock<Vec<Rule>> = std::sync::LazyLock::new(|| {
    super::OPS_ROUTES
        .iter()
        .flat_map(|(rules, _)| rules.iter().copied())
        .collect()
});

/// What every `/svc` route takes (service keys only).
pub const SVC_RULES: &[Rule] = super::svc::RULES;

fn all_rules() -> impl Iterator<Item = &'static Rule> {
    RULES.iter().chain(SVC_RULES)
}

/// Whether the path's `segments` are an instance of the route's (`{name}` matches one
/// non-empty segment).
fn matches(route: &[&str], segments: &[&str]) -> bool {
    route.len() == segments.len()
        && route.iter().zip(segments).all(|(r, p)| {
            if r.starts_with('{') {
                !p.is_empty()
            } else {
                r == p
            }
        })
}

/// Every route template with its segments, split once: the key check runs on every request.
fn route_table() -> &'static [(&'static str, Vec<&'static str>)] {
    static TABLE: std::sync::OnceLock<Vec<(&'static str, Vec<&'static str>)>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for r in all_rules() {
            if !t.iter().any(|(route, _)| *route == r.route) {
                t.push((r.route, r.route.split('/').collect()));
            }
        }
        t
    })
}

/// The route template a path is an instance of, if any (a literal segment wins over a
/// parameter: `/audits/latest` is not `/audits/{auditid}`).
pub fn route_of(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut found: Option<(&'static str, usize)> = None;
    for (route, parts) in route_table() {
        if matches(parts, &segments) {
            let params = parts.iter().filter(|p| p.starts_with('{')).count();
            if found.is_none_or(|(_, f)| params < f) {
                found = Some((route, params));
            }
        }
    }
    found.map(|(r, _)| r)
}

/// What `method` on `path` needs; a route not in the table needs admin of every customer.
pub fn rule_for(method: &Method, path: &str) -> Rule {
    rule_of(method, route_of(path))
}

/// What `method` on `route` (a path's template, [`route_of`]) needs.
fn rule_of(method: &Method, route: Option<&str>) -> Rule {
    all_rules()
        .find(|r| Some(r.route) == route && r.method == method.as_str())
        .copied()
        .unwrap_or(Rule {
            method: "",
            route: "",
            role: Role::Admin,
            reach: Reach::AllCustomers,
        })
}

/// Whether `op` may call `r` at all (its customer scope is checked per app, later).
pub fn permits(op: &Operator, r: &Rule) -> bool {
    op.role.grants(r.role) && (r.reach == Reach::PerCustomer || op.customers.is_none())
}

/// The app a path is about: `/ops/apps/{appid}/…`, `/svc/apps/{appid}/…` and
/// `/ops/authorizers/{appid}`.
fn app_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/ops/apps/")
        .or_else(|| path.strip_prefix("/svc/apps/"))
        .or_else(|| path.strip_prefix("/ops/authorizers/"))?;
    Some(rest.split('/').next().unwrap_or(rest)).filter(|a| !a.is_empty())
}

/// The app a request is about: its path's ([`app_of`]), or the `?appid=` with which a few
/// routes (`/ops/quota`, `/ops/categories`, `/ops/rid/{rid}`) pick whose token asks WeChat: a
/// key limited to some customers may name only their apps there too.
fn app_of_request(uri: &Uri) -> Option<String> {
    if let Some(a) = app_of(uri.path()) {
        return Some(a.to_owned());
    }
    #[derive(serde::Deserialize)]
    struct AppidParam {
        appid: Option<String>,
    }
    let q = axum::extract::Query::<AppidParam>::try_from_uri(uri).ok()?;
    q.0.appid.filter(|a| !a.is_empty())
}

/// The request's source address: as API Gateway saw it in AWS, the peer's address where a
/// listener of our own (wxopen-local) serves the router.
fn source_ip(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .or_else(|| {
        req.extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string())
    })
    .unwrap_or_else(|| "unknown".to_owned())
}

/// The metric every refused `/ops` request counts in (CloudWatch, namespace `wxopen`,
/// dimension `Function=audit-actions`): key guessing shows as a rising count, with an alarm.
pub const AUTH_FAILURE_METRIC: &str = "OperatorAuthFailures";

/// The Embedded Metric Format line of one refusal (`reason`: why), printed to the function's
/// log, where CloudWatch turns it into the metric.
pub fn auth_failure_emf(reason: &str, timestamp_ms: u64) -> serde_json::Value {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "wxopen",
                "Dimensions": [["Function"]],
                "Metrics": [{ "Name": AUTH_FAILURE_METRIC, "Unit": "Count" }],
            }],
        },
        "Function": "audit-actions",
        "Reason": reason,
        AUTH_FAILURE_METRIC: 1,
    })
}

/// Logs a refused request and counts it: the route (its template), the source address, why,
/// and the key's label when the key was valid; never the key.
fn refused(route: &str, ip: &str, reason: &str, label: Option<&str>) {
    tracing::warn!(
        route,
        source_ip = ip,
        reason,
        label = label.unwrap_or("-"),
        "operator request refused"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    println!("{}", auth_failure_emf(reason, now));
}

/// The secret's operator keys (with the legacy digests as admins), made once per loaded secret
/// rather than copied on every request: the secret is held, so a rotated one (a new `Arc`) is
/// never mistaken for the old. A key is checked by one SHA-256 of what was presented (no slow
/// hash), so nothing of the check itself needs keeping.
fn operator_keys(
    secrets: &Arc<wxopen::secrets::PlatformSecrets>,
) -> Arc<Vec<wxopen::operator_auth::OperatorKey>> {
    type Cached = (
        Arc<wxopen::secrets::PlatformSecrets>,
        Arc<Vec<wxopen::operator_auth::OperatorKey>>,
    );
    static CACHE: std::sync::Mutex<Option<Cached>> = std::sync::Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    match cache.as_ref() {
        Some((held, keys)) if Arc::ptr_eq(held, secrets) => keys.clone(),
        _ => {
            let keys = Arc::new(secrets.all_operator_keys());
            *cache = Some((secrets.clone(), keys.clone()));
            keys
        }
    }
}

/// Every `/ops` request, before routing: the key, then its role for the route, then its
/// customer scope for one app's routes (one store read). Refusals are 401, 403 `forbidden`
/// naming the role needed, and 404 for an app of another customer (as for an unknown one, so
/// appids do not leak).
pub async fn operator_access(
    State(deps): State<Arc<Deps>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let template = route_of(&path);
    let route = template.unwrap_or("(unknown)");
    let ip = source_ip(&req);
    let secrets = match deps.secrets.load().await {
        Ok(s) => s,
        Err(_) => return ApiError::Secrets.into_response(),
    };
    let op = match wxopen::operator_auth::check(req.headers(), &operator_keys(&secrets)) {
        Ok(op) => op,
        Err(e) => {
            refused(route, &ip, e.reason(), None);
            return ApiError::Unauthorized(e).into_response();
        }
    };
    let rule = rule_of(req.method(), template);
    if !permits(&op, &rule) {
        refused(route, &ip, "forbidden", Some(&op.label));
        let all_customers = rule.reach == Reach::AllCustomers && op.customers.is_some();
        return ApiError::forbidden(rule.role, op.role, all_customers).into_response();
    }
    if let (Some(_), Some(appid)) = (&op.customers, app_of_request(req.uri())) {
        // An unparsable appid is left to the handler's 400.
        if let Ok(appid) = AppId::parse(&appid) {
            match deps.store.get_authorizer(&appid).await {
                Ok(Some(a)) if op.sees_customer(a.customer_id.as_deref()) => {}
                Ok(_) => {
                    refused(route, &ip, "out_of_scope", Some(&op.label));
                    return ApiError::not_found("authorizer").into_response();
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    }
    req.extensions_mut().insert(op);
    next.run(req).await
}

/// Keys configured before roles (bare digests in `operator_key_sha256`) keep working as admins
/// of every customer; said once at start, so the operator moves them to `operator_keys`.
pub async fn warn_on_keys_without_roles(secrets: &dyn wxopen::secrets::SecretsSource) {
    if let Ok(s) = secrets.load().await {
        if !s.operator_key_sha256.is_empty() {
            tracing::warn!(
                keys = s.operator_key_sha256.len(),
                "operator keys without a role (operator_key_sha256) act as admin of every customer: give each a label and role in operator_keys (wxopen keys new)"
            );
        }
    }
}

/// The routes are declared with their full `/ops/…` path; nesting them under `/ops` (so the
/// key is checked before routing) strips the prefix, which this puts back.
pub async fn restore_ops_prefix(req: Request) -> Request {
    with_prefix(req, "/ops")
}

/// [`restore_ops_prefix`] for `/svc`.
pub async fn restore_svc_prefix(req: Request) -> Request {
    with_prefix(req, "/svc")
}

fn with_prefix(mut req: Request, prefix: &str) -> Request {
    let pq = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let restored = match pq.strip_prefix('/') {
        Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("{prefix}{rest}"),
        _ => format!("{prefix}{pq}"),
    };
    if let Ok(uri) = restored.parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_finds_its_route_and_literal_segments_win() {
        assert_eq!(
            route_of("/ops/apps/wx1/audits/latest"),
            Some("/ops/apps/{appid}/audits/latest")
        );
        assert_eq!(
            route_of("/ops/apps/wx1/audits/42"),
            Some("/ops/apps/{appid}/audits/{auditid}")
        );
        assert_eq!(route_of("/ops/apps//commit"), None);
        assert_eq!(route_of("/ops/nope"), None);
        assert_eq!(
            rule_for(&Method::POST, "/ops/apps/wx1/release").role,
            Role::Operator
        );
        // Unknown: admin of every customer.
        let r = rule_for(&Method::PATCH, "/ops/apps/wx1/release");
        assert_eq!((r.role, r.reach), (Role::Admin, Reach::AllCustomers));
    }

    #[test]
    fn svc_routes_need_a_service_key_and_no_persons_key_reaches_them() {
        assert_eq!(
            route_of("/svc/apps/wx1/access-token/invalid"),
            Some("/svc/apps/{appid}/access-token/invalid")
        );
        assert_eq!(app_of("/svc/apps/wx1/sessions"), Some("wx1"));
        for r in SVC_RULES {
            let m = Method::from_bytes(r.method.as_bytes()).unwrap();
            assert_eq!(rule_for(&m, r.route).role, Role::Service, "{}", r.route);
            for role in [Role::Viewer, Role::Operator, Role::Admin] {
                let op = Operator {
                    label: "k".into(),
                    role,
                    customers: None,
                };
                assert!(!permits(&op, r), "{role} {} {}", r.method, r.route);
            }
        }
        let scoped = Operator {
            label: "k".into(),
            role: Role::Service,
            customers: Some(vec!["acme".into()]),
        };
        let component = rule_for(&Method::GET, "/svc/component/access-token");
        assert!(!permits(&scoped, &component));
        assert!(permits(
            &scoped,
            &rule_for(&Method::GET, "/svc/apps/wx1/access-token")
        ));
    }

    #[test]
    fn the_emf_line_declares_the_metric_it_carries() {
        let doc = auth_failure_emf("wrong_key", 7);
        let m = &doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0];
        assert_eq!(m["Name"], AUTH_FAILURE_METRIC);
        assert_eq!(doc[AUTH_FAILURE_METRIC], 1);
        assert_eq!(doc["Function"], "audit-actions");
    }

    #[test]
    fn the_prefix_comes_back_with_the_query() {
        let r = |u: &str| {
            with_prefix(
                Request::builder().uri(u).body(Default::default()).unwrap(),
                "/ops",
            )
            .uri()
            .to_string()
        };
        assert_eq!(r("/apps/wx1?x=1"), "/ops/apps/wx1?x=1");
        assert_eq!(r("/"), "/ops");
        assert_eq!(r("/?a=b"), "/ops?a=b");
    }
}
