//! Every code-management endpoint through `TokenManager::wxa`, in the order a release takes.

use super::*;
use wechat_sim::AuditOutcome;
use wxopen::domain::{AuditId, AuditStatus};
use wxopen::wechat::wxa::{
    AuditItem, Commit, DomainAction, GrayRelease, ServerDomains, SubmitAudit, VisitAction,
    WebviewDomains,
};
use wxopen::wechat::{ErrorKind, WechatError};

const TEMPLATE_ID: u64 = 7;

fn commit_request(user_version: &str) -> Commit {
    Commit::new(
        TEMPLATE_ID,
        &serde_json::json!({
            "extAppid": "wx0000000000000000",
            "ext": {"tenant": "t-1"},
            "pages": ["pages/home/home", "pages/order/order"],
        }),
        user_version,
        format!("release {user_version}"),
    )
}

fn audit_request() -> SubmitAudit {
    SubmitAudit {
        item_list: vec![AuditItem {
            address: Some("pages/home/home".into()),
            tag: Some("工具 备忘".into()),
            first_class: Some("工具".into()),
            second_class: Some("备忘录".into()),
            first_id: Some(1),
            second_id: Some(2),
            title: Some("首页".into()),
            ..AuditItem::default()
        }],
        version_desc: Some("first release".into()),
        ..SubmitAudit::default()
    }
}

fn assert_business(err: &WechatError, code: i64) {
    assert_eq!(err.errcode(), Some(code), "{err}");
    assert_eq!(err.kind(), ErrorKind::Business, "{err}");
    assert!(matches!(err, WechatError::Api { .. }), "{err:?}");
}

