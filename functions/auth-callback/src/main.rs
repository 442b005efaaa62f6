use auth_callback::{router, Deps};
use std::sync::Arc;
use wxopen::runtime::AwsRuntime;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    wxopen::runtime::init_logging();
    let rt = AwsRuntime::from_env().await?;
    let deps = Deps {
        onboarding: Arc::new(rt.onboarding().await?),
        store: rt.store.clone(),
        clock: rt.clock.clone(),
        consent: rt.consent_hosts(),
        public_url: rt.public_url.clone(),
    };
    lambda_http::run(router(Arc::new(deps))).await
}
