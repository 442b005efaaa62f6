//! Account setup through the client against the simulator: the registrations (enterprise over
//! simulated time, a lost result settled by search, personal, trial made formal, reusing an
//! official account's subject), the profile (name with its review, avatar, signature, search
//! status) and the categories with their review, each documented errcode arriving as a
//! [`WechatError`] with its code, and the limits.

use super::*;
use wechat_sim::{RegistrationDecision, RegistrationKind, RegistrationStage, SetupTiming};
use wxopen::wechat::account::*;
use wxopen::wechat::component::{ApiGetAuthorizerInfo, ApiGetAuthorizerList, ApiQueryAuth};
use wxopen::wechat::{ErrorKind, TokenManager, WechatError, WxaApi};

fn assert_business(err: &WechatError, code: i64) {
    assert_eq!(err.errcode(), Some(code), "{err}");
    assert_eq!(err.kind(), ErrorKind::Business, "{err}");
}

fn applicant(name: &str) -> EnterpriseApplicant {
    EnterpriseApplicant {
        name: name.into(),
        code: Personal::new("91110105MA00000000"),
        code_type: CodeType::UnifiedSocialCreditCode,
        legal_persona_wechat: Personal::new("legal_wx_001"),
        legal_persona_name: Personal::new("张三"),
        component_phone: Personal::new("13800138000"),
    }
}

fn search(name: &str) -> SearchFastRegisterWeapp {
    SearchFastRegisterWeapp {
        name: name.into(),
        legal_persona_wechat: Personal::new("legal_wx_001"),
        legal_persona_name: Personal::new("张三"),
    }
}

/// Moves the shared clock; a fresh ticket arrives meanwhile (WeChat pushes one every 10
/// minutes), so tokens can be refreshed after a long wait.
async fn advance(env: &Env, secs: i64) {
    env.clock.advance(secs);
    env.store_new_ticket().await;
}

/// Exchanges a registration's authorization code and stores the new authorizer.
async fn adopt(mgr: &TokenManager, code: &str) -> AppId {
    let auth = mgr
        .component()
        .call(&ApiQueryAuth {
            component_appid: mgr.component_appid(),
            authorization_code: code,
        })
        .await
        .unwrap();
    mgr.save_authorization(&auth.authorization_info)
        .await
        .unwrap();
    auth.authorization_info.authorizer_appid
}

/// The only registration of `kind` still waiting.
fn waiting(env: &Env, kind: RegistrationKind) -> String {
    let r: Vec<_> = env
        .sim
        .registrations()
        .into_iter()
        .filter(|r| r.kind == kind && r.stage == RegistrationStage::Waiting)
        .collect();
    assert_eq!(r.len(), 1, "{r:?}");
    r[0].id.clone()
}

