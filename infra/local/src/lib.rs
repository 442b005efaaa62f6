//! `wxopen-local`: the whole system on one machine.
//!
//! One HTTP listener serves every route of the API Gateway (`/wechat/…`, `/auth/…`, `/ops/…`) by
//! calling the very handlers the Lambdas run; state lives in the embedded (redb) store under a data
//! directory; WeChat is the in-process simulator, which pushes encrypted tickets to our listener
//! just as WeChat pushes to API Gateway. [`start`] wires exactly that (the demo, and the tests
//! through the `testing` feature's `spawn_app_with`), on the clock and toward the WeChat endpoint
//! its [`LocalConfig`] names; [`start_system`], what the binary runs, can put the state in
//! DynamoDB instead ([`StoreTarget::Dynamo`]) and talk to another WeChat endpoint instead of
//! starting the simulator ([`WechatTarget::External`]). The binary's secrets: [`secrets`].

pub mod demo;
pub mod secrets;
#[cfg(feature = "testing")]
pub mod testing;

use anyhow::Context;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use wxopen::domain::{Clock, SystemClock};
use wxopen::secrets::{PlatformSecrets, SecretsSource, StaticSecrets};
use wxopen::store::dynamo::DynamoStore;
use wxopen::store::embedded::EmbeddedStore;
use wxopen::store::Store;

/// Fixed development secrets for the demo and the tests (the plain run generates its own, see
/// [`secrets`]): never valid anywhere but here.
pub fn dev_secrets() -> PlatformSecrets {
    PlatformSecrets::new(
        "wx00000000000000aa",
        "localdevappsecret",
        "localdevtoken",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        // sha256("local-operator-key")
        vec!["a4462a45549d16087618a1c6bb479e579cddf2d4aa089c8f98b0b88d5f52d428".into()],
    )
    .expect("the built-in development secrets are valid")
}

/// How `wxopen-local` is wired.
pub struct LocalConfig {
    pub listen: SocketAddr,
    pub sim_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub secrets: PlatformSecrets,
    pub ticket_interval: std::time::Duration,
    /// Simulated mini programs to create (not yet authorized), so the consent page has some to offer.
    pub seed_mini_programs: usize,
    /// How often the token refresher runs (the EventBridge schedule's stand-in); `None`: never.
    pub refresh_interval: Option<std::time::Duration>,
    /// The time every handler, the refresher and the simulator read: a test gives a
    /// [`wxopen::domain::ManualClock`] and moves time instead of sleeping.
    pub clock: Arc<dyn Clock>,
    /// The WeChat API our client calls; `None`: the simulator started here. A test points the
    /// system elsewhere with it (a fault-injecting proxy in front of the simulator at
    /// `sim_listen`, a simulator of its own); the simulator is started and pushes to us either
    /// way.
    pub wechat_base_url: Option<String>,
    /// The store the system keeps its state in; `None`: the embedded store in `data_dir`. A
    /// suite that runs on both stores hands in DynamoDB on moto here.
    pub store: Option<Arc<dyn Store>>,
    /// Changes the simulator's settings before it starts (strict refresh-token rotation, no
    /// push URLs for a test that stores tickets itself, ...).
    pub adjust_sim: Box<dyn FnOnce(&mut wechat_sim::SimConfig) + Send>,
}

impl LocalConfig {
    /// Free ports on loopback, the state in `data_dir`, the real clock, the built-in simulator
    /// pushing a ticket hourly and seeding nothing, no refresher timer: the tests' and the
    /// demo's starting point, changed field by field.
    pub fn on_free_ports(data_dir: PathBuf, secrets: PlatformSecrets) -> LocalConfig {
        let free = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
        LocalConfig {
            listen: free,
            sim_listen: free,
            data_dir,
            secrets,
            ticket_interval: std::time::Duration::from_secs(3600),
            seed_mini_programs: 0,
            refresh_interval: None,
            clock: Arc::new(SystemClock),
            wechat_base_url: None,
            store: None,
            adjust_sim: Box::new(|_| {}),
        }
    }
}

/// The running system.
pub struct Local {
    pub base_url: String,
    pub sim: wechat_sim::Simulator,
    pub store: Arc<dyn Store>,
    /// The token manager every handler shares.
    pub mgr: Arc<wxopen::wechat::TokenManager>,
    /// The notification drainer the batch runner and the API share: a test drains with it at
    /// the simulated clock's time instead of waiting for the runner.
    pub notifier: Arc<wxopen::notifications::Notifier>,
    server: tokio::task::JoinHandle<()>,
}

