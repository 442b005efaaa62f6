//! The `audit-actions` function: the operators' API under `/ops` and the batch runner, in two
//! layers.
//!
//! - [`ops`]: what the operations do and refuse, without HTTP: one app's code lifecycle, its
//!   audits, the batch runner, the stale-audit check, template requirements, ext_json checks.
//!   Each returns a typed outcome or an [`ops::OpsError`] whose every rule refusal is a variant
//!   carrying its facts and hint.
//! - [`http`]: thin routers and extractors (the operator key and its role, the app, the JSON
//!   body) that call `ops` and render every failure once ([`http::error::render`]).
//!
//! `main.rs` hands [`router`] to `lambda_http::run`; `bin/batch-runner.rs` runs
//! [`batches::run_open_batches`] on a schedule; `wxopen-local` merges the same router and runs
//! the batches in process.

pub mod http;
pub mod ops;

pub use http::invitations::new_invitation;
pub use http::{access, router};
pub use ops::{batches, stale_audits};

use std::sync::Arc;
use wxopen::domain::Clock;
use wxopen::notifications::Notifier;
use wxopen::runtime::AwsRuntime;
use wxopen::secrets::SecretsSource;
use wxopen::store::Store;
use wxopen::wechat::TokenManager;

/// What the handlers and the runner need, built once per Lambda instance.
pub struct Deps {
    pub store: Arc<dyn Store>,
    /// The operator key digests (and rotations) come from here, cached by the source.
    pub secrets: Arc<dyn SecretsSource>,
    pub clock: Arc<dyn Clock>,
    /// WeChat, with the tokens kept fresh.
    pub mgr: Arc<TokenManager>,
    /// Apps a batch runner works on at once ([`batches::DEFAULT_CONCURRENCY`]).
    pub batch_concurrency: usize,
    /// Poked when a batch is created: `wxopen-local`'s runner starts at once (in Lambda nobody
    /// listens; the schedule runs the batch).
    pub batch_wakeup: Arc<tokio::sync::Notify>,
    /// The base URL merchants reach `/auth/start` at (`WXOPEN_PUBLIC_URL`); `None`: the
    /// request's `Host`.
    pub public_url: Option<String>,
    /// Delivers the notification outbox: the batch runner drains it every minute, the API sends
    /// right away where that is cheap (a test send, a retry).
    pub notifier: Arc<Notifier>,
}

impl Deps {
    /// Records what `operator` did to `appid` in the app's activity, in this store at this
    /// clock's time ([`ops::app::record`]: a failure to record never undoes what WeChat did).
    pub async fn record(
        &self,
        operator: &str,
        appid: &wxopen::domain::AppId,
        action: wxopen::lifecycle::Action,
        f: impl FnOnce(&mut wxopen::store::Activity),
    ) {
        ops::app::record(
            self.store.as_ref(),
            self.clock.as_ref(),
            operator,
            appid,
            action,
            f,
        )
        .await
    }

    /// The AWS runtime's store, secrets, clock and WeChat, and the batch concurrency configured
    /// (`WXOPEN_BATCH_CONCURRENCY`): for the API function and the batch runner alike.
    pub async fn from_runtime(rt: &AwsRuntime) -> anyhow::Result<Deps> {
        Ok(Deps {
            store: rt.store.clone(),
            secrets: rt.secrets.clone(),
            clock: rt.clock.clone(),
            mgr: Arc::new(rt.token_manager().await?),
            batch_concurrency: batches::concurrency_from_env(),
            batch_wakeup: Default::default(),
            public_url: rt.public_url.clone(),
            notifier: Arc::new(rt.notifier()?),
        })
    }
}
