use std::sync::Arc;
use std::time::Duration;
use ticket_push::{router, Deps};
use wxopen::onboarding::Onboarding;
use wxopen::runtime::AwsRuntime;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    wxopen::runtime::init_logging();
    let rt = AwsRuntime::from_env().await?;
    let mgr = Arc::new(rt.token_manager().await?);
    let deps = Deps {
        secrets: rt.secrets.clone(),
        store: rt.store.clone(),
        clock: rt.clock.clone(),
        onboarding: Arc::new(
            Onboarding::new(mgr, rt.store.clone(), rt.clock.clone())
                .with_wait(Duration::from_secs(2)),
        ),
    };
    lambda_http::run(router(Arc::new(deps))).await
}
