//! `wxopen register enterprise|beta|list|show|verify` against wxopen-local and the simulator's
//! registration tasks, run as an operator runs them.

mod support;

use support::wxopen_as_operator as wxopen;

use wechat_sim::{RegistrationDecision, RegistrationKind};
use wxopen_local::testing::{spawn_app, App};

fn task(app: &App, kind: RegistrationKind) -> String {
    app.local
        .sim
        .registrations()
        .into_iter()
        .rev()
        .find(|r| r.kind == kind)
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_registers_follows_and_makes_a_trial_formal_from_the_cli() {
    let app = spawn_app().await;
    // Refused with each field at fault, WeChat not asked.
    let run = wxopen(
        &app,
        &[
            "register",
            "enterprise",
            "--customer",
            "shop-c",
            "--name",
            "某某科技有限公司",
            "--code",
            "123",
            "--legal-persona-wechat",
            "legal_wx1",
            "--legal-persona-name",
            "张三",
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{} {}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("invalid_registration") && run.stderr.contains("code"),
        "{}",
        run.stderr
    );
    assert_eq!(app.local.sim.registrations().len(), 0);

    let out = wxopen(
        &app,
        &[
            "register",
            "enterprise",
            "--customer",
            "shop-c",
            "--name",
            "某某科技有限公司",
            "--code",
            "91440300MA5F000001",
            "--legal-persona-wechat",
            "legal_wx1",
            "--legal-persona-name",
            "张三",
        ],
    )
    .await;
    let line = out.ok().lines().next().unwrap().to_owned();
    assert!(line.ends_with(": waiting_for_confirmation"), "{line}");
    let id = line
        .trim_start_matches("registration ")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let pushed = app
        .local
        .sim
        .decide_registration(
            &task(&app, RegistrationKind::Enterprise),
            RegistrationDecision::Confirm,
        )
        .await
        .unwrap();
    let appid = pushed.appid.unwrap();
    let shown = wxopen(&app, &["register", "show", &id]).await;
    assert!(
        shown.ok().contains("succeeded") && shown.stdout.contains(appid.as_str()),
        "{}",
        shown.stdout
    );

    // A trial, made formal.
    let out = wxopen(
        &app,
        &[
            "register",
            "beta",
            "--customer",
            "shop-c",
            "--name",
            "好店铺试用",
            "--openid",
            "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
        ],
    )
    .await;
    let text = out.ok().to_owned();
    assert!(
        text.contains("link for the merchant to confirm: https://"),
        "{text}"
    );
    let beta = text
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("registration ")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    app.local
        .sim
        .decide_registration(
            &task(&app, RegistrationKind::Beta),
            RegistrationDecision::Confirm,
        )
        .await
        .unwrap();
    let verified = wxopen(
        &app,
        &[
            "register",
            "verify",
            &beta,
            "--enterprise-name",
            "好店铺有限公司",
            "--code",
            "91440300MA5F000002",
            "--legal-persona-wechat",
            "legal_wx2",
            "--legal-persona-name",
            "王五",
        ],
    )
    .await;
    assert!(
        verified
            .ok()
            .contains("made formal: waiting_for_confirmation"),
        "{}",
        verified.stdout
    );

    let list = wxopen(&app, &["register", "list"]).await;
    let listed = list.ok();
    assert!(listed.contains(&id) && listed.contains(&beta), "{listed}");
    let json = wxopen(
        &app,
        &["--json", "register", "list", "--status", "succeeded"],
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2, "{v}");
}