/// An enterprise mini program registered through the API, confirmed, adopted.
async fn registered(env: &Env, mgr: &TokenManager, name: &str) -> AppId {
    mgr.component()
        .call(&FastRegisterWeapp {
            applicant: applicant(name),
        })
        .await
        .unwrap();
    let id = waiting(env, RegistrationKind::Enterprise);
    let result = env
        .sim
        .decide_registration(&id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    adopt(mgr, result.auth_code.as_deref().unwrap()).await
}

async fn upload(wxa: &WxaApi<'_>) -> String {
    wxa.call(&UploadTempMedia {
        media_type: TempMediaType::Image,
        filename: "a.png".into(),
        content_type: "image/png".into(),
        bytes: vec![0x89, b'P', b'N', b'G', 1, 2, 3],
    })
    .await
    .unwrap()
    .media_id
}

#[tokio::test]
async fn an_enterprise_registration_waits_for_the_legal_person_and_then_the_app_is_authorized() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let component = mgr.component();
    component
        .call(&FastRegisterWeapp {
            applicant: applicant("模拟商户有限公司"),
        })
        .await
        .unwrap();
    // Waiting for the legal person: search says so, a second task is refused.
    let e = component
        .call(&search("模拟商户有限公司"))
        .await
        .unwrap_err();
    assert_business(&e, 89251);
    let e = component
        .call(&FastRegisterWeapp {
            applicant: applicant("模拟商户有限公司"),
        })
        .await
        .unwrap_err();
    assert_business(&e, 89249);
    assert_business(
        &component.call(&search("别的商户")).await.unwrap_err(),
        89250,
    );

    // The legal person confirms an hour later, on the simulated clock.
    env.sim.set_setup_timing(SetupTiming {
        confirm_secs: Some(3600),
        ..SetupTiming::default()
    });
    advance(&env, 3599).await;
    env.sim.run_setup_timers().await;
    assert_business(
        &component
            .call(&search("模拟商户有限公司"))
            .await
            .unwrap_err(),
        89251,
    );
    advance(&env, 1).await;
    env.sim.run_setup_timers().await;
    let done = env.sim.registrations();
    let RegistrationStage::Succeeded { appid } = &done[0].stage else {
        panic!("{done:?}");
    };
    // The push is lost (no URL here): search settles it, and the new mini program is among the
    // component's authorizers.
    component.call(&search("模拟商户有限公司")).await.unwrap();
    let list = component
        .call(&ApiGetAuthorizerList {
            component_appid: mgr.component_appid(),
            offset: 0,
            count: 100,
        })
        .await
        .unwrap();
    assert!(list
        .list
        .iter()
        .any(|a| a.authorizer_appid == appid.as_str()));
    // 24 hours after the task began, the subject may start another.
    advance(&env, 86_400).await;
    component
        .call(&FastRegisterWeapp {
            applicant: applicant("模拟商户有限公司"),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_registered_app_reports_how_it_was_registered_and_starts_with_an_empty_profile() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = registered(&env, &mgr, "模拟商户有限公司").await;
    let info = mgr
        .component()
        .call(&ApiGetAuthorizerInfo {
            component_appid: mgr.component_appid(),
            authorizer_appid: &appid,
        })
        .await
        .unwrap();
    // Typed by the client (the fields the current page documents).
    let i = &info.authorizer_info;
    assert_eq!(i.register_type, Some(6));
    assert_eq!(
        i.account_status,
        Some(wxopen::wechat::component::AccountStatus::Normal)
    );
    assert!(i.basic_config.as_ref().unwrap().is_phone_configured);
    assert_eq!(info.authorizer_info.principal_name, "模拟商户有限公司");
    let basic = mgr.wxa(&appid).call(&GetAccountBasicInfo {}).await.unwrap();
    assert_eq!(basic.appid, appid.as_str());
    assert_eq!(basic.account_type, 3);
    assert_eq!(basic.nickname, "");
    let quota = basic.nickname_info.unwrap();
    assert_eq!((quota.modify_used_count, quota.modify_quota), (0, 2));
    // An app authorized the usual way was not registered through the API.
    let other = env
        .authorized(&mgr, wechat_sim::AccountSpec::mini_program(), &[17, 18, 30])
        .await;
    assert_business(
        &mgr.wxa(&other)
            .call(&GetAccountBasicInfo {})
            .await
            .unwrap_err(),
        41033,
    );
    assert_business(
        &mgr.wxa(&other)
            .call(&SetNickname {
                nick_name: "新名字商店".into(),
                ..SetNickname::default()
            })
            .await
            .unwrap_err(),
        91001,
    );
}

#[tokio::test]
async fn bad_registrations_are_refused_with_their_codes() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let c = mgr.component();
    let mut a = applicant("模拟商户有限公司");
    a.legal_persona_wechat = Personal::new("1x");
    assert_business(
        &c.call(&FastRegisterWeapp { applicant: a })
            .await
            .unwrap_err(),
        86004,
    );
    let mut a = applicant("模拟商户有限公司");
    a.code_type = CodeType::Unknown(9);
    assert_business(
        &c.call(&FastRegisterWeapp { applicant: a })
            .await
            .unwrap_err(),
        89248,
    );
    let mut a = applicant("模拟商户有限公司");
    a.code = Personal::new("");
    assert_business(
        &c.call(&FastRegisterWeapp { applicant: a })
            .await
            .unwrap_err(),
        89253,
    );
    assert!(env.sim.registrations().is_empty());
    // A failed task: its reason is pushed; search finds no task running any more.
    c.call(&FastRegisterWeapp {
        applicant: applicant("模拟商户有限公司"),
    })
    .await
    .unwrap();
    let id = waiting(&env, RegistrationKind::Enterprise);
    let r = env
        .sim
        .decide_registration(
            &id,
            RegistrationDecision::Fail {
                reason: "法人姓名与微信号不一致".into(),
                status: Some(61070),
            },
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.appid, r.auth_code), (61070, None, None));
    assert_business(
        &c.call(&search("模拟商户有限公司")).await.unwrap_err(),
        89250,
    );
}

