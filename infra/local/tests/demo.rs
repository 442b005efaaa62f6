//! `wxopen-local demo` with given secrets and every crate logging at debug: every step is checked
//! and printed, and no secret value (appsecret, operator key, Token, EncodingAESKey), token,
//! ticket or code appears anywhere in what it printed or logged.

mod support;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use support::Captured;
use wxopen::secrets::PlatformSecrets;
use wxopen::store::TokenKey;
use wxopen_local::demo::{run, DemoConfig};

fn random(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_checks_every_step_and_prints_and_logs_no_secret() {
    let captured = Captured::install("debug,wechat_sim=off");

    let operator_key = random(40);
    let secrets = PlatformSecrets::new(
        &format!("wx{}", random(16).to_lowercase()),
        &random(32),
        &random(24),
        &random(43),
        vec![hex::encode(Sha256::digest(operator_key.as_bytes()))],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = Vec::new();
    let report = run(
        DemoConfig {
            secrets: secrets.clone(),
            operator_key: SecretString::from(operator_key.clone()),
            data_dir: dir.path().to_owned(),
        },
        &mut |l| lines.push(l.to_owned()),
    )
    .await
    .unwrap_or_else(|e| panic!("the demo failed: {e:#}"));
    for n in 1..=10 {
        assert!(
            lines.iter().any(|l| l.contains(&format!("ok {n:>2}/10"))),
            "step {n} printed: {lines:#?}"
        );
    }
    assert!(lines.last().unwrap().starts_with("all 10 steps checked"));

    let store = &report.local.store;
    let component = store
        .get_token(&TokenKey::Component(secrets.component_appid.clone()))
        .await
        .unwrap()
        .unwrap()
        .state;
    let authorizer = store
        .get_token(&TokenKey::Authorizer(report.appid.clone()))
        .await
        .unwrap()
        .unwrap()
        .state;
    let mut values: Vec<String> = vec![
        operator_key,
        secrets.component_appsecret.expose_secret().to_owned(),
        secrets.token.expose_secret().to_owned(),
        secrets.encoding_aes_key.expose_secret().to_owned(),
        report.local.sim.current_ticket().unwrap(),
    ];
    for t in [&component, &authorizer] {
        values.extend(t.access_token.iter().map(|s| s.expose_secret().to_owned()));
        values.extend(t.refresh_token.iter().map(|s| s.expose_secret().to_owned()));
    }
    values.extend(report.handled.iter().map(|s| s.expose_secret().to_owned()));
    assert!(values.len() >= 10, "{} values", values.len());
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logged.len() > 1000, "the logs were captured");
    let printed = lines.join("\n");
    for v in &values {
        assert!(v.len() >= 8, "a value too short to search for");
        assert!(
            !printed.contains(v.as_str()),
            "the demo printed a secret value"
        );
        assert!(
            !logged.contains(v.as_str()),
            "the demo logged a secret value"
        );
    }
}
