use clap::Parser;
use secrecy::{ExposeSecret, SecretString};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use wxopen_local::secrets::{Given, LocalSecrets, Source};
use wxopen_local::{start_system, StoreTarget, SystemConfig, WechatTarget};

/// Runs the whole wxopen system on this machine: every route on 127.0.0.1 through the very
/// handlers the Lambdas run, the embedded store (or DynamoDB), the WeChat simulator (or another
/// WeChat endpoint), the token refresher on its timer and the batch runner.
///
/// Every setting is an environment variable with a matching flag. Secrets left unset are
/// generated once and kept in <data dir>/local-secrets.json (mode 0600).
#[derive(Parser)]
#[command(name = "wxopen-local", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The component (third-party platform) appid; generated once (`wx` + 16 hex) when unset.
    #[arg(long, env = "WXOPEN_COMPONENT_APPID")]
    component_appid: Option<String>,
    /// The component appsecret; generated once when unset.
    #[arg(long, env = "WXOPEN_COMPONENT_APPSECRET", hide_env_values = true)]
    component_appsecret: Option<String>,
    /// The message Token (消息校验Token); generated once when unset.
    #[arg(long, env = "WXOPEN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The 43-character EncodingAESKey (消息加解密Key); generated once when unset.
    #[arg(long, env = "WXOPEN_ENCODING_AES_KEY", hide_env_values = true)]
    encoding_aes_key: Option<String>,
    /// The plain operator key (local only: a deployment keeps only its SHA-256); generated once
    /// when unset.
    #[arg(long, env = "WXOPEN_OPERATOR_KEY", hide_env_values = true)]
    operator_key: Option<String>,
    /// State directory: the embedded store and local-secrets.json (survive restarts).
    #[arg(long, env = "WXOPEN_DATA_DIR", default_value = ".local/data")]
    data_dir: PathBuf,
    /// Port of our API on 127.0.0.1 (the routes API Gateway serves in production); 0 picks a
    /// free one (printed at start).
    #[arg(long, env = "WXOPEN_PORT", default_value_t = 3000)]
    port: u16,
    /// Port of the WeChat simulator on 127.0.0.1; 0 picks a free one (printed at start).
    #[arg(long, env = "WXOPEN_SIM_PORT", default_value_t = 3001)]
    sim_port: u16,
    /// Another WeChat API endpoint instead of the built-in simulator, which is then not started
    /// (its pushes are expected at our push URLs).
    #[arg(long, env = "WXOPEN_WECHAT_BASE_URL")]
    wechat_base_url: Option<String>,
    /// A DynamoDB endpoint (DynamoDB Local, moto, LocalStack) instead of the embedded store.
    #[arg(long, env = "WXOPEN_DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
    /// The DynamoDB table (with --dynamodb-endpoint), created if absent.
    #[arg(long, env = "WXOPEN_TABLE", default_value = "wxopen-local")]
    table: String,
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
        /// Keep the store here instead of a fresh temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Platform secrets as a JSON file (the deployed secret's shape) instead of the
        /// WXOPEN_* values and the kept local-secrets.json; the plain operator key whose
        /// SHA-256 it holds comes from WXOPEN_OPERATOR_KEY.
        #[arg(long)]
        secrets_file: Option<PathBuf>,
    },
}

/// The settings the demo does not use, with why, among those set: it runs on free ports, with
/// its own simulator and a fresh embedded store, and runs the refresher itself.
const DEMO_IGNORES: &[(&str, &str)] = &[
    (
        "WXOPEN_PORT",
        "free ports, so it never meets a running wxopen-local",
    ),
    (
        "WXOPEN_SIM_PORT",
        "free ports, so it never meets a running wxopen-local",
    ),
    (
        "WXOPEN_WECHAT_BASE_URL",
        "it plays WeChat's side itself (consent, audit decision) on the built-in simulator",
    ),
    (
        "WXOPEN_DYNAMODB_ENDPOINT",
        "its state goes to a fresh embedded store (demo --data-dir keeps it)",
    ),
    (
        "WXOPEN_TABLE",
        "its state goes to a fresh embedded store (demo --data-dir keeps it)",
    ),
    (
        "WXOPEN_REFRESH_INTERVAL_SECS",
        "it runs the refresher once itself, as its last step",
    ),
];

