//! The operator console (`GET /console`) in a real browser against `wxopen-local` and the
//! simulator: log in, find an authorized app, commit, submit, watch the status change when
//! WeChat approves, release, run batches over 20 apps to completion, add a draft to the
//! template library, invite a merchant, and a wrong key returns to the login form. A screenshot
//! of each view is saved under `target/screenshots/console-*.png`; with
//! `WXOPEN_UPDATE_README_SCREENSHOT=1` (or when it is missing) the authorizer list at laptop
//! size is also written to `docs/console.png`, the README's picture.
//!
//! Without Chromium and ChromeDriver the browser test says so and passes (fails with
//! `CI=true`); the page's own headers and contents are checked without a browser.

mod support;

use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::browser::{browser, driver, shoot, viewport};
use support::{spawn_app, App, OPERATOR_KEY};
use wechat_sim::AuditOutcome;
use wxopen::domain::AppId;

type R<T = ()> = Result<T, fantoccini::error::CmdError>;

/// How long the page may take to show what the test waits for.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_console_page_is_served_without_the_key_under_a_strict_policy_and_holds_no_secret() {
    let app = spawn_app().await;
    let mut bodies = String::new();
    for (path, ty) in [
        ("/console", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/style.css", "text/css"),
    ] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers();
        let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(header("content-type").starts_with(ty), "{path}: {h:?}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "img-src 'self' data: blob:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        bodies.push_str(&resp.text().await.unwrap());
    }
    assert!(!bodies.contains(OPERATOR_KEY), "no key in the page");
    for external in ["http://", "https://", "//cdn", "@import"] {
        assert!(!bodies.contains(external), "no external asset: {external}");
    }
    let page = app.get(&app.url("/console")).await.1;
    assert!(!page.contains("<script>"), "no inline script");
    assert!(!page.contains(" style="), "no inline style");
    // Only GET: anything else is the API's JSON 405; /ops still needs the key.
    let resp = app.http.post(app.url("/console")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
    let resp = app
        .http
        .get(app.url("/ops/authorizers"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn the_authorizer_list_gives_each_rows_latest_audit_and_last_release() {
    let app = spawn_app().await;
    let released = app.authorized_app("Released").await;
    let pending = app.authorized_app("Pending").await;
    let fresh = app.authorized_app("Fresh").await;
    let commit =
        json!({ "template_id": 1, "ext_json": {}, "user_version": "3.1.0", "user_desc": "d" });
    for a in [&released, &pending] {
        let (s, v) = app
            .call(
                Method::POST,
                &format!("/ops/apps/{a}/commit"),
                Some(commit.clone()),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = app
            .call(
                Method::POST,
                &format!("/ops/apps/{a}/audits"),
                Some(json!({})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    app.local
        .sim
        .decide_audit(&released, AuditOutcome::Success)
        .await
        .unwrap();
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/ops/apps/{released}/release"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let (s, list) = app.get_json("/ops/authorizers").await;
    assert_eq!(s, 200, "{list}");
    let row = |a: &AppId| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["appid"] == a.as_str())
            .cloned()
            .unwrap()
    };
    let r = row(&released);
    assert_eq!(r["latest_audit"]["status"], "approved", "{r}");
    assert_eq!(r["last_release"]["user_version"], "3.1.0", "{r}");
    assert!(r["last_release"]["released_at"].as_i64().is_some(), "{r}");
    let p = row(&pending);
    assert_eq!(p["latest_audit"]["status"], "auditing", "{p}");
    assert!(p["last_release"].is_null(), "{p}");
    let f = row(&fresh);
    assert!(
        f["latest_audit"].is_null() && f["last_release"].is_null(),
        "{f}"
    );
}

#[tokio::test]
async fn an_operator_ships_a_release_and_runs_batches_over_20_apps_from_the_console() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let sim = &app.local.sim;
    sim.add_draft(7, "7.0.0");
    // 20 authorized mini programs: one through the invitation pages, three for another
    // customer, sixteen through WeChat's `authorized` push (customer `unassigned`).
    let bakery = app.authorized_app("Console Bakery").await;
    let mut appids = vec![bakery.clone()];
    for i in 1..=3 {
        let a = app.mini_program(&format!("Tea House {i}"));
        let (s, page) = app.onboard("cust-tea", &a).await;
        assert_eq!(s, 200, "{page}");
        appids.push(a);
    }
    for i in 1..=16 {
        let a = app.mini_program(&format!("Noodle Shop {i:02}"));
        sim.authorize(&a, &[17, 18]).await.unwrap();
        appids.push(a);
    }
    let (s, list) = app
        .get_json("/ops/authorizers?status=authorized&limit=100")
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 20);

    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path(), (1280, 800)).await;
    let result = story(&c, &app, &bakery, &appids).await;
    if result.is_err() {
        shoot(&c, "console-failure").await;
    }
    let _ = c.close().await;
    result.expect("the console story");
}

async fn story(c: &Client, app: &App, bakery: &AppId, appids: &[AppId]) -> R {
    let sim = &app.local.sim;

    // Log in: the key goes into the form, then only into sessionStorage.
    c.goto(&app.url("/console")).await?;
    viewport(c, 1280, 800).await?;
    let key = c.wait().for_element(Locator::Id("login-key")).await?;
    shoot(c, "console-00-login").await;
    key.send_keys(OPERATOR_KEY).await?;
    c.find(Locator::Id("login-submit")).await?.click().await?;
    wait_text(c, "#authorizer-table", "Console Bakery").await?;
    wait_text(c, "#authorizer-table", "Noodle Shop 16").await?;
    assert!(!c.current_url().await?.as_str().contains(OPERATOR_KEY));
    shoot(c, "console-01-authorizers").await;

    // Filter by customer, then search every page for the bakery.
    fill(c, "#filter-customer", "cust-tea").await?;
    click(c, "#apply-filters").await?;
    wait_text(c, "#authorizer-table", "Tea House 3").await?;
    let rows = c
        .find_all(Locator::Css("#authorizer-table tbody tr[data-appid]"))
        .await?;
    assert_eq!(rows.len(), 3, "the customer filter");
    fill(c, "#filter-customer", "").await?;
    fill(c, "#search", "bakery").await?;
    click(c, "#apply-filters").await?;
    wait_text(c, "#search-note", "1 match").await?;
    click(c, &format!("tr[data-appid=\"{bakery}\"] a.app-link")).await?;
    wait_text(c, "#main h1", "Console Bakery").await?;
    wait_text(c, "#func-info", "18").await?;
    wait_text(c, "#why-release", "no audited version yet").await?;

    // Commit, then submit: the rule then shows on the buttons before WeChat is asked.
    wait_for(c, "#commit-template option[value=\"1\"]").await?;
    fill(c, "#commit-version", "1.0.0").await?;
    fill(c, "#commit-desc", "spring menu").await?;
    click(c, "#btn-commit").await?;
    wait_text(c, "#action-result", "commit: done").await?;
    wait_text(c, "#experience-version", "1.0.0").await?;
    assert_eq!(sim.calls("/wxa/commit"), 1);
    wait_enabled(c, "#btn-submit").await?;
    fill(c, "#submit-desc", "first release").await?;
    click(c, "#btn-submit").await?;
    wait_text(c, "#latest-audit", "auditing").await?;
    wait_text(c, "#lifecycle-stage", "submitted").await?;
    let auditid = sim
        .account(bakery)
        .unwrap()
        .code
        .audits
        .last()
        .unwrap()
        .auditid;
    wait_text(c, "#why-submit", &format!("audit {auditid} pending")).await?;
    assert!(
        disabled(c, "#btn-submit").await?,
        "no new audit while one is pending"
    );
    wait_text(c, "#why-release", "release only an approved version").await?;
    assert!(disabled(c, "#btn-release").await?);
    wait_text(c, "#audit-table", &auditid.to_string()).await?;
    // The trial QR code, fetched with the key and shown through a blob: URL.
    click(c, "#show-qr").await?;
    wait_until(c, "the QR code image", move || async move {
        let v = c
            .execute(
                "const i = document.getElementById('qrcode'); return i && i.complete && i.src.startsWith('blob:') ? i.naturalWidth : 0;",
                vec![],
            )
            .await?;
        Ok(v.as_u64().unwrap_or(0) > 0)
    })
    .await?;
    wait_text(c, "#testers-card", "Testers").await?;
    scroll_to(c, "app-actions").await?;
    shoot(c, "console-02-app-audit-pending").await;

    // WeChat approves: its push lands and the page, polling, shows it.
    sim.decide_audit(bakery, AuditOutcome::Success)
        .await
        .unwrap();
    wait_text(c, "#latest-audit", "approved").await?;
    wait_text(c, "#lifecycle-stage", "approved, not released").await?;
    wait_enabled(c, "#btn-release").await?;
    click(c, "#btn-release").await?;
    wait_text(c, "#action-result", "release: done").await?;
    wait_text(c, "#latest-audit", "released").await?;
    wait_text(c, "#online-version", "1.0.0").await?;
    wait_text(c, "#lifecycle-stage", "已发布").await?;
    wait_text(c, "#why-release", "already released").await?;
    assert_eq!(sim.calls("/wxa/release"), 1);
    scroll_to(c, "main").await?;
    shoot(c, "console-03-app-released").await;

    // A batch over the 20: select the page, commit 2.0.0 to every one of them.
    c.goto(&app.url("/console#/authorizers")).await?;
    fill(c, "#search", "").await?;
    click(c, "#apply-filters").await?;
    wait_text(c, "#authorizer-table", "Noodle Shop 16").await?;
    click(c, "#select-page").await?;
    wait_text(c, "#selected-count", "20 selected").await?;
    click(c, "#batch-selected").await?;
    wait_for(c, "#batch-template option[value=\"1\"]").await?;
    assert!(
        c.find(Locator::Id("targets-selected"))
            .await?
            .is_selected()
            .await?
    );
    c.find(Locator::Id("batch-action"))
        .await?
        .select_by_value("commit")
        .await?;
    fill(c, "#batch-version", "2.0.0").await?;
    fill(c, "#batch-desc", "summer menu").await?;
    click(c, "#start-batch").await?;
    wait_batch_done(c).await?;
    wait_text(c, "#batch-counts [data-count=ok]", ": 20").await?;
    shoot(c, "console-04-batch-commit").await;

    // Submit the 20 for audit: the quota is shown and held before the batch starts.
    c.goto(&app.url("/console#/batches")).await?;
    c.wait()
        .for_element(Locator::Id("batch-action"))
        .await?
        .select_by_value("submit_audit")
        .await?;
    wait_text(c, "#batch-quota", "left").await?;
    click(c, "#start-batch").await?;
    wait_batch_done(c).await?;
    wait_text(c, "#batch-counts [data-count=ok]", ": 20").await?;

    // WeChat approves ten and rejects one (with a reason and a screenshot); a release over all
    // authorized apps releases the ten and skips the other ten, saying why.
    for a in &appids[..10] {
        sim.decide_audit(a, AuditOutcome::Success).await.unwrap();
    }
    sim.decide_audit(
        &appids[10],
        AuditOutcome::Fail {
            reason: "小程序首页内容不完整 (the home page is incomplete)".into(),
            screenshots: vec!["media-screenshot-1".into()],
        },
    )
    .await
    .unwrap();
    sim.reset_calls();
    c.goto(&app.url("/console#/batches")).await?;
    c.wait()
        .for_element(Locator::Id("batch-action"))
        .await?
        .select_by_value("release")
        .await?;
    click(c, "#targets-all").await?;
    click(c, "#start-batch").await?;
    wait_batch_done(c).await?;
    wait_text(c, "#batch-counts [data-count=ok]", ": 10").await?;
    wait_text(c, "#batch-counts [data-count=skipped]", ": 10").await?;
    wait_text(
        c,
        "#batch-item-table tr[data-state=skipped]",
        "not_approved",
    )
    .await?;
    assert_eq!(sim.calls("/wxa/release"), 10);
    shoot(c, "console-05-batch-release").await;

    // The list at a glance: audit status and online version per row.
    c.goto(&app.url("/console#/authorizers")).await?;
    wait_text(
        c,
        &format!("tr[data-appid=\"{}\"] .audit-cell", appids[10]),
        "rejected",
    )
    .await?;
    wait_text(
        c,
        &format!("tr[data-appid=\"{}\"] .online-cell", appids[1]),
        "2.0.0",
    )
    .await?;
    let laptop = shoot(c, "console-06-authorizers-after-batches").await;
    readme_picture(&laptop);
    // The rejected app: reason and screenshot in its history.
    c.goto(&app.url(&format!("/console#/apps/{}", appids[10])))
        .await?;
    wait_text(c, "#audit-table", "home page is incomplete").await?;
    wait_text(c, "#audit-table", "media-screenshot-1").await?;
    scroll_to(c, "audit-history").await?;
    shoot(c, "console-07-app-rejected").await;

    // Templates: a draft added to the library.
    c.goto(&app.url("/console#/templates")).await?;
    wait_text(c, "#draft-table", "7.0.0").await?;
    click(c, "#add-draft-7").await?;
    wait_text(c, "#template-result", "added to the library").await?;
    shoot(c, "console-08-templates").await;

    // Invitations: one for a customer, its link ready to copy.
    c.goto(&app.url("/console#/invitations")).await?;
    fill(c, "#invite-customer", "cust-new").await?;
    click(c, "#create-invitation").await?;
    let link = c.wait().for_element(Locator::Id("invite-link")).await?;
    let url = link.prop("value").await?.unwrap_or_default();
    assert!(url.contains("/auth/start?invite="), "{url}");
    click(c, "#copy-link").await?;
    // Copied to the clipboard, or (headless, no clipboard permission) selected for Ctrl+C.
    wait_until(c, "#copied to say what happened", move || async move {
        let t = c.find(Locator::Id("copied")).await?.text().await?;
        Ok(!t.is_empty())
    })
    .await?;
    wait_text(c, "#invitation-table", "cust-new").await?;
    shoot(c, "console-09-invitations").await;

    // A merchant who did not grant set 18: the warning on its page.
    let no_dev = app.mini_program("No Dev Rights");
    sim.authorize(&no_dev, &[17]).await.unwrap();
    c.goto(&app.url(&format!("/console#/apps/{no_dev}")))
        .await?;
    wait_text(c, "#warn-set-18", "set 18").await?;
    wait_text(c, "#why-commit", "permission set 18").await?;
    assert!(disabled(c, "#btn-commit").await?);
    // WeChat's refusal (61007) where the page asked anyway: Chinese, then the API's English
    // message and hint.
    wait_text(c, "#testers-card [data-error]", "61007").await?;
    wait_text(c, "#testers-card .hint", "提示：").await?;
    wait_text(c, "#testers-card .hint", "Hint: ").await?;
    shoot(c, "console-10-app-without-set-18").await;

    // 21 authorized now: 20 a page, the second page through the API's cursor.
    c.goto(&app.url("/console#/authorizers")).await?;
    c.wait()
        .for_element(Locator::Id("page-size"))
        .await?
        .select_by_value("20")
        .await?;
    click(c, "#apply-filters").await?;
    wait_text(c, "#main .pager", "page 1").await?;
    wait_enabled(c, "#next-page").await?;
    click(c, "#next-page").await?;
    wait_text(c, "#main .pager", "page 2").await?;
    let rows = c
        .find_all(Locator::Css("#authorizer-table tbody tr[data-appid]"))
        .await?;
    assert_eq!(rows.len(), 1, "the 21st on page 2");
    assert!(disabled(c, "#next-page").await?);
    click(c, "#prev-page").await?;
    wait_text(c, "#main .pager", "page 1").await?;

    // A phone.
    viewport(c, 390, 844).await?;
    c.goto(&app.url("/console#/authorizers")).await?;
    wait_text(c, "#authorizer-table", "Console Bakery").await?;
    shoot(c, "console-11-phone-authorizers").await;
    c.goto(&app.url(&format!("/console#/apps/{bakery}")))
        .await?;
    wait_text(c, "#online-version", "2.0.0").await?;
    shoot(c, "console-12-phone-app").await;
    viewport(c, 1280, 800).await?;

    // Keyboard: the login form is reached and sent with keys alone after logging out.
    click(c, "#logout").await?;
    wait_visible(c, "#login").await?;
    let stored = c.execute("return sessionStorage.length", vec![]).await?;
    assert_eq!(stored, json!(0), "logging out forgets the key");
    // A wrong key: the first request answers 401 and the login form comes back, saying so.
    let key = c.find(Locator::Id("login-key")).await?;
    key.send_keys("not-the-operator-key\u{E007}").await?; // Enter
    wait_visible(c, "#login-error").await?;
    wait_text(c, "#login-error", "refused").await?;
    let stored = c.execute("return sessionStorage.length", vec![]).await?;
    assert_eq!(stored, json!(0), "a refused key is not kept");
    assert!(!c
        .current_url()
        .await?
        .as_str()
        .contains("not-the-operator-key"));
    shoot(c, "console-13-wrong-key").await;
    Ok(())
}

/// The README's picture: written when asked or missing (a tracked file is not rewritten by
/// every run).
fn readme_picture(shot: &std::path::Path) {
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/console.png");
    if std::env::var("WXOPEN_UPDATE_README_SCREENSHOT").is_ok_and(|v| v == "1") || !docs.exists() {
        std::fs::copy(shot, &docs).unwrap();
    }
}

async fn wait_until<F, Fut>(c: &Client, what: &str, mut f: F) -> R
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = R<bool>>,
{
    let start = Instant::now();
    loop {
        if f().await? {
            return Ok(());
        }
        if start.elapsed() > WAIT {
            let text = c
                .find(Locator::Css("main"))
                .await?
                .text()
                .await
                .unwrap_or_default();
            panic!("waited {WAIT:?} for {what}; the page shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the element matching `css` exists and its text contains `needle`.
async fn wait_text(c: &Client, css: &str, needle: &str) -> R {
    let what = format!("{css} to show {needle:?}");
    wait_until(c, &what, move || async move {
        Ok(match c.find(Locator::Css(css)).await {
            Ok(el) => el.text().await.is_ok_and(|t| t.contains(needle)),
            Err(_) => false,
        })
    })
    .await
}

async fn wait_for(c: &Client, css: &str) -> R {
    wait_until(c, css, move || async move {
        Ok(c.find(Locator::Css(css)).await.is_ok())
    })
    .await
}

async fn wait_visible(c: &Client, css: &str) -> R {
    wait_until(c, &format!("{css} to be visible"), move || async move {
        Ok(match c.find(Locator::Css(css)).await {
            Ok(el) => el.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        })
    })
    .await
}

async fn wait_enabled(c: &Client, css: &str) -> R {
    wait_until(c, &format!("{css} to be enabled"), move || async move {
        Ok(match c.find(Locator::Css(css)).await {
            Ok(el) => el.is_enabled().await.unwrap_or(false),
            Err(_) => false,
        })
    })
    .await
}

async fn disabled(c: &Client, css: &str) -> R<bool> {
    Ok(!c.find(Locator::Css(css)).await?.is_enabled().await?)
}

async fn wait_batch_done(c: &Client) -> R {
    wait_text(c, "#batch-status", "done").await?;
    wait_for(c, "#batch-progress").await
}

/// Scrolls the element with `id` to the top of the window (for a screenshot of that part).
async fn scroll_to(c: &Client, id: &str) -> R {
    c.execute(
        "document.getElementById(arguments[0]).scrollIntoView({ block: 'start' });",
        vec![json!(id)],
    )
    .await?;
    Ok(())
}

async fn click(c: &Client, css: &str) -> R {
    c.find(Locator::Css(css)).await?.click().await
}

async fn fill(c: &Client, css: &str, text: &str) -> R {
    let el = c.wait().for_element(Locator::Css(css)).await?;
    el.clear().await?;
    if !text.is_empty() {
        el.send_keys(text).await?;
    }
    Ok(())
}