#[tokio::test]
async fn a_personal_registration_reports_its_task_status() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let c = mgr.component();
    let task = c
        .call(&FastRegisterPersonalWeapp {
            idname: Personal::new("李四"),
            wxuser: Personal::new("lisi_wx_002"),
            component_phone: Personal::default(),
        })
        .await
        .unwrap();
    assert_eq!(task.status, PersonalTaskStatus::Created);
    assert!(task.authorize_url.starts_with("https://"));
    let query = QueryPersonalWeapp {
        taskid: task.taskid.clone(),
    };
    assert_eq!(
        c.call(&query).await.unwrap().status,
        PersonalTaskStatus::Created
    );
    let id = waiting(&env, RegistrationKind::Personal);
    let r = env
        .sim
        .decide_registration(&id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    let state = c.call(&query).await.unwrap().status;
    assert_eq!(state, PersonalTaskStatus::Succeeded);
    assert!(state.is_final());
    let appid = adopt(&mgr, r.auth_code.as_deref().unwrap()).await;
    let info = c
        .call(&ApiGetAuthorizerInfo {
            component_appid: mgr.component_appid(),
            authorizer_appid: &appid,
        })
        .await
        .unwrap();
    assert_eq!(info.authorizer_info.register_type, Some(16));
    // A user who refuses ends the task.
    let refused = c
        .call(&FastRegisterPersonalWeapp {
            idname: Personal::new("王五"),
            wxuser: Personal::new("wangwu_wx_3"),
            component_phone: Personal::default(),
        })
        .await
        .unwrap();
    let id = waiting(&env, RegistrationKind::Personal);
    env.sim
        .decide_registration(
            &id,
            RegistrationDecision::Fail {
                reason: "用户拒绝".into(),
                status: None,
            },
        )
        .await
        .unwrap();
    let state = c
        .call(&QueryPersonalWeapp {
            taskid: refused.taskid,
        })
        .await
        .unwrap()
        .status;
    assert_eq!(state, PersonalTaskStatus::Refused);
    assert_business(
        &c.call(&QueryPersonalWeapp {
            taskid: "nope".into(),
        })
        .await
        .unwrap_err(),
        89250,
    );
}

