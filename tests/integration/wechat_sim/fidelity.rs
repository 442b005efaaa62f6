//! The domain, privacy-interface, media, wxacode and openapi declarations through
//! `TokenManager::wxa(appid).call(&…)` / `component().call(&…)` against the simulator.

use super::*;
use wxopen::wechat::component::{
    GetComponentApiQuota, GetComponentRidInfo, GetDomainConfirmFile, ModifyWxaServerDomain,
};
use wxopen::wechat::wxa::{
    ApplyPrivacyInterface, DomainAction, GetApiQuota, GetCodePrivacyInfo, GetEffectiveDomain,
    GetPrivacyInterface, GetRidInfo, GetWxaCodeUnlimit, ModifyDomainDirectly, ServerDomains,
    SetWebviewDomainDirectly, UploadMedia, WebviewDomains,
};
use wxopen::wechat::{ErrorKind, WechatError};

fn assert_business(err: &WechatError, code: i64) {
    assert_eq!(err.errcode(), Some(code), "{err}");
    assert_eq!(err.kind(), ErrorKind::Business, "{err}");
}

#[tokio::test]
async fn the_platforms_server_domains_gate_modify_domain_and_the_direct_ones_do_not() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);

    let platform = mgr
        .component()
        .call(&ModifyWxaServerDomain {
            action: DomainAction::Set,
            wxa_server_domain: Some("api.shop.com;wss.shop.com;https://x.com".into()),
            is_modify_published_together: Some(true),
        })
        .await
        .unwrap();
    assert_eq!(platform.testing(), ["api.shop.com", "wss.shop.com"]);
    assert_eq!(platform.published(), ["api.shop.com", "wss.shop.com"]);
    assert_eq!(platform.invalid(), ["https://x.com"]);

    let given = ServerDomains {
        requestdomain: vec!["https://api.shop.com".into(), "https://other.com".into()],
        wsrequestdomain: vec!["wss://wss.shop.com".into()],
        ..ServerDomains::default()
    };
    let answered = wxa
        .call(&wxopen::wechat::wxa::ModifyDomain {
            action: DomainAction::Add,
            domains: Some(given.clone()),
        })
        .await
        .unwrap();
    assert_eq!(answered.domains.requestdomain, ["https://api.shop.com"]);
    assert_eq!(answered.domains.wsrequestdomain, ["wss://wss.shop.com"]);
    assert_eq!(answered.invalid.requestdomain, ["https://other.com"]);
    assert!(answered.invalid.wsrequestdomain.is_empty());
    let refused = wxa
        .call(&wxopen::wechat::wxa::ModifyDomain {
            action: DomainAction::Set,
            domains: Some(
                ServerDomains {
                    requestdomain: vec!["https://other.com".into()],
                    ..ServerDomains::default()
                }
                .clone(),
            ),
        })
        .await
        .unwrap_err();
    assert_business(&refused, 85017);
    // What was refused was not applied.
    let got = wxa
        .call(&wxopen::wechat::wxa::ModifyDomain {
            action: DomainAction::Get,
            domains: None,
        })
        .await
        .unwrap();
    assert_eq!(got.domains.requestdomain, ["https://api.shop.com"]);
    assert!(got.invalid.is_empty());

    wxa.call(&ModifyDomainDirectly {
        action: DomainAction::Add,
        domains: Some(ServerDomains {
            requestdomain: vec!["https://direct.other.com".into()],
            ..ServerDomains::default()
        }),
    })
    .await
    .unwrap();
    let direct = wxa
        .call(&ModifyDomainDirectly {
            action: DomainAction::Get,
            domains: None,
        })
        .await
        .unwrap();
    assert_eq!(direct.domains.requestdomain, ["https://direct.other.com"]);
    let effective = wxa.call(&GetEffectiveDomain {}).await.unwrap();
    assert_eq!(
        effective.third_domain.requestdomain,
        ["https://api.shop.com"]
    );
    assert_eq!(
        effective.direct_domain.requestdomain,
        ["https://direct.other.com"]
    );
    assert_eq!(
        effective.effective_domain.requestdomain,
        ["https://api.shop.com", "https://direct.other.com"]
    );
    assert_eq!(effective.mp_domain, ServerDomains::default());

    wxa.call(&SetWebviewDomainDirectly {
        action: DomainAction::Set,
        webviewdomain: Some(vec!["https://h5.other.com".into()]),
    })
    .await
    .unwrap();
    let web: WebviewDomains = wxa
        .call(&SetWebviewDomainDirectly {
            action: DomainAction::Get,
            webviewdomain: None,
        })
        .await
        .unwrap();
    assert_eq!(web.webviewdomain, ["https://h5.other.com"]);

    let file = mgr
        .component()
        .call(&GetDomainConfirmFile {})
        .await
        .unwrap();
    assert!(file.file_name.ends_with(".txt"));
    assert!(!file.file_content.is_empty());
}

