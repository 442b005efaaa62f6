//! The platform's server domains and the per-app domain gate, the privacy-interface permission
//! model, audit material, wxacode, the openapi quota and rid look-ups, and the fast-registration
//! push.

mod common;

use common::*;
use serde_json::{json, Value};
use wxopen::domain::AppId;

struct App {
    env: Env,
    appid: AppId,
    token: String,
    ctoken: String,
}

impl App {
    async fn start() -> App {
        let env = Env::start().await;
        env.sim
            .add_template_with_pages(7, "1.0.0", &["pages/index/index", "pages/a"]);
        let ctoken = env.component_token().await;
        let (appid, token, _) = env.authorized_app(&ctoken, &[17, 18]).await;
        App {
            env,
            appid,
            token,
            ctoken,
        }
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        self.env.post(path, Some(&self.token), body).await
    }
    async fn platform(&self, path: &str, body: Value) -> Value {
        self.env.post(path, Some(&self.ctoken), body).await
    }
    async fn get(&self, path: &str) -> Value {
        self.env.get(path, Some(&self.token)).await
    }
    async fn commit(&self) -> Value {
        self.post(
            "/wxa/commit",
            json!({"template_id": 7, "ext_json": "{\"requiredPrivateInfos\":[\"getLocation\"]}", "user_version": "v1", "user_desc": "d"}),
        )
        .await
    }
}