#[tokio::test]
async fn a_trial_mini_program_is_renamed_and_made_formal() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let c = mgr.component();
    assert_business(
        &c.call(&FastRegisterBetaWeapp {
            name: "腾讯小店".into(),
            openid: Personal::new("o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
        })
        .await
        .unwrap_err(),
        53010,
    );
    let beta = c
        .call(&FastRegisterBetaWeapp {
            name: "街角咖啡".into(),
            openid: Personal::new("o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
        })
        .await
        .unwrap();
    assert!(!beta.unique_id.is_empty());
    let id = waiting(&env, RegistrationKind::Beta);
    let r = env
        .sim
        .decide_registration(&id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    assert_eq!(r.kind, "notify_third_fastregisterbetaapp");
    let appid = adopt(&mgr, r.auth_code.as_deref().unwrap()).await;
    let wxa = mgr.wxa(&appid);
    wxa.call(&SetBetaWeappNickname {
        name: "街角咖啡馆".into(),
    })
    .await
    .unwrap();
    let info = c
        .call(&ApiGetAuthorizerInfo {
            component_appid: mgr.component_appid(),
            authorizer_appid: &appid,
        })
        .await
        .unwrap();
    assert_eq!(info.authorizer_info.nick_name, "街角咖啡馆的体验小程序");
    assert_eq!(info.authorizer_info.register_type, Some(13));

    let verify = VerifyBetaWeapp {
        verify_info: BetaVerifyInfo {
            enterprise_name: "街角咖啡有限公司".into(),
            code: Personal::new("91110105MA00000001"),
            code_type: CodeType::UnifiedSocialCreditCode,
            legal_persona_wechat: Personal::new("legal_wx_009"),
            legal_persona_name: Personal::new("赵六"),
            legal_persona_idcard: Personal::new("110101199001011234"),
            component_phone: Personal::default(),
        },
    };
    wxa.call(&verify).await.unwrap();
    // The legal person has not confirmed yet.
    assert_business(&wxa.call(&verify).await.unwrap_err(), 89251);
    let id = waiting(&env, RegistrationKind::BetaVerification);
    let r = env
        .sim
        .decide_registration(&id, RegistrationDecision::Confirm)
        .await
        .unwrap();
    assert_eq!(r.kind, "notify_third_fastverifybetaapp");
    assert_eq!(r.appid.as_ref(), Some(&appid));
    let info = c
        .call(&ApiGetAuthorizerInfo {
            component_appid: mgr.component_appid(),
            authorizer_appid: &appid,
        })
        .await
        .unwrap();
    assert_eq!(info.authorizer_info.register_type, Some(19));
    // Formal now: no longer a trial.
    assert_business(
        &wxa.call(&SetBetaWeappNickname {
            name: "四个字的".into(),
        })
        .await
        .unwrap_err(),
        40097,
    );
}

#[tokio::test]
async fn an_official_accounts_subject_registers_a_mini_program_at_once() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let oa = env
        .authorized(&mgr, wechat_sim::AccountSpec::official_account(), &[1, 3])
        .await;
    let ticket = env.sim.official_account_register_ticket(&oa);
    let wxa = mgr.wxa(&oa);
    let created = wxa
        .call(&ReuseOfficialAccountRegister {
            ticket: ticket.clone(),
        })
        .await
        .unwrap();
    assert!(created.is_link_succ && created.is_wx_verify_succ);
    assert!(!format!("{created:?}").contains(created.authorization_code.expose()));
    let appid = adopt(&mgr, created.authorization_code.expose()).await;
    assert_eq!(appid.as_str(), created.appid);
    // The ticket is spent.
    assert_business(
        &wxa.call(&ReuseOfficialAccountRegister { ticket })
            .await
            .unwrap_err(),
        61058,
    );
}

#[tokio::test]
async fn a_name_hitting_a_keyword_needs_material_and_a_review_and_the_changes_are_limited() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = registered(&env, &mgr, "模拟商户有限公司").await;
    let wxa = mgr.wxa(&appid);
    env.sim.set_names(&["星巴克咖啡"], &["腾讯"]);

    let check = |name: &str| CheckWxVerifyNickname {
        nick_name: name.into(),
    };
    assert!(!wxa.call(&check("街角咖啡")).await.unwrap().hit_condition);
    let hit = wxa.call(&check("腾讯咖啡")).await.unwrap();
    assert!(hit.hit_condition && !hit.wording.is_empty());
    assert_business(&wxa.call(&check("星巴克咖啡")).await.unwrap_err(), 53012);
    assert_business(&wxa.call(&check("我的小程序")).await.unwrap_err(), 53010);

    let set = |name: &str, license: &str| SetNickname {
        nick_name: name.into(),
        license: license.into(),
        ..SetNickname::default()
    };
    assert_business(&wxa.call(&set("星巴克咖啡", "")).await.unwrap_err(), 91007);
    assert_business(&wxa.call(&set("x", "")).await.unwrap_err(), 91004);
    assert_business(&wxa.call(&set("腾讯咖啡", "")).await.unwrap_err(), 91009);
    assert_business(
        &wxa.call(&set("腾讯咖啡", "unknown")).await.unwrap_err(),
        40007,
    );
    let license = upload(&wxa).await;
    let reviewed = wxa.call(&set("腾讯咖啡", &license)).await.unwrap();
    let audit_id = reviewed
        .review()
        .expect("a name with a keyword is reviewed");
    let query = QueryNickname { audit_id };
    let state = wxa.call(&query).await.unwrap();
    assert_eq!(state.audit_stat, NicknameAuditStatus::Checking);
    assert_eq!(state.nickname, "腾讯咖啡");
    // One review at a time.
    assert_business(&wxa.call(&set("街角咖啡", "")).await.unwrap_err(), 91003);
    env.sim
        .decide_nickname(&appid, false, "材料不足以证明")
        .await
        .unwrap();
    let state = wxa.call(&query).await.unwrap();
    assert_eq!(state.audit_stat, NicknameAuditStatus::Rejected);
    assert_eq!(state.fail_reason, "材料不足以证明");
    assert_eq!(state.audit_time, env.clock.now());
    assert_business(
        &wxa.call(&QueryNickname { audit_id: 1 }).await.unwrap_err(),
        91011,
    );

    // A name without a keyword is set at once; that was the year's second change.
    let plain = wxa.call(&set("街角咖啡", "")).await.unwrap();
    assert_eq!(plain.review(), None);
    let basic = wxa.call(&GetAccountBasicInfo {}).await.unwrap();
    assert_eq!(basic.nickname, "街角咖啡");
    assert_eq!(basic.nickname_info.unwrap().modify_used_count, 2);
    assert_business(
        &wxa.call(&set("街角咖啡二店", "")).await.unwrap_err(),
        91010,
    );
    // A new year brings two more.
    advance(&env, 366 * 86_400).await;
    wxa.call(&set("街角咖啡二店", "")).await.unwrap();
}

