//! Quota resets (clear_quota with an authorizer's token, clear_quota/v2 with the appsecret), the
//! rid look-up's errcodes and WeChat's rid form, and setprivacysetting's owner_setting and
//! privacy_ver checks.

mod common;

use common::*;
use serde_json::{json, Value};

const CATEGORY: &str = "/wxa/get_category";

/// Moves the sim clock to the start of the next Beijing month.
fn next_month(env: &Env) {
    let month = wechat_sim::month_of(env.sim.now());
    while wechat_sim::month_of(env.sim.now()) == month {
        env.sim.advance_clock(86_400);
    }
}

fn rid_of(v: &Value) -> String {
    v["errmsg"]
        .as_str()
        .and_then(|m| m.rsplit_once(" rid: "))
        .map(|(_, r)| r.to_owned())
        .unwrap_or_else(|| panic!("no rid in {v}"))
}

#[tokio::test]
async fn clear_quota_resets_only_the_tokens_own_account_ten_times_a_month_shared_with_v2() {
    let env = Env::start().await;
    next_month(&env);
    let ctoken = env.component_token().await;
    let (a, token_a, _) = env.authorized_app(&ctoken, &[17, 18]).await;
    let (b, token_b, _) = env.authorized_app(&ctoken, &[17, 18]).await;
    env.sim.set_daily_quota(CATEGORY, 1);
    let category = |t: &str| {
        let t = t.to_owned();
        let env = &env;
        async move { errcode(&env.get(CATEGORY, Some(&t)).await) }
    };
    let clear = |t: &str, appid: String| {
        let t = t.to_owned();
        let env = &env;
        async move {
            env.post("/cgi-bin/clear_quota", Some(&t), json!({ "appid": appid }))
                .await
        }
    };
    assert_eq!(category(&token_a).await, 0);
    assert_eq!(category(&token_a).await, 45009);
    assert_eq!(category(&token_b).await, 0);

    // clear_quota.html: the appid must be the token's own (40013), and nothing is reset.
    let v = clear(&token_a, b.to_string()).await;
    assert_eq!(errcode(&v), 40013, "{v}");
    assert_eq!(
        category(&token_a).await,
        45009,
        "a refused clear resets nothing"
    );
    let v = env
        .post("/cgi-bin/clear_quota", Some(&token_a), json!({}))
        .await;
    assert_eq!(errcode(&v), 41002, "{v}");

    // The own account's counts go back to zero; another account's stay.
    let v = clear(&token_a, a.to_string()).await;
    assert_eq!(errcode(&v), 0, "{v}");
    assert_eq!(category(&token_a).await, 0, "a's count was reset");
    assert_eq!(category(&token_b).await, 45009, "b's count was not");

    // Nine more of a's ten this month (one by v2 with the appsecret: the same ten).
    for n in 1..9 {
        assert_eq!(
            errcode(&clear(&token_a, a.to_string()).await),
            0,
            "reset {n}"
        );
    }
    let secret = env.sim.config().component_appsecret.clone();
    let v2 = |appid: Option<String>| {
        let mut body = json!({"component_appid": env.appid(), "appsecret": secret});
        if let Some(a) = appid {
            body["appid"] = json!(a);
        }
        let env = &env;
        async move {
            env.post("/cgi-bin/component/clear_quota/v2", None, body)
                .await
        }
    };
    assert_eq!(errcode(&v2(Some(a.to_string())).await), 0, "the tenth");
    assert_eq!(category(&token_a).await, 0);
    assert_eq!(category(&token_a).await, 45009);
    // 48006 by either form once the ten are spent, and the counts stay.
    let v = clear(&token_a, a.to_string()).await;
    assert_eq!(errcode(&v), 48006, "{v}");
    assert_eq!(errcode(&v2(Some(a.to_string())).await), 48006);
    assert_eq!(
        category(&token_a).await,
        45009,
        "a refused clear resets nothing"
    );
    // Per account: b and the platform still have theirs.
    assert_eq!(errcode(&clear(&token_b, b.to_string()).await), 0);
    assert_eq!(category(&token_b).await, 0);
    assert_eq!(errcode(&v2(None).await), 0);
    // v2 for an account never authorized: 40013.
    assert_eq!(errcode(&v2(Some("wx0000000000000001".into())).await), 40013);
    // A new month, ten again.
    next_month(&env);
    assert_eq!(errcode(&v2(Some(a.to_string())).await), 0, "a new month");
}

