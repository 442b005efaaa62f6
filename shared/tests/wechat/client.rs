//! The client against the stub: every endpoint parses its documented example and sends the
//! documented request; every error class behaves as specified; no token leaks into errors.

use crate::support::*;
use std::time::Duration;
use wxopen::domain::{AuditId, AuditStatus};
use wxopen::wechat::component::{self, TemplateType};
use wxopen::wechat::wxa::{
    self, Commit, DomainAction, GrayRelease, ServerDomains, SubmitAudit, VisitAction,
    WebviewDomains,
};
use wxopen::wechat::{ClientConfig, ErrorKind, WechatClient, WechatError};

const TOKEN: &str = "TOKEN-SECRET-abc123";

#[tokio::test]
async fn component_endpoints_send_the_documented_requests_and_parse_the_documented_answers() {
    let stub = Stub::start().await;
    let c = stub.client();
    let comp = appid(COMPONENT_APPID);
    let app = appid(APP);
    let tok = secret(TOKEN);

    stub.queue(
        "/cgi-bin/component/api_component_token",
        Canned::fixture("api_component_token"),
    );
    let t = c
        .call(
            None,
            &component::ApiComponentToken {
                component_appid: &comp,
                component_appsecret: &secret("appsecret"),
                component_verify_ticket: &secret("ticket@@@x"),
            },
        )
        .await
        .unwrap();
    assert!(expose(&t.component_access_token).starts_with("61W3mEpU"));
    assert_eq!(t.expires_in, 7200);
    let call = stub.last("/cgi-bin/component/api_component_token");
    assert_eq!(call.method, "POST");
    assert!(call.query.is_empty(), "no token in the URL");
    assert_eq!(
        call.json(),
        serde_json::json!({"component_appid": COMPONENT_APPID, "component_appsecret": "appsecret", "component_verify_ticket": "ticket@@@x"})
    );

    let p = c
        .call(
            Some(&tok),
            &component::ApiCreatePreauthcode {
                component_appid: &comp,
            },
        )
        .await
        .unwrap();
    assert!(expose(&p.pre_auth_code).starts_with("Cx_Dk6"));
    assert!(!format!("{p:?}").contains("Cx_Dk6"), "Debug never shows it");
    assert_eq!(p.expires_in, 600);
    let call = stub.last("/cgi-bin/component/api_create_preauthcode");
    assert_eq!(call.param("component_access_token"), Some(TOKEN));
    assert_eq!(
        call.json(),
        serde_json::json!({"component_appid": COMPONENT_APPID})
    );

    let q = c
        .call(
            Some(&tok),
            &component::ApiQueryAuth {
                component_appid: &comp,
                authorization_code: "auth_code_value",
            },
        )
        .await
        .unwrap();
    let info = &q.authorization_info;
    assert_eq!(info.authorizer_appid, app);
    assert!(expose(info.authorizer_access_token.as_ref().unwrap()).starts_with("QXjUqNq"));
    assert_eq!(info.expires_in, Some(7200));
    assert!(info.authorizer_refresh_token.is_some());
    assert_eq!(info.granted_permission_ids(), vec![1, 2, 18]);
    assert_eq!(
        stub.last("/cgi-bin/component/api_query_auth").json()["authorization_code"],
        "auth_code_value"
    );

    stub.queue(
        "/cgi-bin/component/api_authorizer_token",
        Canned::fixture("api_authorizer_token"),
    );
    let a = c
        .call(
            Some(&tok),
            &component::ApiAuthorizerToken {
                component_appid: &comp,
                authorizer_appid: &app,
                authorizer_refresh_token: &secret("refresh_token_value"),
            },
        )
        .await
        .unwrap();
    assert_eq!(expose(&a.authorizer_access_token), "some-access-token");
    assert_eq!(
        a.authorizer_refresh_token.as_ref().map(expose),
        Some("refresh_token_value")
    );
    assert_eq!(
        stub.last("/cgi-bin/component/api_authorizer_token").json(),
        serde_json::json!({"component_appid": COMPONENT_APPID, "authorizer_appid": APP, "authorizer_refresh_token": "refresh_token_value"})
    );

    let i = c
        .call(
            Some(&tok),
            &component::ApiGetAuthorizerInfo {
                component_appid: &comp,
                authorizer_appid: &app,
            },
        )
        .await
        .unwrap();
    assert_eq!(i.authorizer_info.user_name, "gh_eb5e3a772040");
    assert!(i.authorizer_info.is_mini_program());
    assert_eq!(
        i.authorizer_info.account_status,
        Some(component::AccountStatus::Normal)
    );
    assert_eq!(i.authorization_info.granted_permission_ids(), vec![17, 18]);
    let profile = serde_json::to_value(&i.authorizer_info).unwrap();
    assert_eq!(profile["MiniProgramInfo"]["visit_status"], 0);
    assert_eq!(profile["basic_config"]["is_phone_configured"], true);

    let l = c
        .call(
            Some(&tok),
            &component::ApiGetAuthorizerList {
                component_appid: &comp,
                offset: 0,
                count: component::AUTHORIZER_LIST_MAX_COUNT,
            },
        )
        .await
        .unwrap();
    assert_eq!(l.total_count, 33);
    assert_eq!(l.list.len(), 2);
    assert_eq!(
        l.list[0].refresh_token.as_ref().map(expose),
        Some("refresh_token_1")
    );
    assert!(l.list[1].refresh_token.is_none());
    assert_eq!(l.list[1].appid(), Some(app.clone()));
    assert_eq!(
        stub.last("/cgi-bin/component/api_get_authorizer_list")
            .json()["count"],
        500,
        "a page is the most WeChat gives (500)"
    );

    c.call(
        None,
        &component::ApiStartPushTicket {
            component_appid: &comp,
            component_secret: &secret("appsecret"),
        },
    )
    .await
    .unwrap();
    let call = stub.last("/cgi-bin/component/api_start_push_ticket");
    assert!(call.query.is_empty());
    assert_eq!(
        call.json(),
        serde_json::json!({"component_appid": COMPONENT_APPID, "component_secret": "appsecret"})
    );
}

