//! What every Lambda builds once at start from its environment, written once.
//!
//! - `WXOPEN_TABLE`: the DynamoDB table; `WXOPEN_SECRET_ID`: the platform secret.
//! - `WXOPEN_WECHAT_BASE_URL` (optional): another WeChat API host (a simulator in a staging
//!   stack); the consent pages follow it ([`crate::wechat::consent::ConsentHosts`]).
//! - `WXOPEN_PUBLIC_URL` (optional): the base URL merchants and operators reach the API at.

use crate::domain::SystemClock;
use crate::secrets::{SecretsManagerSource, SecretsSource};
use crate::store::dynamo::{self, DynamoStore};
use crate::wechat::consent::ConsentHosts;
use crate::wechat::{ClientConfig, TokenManager, WechatClient};
use anyhow::Context;
use std::sync::Arc;

pub struct AwsRuntime {
    pub store: Arc<DynamoStore>,
    pub secrets: Arc<SecretsManagerSource>,
    pub clock: Arc<SystemClock>,
    pub wechat: ClientConfig,
    pub public_url: Option<String>,
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
        })
    }

    /// The token manager on this runtime's store, with the component credentials from the
    /// platform secret (read once, at start).
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

    pub fn consent_hosts(&self) -> ConsentHosts {
        ConsentHosts::for_api_base_url(&self.wechat.base_url)
    }
}
