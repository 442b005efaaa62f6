//! Headless Chromium for the browser tests: Debian's `chromium` driven through Debian's
//! `chromedriver` with fantoccini, screenshots under `target/screenshots/` (test artifacts).
//!
//! `./infra/test-all.sh` installs Chromium and ChromeDriver when missing. Run elsewhere without
//! them, [`driver`] says so on stderr and answers `None` (the test passes); with `CI=true` it
//! fails instead.

use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port, killed when dropped.
pub struct Driver {
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

/// chromedriver, started; `None` (after saying why) when Chromium or chromedriver is missing
/// outside CI.
pub async fn driver() -> Option<Driver> {
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

/// A headless Chromium session with its own profile directory and a window of `(width,
/// height)` CSS pixels.
pub async fn browser(driver: &Driver, profile: &std::path::Path, size: (u32, u32)) -> Client {
    // The flags keep Chromium off the network (this machine's network is closed) and headless.
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium(),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                format!("--window-size={},{}", size.0, size.1),
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    // fantoccini builds its rustls config from the process-wide provider; in the test build
    // rustls has two compiled in (ring for wxopen, aws-lc-rs for fantoccini's hyper-rustls), so
    // one must be installed first.
    wxopen::https::install_ring_provider();
    ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot of the window as `target/screenshots/{name}.png`; answers its path.
pub async fn shoot(c: &Client, name: &str) -> PathBuf {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

/// Resizes the window so that the page itself (the viewport) is `width` x `height` CSS pixels:
/// the window's own frame is measured and added.
pub async fn viewport(
    c: &Client,
    width: u32,
    height: u32,
) -> Result<(), fantoccini::error::CmdError> {
    c.set_window_size(width, height).await?;
    let inner = c
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await?;
    let got = |i: usize| inner[i].as_u64().unwrap_or(0) as u32;
    let (w, h) = (got(0), got(1));
    if (w, h) != (width, height) && w > 0 && h > 0 {
        c.set_window_size(
            width + width.saturating_sub(w),
            height + height.saturating_sub(h),
        )
        .await?;
    }
    Ok(())
}
