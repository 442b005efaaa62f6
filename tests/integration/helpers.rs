//! Shared test plumbing: the moto endpoint, AWS clients pointed at it, unique names.

use std::sync::atomic::{AtomicU64, Ordering};

/// The moto_server endpoint (DynamoDB and Secrets Manager on one port), from
/// `WXOPEN_TEST_AWS_ENDPOINT`. Without it, AWS tests skip locally but fail in CI (`CI=true`),
/// so a CI that forgot to start moto cannot pass by skipping.
pub fn aws_endpoint() -> Option<String> {
    match std::env::var("WXOPEN_TEST_AWS_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => Some(e.trim().to_owned()),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "WXOPEN_TEST_AWS_ENDPOINT is not set in CI: start moto_server and point it there"
        ),
        _ => {
            report_skip();
            None
        }
    }
}

/// Says so on the terminal whenever an AWS test skips. libtest captures `eprintln!` of passing
/// tests, so a skip would read as a silent pass; a direct write to stderr is not captured. Each
/// line carries the running count, so the last one says how many were skipped.
fn report_skip() {
    use std::io::Write as _;
    static SKIPPED: AtomicU64 = AtomicU64::new(0);
    let n = SKIPPED.fetch_add(1, Ordering::Relaxed) + 1;
    let test = std::thread::current()
        .name()
        .unwrap_or("an AWS test")
        .to_owned();
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED AWS test #{n} (WXOPEN_TEST_AWS_ENDPOINT unset; ./infra/test-all.sh starts moto_server): {test}"
    );
}

/// AWS configuration for moto: fixed region and static test credentials.
pub async fn aws_config(endpoint: &str) -> aws_config::SdkConfig {
    wxopen::https::aws_config_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await
}

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
