//! The HTTPS clients wxopen makes: one TLS stack, rustls on *ring*, for both WeChat (reqwest)
//! and AWS (the SDK's hyper client).
//!
//! Why here and not each crate's defaults: left to their defaults, reqwest 0.13 and the AWS SDK
//! both bring rustls on aws-lc-rs, a C crypto library. *ring* does the same TLS 1.2/1.3 work,
//! is a crypto mode the SDK supports, and is smaller: with it every Lambda binary lost 0.74-0.76
//! MB (`./infra/package.sh`, opt-level z: audit-actions 9.13 -> 8.38 MB, ticket-push 8.14 ->
//! 7.38). So the workspace turns the SDK's `default-https-client` off and builds reqwest with
//! `rustls-no-provider`; every client in the workspace is built from this module, which names
//! *ring* (the SDK's client by its crypto mode; reqwest through rustls' process-wide provider,
//! which this module installs). A client built elsewhere fails: the SDK has no HTTP client (a
//! panic in debug builds, an error in release), and reqwest has no crypto provider unless this
//! module installed one earlier in the process.

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// Makes rustls on *ring* the process's crypto provider (once; later calls change nothing).
/// Also for clients built outside wxopen (the browser tests' fantoccini).
/// reqwest built with `rustls-no-provider` reads it when a client is built.
pub fn install_ring_provider() {
    // Err means a provider is installed already: this one, by an earlier call.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client builder on wxopen's TLS stack: rustls on *ring*, reqwest's own settings
/// otherwise (TLS 1.2 and 1.3, the platform's certificate verifier and trust store).
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    install_ring_provider();
    reqwest::Client::builder()
}

/// A reqwest client on wxopen's TLS stack with reqwest's defaults otherwise.
pub fn reqwest_client() -> reqwest::Result<reqwest::Client> {
    reqwest_builder().build()
}

/// The AWS SDK's HTTP client on rustls with *ring*.
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `aws_config::defaults` (latest behaviour version) on [`aws_http_client`]: every AWS client in
/// wxopen (the Lambdas', wxopen-local's DynamoDB mode, the tests against moto) starts here.
pub fn aws_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(aws_http_client())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reqwest_client_builds_on_ring_with_the_platform_trust_store() {
        // Fails if reqwest cannot find the provider (rustls without its `ring` feature).
        reqwest_client().expect("reqwest client on rustls + ring");
        let provider = rustls::crypto::CryptoProvider::get_default().expect("installed");
        assert!(provider
            .cipher_suites
            .iter()
            .any(|s| s.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256));
    }

    #[tokio::test]
    async fn the_aws_config_carries_the_ring_http_client() {
        let conf = aws_config_loader()
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await;
        assert!(conf.http_client().is_some());
    }
}
