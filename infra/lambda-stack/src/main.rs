//! `wxopen-lambda-stack`: the functions of template.yaml as Lambda runs them, on this machine
//! (`./infra/run-local.sh lambda` starts moto's server and builds the binaries first).

use clap::Parser;
use lambda_stack::{default_bin_dir, PlatformValues, Schedules, StackConfig};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Runs every function of template.yaml as AWS would: its binary polling a Lambda Runtime API
/// with the template's environment, API Gateway's routes on one port, the schedules, DynamoDB
/// and Secrets Manager on moto's server, the WeChat simulator.
#[derive(Parser)]
#[command(name = "wxopen-lambda-stack", version)]
struct Args {
    /// moto's server (DynamoDB and Secrets Manager).
    #[arg(long, env = "WXOPEN_AWS_ENDPOINT")]
    aws_endpoint: String,
    /// The HTTP API's port on 127.0.0.1 (0: a free one).
    #[arg(long, env = "WXOPEN_PORT", default_value_t = 3000)]
    port: u16,
    /// The WeChat simulator's port (0: a free one).
    #[arg(long, env = "WXOPEN_SIM_PORT", default_value_t = 3001)]
    sim_port: u16,
    /// The control port: `POST /schedules/{function}/run` fires a schedule now (0: a free one).
    #[arg(long, env = "WXOPEN_CONTROL_PORT", default_value_t = 3002)]
    control_port: u16,
    /// Send every scheduled event this often instead of at the template's rates (0: the
    /// template's rates).
    #[arg(long, env = "WXOPEN_SCHEDULE_EVERY_SECS", default_value_t = 0)]
    schedule_every_secs: u64,
    /// The repository (template.yaml, target/).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Where the functions' binaries are (default: $CARGO_TARGET_DIR/debug or target/debug).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Template parameter overrides, `Name=value` (PublicUrl defaults to the front's URL).
    #[arg(long = "parameter", value_parser = parse_parameter)]
    parameters: Vec<(String, String)>,
}

fn parse_parameter(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| "Name=value".to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let args = Args::parse();
    let loopback = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut config = StackConfig::for_test(&args.repo, &args.aws_endpoint);
    config.listen = loopback(args.port);
    config.sim_listen = loopback(args.sim_port);
    config.control_listen = loopback(args.control_port);
    config.bin_dir = args.bin_dir.unwrap_or_else(|| default_bin_dir(&args.repo));
    config.parameters = args.parameters.into_iter().collect::<BTreeMap<_, _>>();
    config.schedules = match args.schedule_every_secs {
        0 => Schedules::TemplateRates,
        n => Schedules::Every(Duration::from_secs(n)),
    };
    config.platform = PlatformValues::generate();
    config.echo_logs = true;
    config.seed_mini_programs = 3;
    let operator_key = config.platform.operator_key.clone();
    let stack = lambda_stack::start(config).await?;
    println!(
        "wxopen lambda stack is up (started in {} ms)",
        stack.started_in.as_millis()
    );
    println!("  HTTP API (as API Gateway):  {}", stack.base_url);
    println!("  WeChat simulator:           {}", stack.sim.base_url());
    println!(
        "  control:                    {0}/schedules/<function>/run (POST), {0}/invocations",
        stack.control_url
    );
    println!("  DynamoDB table:             {}", stack.table_name);
    println!("  platform secret:            {}", stack.secret_arn);
    println!(
        "  operator key (local only):  {}",
        operator_key.expose_secret()
    );
    for f in stack.functions.iter() {
        let routes: Vec<String> = f.routes.iter().map(|r| r.key()).collect();
        let schedules: Vec<String> = f
            .schedules
            .iter()
            .map(|s| format!("{} ({})", s.expression, s.name))
            .collect();
        println!(
            "  {:<16} {}{}",
            f.binary,
            routes.join(", "),
            schedules.join(", ")
        );
    }
    println!(
        "  try: curl -H \"Authorization: Bearer <operator key>\" {}/ops/authorizers",
        stack.base_url
    );
    println!("Ctrl-C to stop.");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { stack.wait().await } => {}
    }
    Ok(())
}