#[tokio::test]
async fn without_auth_list_names_what_was_never_approved_once_applications_are_required() {
    let env = Env::with_ticket().await;
    env.sim.add_template(7, "1.0.0");
    env.sim.set_template_private_apis(7, &["wx.getLocation"]);
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    wxa.call(&wxopen::wechat::wxa::Commit::new(
        7,
        &serde_json::json!({"requiredPrivateInfos": ["getLocation"]}),
        "1.0.0",
        "d",
    ))
    .await
    .unwrap();
    // Default: everything applied for.
    let info = wxa.call(&GetCodePrivacyInfo).await.unwrap();
    assert!(info.without_auth_list.is_empty() && info.without_conf_list.is_empty());
    let list = wxa.call(&GetPrivacyInterface).await.unwrap();
    assert!(list.interface_list.iter().all(|i| i.is_open()));

    env.sim.require_privacy_applications(true);
    let info = wxa.call(&GetCodePrivacyInfo).await.unwrap();
    assert_eq!(info.without_auth_list, ["wx.getLocation"]);
    let applied = wxa
        .call(&ApplyPrivacyInterface {
            api_name: "wx.getLocation".into(),
            content: "门店导航".into(),
            url_list: vec![],
            pic_list: vec!["https://example.com/p.png".into()],
            video_list: vec![],
        })
        .await
        .unwrap();
    let list = wxa.call(&GetPrivacyInterface).await.unwrap();
    let loc = list
        .interface_list
        .iter()
        .find(|i| i.api_name == "wx.getLocation")
        .unwrap();
    assert_eq!((loc.status, loc.audit_id), (3, Some(applied.audit_id)));
    env.sim
        .decide_privacy_application(&appid, "wx.getLocation", true, "")
        .unwrap();
    let info = wxa.call(&GetCodePrivacyInfo).await.unwrap();
    assert!(info.without_auth_list.is_empty());
    let refused = wxa
        .call(&ApplyPrivacyInterface {
            api_name: "wx.nope".into(),
            content: "x".into(),
            url_list: vec![],
            pic_list: vec![],
            video_list: vec![],
        })
        .await
        .unwrap_err();
    assert_business(&refused, 47001);
}

#[tokio::test]
async fn media_and_wxacode_travel_as_multipart_and_as_an_image() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    let media = wxa
        .call(&UploadMedia {
            filename: "shot.png".into(),
            content_type: "image/png".into(),
            bytes: b"\x89PNG\r\n\x1a\n0123456789".to_vec(),
        })
        .await
        .unwrap();
    assert_eq!(media.media_type, "image");
    assert!(!media.mediaid.is_empty());
    let stored = env.sim.account(&appid).unwrap().code.media;
    assert_eq!(stored[&media.mediaid], ("image".to_owned(), 18));
    let refused = wxa
        .call(&UploadMedia {
            filename: "a.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"hello".to_vec(),
        })
        .await
        .unwrap_err();
    assert_business(&refused, 40005);

    // Nothing released: check_path refuses the page (41030, a JSON error, not an image).
    let req = GetWxaCodeUnlimit {
        scene: "id=42".into(),
        page: Some("pages/index/index".into()),
        ..GetWxaCodeUnlimit::default()
    };
    assert_business(&wxa.call(&req).await.unwrap_err(), 41030);
    let image = wxa
        .call(&GetWxaCodeUnlimit {
            check_path: Some(false),
            env_version: Some("trial".into()),
            width: Some(430),
            ..req
        })
        .await
        .unwrap();
    assert_eq!(image.content_type, "image/png");
    assert!(image.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[tokio::test]
async fn quota_get_and_rid_get_report_what_the_simulator_counted() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    env.sim.set_daily_quota("/wxa/get_category", 10);
    wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    let q = wxa
        .call(&GetApiQuota {
            cgi_path: "/wxa/get_category".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        (q.quota.daily_limit, q.quota.used, q.quota.remain),
        (10, 1, 9)
    );
    let q = mgr
        .component()
        .call(&GetComponentApiQuota {
            cgi_path: "/cgi-bin/component/api_query_auth".into(),
        })
        .await
        .unwrap();
    assert_eq!(q.quota.used, 1, "the authorization above");
    let unknown = wxa
        .call(&GetApiQuota {
            cgi_path: "/wxa/nope".into(),
        })
        .await
        .unwrap_err();
    assert_business(&unknown, 76021);

    // A failed call's rid, looked up by its own account only.
    let failed = wxa.call(&wxopen::wechat::wxa::GetPage).await.unwrap_err();
    let WechatError::Api { errmsg, .. } = &failed else {
        panic!("{failed:?}")
    };
    let rid = errmsg.rsplit_once(" rid: ").unwrap().1.to_owned();
    let info = wxa.call(&GetRidInfo { rid: rid.clone() }).await.unwrap();
    assert!(info.request.response_body.contains("86001"));
    assert_eq!(info.request.invoke_time, env.sim.now());
    assert!(!format!("{:?}", info.request).contains("access_token="));
    let other = mgr
        .component()
        .call(&GetComponentRidInfo { rid })
        .await
        .unwrap_err();
    assert_business(&other, 76003);
}

#[tokio::test]
async fn a_fast_registered_mini_program_is_taken_on_with_the_pushed_auth_code() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let pushed = env
        .sim
        .push_fast_register(wechat_sim::FastRegisterResult {
            name: "某某科技有限公司".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let auth = mgr
        .component()
        .call(&wxopen::wechat::component::ApiQueryAuth {
            component_appid: mgr.component_appid(),
            authorization_code: pushed.auth_code.as_deref().unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(
        Some(auth.authorization_info.authorizer_appid.to_string()),
        pushed.appid
    );
    assert_eq!(auth.authorization_info.granted_permission_ids(), [17, 18]);
}
