//! One invitation binds one mini program, on its terms, and a link costs WeChat little: the
//! attacks a merchant (or whoever holds a link) can try, through the real pages and the
//! simulator's consent page.

mod support;

use serde_json::json;
use support::{error_code, link_href, spawn_app, App};
use wxopen::domain::AppId;
use wxopen::store::{SingleUseKind, UNASSIGNED_CUSTOMER};

const PREAUTH: &str = "/cgi-bin/component/api_create_preauthcode";

/// The PC consent link of the invitation's start page.
async fn pc_link(app: &App, inv: &serde_json::Value) -> String {
    let (status, page) = app.get(inv["url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{page}");
    link_href(&page, "pc-link")
}

/// `href` with query parameter `name` set to `value` (`None`: removed), as a merchant edits it.
fn edited(href: &str, name: &str, value: Option<&str>) -> String {
    let mut url = url::Url::parse(href).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        q.extend_pairs(pairs);
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    url.to_string()
}

fn state_of(href: &str) -> String {
    let redirect = url::Url::parse(href)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

fn id_of(inv: &serde_json::Value) -> &str {
    inv["invitation_id"].as_str().unwrap()
}

async fn customer_of(app: &App, appid: &AppId) -> Option<String> {
    app.stored_authorizer(appid).await.unwrap().customer_id
}

/// Two consent pages of one invitation (the first outlived its reuse), two apps approved: the
/// first is bound, the second refused with a page and kept unassigned (whether the push or the
/// callback stored it first).
#[tokio::test]
async fn one_invitation_binds_one_mini_program_and_a_second_is_kept_unassigned() {
    let app = spawn_app().await;
    let first = app.mini_program("First Shop");
    let second = app.mini_program("Second Shop");
    let inv = app.invite(json!({ "customer_id": "cust-one" })).await;
    let href1 = pc_link(&app, &inv).await;
    // The stored page expires with its pre_auth_code; a later opening mints another state.
    app.local
        .store
        .delete_single_use(SingleUseKind::AuthStartPage, id_of(&inv))
        .await
        .unwrap();
    let href2 = pc_link(&app, &inv).await;
    app.local
        .store
        .delete_single_use(SingleUseKind::AuthStartPage, id_of(&inv))
        .await
        .unwrap();
    let href3 = pc_link(&app, &inv).await;
    assert_ne!(state_of(&href1), state_of(&href2));
    assert_ne!(state_of(&href2), state_of(&href3));

    let cb1 = app.approve(&href1, &first, &[17, 18]).await;
    let (status, page) = app.get(&cb1).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(customer_of(&app, &first).await.as_deref(), Some("cust-one"));

    for (hold, href) in [(false, href2), (true, href3)] {
        // The push first (the simulator delivers it before redirecting), then the callback
        // first: both are refused.
        if hold {
            app.local.sim.hold_pushes("authorized");
        }
        let cb2 = app.approve(&href, &second, &[17, 18]).await;
        let (status, page) = app.get(&cb2).await;
        assert_eq!(
            (status, error_code(&page).as_str()),
            (409, "invitation_used"),
            "{page}"
        );
        assert_eq!(
            customer_of(&app, &second).await.as_deref(),
            Some(UNASSIGNED_CUSTOMER),
            "authorized at WeChat, kept for operators, never bound to the customer"
        );
    }
    let stored = app
        .local
        .store
        .get_invitation(id_of(&inv))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.used_by.as_ref(), Some(&first));
    assert_eq!(customer_of(&app, &first).await.as_deref(), Some("cust-one"));
}

/// A state minted before the invitation was revoked binds nothing after.
#[tokio::test]
async fn a_state_minted_before_the_invitation_was_revoked_binds_nothing() {
    let app = spawn_app().await;
    let appid = app.mini_program("Late Shop");
    app.local.sim.hold_pushes("authorized");
    let inv = app.invite(json!({ "customer_id": "cust-late" })).await;
    let href = pc_link(&app, &inv).await;
    let resp = app
        .ops(
            reqwest::Method::DELETE,
            &format!("/ops/invitations/{}", id_of(&inv)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cb = app.approve(&href, &appid, &[17, 18]).await;
    let (status, page) = app.get(&cb).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (410, "invitation_revoked"),
        "{page}"
    );
    assert_eq!(
        customer_of(&app, &appid).await.as_deref(),
        Some(UNASSIGNED_CUSTOMER)
    );
    let stored = app
        .local
        .store
        .get_invitation(id_of(&inv))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.used_by, stored.used_at), (None, None));
}