#[tokio::test]
async fn every_code_management_endpoint_works_through_a_whole_release_cycle() {
    let env = Env::with_ticket().await;
    env.sim.add_template_with_pages(
        TEMPLATE_ID,
        "1.0.0",
        &["pages/index/index", "pages/home/home", "pages/order/order"],
    );
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    assert_eq!(wxa.appid(), &appid);

    // Before any commit the QR code endpoint answers a JSON error, told apart from an image.
    let no_code = wxa
        .call(&wxopen::wechat::wxa::GetQrcode { path: None })
        .await
        .unwrap_err();
    assert_business(&no_code, 86001);
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::GetPage).await.unwrap_err(),
        86001,
    );
    assert_business(&wxa.call(&audit_request()).await.unwrap_err(), 85086);
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::GetLatestAuditstatus)
            .await
            .unwrap_err(),
        85058,
    );

    // Commit 1.0.0: the 体验版, its QR code, category and pages.
    wxa.call(&commit_request("1.0.0")).await.unwrap();
    let qr = wxa
        .call(&wxopen::wechat::wxa::GetQrcode {
            path: Some("pages/home/home?x=1".to_owned()),
        })
        .await
        .unwrap();
    assert_eq!(qr.content_type, "image/jpeg");
    assert!(
        qr.bytes.starts_with(&[0xff, 0xd8, 0xff]),
        "a JPEG, {} bytes",
        qr.bytes.len()
    );
    let categories = wxa
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap()
        .category_list;
    assert_eq!(categories.len(), 1);
    assert_eq!((categories[0].first_id, categories[0].second_id), (1, 2));
    assert_eq!(
        wxa.call(&wxopen::wechat::wxa::GetPage)
            .await
            .unwrap()
            .page_list,
        vec!["pages/home/home", "pages/order/order"]
    );

    // Submit, look, expedite, withdraw.
    let first = wxa.call(&audit_request()).await.unwrap().auditid;
    let status = wxa
        .call(&wxopen::wechat::wxa::GetAuditstatus { auditid: first })
        .await
        .unwrap();
    assert_eq!(status.audit_status(), Some(AuditStatus::Auditing));
    let latest = wxa
        .call(&wxopen::wechat::wxa::GetLatestAuditstatus)
        .await
        .unwrap();
    assert_eq!(latest.auditid, first);
    assert_eq!(latest.audit_status(), Some(AuditStatus::Auditing));
    assert_eq!(latest.user_version.as_deref(), Some("1.0.0"));
    assert_eq!(latest.submit_audit_time, Some(T0));
    wxa.call(&wxopen::wechat::wxa::SpeedupAudit { auditid: first })
        .await
        .unwrap();
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::SpeedupAudit { auditid: first })
            .await
            .unwrap_err(),
        89404,
    );
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::GetAuditstatus {
            auditid: AuditId(first.0 + 1000),
        })
        .await
        .unwrap_err(),
        85012,
    );
    wxa.call(&wxopen::wechat::wxa::UndoCodeAudit).await.unwrap();
    assert_eq!(
        wxa.call(&wxopen::wechat::wxa::GetAuditstatus { auditid: first })
            .await
            .unwrap()
            .audit_status(),
        Some(AuditStatus::Withdrawn)
    );
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::UndoCodeAudit)
            .await
            .unwrap_err(),
        87012,
    );

    // Submit again; WeChat approves; release 1.0.0.
    let second = wxa.call(&audit_request()).await.unwrap().auditid;
    assert_ne!(second, first);
    env.sim
        .decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    assert_eq!(
        wxa.call(&wxopen::wechat::wxa::GetAuditstatus { auditid: second })
            .await
            .unwrap()
            .audit_status(),
        Some(AuditStatus::Approved)
    );
    wxa.call(&wxopen::wechat::wxa::Release {}).await.unwrap();
    assert!(
        wxa.call(&wxopen::wechat::wxa::GetHistoryVersion)
            .await
            .unwrap()
            .version_list
            .is_empty(),
        "nothing was online before 1.0.0"
    );

    // Version 1.1.0 goes through a gray release, which is reverted, then released in full.
    env.clock.advance(60);
    wxa.call(&commit_request("1.1.0")).await.unwrap();
    wxa.call(&audit_request()).await.unwrap();
    env.sim
        .decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    assert_eq!(
        wxa.call(&wxopen::wechat::wxa::GetGrayReleasePlan)
            .await
            .unwrap()
            .gray_release_plan
            .status,
        0
    );
    wxa.call(&GrayRelease {
        gray_percentage: 10,
        support_experiencer_first: Some(true),
        support_debuger_first: None,
    })
    .await
    .unwrap();
    let plan = wxa
        .call(&wxopen::wechat::wxa::GetGrayReleasePlan)
        .await
        .unwrap()
        .gray_release_plan;
    assert_eq!(plan.status, 1);
    assert_eq!(plan.gray_percentage, 10);
    assert!(plan.support_experiencer_first);
    assert!(!plan.support_debuger_first);
    assert_eq!(plan.create_timestamp, T0 + 60);
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::RevertCodeRelease { app_version: None })
            .await
            .unwrap_err(),
        87011,
    );
    wxa.call(&wxopen::wechat::wxa::RevertGrayRelease)
        .await
        .unwrap();
    assert_eq!(
        wxa.call(&wxopen::wechat::wxa::GetGrayReleasePlan)
            .await
            .unwrap()
            .gray_release_plan
            .status,
        4
    );
    wxa.call(&wxopen::wechat::wxa::Release {}).await.unwrap();

    // Roll back to 1.0.0.
    let history = wxa
        .call(&wxopen::wechat::wxa::GetHistoryVersion)
        .await
        .unwrap()
        .version_list;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].user_version, "1.0.0");
    assert_eq!(history[0].app_version, 1);
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::RevertCodeRelease {
            app_version: Some(999),
        })
        .await
        .unwrap_err(),
        87012,
    );
    wxa.call(&wxopen::wechat::wxa::RevertCodeRelease {
        app_version: Some(history[0].app_version),
    })
    .await
    .unwrap();
    assert!(wxa
        .call(&wxopen::wechat::wxa::GetHistoryVersion)
        .await
        .unwrap()
        .version_list
        .is_empty());
    let online = env.sim.account(&appid).unwrap().code.online.unwrap();
    assert_eq!(online.user_version, "1.0.0");

    // Pause and resume the service.
    assert!(!wxa
        .call(&wxopen::wechat::wxa::GetVisitstatus {})
        .await
        .unwrap()
        .is_paused());
    wxa.call(&wxopen::wechat::wxa::ChangeVisitstatus {
        action: VisitAction::Close,
    })
    .await
    .unwrap();
    assert!(wxa
        .call(&wxopen::wechat::wxa::GetVisitstatus {})
        .await
        .unwrap()
        .is_paused());
    wxa.call(&wxopen::wechat::wxa::ChangeVisitstatus {
        action: VisitAction::Open,
    })
    .await
    .unwrap();
    assert_eq!(
        wxa.call(&wxopen::wechat::wxa::GetVisitstatus {})
            .await
            .unwrap()
            .status,
        1
    );

    // Domains.
    let added = wxa
        .call(&wxopen::wechat::wxa::ModifyDomain {
            action: DomainAction::Add,
            domains: Some(
                ServerDomains {
                    requestdomain: vec!["https://api.example.com".into()],
                    uploaddomain: vec!["https://up.example.com".into()],
                    ..ServerDomains::default()
                }
                .clone(),
            ),
        })
        .await
        .unwrap();
    assert_eq!(added.domains.requestdomain, vec!["https://api.example.com"]);
    let got = wxa
        .call(&wxopen::wechat::wxa::ModifyDomain {
            action: DomainAction::Get,
            domains: None,
        })
        .await
        .unwrap();
    assert_eq!(got, added);
    assert_eq!(got.domains.uploaddomain, vec!["https://up.example.com"]);
    assert!(got.domains.wsrequestdomain.is_empty());
    // A web-view domain must first be registered as the platform's (api_modifyjumpdomain.html):
    // 89021 until then; a subdomain of a registered one is allowed.
    let web_h5 = WebviewDomains {
        webviewdomain: vec!["https://h5.example.com".into()],
    };
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::SetWebviewDomain {
            action: DomainAction::Add,
            webviewdomain: Some(web_h5.webviewdomain.clone()),
        })
        .await
        .unwrap_err(),
        89021,
    );
    let platform = mgr
        .component()
        .call(&wxopen::wechat::component::ModifyWxaJumpDomain {
            action: DomainAction::Add,
            wxa_jump_h5_domain: Some("example.com;shop.example.org".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        platform.testing_wxa_jump_h5_domain,
        "example.com;shop.example.org"
    );
    let web = wxa
        .call(&wxopen::wechat::wxa::SetWebviewDomain {
            action: DomainAction::Add,
            webviewdomain: Some(web_h5.webviewdomain.clone()),
        })
        .await
        .unwrap();
    assert_eq!(web.webviewdomain, vec!["https://h5.example.com"]);
    let web = wxa
        .call(&wxopen::wechat::wxa::SetWebviewDomain {
            action: DomainAction::Get,
            webviewdomain: None,
        })
        .await
        .unwrap();
    assert_eq!(web.webviewdomain, vec!["https://h5.example.com"]);

    // Three submissions used three of the month's 100; one of the 5 expedites.
    let quota = wxa.call(&wxopen::wechat::wxa::QueryQuota).await.unwrap();
    assert_eq!((quota.rest, quota.limit), (97, 100));
    assert_eq!((quota.speedup_rest, quota.speedup_limit), (4, 5));

    // The token from api_query_auth served every call; no refresh was needed.
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 0);
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
}