/// The demo: the platform secrets the plain run would use (the WXOPEN_* values over the kept
/// `<WXOPEN_DATA_DIR>/local-secrets.json`), or `--secrets-file` with WXOPEN_OPERATOR_KEY.
async fn demo(
    args: Args,
    data_dir: Option<PathBuf>,
    secrets_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (secrets, operator_key, from) = match &secrets_file {
        Some(p) => {
            let secrets = wxopen::secrets::PlatformSecrets::from_file(p)?;
            let key = secret(args.operator_key.clone()).ok_or_else(|| {
                anyhow::anyhow!(
                    "--secrets-file holds only digests of operator keys: give the plain key in WXOPEN_OPERATOR_KEY"
                )
            })?;
            (secrets, key, format!("secrets from {}", p.display()))
        }
        None => {
            let given = given(&args);
            let local = LocalSecrets::resolve(&args.data_dir, &given)?;
            let from = format!(
                "secrets as the plain run uses them: component appid {}, token {}, EncodingAESKey {}, appsecret {}, operator key {}",
                origin(local.component_appid_source, "WXOPEN_COMPONENT_APPID"),
                origin(local.token_source, "WXOPEN_TOKEN"),
                origin(local.encoding_aes_key_source, "WXOPEN_ENCODING_AES_KEY"),
                origin(local.component_appsecret_source, "WXOPEN_COMPONENT_APPSECRET"),
                origin(local.operator_key_source, "WXOPEN_OPERATOR_KEY"),
            );
            (
                local.platform,
                local.operator_key,
                format!("{from} ({})", local.file.display()),
            )
        }
    };
    println!("wxopen-local demo: {from}");
    for (var, why) in DEMO_IGNORES {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            println!("  not used by the demo: {var} ({why})");
        }
    }
    let temp = tempfile::tempdir()?;
    let data_dir = data_dir.unwrap_or_else(|| temp.path().to_owned());
    let config = wxopen_local::demo::DemoConfig {
        secrets,
        operator_key,
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
    let mut args = Args::parse();
    if let Some(Command::Demo {
        data_dir,
        secrets_file,
    }) = args.command.take()
    {
        return demo(args, data_dir, secrets_file).await;
    }
    run(args).await
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.trim().is_empty())
}

fn secret(v: Option<String>) -> Option<SecretString> {
    nonempty(v).map(SecretString::from)
}

fn origin(source: Source, var: &str) -> String {
    match source {
        Source::Given => format!("from {var}"),
        Source::Generated => "generated now, kept in local-secrets.json".to_owned(),
        Source::Kept => "kept in local-secrets.json".to_owned(),
    }
}

/// The secrets given by WXOPEN_* variables or flags.
fn given(args: &Args) -> Given {
    Given {
        component_appid: nonempty(args.component_appid.clone()),
        component_appsecret: secret(args.component_appsecret.clone()),
        token: secret(args.token.clone()),
        encoding_aes_key: secret(args.encoding_aes_key.clone()),
        operator_key: secret(args.operator_key.clone()),
    }
}

