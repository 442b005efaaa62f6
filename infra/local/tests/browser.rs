//! A merchant's authorization in a real browser: headless Chromium (Debian's `chromium`), driven
//! through Debian's `chromedriver` with fantoccini, clicks from an invitation link through the
//! simulator's consent page to our success page. A screenshot of each page is saved under
//! `target/screenshots/` (a test artifact).
//!
//! The browser itself is `support::browser` (shared with the console's test): run without
//! Chromium and ChromeDriver, the test says so on stderr and passes; with `CI=true` it fails.

mod support;

use fantoccini::Locator;
use serde_json::json;
use support::browser::{browser, driver, shoot};
use support::spawn_app;
use wxopen::store::InvitationState;

#[tokio::test]
async fn a_merchant_clicks_through_from_the_invitation_to_the_success_page() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let appid = app.mini_program("Browser Bakery");
    let inv = app.invite(json!({ "customer_id": "cust-browser" })).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path(), (420, 900)).await;

    let result = async {
        c.goto(inv["url"].as_str().unwrap()).await?;
        shoot(&c, "auth-01-start").await;
        let title = c.title().await?;
        assert!(title.contains("授权"), "{title}");
        assert_eq!(
            c.find(Locator::Css("script")).await.ok().map(|_| ()),
            None,
            "no script on our page"
        );
        c.find(Locator::Id("pc-link")).await?.click().await?;
        // The simulator's consent page: approve for our account.
        let form = c
            .wait()
            .for_element(Locator::Css(&format!("form[data-appid=\"{appid}\"]")))
            .await?;
        shoot(&c, "auth-02-consent").await;
        form.find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let result = c.wait().for_element(Locator::Id("result")).await?;
        shoot(&c, "auth-03-success").await;
        assert_eq!(result.text().await?, "授权成功");
        assert_eq!(
            c.find(Locator::Id("account-name")).await?.text().await?,
            "Browser Bakery"
        );
        assert!(c.current_url().await?.path().ends_with("/auth/callback"));
        // The same invitation, opened again, is an error page that says why.
        c.goto(inv["url"].as_str().unwrap()).await?;
        let code = c.wait().for_element(Locator::Id("error-code")).await?;
        assert_eq!(code.text().await?, "invitation_used");
        shoot(&c, "auth-04-used-invitation").await;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    result.expect("the browser story");

    let a = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(a.customer_id.as_deref(), Some("cust-browser"));
    assert_eq!(a.func_info, vec![17, 18]);
    let id = inv["invitation_id"].as_str().unwrap();
    let stored = app.local.store.get_invitation(id).await.unwrap().unwrap();
    assert_eq!(stored.state(i64::MAX / 4), InvitationState::Used);
    assert_eq!(stored.used_by.as_ref(), Some(&appid));
}