#[tokio::test]
async fn platform_server_domains_gate_modify_domain_once_registered() {
    let app = App::start().await;
    // Never registered: modify_domain takes anything, as before.
    let v = app
        .post(
            "/wxa/modify_domain",
            json!({"action": "add", "requestdomain": ["https://free.example.com"]}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert!(v.get("invalid_requestdomain").is_none(), "{v}");

    // modify_server_domain.html: ';'-separated hosts; one with a scheme is answered invalid.
    let v = app
        .platform(
            "/cgi-bin/component/modify_wxa_server_domain",
            json!({"action": "set", "wxa_server_domain": "api.shop.com;ws.shop.com;https://bad.com"}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["testing_wxa_server_domain"], "api.shop.com;ws.shop.com");
    assert_eq!(v["invalid_wxa_server_domain"], "https://bad.com");
    assert!(v.get("published_wxa_server_domain").is_none(), "{v}");
    let v = app
        .platform(
            "/cgi-bin/component/modify_wxa_server_domain",
            json!({"action": "add", "wxa_server_domain": "cdn.shop.com", "is_modify_published_together": true}),
        )
        .await;
    assert_eq!(
        v["testing_wxa_server_domain"],
        "api.shop.com;ws.shop.com;cdn.shop.com"
    );
    assert_eq!(v["published_wxa_server_domain"], "cdn.shop.com");
    let got = app
        .platform(
            "/cgi-bin/component/modify_wxa_server_domain",
            json!({"action": "get"}),
        )
        .await;
    assert_eq!(
        got["testing_wxa_server_domain"],
        v["testing_wxa_server_domain"]
    );
    assert_eq!(
        errcode(
            &app.platform(
                "/cgi-bin/component/modify_wxa_server_domain",
                json!({"action": "nope"})
            )
            .await
        ),
        47001
    );

    // Registered: only the platform's hosts, with the list's scheme; the others in invalid_*.
    let v = app
        .post(
            "/wxa/modify_domain",
            json!({"action": "add",
                   "requestdomain": ["https://api.shop.com", "https://other.com", "http://api.shop.com"],
                   "wsrequestdomain": ["wss://ws.shop.com:8443", "https://ws.shop.com"]}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(
        v["requestdomain"],
        json!(["https://free.example.com", "https://api.shop.com"])
    );
    assert_eq!(
        v["invalid_requestdomain"],
        json!(["https://other.com", "http://api.shop.com"])
    );
    assert_eq!(v["wsrequestdomain"], json!(["wss://ws.shop.com:8443"]));
    assert_eq!(v["invalid_wsrequestdomain"], json!(["https://ws.shop.com"]));
    // Nothing passes: 85017.
    let v = app
        .post(
            "/wxa/modify_domain",
            json!({"action": "set", "requestdomain": ["https://other.com"]}),
        )
        .await;
    assert_eq!(errcode(&v), 85017, "{v}");
    assert!(v["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("no domain to modify after filtered"));
    // get and delete are not gated.
    let v = app
        .post(
            "/wxa/modify_domain",
            json!({"action": "delete", "requestdomain": ["https://free.example.com"]}),
        )
        .await;
    assert_eq!(v["requestdomain"], json!(["https://api.shop.com"]), "{v}");

    // modify_domain_directly: not limited to the platform's list; get_effective_domain.
    let v = app
        .post(
            "/wxa/modify_domain_directly",
            json!({"action": "add", "requestdomain": ["https://direct.other.com"], "downloaddomain": ["https://dl.other.com"]}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let v = app
        .post("/wxa/modify_domain_directly", json!({"action": "get"}))
        .await;
    assert_eq!(v["requestdomain"], json!(["https://direct.other.com"]));
    let v = app.post("/wxa/get_effective_domain", json!({})).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["mp_domain"]["requestdomain"], json!([]));
    assert_eq!(
        v["third_domain"]["requestdomain"],
        json!(["https://api.shop.com"])
    );
    assert_eq!(
        v["direct_domain"]["downloaddomain"],
        json!(["https://dl.other.com"])
    );
    assert_eq!(
        v["effective_domain"]["requestdomain"],
        json!(["https://api.shop.com", "https://direct.other.com"])
    );
    for k in [
        "requestdomain",
        "wsrequestdomain",
        "uploaddomain",
        "downloaddomain",
        "udpdomain",
        "tcpdomain",
    ] {
        assert!(v["effective_domain"][k].is_array(), "{k}: {v}");
    }

    // setwebviewdomain_directly: not limited to the platform's business domains.
    let v = app
        .post(
            "/wxa/setwebviewdomain_directly",
            json!({"action": "add", "webviewdomain": ["https://h5.other.com"]}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let v = app
        .post("/wxa/setwebviewdomain_directly", json!({"action": "get"}))
        .await;
    assert_eq!(v["webviewdomain"], json!(["https://h5.other.com"]));

    // get_domain_confirmfile: a stable file name and content.
    let f1 = app
        .platform("/cgi-bin/component/get_domain_confirmfile", json!({}))
        .await;
    let f2 = app
        .platform("/cgi-bin/component/get_domain_confirmfile", json!({}))
        .await;
    assert_eq!(errcode(&f1), 0, "{f1}");
    assert!(f1["file_name"].as_str().unwrap().ends_with(".txt"));
    assert_eq!(f1["file_content"], f2["file_content"]);
    // The component token only: an authorizer's answers 40001.
    assert_eq!(
        errcode(
            &app.post("/cgi-bin/component/get_domain_confirmfile", json!({}))
                .await
        ),
        40001
    );
}

#[tokio::test]
async fn privacy_interfaces_are_open_by_default_and_need_an_application_when_required() {
    let app = App::start().await;
    app.env
        .sim
        .set_template_private_apis(7, &["wx.getLocation", "wx.chooseAddress"]);
    assert_eq!(errcode(&app.commit().await), 0);
    // Default: every interface applied for (status 5), nothing without permission.
    let v = app.get("/wxa/security/get_privacy_interface").await;
    assert_eq!(errcode(&v), 0, "{v}");
    let list = v["interface_list"].as_array().unwrap();
    assert!(list.iter().all(|i| i["status"] == 5), "{v}");
    let loc = list
        .iter()
        .find(|i| i["api_name"] == "wx.getLocation")
        .unwrap();
    assert!(loc["api_ch_name"].as_str().unwrap().contains("地理位置"));
    let info = app.get("/wxa/security/get_code_privacy_info").await;
    assert_eq!(info["without_auth_list"], json!([]));
    assert_eq!(info["without_conf_list"], json!(["wx.chooseAddress"]));

    // Required: not applied (1), listed in without_auth_list, and submit_audit answers 61040.
    app.env.sim.require_privacy_applications(true);
    let v = app.get("/wxa/security/get_privacy_interface").await;
    assert!(v["interface_list"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["status"] == 1 && i.get("audit_id").is_none()));
    let info = app.get("/wxa/security/get_code_privacy_info").await;
    assert_eq!(
        info["without_auth_list"],
        json!(["wx.getLocation", "wx.chooseAddress"])
    );
    let v = app
        .post("/wxa/submit_audit", json!({"item_list": []}))
        .await;
    assert_eq!(errcode(&v), 61040, "{v}");
    assert!(v["errmsg"].as_str().unwrap().contains("wx.getLocation"));

    // apply_privacy_interface: an audit_id, status 3 until decided.
    let apply = |api: &str| {
        app.post(
            "/wxa/security/apply_privacy_interface",
            json!({"api_name": api, "content": "门店导航需要定位", "pic_list": ["https://x/p.png"]}),
        )
    };
    let a = apply("wx.getLocation").await;
    assert_eq!(errcode(&a), 0, "{a}");
    let audit_id = a["audit_id"].as_u64().unwrap();
    let b = apply("wx.chooseAddress").await;
    assert!(b["audit_id"].as_u64().unwrap() > audit_id);
    let status = |v: &Value, api: &str| {
        v["interface_list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["api_name"] == api)
            .unwrap()
            .clone()
    };
    let v = app.get("/wxa/security/get_privacy_interface").await;
    let loc = status(&v, "wx.getLocation");
    assert_eq!(
        (loc["status"].clone(), loc["audit_id"].clone()),
        (json!(3), json!(audit_id))
    );
    assert!(loc["apply_time"].as_i64().unwrap() > 0);

    app.env
        .sim
        .decide_privacy_application(&app.appid, "wx.getLocation", true, "")
        .unwrap();
    app.env
        .sim
        .decide_privacy_application(
            &app.appid,
            "wx.chooseAddress",
            false,
            "小程序内未含有相应使用场景",
        )
        .unwrap();
    let v = app.get("/wxa/security/get_privacy_interface").await;
    assert_eq!(status(&v, "wx.getLocation")["status"], 5);
    let addr = status(&v, "wx.chooseAddress");
    assert_eq!(addr["status"], 4);
    assert_eq!(addr["fail_reason"], "小程序内未含有相应使用场景");
    let info = app.get("/wxa/security/get_code_privacy_info").await;
    assert_eq!(info["without_auth_list"], json!(["wx.chooseAddress"]));
    // privacy_api_not_use lets both lists through.
    let v = app
        .post(
            "/wxa/submit_audit",
            json!({"item_list": [], "privacy_api_not_use": true}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");

    // Bad applications: an API not in the list, no content, over 300 characters.
    for body in [
        json!({"api_name": "wx.getlocation", "content": "x"}),
        json!({"api_name": "wx.getLocation"}),
        json!({"api_name": "wx.getLocation", "content": "字".repeat(301)}),
    ] {
        assert_eq!(
            errcode(
                &app.post("/wxa/security/apply_privacy_interface", body.clone())
                    .await
            ),
            47001,
            "{body}"
        );
    }
    assert!(app
        .env
        .sim
        .decide_privacy_application(&app.appid, "wx.choosePoi", true, "")
        .is_err());
}

fn multipart(field: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----simboundary42";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"a.bin\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn uploadmedia_takes_an_image_or_video_part_named_media() {
    let app = App::start().await;
    let upload = |field: &str, ct: &str, data: &[u8]| {
        let (content_type, body) = multipart(field, ct, data);
        let req = app
            .env
            .http
            .post(app.env.url("/wxa/uploadmedia"))
            .query(&[("access_token", app.token.as_str())])
            .header("content-type", content_type)
            .body(body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let v = upload("media", "image/png", b"\x89PNG\r\n\x1a\nfake").await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["type"], "image");
    assert!(!v["mediaid"].as_str().unwrap().is_empty());
    let v = upload("media", "video/mp4", b"....ftypmp42").await;
    assert_eq!(v["type"], "video", "{v}");
    assert_eq!(errcode(&upload("file", "image/png", b"x").await), 41005);
    assert_eq!(errcode(&upload("media", "image/png", b"").await), 41005);
    assert_eq!(
        errcode(&upload("media", "text/plain", b"hello").await),
        40005
    );
    assert_eq!(errcode(&upload("media", "video/avi", b"RIFF").await), 40005);
    let big = vec![0u8; (2 << 20) + 1];
    assert_eq!(errcode(&upload("media", "image/jpeg", &big).await), 40006);
    let m = app.env.sim.account(&app.appid).unwrap().code.media;
    assert_eq!(m.len(), 2);
}

#[tokio::test]
async fn getwxacodeunlimit_answers_a_png_or_a_json_error() {
    let app = App::start().await;
    let code = |body: Value| {
        let req = app
            .env
            .http
            .post(app.env.url("/wxa/getwxacodeunlimit"))
            .query(&[("access_token", app.token.as_str())])
            .body(body.to_string());
        async move {
            let r = req.send().await.unwrap();
            let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
            (ct, r.bytes().await.unwrap().to_vec())
        }
    };
    let json_of = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
    // Nothing released: check_path (the default) fails with 41030.
    let (ct, body) = code(json!({"scene": "a=1", "page": "pages/a"})).await;
    assert!(ct.starts_with("application/json"));
    assert_eq!(errcode(&json_of(&body)), 41030);
    // check_path false: an image for any page.
    let (ct, body) = code(json!({"scene": "a=1", "page": "pages/a", "check_path": false, "env_version": "trial", "width": 430})).await;
    assert_eq!(ct, "image/png");
    assert!(body.starts_with(b"\x89PNG\r\n\x1a\n"));
    // scene longer than 32 characters: 40169; a bad env_version: 47001.
    let (_, body) = code(json!({"scene": "x".repeat(33), "check_path": false})).await;
    assert_eq!(errcode(&json_of(&body)), 40169);
    let (_, body) = code(json!({"scene": "a", "check_path": false, "env_version": "beta"})).await;
    assert_eq!(errcode(&json_of(&body)), 47001);
}

#[tokio::test]
async fn quota_get_reports_the_daily_counters_and_rid_get_the_failed_request() {
    let app = App::start().await;
    app.env.sim.set_daily_quota("/wxa/get_category", 3);
    for _ in 0..2 {
        assert_eq!(errcode(&app.get("/wxa/get_category").await), 0);
    }
    let quota = |token: String, path: &'static str| {
        let env = &app.env;
        async move {
            env.post(
                "/cgi-bin/openapi/quota/get",
                Some(&token),
                json!({ "cgi_path": path }),
            )
            .await
        }
    };
    let v = quota(app.token.clone(), "/wxa/get_category").await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(
        v["quota"],
        json!({"daily_limit": 3, "used": 2, "remain": 1})
    );
    // Counted per account: the platform's own use of a component API.
    let v = quota(
        app.ctoken.clone(),
        "/cgi-bin/component/api_get_authorizer_info",
    )
    .await;
    assert_eq!(v["quota"]["used"], 0, "{v}");
    assert_eq!(v["quota"]["daily_limit"], 1_000_000);
    // An unknown path 76021; an authorizer API asked with the component token 76022.
    assert_eq!(errcode(&quota(app.token.clone(), "/wxa/nope").await), 76021);
    assert_eq!(
        errcode(&quota(app.ctoken.clone(), "/wxa/get_category").await),
        76022
    );

    // A failed call's rid names the request; only its account may look it up.
    let failed = app
        .post("/wxa/get_auditstatus", json!({"auditid": 42}))
        .await;
    assert_eq!(errcode(&failed), 85012);
    let rid = failed["errmsg"]
        .as_str()
        .unwrap()
        .rsplit_once(" rid: ")
        .unwrap()
        .1
        .to_owned();
    let v = app
        .post("/cgi-bin/openapi/rid/get", json!({ "rid": rid }))
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let r = &v["request"];
    assert_eq!(r["request_body"], json!({"auditid": 42}).to_string());
    assert!(r["request_url"]
        .as_str()
        .unwrap()
        .starts_with("access_token="));
    assert_eq!(r["client_ip"], "127.0.0.1");
    assert!(r["response_body"].as_str().unwrap().contains("85012"));
    assert_eq!(r["invoke_time"], app.env.sim.now());
    assert!(r["cost_in_ms"].is_u64());
    let other = app
        .env
        .post(
            "/cgi-bin/openapi/rid/get",
            Some(&app.ctoken),
            json!({ "rid": rid }),
        )
        .await;
    assert_eq!(errcode(&other), 76003, "{other}");
    // The platform's own failed call, looked up with the component token; seven days later
    // it is gone (76001).
    let failed = app
        .platform(
            "/cgi-bin/component/api_get_authorizer_info",
            json!({"component_appid": app.env.appid(), "authorizer_appid": "wx0000000000000001"}),
        )
        .await;
    assert_eq!(errcode(&failed), 40013, "{failed}");
    let rid = failed["errmsg"]
        .as_str()
        .unwrap()
        .rsplit_once(" rid: ")
        .unwrap()
        .1
        .to_owned();
    let v = app
        .platform("/cgi-bin/openapi/rid/get", json!({ "rid": rid }))
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    app.env.clock.advance(7 * 86400);
    let ctoken = app.env.component_token().await;
    let v = app
        .env
        .post(
            "/cgi-bin/openapi/rid/get",
            Some(&ctoken),
            json!({ "rid": rid }),
        )
        .await;
    assert_eq!(errcode(&v), 76001, "{v}");
}

#[tokio::test]
async fn a_fast_registration_result_is_pushed_to_the_authorization_event_url() {
    use secrecy::ExposeSecret;
    use wechat_sim::FastRegisterResult;
    use wxopen::events::ComponentEvent;
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let pushed = env
        .sim
        .push_fast_register(FastRegisterResult {
            name: "某某科技有限公司".into(),
            code: "91440300MA5XXXXXXX".into(),
            code_type: 1,
            legal_persona_wechat: "legal_wx".into(),
            legal_persona_name: "张三".into(),
            component_phone: "4008000000".into(),
            ..FastRegisterResult::default()
        })
        .await
        .unwrap();
    let Some(ComponentEvent::FastRegister(r)) = env.component_events().pop() else {
        panic!("{:?}", env.component_events())
    };
    assert!(r.succeeded());
    assert_eq!(r.component_appid, env.appid());
    assert_eq!(r.create_time, env.sim.now());
    assert_eq!(r.msg, "OK");
    let appid = r.appid.clone().unwrap();
    assert_eq!(Some(appid.to_string()), pushed.appid);
    assert_eq!(r.info.code_type, Some(1));
    assert_eq!(r.info.legal_persona_name, "张三");
    // The new mini program exists, and the pushed auth code is good for api_query_auth.
    assert_eq!(
        env.sim.account(&appid).unwrap().principal_name,
        "某某科技有限公司"
    );
    let v = env
        .post(
            "/cgi-bin/component/api_query_auth",
            Some(&ctoken),
            json!({"component_appid": env.appid(), "authorization_code": r.auth_code.unwrap().expose_secret()}),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(v["authorization_info"]["authorizer_appid"], appid.as_str());

    // A failed task (through the control API): no appid, no auth code, no account.
    let before = env.sim.account(&appid).is_some();
    let resp: Value = env
        .http
        .post(env.url("/_sim/fast_register"))
        .body(json!({"status": -1, "msg": "open verity failed", "name": "x"}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["status"], -1, "{resp}");
    let Some(ComponentEvent::FastRegister(r)) = env.component_events().pop() else {
        panic!()
    };
    assert_eq!((r.status, r.msg.as_str()), (-1, "open verity failed"));
    assert!(r.appid.is_none() && r.auth_code.is_none());
    assert!(before);
    let pushes = env.sim.pushes();
    assert_eq!(
        pushes
            .iter()
            .filter(|p| p.kind == "notify_third_fasteregister" && p.delivered)
            .count(),
        2
    );
}
