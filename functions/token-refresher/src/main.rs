use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use token_refresher::{handler, Deps, RefresherConfig};
use wxopen::domain::SystemClock;
use wxopen::secrets::{SecretsManagerSource, SecretsSource};
use wxopen::store::dynamo::{self, DynamoStore};
use wxopen::wechat::{TokenManager, WechatClient};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("WXOPEN_TABLE").map_err(|_| "WXOPEN_TABLE is not set")?;
    let secret_id = std::env::var("WXOPEN_SECRET_ID").map_err(|_| "WXOPEN_SECRET_ID is not set")?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secrets = SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(&sdk), secret_id)
        .load()
        .await?;
    let store = Arc::new(DynamoStore::new(dynamo::client(&sdk), table));
    let clock = Arc::new(SystemClock);
    let mgr = TokenManager::new(
        WechatClient::production()?,
        store.clone(),
        secrets.component_appid.clone(),
        secrets.component_appsecret.clone(),
        clock.clone(),
    )
    .with_authorizers(store.clone());
    let deps = Deps {
        mgr: Arc::new(mgr),
        store,
        clock,
        config: RefresherConfig::from_env(),
    };
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move { handler(deps, event).await },
    ))
    .await
}
