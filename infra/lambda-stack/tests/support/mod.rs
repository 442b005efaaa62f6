//! Shared plumbing of the stack's tests: moto's endpoint, the repository, a started stack, an
//! HTTP client, the operator's requests.
#![allow(dead_code)]

use lambda_stack::{Stack, StackConfig};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::path::PathBuf;

/// moto's server from `WXOPEN_TEST_AWS_ENDPOINT`. Without it the test skips locally and fails
/// in CI (`CI=true`), so a CI that forgot moto cannot pass by skipping.
pub fn aws_endpoint() -> Option<String> {
    match std::env::var("WXOPEN_TEST_AWS_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => Some(e.trim().to_owned()),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "WXOPEN_TEST_AWS_ENDPOINT is not set in CI: start moto_server and point it there"
        ),
        _ => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED AWS test (WXOPEN_TEST_AWS_ENDPOINT unset; ./infra/test-all.sh starts moto_server): {}",
                std::thread::current().name().unwrap_or("a lambda stack test")
            );
            None
        }
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A stack on free ports with a table and a secret of its own; `None` when skipping.
pub async fn stack() -> Option<Stack> {
    let endpoint = aws_endpoint()?;
    let config = StackConfig::for_test(&repo(), &endpoint);
    Some(
        lambda_stack::start(config)
            .await
            .unwrap_or_else(|e| panic!("the stack did not start: {e:#}")),
    )
}

pub fn http() -> reqwest::Client {
    wxopen::https::reqwest_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An operator's request through the front; panics unless answered `want`.
pub async fn ops(
    stack: &Stack,
    key: &SecretString,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    want: u16,
) -> Value {
    let mut req = http()
        .request(method.clone(), format!("{}{path}", stack.base_url))
        .bearer_auth(key.expose_secret());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, want, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}
