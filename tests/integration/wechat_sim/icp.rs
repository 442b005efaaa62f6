//! ICP filing (小程序备案) through the client against the simulator: the status walk over
//! simulated time, rejection with field-level reasons, the administration's SMS check,
//! cancellation, a lost apply_icp_filing answer, refusals of bad input, and the combined
//! verification + filing flow.

use super::*;
use wechat_sim::{AuthDecision, Fault, IcpDecision, IcpReason, IcpTiming, SmsOutcome};
use wxopen::wechat::endpoint::Endpoint;
use wxopen::wechat::icp::*;
use wxopen::wechat::{WechatError, WxaApi};

const APPLY: &str = <ApplyIcpFiling as Endpoint>::PATH;

async fn upload(wxa: &WxaApi<'_>, field: &str, certificate_type: Option<i64>) -> String {
    wxa.call(&UploadIcpMedia {
        media_type: IcpMediaType::Image,
        certificate_type,
        icp_order_field: field.to_owned(),
        filename: "photo.jpg".into(),
        content_type: "image/jpeg".into(),
        bytes: vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3],
    })
    .await
    .unwrap()
    .media_id
}

fn person(front: &str, back: &str, task: &str) -> PrincipalInfo {
    PrincipalInfo {
        name: Personal::new("张三"),
        mobile: Personal::new("13800138000"),
        email: Personal::new("zhangsan@example.com"),
        emergency_contact: Personal::new("13900139000"),
        certificate_type: 2,
        certificate_number: Personal::new("110101199001011234"),
        certificate_validity_date_start: "2019-06-06".into(),
        certificate_validity_date_end: "2039-06-06".into(),
        certificate_photo_front: front.into(),
        certificate_photo_back: back.into(),
        verify_task_id: task.into(),
        ..PrincipalInfo::default()
    }
}

/// Media uploaded and a finished face check: a valid application for `appid`.
async fn application(env: &Env, wxa: &WxaApi<'_>, appid: &AppId) -> ApplyIcpFiling {
    let licence = upload(wxa, "icp_subject.organize_info.certificate_photo", Some(1)).await;
    let front = upload(
        wxa,
        "icp_subject.principal_info.certificate_photo_front",
        Some(2),
    )
    .await;
    let back = upload(
        wxa,
        "icp_subject.principal_info.certificate_photo_back",
        Some(2),
    )
    .await;
    let task = wxa
        .call(&CreateIcpVerifyTask::default())
        .await
        .unwrap()
        .task_id;
    env.sim
        .finish_face_check(appid, Some(&task), true)
        .await
        .unwrap();
    ApplyIcpFiling {
        icp_subject: IcpSubject {
            base_info: SubjectBaseInfo {
                subject_type: 4,
                name: Personal::new("模拟商户有限公司"),
                province: "110000".into(),
                city: "110100".into(),
                district: "110105".into(),
                address: Personal::new("高碑店路181号1栋12345室"),
                comment: String::new(),
            },
            organize_info: OrganizeInfo {
                certificate_type: 1,
                certificate_number: Personal::new("91110105MA00000000"),
                certificate_address: Personal::new("北京市朝阳区高碑店路181号"),
                certificate_photo: licence,
            },
            principal_info: person(&front, &back, ""),
            ..IcpSubject::default()
        },
        icp_applets: IcpApplets {
            base_info: AppletBaseInfo {
                appid: appid.to_string(),
                name: "模拟小程序".into(),
                service_content_types: vec![1],
                ..AppletBaseInfo::default()
            },
            principal_info: person(&front, &back, &task),
        },
        icp_materials: IcpMaterials::default(),
    }
}

async fn entrance(wxa: &WxaApi<'_>) -> IcpEntrance {
    wxa.call(&GetIcpEntranceInfo::default()).await.unwrap().info
}

fn reason(key: &str) -> IcpReason {
    IcpReason {
        key_name: key.into(),
        error: format!("{key}不清晰"),
        suggest: "请重新上传".into(),
    }
}

fn assert_accepted(a: IcpApplied) {
    assert!(matches!(a, IcpApplied::Accepted { .. }), "{a:?}");
}

