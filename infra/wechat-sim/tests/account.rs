//! Account setup in the simulator: the registration results as pushed to the authorization-event
//! URL (read back with wxopen's own event parser), the name and category review results at the
//! message URL, the confirmations over the sim clock, and the `/_sim` controls over HTTP.

mod common;

use common::*;
use secrecy::SecretString;
use serde_json::{json, Value};
use wxopen::domain::AppId;
use wxopen::events::ComponentEvent;
use wxopen::wechat::account::{TempMediaType, UploadTempMedia};
use wxopen::wechat::{ClientConfig, WechatClient};

fn enterprise() -> Value {
    json!({
        "name": "模拟商户有限公司",
        "code": "91110105MA00000000",
        "code_type": 1,
        "legal_persona_wechat": "legal_wx_001",
        "legal_persona_name": "张三",
        "component_phone": "13800138000",
    })
}

struct Setup {
    env: Env,
    ctoken: String,
}

impl Setup {
    async fn start() -> Setup {
        let env = Env::start().await;
        let ctoken = env.component_token().await;
        Setup { env, ctoken }
    }

    async fn component(&self, path: &str, body: Value) -> Value {
        self.env.post(path, Some(&self.ctoken), body).await
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

    async fn registrations(&self) -> Value {
        self.env
            .http
            .get(self.env.url("/_sim/registrations"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn pushes_on(&self, path: &str) -> Vec<String> {
        self.env
            .recv
            .on_path(path)
            .iter()
            .map(|r| open(&self.env.crypt, r))
            .collect()
    }

    /// A mini program registered through the API (confirmed via `/_sim`), with an authorizer
    /// token.
    async fn registered_app(&self) -> (AppId, String) {
        let v = self
            .component(
                "/cgi-bin/component/fastregisterweapp?action=create",
                enterprise(),
            )
            .await;
        assert_eq!(errcode(&v), 0, "{v}");
        let id = self.registrations().await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = self
            .control(
                &format!("/_sim/registrations/{id}/decide"),
                json!({"outcome": "confirm"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let r: Value = r.json().await.unwrap();
        let appid = AppId::parse(r["appid"].as_str().unwrap()).unwrap();
        let code = self
            .env
            .component_events()
            .into_iter()
            .find_map(|e| match e {
                ComponentEvent::FastRegister(f) => f.auth_code,
                _ => None,
            })
            .unwrap();
        use secrecy::ExposeSecret;
        let v = self
            .component(
                "/cgi-bin/component/api_query_auth",
                json!({"component_appid": self.env.appid(), "authorization_code": code.expose_secret()}),
            )
            .await;
        assert_eq!(errcode(&v), 0, "{v}");
        let token = v["authorization_info"]["authorizer_access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        (appid, token)
    }
}

#[tokio::test]
async fn a_confirmed_enterprise_registration_pushes_its_result_with_the_applicants_info() {
    let s = Setup::start().await;
    let (appid, token) = s.registered_app().await;
    let events: Vec<_> = s
        .env
        .component_events()
        .into_iter()
        .filter_map(|e| match e {
            ComponentEvent::FastRegister(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 1);
    let f = &events[0];
    assert!(f.succeeded());
    assert_eq!(f.appid.as_ref(), Some(&appid));
    assert_eq!(f.msg, "OK");
    assert_eq!(f.info.name, "模拟商户有限公司");
    assert_eq!(f.info.code_type, Some(1));
    assert_eq!(f.info.legal_persona_wechat, "legal_wx_001");
    // Authorized with the basic-information set: the profile calls work at once.
    let v = s
        .env
        .post(
            "/cgi-bin/account/getaccountbasicinfo",
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["appid"], appid.as_str());
    // The registration's state in /_sim.
    let regs = s.registrations().await;
    assert_eq!(regs[0]["stage"]["stage"], "succeeded");
    assert_eq!(regs[0]["stage"]["appid"], appid.as_str());
    // Decided once only.
    let id = regs[0]["id"].as_str().unwrap();
    let r = s
        .control(
            &format!("/_sim/registrations/{id}/decide"),
            json!({"outcome": "confirm"}),
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_failed_registration_pushes_its_status_and_reason_and_no_app() {
    let s = Setup::start().await;
    let v = s
        .component(
            "/cgi-bin/component/fastregisterweapp?action=create",
            enterprise(),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let id = s.registrations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .control(
            &format!("/_sim/registrations/{id}/decide"),
            json!({"outcome": "fail", "reason": "法人姓名与微信号不一致", "status": 61070}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let pushed = s.pushes_on("/component");
    let result = pushed
        .iter()
        .find(|p| p.contains("notify_third_fasteregister"))
        .unwrap();
    assert!(result.contains("<status>61070</status>"), "{result}");
    assert!(result.contains("法人姓名与微信号不一致"));
    assert!(!result.contains("<appid>") && !result.contains("<auth_code>"));
    let f = s
        .env
        .component_events()
        .into_iter()
        .find_map(|e| match e {
            ComponentEvent::FastRegister(f) => Some(f),
            _ => None,
        })
        .unwrap();
    assert!(!f.succeeded());
    assert_eq!(f.appid, None);
}

#[tokio::test]
async fn registrations_are_confirmed_on_the_sim_clock_when_configured() {
    let s = Setup::start().await;
    let r = s
        .control("/_sim/account_setup/config", json!({"confirm_secs": 600}))
        .await;
    assert_eq!(r.status(), 200);
    let v = s
        .component(
            "/wxa/component/fastregisterpersonalweapp?action=create",
            json!({"idname": "李四", "wxuser": "lisi_wx_002"}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let taskid = v["taskid"].as_str().unwrap().to_owned();
    s.env.clock.advance(599);
    s.env.sim.run_setup_timers().await;
    assert!(s
        .pushes_on("/component")
        .iter()
        .all(|p| !p.contains("fasteregister")));
    s.env.clock.advance(1);
    s.env.sim.run_setup_timers().await;
    let pushed: Vec<String> = s
        .pushes_on("/component")
        .into_iter()
        .filter(|p| p.contains("notify_third_fasteregister"))
        .collect();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    // The personal registration's <info> carries the user's fields.
    assert!(
        pushed[0].contains("<wxuser><![CDATA[lisi_wx_002]]></wxuser>"),
        "{}",
        pushed[0]
    );
    assert!(pushed[0].contains("<status>0</status>"));
    let v = s
        .component(
            "/wxa/component/fastregisterpersonalweapp?action=query",
            json!({"taskid": taskid}),
        )
        .await;
    assert_eq!(v["status"], 12, "{v}");
    // Bad configuration is refused and changes nothing.
    let r = s
        .control("/_sim/account_setup/config", json!({"confirm_secs": -1}))
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_trial_registration_pushes_its_own_info_type() {
    let s = Setup::start().await;
    let v = s
        .component(
            "/wxa/component/fastregisterbetaweapp",
            json!({"name": "街角咖啡", "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let unique_id = v["unique_id"].as_str().unwrap().to_owned();
    let id = s.registrations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.control(
        &format!("/_sim/registrations/{id}/decide"),
        json!({"outcome": "confirm"}),
    )
    .await;
    let pushed = s.pushes_on("/component");
    let beta = pushed
        .iter()
        .find(|p| p.contains("<InfoType><![CDATA[notify_third_fastregisterbetaapp]]></InfoType>"))
        .unwrap();
    assert!(beta.contains(&format!("<unique_id><![CDATA[{unique_id}]]></unique_id>")));
    assert!(beta.contains("<auth_code>"));
}

#[tokio::test]
async fn name_and_category_reviews_are_pushed_to_the_message_url() {
    let s = Setup::start().await;
    let (appid, token) = s.registered_app().await;
    let on_app = format!("/apps/{appid}");

    // A name with a keyword, with a licence: reviewed, then rejected with a reason.
    let client = WechatClient::new(ClientConfig::with_base_url(s.env.sim.base_url())).unwrap();
    let uploaded = client
        .call(
            Some(&SecretString::from(token.clone())),
            &UploadTempMedia {
                media_type: TempMediaType::Image,
                filename: "a.png".into(),
                content_type: "image/png".into(),
                bytes: vec![1, 2, 3],
            },
        )
        .await
        .unwrap();
    assert_eq!(uploaded.media_type, TempMediaType::Image);
    let media = uploaded.media_id;
    let v = s
        .env
        .post(
            "/wxa/setnickname",
            Some(&token),
            json!({"nick_name": "腾讯咖啡", "license": media}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert!(v["audit_id"].as_u64().unwrap() > 0);
    let r = s
        .control(
            &format!("/_sim/apps/{appid}/nickname/decide"),
            json!({"approve": false, "reason": "材料不足"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let name = s
        .pushes_on(&on_app)
        .into_iter()
        .find(|p| p.contains("wxa_nickname_audit"))
        .unwrap();
    assert!(
        name.contains("<Event><![CDATA[wxa_nickname_audit]]></Event>"),
        "{name}"
    );
    assert!(name.contains("<ret>2</ret>"));
    assert!(name.contains("<nickname><![CDATA[腾讯咖啡]]></nickname>"));
    assert!(name.contains("<reason><![CDATA[材料不足]]></reason>"));
    // Nothing left to decide.
    let r = s
        .control(
            &format!("/_sim/apps/{appid}/nickname/decide"),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(r.status(), 400);

    // A category needing a qualification, approved.
    let v = s
        .env
        .post(
            "/cgi-bin/wxopen/addcategory",
            Some(&token),
            json!({"categories": [{"first": 402, "second": 920, "certicates": [{"key": "律师执业证", "value": media}]}]}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let r = s
        .control(
            &format!("/_sim/apps/{appid}/categories/decide"),
            json!({"approve": true, "first": 402, "second": 920}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let cat = s
        .pushes_on(&on_app)
        .into_iter()
        .find(|p| p.contains("wxa_category_audit"))
        .unwrap();
    assert!(
        cat.contains("<ret>3</ret><first>402</first><second>920</second>"),
        "{cat}"
    );
    let v = s.env.get("/cgi-bin/wxopen/getcategory", Some(&token)).await;
    assert_eq!(v["categories"][0]["audit_status"], 3, "{v}");
}

#[tokio::test]
async fn controls_refuse_bad_input() {
    let s = Setup::start().await;
    let (appid, token) = s.registered_app().await;
    for (path, body) in [
        (
            "/_sim/registrations/reg-404/decide",
            json!({"outcome": "confirm"}),
        ),
        (
            "/_sim/registrations/reg-1/decide",
            json!({"outcome": "maybe"}),
        ),
        ("/_sim/apps/not-an-appid/profile", json!({})),
        ("/_sim/server_domains/refusal", json!({"errcode": 1})),
        (
            &format!("/_sim/official_accounts/{appid}/register_ticket"),
            json!({}),
        ),
    ] {
        let r = s.control(path, body).await;
        assert_eq!(r.status(), 400, "{path}");
    }
    // The profile flags: a ban on the search status.
    let r = s
        .control(
            &format!("/_sim/apps/{appid}/profile"),
            json!({"search_banned": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = s
        .env
        .post(
            "/wxa/changewxasearchstatus",
            Some(&token),
            json!({"status": 1}),
        )
        .await;
    assert_eq!(errcode(&v), 85083, "{v}");
    // Wrong methods, as every route.
    let v = s
        .env
        .post("/cgi-bin/wxopen/getallcategories", Some(&token), json!({}))
        .await;
    assert_eq!(errcode(&v), 43001, "{v}");
    // An unknown action.
    let v = s
        .component(
            "/cgi-bin/component/fastregisterweapp?action=drop",
            enterprise(),
        )
        .await;
    assert_eq!(errcode(&v), -1, "{v}");
    // The authorizer token on a component endpoint.
    let v = s
        .env
        .post(
            "/cgi-bin/component/fastregisterweapp?action=create",
            Some(&token),
            enterprise(),
        )
        .await;
    assert_eq!(errcode(&v), 40001, "{v}");
}

#[tokio::test]
async fn an_official_account_ticket_registers_a_mini_program_reported_by_authorizer_info() {
    let s = Setup::start().await;
    let oa = s
        .env
        .sim
        .add_account(wechat_sim::AccountSpec::official_account());
    let code = s.env.sim.authorize(&oa, &[1, 3]).await.unwrap();
    let v = s
        .component(
            "/cgi-bin/component/api_query_auth",
            json!({"component_appid": s.env.appid(), "authorization_code": code}),
        )
        .await;
    let oa_token = v["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .control(
            &format!("/_sim/official_accounts/{oa}/register_ticket"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let ticket = r.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = s
        .env
        .post(
            "/cgi-bin/account/fastregister",
            Some(&oa_token),
            json!({"ticket": ticket}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["is_link_succ"], "true");
    let appid = v["appid"].as_str().unwrap();
    let info = s
        .component(
            "/cgi-bin/component/api_get_authorizer_info",
            json!({"component_appid": s.env.appid(), "authorizer_appid": appid}),
        )
        .await;
    assert_eq!(info["authorizer_info"]["register_type"], 2, "{info}");
    assert_eq!(info["authorizer_info"]["account_status"], 1);
    assert_eq!(
        info["authorizer_info"]["basic_config"]["is_phone_configured"],
        true
    );
}
