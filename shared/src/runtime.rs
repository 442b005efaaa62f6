//! What every Lambda builds once at start from its environment, written once.
//!
//! - `WXOPEN_TABLE`: the DynamoDB table; `WXOPEN_SECRET_ID`: the platform secret.
//! - `WXOPEN_WECHAT_BASE_URL` (optional): another WeChat API host (a simulator in a staging
//!   stack); the consent pages follow it ([`crate::wechat::consent::ConsentHosts`]).
//! - `WXOPEN_PUBLIC_URL` (optional): the base URL merchants and operators reach the API at.
//! - `WXOPEN_NOTIFY_TOPIC_ARN` (optional): the SNS topic notifications of `sns` channels go to
//!   (the stack's alarm topic).
//! - `AWS_LAMBDA_LOG_LEVEL` (Lambda's log level control) or `RUST_LOG`, and
//!   `AWS_LAMBDA_LOG_FORMAT`: the log filter and format ([`init_logging`]).

use crate::domain::SystemClock;
use crate::secrets::{SecretsManagerSource, SecretsSource};
use crate::store::dynamo::{self, DynamoStore};
use crate::wechat::consent::ConsentHosts;
use crate::wechat::{ClientConfig, TokenManager, WechatClient};
use anyhow::Context;
use std::sync::Arc;

/// The Lambdas' log subscriber: to stdout (CloudWatch), without timestamps (CloudWatch adds
/// them) or colour codes, as JSON when Lambda's log format control says `JSON`; filtered by
/// [`log_filter`] on `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`.
///
/// Why not lambda_runtime's `init_default_subscriber`: its `EnvFilter` brings a regex engine
/// (regex-automata with its DFA builder and regex-syntax) into every binary for field and span
/// filters wxopen never uses: 0.36 MB of each (`./infra/package.sh`: audit-actions 8.38 -> 8.02
/// MB). `Targets` takes the same `level` and `target=level,...` lists.
/// A second call changes nothing.
pub fn init_logging() {
    use tracing_subscriber::prelude::*;
    let level = optional_env("AWS_LAMBDA_LOG_LEVEL").or_else(|| optional_env("RUST_LOG"));
    let filter = log_filter(level.as_deref());
    let json =
        optional_env("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(std::io::stdout);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry.with(fmt.json()).try_init()
    } else {
        registry.with(fmt).try_init()
    };
}

/// `level` as a filter: a level (`info`, `DEBUG`: Lambda's control sends upper case) or
/// `target=level` directives separated by commas (`wxopen=debug,warn`); `info` when unset or
/// unreadable.
pub fn log_filter(level: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let default = |l: LevelFilter| Targets::new().with_default(l);
    match level {
        None => default(LevelFilter::INFO),
        Some(l) => match l.parse::<LevelFilter>() {
            Ok(l) => default(l),
            // A bare word that is no level names a target (as in RUST_LOG).
            Err(_) => l.parse().unwrap_or_else(|_| default(LevelFilter::INFO)),
        },
    }
}

pub struct AwsRuntime {
    pub store: Arc<DynamoStore>,
    pub secrets: Arc<SecretsManagerSource>,
    pub clock: Arc<SystemClock>,
    pub wechat: ClientConfig,
    pub public_url: Option<String>,
    /// The AWS configuration the clients above were built from (the notifier builds its SNS
    /// client from it, only in the functions that deliver notifications).
    pub sdk: aws_config::SdkConfig,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

fn optional_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl AwsRuntime {
    pub async fn from_env() -> anyhow::Result<Self> {
        let table = env("WXOPEN_TABLE")?;
        let secret_id = env("WXOPEN_SECRET_ID")?;
        let sdk = crate::https::aws_config_loader().load().await;
        let wechat = match optional_env("WXOPEN_WECHAT_BASE_URL") {
            Some(base) => ClientConfig::with_base_url(base),
            None => ClientConfig::default(),
        };
        Ok(AwsRuntime {
            store: Arc::new(DynamoStore::new(dynamo::client(&sdk), table)),
            secrets: Arc::new(SecretsManagerSource::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                secret_id,
            )),
            clock: Arc::new(SystemClock),
            wechat,
            public_url: optional_env("WXOPEN_PUBLIC_URL"),
            sdk,
        })
    }

