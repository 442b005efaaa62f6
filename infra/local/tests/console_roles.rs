//! The console with a viewer key, in a real browser: it shows the apps and no action button,
//! and says in their place which role each action needs. (The API refuses them anyway: this
//! spares the operator the attempt.)

mod support;

use fantoccini::{Client, Locator};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use support::browser::{browser, driver, shoot, viewport};
use support::{spawn_app_with, App};
use wxopen::domain::AppId;
use wxopen::operator_auth::{OperatorKey, Role};
use wxopen_local::dev_secrets;

type R<T = ()> = Result<T, fantoccini::error::CmdError>;

const VIEWER: &str = "viewer-key-for-the-console";

async fn wait_for(c: &Client, css: &str) -> R {
    let start = Instant::now();
    while c.find(Locator::Css(css)).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{css} never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn absent(c: &Client, css: &str) -> R<bool> {
    Ok(c.find_all(Locator::Css(css)).await?.is_empty())
}

async fn story(c: &Client, app: &App, appid: &AppId) -> R {
    c.goto(&app.url("/console")).await?;
    viewport(c, 1280, 800).await?;
    let key = c.wait().for_element(Locator::Id("login-key")).await?;
    key.send_keys(VIEWER).await?;
    c.find(Locator::Id("login-submit")).await?.click().await?;
    wait_for(c, &format!("#authorizer-table tr[data-appid=\"{appid}\"]")).await?;
    assert!(
        absent(c, "#batch-selected").await?,
        "a batch button for a viewer"
    );
    assert!(c.find(Locator::Id("role-batch-selected")).await.is_ok());
    let who = c.find(Locator::Id("who")).await?.text().await?;
    assert!(who.contains("desk") && who.contains("viewer"), "{who}");
    // The batches and invitations views are not offered.
    for nav in ["batches", "invitations"] {
        let a = c
            .find(Locator::Css(&format!("[data-nav=\"{nav}\"]")))
            .await?;
        assert!(!a.is_displayed().await?, "{nav} shown to a viewer");
    }
    c.goto(&app.url(&format!("/console#/apps/{appid}"))).await?;
    wait_for(c, "#role-release").await?;
    shoot(c, "console-viewer-app").await;
    for name in ["commit", "submit", "release", "undo", "speedup"] {
        assert!(
            absent(c, &format!("#btn-{name}")).await?,
            "#btn-{name} shown to a viewer"
        );
        let why = c
            .find(Locator::Id(&format!("role-{name}")))
            .await?
            .text()
            .await?;
        assert!(why.contains("Needs the operator role"), "{name}: {why}");
    }
    assert!(absent(c, "main button[type=submit]").await?);
    Ok(())
}

#[tokio::test]
async fn a_viewer_sees_the_apps_and_no_action_button() {
    let Some(driver) = driver().await else { return };
    let mut secrets = dev_secrets();
    secrets.operator_keys = vec![OperatorKey {
        label: "desk".into(),
        sha256: hex::encode(Sha256::digest(VIEWER.as_bytes())),
        role: Role::Viewer,
        customers: None,
    }];
    let app = spawn_app_with(|c| c.secrets = secrets).await;
    let appid = app.authorized_app("Viewer's view").await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path(), (1280, 800)).await;
    let result = story(&c, &app, &appid).await;
    if result.is_err() {
        shoot(&c, "console-viewer-failure").await;
    }
    let _ = c.close().await;
    result.expect("the viewer's console");
}
