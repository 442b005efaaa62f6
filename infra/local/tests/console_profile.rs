//! The console's profile panel on the app view, in a real browser against `wxopen-local` and the
//! simulator: a fresh mini program's name, signature and avatar set from the panel, then a
//! category added, until the panel says the app is complete for a first audit. Without Chromium
//! and ChromeDriver the test says so and passes (fails with `CI=true`), as the console's other
//! browser tests.

mod support;

use fantoccini::{Client, Locator};
use std::time::{Duration, Instant};
use support::browser::{browser, driver, shoot, viewport};
use support::{spawn_app, App, OPERATOR_KEY};
use wxopen::domain::AppId;

type R<T = ()> = Result<T, fantoccini::error::CmdError>;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_operator_edits_a_mini_programs_profile_from_the_app_view() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let appid = app.mini_program("x");
    app.local
        .sim
        .authorize(&appid, &[17, 18, 30])
        .await
        .unwrap();
    app.local.sim.blank_profile(&appid);
    let profile = tempfile::tempdir().unwrap();
    let avatar = profile.path().join("avatar.png");
    std::fs::write(&avatar, b"\x89PNG\r\n\x1a\n an avatar").unwrap();
    let c = browser(&driver, profile.path(), (1280, 900)).await;
    let result = story(&c, &app, &appid, &avatar).await;
    if result.is_err() {
        shoot(&c, "console-profile-failure").await;
    }
    let _ = c.close().await;
    result.expect("the profile story");
}

async fn text(c: &Client, css: &str) -> R<String> {
    let v = c
        .execute(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            vec![serde_json::json!(css)],
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

async fn wait_until<F, Fut>(c: &Client, what: &str, mut check: F) -> R
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = R<bool>>,
{
    let started = Instant::now();
    loop {
        if check().await? {
            return Ok(());
        }
        if started.elapsed() > WAIT {
            shoot(c, "console-profile-timeout").await;
            panic!("waited {WAIT:?} for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn story(c: &Client, app: &App, appid: &AppId, avatar: &std::path::Path) -> R {
    c.goto(&app.url("/console")).await?;
    viewport(c, 1280, 900).await?;
    let key = c.wait().for_element(Locator::Id("login-key")).await?;
    key.send_keys(OPERATOR_KEY).await?;
    c.find(Locator::Id("login-submit")).await?.click().await?;
    wait_until(c, "the authorizer list", || async {
        Ok(c.find(Locator::Css("#authorizer-table")).await.is_ok())
    })
    .await?;
    c.goto(&app.url(&format!("/console#/apps/{appid}"))).await?;
    c.wait().for_element(Locator::Id("profile-form")).await?;
    let missing = text(c, "#profile-missing").await?;
    assert!(
        missing.contains("名称")
            && missing.contains("avatar")
            && missing.contains("an approved category"),
        "{missing}"
    );

    c.find(Locator::Id("profile-name-input"))
        .await?
        .send_keys("模拟小店")
        .await?;
    c.find(Locator::Id("profile-signature-input"))
        .await?
        .send_keys("一家模拟的小店")
        .await?;
    c.find(Locator::Id("profile-avatar-input"))
        .await?
        .send_keys(avatar.to_str().unwrap())
        .await?;
    c.find(Locator::Id("profile-save")).await?.click().await?;
    wait_until(c, "the name saved", || async {
        Ok(text(c, "#profile-name").await? == "模拟小店")
    })
    .await?;
    assert_eq!(text(c, "#profile-signature").await?, "一家模拟的小店");
    assert!(c.find(Locator::Id("profile-avatar")).await.is_ok());
    let missing = text(c, "#profile-missing").await?;
    assert!(
        missing.contains("an approved category") && !missing.contains("name"),
        "{missing}"
    );
    assert_eq!(app.local.sim.calls("/wxa/setnickname"), 1);
    assert_eq!(app.local.sim.calls("/cgi-bin/account/modifyheadimage"), 1);

    c.find(Locator::Id("category-first"))
        .await?
        .send_keys("150")
        .await?;
    c.find(Locator::Id("category-second"))
        .await?
        .send_keys("666")
        .await?;
    c.find(Locator::Id("category-add")).await?.click().await?;
    wait_until(c, "the panel says complete", || async {
        Ok(c.find(Locator::Id("profile-complete")).await.is_ok())
    })
    .await?;
    let cats = text(c, "#profile-categories").await?;
    assert!(cats.contains("已通过"), "{cats}");
    shoot(c, "console-profile").await;
    Ok(())
}