/// `biz_appid` and `auth_type` are parameters of the consent link the merchant can edit: the
/// callback binds only an account the invitation is for.
#[tokio::test]
async fn an_edited_consent_link_binds_no_account_the_invitation_is_not_for() {
    let app = spawn_app().await;
    let meant = app.mini_program("Meant Shop");
    let other = app.mini_program("Other Shop");
    app.local.sim.hold_pushes("authorized");
    let inv = app
        .invite(json!({ "customer_id": "cust-meant", "biz_appid": meant.as_str() }))
        .await;
    let href = pc_link(&app, &inv).await;
    assert!(href.contains(meant.as_str()), "{href}");
    let cb = app
        .approve(&edited(&href, "biz_appid", None), &other, &[17, 18])
        .await;
    let (status, page) = app.get(&cb).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (409, "invitation_for_another_app"),
        "{page}"
    );
    assert!(
        page.contains(meant.as_str()),
        "names the app it is for: {page}"
    );
    assert_eq!(
        customer_of(&app, &other).await.as_deref(),
        Some(UNASSIGNED_CUSTOMER)
    );

    // An invitation for official accounts, its link edited to list mini programs.
    let inv = app
        .invite(json!({ "customer_id": "cust-oa", "auth_type": 1 }))
        .await;
    let href = pc_link(&app, &inv).await;
    let mini = app.mini_program("Mini Shop");
    let cb = app
        .approve(&edited(&href, "auth_type", Some("2")), &mini, &[17, 18])
        .await;
    let (status, page) = app.get(&cb).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (409, "invitation_wrong_kind"),
        "{page}"
    );
    assert_eq!(
        customer_of(&app, &mini).await.as_deref(),
        Some(UNASSIGNED_CUSTOMER)
    );
    for inv_id in [id_of(&inv)] {
        let stored = app
            .local
            .store
            .get_invitation(inv_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.used_by, None);
    }
}

/// A victim's spent code sent with another invitation's fresh state: refused, the account stays
/// with its customer.
#[tokio::test]
async fn a_spent_code_with_another_invitations_state_moves_nothing() {
    let app = spawn_app().await;
    let appid = app.mini_program("Victim Shop");
    let victim = app.invite(json!({ "customer_id": "cust-victim" })).await;
    let href = pc_link(&app, &victim).await;
    let cb = app.approve(&href, &appid, &[17, 18]).await;
    let (status, page) = app.get(&cb).await;
    assert_eq!(status, 200, "{page}");
    let code = url::Url::parse(&cb)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "auth_code")
        .unwrap()
        .1
        .into_owned();

    let mallory = app.invite(json!({ "customer_id": "cust-mallory" })).await;
    let state = state_of(&pc_link(&app, &mallory).await);
    let forged = app.url(&format!(
        "/auth/callback?auth_code={code}&expires_in=3600&state={state}"
    ));
    let (status, page) = app.get(&forged).await;
    assert_eq!(
        (status, error_code(&page).as_str()),
        (409, "code_used"),
        "{page}"
    );
    let a = app.stored_authorizer(&appid).await.unwrap();
    assert_eq!(a.customer_id.as_deref(), Some("cust-victim"));
    assert!(a.customer_moves.is_empty());
    // The victim's own reload still shows its result.
    let (status, _) = app.get(&cb).await;
    assert_eq!(status, 200);
}

/// Reloads reuse one page (one pre_auth_code, one state); minting new pages by spending their
/// states is limited per invitation, answered 429 with a page.
#[tokio::test]
async fn reloads_reuse_one_page_and_a_flood_of_new_pages_is_refused_with_429() {
    let app = spawn_app().await;
    let inv = app.invite(json!({ "customer_id": "cust-flood" })).await;
    app.local.sim.reset_calls();
    let first = pc_link(&app, &inv).await;
    for _ in 0..3 {
        assert_eq!(
            pc_link(&app, &inv).await,
            first,
            "a reload shows the same page"
        );
    }
    assert_eq!(app.local.sim.calls(PREAUTH), 1);

    // Spend each page's state with a junk code, and open the link again.
    let mut href = first;
    for n in 1..auth_callback::START_PAGES_PER_HOUR {
        let spend = app.url(&format!(
            "/auth/callback?auth_code=junk{n}&expires_in=3600&state={}",
            state_of(&href)
        ));
        let (status, _) = app.get(&spend).await;
        assert_ne!(status, 200);
        href = pc_link(&app, &inv).await;
    }
    assert_eq!(
        app.local.sim.calls(PREAUTH),
        u64::from(auth_callback::START_PAGES_PER_HOUR)
    );
    let spend = app.url(&format!(
        "/auth/callback?auth_code=junk&expires_in=3600&state={}",
        state_of(&href)
    ));
    app.get(&spend).await;
    let resp = app
        .http
        .get(inv["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let page = resp.text().await.unwrap();
    assert_eq!(error_code(&page), "too_many_openings");
    assert_eq!(
        app.local.sim.calls(PREAUTH),
        u64::from(auth_callback::START_PAGES_PER_HOUR),
        "the refused opening asked WeChat for nothing"
    );
}