impl Local {
    pub async fn wait(self) -> anyhow::Result<()> {
        self.server.await.context("the local listener stopped")
    }
}

/// A route none of the three routers serves: a JSON 404.
async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "error": "not_found", "message": "no such route" })),
    )
}

/// Starts the store, our listener and the simulator (which pushes a first ticket at once).
pub async fn start(config: LocalConfig) -> anyhow::Result<Local> {
    let store: Arc<dyn Store> = match config.store {
        Some(store) => store,
        None => embedded_store(&config.data_dir)?,
    };
    let w = wire(Wiring {
        listen: config.listen,
        store: store.clone(),
        secrets: config.secrets,
        wechat: WechatTarget::Simulator {
            listen: config.sim_listen,
            ticket_interval: config.ticket_interval,
            seed_mini_programs: config.seed_mini_programs,
        },
        adjust_sim: config.adjust_sim,
        wechat_base_url: config.wechat_base_url,
        refresh_interval: config.refresh_interval,
        clock: config.clock,
        channel_secrets: local_channel_secrets(&config.data_dir),
    })
    .await?;
    Ok(Local {
        base_url: w.base_url,
        sim: w.sim.expect("wxopen-local started its simulator"),
        store,
        mgr: w.mgr,
        notifier: w.notifier,
        server: w.server,
    })
}

/// The notification channels' secret parts in `data_dir` (where AWS uses Secrets Manager).
fn local_channel_secrets(
    data_dir: &std::path::Path,
) -> Arc<dyn wxopen::notifications::ChannelSecretStore> {
    Arc::new(wxopen::notifications::LocalChannelSecrets::new(
        data_dir.join("notification-channels.json"),
    ))
}

/// The embedded (redb) store in `data_dir`, created if absent.
fn embedded_store(data_dir: &std::path::Path) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    Ok(Arc::new(EmbeddedStore::open(data_dir)?))
}

/// Where WeChat is for a [`System`].
#[derive(Debug, Clone)]
pub enum WechatTarget {
    /// The built-in simulator, started here and wired both ways: it pushes to our listener, our
    /// client calls it.
    Simulator {
        listen: SocketAddr,
        /// How often it pushes a component_verify_ticket (WeChat: every 10 minutes).
        ticket_interval: std::time::Duration,
        /// Simulated mini programs to create (not yet authorized) for its consent page.
        seed_mini_programs: usize,
    },
    /// Another WeChat API endpoint (a simulator elsewhere, a mock); nothing is started for it,
    /// and its pushes are expected at our push URLs.
    External { base_url: String },
}

/// Which store a [`System`] keeps its state in.
#[derive(Debug, Clone)]
pub enum StoreTarget {
    /// redb in `data_dir/wxopen.redb` (survives restarts).
    Embedded { data_dir: PathBuf },
    /// DynamoDB at `endpoint` (DynamoDB Local, moto, LocalStack), `table` created if absent.
    Dynamo { endpoint: String, table: String },
}

/// How the `wxopen-local` binary wires the system: [`LocalConfig`] with a choice of store and
/// of WeChat.
pub struct SystemConfig {
    pub listen: SocketAddr,
    pub secrets: PlatformSecrets,
    pub wechat: WechatTarget,
    pub store: StoreTarget,
    /// How often the token refresher runs; `None`: never.
    pub refresh_interval: Option<std::time::Duration>,
}

/// The running system, on whichever store and WeChat it was given.
pub struct System {
    pub base_url: String,
    /// The built-in simulator, when it was started.
    pub sim: Option<wechat_sim::Simulator>,
    /// The WeChat API base URL our client calls.
    pub wechat_base_url: String,
    pub store: Arc<dyn Store>,
    pub mgr: Arc<wxopen::wechat::TokenManager>,
    server: tokio::task::JoinHandle<()>,
}

impl System {
    pub async fn wait(self) -> anyhow::Result<()> {
        self.server.await.context("the local listener stopped")
    }
}

