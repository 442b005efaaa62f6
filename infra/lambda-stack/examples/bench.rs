//! Figures for `infra/bench/lambda-stack.sh`: the stack's start time (first process spawned to
//! the last function polling for its first event), and what one request pays for the front and
//! the Runtime API: the same routes through the stack and through wxopen-local (which calls the
//! handlers in process), both on the same moto server, median and p99 over N requests.
//!
//! `cargo run -p wxopen-lambda-stack --example bench -- <moto endpoint> [N] [starts]`

use lambda_stack::{start, StackConfig};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]);
    (p(0.5), p(0.99))
}

async fn timed(client: &reqwest::Client, url: &str, key: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n + 10 {
        let t = Instant::now();
        let r = client.get(url).bearer_auth(key).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        r.bytes().await.unwrap();
        if i >= 10 {
            out.push(t.elapsed());
        }
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = args.get(1).expect("the moto endpoint").clone();
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let starts: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5);
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");

    let mut start_times = Vec::new();
    for _ in 0..starts {
        let t = Instant::now();
        let stack = start(StackConfig::for_test(&repo, &endpoint)).await?;
        start_times.push((stack.started_in, t.elapsed()));
    }
    let polls: Vec<Duration> = start_times.iter().map(|s| s.0).collect();
    let whole: Vec<Duration> = start_times.iter().map(|s| s.1).collect();
    let (pm, pmax) = (
        stats(polls.clone()).0,
        polls.iter().max().unwrap().as_secs_f64() * 1e3,
    );
    let (wm, wmax) = (
        stats(whole.clone()).0,
        whole.iter().max().unwrap().as_secs_f64() * 1e3,
    );
    println!("stack start over {starts} starts (five debug binaries, moto at {endpoint}):");
    println!(
        "  processes spawned to all polling the Runtime API: median {pm:.0} ms, max {pmax:.0} ms"
    );
    println!("  whole start (table, secret, simulator, processes, first ticket push): median {wm:.0} ms, max {wmax:.0} ms");

    let config = StackConfig::for_test(&repo, &endpoint);
    let p = config.platform.clone();
    let stack = start(config).await?;
    let key = p.operator_key.expose_secret().to_owned();
    let secrets = wxopen::secrets::PlatformSecrets::new(
        &p.component_appid,
        p.component_appsecret.expose_secret(),
        p.token.expose_secret(),
        p.encoding_aes_key.expose_secret(),
        vec![hex::encode(Sha256::digest(key.as_bytes()))],
    )?;
    let local = wxopen_local::start_system(wxopen_local::SystemConfig {
        listen: "127.0.0.1:0".parse()?,
        secrets,
        wechat: wxopen_local::WechatTarget::Simulator {
            listen: "127.0.0.1:0".parse()?,
            ticket_interval: Duration::from_secs(600),
            seed_mini_programs: 0,
        },
        store: wxopen_local::StoreTarget::Dynamo {
            endpoint: endpoint.clone(),
            table: format!("{}-local", stack.table_name),
        },
        refresh_interval: None,
    })
    .await?;
    let client = wxopen::https::reqwest_client()?;
    println!("one request, {n} sequential after 10 unmeasured (median / p99):");
    for (route, what) in [
        ("/console", "no store access"),
        ("/ops/authorizers", "one DynamoDB Query on moto"),
    ] {
        let through_stack =
            stats(timed(&client, &format!("{}{route}", stack.base_url), &key, n).await);
        let through_local =
            stats(timed(&client, &format!("{}{route}", local.base_url), &key, n).await);
        println!(
            "  GET {route} ({what}): lambda stack {:.2} / {:.2} ms, wxopen-local {:.2} / {:.2} ms, added by the front and the Runtime API {:.2} ms (median)",
            through_stack.0,
            through_stack.1,
            through_local.0,
            through_local.1,
            through_stack.0 - through_local.0
        );
    }
    Ok(())
}