#[tokio::test]
async fn a_filing_walks_platform_review_sms_check_and_administration_to_its_record_number() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);

    let info = entrance(&wxa).await;
    assert_eq!(info.status, IcpStatus::NotFiled(NotFiledBecause::default()));
    assert!(info.entrance_open());
    // The reference tables an application is checked against.
    let districts = wxa.call(&QueryIcpDistrictCode::default()).await.unwrap();
    assert!(districts.contains("110000", "110100", "110105"));
    assert!(!districts.contains("110000", "440300", "110105"));
    let services = wxa
        .call(&QueryIcpServiceContentTypes::default())
        .await
        .unwrap();
    assert!(services
        .items
        .iter()
        .any(|t| t.id == 1 && t.parent_type == Some(500)));
    let certificates = wxa
        .call(&QueryIcpCertificateTypes::default())
        .await
        .unwrap();
    assert!(certificates
        .items
        .iter()
        .any(|t| t.id == 2 && t.subject_type == Some(5)));
    for table in [
        wxa.call(&QueryIcpSubjectTypes::default()).await.unwrap(),
        wxa.call(&QueryIcpNrlxTypes::default()).await.unwrap(),
    ] {
        assert!(!table.items.is_empty());
    }

    // The face check is a task that finishes when the administrator does it.
    let task = wxa.call(&CreateIcpVerifyTask::default()).await.unwrap();
    assert_eq!(task.verify_url, None);
    let state = wxa
        .call(&QueryIcpVerifyTask {
            task_id: task.task_id.clone(),
        })
        .await
        .unwrap();
    assert!(!state.is_finish);
    assert_eq!(state.face_status, FaceStatus::NotStarted);
    env.sim
        .finish_face_check(&appid, Some(&task.task_id), true)
        .await
        .unwrap();
    let state = wxa
        .call(&QueryIcpVerifyTask {
            task_id: task.task_id,
        })
        .await
        .unwrap();
    assert!(state.is_finish);
    assert_eq!(state.face_status, FaceStatus::Succeeded);

    // Platform review passes on its own after an hour, administration an hour after the SMS
    // (days at WeChat; hours keep the test's ticket fresh).
    env.sim.set_icp_timing(IcpTiming {
        platform_review_secs: Some(3_600),
        administration_review_secs: Some(3_600),
        sms_timeout_secs: None,
    });
    let req = application(&env, &wxa, &appid).await;
    assert_accepted(wxa.call(&req).await.unwrap());
    assert_eq!(entrance(&wxa).await.status, IcpStatus::PlatformReview);
    env.clock.advance(3_599);
    env.sim.run_icp_timers().await;
    assert_eq!(entrance(&wxa).await.status, IcpStatus::PlatformReview);
    env.clock.advance(1);
    env.sim.run_icp_timers().await;
    let info = entrance(&wxa).await;
    assert_eq!(info.status, IcpStatus::AdministrationReview);
    assert_eq!(info.sms_verify_status, Some(SmsVerifyStatus::Waiting));
    // No SMS answer, no approval however long the administration waits.
    env.clock.advance(2 * 3_600);
    env.sim.run_icp_timers().await;
    assert_eq!(entrance(&wxa).await.status, IcpStatus::AdministrationReview);

    env.sim.icp_sms(&appid, SmsOutcome::Done).unwrap();
    assert_eq!(
        entrance(&wxa).await.sms_verify_status,
        Some(SmsVerifyStatus::Done)
    );
    env.clock.advance(3_599);
    env.sim.run_icp_timers().await;
    assert_eq!(entrance(&wxa).await.status, IcpStatus::AdministrationReview);
    env.clock.advance(1);
    env.sim.run_icp_timers().await;
    let info = entrance(&wxa).await;
    assert_eq!(info.status, IcpStatus::Filed);
    assert!(info.audit_data.is_empty());
    let order = wxa.call(&GetOnlineIcpOrder::default()).await.unwrap();
    let record = order.applet_record_number().expect("a record number");
    assert!(record.contains("ICP备"), "{record}");
}

#[tokio::test]
async fn rejections_carry_field_reasons_and_a_resubmission_starts_over() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);

    let req = application(&env, &wxa, &appid).await;
    assert_accepted(wxa.call(&req).await.unwrap());
    env.sim
        .decide_icp(
            &appid,
            IcpDecision::Reject {
                reasons: vec![reason("主体负责人证件照")],
            },
        )
        .await
        .unwrap();
    let info = entrance(&wxa).await;
    assert_eq!(info.status, IcpStatus::PlatformRejected);
    assert_eq!(info.audit_data.len(), 1);
    assert_eq!(info.audit_data[0].key_name, "主体负责人证件照");
    assert_eq!(info.audit_data[0].suggest, "请重新上传");

    // Resubmitted (a fresh face check), then rejected by the administration.
    let req = application(&env, &wxa, &appid).await;
    assert_accepted(wxa.call(&req).await.unwrap());
    let info = entrance(&wxa).await;
    assert_eq!(info.status, IcpStatus::PlatformReview);
    assert!(info.audit_data.is_empty());
    env.sim
        .decide_icp(&appid, IcpDecision::Approve)
        .await
        .unwrap();
    env.sim
        .decide_icp(
            &appid,
            IcpDecision::Reject {
                reasons: vec![reason("小程序名称"), reason("服务内容")],
            },
        )
        .await
        .unwrap();
    let info = entrance(&wxa).await;
    assert_eq!(info.status, IcpStatus::AdministrationRejected);
    let keys: Vec<&str> = info
        .audit_data
        .iter()
        .map(|r| r.key_name.as_str())
        .collect();
    assert_eq!(keys, ["小程序名称", "服务内容"]);
    assert_eq!(info.sms_verify_status, None);
}