#[tokio::test]
async fn a_second_submission_while_auditing_is_85009_returned_as_a_business_error() {
    let env = Env::with_ticket().await;
    env.sim.add_template_with_pages(
        TEMPLATE_ID,
        "1.0.0",
        &["pages/index/index", "pages/home/home", "pages/order/order"],
    );
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    wxa.call(&commit_request("1.0.0")).await.unwrap();
    wxa.call(&audit_request()).await.unwrap();
    let calls = env.calls("/wxa/submit_audit");
    let err = wxa.call(&audit_request()).await.unwrap_err();
    assert_business(&err, 85009);
    assert_eq!(
        env.calls("/wxa/submit_audit"),
        calls + 1,
        "a business error is not retried"
    );
}

#[tokio::test]
async fn release_without_an_approved_audit_is_85019_and_after_a_rejection_85020() {
    let env = Env::with_ticket().await;
    env.sim.add_template_with_pages(
        TEMPLATE_ID,
        "1.0.0",
        &["pages/index/index", "pages/home/home", "pages/order/order"],
    );
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    wxa.call(&commit_request("1.0.0")).await.unwrap();

    assert_business(
        &wxa.call(&wxopen::wechat::wxa::Release {})
            .await
            .unwrap_err(),
        85019,
    );
    wxa.call(&audit_request()).await.unwrap();
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::Release {})
            .await
            .unwrap_err(),
        85019,
    );

    env.sim
        .decide_audit(
            &appid,
            AuditOutcome::Fail {
                reason: "类目不符".into(),
                screenshots: vec!["mediaid1".into(), "mediaid2".into()],
            },
        )
        .await
        .unwrap();
    let latest = wxa
        .call(&wxopen::wechat::wxa::GetLatestAuditstatus)
        .await
        .unwrap();
    assert_eq!(latest.audit_status(), Some(AuditStatus::Rejected));
    assert_eq!(latest.reason.as_deref(), Some("类目不符"));
    assert_eq!(latest.screenshots(), vec!["mediaid1", "mediaid2"]);
    let status = wxa
        .call(&wxopen::wechat::wxa::GetAuditstatus {
            auditid: latest.auditid,
        })
        .await
        .unwrap();
    assert_eq!(status.screenshots(), vec!["mediaid1", "mediaid2"]);
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::Release {})
            .await
            .unwrap_err(),
        85020,
    );

    // Approved and released once: releasing again is 85052 "app is already released".
    wxa.call(&audit_request()).await.unwrap();
    env.sim
        .decide_audit(&appid, AuditOutcome::Success)
        .await
        .unwrap();
    wxa.call(&wxopen::wechat::wxa::Release {}).await.unwrap();
    assert_business(
        &wxa.call(&wxopen::wechat::wxa::Release {})
            .await
            .unwrap_err(),
        85052,
    );
}

#[tokio::test]
async fn commit_of_an_unknown_template_is_85014() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let err = mgr
        .wxa(&appid)
        .call(&commit_request("1.0.0"))
        .await
        .unwrap_err();
    assert_business(&err, 85014);
}

#[tokio::test]
async fn code_management_without_permission_set_18_is_61007() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env
        .authorized(&mgr, wechat_sim::AccountSpec::mini_program(), &[17])
        .await;
    let err = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(61007), "{err}");
    assert_eq!(err.kind(), ErrorKind::PermissionMissing, "{err}");
}
