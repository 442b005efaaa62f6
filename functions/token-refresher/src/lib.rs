//! The scheduled token refresher's handler (EventBridge → lambda_runtime).

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

/// Not implemented yet: fails loudly rather than pretending tokens were refreshed.
pub async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Err("token-refresher is not implemented yet".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn until_implemented_it_fails_instead_of_faking_a_refresh() {
        let ev = LambdaEvent::new(Value::Null, lambda_runtime::Context::default());
        assert!(handler(ev).await.is_err());
    }
}
