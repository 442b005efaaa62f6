//! `wxopen wxacode` and the fleet subscribe batch from the CLI, against wxopen-local and the
//! simulator: the image saved where `-o` says, WeChat's refusal as JSON with its exit code, and
//! `batch --operation add_subscribe_template` adding the template once to each app.

mod support;

use wxopen::domain::AppId;
use wxopen_local::testing::{spawn_app, App, OPERATOR_KEY as KEY};

async fn wxopen(app: &App, args: &[&str]) -> std::process::Output {
    support::wxopen(Some(&app.local.base_url), Some(KEY), args).await
}

async fn authorized(app: &App, name: &str) -> AppId {
    let appid = app.mini_program(name);
    app.local.sim.authorize(&appid, &[17, 18]).await.unwrap();
    appid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wxacode_saves_the_image_and_a_refusal_exits_with_its_code() {
    let app = spawn_app().await;
    let appid = authorized(&app, "Code shop").await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let out_s = out.to_str().unwrap();
    let run = wxopen(
        &app,
        &[
            "wxacode",
            appid.as_str(),
            "--scene",
            "order=42",
            "--page",
            "pages/index/index",
            "--no-check-path",
            "-o",
            out_s,
        ],
    )
    .await;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let png = std::fs::read(&out).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG was saved");
    assert!(String::from_utf8_lossy(&run.stdout).contains("saved"));
    assert_eq!(app.local.sim.calls("/wxa/getwxacodeunlimit"), 1);

    // Nothing is released: WeChat's 41030 (a 400), exit 1, nothing written.
    let refused = dir.path().join("refused.png");
    let run = wxopen(
        &app,
        &[
            "wxacode",
            appid.as_str(),
            "--kind",
            "limited",
            "--path",
            "pages/index/index?x=1",
            "-o",
            refused.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(said.contains("41030"), "{said}");
    assert!(!refused.exists());
    // A kind without what it needs is refused before the API is asked.
    let run = wxopen(
        &app,
        &["wxacode", appid.as_str(), "--kind", "qrcode", "-o", out_s],
    )
    .await;
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(app.local.sim.calls("/cgi-bin/wxaapp/createwxaqrcode"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_subscribe_batch_runs_from_the_cli() {
    let app = spawn_app().await;
    let mut appids = Vec::new();
    for i in 0..3 {
        appids.push(authorized(&app, &format!("Fleet {i}")).await);
    }
    let args = [
        "batch",
        "--operation",
        "add_subscribe_template",
        "--all",
        "--name",
        "order_shipped",
        "--tid",
        "1001",
        "--kid-list",
        "1,2,3",
        "--poll-ms",
        "100",
        "--json",
    ];
    let run = wxopen(&app, &args).await;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["counts"]["ok"], 3, "{v}");
    for a in &appids {
        assert_eq!(app.local.sim.subscribe_templates(a).len(), 1);
    }
    // Again: every app skipped, nothing added.
    let run = wxopen(&app, &args).await;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["counts"]["skipped"], 3, "{v}");
    assert_eq!(app.local.sim.calls("/wxaapi/newtmpl/addtemplate"), 3);
    // Template flags without the operation are refused.
    let run = wxopen(
        &app,
        &["batch", "--operation", "release", "--all", "--name", "x"],
    )
    .await;
    assert_eq!(run.status.code(), Some(1));
}
