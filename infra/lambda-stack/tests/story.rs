//! The whole story through the deployed shape: the five binaries polling the Runtime API with
//! template.yaml's environment, API Gateway 2.0 events for its routes, the table and the secret
//! on moto, EventBridge's scheduled events, the WeChat simulator. Driven through HTTP only;
//! the functions' own stdout and stderr are searched for every secret value the story handled.

mod support;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;
use support::{http, ops, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_story_runs_through_the_functions_as_deployed() {
    let Some(stack) = stack().await else { return };
    let key = stack_key(&stack);
    let p = platform(&stack);
    let aws = lambda_stack::aws::LocalAws::new(&std::env::var("WXOPEN_TEST_AWS_ENDPOINT").unwrap())
        .unwrap();

    // 1. Ticket push: the simulator pushed one through the front at start; it was stored.
    let component = p.component_appid.clone();
    let ticket = aws
        .get_item(
            &stack.table_name,
            &format!("COMPONENT#{component}"),
            "TICKET",
        )
        .await
        .unwrap();
    let sim_ticket = stack.sim.current_ticket().unwrap();
    assert_eq!(
        ticket["value"]["S"],
        sim_ticket.as_str(),
        "the ticket stored"
    );

    // 2. Invitation.
    let inv = ops(
        &stack,
        &key,
        Method::POST,
        "/ops/invitations",
        Some(json!({ "customer_id": "c1" })),
        201,
    )
    .await;
    let invite_url = inv["url"].as_str().unwrap().to_owned();
    assert!(invite_url.starts_with(&stack.base_url), "{invite_url}");

    // 3. Consent on the simulator's page.
    let appid = stack.sim.add_account(wechat_sim::AccountSpec {
        nick_name: Some("Lambda Bakery".into()),
        ..wechat_sim::AccountSpec::mini_program()
    });
    let c = http();
    let page = c.get(&invite_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let marker = "id=\"pc-link\" href=\"";
    let at = page.find(marker).expect("the PC link") + marker.len();
    let href = page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&");
    let consent = url::Url::parse(&href).unwrap();
    let q: std::collections::HashMap<String, String> = consent.query_pairs().into_owned().collect();
    let pre_auth_code = q["pre_auth_code"].clone();
    assert_eq!(c.get(href.as_str()).send().await.unwrap().status(), 200);
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("pre_auth_code", &pre_auth_code)
        .append_pair("redirect_uri", &q["redirect_uri"])
        .append_pair("appid", appid.as_str())
        .append_pair("func_info", "17")
        .append_pair("func_info", "18")
        .finish();
    let approved = c
        .post(format!("{}/_sim/consent/approve", stack.sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 302);
    let location = approved.headers()["location"].to_str().unwrap().to_owned();
    let auth_code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "auth_code")
        .map(|(_, v)| v.into_owned())
        .expect("an auth_code");

    // 4. The callback, through the front to auth-callback.
    assert!(location.starts_with(&stack.base_url), "{location}");
    let back = c.get(&location).send().await.unwrap();
    assert_eq!(back.status(), 200);
    assert!(back.text().await.unwrap().contains("Lambda Bakery"));

    // 5. The authorized push (sent by the simulator on approval) and the callback agree.
    let a = ops(
        &stack,
        &key,
        Method::GET,
        &format!("/ops/authorizers/{appid}"),
        None,
        200,
    )
    .await;
    assert_eq!(a["status"], "authorized", "{a}");
    assert_eq!(a["token"]["has_refresh_token"], true, "{a}");
    assert_eq!(a["customer_id"], "c1", "{a}");
    assert!(
        stack.invocations()["ticket-push"] >= 2,
        "the ticket and the authorized push"
    );

    // 6. The refresher, run by its scheduled event: it read the ticket and counted the
    //    authorizers awaiting reauthorization (none).
    let run = stack.fire("token-refresher").await.unwrap();
    assert_eq!(run["error"], serde_json::Value::Null, "{run}");
    assert_eq!(run["failed"], 0, "{run}");
    assert_eq!(run["ticket_stale"], false, "{run}");
    assert!(
        run["ticket_age_secs"].as_i64().is_some_and(|a| a < 600),
        "{run}"
    );

    // 7-10. Commit, submit, the approval push, release.
    let app = format!("/ops/apps/{appid}");
    ops(&stack, &key, Method::POST, &format!("{app}/commit"),
        Some(json!({ "template_id": 1, "ext_json": { "extAppid": component, "ext": {} }, "user_version": "1.0.0", "user_desc": "first" })), 200).await;
    let submitted = ops(&stack, &key, Method::POST, &format!("{app}/audits"),
        Some(json!({ "item_list": [{ "address": "pages/index/index", "tag": "bakery", "title": "Home" }] })), 201).await;
    let auditid = submitted["auditid"].as_u64().unwrap();
    let pushes_before = stack.invocations()["ticket-push"];
    stack
        .sim
        .decide_audit(&appid, wechat_sim::AuditOutcome::Success)
        .await
        .unwrap();
    assert!(
        stack.invocations()["ticket-push"] > pushes_before,
        "the approval push reached ticket-push"
    );
    let latest = ops(
        &stack,
        &key,
        Method::GET,
        &format!("{app}/audits/latest"),
        None,
        200,
    )
    .await;
    assert_eq!(latest["status"], "approved", "{latest}");
    assert_eq!(latest["auditid"], auditid);
    ops(
        &stack,
        &key,
        Method::POST,
        &format!("{app}/release"),
        Some(json!({})),
        200,
    )
    .await;
    let shown = ops(&stack, &key, Method::GET, &app, None, 200).await;
    assert_eq!(
        shown["versions"]["online"]["user_version"], "1.0.0",
        "{shown}"
    );

    // 11. A batch: accepted by audit-actions, run by the batch runner's scheduled event.
    let batch = http()
        .post(format!("{}/ops/batches", stack.base_url))
        .bearer_auth(key.expose_secret())
        .header("idempotency-key", "story-1")
        .json(&json!({ "action": "commit", "appids": "all_authorized",
            "params": { "template_id": 1, "ext_json": { "extAppid": component, "ext": {} }, "user_version": "1.1.0", "user_desc": "batch" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 202);
    let batch_id = batch.json::<serde_json::Value>().await.unwrap()["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = ops(
        &stack,
        &key,
        Method::GET,
        &format!("/ops/batches/{batch_id}"),
        None,
        200,
    )
    .await;
    assert_eq!(
        before["status"], "running",
        "not run by audit-actions itself: {before}"
    );
    let run = stack.fire("batch-runner").await.unwrap();
    assert_eq!(run["finished"], 1, "{run}");
    let done = ops(
        &stack,
        &key,
        Method::GET,
        &format!("/ops/batches/{batch_id}"),
        None,
        200,
    )
    .await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["counts"]["ok"], 1, "{done}");

    // No secret value in any function's output.
    let mut values = vec![
        key.expose_secret().to_owned(),
        p.component_appsecret.expose_secret().to_owned(),
        p.token.expose_secret().to_owned(),
        p.encoding_aes_key.expose_secret().to_owned(),
        sim_ticket,
        pre_auth_code,
        auth_code,
        stack
            .sim
            .account(&appid)
            .unwrap()
            .authorization
            .unwrap()
            .refresh_token,
    ];
    for (pk, attr) in [
        (format!("COMPONENT#{component}"), "access_token"),
        (format!("APP#{appid}"), "access_token"),
        (format!("APP#{appid}"), "refresh_token"),
    ] {
        let item = aws.get_item(&stack.table_name, &pk, "TOKEN").await.unwrap();
        values.push(
            item[attr]["S"]
                .as_str()
                .unwrap_or_else(|| panic!("{pk} {attr}"))
                .to_owned(),
        );
    }
    let logs = stack.logs.text();
    for f in [
        "ticket-push",
        "auth-callback",
        "audit-actions",
        "token-refresher",
        "batch-runner",
    ] {
        assert!(
            logs.contains(&format!("[{f}] ")),
            "{f}'s output was captured"
        );
    }
    assert!(
        logs.len() > 2000,
        "the functions logged: {} bytes",
        logs.len()
    );
    for v in &values {
        assert!(v.len() >= 8, "a value too short to search for");
        assert!(
            !logs.contains(v.as_str()),
            "a function logged a secret value"
        );
    }
}

fn stack_key(stack: &lambda_stack::Stack) -> secrecy::SecretString {
    platform(stack).operator_key
}

fn platform(stack: &lambda_stack::Stack) -> lambda_stack::PlatformValues {
    stack.platform.clone()
}
