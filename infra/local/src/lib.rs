//! `wxopen-local`: the whole system on one machine.
//!
//! One HTTP listener serves every route of the API Gateway (`/wechat/…`, `/auth/…`, `/ops/…`) by
//! calling the very handlers the Lambdas run; state lives in the embedded (redb) store under a data
//! directory; WeChat is the in-process simulator, which pushes encrypted tickets to our listener
//! just as WeChat pushes to API Gateway.

pub mod demo;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Request as AxumRequest, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use wxopen::domain::{Clock, SystemClock};
use wxopen::secrets::{PlatformSecrets, SecretsSource, StaticSecrets};
use wxopen::store::embedded::EmbeddedStore;
use wxopen::store::Store;

/// Development secrets used when none are configured: never valid anywhere but here.
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
}

/// The running system.
pub struct Local {
    pub base_url: String,
    pub sim: wechat_sim::Simulator,
    pub store: Arc<EmbeddedStore>,
    /// The token manager every handler shares.
    pub mgr: Arc<wxopen::wechat::TokenManager>,
    server: tokio::task::JoinHandle<()>,
}

impl Local {
    pub async fn wait(self) -> anyhow::Result<()> {
        self.server.await.context("the local listener stopped")
    }
}

struct AppState {
    push: ticket_push::Deps,
}

async fn to_lambda(req: AxumRequest<axum::body::Body>) -> Result<lambda_http::Request, StatusCode> {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)?;
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(bytes.to_vec())
    };
    Ok(lambda_http::Request::from_parts(parts, body))
}

fn from_lambda(resp: lambda_http::Response<lambda_http::Body>) -> AxumResponse {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, axum::body::Body::from(bytes))
}

/// `/wechat/*` goes to ticket-push's `lambda_http` handler; anything else is a JSON 404.
async fn pushes_and_not_found(
    State(state): State<Arc<AppState>>,
    req: AxumRequest<axum::body::Body>,
) -> AxumResponse {
    if !req.uri().path().starts_with("/wechat/") {
        return from_lambda(wxopen::http::error(
            lambda_http::http::StatusCode::NOT_FOUND,
            "not_found",
            "no such route",
        ));
    }
    match to_lambda(req).await {
        Ok(req) => from_lambda(ticket_push::handler(req, &state.push).await),
        Err(status) => status.into_response(),
    }
}

/// Starts the store, our listener and the simulator (which pushes a first ticket at once).
pub async fn start(config: LocalConfig) -> anyhow::Result<Local> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let store = Arc::new(EmbeddedStore::open(&config.data_dir)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secrets: Arc<dyn SecretsSource> = Arc::new(StaticSecrets::new(config.secrets.clone()));
    // Bound first: the simulator needs our push URLs, our handlers need its base URL.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");

    use secrecy::ExposeSecret;
    let s = &config.secrets;
    let sim_config = wechat_sim::SimConfig {
        component_appid: s.component_appid.to_string(),
        component_appsecret: s.component_appsecret.expose_secret().to_owned(),
        token: s.token.expose_secret().to_owned(),
        encoding_aes_key: s.encoding_aes_key.expose_secret().to_owned(),
        auth_event_url: Some(format!("{base_url}/wechat/component")),
        message_url: Some(format!("{base_url}/wechat/apps/$APPID$")),
        ticket_interval: Some(config.ticket_interval),
        clock: clock.clone(),
        ..wechat_sim::SimConfig::default()
    };
    let sim = wechat_sim::Simulator::start_on(sim_config, config.sim_listen).await?;
    for _ in 0..config.seed_mini_programs {
        sim.add_account(wechat_sim::AccountSpec::mini_program());
    }
    sim.add_template(1, "1.0.0");

    let wechat = wxopen::wechat::ClientConfig::with_base_url(sim.base_url());
    let mgr = Arc::new(
        wxopen::wechat::TokenManager::new(
            wxopen::wechat::WechatClient::new(wechat.clone())?,
            store.clone(),
            s.component_appid.clone(),
            s.component_appsecret.clone(),
            clock.clone(),
        )
        .with_authorizers(store.clone()),
    );
    let dyn_store = store.clone() as Arc<dyn Store>;
    let onboarding = |wait: std::time::Duration| {
        Arc::new(
            wxopen::onboarding::Onboarding::new(mgr.clone(), dyn_store.clone(), clock.clone())
                .with_wait(wait),
        )
    };
    let state = Arc::new(AppState {
        push: ticket_push::Deps {
            secrets: secrets.clone(),
            store: dyn_store.clone(),
            clock: clock.clone(),
            onboarding: onboarding(std::time::Duration::from_secs(2)),
        },
    });
    let auth = auth_callback::router(Arc::new(auth_callback::Deps {
        onboarding: onboarding(std::time::Duration::from_secs(8)),
        store: dyn_store.clone(),
        clock: clock.clone(),
        consent: wxopen::wechat::consent::ConsentHosts::for_api_base_url(&wechat.base_url),
        public_url: Some(base_url.clone()),
    }));
    let ops_deps = Arc::new(audit_actions::Deps {
        store: dyn_store.clone(),
        secrets: secrets.clone(),
        clock: clock.clone(),
        mgr: mgr.clone(),
        public_url: Some(base_url.clone()),
        batch_concurrency: audit_actions::batches::concurrency_from_env(),
        batch_wakeup: Default::default(),
    });
    // Batches run here at once when posted (in AWS, the batch-runner's schedule runs them).
    audit_actions::batches::spawn_runner(ops_deps.clone(), std::time::Duration::from_secs(5));
    let ops = audit_actions::router(ops_deps);
    let app = axum::Router::new()
        .fallback(pushes_and_not_found)
        .with_state(state)
        .merge(auth)
        .merge(ops);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "local listener failed");
        }
    });
    sim.push_ticket()
        .await
        .context("pushing the first ticket")?;
    if let Some(every) = config.refresh_interval {
        let deps = token_refresher::Deps {
            mgr: mgr.clone(),
            store: dyn_store.clone(),
            clock: clock.clone(),
            config: token_refresher::RefresherConfig::from_env(),
        };
        token_refresher::spawn_interval(Arc::new(deps), every);
    }
    Ok(Local {
        base_url,
        sim,
        store,
        mgr,
        server,
    })
}
