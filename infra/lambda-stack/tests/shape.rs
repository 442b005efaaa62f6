//! The deployed shape, checked piece by piece: a push whose body API Gateway base64-encodes,
//! each scheduled function's events, the front's own 404 for a route the template does not
//! declare.

mod support;

use base64::Engine;
use serde_json::json;
use support::{http, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_body_api_gateway_base64_encodes_is_decoded_and_stored() {
    let Some(stack) = stack().await else { return };
    let p = &stack.platform;
    use secrecy::ExposeSecret;
    let crypt = wxopen::crypto::MsgCrypt::new(
        p.token.expose_secret(),
        p.encoding_aes_key.expose_secret(),
        &p.component_appid,
    )
    .unwrap();
    let ticket = format!("ticket@@@{}", hex::encode(rand::random::<[u8; 12]>()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let xml = format!(
        "<xml><AppId><![CDATA[{0}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>",
        p.component_appid
    );
    let (timestamp, nonce) = (now.to_string(), "b64nonce".to_owned());
    let sealed = crypt.seal(&xml, &timestamp, &nonce);
    let body = format!(
        "<xml><AppId><![CDATA[{}]]></AppId><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        p.component_appid, sealed.encrypt
    );
    // A content type API Gateway does not pass as text: the event's body is base64.
    let resp = http()
        .post(format!(
            "{}/wechat/component?timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
            stack.base_url, sealed.msg_signature
        ))
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "success");
    let aws = lambda_stack::aws::LocalAws::new(&support::aws_endpoint().unwrap()).unwrap();
    let stored = aws
        .get_item(
            &stack.table_name,
            &format!("COMPONENT#{}", p.component_appid),
            "TICKET",
        )
        .await
        .unwrap();
    assert_eq!(stored["value"]["S"], ticket.as_str());

    // The front did encode it: the same event, built as the front builds it, says so.
    let req = axum::http::Request::post("/wechat/component")
        .header("content-type", "application/octet-stream")
        .body(())
        .unwrap();
    let route = lambda_stack::template::Route {
        method: "POST".into(),
        path: "/wechat/component".into(),
    };
    let e = lambda_stack::front::event(
        &route,
        &req.into_parts().0,
        &Default::default(),
        body.as_bytes(),
        "127.0.0.1:1".parse().unwrap(),
        "r",
    );
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(
        e["body"],
        base64::engine::general_purpose::STANDARD.encode(body.as_bytes())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scheduled_function_runs_on_each_form_of_scheduled_event() {
    let Some(stack) = stack().await else { return };
    let scheduled: Vec<_> = stack
        .functions
        .iter()
        .filter(|f| !f.schedules.is_empty())
        .collect();
    let names: Vec<&str> = scheduled.iter().map(|f| f.binary.as_str()).collect();
    assert_eq!(
        names,
        ["token-refresher", "batch-runner"],
        "the template's schedules"
    );
    for f in scheduled {
        let s = &f.schedules[0];
        assert!(
            s.period.is_some(),
            "{}: {} runs here",
            f.binary,
            s.expression
        );
        // What the template's schedule sends, then an EventBridge rule's Scheduled Event.
        for event in [
            s.event.clone(),
            lambda_stack::schedule::scheduled_event(&f.logical_id),
        ] {
            let outcome = f
                .api
                .invoke(event.to_string().into_bytes().into(), f.timeout)
                .await;
            match outcome {
                lambda_stack::runtime_api::Outcome::Response(b) => {
                    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                    assert!(v.is_object(), "{}: {v}", f.binary);
                    if f.binary == "token-refresher" {
                        assert_eq!(v["error"], serde_json::Value::Null, "{v}");
                        assert_eq!(v["ticket_stale"], false, "{v}");
                    } else {
                        assert_eq!(v["batches"], 0, "{v}");
                    }
                }
                other => panic!("{} on {event}: {other:?}", f.binary),
            }
        }
    }
    // And through the control port, as `./infra/run-local.sh lambda` offers it.
    let resp = http()
        .post(format!(
            "{}/schedules/token-refresher/run",
            stack.control_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<serde_json::Value>().await.unwrap()["due"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_the_template_does_not_declare_is_answered_404_by_the_front() {
    let Some(stack) = stack().await else { return };
    let before = stack.invocations();
    let c = http();
    for (method, path) in [
        ("GET", "/wechat/component"),
        ("POST", "/wechat/apps"),
        ("GET", "/ops"),
        ("POST", "/auth/start"),
        ("GET", "/nowhere"),
        ("GET", "/console/"),
    ] {
        let resp = c
            .request(method.parse().unwrap(), format!("{}{path}", stack.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{method} {path}");
        assert!(resp.headers().contains_key("apigw-requestid"));
        assert_eq!(
            resp.json::<serde_json::Value>().await.unwrap(),
            json!({ "message": "Not Found" }),
            "{method} {path}"
        );
    }
    assert_eq!(stack.invocations(), before, "no function was invoked");
}
