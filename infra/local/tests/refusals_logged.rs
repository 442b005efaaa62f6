//! Every refused /ops request leaves a log line: the route, the source address and why, and
//! the key's label when the key was valid but lacks the role; never the key.

mod support;

use reqwest::Method;
use sha2::{Digest, Sha256};
use support::{spawn_app_with, Captured};
use wxopen::operator_auth::{OperatorKey, Role};
use wxopen_local::dev_secrets;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_and_missing_roles_are_logged_without_the_key() {
    let captured = Captured::install("warn,wechat_sim=off");
    const VIEWER: &str = "viewer-key-d2f6a1";
    const GUESS: &str = "guessed-key-9c31be";
    let mut secrets = dev_secrets();
    secrets.operator_keys = vec![OperatorKey {
        label: "support-desk".into(),
        sha256: hex::encode(Sha256::digest(VIEWER.as_bytes())),
        role: Role::Viewer,
        customers: None,
    }];
    let app = spawn_app_with(|c| c.secrets = secrets).await;
    let send = |key: &'static str, method: Method, path: &'static str| {
        app.http
            .request(method, app.url(path))
            .bearer_auth(key)
            .send()
    };
    let resp = send(GUESS, Method::GET, "/ops/invitations").await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = send(VIEWER, Method::POST, "/ops/invitations")
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let refused: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("operator request refused"))
        .collect();
    assert_eq!(refused.len(), 2, "{logs}");
    assert!(
        refused[0].contains("route=\"/ops/invitations\"")
            || refused[0].contains("route=/ops/invitations"),
        "{}",
        refused[0]
    );
    assert!(
        refused[0].contains("wrong_key")
            && (refused[0].contains("source_ip=\"127.0.0.1\"")
                || refused[0].contains("source_ip=127.0.0.1")),
        "{}",
        refused[0]
    );
    assert!(
        refused[1].contains("support-desk") && refused[1].contains("forbidden"),
        "{}",
        refused[1]
    );
    assert!(!logs.contains(GUESS) && !logs.contains(VIEWER), "{logs}");
}