/// Starts a [`System`]: the store, our listener, and the simulator unless WeChat is elsewhere.
pub async fn start_system(config: SystemConfig) -> anyhow::Result<System> {
    let store: Arc<dyn Store> = match &config.store {
        StoreTarget::Embedded { data_dir } => embedded_store(data_dir)?,
        StoreTarget::Dynamo { endpoint, table } => Arc::new(dynamo_store(endpoint, table).await?),
    };
    let w = wire(Wiring {
        listen: config.listen,
        store: store.clone(),
        secrets: config.secrets,
        wechat: config.wechat,
        adjust_sim: Box::new(|_| {}),
        wechat_base_url: None,
        refresh_interval: config.refresh_interval,
        clock: Arc::new(SystemClock),
        channel_secrets: match &config.store {
            StoreTarget::Embedded { data_dir } => local_channel_secrets(data_dir),
            // Beside a DynamoDB table: a file named after it in the temporary directory.
            StoreTarget::Dynamo { table, .. } => {
                Arc::new(wxopen::notifications::LocalChannelSecrets::new(
                    std::env::temp_dir().join(format!("{table}-notification-channels.json")),
                ))
            }
        },
    })
    .await?;
    Ok(System {
        base_url: w.base_url,
        sim: w.sim,
        wechat_base_url: w.wechat_base_url,
        store,
        mgr: w.mgr,
        server: w.server,
    })
}

/// A DynamoDB store at a local endpoint, its table created if absent. Region and credentials
/// come from the usual AWS environment when set (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_PROFILE`...); otherwise `us-east-1` and placeholder credentials, which local
/// endpoints accept.
pub async fn dynamo_store(endpoint: &str, table: &str) -> anyhow::Result<DynamoStore> {
    // The environment's or the profile's region; not the default chain, whose last link asks
    // EC2's instance metadata service through an HTTP client of its own (none is configured
    // outside the loader: wxopen::https).
    let region = aws_config::meta::region::RegionProviderChain::first_try(
        aws_config::environment::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(aws_config::profile::ProfileFileRegionProvider::new())
    .or_else(aws_config::Region::new("us-east-1"));
    let mut loader = wxopen::https::aws_config_loader()
        .endpoint_url(endpoint)
        .region(region);
    let has_credentials = [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if !has_credentials {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "wxopen-local",
        ));
    }
    let sdk = loader.load().await;
    let store = DynamoStore::new(wxopen::store::dynamo::client(&sdk), table);
    store
        .create_table()
        .await
        .with_context(|| format!("DynamoDB table {table} at {endpoint}"))?;
    Ok(store)
}

/// What [`wire`] started.
struct Wired {
    base_url: String,
    sim: Option<wechat_sim::Simulator>,
    wechat_base_url: String,
    mgr: Arc<wxopen::wechat::TokenManager>,
    notifier: Arc<wxopen::notifications::Notifier>,
    server: tokio::task::JoinHandle<()>,
}

/// What [`wire`] starts from: [`LocalConfig`] and [`SystemConfig`] both come down to this.
struct Wiring {
    listen: SocketAddr,
    store: Arc<dyn Store>,
    secrets: PlatformSecrets,
    wechat: WechatTarget,
    adjust_sim: Box<dyn FnOnce(&mut wechat_sim::SimConfig) + Send>,
    /// Our client calls this instead of the simulator when given.
    wechat_base_url: Option<String>,
    refresh_interval: Option<std::time::Duration>,
    clock: Arc<dyn Clock>,
    /// Where the notification channels' URLs and signing secrets are kept (AWS: Secrets
    /// Manager; here a file, readable by its owner only).
    channel_secrets: Arc<dyn wxopen::notifications::ChannelSecretStore>,
}

