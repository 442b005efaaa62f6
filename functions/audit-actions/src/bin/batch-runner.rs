//! The `batch-runner` Lambda: on its EventBridge schedule, works through the open batches
//! ([`audit_actions::batches::run_open_batches`]) until shortly before the invocation's deadline,
//! and once an hour asks WeChat about audits whose push never came
//! ([`audit_actions::stale_audits`]), and delivers the notification outbox
//! ([`wxopen::notifications::Notifier::drain`]): the schedule's every minute is the drainer's.

use audit_actions::{batches, stale_audits, Deps};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wxopen::runtime::AwsRuntime;

/// Apps are no longer started this long before the deadline: one app's work (a lost answer
/// waits out the client timeout, then asks WeChat) must end before Lambda stops the run.
const DEADLINE_MARGIN: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    wxopen::runtime::init_logging();
    let rt = AwsRuntime::from_env().await?;
    let deps = Arc::new(Deps::from_runtime(&rt).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move {
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let stop_at = tokio::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN);
            // Once an hour (claimed in the store): audits whose push never came.
            let stale = stale_audits::reconcile_if_due(&deps).await?;
            let report = batches::run_open_batches(&deps, Some(stop_at)).await?;
            tracing::info!(?report, "batch run");
            // After the batches, so a batch that finished in this run is told of at once.
            let drained = deps
                .notifier
                .drain(deps.store.as_ref(), deps.clock.now())
                .await?;
            println!("{}", drained.emf("batch-runner", now_ms()));
            Ok::<_, lambda_runtime::Error>(serde_json::json!({
                "batches": report.batches,
                "apps_done": report.apps_done,
                "finished": report.finished,
                "left_for_later": report.left_for_later,
                "stale_audits": stale,
                "notifications": drained,
            }))
        }
    }))
    .await
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
