//! ICP filing in the simulator: its pushes (to the authorization-event URL by default, to the
//! message URL when asked), its `/_sim` controls over HTTP, permission sets and methods.

mod common;

use common::*;
use secrecy::SecretString;
use serde_json::{json, Value};
use wxopen::domain::AppId;
use wxopen::wechat::icp::{IcpMediaType, UploadIcpMedia};
use wxopen::wechat::{ClientConfig, WechatClient};

struct App {
    env: Env,
    appid: AppId,
    token: String,
}

impl App {
    async fn start(func_info: &[u32]) -> App {
        let env = Env::start().await;
        let ctoken = env.component_token().await;
        let (appid, token, _) = env.authorized_app(&ctoken, func_info).await;
        App { env, appid, token }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.env.post(path, Some(&self.token), body).await
    }

    async fn control(&self, path: &str, body: Value) -> reqwest::Response {
        self.env
            .http
            .post(self.env.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn upload(&self, field: &str, certificate_type: i64) -> String {
        let client =
            WechatClient::new(ClientConfig::with_base_url(self.env.sim.base_url())).unwrap();
        let token = SecretString::from(self.token.clone());
        client
            .call(
                Some(&token),
                &UploadIcpMedia {
                    media_type: IcpMediaType::Image,
                    certificate_type: Some(certificate_type),
                    icp_order_field: field.into(),
                    filename: "a.jpg".into(),
                    content_type: "image/jpeg".into(),
                    bytes: vec![0xff, 0xd8, 0xff],
                },
            )
            .await
            .unwrap()
            .media_id
    }

    /// A face check finished through `/_sim`, media uploaded, and the application sent.
    async fn apply(&self) -> Value {
        let task = self.post("/wxa/icp/create_icp_verifytask", json!({})).await;
        let task = task["task_id"].as_str().unwrap().to_owned();
        let r = self
            .control(
                &format!("/_sim/apps/{}/icp/face", self.appid),
                json!({"task_id": task, "success": true}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let licence = self
            .upload("icp_subject.organize_info.certificate_photo", 1)
            .await;
        let front = self
            .upload("icp_subject.principal_info.certificate_photo_front", 2)
            .await;
        let back = self
            .upload("icp_subject.principal_info.certificate_photo_back", 2)
            .await;
        let person = |task: &str| {
            json!({
                "name": "张三", "mobile": "13800138000", "email": "a@example.com",
                "emergency_contact": "13900139000", "certificate_type": 2,
                "certificate_number": "110101199001011234",
                "certificate_validity_date_start": "2019-06-06",
                "certificate_validity_date_end": "2039-06-06",
                "certificate_photo_front": front, "certificate_photo_back": back,
                "verify_task_id": task,
            })
        };
        self.post(
            "/wxa/icp/apply_icp_filing",
            json!({
                "icp_subject": {
                    "base_info": {"type": 4, "name": "模拟商户有限公司", "province": "440000",
                                  "city": "440300", "district": "440305", "address": "科技园1号"},
                    "organize_info": {"certificate_type": 1, "certificate_number": "91440300MA5G000000",
                                      "certificate_address": "深圳市南山区科技园1号",
                                      "certificate_photo": licence},
                    "principal_info": person(""),
                },
                "icp_applets": {
                    "base_info": {"appid": self.appid, "name": "模拟小程序", "service_content_types": [2]},
                    "principal_info": person(&task),
                },
                "icp_materials": {},
            }),
        )
        .await
    }

    /// The decrypted pushes received on `path`.
    fn pushes_on(&self, path: &str) -> Vec<String> {
        self.env
            .recv
            .on_path(path)
            .iter()
            .map(|r| open(&self.env.crypt, r))
            .collect()
    }
}

#[tokio::test]
async fn face_check_and_filing_results_are_pushed_to_the_authorization_event_url() {
    let app = App::start(&[17, 18]).await;
    let v = app.apply().await;
    assert_eq!(errcode(&v), 0, "{v}");
    let face: Vec<String> = app
        .pushes_on("/component")
        .into_iter()
        .filter(|p| p.contains("notify_icpfiling_verify_result"))
        .collect();
    assert_eq!(face.len(), 1, "{face:?}");
    assert!(face[0].contains("<InfoType><![CDATA[notify_icpfiling_verify_result]]></InfoType>"));
    assert!(face[0].contains(&format!(
        "<verify_appid><![CDATA[{}]]></verify_appid>",
        app.appid
    )));
    assert!(face[0].contains("<result>3</result>"), "{}", face[0]);

    let r = app
        .control(
            &format!("/_sim/apps/{}/icp/decide", app.appid),
            json!({"outcome": "reject", "reasons": [{"key_name": "主体名称", "error": "与证件不符", "suggest": "请核对"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let filing: Vec<String> = app
        .pushes_on("/component")
        .into_iter()
        .filter(|p| p.contains("notify_apply_icpfiling_result"))
        .collect();
    assert_eq!(filing.len(), 1, "{filing:?}");
    assert!(filing[0].contains(&format!(
        "<authorizer_appid><![CDATA[{}]]></authorizer_appid><beian_status>3</beian_status>",
        app.appid
    )));
    assert!(app.pushes_on(&format!("/apps/{}", app.appid)).is_empty());
    let info = app
        .env
        .get("/wxa/icp/get_icp_entrance_info", Some(&app.token))
        .await;
    assert_eq!(info["info"]["status"], 3);
    assert_eq!(info["info"]["audit_data"][0]["key_name"], "主体名称");
    assert_eq!(info["info"]["audit_data"][0]["suggest"], "请核对");
}

#[tokio::test]
async fn pushes_go_to_the_message_url_when_configured_and_sims_controls_walk_the_filing() {
    let app = App::start(&[17, 18]).await;
    let r = app
        .control("/_sim/icp/config", json!({"push_target": "message"}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(errcode(&app.apply().await), 0);
    let base = format!("/_sim/apps/{}/icp", app.appid);
    // Nothing to answer yet: the SMS check starts with the administration's review.
    let r = app
        .control(&format!("{base}/sms"), json!({"outcome": "done"}))
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .control(&format!("{base}/decide"), json!({"outcome": "approve"}))
        .await;
    assert_eq!(r.status(), 200);
    // The administration does not approve before the SMS check is done.
    let r = app
        .control(&format!("{base}/decide"), json!({"outcome": "approve"}))
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .control(&format!("{base}/sms"), json!({"outcome": "done"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .control(&format!("{base}/decide"), json!({"outcome": "approve"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .control(&format!("{base}/decide"), json!({"outcome": "maybe"}))
        .await;
    assert_eq!(r.status(), 400);

    let pushes = app.pushes_on(&format!("/apps/{}", app.appid));
    let statuses: Vec<&str> = pushes
        .iter()
        .filter(|p| p.contains("<Event><![CDATA[notify_apply_icpfiling_result]]></Event>"))
        .filter_map(|p| p.split("<beian_status>").nth(1))
        .filter_map(|s| s.split('<').next())
        .collect();
    assert_eq!(statuses, ["4", "6"]);
    assert!(pushes
        .iter()
        .any(|p| p.contains("<Event><![CDATA[notify_icpfiling_verify_result]]></Event>")));
    assert!(app
        .pushes_on("/component")
        .iter()
        .all(|p| !p.contains("icpfiling")));

    let snapshot: Value = app
        .env
        .http
        .get(app.env.url(&base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["status"], 6);
    assert_eq!(snapshot["app"]["applications"], 1);
    let order = app
        .env
        .get("/wxa/icp/get_online_icp_order", Some(&app.token))
        .await;
    assert_eq!(
        order["icp_applets"][0]["base_info"]["appid"],
        app.appid.as_str()
    );
    assert!(order["icp_applets"][0]["base_info"]["record_number"]
        .as_str()
        .is_some_and(|r| r.contains("ICP备")));
}

#[tokio::test]
async fn filing_takes_permission_set_18_or_156_and_the_documented_methods() {
    let only_156 = App::start(&[17, 156]).await;
    let v = only_156
        .env
        .get("/wxa/icp/get_icp_entrance_info", Some(&only_156.token))
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["info"]["status"], 1024);
    // The combined verification + filing is permission set 18 only.
    let v = only_156
        .post("/wxa/sec/query_auth_and_icp", json!({"procedure_id": "x"}))
        .await;
    assert_eq!(errcode(&v), 61007);

    let neither = App::start(&[17]).await;
    let v = neither
        .env
        .get("/wxa/icp/get_icp_entrance_info", Some(&neither.token))
        .await;
    assert_eq!(errcode(&v), 61007);

    let v = only_156
        .env
        .get("/wxa/icp/apply_icp_filing", Some(&only_156.token))
        .await;
    assert_eq!(errcode(&v), 43002);
    let v = only_156
        .post("/wxa/icp/query_icp_district_code", json!({}))
        .await;
    assert_eq!(errcode(&v), 43001);
    let v = only_156
        .env
        .post_raw(
            "/wxa/icp/apply_icp_filing",
            Some(&only_156.token),
            "{".into(),
        )
        .await;
    assert_eq!(errcode(&v), 47001);
    let v = only_156
        .post("/wxa/icp/query_icp_verifytask", json!({}))
        .await;
    assert_eq!(errcode(&v), 41001);
}
