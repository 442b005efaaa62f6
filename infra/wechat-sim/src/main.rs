//! `wechat-sim`: the WeChat Open Platform simulator as a standalone server.

use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;
use wechat_sim::{AccountSpec, SimConfig, Simulator};

#[derive(Parser, Debug)]
#[command(
    name = "wechat-sim",
    about = "WeChat Open Platform (第三方平台) simulator"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081", env = "WECHAT_SIM_LISTEN")]
    listen: SocketAddr,
    /// 授权事件接收URL: tickets and authorization events are POSTed here.
    #[arg(long, env = "WECHAT_SIM_AUTH_EVENT_URL")]
    auth_event_url: Option<String>,
    /// 消息与事件接收URL; may contain `$APPID$`.
    #[arg(long, env = "WECHAT_SIM_MESSAGE_URL")]
    message_url: Option<String>,
    /// Push a component_verify_ticket this often (seconds); 0 = only on demand.
    #[arg(long, default_value_t = 600)]
    ticket_interval_secs: u64,
    #[arg(long, env = "WECHAT_SIM_COMPONENT_APPID")]
    component_appid: Option<String>,
    #[arg(long, env = "WECHAT_SIM_COMPONENT_APPSECRET")]
    component_appsecret: Option<String>,
    #[arg(long, env = "WECHAT_SIM_TOKEN")]
    token: Option<String>,
    #[arg(long, env = "WECHAT_SIM_ENCODING_AES_KEY")]
    encoding_aes_key: Option<String>,
    /// Create this many mini programs (not yet authorized; the consent page offers them).
    #[arg(long, default_value_t = 0)]
    seed_accounts: u32,
    /// Also authorize the seeded mini programs (permission sets 17 and 18), pushing `authorized`.
    #[arg(long)]
    authorize_seeded: bool,
    /// Seed the template library with template ids 1..=N.
    #[arg(long, default_value_t = 1)]
    seed_templates: u64,
    /// Approve submitted audits automatically after this many seconds.
    #[arg(long)]
    audit_auto_approve_secs: Option<u64>,
    /// Hand out a new refresh token on every api_authorizer_token call.
    #[arg(long)]
    rotate_refresh_tokens: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = SimConfig::default();
    if let Some(v) = args.component_appid {
        config.component_appid = v;
    }
    if let Some(v) = args.component_appsecret {
        config.component_appsecret = v;
    }
    if let Some(v) = args.token {
        config.token = v;
    }
    if let Some(v) = args.encoding_aes_key {
        config.encoding_aes_key = v;
    }
    config.auth_event_url = args.auth_event_url;
    config.message_url = args.message_url;
    config.ticket_interval =
        (args.ticket_interval_secs > 0).then(|| Duration::from_secs(args.ticket_interval_secs));
    config.audit_auto_approve_after = args.audit_auto_approve_secs.map(Duration::from_secs);
    config.rotate_refresh_tokens = args.rotate_refresh_tokens;

    let sim = Simulator::start_on(config, args.listen).await?;
    for id in 1..=args.seed_templates {
        sim.add_template(id, &format!("1.0.{id}"));
    }
    let mut seeded = Vec::new();
    for _ in 0..args.seed_accounts {
        seeded.push(sim.add_account(AccountSpec::mini_program()));
    }
    let c = sim.config();
    println!("wechat-sim listening on {}", sim.base_url());
    println!("component_appid     = {}", c.component_appid);
    println!("component_appsecret = {}", c.component_appsecret);
    println!("token               = {}", c.token);
    println!("encoding_aes_key    = {}", c.encoding_aes_key);
    println!("auth_event_url      = {:?}", c.auth_event_url);
    println!("message_url         = {:?}", c.message_url);
    for a in &seeded {
        if args.authorize_seeded {
            sim.authorize(a, &[17, 18]).await?;
        }
        println!(
            "account             = {a} (mini program{})",
            if args.authorize_seeded {
                ", authorized 17,18"
            } else {
                ""
            }
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
