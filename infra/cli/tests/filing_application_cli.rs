//! `wxopen filing media|verify-task|submit|cancel` against wxopen-local and the simulator's
//! filing process, run as an operator runs them.

mod support;

use support::wxopen_as_operator as wxopen;

use serde_json::json;
use wxopen::domain::AppId;
use wxopen_local::testing::{spawn_app_with, App};

async fn media(
    app: &App,
    appid: &AppId,
    file: &std::path::Path,
    field: &str,
    cert: &str,
) -> String {
    let run = wxopen(
        app,
        &[
            "filing",
            "media",
            appid.as_str(),
            "--file",
            file.to_str().unwrap(),
            "--field",
            field,
            "--certificate-type",
            cert,
        ],
    )
    .await;
    run.ok().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_uploads_starts_the_face_check_submits_and_withdraws_from_the_cli() {
    // Its mini programs start not filed (wxopen-local's start filed, so releases go ahead).
    let app = spawn_app_with(|c| c.adjust_sim = Box::new(|sim| sim.icp_apps_filed = false)).await;
    let appid = app.mini_program("CLI filing");
    app.local.sim.authorize(&appid, &[17, 18]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, b"\xff\xd8\xff\xe0 a jpeg").unwrap();

    let licence = media(
        &app,
        &appid,
        &photo,
        "icp_subject.organize_info.certificate_photo",
        "1",
    )
    .await;
    let front = media(
        &app,
        &appid,
        &photo,
        "icp_subject.principal_info.certificate_photo_front",
        "2",
    )
    .await;
    let back = media(
        &app,
        &appid,
        &photo,
        "icp_subject.principal_info.certificate_photo_back",
        "2",
    )
    .await;
    assert!(!licence.is_empty() && licence != front, "{licence} {front}");

    let run = wxopen(&app, &["filing", "verify-task", appid.as_str()]).await;
    let out = run.ok();
    let task = out
        .lines()
        .find_map(|l| l.strip_prefix("task_id: "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    assert!(out.contains("人脸核身"), "{out}");
    app.local
        .sim
        .finish_face_check(&appid, Some(&task), true)
        .await
        .unwrap();
    let run = wxopen(&app, &["filing", "verify-task", appid.as_str(), "--status"]).await;
    assert!(run.ok().contains("succeeded"), "{}", run.stdout);

    let person = |task: &str| {
        json!({
            "name": "张三", "mobile": "13800138000", "email": "zhangsan@example.com",
            "emergency_contact": "13900139000", "certificate_type": 2,
            "certificate_number": "11010519491231002X",
            "certificate_validity_date_start": "2020-01-01", "certificate_validity_date_end": "长期",
            "certificate_photo_front": front, "certificate_photo_back": back, "verify_task_id": task,
        })
    };
    let mut application = json!({
        "icp_subject": {
            "base_info": { "type": 4, "name": "某某公司", "province": "110000", "city": "110100", "district": "110105", "address": "高碑店路181号" },
            "organize_info": { "certificate_type": 1, "certificate_number": "91110105MA00000000", "certificate_address": "北京市朝阳区", "certificate_photo": licence },
            "principal_info": person(""),
        },
        "icp_applets": {
            "base_info": { "appid": appid, "name": "某某小店", "service_content_types": [1] },
            "principal_info": person(&task),
        },
    });
    let file = dir.path().join("filing.json");

    // Bad data: each field at fault on its own line, in both languages; exit 1.
    application["icp_applets"]["principal_info"]["mobile"] = json!("123");
    std::fs::write(&file, application.to_string()).unwrap();
    let run = wxopen(
        &app,
        &[
            "filing",
            "submit",
            appid.as_str(),
            "--file",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("invalid_filing"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("icp_applets.principal_info.mobile: a mainland mobile number")
            && run.stderr.contains("以 1 开头的手机号码"),
        "{}",
        run.stderr
    );
    assert_eq!(app.local.sim.calls("/wxa/icp/apply_icp_filing"), 0);

    application["icp_applets"]["principal_info"]["mobile"] = json!("13800138000");
    std::fs::write(&file, application.to_string()).unwrap();
    let run = wxopen(
        &app,
        &[
            "filing",
            "submit",
            appid.as_str(),
            "--file",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(run.ok().contains("platform_review"), "{}", run.stdout);
    assert_eq!(app.local.sim.icp(&appid).status, 2);

    let run = wxopen(&app, &["filing", "cancel", appid.as_str()]).await;
    assert!(run.ok().contains("withdrew"), "{}", run.stdout);
    let run = wxopen(&app, &["filing", "cancel", appid.as_str()]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing_to_cancel") && run.stderr.contains("提示"),
        "{}",
        run.stderr
    );
}
