use audit_actions::{router, Deps};
use std::sync::Arc;
use wxopen::runtime::AwsRuntime;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    wxopen::runtime::init_logging();
    let rt = AwsRuntime::from_env().await?;
    let deps = Deps {
        store: rt.store.clone(),
        secrets: rt.secrets.clone(),
        clock: rt.clock.clone(),
        mgr: Arc::new(rt.token_manager().await?),
        batch_concurrency: audit_actions::batches::concurrency_from_env(),
        batch_wakeup: Default::default(),
        public_url: rt.public_url.clone(),
    };
    audit_actions::access::warn_on_keys_without_roles(deps.secrets.as_ref()).await;
    lambda_http::run(router(Arc::new(deps))).await
}
