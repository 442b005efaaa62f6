use lambda_http::{run, service_fn, Error};
use std::sync::Arc;
use ticket_push::{handler, Deps};
use wxopen::domain::SystemClock;
use wxopen::secrets::SecretsManagerSource;
use wxopen::store::dynamo::{self, DynamoStore};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let table = std::env::var("WXOPEN_TABLE").map_err(|_| "WXOPEN_TABLE is not set")?;
    let secret_id = std::env::var("WXOPEN_SECRET_ID").map_err(|_| "WXOPEN_SECRET_ID is not set")?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = Deps {
        secrets: Arc::new(SecretsManagerSource::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            secret_id,
        )),
        store: Arc::new(DynamoStore::new(dynamo::client(&sdk), table)),
        clock: Arc::new(SystemClock),
    };
    let deps = &deps;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(handler(req, deps).await)
    }))
    .await
}
