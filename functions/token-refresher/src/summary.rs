//! The end-of-run summary: one JSON log line, and the same figures as CloudWatch Embedded Metric
//! Format (a JSON document on stdout that CloudWatch turns into metrics, no API call needed).

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// CloudWatch namespace of the metrics; `template.yaml`'s alarms use it.
pub const METRIC_NAMESPACE: &str = "wxopen";

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Authorizer tokens expiring within the window when the run listed them.
    pub due: u64,
    pub refreshed: u64,
    /// Refreshed by someone else meanwhile: left alone.
    pub skipped: u64,
    pub failed: u64,
    /// Not started: the invocation's deadline was near. The next run takes them.
    pub deferred: u64,
    /// Refresh tokens recovered from what WeChat reports (after 61023 or a lost answer).
    pub recovered: u64,
    /// Authorizers this run marked `needs_reauthorization` (their refresh token refused).
    pub needs_reauthorization: u64,
    /// Refresh tokens WeChat refused (61023) whose recovery read failed as well: not marked,
    /// left due and tried again by the next run (an alarm fires when this keeps happening).
    pub refusals_unconfirmed: u64,
    /// Authorizers in `needs_reauthorization` now, whenever marked: counted once an hour
    /// (claimed in the store), `None` on the other runs.
    pub awaiting_reauthorization: Option<u64>,
    pub reconciled_added: u64,
    pub reconciled_removed: u64,
    /// Authorizers WeChat lists as authorized that the store held as unauthorized, awaiting
    /// reauthorization or without a refresh token: restored from what WeChat reports.
    pub reconciled_restored: u64,
    /// Authorizers the reconcile would have acted on but could not confirm with WeChat (its
    /// read failed): left as they are until the next reconcile.
    pub reconcile_unconfirmed: u64,
    /// The ICP filing census ([`crate::filing_census`]): apps asked about, of them those filed
    /// now and those whose status changed, and the asks that failed.
    pub filing_asked: u64,
    pub filing_filed: u64,
    pub filing_changed: u64,
    pub filing_failed: u64,
    pub ticket_age_secs: Option<i64>,
    pub ticket_stale: bool,
    pub ticket_push_requested: bool,
    pub duration_ms: u64,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// Shared by the concurrent refreshes of one run.
#[derive(Default)]
pub(crate) struct Counters {
    pub refreshed: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
    pub deferred: AtomicU64,
    pub needs_reauthorization: AtomicU64,
    pub refusals_unconfirmed: AtomicU64,
}

impl Counters {
    pub fn fill(&self, s: &mut RunSummary) {
        s.refreshed = self.refreshed.load(Ordering::Relaxed);
        s.skipped = self.skipped.load(Ordering::Relaxed);
        s.failed = self.failed.load(Ordering::Relaxed);
        s.deferred = self.deferred.load(Ordering::Relaxed);
        s.needs_reauthorization = self.needs_reauthorization.load(Ordering::Relaxed);
        s.refusals_unconfirmed = self.refusals_unconfirmed.load(Ordering::Relaxed);
    }
}

impl RunSummary {
    /// Stamps the duration and the error, then writes the log line and (if `emit`) the EMF
    /// document.
    pub(crate) fn finish(&mut self, started: Instant, error: Option<String>, emit: bool) {
        self.duration_ms = started.elapsed().as_millis() as u64;
        self.error = error;
        tracing::info!(summary = %serde_json::to_string(self).unwrap_or_default(), "token refresher run");
        if emit {
            println!("{}", self.emf(now_ms()));
        }
    }

    /// The Embedded Metric Format document for this run.
    pub fn emf(&self, timestamp_ms: u64) -> serde_json::Value {
        let mut metrics = vec![
            ("Due", self.due, "Count"),
            ("Refreshed", self.refreshed, "Count"),
            ("Skipped", self.skipped, "Count"),
            ("RefreshFailures", self.failed, "Count"),
            ("Deferred", self.deferred, "Count"),
            ("Recovered", self.recovered, "Count"),
            ("NeedsReauthorization", self.needs_reauthorization, "Count"),
            ("RefusalsUnconfirmed", self.refusals_unconfirmed, "Count"),
            ("ReconciledAdded", self.reconciled_added, "Count"),
            ("ReconciledRemoved", self.reconciled_removed, "Count"),
            ("ReconciledRestored", self.reconciled_restored, "Count"),
            ("ReconcileUnconfirmed", self.reconcile_unconfirmed, "Count"),
            ("FilingAsked", self.filing_asked, "Count"),
            ("FilingFiled", self.filing_filed, "Count"),
            ("FilingChanged", self.filing_changed, "Count"),
            ("FilingFailed", self.filing_failed, "Count"),
            ("StaleTicket", u64::from(self.ticket_stale), "Count"),
            ("RunFailed", u64::from(self.error.is_some()), "Count"),
            ("DurationMs", self.duration_ms, "Milliseconds"),
        ];
        // A gauge, reported by the runs that counted it; an alarm holds its state between them.
        if let Some(n) = self.awaiting_reauthorization {
            metrics.push(("AwaitingReauthorization", n, "Count"));
        }
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [["Function"]],
                    "Metrics": metrics.iter().map(|(n, _, u)| serde_json::json!({"Name": n, "Unit": u}))
                        .chain(std::iter::once(serde_json::json!({"Name": "TicketAgeSeconds", "Unit": "Seconds"})))
                        .collect::<Vec<_>>(),
                }],
            },
            "Function": "token-refresher",
        });
        for (name, value, _) in metrics {
            doc[name] = value.into();
        }
        // Without a ticket at all, the age is reported as a day: stale beyond doubt.
        doc["TicketAgeSeconds"] = self.ticket_age_secs.unwrap_or(86_400).into();
        doc
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emf_document_declares_every_metric_it_carries() {
        let s = RunSummary {
            due: 3,
            refreshed: 2,
            ticket_age_secs: Some(2_000),
            ticket_stale: true,
            ..RunSummary::default()
        };
        let doc = s.emf(1_700_000_000_000);
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for m in declared {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name} has a value");
        }
        assert_eq!(doc["StaleTicket"], 1);
        assert_eq!(doc["TicketAgeSeconds"], 2_000);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "wxopen");
        assert!(
            doc.get("AwaitingReauthorization").is_none(),
            "not counted this run"
        );

        let counted = RunSummary {
            awaiting_reauthorization: Some(2),
            ..s
        }
        .emf(1_700_000_000_000);
        assert_eq!(counted["AwaitingReauthorization"], 2);
        assert!(counted["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Name"] == "AwaitingReauthorization"));
    }
}
