//! Token endpoint bench (issue 26): `GET /svc/apps/{appid}/access-token` through wxopen-local
//! (the audit-actions router, the token manager, the embedded store, the simulator), with a
//! `service` key. Two runs of N requests (default 10,000) over A apps (default 100) at
//! concurrency C (default 64):
//!
//! 1. Fresh tokens: p50/p99 latency, WeChat calls (target 0), token lookups in the store per
//!    request (target: at most one per app per minute per instance).
//! 2. Every stored token moved within its refresh margin at once (as time passing would), after
//!    the instance's one-minute revalidation: refreshes per app (target exactly 1), with WeChat
//!    answering after BENCH_LATENCY_MS (default 100 ms) so the requests pile up on each refresh.
//!
//! Run it with `infra/bench/svc-tokens.sh`. Env: BENCH_REQUESTS, BENCH_APPS, BENCH_CONCURRENCY,
//! BENCH_LATENCY_MS.

use futures::stream::{self, StreamExt};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use wechat_sim::{AccountSpec, Fault};
use wxopen::domain::{AppId, Clock, SystemClock};
use wxopen::operator_auth::{OperatorKey, Role};
use wxopen::store::TokenKey;
use wxopen::wechat::token::ISSUED_REVALIDATE_SECS;
use wxopen_local::{dev_secrets, start, LocalConfig};

const SERVICE_KEY: &str = "bench-service-key";
const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// `requests` token requests spread over `appids` at `concurrency`; answers each one's latency
/// and the token each app was answered last.
async fn run(
    http: &reqwest::Client,
    base: &str,
    appids: &[AppId],
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let results: Vec<anyhow::Result<Duration>> = stream::iter(0..requests)
        .map(|i| {
            let url = format!("{base}/svc/apps/{}/access-token", appids[i % appids.len()]);
            async move {
                let started = Instant::now();
                let resp = http.get(url).bearer_auth(SERVICE_KEY).send().await?;
                anyhow::ensure!(resp.status() == 200, "{}", resp.text().await?);
                resp.bytes().await?;
                Ok(started.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut latencies = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    latencies.sort();
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests = env_num("BENCH_REQUESTS", 10_000) as usize;
    let apps = env_num("BENCH_APPS", 100) as usize;
    let concurrency = env_num("BENCH_CONCURRENCY", 64) as usize;
    let latency = Duration::from_millis(env_num("BENCH_LATENCY_MS", 100));
    let dir = tempfile::tempdir()?;
    let mut secrets = dev_secrets();
    secrets.operator_keys = vec![OperatorKey {
        label: "bench-backend".into(),
        sha256: hex::encode(Sha256::digest(SERVICE_KEY.as_bytes())),
        role: Role::Service,
        customers: None,
    }];
    let local = start(LocalConfig::on_free_ports(dir.path().to_owned(), secrets)).await?;
    let sim = &local.sim;
    let http = wxopen::https::reqwest_builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let base = local.base_url.clone();

    // Set-up, not measured: A authorized apps, their tokens stored by the authorization pushes.
    let appids: Vec<_> = (0..apps)
        .map(|_| sim.add_account(AccountSpec::mini_program()))
        .collect();
    for chunk in appids.chunks(16) {
        futures::future::try_join_all(chunk.iter().map(|a| sim.authorize(a, &[17, 18]))).await?;
    }
    for a in &appids {
        let t = local
            .store
            .get_token(&TokenKey::Authorizer(a.clone()))
            .await?;
        anyhow::ensure!(
            t.is_some_and(|t| t.state.access_token.is_some()),
            "{a} has no stored token"
        );
    }
    // Warm the connection pool (and nothing else: the first token lookups are measured).
    let _ = http.get(format!("{base}/console/")).send().await;

    // 1. Fresh tokens.
    sim.reset_calls();
    let lookups = local.mgr.issue_lookups();
    let started = Instant::now();
    let fresh = run(&http, &base, &appids, requests, concurrency).await?;
    let wall = started.elapsed();
    let wechat: u64 = sim.all_calls().values().sum();
    let reads = local.mgr.issue_lookups() - lookups;
    println!(
        "{requests} token requests over {apps} apps at concurrency {concurrency}, tokens fresh"
    );
    println!(
        "  latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; wall {:.2} s ({:.0} req/s)",
        percentile(&fresh, 0.50),
        percentile(&fresh, 0.99),
        percentile(&fresh, 1.0),
        wall.as_secs_f64(),
        requests as f64 / wall.as_secs_f64()
    );
    println!("  WeChat calls                  {wechat}");
    println!(
        "  store token lookups           {reads} ({:.4} per request, {:.2} per app)",
        reads as f64 / requests as f64,
        reads as f64 / apps as f64
    );

    // 2. Every token within its margin at once: the stored expiry moved to 5 minutes from now
    // (the margin is 10), then the instance's memory revalidates (one minute) as it would.
    let now = SystemClock.now();
    let mut before = Vec::new();
    for a in &appids {
        let key = TokenKey::Authorizer(a.clone());
        let v = local.store.get_token(&key).await?.expect("stored");
        let mut state = v.state.clone();
        before.push(
            state
                .access_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned())
                .unwrap_or_default(),
        );
        state.expires_at = now + 300;
        local.store.put_token(&key, &state, Some(v.version)).await?;
    }
    let wait = Duration::from_secs(ISSUED_REVALIDATE_SECS as u64 + 1);
    println!(
        "every token moved within its margin; waiting {} s for the instance to revalidate",
        wait.as_secs()
    );
    tokio::time::sleep(wait).await;
    sim.set_fault(Fault {
        latency,
        ..Fault::default()
    });
    sim.reset_calls();
    let started = Instant::now();
    let due = run(&http, &base, &appids, requests, concurrency).await?;
    let wall = started.elapsed();
    sim.clear_faults();
    let refreshes = sim.calls(AUTHORIZER_TOKEN);
    // Each app whose stored token was replaced was refreshed at least once; with as many
    // refreshes as apps, each was refreshed exactly once.
    let mut replaced = 0;
    for (a, before) in appids.iter().zip(&before) {
        let v = local
            .store
            .get_token(&TokenKey::Authorizer(a.clone()))
            .await?
            .expect("stored");
        let t = v
            .state
            .access_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned());
        if v.state.expires_at > now + 300 && t.as_ref() != Some(before) {
            replaced += 1;
        }
    }
    println!(
        "{requests} token requests over {apps} apps at concurrency {concurrency}, every token within its margin, WeChat answering after {} ms",
        latency.as_millis()
    );
    println!(
        "  latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; wall {:.2} s",
        percentile(&due, 0.50),
        percentile(&due, 0.99),
        percentile(&due, 1.0),
        wall.as_secs_f64()
    );
    println!(
        "  api_authorizer_token calls    {refreshes} ({:.2} per app); apps whose token was replaced: {replaced} of {apps}",
        refreshes as f64 / apps as f64
    );
    Ok(())
}
