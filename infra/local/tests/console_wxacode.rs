//! The console's mini program code card on the app view (`POST /ops/apps/{appid}/wxacode`), in
//! a real browser against `wxopen-local` and the simulator: the form shows each kind's fields,
//! makes the code and shows the image with a link to save it; WeChat's refusal is shown as the
//! API's error. Without Chromium and ChromeDriver the test says so and passes (fails with
//! `CI=true`), as the console's other browser tests.

mod support;

use fantoccini::{Client, Locator};
use std::time::{Duration, Instant};
use support::browser::{browser, driver, shoot, viewport};
use support::{spawn_app, App, OPERATOR_KEY};
use wxopen::domain::AppId;

type R<T = ()> = Result<T, fantoccini::error::CmdError>;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_operator_makes_a_mini_program_code_from_the_app_view() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let appid = app.authorized_app("Code Bakery").await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path(), (1280, 900)).await;
    let result = story(&c, &app, &appid).await;
    if result.is_err() {
        shoot(&c, "console-wxacode-failure").await;
    }
    let _ = c.close().await;
    result.expect("the wxacode story");
}

async fn story(c: &Client, app: &App, appid: &AppId) -> R {
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
    let form = c.wait().for_element(Locator::Id("wxacode-form")).await?;
    form.find(Locator::Id("wxacode-scene"))
        .await?
        .send_keys("order=42")
        .await?;
    // Nothing is released here: the page is not checked.
    c.find(Locator::Id("wxacode-check-path"))
        .await?
        .click()
        .await?;
    assert!(
        !visible(c, "#wxacode-path").await?,
        "the unlimited kind takes no path"
    );
    c.find(Locator::Id("wxacode-make")).await?.click().await?;
    wait_until(c, "the code's image", || async {
        let loaded = c
            .execute(
                "const i = document.getElementById('wxacode-image'); return !!i && i.complete && i.naturalWidth > 0;",
                vec![],
            )
            .await?;
        Ok(loaded.as_bool() == Some(true))
    })
    .await?;
    let href = c
        .find(Locator::Id("wxacode-download"))
        .await?
        .attr("href")
        .await?
        .unwrap_or_default();
    assert!(href.starts_with("blob:"), "{href}");
    assert_eq!(app.local.sim.calls("/wxa/getwxacodeunlimit"), 1);
    shoot(c, "console-wxacode").await;

    // The limited kind: a path instead of a scene; WeChat refuses a page that is not released.
    c.execute(
        "const k = document.getElementById('wxacode-kind'); k.value = 'limited'; k.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await?;
    assert!(visible(c, "#wxacode-path").await?);
    assert!(!visible(c, "#wxacode-scene").await?);
    c.find(Locator::Id("wxacode-path"))
        .await?
        .send_keys("pages/index/index?order=42")
        .await?;
    c.find(Locator::Id("wxacode-make")).await?.click().await?;
    wait_until(c, "WeChat's refusal", || async {
        Ok(
            match c.find(Locator::Css("#wxacode-out [data-error]")).await {
                Ok(el) => el.text().await.is_ok_and(|t| t.contains("41030")),
                Err(_) => false,
            },
        )
    })
    .await?;
    assert_eq!(app.local.sim.calls("/wxa/getwxacode"), 1);
    Ok(())
}

async fn visible(c: &Client, css: &str) -> R<bool> {
    let v = c
        .execute(
            "const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;",
            vec![serde_json::json!(css)],
        )
        .await?;
    Ok(v.as_bool() == Some(true))
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
            shoot(c, "console-wxacode-timeout").await;
            panic!("waited {WAIT:?} for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
