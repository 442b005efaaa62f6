//! Response helpers shared by the `lambda_http` functions: every error is a JSON body.

use lambda_http::http::{header::CONTENT_TYPE, StatusCode};
use lambda_http::{Body, Response};

/// A JSON response with the given status.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// `{"error": code, "message": message}` with the given status.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}

/// 501 for a function whose behaviour has not landed yet: honest, never a fake success.
pub fn not_implemented(function: &str) -> Response<Body> {
    error(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        &format!("{function} is not implemented yet"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_json_with_code_and_message() {
        let r = error(StatusCode::BAD_REQUEST, "bad_appid", "appid is invalid");
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let v: serde_json::Value = match r.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(v["error"], "bad_appid");
        assert_eq!(v["message"], "appid is invalid");
    }
}