/// Our listener with every route on `store`, the batch runner, the refresher, and WeChat (the
/// simulator, started here and pushed a first ticket, or another endpoint); our client calls
/// `wechat_base_url` instead of the simulator when given.
async fn wire(wiring: Wiring) -> anyhow::Result<Wired> {
    let Wiring {
        listen,
        store,
        secrets: secrets_value,
        wechat: wechat_target,
        adjust_sim,
        wechat_base_url,
        refresh_interval,
        clock,
        channel_secrets,
    } = wiring;
    let secrets_value = &secrets_value;
    let secrets: Arc<dyn SecretsSource> = Arc::new(StaticSecrets::new(secrets_value.clone()));
    // Bound first: the simulator needs our push URLs, our handlers need its base URL.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");

    use secrecy::ExposeSecret;
    let s = secrets_value;
    let (sim, wechat) = match wechat_target {
        WechatTarget::Simulator {
            listen: sim_listen,
            ticket_interval,
            seed_mini_programs,
        } => {
            let mut sim_config = wechat_sim::SimConfig {
                component_appid: s.component_appid.to_string(),
                component_appsecret: s.component_appsecret.expose_secret().to_owned(),
                token: s.token.expose_secret().to_owned(),
                encoding_aes_key: s.encoding_aes_key.expose_secret().to_owned(),
                auth_event_url: Some(format!("{base_url}/wechat/component")),
                message_url: Some(format!("{base_url}/wechat/apps/$APPID$")),
                ticket_interval: Some(ticket_interval),
                clock: clock.clone(),
                // Released apps must be filed (wxopen's release guard): the simulated fleet is,
                // until a test makes one not filed.
                icp_apps_filed: true,
                ..wechat_sim::SimConfig::default()
            };
            adjust_sim(&mut sim_config);
            let sim = wechat_sim::Simulator::start_on(sim_config, sim_listen)
                .await
                .with_context(|| format!("starting the WeChat simulator on {sim_listen}"))?;
            for _ in 0..seed_mini_programs {
                sim.add_account(wechat_sim::AccountSpec::mini_program());
            }
            sim.add_template(1, "1.0.0");
            let wechat = wxopen::wechat::ClientConfig::with_base_url(sim.base_url());
            (Some(sim), wechat)
        }
        WechatTarget::External { base_url } => (
            None,
            wxopen::wechat::ClientConfig::with_base_url(base_url.trim_end_matches('/')),
        ),
    };
    let wechat = match wechat_base_url {
        Some(base_url) => {
            wxopen::wechat::ClientConfig::with_base_url(base_url.trim_end_matches('/'))
        }
        None => wechat,
    };
    let mgr = Arc::new(
        wxopen::wechat::TokenManager::new(
            wxopen::wechat::WechatClient::new(wechat.clone()).context("the WeChat API base URL")?,
            store.clone(),
            s.component_appid.clone(),
            s.component_appsecret.clone(),
            clock.clone(),
        )
        .with_authorizers(store.clone()),
    );
    let dyn_store = store.clone();
    let onboarding = |wait: std::time::Duration| {
        Arc::new(
            wxopen::onboarding::Onboarding::new(mgr.clone(), dyn_store.clone(), clock.clone())
                .with_wait(wait),
        )
    };
    let push = ticket_push::router(Arc::new(ticket_push::Deps {
        secrets: secrets.clone(),
        store: dyn_store.clone(),
        clock: clock.clone(),
        onboarding: onboarding(std::time::Duration::from_secs(2)),
    }));
    let auth = auth_callback::router(Arc::new(auth_callback::Deps {
        onboarding: onboarding(std::time::Duration::from_secs(8)),
        store: dyn_store.clone(),
        clock: clock.clone(),
        consent: wxopen::wechat::consent::ConsentHosts::for_api_base_url(&wechat.base_url),
        public_url: Some(base_url.clone()),
    }));
    // No SNS topic here: an `sns` channel's sends fail (and are listed) until one is configured.
    let notifier = Arc::new(wxopen::notifications::Notifier::new(
        wxopen::notifications::Sender::new(None).context("the notification sender")?,
        wxopen::notifications::Notifier::console_url_for(Some(&base_url)),
        channel_secrets,
    ));
    let ops_deps = Arc::new(audit_actions::Deps {
        store: dyn_store.clone(),
        secrets: secrets.clone(),
        clock: clock.clone(),
        mgr: mgr.clone(),
        public_url: Some(base_url.clone()),
        batch_concurrency: audit_actions::batches::concurrency_from_env(),
        batch_wakeup: Default::default(),
        notifier: notifier.clone(),
    });
    // Batches run here at once when posted (in AWS, the batch-runner's schedule runs them).
    audit_actions::batches::spawn_runner(ops_deps.clone(), std::time::Duration::from_secs(5));
    let ops = audit_actions::router(ops_deps);
    let app = push.merge(auth).merge(ops).fallback(not_found);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        {
            tracing::error!(error = %e, "local listener failed");
        }
    });
    if let Some(sim) = &sim {
        sim.push_ticket()
            .await
            .context("pushing the first ticket")?;
    }
    if let Some(every) = refresh_interval {
        let deps = token_refresher::Deps {
            mgr: mgr.clone(),
            store: dyn_store.clone(),
            clock: clock.clone(),
            config: token_refresher::RefresherConfig::from_env(),
        };
        token_refresher::spawn_interval(Arc::new(deps), every);
    }
    Ok(Wired {
        base_url,
        sim,
        wechat_base_url: wechat.base_url.clone(),
        mgr,
        notifier,
        server,
    })
}