/// The plain run: start everything and print how to reach it.
async fn run(args: Args) -> anyhow::Result<()> {
    let secrets = LocalSecrets::resolve(&args.data_dir, &given(&args))?;
    let appid = secrets.platform.component_appid.clone();
    let loopback = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let wechat = match nonempty(args.wechat_base_url) {
        Some(base_url) => WechatTarget::External { base_url },
        None => WechatTarget::Simulator {
            listen: loopback(args.sim_port),
            ticket_interval: std::time::Duration::from_secs(args.ticket_interval_secs.max(1)),
            seed_mini_programs: args.seed_mini_programs,
        },
    };
    let store = match nonempty(args.dynamodb_endpoint) {
        Some(endpoint) => StoreTarget::Dynamo {
            endpoint,
            table: args.table.clone(),
        },
        None => StoreTarget::Embedded {
            data_dir: args.data_dir.clone(),
        },
    };
    let local = start_system(SystemConfig {
        listen: loopback(args.port),
        secrets: secrets.platform.clone(),
        wechat,
        store: store.clone(),
        refresh_interval: (args.refresh_interval_secs > 0)
            .then(|| std::time::Duration::from_secs(args.refresh_interval_secs)),
    })
    .await?;
    let ticket = local.store.latest_ticket(&appid).await?;
    let p = &secrets.platform;
    println!("wxopen-local is up");
    println!("  our API (as API Gateway):   {}", local.base_url);
    match &local.sim {
        Some(sim) => println!("  WeChat simulator:           {}", sim.base_url()),
        None => println!(
            "  WeChat simulator:           not started; WeChat API at {} (WXOPEN_WECHAT_BASE_URL)",
            local.wechat_base_url
        ),
    }
    match &store {
        StoreTarget::Embedded { data_dir } => println!(
            "  store:                      embedded, {}",
            data_dir.join("wxopen.redb").display()
        ),
        StoreTarget::Dynamo { endpoint, table } => println!(
            "  store:                      DynamoDB table {table} at {endpoint} (WXOPEN_DYNAMODB_ENDPOINT)"
        ),
    }
    println!("  local secrets file:         {}", secrets.file.display());
    println!(
        "  values in use, printed for local development only (never print them anywhere else):"
    );
    println!(
        "  component appid:            {}  ({})",
        p.component_appid,
        origin(secrets.component_appid_source, "WXOPEN_COMPONENT_APPID")
    );
    println!(
        "  token:                      {}  ({})",
        p.token.expose_secret(),
        origin(secrets.token_source, "WXOPEN_TOKEN")
    );
    println!(
        "  EncodingAESKey:             {}  ({})",
        p.encoding_aes_key.expose_secret(),
        origin(secrets.encoding_aes_key_source, "WXOPEN_ENCODING_AES_KEY")
    );
    println!(
        "  operator key:               {}  ({}; the handlers hold only its SHA-256)",
        secrets.operator_key.expose_secret(),
        origin(secrets.operator_key_source, "WXOPEN_OPERATOR_KEY")
    );
    println!(
        "  component appsecret:        not printed ({})",
        origin(
            secrets.component_appsecret_source,
            "WXOPEN_COMPONENT_APPSECRET"
        )
    );
    println!(
        "  component_verify_ticket:    {}",
        match ticket {
            Some(t) => format!("received and stored at {} (Unix seconds)", t.received_at),
            None => "not received yet".to_owned(),
        }
    );
    println!(
        "  push URLs:                  {0}/wechat/component and {0}/wechat/apps/$APPID$",
        local.base_url
    );
    if let Some(sim) = &local.sim {
        println!(
            "  simulator control API:      {0}/_sim/accounts, {0}/_sim/counters, {0}/_sim/pushes",
            sim.base_url()
        );
    }
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
        "  a ready invitation link:    {}/auth/start?invite={}  (customer demo-customer{})",
        local.base_url,
        invitation.id,
        if local.sim.is_some() {
            "; the simulator's consent page offers its mini programs"
        } else {
            ""
        }
    );
    println!(
        "  operator console:           {}/console  (log in with the operator key above)",
        local.base_url
    );
    println!(
        "  operator console:           {}/console  (sign in with the operator key)",
        local.base_url
    );
    println!(
        "  operator CLI:               export WXOPEN_API_URL={} WXOPEN_OPERATOR_KEY=<the operator key above>; wxopen authorizers list",
        local.base_url
    );
    println!("Ctrl-C to stop.");
    tokio::select! {
        r = local.wait() => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
