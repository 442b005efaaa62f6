//! `GET /console`: the operators' web console, one HTML page with its own stylesheet and script
//! (files under `functions/audit-actions/console/`, built into the binary: no framework, no
//! external asset, no build step).
//!
//! The page holds no secret: the operator types the key into its login form, the script keeps it
//! in `sessionStorage` and sends it as the bearer key on every `fetch` to `/ops`, never in a URL.
//! So these routes are served without the operator key, under a strict Content-Security-Policy
//! (scripts and styles from this origin only, no inline script, images from this origin or the
//! `blob:` URLs the script makes of the QR code, no frames, no form posting anywhere).

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

const PAGE: &str = include_str!("../../console/index.html");
/// The script, after the console's labels (`console/labels.json`: every status, stage, error
/// and event in Chinese and English, data kept apart from the code that shows it).
const SCRIPT: &str = concat!(
    "'use strict';\nconst LABELS = ",
    include_str!("../../console/labels.json"),
    ";\n",
    include_str!("../../console/app.js")
);
const STYLE: &str = include_str!("../../console/style.css");

/// The page's policy: everything from this origin, nothing inline, nothing framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; \
     form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<Arc<crate::Deps>> {
    Router::new()
        .route("/console", get(page))
        .route("/console/app.js", get(script))
        .route("/console/style.css", get(style))
        .method_not_allowed_fallback(super::method_not_allowed)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 7] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        // Small, and a deployment must show its new script at once: nothing kept.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    (headers, body).into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
