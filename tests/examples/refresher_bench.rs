//! Token refresher bench: N authorizers all due (default 10,000), the simulator answering
//! `api_authorizer_token` after a fixed latency (default 100 ms), on the embedded store and on
//! DynamoDB (moto_server at WXOPEN_TEST_AWS_ENDPOINT). Prints, per store: the run's wall time, the
//! concurrency, the simulator's count of api_authorizer_token calls (must be N), the calls of a
//! second run right after (must be 0), the DynamoDB requests per refreshed token, and the
//! process's peak RSS. Run it with `infra/bench/refresher.sh`.
//!
//! Env: BENCH_AUTHORIZERS, BENCH_CONCURRENCY (default 64), BENCH_LATENCY_MS,
//! BENCH_STORES (`embedded,dynamodb`).

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use secrecy::SecretString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use token_refresher::{run, Deps, RefresherConfig};
use wechat_sim::{AccountSpec, Fault, SimConfig, Simulator};
use wxopen::domain::{AppId, Clock, SystemClock};
use wxopen::store::dynamo::DynamoStore;
use wxopen::store::embedded::EmbeddedStore;
use wxopen::store::{Store, Ticket, TokenKey, TokenState};
use wxopen::wechat::{ClientConfig, TokenBackend, TokenManager, WechatClient};

const AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";

/// Counts every request the DynamoDB client sends (retries included).
#[derive(Debug, Clone, Default)]
struct CountRequests(Arc<AtomicU64>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }
    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

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
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env_num("BENCH_AUTHORIZERS", 10_000) as usize;
    let concurrency = env_num("BENCH_CONCURRENCY", 64) as usize;
    let latency = Duration::from_millis(env_num("BENCH_LATENCY_MS", 100));
    let stores = std::env::var("BENCH_STORES").unwrap_or_else(|_| "embedded,dynamodb".into());
    println!(
        "token refresher bench: {n} authorizers all due, simulator latency {} ms per api_authorizer_token, concurrency {concurrency}",
        latency.as_millis()
    );
    for which in stores.split(',').map(str::trim) {
        let counter = CountRequests::default();
        let dir = tempfile::tempdir()?;
        let (store, backend, seed): (Arc<dyn Store>, Arc<dyn TokenBackend>, Seed) = match which {
            "embedded" => {
                let s = Arc::new(EmbeddedStore::open(dir.path())?);
                (s.clone(), s, Seed::Embedded)
            }
            "dynamodb" => {
                let endpoint = std::env::var("WXOPEN_TEST_AWS_ENDPOINT")
                    .map_err(|_| anyhow::anyhow!("WXOPEN_TEST_AWS_ENDPOINT: start moto_server (infra/bench/refresher.sh does)"))?;
                let conf = wxopen::https::aws_config_loader()
                    .endpoint_url(&endpoint)
                    .region(aws_config::Region::new("us-east-1"))
                    .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                        "test", "test", None, None, "test",
                    ))
                    .load()
                    .await;
                let client = aws_sdk_dynamodb::Client::from_conf(
                    aws_sdk_dynamodb::config::Builder::from(&conf)
                        .interceptor(counter.clone())
                        .build(),
                );
                let table = format!("bench-{}", std::process::id());
                let s = Arc::new(DynamoStore::new(client, table));
                s.create_table().await?;
                (s.clone(), s.clone(), Seed::Dynamo(s))
            }
            other => anyhow::bail!("unknown store {other}"),
        };
        bench_one(
            which,
            n,
            concurrency,
            latency,
            store,
            backend,
            seed,
            &counter,
        )
        .await?;
    }
    Ok(())
}

enum Seed {
    Embedded,
    Dynamo(Arc<DynamoStore>),
}

#[allow(clippy::too_many_arguments)]
async fn bench_one(
    which: &str,
    n: usize,
    concurrency: usize,
    latency: Duration,
    store: Arc<dyn Store>,
    backend: Arc<dyn TokenBackend>,
    seed: Seed,
    counter: &CountRequests,
) -> anyhow::Result<()> {
    let clock = SystemClock;
    let sim = Simulator::start(SimConfig {
        rotate_refresh_tokens: true,
        ..SimConfig::default()
    })
    .await?;
    let component = AppId::parse(&sim.config().component_appid)?;
    let ticket = sim.push_ticket().await?;
    store
        .save_ticket(
            &component,
            &Ticket {
                value: SecretString::from(ticket),
                received_at: clock.now(),
                created_at: clock.now(),
            },
        )
        .await?;
    store.claim_run("reconcile", clock.now(), 86_400).await?;
    let seeding = Instant::now();
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let appid = sim.add_account(AccountSpec::mini_program());
        sim.authorize(&appid, &[17, 18]).await?;
        let refresh = sim
            .account(&appid)
            .and_then(|a| a.authorization)
            .map(|a| a.refresh_token)
            .unwrap_or_default();
        tokens.push((
            TokenKey::Authorizer(appid),
            TokenState {
                refresh_token: Some(SecretString::from(refresh)),
                ..TokenState::default()
            },
        ));
    }
    match &seed {
        Seed::Dynamo(d) => {
            d.batch_put(
                tokens
                    .iter()
                    .map(|(k, s)| DynamoStore::token_item(k, s, 1))
                    .collect(),
            )
            .await?
        }
        Seed::Embedded => {
            for (k, s) in &tokens {
                store.put_token(k, s, None).await?;
            }
        }
    }
    println!(
        "[{which}] seeded {n} authorizers in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    sim.set_fault(Fault {
        endpoint: Some(AUTHORIZER_TOKEN.into()),
        latency,
        ..Fault::default()
    });
    let mgr = TokenManager::new(
        WechatClient::new(ClientConfig::with_base_url(sim.base_url()))?,
        backend,
        component,
        SecretString::from(sim.config().component_appsecret.clone()),
        Arc::new(clock),
    );
    let deps = Deps {
        mgr: Arc::new(mgr),
        store,
        clock: Arc::new(clock),
        config: RefresherConfig {
            concurrency,
            ..RefresherConfig::default()
        },
    };
    sim.reset_calls();
    let before = counter.0.load(Ordering::Relaxed);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    let first = run(&deps, deadline).await?;
    let took = started.elapsed();
    let requests = counter.0.load(Ordering::Relaxed) - before;
    let calls = sim.calls(AUTHORIZER_TOKEN);
    sim.reset_calls();
    let second = run(&deps, deadline).await?;
    let second_calls: u64 = sim.all_calls().values().sum();
    println!(
        "[{which}] run 1: {:.1} s for {} refreshed (target <= 60 s; sequential would be {:.0} s); api_authorizer_token calls {calls} (want {n}); failed {}",
        took.as_secs_f64(),
        first.refreshed,
        n as f64 * latency.as_secs_f64(),
        first.failed
    );
    println!(
        "[{which}] run 2 right after: due {}, WeChat calls {second_calls} (want 0)",
        second.due
    );
    if which == "dynamodb" {
        println!(
            "[{which}] DynamoDB requests: {requests} in run 1, {:.2} per refreshed token",
            requests as f64 / first.refreshed.max(1) as f64
        );
    }
    println!(
        "[{which}] peak RSS of this process (refresher, store and simulator together): {:.1} MiB",
        peak_rss_mib()
    );
    Ok(())
}
