//! wxopen's TLS stack (`wxopen::https`: rustls on *ring*) completing real handshakes on loopback,
//! against a TLS server whose certificate chains to a test CA (`tests/fixtures/tls/`: `ca.pem`,
//! and `server.pem` for `localhost` and 127.0.0.1 with its P-256 key `server.key`, made with
//! openssl for these tests only, valid until 2126). No test elsewhere reaches a TLS server, so
//! without these a client that builds but cannot negotiate would pass every other test.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn fixture(name: &str) -> String {
    format!(
        "{}/../tests/fixtures/tls/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A TLS 1.3/1.2 server on a free loopback port answering every request `200 {"ok":true}`;
/// returns its port.
async fn tls_server() -> u16 {
    let chain = vec![CertificateDer::from_pem_file(fixture("server.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A failed handshake (the client refusing our certificate) just ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"ok":true}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn the_wechat_client_stack_completes_a_handshake_and_a_request() {
    let port = tls_server().await;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(fixture("ca.pem")).unwrap()).unwrap();
    let http = wxopen::https::reqwest_builder()
        .tls_certs_merge([ca])
        .build()
        .unwrap();
    let answer: serde_json::Value = http
        .get(format!("https://localhost:{port}/cgi-bin/ping"))
        .send()
        .await
        .expect("TLS handshake and request on rustls + ring")
        .json()
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({"ok": true}));
}

#[tokio::test]
async fn the_wechat_client_stack_refuses_a_certificate_it_cannot_chain() {
    // Without the test CA the platform verifier must refuse the server: verification is on.
    let port = tls_server().await;
    let http = wxopen::https::reqwest_client().unwrap();
    let err = http
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .expect_err("an unknown issuer is refused");
    let chain = format!("{:?}", anyhow::Error::new(err));
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "{chain}"
    );
}

#[tokio::test]
async fn the_aws_sdk_client_negotiates_tls_on_ring_up_to_certificate_verification() {
    // The SDK's client takes no extra roots, so the test CA is unknown to it: the handshake on
    // ring gets as far as the server's certificate and refuses it there (not before, for want
    // of a provider or a cipher suite in common).
    let port = tls_server().await;
    let sdk = wxopen::https::aws_config_loader()
        .endpoint_url(format!("https://localhost:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let err = aws_sdk_dynamodb::Client::new(&sdk)
        .list_tables()
        .send()
        .await
        .expect_err("the test CA is not trusted");
    let chain = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&err));
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("invalid peer certificate"),
        "{chain}"
    );
}
