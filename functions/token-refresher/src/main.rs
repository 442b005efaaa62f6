use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;
use token_refresher::{handler, Deps, RefresherConfig};
use wxopen::runtime::AwsRuntime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    wxopen::runtime::init_logging();
    let rt = AwsRuntime::from_env().await?;
    let deps = Deps {
        mgr: Arc::new(rt.token_manager().await?),
        store: rt.store.clone(),
        clock: rt.clock.clone(),
        config: RefresherConfig::from_env(),
    };
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move { handler(deps, event).await },
    ))
    .await
}
