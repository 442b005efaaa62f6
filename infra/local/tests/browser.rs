//! A merchant's authorization in a real browser: headless Chromium (Debian's `chromium`), driven
//! through Debian's `chromedriver` with fantoccini, clicks from an invitation link through the
//! simulator's consent page to our success page. A screenshot of each page is saved under
//! `target/screenshots/` (a test artifact).
//!
//! `./infra/test-all.sh` installs Chromium and ChromeDriver when missing. Run elsewhere without
//! them, the test says so on stderr and passes; with `CI=true` it fails instead.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::spawn_app;
use wxopen::store::{AuthorizerStore, InvitationState, InvitationStore};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn driver() -> Option<Driver> {
    let chromedriver = std::env::var("WXOPEN_CHROMEDRIVER").unwrap_or(CHROMEDRIVER.into());
    if !std::path::Path::new(&chromedriver).exists() || !std::path::Path::new(&chromium()).exists()
    {
        let msg = format!("browser test needs {} and {chromedriver}", chromium());
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg} (./infra/test-all.sh installs them)");
        }
        eprintln!("SKIPPED: {msg}; ./infra/test-all.sh installs them");
        return None;
    }
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    // Owned at once, so every path below (a panic too) kills and reaps it.
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

fn chromium() -> String {
    std::env::var("WXOPEN_CHROMIUM").unwrap_or(CHROMIUM.into())
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    // The flags keep Chromium off the network (this machine's network is closed) and headless.
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium(),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=420,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

#[tokio::test]
async fn a_merchant_clicks_through_from_the_invitation_to_the_success_page() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let appid = app.mini_program("Browser Bakery");
    let inv = app.invite(json!({ "customer_id": "cust-browser" })).await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

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

    let a = app
        .local
        .store
        .get_authorizer(&appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.customer_id.as_deref(), Some("cust-browser"));
    assert_eq!(a.func_info, vec![17, 18]);
    let id = inv["invitation_id"].as_str().unwrap();
    let stored = app.local.store.get_invitation(id).await.unwrap().unwrap();
    assert_eq!(stored.state(i64::MAX / 4), InvitationState::Used);
    assert_eq!(stored.used_by.as_ref(), Some(&appid));
}