#[tokio::test]
async fn template_endpoints_use_the_component_token_as_access_token() {
    let stub = Stub::start().await;
    let c = stub.client();
    let tok = secret(TOKEN);

    let drafts = c
        .call(Some(&tok), &component::GetTemplateDraftList)
        .await
        .unwrap()
        .draft_list;
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].user_version, "VVV");
    let call = stub.last("/wxa/gettemplatedraftlist");
    assert_eq!(
        (call.method.as_str(), call.param("access_token")),
        ("GET", Some(TOKEN))
    );

    c.call(
        Some(&tok),
        &component::AddToTemplate {
            draft_id: 7,
            template_type: TemplateType::Standard,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        stub.last("/wxa/addtotemplate").json(),
        serde_json::json!({"draft_id": 7, "template_type": 1})
    );

    let list = c
        .call(
            Some(&tok),
            &component::GetTemplateList {
                template_type: Some(TemplateType::Normal),
            },
        )
        .await
        .unwrap()
        .template_list;
    assert_eq!(list[0].template_id, 47);
    assert_eq!(list[0].audit_status, Some(0));
    let call = stub.last("/wxa/gettemplatelist");
    assert_eq!(call.method, "GET", "the doc stresses GET");
    assert_eq!(call.param("template_type"), Some("0"));

    c.call(Some(&tok), &component::DeleteTemplate { template_id: 47 })
        .await
        .unwrap();
    assert_eq!(
        stub.last("/wxa/deletetemplate").json(),
        serde_json::json!({"template_id": 47})
    );
}

