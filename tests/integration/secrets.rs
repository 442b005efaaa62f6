//! Platform secrets from Secrets Manager (moto_server): load, cache, rotation, validation.

use crate::helpers;
use secrecy::ExposeSecret;
use std::time::Duration;
use wxopen::secrets::{PlatformSecrets, SecretsError, SecretsManagerSource, SecretsSource};

const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn secret_json(token: &str) -> String {
    PlatformSecrets::new(
        "wx1234567890abcdef",
        "appsecretVALUE0123456789abcdef01",
        token,
        AES,
        vec![HASH.to_owned()],
    )
    .expect("valid secrets")
    .to_json()
}

async fn client() -> Option<aws_sdk_secretsmanager::Client> {
    let endpoint = helpers::aws_endpoint()?;
    Some(aws_sdk_secretsmanager::Client::new(
        &helpers::aws_config(&endpoint).await,
    ))
}

async fn create_secret(c: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = helpers::unique_name("wxopen/platform");
    c.create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret on moto");
    name
}

#[tokio::test]
async fn secrets_are_cached_for_the_ttl_and_a_rotated_value_is_picked_up_after_it() {
    let Some(c) = client().await else { return };
    let id = create_secret(&c, &secret_json("tokenBEFORE")).await;
    let src = SecretsManagerSource::with_ttl(c.clone(), &id, Duration::from_millis(1_500));

    let first = src.load().await.unwrap();
    assert_eq!(first.token.expose_secret(), "tokenBEFORE");
    assert_eq!(first.component_appid.as_str(), "wx1234567890abcdef");
    assert_eq!(first.operator_key_sha256, vec![HASH.to_owned()]);

    c.put_secret_value()
        .secret_id(&id)
        .secret_string(secret_json("tokenAFTER"))
        .send()
        .await
        .unwrap();
    // Within the TTL the cached value is served, without a fetch.
    let cached = src.load().await.unwrap();
    assert_eq!(cached.token.expose_secret(), "tokenBEFORE");
    assert!(std::sync::Arc::ptr_eq(&first, &cached));

    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let rotated = src.load().await.unwrap();
    assert_eq!(rotated.token.expose_secret(), "tokenAFTER");
}

#[tokio::test]
async fn concurrent_loads_share_one_fetch() {
    let Some(c) = client().await else { return };
    let id = create_secret(&c, &secret_json("tokenSHARED")).await;
    let src = SecretsManagerSource::with_ttl(c, &id, Duration::from_secs(60));
    let all = futures::future::join_all((0..10).map(|_| src.load())).await;
    let first = all[0].as_ref().unwrap();
    for s in &all {
        assert!(std::sync::Arc::ptr_eq(first, s.as_ref().unwrap()));
    }
}

#[tokio::test]
async fn a_bad_field_in_the_secret_is_named_and_its_value_is_not_shown() {
    let Some(c) = client().await else { return };
    let mut v: serde_json::Value = serde_json::from_str(&secret_json("tokenOK")).unwrap();
    v["encoding_aes_key"] = "tooShortKeyValue".into();
    let id = create_secret(&c, &v.to_string()).await;
    let err = SecretsManagerSource::new(c.clone(), &id)
        .load()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(msg, "encoding_aes_key must be 43 characters of A-Z a-z 0-9");
    assert!(!msg.contains("tooShortKeyValue"));
    assert!(!format!("{err:?}").contains("tooShortKeyValue"));

    let id = create_secret(&c, "not json at all: tokenOK").await;
    let err = SecretsManagerSource::new(c.clone(), &id)
        .load()
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::NotJson));
    assert!(!err.to_string().contains("tokenOK"));
}

#[tokio::test]
async fn a_missing_secret_is_a_source_error_and_is_not_cached() {
    let Some(c) = client().await else { return };
    let id = helpers::unique_name("wxopen/missing");
    let src = SecretsManagerSource::new(c.clone(), &id);
    assert!(matches!(src.load().await, Err(SecretsError::Source(_))));
    c.create_secret()
        .name(&id)
        .secret_string(secret_json("tokenLATE"))
        .send()
        .await
        .unwrap();
    assert_eq!(src.load().await.unwrap().token.expose_secret(), "tokenLATE");
}
