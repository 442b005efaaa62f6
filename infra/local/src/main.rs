use clap::Parser;
use std::path::PathBuf;
use wxopen::store::TicketStore;
use wxopen_local::{dev_secrets, start, LocalConfig};

/// Runs the whole wxopen system on this machine: embedded store, WeChat simulator, no AWS account.
#[derive(Parser)]
#[command(name = "wxopen-local", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where our API listens (the routes API Gateway serves in production).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Where the WeChat simulator listens.
    #[arg(long, default_value = "127.0.0.1:8081")]
    sim_listen: std::net::SocketAddr,
    /// State directory of the embedded store (survives restarts).
    #[arg(long, default_value = ".local/data")]
    data_dir: PathBuf,
    /// Platform secrets as a JSON file (see wxopen::secrets); built-in development secrets if absent.
    #[arg(long)]
    secrets_file: Option<PathBuf>,
    /// How often the simulator pushes a component_verify_ticket (WeChat: every 10 minutes).
    #[arg(long, default_value_t = 600)]
    ticket_interval_secs: u64,
    /// Simulated mini programs the WeChat simulator offers on its consent page.
    #[arg(long, default_value_t = 3)]
    seed_mini_programs: usize,
    /// How often the token refresher runs (0: never).
    #[arg(long, env = "WXOPEN_REFRESH_INTERVAL_SECS", default_value_t = 60)]
    refresh_interval_secs: u64,
}

#[derive(clap::Subcommand)]
enum Command {
    /// The whole story against itself on free ports and a fresh data directory: ticket,
    /// component token, invitation, consent, tokens and profile, commit, audit, approval,
    /// release, a refresh. Each step is printed once checked; exit 0 only if all are.
    Demo {
        /// Keep the state here instead of a fresh temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Platform secrets as a JSON file; built-in development secrets if absent.
        #[arg(long)]
        secrets_file: Option<PathBuf>,
        /// The plain operator key whose SHA-256 the secrets hold.
        #[arg(
            long,
            env = "WXOPEN_OPERATOR_KEY",
            default_value = "local-operator-key",
            hide_env_values = true
        )]
        operator_key: String,
    },
}

async fn demo(
    data_dir: Option<PathBuf>,
    secrets_file: Option<PathBuf>,
    operator_key: String,
) -> anyhow::Result<()> {
    let secrets = match &secrets_file {
        Some(p) => wxopen::secrets::PlatformSecrets::from_file(p)?,
        None => dev_secrets(),
    };
    let temp = tempfile::tempdir()?;
    let data_dir = data_dir.unwrap_or_else(|| temp.path().to_owned());
    let config = wxopen_local::demo::DemoConfig {
        secrets,
        operator_key: operator_key.into(),
        data_dir,
    };
    let mut say = |line: &str| println!("{line}");
    match wxopen_local::demo::run(config, &mut say).await {
        Ok(_) => Ok(()),
        Err(e) => {
            println!("  FAILED  {e:#}");
            std::process::exit(1);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if let Some(Command::Demo {
        data_dir,
        secrets_file,
        operator_key,
    }) = args.command
    {
        return demo(data_dir, secrets_file, operator_key).await;
    }
    let secrets = match &args.secrets_file {
        Some(p) => wxopen::secrets::PlatformSecrets::from_file(p)?,
        None => dev_secrets(),
    };
    let appid = secrets.component_appid.clone();
    let local = start(LocalConfig {
        listen: args.listen,
        sim_listen: args.sim_listen,
        data_dir: args.data_dir,
        secrets,
        ticket_interval: std::time::Duration::from_secs(args.ticket_interval_secs),
        seed_mini_programs: args.seed_mini_programs,
        refresh_interval: (args.refresh_interval_secs > 0)
            .then(|| std::time::Duration::from_secs(args.refresh_interval_secs)),
    })
    .await?;
    let ticket = local.store.latest_ticket(&appid).await?;
    println!("wxopen-local is up");
    println!("  our API (as API Gateway):   {}", local.base_url);
    println!("  WeChat simulator:           {}", local.sim.base_url());
    println!(
        "  component_verify_ticket:    {}",
        match ticket {
            Some(t) => format!("received and stored at {} (Unix seconds)", t.received_at),
            None => "not received yet".to_owned(),
        }
    );
    println!(
        "  push URLs: {0}/wechat/component and {0}/wechat/apps/$APPID$",
        local.base_url
    );
    println!(
        "  simulator control API:      {0}/_sim/accounts, {0}/_sim/counters, {0}/_sim/pushes",
        local.sim.base_url()
    );
    if args.refresh_interval_secs > 0 {
        println!(
            "  token refresher:            every {} s (WXOPEN_REFRESH_INTERVAL_SECS)",
            args.refresh_interval_secs
        );
    }
    let now = wxopen::domain::Clock::now(&wxopen::domain::SystemClock);
    let invitation =
        audit_actions::new_invitation("demo-customer".into(), 2, None, now, 7 * 86_400);
    wxopen::store::InvitationStore::create_invitation(local.store.as_ref(), &invitation).await?;
    println!(
        "  a ready invitation link:    {}/auth/start?invite={}  (customer demo-customer; the simulator's consent page offers its mini programs)",
        local.base_url, invitation.id
    );
    println!("Ctrl-C to stop.");
    tokio::select! {
        r = local.wait() => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