#[tokio::test]
async fn an_unanswered_sms_check_times_out_and_blocks_approval() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    env.sim.set_icp_timing(IcpTiming {
        sms_timeout_secs: Some(3_600),
        ..IcpTiming::default()
    });
    let req = application(&env, &wxa, &appid).await;
    assert_accepted(wxa.call(&req).await.unwrap());
    env.sim
        .decide_icp(&appid, IcpDecision::Approve)
        .await
        .unwrap();
    env.clock.advance(3_599);
    env.sim.run_icp_timers().await;
    assert_eq!(
        entrance(&wxa).await.sms_verify_status,
        Some(SmsVerifyStatus::Waiting)
    );
    env.clock.advance(1);
    env.sim.run_icp_timers().await;
    let info = entrance(&wxa).await;
    assert_eq!(info.status, IcpStatus::AdministrationReview);
    assert_eq!(info.sms_verify_status, Some(SmsVerifyStatus::TimedOut));
    assert!(env
        .sim
        .decide_icp(&appid, IcpDecision::Approve)
        .await
        .is_err());
}

#[tokio::test]
async fn an_application_is_withdrawn_only_while_the_platform_reviews_it() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);
    let cancel = CancelApplyIcpFiling::default();
    let cancel = || wxa.call(&cancel);

    assert_eq!(cancel().await.unwrap_err().errcode(), Some(86368));
    let req = application(&env, &wxa, &appid).await;
    assert_accepted(wxa.call(&req).await.unwrap());
    cancel().await.unwrap();
    assert_eq!(
        entrance(&wxa).await.status,
        IcpStatus::NotFiled(NotFiledBecause::default())
    );
    let req = application(&env, &wxa, &appid).await;
    assert_accepted(wxa.call(&req).await.unwrap());
    env.sim
        .decide_icp(&appid, IcpDecision::Approve)
        .await
        .unwrap();
    assert_eq!(cancel().await.unwrap_err().errcode(), Some(86330));
    assert_eq!(entrance(&wxa).await.status, IcpStatus::AdministrationReview);
}

