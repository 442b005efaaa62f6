//! `wxopen keys new` and the exit codes that follow the API's statuses.

mod support;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::wxopen;
use wechat_sim::{AccountSpec, Fault};
use wxopen::operator_auth::{OperatorKey, Role};
use wxopen_local::dev_secrets;
use wxopen_local::testing::{spawn_app, spawn_app_with, OPERATOR_KEY as KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_is_printed_once_with_its_entry_and_works_with_its_role() {
    let out = wxopen(
        None,
        None,
        &[
            "keys",
            "new",
            "--role",
            "viewer",
            "--label",
            "desk",
            "--customers",
            "acme,globex",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = v["key"].as_str().unwrap();
    assert!(key.len() >= 40, "{key}");
    let entry = &v["entry"];
    assert_eq!(entry["sha256"], hex::encode(Sha256::digest(key.as_bytes())));
    assert_eq!(
        (&entry["label"], &entry["role"]),
        (&Value::from("desk"), &Value::from("viewer"))
    );
    assert_eq!(entry["customers"], serde_json::json!(["acme", "globex"]));
    // Plain output: the key once, and the entry.
    let out = wxopen(
        None,
        None,
        &["keys", "new", "--role", "admin", "--label", "root"],
    )
    .await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"role\":\"admin\""), "{text}");
    assert!(!text.contains("customers"), "{text}");
    let bad = wxopen(
        None,
        None,
        &["keys", "new", "--role", "root", "--label", "x"],
    )
    .await;
    assert_ne!(bad.status.code(), Some(0));
    let bad = wxopen(
        None,
        None,
        &["keys", "new", "--role", "admin", "--label", "a b"],
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));

    // The entry in the secret: the key reads, and is refused a release (403, exit 1).
    let mut secrets = dev_secrets();
    secrets.operator_keys.push(OperatorKey {
        label: "desk".into(),
        sha256: entry["sha256"].as_str().unwrap().into(),
        role: Role::Viewer,
        customers: None,
    });
    let app = spawn_app_with(|c| c.secrets = secrets).await;
    let local = &app.local;
    let list = wxopen(Some(&local.base_url), Some(key), &["authorizers", "list"]).await;
    assert_eq!(list.status.code(), Some(0), "{:?}", list);
    let release = wxopen(
        Some(&local.base_url),
        Some(key),
        &["release", "wx0000000000000001"],
    )
    .await;
    assert_eq!(release.status.code(), Some(1));
    let stderr = String::from_utf8(release.stderr).unwrap();
    assert!(stderr.contains("403 forbidden"), "{stderr}");
    assert!(!stderr.contains(key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_follow_the_statuses() {
    let app = spawn_app().await;
    let local = &app.local;
    let appid = local.sim.add_account(AccountSpec::mini_program());
    local.sim.authorize(&appid, &[17, 18]).await.unwrap();
    let args = ["submit", appid.as_str()];
    let submit = |_: ()| wxopen(Some(&local.base_url), Some(KEY), &args);
    // WeChat refuses (85086, nothing committed): 422, fix the request: 1.
    let out = submit(()).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(stderr.contains("422 wechat_refused"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
    // WeChat asks to come back later: 503, try again later: 3.
    for (errcode, status, exit) in [(89401, "503", 3), (45009, "429", 3), (61004, "502", 4)] {
        local.sim.set_fault(Fault {
            endpoint: Some("/wxa/submit_audit".into()),
            forced_errcode: Some((errcode, "forced".into())),
            times: Some(1),
            ..Fault::default()
        });
        let out = submit(()).await;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            stderr.contains(&format!("({status} ")),
            "{errcode}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(exit), "{errcode}: {stderr}");
    }
}