    /// The token manager on this runtime's store, with the component credentials from the
    /// platform secret (read once, at start).
    /// The authorization path (the callback's and the push's), over this runtime's WeChat, store
    /// and clock.
    pub async fn onboarding(&self) -> anyhow::Result<crate::onboarding::Onboarding> {
        Ok(crate::onboarding::Onboarding::new(
            std::sync::Arc::new(self.token_manager().await?),
            self.store.clone(),
            self.clock.clone(),
        ))
    }

    pub async fn token_manager(&self) -> anyhow::Result<TokenManager> {
        let secrets = self.secrets.load().await?;
        Ok(TokenManager::new(
            WechatClient::new(self.wechat.clone())?,
            self.store.clone(),
            secrets.component_appid.clone(),
            secrets.component_appsecret.clone(),
            self.clock.clone(),
        )
        .with_authorizers(self.store.clone()))
    }

    /// The notification drainer: the channels' sender (with the SNS topic of
    /// `WXOPEN_NOTIFY_TOPIC_ARN` when set), the console's URL under the public URL, and the
    /// channels' secret (`WXOPEN_NOTIFY_SECRET_ID`). Only the
    /// functions that deliver (audit-actions, the batch runner) build it: the others only write
    /// the outbox, and link no SNS client.
    pub fn notifier(&self) -> anyhow::Result<crate::notifications::Notifier> {
        let topic = optional_env("WXOPEN_NOTIFY_TOPIC_ARN").map(|topic_arn| {
            crate::notifications::SnsTopic {
                client: aws_sdk_sns::Client::new(&self.sdk),
                topic_arn,
            }
        });
        // The channels' URLs and signing secrets: the stack's NotificationChannelsSecret.
        let secrets: std::sync::Arc<dyn crate::notifications::ChannelSecretStore> =
            match optional_env("WXOPEN_NOTIFY_SECRET_ID") {
                Some(id) => {
                    std::sync::Arc::new(crate::notifications::SecretsManagerChannelSecrets::new(
                        aws_sdk_secretsmanager::Client::new(&self.sdk),
                        id,
                    ))
                }
                None => std::sync::Arc::new(
                    crate::notifications::channel_secrets::UnconfiguredChannelSecrets,
                ),
            };
        Ok(crate::notifications::Notifier::new(
            crate::notifications::Sender::new(topic)?,
            crate::notifications::Notifier::console_url_for(self.public_url.as_deref()),
            secrets,
        ))
    }

    pub fn consent_hosts(&self) -> ConsentHosts {
        ConsentHosts::for_api_base_url(&self.wechat.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn trace_is_compiled_out_so_no_level_logs_the_sdks_request_and_response_bodies() {
        // The AWS SDK traces `request = ?request` and `response = ?response`, bodies included
        // (token items, the platform secret); the workspace's `max_level_debug` removes them.
        assert_eq!(
            tracing::level_filters::STATIC_MAX_LEVEL,
            tracing::level_filters::LevelFilter::DEBUG
        );
    }

    #[test]
    fn lambdas_log_level_control_and_rust_log_lists_both_filter() {
        let f = log_filter(Some("DEBUG"));
        assert!(f.would_enable("wxopen::wechat", &Level::DEBUG));
        assert!(!f.would_enable("wxopen::wechat", &Level::TRACE));

        let f = log_filter(Some("wxopen=debug,warn"));
        assert!(f.would_enable("wxopen::store", &Level::DEBUG));
        assert!(!f.would_enable("hyper::proto", &Level::INFO));
        assert!(f.would_enable("hyper::proto", &Level::WARN));

        for unset_or_unreadable in [None, Some("wxopen=ever so"), Some("wxopen=debug=x")] {
            let f = log_filter(unset_or_unreadable);
            assert!(
                f.would_enable("wxopen", &Level::INFO),
                "{unset_or_unreadable:?}"
            );
            assert!(
                !f.would_enable("wxopen", &Level::DEBUG),
                "{unset_or_unreadable:?}"
            );
        }
    }
}