#[tokio::test]
async fn code_management_endpoints_send_the_documented_requests_and_parse_the_documented_answers() {
    let stub = Stub::start().await;
    let c = stub.client();
    let tok = secret(TOKEN);

    let ext = serde_json::json!({"extAppid": APP, "ext": {"name": "shop"}});
    c.call(Some(&tok), &Commit::new(7, &ext, "V1.0", "test"))
        .await
        .unwrap();
    let call = stub.last("/wxa/commit");
    assert_eq!(call.param("access_token"), Some(TOKEN));
    let body = call.json();
    assert_eq!(body["template_id"], 7);
    let ext_str = body["ext_json"]
        .as_str()
        .expect("ext_json is sent as a JSON string");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(ext_str).unwrap(),
        ext
    );
    assert_eq!(body["user_version"], "V1.0");
    assert_eq!(body["user_desc"], "test");

    let cats = c
        .call(Some(&tok), &wxa::GetCategory)
        .await
        .unwrap()
        .category_list;
    assert_eq!(cats.len(), 2);
    assert_eq!(cats[1].third_class.as_deref(), Some("高等"));
    assert_eq!(cats[1].third_id, Some(5));
    assert_eq!(cats[0].third_id, None);

    assert_eq!(
        c.call(Some(&tok), &wxa::GetPage).await.unwrap().page_list,
        vec!["index", "page/list", "page/detail"]
    );

    let req = SubmitAudit {
        version_desc: Some("first".into()),
        privacy_api_not_use: Some(true),
        ..Default::default()
    };
    assert_eq!(
        c.call(Some(&tok), &req).await.unwrap().auditid,
        AuditId(1234567)
    );
    assert_eq!(
        stub.last("/wxa/submit_audit").json(),
        serde_json::json!({"version_desc": "first", "privacy_api_not_use": true})
    );

    let s = c
        .call(
            Some(&tok),
            &wxa::GetAuditstatus {
                auditid: AuditId(1234567),
            },
        )
        .await
        .unwrap();
    assert_eq!(s.audit_status(), Some(AuditStatus::Rejected));
    assert_eq!(s.screenshots(), vec!["xxx", "yyy", "zzz"]);
    assert_eq!(
        stub.last("/wxa/get_auditstatus").json(),
        serde_json::json!({"auditid": 1234567})
    );

    let l = c
        .call(Some(&tok), &wxa::GetLatestAuditstatus)
        .await
        .unwrap();
    assert_eq!(l.auditid, AuditId(1234567));
    assert_eq!(
        l.screenshots(),
        vec!["xx", "yy", "zz"],
        "capitalised ScreenShot key"
    );
    assert_eq!(l.user_version.as_deref(), Some("V1.5"));
    assert_eq!(l.submit_audit_time, Some(1640763673));

    c.call(Some(&tok), &wxa::UndoCodeAudit).await.unwrap();
    assert_eq!(stub.last("/wxa/undocodeaudit").method, "GET");

    c.call(
        Some(&tok),
        &wxa::SpeedupAudit {
            auditid: AuditId(12345),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        stub.last("/wxa/speedupaudit").json(),
        serde_json::json!({"auditid": 12345})
    );

    c.call(Some(&tok), &wxa::Release {}).await.unwrap();
    let call = stub.last("/wxa/release");
    assert_eq!(
        (call.method.as_str(), call.raw_body.as_slice()),
        ("POST", &b"{}"[..])
    );

    c.call(Some(&tok), &wxa::RevertCodeRelease { app_version: None })
        .await
        .unwrap();
    assert_eq!(
        stub.last("/wxa/revertcoderelease").param("app_version"),
        None
    );
    c.call(
        Some(&tok),
        &wxa::RevertCodeRelease {
            app_version: Some(111),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        stub.last("/wxa/revertcoderelease").param("app_version"),
        Some("111")
    );
    let h = c
        .call(Some(&tok), &wxa::GetHistoryVersion)
        .await
        .unwrap()
        .version_list;
    assert_eq!(h[0].app_version, 111);
    assert_eq!(
        stub.last("/wxa/revertcoderelease").param("action"),
        Some("get_history_version")
    );

    c.call(
        Some(&tok),
        &wxa::ChangeVisitstatus {
            action: VisitAction::Close,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        stub.last("/wxa/change_visitstatus").json(),
        serde_json::json!({"action": "close"})
    );

    // The official example of get_versioninfo.html; the body must be `{}`.
    let info = c.call(Some(&tok), &wxa::GetVersionInfo {}).await.unwrap();
    assert_eq!(info.exp_info.unwrap().exp_version, "V1.0");
    let rel = info.release_info.unwrap();
    assert_eq!(
        (rel.release_time, rel.release_version.as_str()),
        (1640763902, "V1.5")
    );
    let call = stub.last("/wxa/getversioninfo");
    assert_eq!(
        (call.method.as_str(), call.raw_body.as_slice()),
        ("POST", &b"{}"[..])
    );

    let v = c.call(Some(&tok), &wxa::GetVisitstatus {}).await.unwrap();
    assert!(!v.is_paused());
    let call = stub.last("/wxa/getvisitstatus");
    assert_eq!(
        (call.method.as_str(), call.raw_body.as_slice()),
        ("POST", &b"{}"[..])
    );

    let g = GrayRelease {
        gray_percentage: 1,
        support_experiencer_first: Some(true),
        support_debuger_first: None,
    };
    c.call(Some(&tok), &g).await.unwrap();
    assert_eq!(
        stub.last("/wxa/grayrelease").json(),
        serde_json::json!({"gray_percentage": 1, "support_experiencer_first": true})
    );
    let plan = c
        .call(Some(&tok), &wxa::GetGrayReleasePlan)
        .await
        .unwrap()
        .gray_release_plan;
    assert_eq!((plan.status, plan.gray_percentage), (1, 8));
    c.call(Some(&tok), &wxa::RevertGrayRelease).await.unwrap();
    assert_eq!(stub.count("/wxa/revertgrayrelease"), 1);

    let d = ServerDomains {
        requestdomain: vec!["https://www.qq.com".into()],
        ..Default::default()
    };
    let echoed = c
        .call(
            Some(&tok),
            &wxa::ModifyDomain {
                action: DomainAction::Add,
                domains: Some(d.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(echoed.domains.wsrequestdomain.len(), 2);
    let body = stub.last("/wxa/modify_domain").json();
    assert_eq!(body["action"], "add");
    assert_eq!(
        body["requestdomain"],
        serde_json::json!(["https://www.qq.com"])
    );
    c.call(
        Some(&tok),
        &wxa::ModifyDomain {
            action: DomainAction::Get,
            domains: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        stub.last("/wxa/modify_domain").json(),
        serde_json::json!({"action": "get"})
    );

    let w = WebviewDomains {
        webviewdomain: vec!["https://www.qq.com".into()],
    };
    let got = c
        .call(
            Some(&tok),
            &wxa::SetWebviewDomain {
                action: DomainAction::Set,
                webviewdomain: Some(w.webviewdomain.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(got, w);
    assert_eq!(
        stub.last("/wxa/setwebviewdomain").json(),
        serde_json::json!({"action": "set", "webviewdomain": ["https://www.qq.com"]})
    );

    let q = c.call(Some(&tok), &wxa::QueryQuota).await.unwrap();
    assert_eq!(
        (q.rest, q.limit, q.speedup_rest, q.speedup_limit),
        (0, 0, 0, 0)
    );
}

#[tokio::test]
async fn get_qrcode_returns_the_image_or_the_json_error_by_content_type() {
    let stub = Stub::start().await;
    let c = stub.client();
    let tok = secret(TOKEN);

    let qr = c
        .call(
            Some(&tok),
            &wxa::GetQrcode {
                path: Some("page/index?action=1".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(qr.content_type, "image/jpeg");
    assert_eq!(&qr.bytes[..3], &[0xFF, 0xD8, 0xFF]);
    assert_eq!(
        stub.last("/wxa/get_qrcode").param("path"),
        Some("page/index?action=1"),
        "path is URL-encoded exactly once"
    );

    stub.queue(
        "/wxa/get_qrcode",
        Canned::json(r#"{"errcode":86000,"errmsg":"should be called by third party"}"#),
    );
    let e = c
        .call(Some(&tok), &wxa::GetQrcode { path: None })
        .await
        .unwrap_err();
    assert_eq!(e.errcode(), Some(86000));
    assert_eq!(e.kind(), ErrorKind::Business);

    let mut plain = Canned::json(r#"{"errcode":-1,"errmsg":"system error"}"#);
    plain.content_type = "text/plain".into();
    stub.queue("/wxa/get_qrcode", plain.clone());
    stub.queue("/wxa/get_qrcode", plain.clone());
    stub.queue("/wxa/get_qrcode", plain);
    let e = c
        .call(Some(&tok), &wxa::GetQrcode { path: None })
        .await
        .unwrap_err();
    assert_eq!(e.errcode(), Some(-1));
}

// ---- one test per error class ------------------------------------------------------------

#[tokio::test]
async fn retryable_errcode_minus_1_is_retried_with_bounded_attempts() {
    let stub = Stub::start().await;
    let c = stub.client();
    let tok = secret(TOKEN);
    stub.queue("/wxa/get_page", Canned::fixture("errcode_-1"));
    stub.queue("/wxa/get_page", Canned::fixture("errcode_-1"));
    assert_eq!(
        c.call(Some(&tok), &wxa::GetPage)
            .await
            .unwrap()
            .page_list
            .len(),
        3
    );
    assert_eq!(stub.count("/wxa/get_page"), 3);

    for _ in 0..3 {
        stub.queue("/wxa/get_category", Canned::fixture("errcode_-1"));
    }
    let e = c.call(Some(&tok), &wxa::GetCategory).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(e.errcode(), Some(-1));
    assert_eq!(stub.count("/wxa/get_category"), 3, "3 attempts, no more");
}

/// A call that changes state is never repeated after an answer that may have been lost: the
/// repeat would submit twice (85009, first auditid unknown), release twice (85052), or present a
/// spent code or refresh token (61009, 61023). The caller learns the outcome is unknown.
#[tokio::test]
async fn calls_that_change_state_are_not_repeated_after_an_ambiguous_failure() {
    let stub = Stub::start().await;
    let mut cfg = fast_config(&stub.base_url);
    cfg.timeout = Duration::from_millis(200);
    let c = WechatClient::new(cfg).unwrap();
    let tok = secret(TOKEN);
    let comp = appid(COMPONENT_APPID);
    let app = appid(APP);
    let req = SubmitAudit::default();
    let lost = || Canned::fixture("submit_audit").delayed(Duration::from_millis(600));
    let ambiguous = [Canned::fixture("errcode_-1"), Canned::status(502), lost()];
    for canned in ambiguous {
        for path in [
            "/wxa/submit_audit",
            "/wxa/release",
            "/wxa/commit",
            "/wxa/revertcoderelease",
            "/cgi-bin/component/api_query_auth",
            "/cgi-bin/component/api_authorizer_token",
        ] {
            stub.queue(path, canned.clone());
        }
        let before = |p: &str| stub.count(p);
        let counts: Vec<usize> = [
            "/wxa/submit_audit",
            "/wxa/release",
            "/wxa/commit",
            "/wxa/revertcoderelease",
            "/cgi-bin/component/api_query_auth",
            "/cgi-bin/component/api_authorizer_token",
        ]
        .iter()
        .map(|p| before(p))
        .collect();
        let errs = [
            c.call(Some(&tok), &req).await.unwrap_err(),
            c.call(Some(&tok), &wxa::Release {}).await.unwrap_err(),
            c.call(
                Some(&tok),
                &Commit::new(1, &serde_json::json!({}), "V1", "d"),
            )
            .await
            .unwrap_err(),
            c.call(
                Some(&tok),
                &wxa::RevertCodeRelease {
                    app_version: Some(3),
                },
            )
            .await
            .unwrap_err(),
            c.call(
                Some(&tok),
                &component::ApiQueryAuth {
                    component_appid: &comp,
                    authorization_code: "code",
                },
            )
            .await
            .unwrap_err(),
            c.call(
                Some(&tok),
                &component::ApiAuthorizerToken {
                    component_appid: &comp,
                    authorizer_appid: &app,
                    authorizer_refresh_token: &secret("R0"),
                },
            )
            .await
            .unwrap_err(),
        ];
        for (i, e) in errs.iter().enumerate() {
            assert!(e.outcome_unknown(), "{e:?}");
            assert!(!e.never_sent(), "{e:?}");
            let path = [
                "/wxa/submit_audit",
                "/wxa/release",
                "/wxa/commit",
                "/wxa/revertcoderelease",
                "/cgi-bin/component/api_query_auth",
                "/cgi-bin/component/api_authorizer_token",
            ][i];
            assert_eq!(stub.count(path), counts[i] + 1, "{path}: one attempt only");
        }
    }
    // The read-only form of revertcoderelease is safe and retried as any read.
    stub.queue("/wxa/revertcoderelease", Canned::status(502));
    let before = stub.count("/wxa/revertcoderelease");
    let _ = c.call(Some(&tok), &wxa::GetHistoryVersion).await;
    assert_eq!(stub.count("/wxa/revertcoderelease"), before + 2);
}

/// Where the connection was never made, nothing reached WeChat: even submit_audit is sent again.
#[tokio::test]
async fn a_call_that_never_left_is_retried_even_when_it_changes_state() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe); // nothing listens: the first attempt is refused
    let mut cfg = fast_config(&format!("http://{addr}"));
    cfg.retry_base_delay = Duration::from_millis(300);
    let c = WechatClient::new(cfg).unwrap();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Stub::start_on(tokio::net::TcpListener::bind(addr).await.unwrap())
    });
    let tok = secret(TOKEN);
    let got = c.call(Some(&tok), &SubmitAudit::default()).await;
    let stub = late.await.unwrap();
    // The late stub has nothing queued for submit_audit: it answers its default fixture.
    assert_eq!(stub.count("/wxa/submit_audit"), 1, "{got:?}");
    assert!(got.is_ok(), "{got:?}");

    // And the error itself says so.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let c = WechatClient::new(fast_config(&format!("http://{addr}"))).unwrap();
    let e = c.call(Some(&tok), &wxa::Release {}).await.unwrap_err();
    assert!(e.never_sent() && !e.outcome_unknown(), "{e:?}");
}

#[tokio::test]
async fn retryable_http_5xx_is_retried_and_4xx_is_not() {
    let stub = Stub::start().await;
    let c = stub.client();
    let tok = secret(TOKEN);
    stub.queue("/wxa/get_page", Canned::status(502));
    stub.queue("/wxa/get_page", Canned::status(503));
    assert!(c.call(Some(&tok), &wxa::GetPage).await.is_ok());
    assert_eq!(stub.count("/wxa/get_page"), 3);

    for _ in 0..3 {
        stub.queue("/wxa/queryquota", Canned::status(500));
    }
    let e = c.call(Some(&tok), &wxa::QueryQuota).await.unwrap_err();
    assert!(matches!(e, WechatError::Http { status: 500, .. }));
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(stub.count("/wxa/queryquota"), 3);

    stub.queue("/wxa/undocodeaudit", Canned::status(404));
    let e = c.call(Some(&tok), &wxa::UndoCodeAudit).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert_eq!(stub.count("/wxa/undocodeaudit"), 1);
}

#[tokio::test]
async fn retryable_timeouts_are_retried_and_reported_as_transport_errors() {
    let stub = Stub::start().await;
    let mut cfg = fast_config(&stub.base_url);
    cfg.timeout = Duration::from_millis(200);
    let c = WechatClient::new(cfg).unwrap();
    let tok = secret(TOKEN);
    stub.queue(
        "/wxa/get_page",
        Canned::fixture("get_page").delayed(Duration::from_millis(600)),
    );
    assert!(
        c.call(Some(&tok), &wxa::GetPage).await.is_ok(),
        "second attempt succeeds"
    );
    assert_eq!(stub.count("/wxa/get_page"), 2);

    for _ in 0..3 {
        stub.queue(
            "/wxa/queryquota",
            Canned::fixture("queryquota").delayed(Duration::from_millis(600)),
        );
    }
    let e = c.call(Some(&tok), &wxa::QueryQuota).await.unwrap_err();
    assert!(matches!(e, WechatError::Transport { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(stub.count("/wxa/queryquota"), 3);
}

#[tokio::test]
async fn token_rejected_40001_is_classified_and_not_retried_by_the_client() {
    let stub = Stub::start().await;
    let c = stub.client();
    for (code, msg) in [
        (40001, "invalid credential"),
        (42001, "access_token expired"),
        (40014, "invalid access_token"),
    ] {
        stub.queue(
            "/wxa/commit",
            Canned::json(serde_json::json!({"errcode": code, "errmsg": msg}).to_string()),
        );
        let e = c
            .call(
                Some(&secret(TOKEN)),
                &Commit::new(1, &serde_json::json!({}), "v", "d"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TokenRejected, "{code}");
        assert!(e.is_token_rejected());
    }
    assert_eq!(
        stub.count("/wxa/commit"),
        3,
        "one call per error: the token manager retries"
    );
}

#[tokio::test]
async fn needs_reauthorization_61023_is_classified() {
    let stub = Stub::start().await;
    let c = stub.client();
    stub.queue(
        "/cgi-bin/component/api_authorizer_token",
        Canned::fixture("errcode_61023"),
    );
    let e = c
        .call(
            Some(&secret(TOKEN)),
            &component::ApiAuthorizerToken {
                component_appid: &appid(COMPONENT_APPID),
                authorizer_appid: &appid(APP),
                authorizer_refresh_token: &secret("r"),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NeedsReauthorization);
    assert!(e.needs_reauthorization());
    assert_eq!(e.errcode(), Some(61023));
    assert_eq!(stub.count("/cgi-bin/component/api_authorizer_token"), 1);
}

#[tokio::test]
async fn quota_45009_is_never_retried() {
    let stub = Stub::start().await;
    let c = stub.client();
    stub.queue("/wxa/submit_audit", Canned::fixture("errcode_45009"));
    let e = c
        .call(Some(&secret(TOKEN)), &SubmitAudit::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Quota);
    assert_eq!(stub.count("/wxa/submit_audit"), 1);
}

#[tokio::test]
async fn business_errors_are_returned_as_they_are() {
    let stub = Stub::start().await;
    let c = stub.client();
    stub.queue("/wxa/submit_audit", Canned::fixture("errcode_85009"));
    let e = c
        .call(Some(&secret(TOKEN)), &SubmitAudit::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Business);
    match &e {
        WechatError::Api {
            code,
            errmsg,
            endpoint,
        } => {
            assert_eq!(*code, 85009);
            assert_eq!(errmsg, "already submit a version under auditing");
            assert_eq!(*endpoint, "/wxa/submit_audit");
        }
        other => panic!("{other:?}"),
    }
    for (code, msg) in [(85019, "没有审核版本"), (85020, "审核状态未满足发布")] {
        stub.queue(
            "/wxa/release",
            Canned::json(serde_json::json!({"errcode": code, "errmsg": msg}).to_string()),
        );
        let e = c
            .call(Some(&secret(TOKEN)), &wxa::Release {})
            .await
            .unwrap_err();
        assert_eq!((e.kind(), e.errcode()), (ErrorKind::Business, Some(code)));
    }
    assert_eq!(stub.count("/wxa/submit_audit"), 1);
    assert_eq!(stub.count("/wxa/release"), 2);
}

#[tokio::test]
async fn internal_undecodable_answers_are_not_retried() {
    let stub = Stub::start().await;
    let c = stub.client();
    stub.queue(
        "/wxa/getgrayreleaseplan",
        Canned::json(r#"{"errcode":0,"errmsg":"ok"}"#),
    );
    let e = c
        .call(Some(&secret(TOKEN)), &wxa::GetGrayReleasePlan)
        .await
        .unwrap_err();
    assert!(matches!(e, WechatError::Decode { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert_eq!(stub.count("/wxa/getgrayreleaseplan"), 1);
}

// ---- redaction ------------------------------------------------------------------------------

fn assert_redacted(e: &WechatError) {
    let shown = format!("{e} | {e:?} | {:?}", std::error::Error::source(e));
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    assert!(!shown.contains("access_token="), "query leaked: {shown}");
}

#[tokio::test]
async fn errors_never_contain_the_token_or_the_query_string() {
    // Connection refused: reqwest's error would carry the URL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let c = WechatClient::new(fast_config(&dead)).unwrap();
    let e = c
        .call(Some(&secret(TOKEN)), &wxa::GetPage)
        .await
        .unwrap_err();
    assert!(matches!(e, WechatError::Transport { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_redacted(&e);
    let e = c
        .call(
            Some(&secret(TOKEN)),
            &component::ApiCreatePreauthcode {
                component_appid: &appid(COMPONENT_APPID),
            },
        )
        .await
        .unwrap_err();
    assert_redacted(&e);

    // Timeout.
    let stub = Stub::start().await;
    let mut cfg = fast_config(&stub.base_url);
    cfg.timeout = Duration::from_millis(100);
    cfg.max_attempts = 1;
    let c = WechatClient::new(cfg).unwrap();
    stub.queue(
        "/wxa/get_page",
        Canned::fixture("get_page").delayed(Duration::from_millis(500)),
    );
    let e = c
        .call(Some(&secret(TOKEN)), &wxa::GetPage)
        .await
        .unwrap_err();
    assert_redacted(&e);

    // HTTP status, errcode, decode errors (a body quoting the token in a bad field).
    stub.queue("/wxa/get_page", Canned::status(502));
    assert_redacted(
        &c.call(Some(&secret(TOKEN)), &wxa::GetPage)
            .await
            .unwrap_err(),
    );
    stub.queue("/wxa/get_page", Canned::fixture("errcode_40001"));
    assert_redacted(
        &c.call(Some(&secret(TOKEN)), &wxa::GetPage)
            .await
            .unwrap_err(),
    );
    stub.queue(
        "/cgi-bin/component/api_component_token",
        Canned::json(format!(
            r#"{{"component_access_token":"{TOKEN}","expires_in":"{TOKEN}"}}"#
        )),
    );
    let e = c
        .call(
            None,
            &component::ApiComponentToken {
                component_appid: &appid(COMPONENT_APPID),
                component_appsecret: &secret("s"),
                component_verify_ticket: &secret("t"),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, WechatError::Decode { .. }));
    assert_redacted(&e);

    // Responses carrying tokens print them redacted.
    let stub2 = Stub::start().await;
    let t = stub2
        .client()
        .call(
            None,
            &component::ApiComponentToken {
                component_appid: &appid(COMPONENT_APPID),
                component_appsecret: &secret("s"),
                component_verify_ticket: &secret("t"),
            },
        )
        .await
        .unwrap();
    assert!(!format!("{t:?}").contains("ctok-1"));
}

#[test]
fn a_bad_base_url_is_refused_up_front() {
    let e = WechatClient::new(ClientConfig::with_base_url("not a url")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
}
