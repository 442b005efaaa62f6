//! Batch bench: a `submit_audit` batch over N authorized apps (default 1,000) with every WeChat
//! call answered after a fixed latency (default 50 ms), through wxopen-local (the operator API,
//! the batch runner, the embedded store, the simulator). Prints the batch's wall time from the
//! 202 to `done`, the runner's concurrency, WeChat calls per app, what one app at a time would
//! take at that latency, and the process's peak RSS. Run it with `infra/bench/batches.sh`.
//!
//! Env: BENCH_APPS, BENCH_LATENCY_MS, WXOPEN_BATCH_CONCURRENCY (the runner's; default 16).

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wechat_sim::{AccountSpec, Fault};
use wxopen_local::{dev_secrets, start, LocalConfig};

const OPERATOR_KEY: &str = "local-operator-key";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn run_batch(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    body: Value,
) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let resp = http
        .post(format!("{base}/ops/batches"))
        .bearer_auth(OPERATOR_KEY)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 202,
        "batch refused: {}",
        resp.text().await?
    );
    let id = resp.json::<Value>().await?["batch_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    loop {
        let v: Value = http
            .get(format!("{base}/ops/batches/{id}"))
            .bearer_auth(OPERATOR_KEY)
            .send()
            .await?
            .json()
            .await?;
        if v["status"] == "done" {
            return Ok((started.elapsed(), v["counts"].clone()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let apps = env_num("BENCH_APPS", 1_000) as usize;
    let latency = Duration::from_millis(env_num("BENCH_LATENCY_MS", 50));
    let concurrency = audit_actions::batches::concurrency_from_env();
    let dir = tempfile::tempdir()?;
    let local = start(LocalConfig::on_free_ports(
        dir.path().to_owned(),
        dev_secrets(),
    ))
    .await?;
    let sim = &local.sim;
    let http = wxopen::https::reqwest_client()?;
    let base = local.base_url.clone();

    // Set-up, not measured: N authorized apps, each with the template committed.
    let appids: Vec<_> = (0..apps)
        .map(|_| sim.add_account(AccountSpec::mini_program()))
        .collect();
    for chunk in appids.chunks(16) {
        futures::future::try_join_all(chunk.iter().map(|a| sim.authorize(a, &[17, 18]))).await?;
    }
    sim.set_audit_quota(10 * apps as u64, 10 * apps as u64, 10, 10);
    let (commit_time, counts) = run_batch(
        &http,
        &base,
        "bench-commit",
        json!({ "action": "commit", "appids": "all_authorized", "params": {
            "template_id": 1, "ext_json": { "extAppid": "wx00000000000000aa" },
            "user_version": "1.0.0", "user_desc": "bench" } }),
    )
    .await?;
    anyhow::ensure!(counts["ok"] == apps, "commit batch: {counts}");

    // Measured: submit_audit over every app, each WeChat call answered after `latency`.
    sim.set_fault(Fault {
        latency,
        ..Fault::default()
    });
    sim.reset_calls();
    let (submit_time, counts) = run_batch(
        &http,
        &base,
        "bench-submit",
        json!({ "action": "submit_audit", "appids": "all_authorized", "params": {
            "item_list": [{ "address": "pages/index/index", "tag": "shop", "title": "Home" }] } }),
    )
    .await?;
    anyhow::ensure!(counts["ok"] == apps, "submit batch: {counts}");
    let calls = sim.all_calls();
    let total: u64 = calls.values().sum();
    let per_app = total as f64 / apps as f64;
    let sequential = latency.as_secs_f64() * total as f64;
    println!(
        "submit_audit batch over {apps} apps, every WeChat call answered after {} ms",
        latency.as_millis()
    );
    println!("  runner concurrency            {concurrency}");
    println!(
        "  wall time, 202 to done        {:.2} s",
        submit_time.as_secs_f64()
    );
    println!("  WeChat calls per app          {per_app:.2}  {calls:?}");
    println!("  one app at a time would take  {sequential:.1} s (calls x latency)");
    println!(
        "  commit batch (no latency)     {:.2} s",
        commit_time.as_secs_f64()
    );
    println!(
        "  peak RSS (bench process, with the simulator)  {:.1} MiB",
        peak_rss_mib()
    );
    Ok(())
}
