use std::sync::Arc;
use std::time::Duration;
use ticket_push::{router, Deps};
use wxopen::runtime::AwsRuntime;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    wxopen::runtime::init_logging();
    let rt = AwsRuntime::from_env().await?;
    let deps = Deps {
        secrets: rt.secrets.clone(),
        store: rt.store.clone(),
        clock: rt.clock.clone(),
        onboarding: Arc::new(rt.onboarding().await?.with_wait(Duration::from_secs(2))),
    };
    lambda_http::run(router(Arc::new(deps))).await
}
