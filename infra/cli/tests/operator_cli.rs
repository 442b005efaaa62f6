//! The `wxopen` operator commands against wxopen-local (the very routers the Lambdas run, the
//! embedded store, the WeChat simulator), run as an operator runs them: the binary, with
//! `WXOPEN_API_URL` and `WXOPEN_OPERATOR_KEY`.

mod support;

use serde_json::Value;
use wechat_sim::AuditOutcome;
use wxopen::domain::AppId;
use wxopen_local::testing::{spawn_app, App, OPERATOR_KEY as KEY};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs `wxopen args...` with the API URL and `key` in the environment (the progress bar has
/// no terminal here, so it stays hidden). No output ever shows a key.
async fn wxopen_with(url: Option<&str>, key: Option<&str>, args: &[&str]) -> Run {
    let out = support::wxopen(url, key, args).await;
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    for k in [KEY, "wrong-key-0123456789"] {
        assert!(
            !run.stdout.contains(k) && !run.stderr.contains(k),
            "the CLI printed an operator key"
        );
    }
    run
}

async fn wxopen(app: &App, args: &[&str]) -> Run {
    wxopen_with(Some(&app.local.base_url), Some(KEY), args).await
}

/// A simulated mini program named `name`, authorized (sets 17 and 18) through WeChat's
/// `authorized` push.
async fn authorized(app: &App, name: &str) -> AppId {
    let appid = app.mini_program(name);
    app.local.sim.authorize(&appid, &[17, 18]).await.unwrap();
    appid
}

/// The lines of a table that name `appid`.
fn row<'a>(out: &'a str, appid: &AppId) -> &'a str {
    out.lines()
        .find(|l| l.contains(appid.as_str()))
        .unwrap_or_else(|| panic!("no row for {appid} in\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_show_commit_submit_release_one_app_through_the_cli() {
    let app = spawn_app().await;
    let bakery = authorized(&app, "模拟面包店").await;
    let shop = authorized(&app, "Corner Shop").await;

    // The authorizers, as a table with the Chinese name lined up, and as JSON.
    let run = wxopen(&app, &["authorizers", "list"]).await;
    let out = run.ok();
    assert!(row(out, &bakery).contains("模拟面包店"), "{out}");
    assert!(row(out, &shop).contains("authorized"), "{out}");
    assert!(row(out, &shop).contains("17,18"), "{out}");
    assert!(out.contains("2 authorizer(s)"), "{out}");
    let table: Vec<&str> = out.lines().filter(|l| l.starts_with('│')).collect();
    let width = |l: &str| -> usize {
        l.chars()
            .map(|c| {
                if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                    2
                } else {
                    1
                }
            })
            .sum()
    };
    assert!(
        table.windows(2).all(|w| width(w[0]) == width(w[1])),
        "columns line up with CJK names:\n{out}"
    );
    let v = wxopen(&app, &["authorizers", "list", "--json"])
        .await
        .json();
    assert_eq!(v["items"].as_array().unwrap().len(), 2, "{v}");
    let none = wxopen(
        &app,
        &["authorizers", "list", "--status", "needs_reauthorization"],
    )
    .await;
    assert!(none.ok().contains("no authorizer matches"));
    let filtered = wxopen(
        &app,
        &["authorizers", "list", "--customer", "nobody", "--json"],
    )
    .await
    .json();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 0);

    // An invitation: the link on the last line, ready to send.
    let run = wxopen(&app, &["invite", "--customer", "acme"]).await;
    let link = run.ok().lines().last().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{}/auth/start?invite=", app.local.base_url)),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("customer acme"));

    // One app's whole lifecycle.
    let show = wxopen(&app, &["app", "show", bakery.as_str()]).await;
    assert!(show.ok().contains("模拟面包店"), "{}", show.stdout);
    let dir = tempfile::tempdir().unwrap();
    let ext = dir.path().join("ext.json");
    std::fs::write(
        &ext,
        format!(r#"{{"extEnable": true, "extAppid": "{bakery}", "ext": {{"shop": "bakery"}}}}"#),
    )
    .unwrap();
    let commit = wxopen(
        &app,
        &[
            "commit",
            bakery.as_str(),
            "--template-id",
            "1",
            "--user-version",
            "1.0.0",
            "--ext-json",
            ext.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        commit
            .ok()
            .contains("committed template 1 as version 1.0.0"),
        "{}",
        commit.stdout
    );
    assert_eq!(app.local.sim.calls("/wxa/commit"), 1);
    let submit = wxopen(
        &app,
        &["submit", bakery.as_str(), "--version-desc", "first version"],
    )
    .await;
    assert!(submit.ok().contains("auditid"), "{}", submit.stdout);
    assert_eq!(app.local.sim.calls("/wxa/submit_audit"), 1);

    // The rules answer plainly, with a non-zero exit, and WeChat is not asked.
    let again = wxopen(&app, &["submit", bakery.as_str()]).await;
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    assert!(
        again.stderr.contains("409 audit_pending"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("auditid:"), "{}", again.stderr);
    assert_eq!(app.local.sim.calls("/wxa/submit_audit"), 1);
    let early = wxopen(&app, &["release", bakery.as_str(), "--json"]).await;
    assert_eq!(early.code, Some(1));
    let body: Value = serde_json::from_str(&early.stdout).unwrap();
    assert_eq!(body["error"], "not_approved", "{body}");
    assert!(
        early.stderr.contains("409 not_approved"),
        "{}",
        early.stderr
    );

    // WeChat approves (its push reaches the store); the release goes through.
    app.local
        .sim
        .decide_audit(&bakery, AuditOutcome::Success)
        .await
        .unwrap();
    let release = wxopen(&app, &["release", bakery.as_str()]).await;
    assert!(release.ok().contains("version 1.0.0"), "{}", release.stdout);
    assert_eq!(app.local.sim.calls("/wxa/release"), 1);
    let show = wxopen(&app, &["app", "show", bakery.as_str()]).await;
    let out = show.ok();
    assert!(out.contains("online version"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("stage") && l.contains("released, version 1.0.0")),
        "{out}"
    );
    assert!(out.contains("approved"), "{out}");
    assert!(out.contains("1.0.0"), "{out}");

    // A wrong appid is refused before any request.
    let bad = wxopen(&app, &["app", "show", "not-an-appid"]).await;
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("is not an appid"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_runs_to_completion_and_prints_each_apps_outcome() {
    let app = spawn_app().await;
    let mut apps = Vec::new();
    for i in 0..3 {
        apps.push(authorized(&app, &format!("模拟商户 {i}")).await);
    }

    // Commit to every authorized app.
    let run = wxopen(
        &app,
        &[
            "batch",
            "--operation",
            "commit",
            "--all",
            "--template-id",
            "1",
            "--user-version",
            "2.0.0",
            "--poll-ms",
            "100",
        ],
    )
    .await;
    let out = run.ok();
    for a in &apps {
        assert!(row(out, a).contains("ok"), "{out}");
        assert!(row(out, a).contains("committed version 2.0.0"), "{out}");
    }
    assert!(
        out.contains("done: 3 ok, 0 skipped, 0 failed of 3"),
        "{out}"
    );
    assert!(run.stderr.contains("accepted"), "{}", run.stderr);
    assert_eq!(app.local.sim.calls("/wxa/commit"), 3);

    // Submit two of them, with a chosen Idempotency-Key; the same command again follows the
    // same batch and submits nothing twice.
    let list = format!("{},{}", apps[0], apps[1]);
    let args = [
        "batch",
        "--operation",
        "submit_audit",
        "--appids",
        list.as_str(),
        "--version-desc",
        "batch",
        "--idempotency-key",
        "cli-test-submit-1",
        "--poll-ms",
        "100",
    ];
    let run = wxopen(&app, &args).await;
    let out = run.ok().to_owned();
    assert!(
        out.contains("done: 2 ok, 0 skipped, 0 failed of 2"),
        "{out}"
    );
    assert!(row(&out, &apps[0]).contains("auditid"), "{out}");
    assert_eq!(app.local.sim.calls("/wxa/submit_audit"), 2);
    let again = wxopen(&app, &args).await;
    assert!(
        again.stderr.contains("already posted with this key"),
        "{}",
        again.stderr
    );
    assert!(again.ok().contains("done: 2 ok"), "{}", again.stdout);
    assert_eq!(app.local.sim.calls("/wxa/submit_audit"), 2);

    // Release over all: nothing is approved, so the rule skips every app (exit 0: nothing
    // failed), naming the rule.
    let run = wxopen(
        &app,
        &[
            "batch",
            "--operation",
            "release",
            "--all",
            "--poll-ms",
            "100",
        ],
    )
    .await;
    let out = run.ok();
    assert!(
        out.contains("done: 0 ok, 3 skipped, 0 failed of 3"),
        "{out}"
    );
    assert!(row(out, &apps[2]).contains("not_approved"), "{out}");
    assert_eq!(app.local.sim.calls("/wxa/release"), 0);

    // --json prints the finished batch for scripts; --no-wait only its id.
    let v = wxopen(
        &app,
        &[
            "batch",
            "--operation",
            "release",
            "--appids",
            apps[0].as_str(),
            "--json",
            "--poll-ms",
            "100",
        ],
    )
    .await
    .json();
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["counts"]["skipped"], 1, "{v}");
    let id = wxopen(
        &app,
        &[
            "batch",
            "--operation",
            "release",
            "--appids",
            apps[1].as_str(),
            "--no-wait",
        ],
    )
    .await;
    assert_eq!(id.ok().trim().len(), 36, "a batch id: {}", id.stdout);

    // A batch the API refuses: the error, plainly, and no batch.
    let bad = wxopen(
        &app,
        &[
            "batch",
            "--operation",
            "commit",
            "--all",
            "--user-version",
            "x",
        ],
    )
    .await;
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("--template-id"), "{}", bad.stderr);
    let mixed = wxopen(
        &app,
        &[
            "batch",
            "--operation",
            "release",
            "--all",
            "--version-desc",
            "x",
        ],
    )
    .await;
    assert_eq!(mixed.code, Some(1));
    assert!(
        mixed.stderr.contains("are for --operation submit_audit"),
        "{}",
        mixed.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_or_no_configuration_is_a_clear_error_and_a_non_zero_exit() {
    let app = spawn_app().await;
    let run = wxopen_with(
        Some(&app.local.base_url),
        Some("wrong-key-0123456789"),
        &["authorizers", "list"],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("401 unauthorized"), "{}", run.stderr);
    assert!(run.stderr.contains("WXOPEN_OPERATOR_KEY"), "{}", run.stderr);
    // --json: the API's error body on stdout for a script, still a non-zero exit.
    let run = wxopen_with(
        Some(&app.local.base_url),
        Some("wrong-key-0123456789"),
        &["app", "show", "wx0000000000000001", "--json"],
    )
    .await;
    assert_eq!(run.code, Some(1));
    let body: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(body["error"], "unauthorized");

    let run = wxopen_with(None, Some(KEY), &["authorizers", "list"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("WXOPEN_API_URL"), "{}", run.stderr);
    let run = wxopen_with(Some(&app.local.base_url), None, &["authorizers", "list"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("WXOPEN_OPERATOR_KEY"), "{}", run.stderr);
    // Nothing listens: said so, with the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = wxopen_with(Some(&url), Some(KEY), &["authorizers", "list"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    assert!(run.stderr.contains(&url), "{}", run.stderr);
}

/// Issue 27's quota tools and violations through the CLI: a reset spends one of the month's 10
/// and says so, one API's count and the resets read back, a refusal's rid looked up, and an
/// app's violations (WeChat refuses them without permission set 76: exit 1 with its errcode).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_rid_and_violations_through_the_cli() {
    let app = spawn_app().await;
    let appid = authorized(&app, "Quota").await;
    let a = appid.as_str();
    app.local.sim.set_daily_quota("/wxa/get_category", 1);
    let categories = format!("/ops/apps/{a}/categories");
    assert_eq!(app.get_json(&categories).await.0, 200);
    let (s, v) = app.get_json(&categories).await;
    assert_eq!(s, 429, "{v}");
    let rid = v["errmsg"]
        .as_str()
        .unwrap()
        .rsplit_once(" rid: ")
        .unwrap()
        .1
        .trim()
        .to_owned();

    let out = wxopen(&app, &["quota", "clear", a]).await;
    assert!(
        out.ok().contains("1 of 10 resets used this month"),
        "{}",
        out.stdout
    );
    assert_eq!(app.get_json(&categories).await.0, 200, "cleared");
    let v = wxopen(
        &app,
        &[
            "--json",
            "quota",
            "get",
            a,
            "--cgi-path",
            "/wxa/get_category",
        ],
    )
    .await
    .json();
    assert_eq!(
        (v["quota"]["used"].as_u64(), v["resets"]["spent"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let out = wxopen(&app, &["quota", "clear"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--platform"), "{}", out.stderr);

    let out = wxopen(&app, &["rid", &rid, "--appid", a]).await;
    assert!(out.ok().contains("45009"), "{}", out.stdout);

    let out = wxopen(&app, &["violations", a]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("61007"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_sets_the_rules_tests_a_channel_and_lists_and_retries_failures() {
    let app = spawn_app().await;
    // A robot nobody answers for: the test send fails, and so does every delivery.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let robot = format!(
        "http://{}/cgi-bin/webhook/send?key=cli-robot-key-secret",
        closed.local_addr().unwrap()
    );
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        serde_json::json!({
            "channels": [{ "name": "ops-group", "kind": "wecom", "url": robot }],
            "routes": [{ "channel": "ops-group", "events": ["unauthorized"] }],
        })
        .to_string(),
    )
    .unwrap();
    let set = wxopen(&app, &["notify", "rules", "--set", rules.to_str().unwrap()]).await;
    let shown = set.ok();
    assert!(
        shown.contains("ops-group") && shown.contains("unauthorized"),
        "{shown}"
    );
    assert!(!shown.contains("cli-robot-key-secret"), "{shown}");
    let json = wxopen(&app, &["notify", "rules", "--json"]).await.json();
    assert_eq!(json["channels"][0]["kind"], "wecom");

    let test = wxopen(&app, &["notify", "test", "ops-group"]).await;
    assert_eq!(test.code, Some(4), "{}", test.stdout);
    assert!(test.stdout.contains("NOT delivered"), "{}", test.stdout);

    // A notification whose retry window has closed: failed, listed, retried (still failing).
    let store = app.local.store.as_ref();
    let id = "unauthorized:wx00000000000000c1:1";
    let event = wxopen::notifications::Event::Unauthorized {
        appid: AppId::parse("wx00000000000000c1").unwrap(),
    };
    wxopen::notifications::emit(store, event, id, 1_000)
        .await
        .unwrap();
    let report = app
        .local
        .notifier
        .drain(store, 1_000 + 86_400)
        .await
        .unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
    let failed = wxopen(&app, &["notify", "failed"]).await;
    assert!(failed.ok().contains(id), "{}", failed.stdout);
    assert!(
        failed.stdout.contains("could not be reached"),
        "{}",
        failed.stdout
    );
    let retry = wxopen(&app, &["notify", "retry", id, "--json"]).await;
    assert_eq!(retry.code, Some(4), "{}", retry.stderr);
    let after: Value = serde_json::from_str(&retry.stdout).unwrap();
    assert_eq!(
        after["status"], "pending",
        "retried for another 24 hours: {after}"
    );
    let missing = wxopen(&app, &["notify", "retry", "nope"]).await;
    assert_eq!(missing.code, Some(1));
}