#[tokio::test]
async fn clear_quota_with_the_component_token_clears_the_platforms_own_counts() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let v = env
        .post(
            "/cgi-bin/clear_quota",
            Some(&ctoken),
            json!({ "appid": env.appid() }),
        )
        .await;
    assert_eq!(errcode(&v), 0, "{v}");
    let v = env
        .post(
            "/cgi-bin/clear_quota",
            Some(&ctoken),
            json!({ "appid": "wx0000000000000001" }),
        )
        .await;
    assert_eq!(errcode(&v), 40013, "{v}");
}

#[tokio::test]
async fn rids_have_wechats_form_and_another_accounts_rid_answers_76003() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let (_, token_a, _) = env.authorized_app(&ctoken, &[17, 18]).await;
    let (_, token_b, _) = env.authorized_app(&ctoken, &[17, 18]).await;
    let failed = env.get("/wxa/get_page", Some(&token_a)).await;
    assert_eq!(errcode(&failed), 86001, "{failed}");
    let rid = rid_of(&failed);
    // get_rid_info.html's examples: `61725984-6126f6f9-040f19c4`.
    let groups: Vec<&str> = rid.split('-').collect();
    assert_eq!(groups.len(), 3, "{rid}");
    for g in &groups {
        assert_eq!(g.len(), 8, "{rid}");
        assert!(
            g.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
            "{rid}"
        );
    }
    let get = |t: &str, rid: &str| {
        let (t, rid) = (t.to_owned(), rid.to_owned());
        let env = &env;
        async move {
            env.post("/cgi-bin/openapi/rid/get", Some(&t), json!({ "rid": rid }))
                .await
        }
    };
    assert_eq!(errcode(&get(&token_a, &rid).await), 0);
    // get_rid_info.html: 76003 for another account's rid, 76001 for an unknown one, 76002 for
    // an empty or malformed one.
    let v = get(&token_b, &rid).await;
    assert_eq!(errcode(&v), 76003, "{v}");
    assert_eq!(errcode(&get(&ctoken, &rid).await), 76003);
    assert_eq!(
        errcode(&get(&token_a, "00000000-00000000-00000000").await),
        76001
    );
    assert_eq!(errcode(&get(&token_a, "").await), 76002);
    assert_eq!(errcode(&get(&token_a, "sim-abcdefgh").await), 76002);
}

#[tokio::test]
async fn setprivacysetting_needs_a_contact_and_an_online_guide_for_privacy_ver_1() {
    let env = Env::start().await;
    let ctoken = env.component_token().await;
    let (_, token, _) = env.authorized_app(&ctoken, &[17, 18]).await;
    let set = |body: Value| env.post("/cgi-bin/component/setprivacysetting", Some(&token), body);
    let get = |ver: u8| {
        env.post(
            "/cgi-bin/component/getprivacysetting",
            Some(&token),
            json!({ "privacy_ver": ver }),
        )
    };
    let list = json!([{ "privacy_key": "Location", "privacy_text": "nearby shops" }]);
    // A guide in development, seeded, so a refused set can be seen to change nothing.
    let v = set(json!({
        "owner_setting": { "notice_method": "pop-up", "contact_email": "dpo@example.com" },
        "setting_list": list,
    }))
    .await;
    assert_eq!(errcode(&v), 0, "{v}");

    // set_privacy_setting.html: one contact field at least (captured answers: 86069); blank
    // ones do not count.
    for owner in [
        json!({ "notice_method": "pop-up" }),
        json!({ "notice_method": "pop-up", "contact_email": "", "contact_phone": " ", "contact_qq": "", "contact_weixin": "" }),
    ] {
        let v = set(json!({ "owner_setting": owner, "setting_list": list })).await;
        assert_eq!(errcode(&v), 86069, "{v}");
    }
    let dev = get(2).await;
    assert_eq!(
        dev["owner_setting"]["contact_email"], "dpo@example.com",
        "{dev}"
    );

    // privacy_ver=1 with no online guide yet: 86074, and none appears.
    let v = set(json!({
        "privacy_ver": 1,
        "owner_setting": { "notice_method": "pop-up", "contact_qq": "10001" },
    }))
    .await;
    assert_eq!(errcode(&v), 86074, "{v}");
    let online = get(1).await;
    assert_eq!(online["owner_setting"], json!({}), "{online}");

    // Any one of the four will do.
    let v = set(json!({
        "owner_setting": { "notice_method": "pop-up", "contact_weixin": "shop_dpo" },
        "setting_list": list,
    }))
    .await;
    assert_eq!(errcode(&v), 0, "{v}");
}