#[tokio::test]
async fn a_lost_apply_answer_is_settled_from_the_status_and_never_applied_twice() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let req = application(&env, &mgr.wxa(&appid), &appid).await;

    let impatient = env.manager_with(
        WechatClient::new(ClientConfig {
            timeout: Duration::from_millis(400),
            ..env.client_config()
        })
        .unwrap(),
    );
    env.sim.set_fault(Fault {
        endpoint: Some(APPLY.to_owned()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    let err = impatient.wxa(&appid).call(&req).await.unwrap_err();
    assert!(matches!(err, WechatError::Transport { .. }), "{err:?}");
    // Sent once: the call is not repeated after an answer that may have been lost.
    assert_eq!(env.calls(APPLY), 1);
    // WeChat has it: the status says so, and a deliberate second application is refused.
    let wxa = mgr.wxa(&appid);
    assert_eq!(entrance(&wxa).await.status, IcpStatus::PlatformReview);
    assert_eq!(env.sim.icp(&appid).app.applications, 1);
    let again = wxa.call(&req).await.unwrap_err();
    assert_eq!(again.errcode(), Some(86324));
    assert_eq!(env.sim.icp(&appid).app.applications, 1);
}

#[tokio::test]
async fn bad_input_is_refused_field_by_field_and_changes_nothing() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);

    let mut req = application(&env, &wxa, &appid).await;
    req.icp_subject.organize_info.certificate_photo = "no-such-media".into();
    req.icp_subject.base_info.district = "440305".into();
    req.icp_applets.base_info.appid = "wx0000000000000000".into();
    req.icp_applets.base_info.service_content_types = vec![500];
    req.icp_applets.principal_info.mobile = Personal::new("12345");
    let unfinished = wxa
        .call(&CreateIcpVerifyTask::default())
        .await
        .unwrap()
        .task_id;
    req.icp_applets.principal_info.verify_task_id = unfinished;
    let IcpApplied::Refused { errcode, hints, .. } = wxa.call(&req).await.unwrap() else {
        panic!("bad fields are refused");
    };
    assert_eq!(errcode, 86202);
    let fields: Vec<&str> = hints.iter().map(|h| h.err_field.as_str()).collect();
    for f in [
        "icp_subject.organize_info.certificate_photo",
        "icp_subject.base_info.district",
        "icp_applets.base_info.appid",
        "icp_applets.base_info.service_content_types",
        "icp_applets.principal_info.mobile",
        "icp_applets.principal_info.verify_task_id",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    assert_eq!(hints.len(), 6, "{fields:?}");
    let photo = hints
        .iter()
        .find(|h| h.err_field == "icp_subject.organize_info.certificate_photo")
        .unwrap();
    assert_eq!(photo.errcode, 86328, "an unknown media_id is 无法找到资源");
    assert_eq!(
        entrance(&wxa).await.status,
        IcpStatus::NotFiled(NotFiledBecause::default())
    );
    assert_eq!(env.sim.icp(&appid).app.applications, 0);

    // Other refusals are errors: an unknown face-check task, a certificate photo without its
    // certificate type, a closed entrance.
    let unknown = wxa
        .call(&QueryIcpVerifyTask {
            task_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.errcode(), Some(86328));
    let no_type = wxa
        .call(&UploadIcpMedia {
            media_type: IcpMediaType::Image,
            certificate_type: None,
            icp_order_field: "icp_subject.principal_info.certificate_photo_front".into(),
            filename: "a.jpg".into(),
            content_type: "image/jpeg".into(),
            bytes: vec![1, 2, 3],
        })
        .await
        .unwrap_err();
    assert_eq!(no_type.errcode(), Some(40097));
    env.sim.set_icp_entrance(&appid, 1029, false);
    let info = entrance(&wxa).await;
    assert_eq!(
        info.status,
        IcpStatus::NotFiled(NotFiledBecause {
            info_missing: true,
            category_missing: false,
            not_verified: true,
        })
    );
    assert!(!info.entrance_open());
    let req = application(&env, &wxa, &appid).await;
    assert_eq!(wxa.call(&req).await.unwrap_err().errcode(), Some(86202));
    assert_eq!(env.sim.icp(&appid).app.applications, 0);
}

#[tokio::test]
async fn the_combined_verification_and_filing_reports_its_procedure_status() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    let wxa = mgr.wxa(&appid);

    let task = wxa
        .call(&CreateIcpVerifyTask {
            along_with_auth: true,
        })
        .await
        .unwrap();
    assert!(task.verify_url.is_some());
    env.sim
        .finish_face_check(&appid, Some(&task.task_id), true)
        .await
        .unwrap();
    let state = wxa
        .call(&QueryIcpVerifyTask {
            task_id: task.task_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(state.along_with_auth_result, Some(9));

    let mut filing = application(&env, &wxa, &appid).await;
    filing.icp_applets.principal_info.verify_task_id = String::new();
    let submit = SubmitAuthAndIcp {
        auth_data: AuthData {
            customer_type: 1,
            taskid: task.task_id,
            contact_info: ContactInfo {
                name: Personal::new("张三"),
                email: Personal::new("zhangsan@example.com"),
            },
            account_name: "模拟小程序".into(),
            account_name_type: 1,
            pay_type: 2,
            ..AuthData::default()
        },
        icp_subject: filing.icp_subject,
        icp_applets: filing.icp_applets,
        icp_materials: filing.icp_materials,
    };
    let IcpApplied::Accepted {
        procedure_id: Some(procedure_id),
        pay_url,
    } = wxa.call(&submit).await.unwrap()
    else {
        panic!("accepted with a procedure id");
    };
    assert!(pay_url.is_some(), "the merchant pays: a pay_url");
    let query = QueryAuthAndIcp { procedure_id };
    let progress = || wxa.call(&query);
    env.sim.decide_auth(&appid, AuthDecision::Approve).unwrap();
    assert_eq!(entrance(&wxa).await.status, IcpStatus::PlatformReview);
    env.sim
        .decide_icp(&appid, IcpDecision::Approve)
        .await
        .unwrap();
    let p = progress().await.unwrap();
    assert_eq!(p.procedure_status, ProcedureStatus::IcpAdministrationReview);
    assert_eq!(
        p.icp_audit.unwrap().sms_verify_status,
        Some(SmsVerifyStatus::Waiting)
    );
    env.sim
        .decide_icp(
            &appid,
            IcpDecision::Reject {
                reasons: vec![reason("小程序名称")],
            },
        )
        .await
        .unwrap();
    let p = progress().await.unwrap();
    assert_eq!(
        p.procedure_status,
        ProcedureStatus::IcpAdministrationRejected
    );
    assert_eq!(p.icp_audit.unwrap().audit_data[0].key_name, "小程序名称");
    let unknown = wxa
        .call(&QueryAuthAndIcp {
            procedure_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.errcode(), Some(86328));
}