#[tokio::test]
async fn a_name_review_is_approved_over_simulated_time() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = registered(&env, &mgr, "模拟商户有限公司").await;
    let wxa = mgr.wxa(&appid);
    env.sim.set_setup_timing(SetupTiming {
        nickname_review_secs: Some(86_400),
        ..SetupTiming::default()
    });
    let license = upload(&wxa).await;
    let audit_id = wxa
        .call(&SetNickname {
            nick_name: "腾讯好店".into(),
            license,
            ..SetNickname::default()
        })
        .await
        .unwrap()
        .review()
        .unwrap();
    advance(&env, 86_399).await;
    env.sim.run_setup_timers().await;
    let q = QueryNickname { audit_id };
    assert_eq!(
        wxa.call(&q).await.unwrap().audit_stat,
        NicknameAuditStatus::Checking
    );
    advance(&env, 1).await;
    env.sim.run_setup_timers().await;
    assert_eq!(
        wxa.call(&q).await.unwrap().audit_stat,
        NicknameAuditStatus::Approved
    );
    let basic = wxa.call(&GetAccountBasicInfo {}).await.unwrap();
    assert_eq!(basic.nickname, "腾讯好店");
}

#[tokio::test]
async fn avatar_and_signature_are_set_within_their_limits() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = registered(&env, &mgr, "模拟商户有限公司").await;
    let wxa = mgr.wxa(&appid);

    let media = upload(&wxa).await;
    assert_business(
        &wxa.call(&ModifyHeadImage::whole("not-uploaded"))
            .await
            .unwrap_err(),
        40007,
    );
    let mut crooked = ModifyHeadImage::whole(media.clone());
    crooked.y2 = "0".into();
    assert_business(&wxa.call(&crooked).await.unwrap_err(), 53205);
    for _ in 0..5 {
        wxa.call(&ModifyHeadImage::whole(media.clone()))
            .await
            .unwrap();
    }
    assert_business(
        &wxa.call(&ModifyHeadImage::whole(media.clone()))
            .await
            .unwrap_err(),
        53202,
    );
    let basic = wxa.call(&GetAccountBasicInfo {}).await.unwrap();
    let head = basic.head_image_info.unwrap();
    assert!(head.value.head_image_url.starts_with("http"));
    assert_eq!(head.modify_used_count, 5);
    // Temporary media expire after 3 days.
    advance(&env, 3 * 86_400).await;
    assert_business(
        &wxa.call(&ModifyHeadImage::whole(media)).await.unwrap_err(),
        40007,
    );

    let sig = |s: &str| ModifySignature {
        signature: s.into(),
    };
    assert_business(&wxa.call(&sig("短")).await.unwrap_err(), 53204);
    assert_business(&wxa.call(&sig(&"长".repeat(121))).await.unwrap_err(), 53204);
    assert_business(
        &wxa.call(&sig("提供赌博服务的小店")).await.unwrap_err(),
        53201,
    );
    for i in 0..5 {
        wxa.call(&sig(&format!("街角咖啡，第{i}版简介")))
            .await
            .unwrap();
    }
    assert_business(
        &wxa.call(&sig("街角咖啡，第六版简介")).await.unwrap_err(),
        53200,
    );
    let basic = wxa.call(&GetAccountBasicInfo {}).await.unwrap();
    assert_eq!(
        basic.signature_info.unwrap().value.signature,
        "街角咖啡，第4版简介"
    );
    // A new month.
    advance(&env, 31 * 86_400).await;
    wxa.call(&sig("街角咖啡，第六版简介")).await.unwrap();
}

