use audit_actions::{router, Deps};
use std::sync::Arc;
use wxopen::runtime::AwsRuntime;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    wxopen::runtime::init_logging();
    let rt = AwsRuntime::from_env().await?;
    let deps = Deps::from_runtime(&rt).await?;
    audit_actions::access::warn_on_keys_without_roles(deps.secrets.as_ref()).await;
    lambda_http::run(router(Arc::new(deps))).await
}