#[tokio::test]
async fn the_search_status_is_read_and_changed_unless_banned() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    assert_eq!(
        wxa.call(&GetSearchStatus {}).await.unwrap().status,
        SearchStatus::Searchable
    );
    wxa.call(&ChangeSearchStatus {
        status: SearchStatus::Hidden,
    })
    .await
    .unwrap();
    assert_eq!(
        wxa.call(&GetSearchStatus {}).await.unwrap().status,
        SearchStatus::Hidden
    );
    wxa.call(&ChangeSearchStatus {
        status: SearchStatus::Searchable,
    })
    .await
    .unwrap();
    assert_eq!(
        wxa.call(&GetSearchStatus {}).await.unwrap().status,
        SearchStatus::Searchable
    );
    env.sim.set_profile_flags(&appid, false, true);
    assert_business(
        &wxa.call(&ChangeSearchStatus {
            status: SearchStatus::Searchable,
        })
        .await
        .unwrap_err(),
        85083,
    );
    // The basic-information permission set is not needed for it; the profile calls need it.
    let e = wxa.call(&GetAllCategories {}).await.unwrap_err();
    assert_eq!(e.errcode(), Some(61007), "{e}");
    assert_eq!(e.kind(), ErrorKind::PermissionMissing);
}

#[tokio::test]
async fn categories_are_added_reviewed_modified_and_deleted_within_the_cycle() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = registered(&env, &mgr, "模拟商户有限公司").await;
    let wxa = mgr.wxa(&appid);

    let all = wxa.call(&GetAllCategories {}).await.unwrap();
    let tree = &all.categories_list.categories;
    assert!(tree.iter().any(|c| c.id == 0 && !c.children.is_empty()));
    let lawyer = tree.iter().find(|c| c.id == 920).unwrap();
    assert!(lawyer.needs_qualification());
    assert_eq!(lawyer.father, 402);
    let express = tree.iter().find(|c| c.id == 2).unwrap();
    assert!(!express.needs_qualification());

    let choice = |first, second, certs: Vec<Certificate>| AddCategory {
        categories: vec![CategoryChoice {
            first,
            second,
            certificates: certs,
        }],
    };
    // Without a qualification, set at once (and seen by get_category, which audits use).
    wxa.call(&choice(1, 2, vec![])).await.unwrap();
    let set = wxa.call(&GetSettingCategories {}).await.unwrap();
    assert_eq!(set.categories.len(), 1);
    assert_eq!(
        set.categories[0].audit_status,
        CategoryAuditStatus::Approved
    );
    assert_eq!(set.categories[0].second_name, "快递、物流");
    assert_eq!((set.limit, set.quota, set.category_limit), (5, 4, 20));
    let seen = wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    assert_eq!(seen.category_list.len(), 1);

    assert_business(&wxa.call(&choice(1, 2, vec![])).await.unwrap_err(), 53304);
    assert_business(&wxa.call(&choice(8, 2, vec![])).await.unwrap_err(), 53303);
    assert_business(
        &wxa.call(&choice(402, 920, vec![])).await.unwrap_err(),
        53305,
    );
    let bad_media = vec![Certificate {
        key: "律师执业证".into(),
        value: "unknown".into(),
    }];
    assert_business(
        &wxa.call(&choice(402, 920, bad_media)).await.unwrap_err(),
        40007,
    );

    // With a qualification: reviewed, rejected with a reason, modified, approved.
    let cert = |media: &str| {
        vec![Certificate {
            key: "律师执业证".into(),
            value: media.into(),
        }]
    };
    let media = upload(&wxa).await;
    wxa.call(&choice(402, 920, cert(&media))).await.unwrap();
    let status = |set: &SettingCategories| {
        set.categories
            .iter()
            .find(|c| c.second == 920)
            .map(|c| (c.audit_status, c.audit_reason.clone()))
    };
    let set = wxa.call(&GetSettingCategories {}).await.unwrap();
    assert_eq!(
        status(&set),
        Some((CategoryAuditStatus::Checking, String::new()))
    );
    // Under review: not yet a category an audit may use.
    let seen = wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    assert_eq!(seen.category_list.len(), 1);
    env.sim
        .decide_category(&appid, Some((402, 920)), false, "执业证不清晰")
        .await
        .unwrap();
    let set = wxa.call(&GetSettingCategories {}).await.unwrap();
    assert_eq!(
        status(&set),
        Some((CategoryAuditStatus::Rejected, "执业证不清晰".to_owned()))
    );
    assert_business(
        &wxa.call(&ModifyCategory {
            first: 8,
            second: 39,
            certificates: cert(&media),
        })
        .await
        .unwrap_err(),
        53306,
    );
    wxa.call(&ModifyCategory {
        first: 402,
        second: 920,
        certificates: cert(&media),
    })
    .await
    .unwrap();
    env.sim.set_setup_timing(SetupTiming {
        category_review_secs: Some(3600),
        ..SetupTiming::default()
    });
    advance(&env, 3600).await;
    env.sim.run_setup_timers().await;
    let set = wxa.call(&GetSettingCategories {}).await.unwrap();
    assert_eq!(
        status(&set),
        Some((CategoryAuditStatus::Approved, String::new()))
    );
    let seen = wxa.call(&wxopen::wechat::wxa::GetCategory).await.unwrap();
    assert_eq!(seen.category_list.len(), 2);

    wxa.call(&DeleteCategory {
        first: 1,
        second: 2,
    })
    .await
    .unwrap();
    assert_business(
        &wxa.call(&DeleteCategory {
            first: 1,
            second: 2,
        })
        .await
        .unwrap_err(),
        53303,
    );
    // Five additions per cycle: two were spent.
    wxa.call(&choice(1, 2, vec![])).await.unwrap();
    wxa.call(&choice(150, 666, vec![])).await.unwrap();
    wxa.call(&DeleteCategory {
        first: 1,
        second: 2,
    })
    .await
    .unwrap();
    wxa.call(&choice(1, 2, vec![])).await.unwrap();
    assert_eq!(wxa.call(&GetSettingCategories {}).await.unwrap().quota, 0);
    assert_business(
        &wxa.call(&choice(8, 39, cert(&media))).await.unwrap_err(),
        53300,
    );
}

#[tokio::test]
async fn a_server_domain_outside_the_platforms_list_is_refused_with_85301_when_asked() {
    use wxopen::wechat::component::ModifyWxaServerDomain;
    use wxopen::wechat::wxa::{DomainAction, ModifyDomain, ServerDomains};
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    mgr.component()
        .call(&ModifyWxaServerDomain {
            action: DomainAction::Set,
            wxa_server_domain: Some("api.shop.com".into()),
            is_modify_published_together: Some(true),
        })
        .await
        .unwrap();
    let foreign = || ModifyDomain {
        action: DomainAction::Add,
        domains: Some(ServerDomains {
            requestdomain: vec!["https://other.com".into()],
            ..ServerDomains::default()
        }),
    };
    let wxa = mgr.wxa(&appid);
    assert_business(&wxa.call(&foreign()).await.unwrap_err(), 85017);
    env.sim.set_server_domain_refusal(85301);
    assert_business(&wxa.call(&foreign()).await.unwrap_err(), 85301);
}
