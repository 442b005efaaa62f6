//! The component flow end to end: ticket → component token → pre_auth_code → consent →
//! `api_query_auth` → stored tokens → authorizer info and list; and the template library.

use super::*;
use wechat_sim::AccountSpec;
use wxopen::store::{TokenKey, TokenStore};
use wxopen::wechat::component::TemplateType;
use wxopen::wechat::ErrorKind;

/// What an admin's click on 授权 in the consent page posts; returns the redirect target.
async fn approve_in_consent_page(
    env: &Env,
    pre_auth_code: &str,
    appid: &AppId,
    func_info: &[u32],
) -> reqwest::Response {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("pre_auth_code", pre_auth_code)
        .append_pair(
            "redirect_uri",
            "https://wxopen.example.com/authorized?tenant=7",
        )
        .append_pair("appid", appid.as_str());
    for f in func_info {
        form.append_pair("func_info", &f.to_string());
    }
    wxopen::https::reqwest_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/_sim/consent/approve", env.sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .unwrap()
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(location).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn the_component_flow_runs_end_to_end_from_the_first_ticket_to_the_authorizer_list() {
    let env = Env::cold().await;
    let mgr = env.manager();

    // Cold start: no ticket yet. Ask WeChat to push one (no token needed).
    let err = mgr.component_access_token().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    assert_eq!(env.calls(COMPONENT_TOKEN), 0, "no ticket, no call");
    mgr.component().start_push_ticket().await.unwrap();
    let mut ticket = None;
    for _ in 0..200 {
        ticket = env.sim.current_ticket();
        if ticket.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ticket = ticket.expect("the simulator issues a ticket after api_start_push_ticket");
    env.store
        .save_ticket(
            &env.component,
            &Ticket {
                value: SecretString::from(ticket),
                received_at: env.clock.now(),
                created_at: env.clock.now(),
            },
        )
        .await
        .unwrap();

    // Component token, then a pre_auth_code for the authorization link.
    let ctoken = mgr.component_access_token().await.unwrap();
    assert!(!expose(&ctoken).is_empty());
    let pre = mgr
        .component()
        .call(&wxopen::wechat::component::ApiCreatePreauthcode {
            component_appid: mgr.component_appid(),
        })
        .await
        .unwrap();
    assert_eq!(pre.expires_in, 600);
    assert!(!expose(&pre.pre_auth_code).is_empty());

    // The merchant's admin approves in the consent page; WeChat redirects with the auth_code.
    let appid = env.sim.add_account(AccountSpec::mini_program());
    let resp = approve_in_consent_page(&env, expose(&pre.pre_auth_code), &appid, &[17, 18]).await;
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&location, "tenant").as_deref(), Some("7"));
    assert_eq!(query_param(&location, "expires_in").as_deref(), Some("600"));
    let auth_code = query_param(&location, "auth_code").expect("auth_code in the redirect");

    // The pre_auth_code is single use.
    let again = approve_in_consent_page(&env, expose(&pre.pre_auth_code), &appid, &[17, 18]).await;
    assert_eq!(again.status(), 400);

    // Exchange the code and store the tokens.
    let q = mgr
        .component()
        .call(&wxopen::wechat::component::ApiQueryAuth {
            component_appid: mgr.component_appid(),
            authorization_code: &auth_code,
        })
        .await
        .unwrap();
    let info = &q.authorization_info;
    assert_eq!(info.authorizer_appid, appid);
    assert_eq!(info.expires_in, Some(TOKEN_TTL));
    assert_eq!(info.granted_permission_ids(), vec![17, 18]);
    let access = info.authorizer_access_token.clone().unwrap();
    let refresh = info.authorizer_refresh_token.clone().unwrap();
    mgr.save_authorization(info).await.unwrap();
    let stored = env
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(stored.expires_at, T0 + TOKEN_TTL);
    assert_eq!(
        expose(stored.refresh_token.as_ref().unwrap()),
        expose(&refresh)
    );
    assert_eq!(
        expose(&mgr.authorizer_access_token(&appid).await.unwrap()),
        expose(&access),
        "the token from api_query_auth is used as it is"
    );
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 0);

    // An auth code is single use too: 61009, a business error.
    let used = mgr
        .component()
        .call(&wxopen::wechat::component::ApiQueryAuth {
            component_appid: mgr.component_appid(),
            authorization_code: &auth_code,
        })
        .await
        .unwrap_err();
    assert_eq!(used.errcode(), Some(61009));
    assert_eq!(used.kind(), ErrorKind::Business);

    // The profile and the list.
    let profile = mgr
        .component()
        .call(&wxopen::wechat::component::ApiGetAuthorizerInfo {
            component_appid: mgr.component_appid(),
            authorizer_appid: &appid,
        })
        .await
        .unwrap();
    let account = env.sim.account(&appid).unwrap();
    assert!(profile.authorizer_info.is_mini_program());
    assert_eq!(profile.authorizer_info.nick_name, account.nick_name);
    assert_eq!(profile.authorizer_info.user_name, account.user_name);
    assert_eq!(
        profile.authorizer_info.principal_name,
        account.principal_name
    );
    assert_eq!(profile.authorization_info.authorizer_appid, appid);
    assert_eq!(
        profile.authorization_info.granted_permission_ids(),
        vec![17, 18]
    );
    assert_eq!(
        expose(
            profile
                .authorization_info
                .authorizer_refresh_token
                .as_ref()
                .unwrap()
        ),
        expose(&refresh)
    );

    let list = mgr
        .component()
        .call(&wxopen::wechat::component::ApiGetAuthorizerList {
            component_appid: mgr.component_appid(),
            offset: 0,
            count: 500,
        })
        .await
        .unwrap();
    assert_eq!(list.total_count, 1);
    assert_eq!(list.list.len(), 1);
    assert_eq!(list.list[0].appid(), Some(appid.clone()));
    assert_eq!(list.list[0].auth_time, T0);

    // Ask for another ticket push: the simulator issues a new one.
    let before = env.sim.current_ticket();
    mgr.component().start_push_ticket().await.unwrap();
    let mut changed = false;
    for _ in 0..200 {
        if env.sim.current_ticket() != before {
            changed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        changed,
        "api_start_push_ticket makes the simulator issue a ticket"
    );

    // One component token served the whole flow.
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
    assert_eq!(env.calls(CREATE_PREAUTHCODE), 1);
}

#[tokio::test]
async fn the_authorizer_list_pages_through_authorizations_oldest_first() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let mut appids = Vec::new();
    for _ in 0..3 {
        appids.push(env.authorized_mini_program(&mgr).await);
        env.clock.advance(1);
    }
    let page1 = mgr
        .component()
        .call(&wxopen::wechat::component::ApiGetAuthorizerList {
            component_appid: mgr.component_appid(),
            offset: 0,
            count: 2,
        })
        .await
        .unwrap();
    let page2 = mgr
        .component()
        .call(&wxopen::wechat::component::ApiGetAuthorizerList {
            component_appid: mgr.component_appid(),
            offset: 2,
            count: 2,
        })
        .await
        .unwrap();
    assert_eq!(page1.total_count, 3);
    assert_eq!(page2.total_count, 3);
    let got: Vec<AppId> = page1
        .list
        .iter()
        .chain(page2.list.iter())
        .filter_map(|i| i.appid())
        .collect();
    assert_eq!(got, appids, "oldest authorization first");
}

#[tokio::test]
async fn an_official_account_profile_has_no_mini_program_info() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env
        .authorized(&mgr, AccountSpec::official_account(), &[1, 2])
        .await;
    let profile = mgr
        .component()
        .call(&wxopen::wechat::component::ApiGetAuthorizerInfo {
            component_appid: mgr.component_appid(),
            authorizer_appid: &appid,
        })
        .await
        .unwrap();
    assert!(!profile.authorizer_info.is_mini_program());
    assert_eq!(
        profile
            .authorizer_info
            .service_type_info
            .as_ref()
            .unwrap()
            .id,
        2
    );
}

#[tokio::test]
async fn the_profile_of_an_unauthorized_account_is_a_business_error() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    let appid = env.authorized_mini_program(&mgr).await;
    env.sim.unauthorize(&appid).await.unwrap();
    let err = mgr
        .component()
        .call(&wxopen::wechat::component::ApiGetAuthorizerInfo {
            component_appid: mgr.component_appid(),
            authorizer_appid: &appid,
        })
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(61003));
    assert_eq!(err.kind(), ErrorKind::Business);
}

#[tokio::test]
async fn the_template_library_moves_a_draft_into_the_templates_and_deletes_it() {
    let env = Env::with_ticket().await;
    let mgr = env.manager();
    env.sim.add_draft(31, "2.1.0");

    let drafts = mgr
        .component()
        .call(&wxopen::wechat::component::GetTemplateDraftList)
        .await
        .unwrap()
        .draft_list;
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].draft_id, 31);
    assert_eq!(drafts[0].user_version, "2.1.0");

    mgr.component()
        .call(&wxopen::wechat::component::AddToTemplate {
            draft_id: 31,
            template_type: TemplateType::Normal,
        })
        .await
        .unwrap();
    let all = mgr
        .component()
        .call(&wxopen::wechat::component::GetTemplateList {
            template_type: None,
        })
        .await
        .unwrap()
        .template_list;
    assert_eq!(all.len(), 1);
    let template = &all[0];
    assert_eq!(template.user_version, "2.1.0");
    assert_eq!(template.template_type, Some(0));
    let standard = mgr
        .component()
        .call(&wxopen::wechat::component::GetTemplateList {
            template_type: Some(TemplateType::Standard),
        })
        .await
        .unwrap()
        .template_list;
    assert!(standard.is_empty(), "filtered by template_type");

    mgr.component()
        .call(&wxopen::wechat::component::DeleteTemplate {
            template_id: template.template_id,
        })
        .await
        .unwrap();
    assert!(mgr
        .component()
        .call(&wxopen::wechat::component::GetTemplateList {
            template_type: None
        })
        .await
        .unwrap()
        .template_list
        .is_empty());
    let gone = mgr
        .component()
        .call(&wxopen::wechat::component::DeleteTemplate {
            template_id: template.template_id,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.errcode(), Some(85064));
    assert_eq!(gone.kind(), ErrorKind::Business);

    let unknown = mgr
        .component()
        .call(&wxopen::wechat::component::AddToTemplate {
            draft_id: 99,
            template_type: TemplateType::Standard,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.errcode(), Some(85064));
    assert_eq!(env.calls(COMPONENT_TOKEN), 1);
}

#[tokio::test]
async fn start_push_ticket_with_a_wrong_secret_is_a_business_error_and_issues_no_ticket() {
    let env = Env::cold().await;
    let store: Arc<dyn TokenBackend> = env.store.clone();
    let mgr = TokenManager::new(
        env.client(),
        store,
        env.component.clone(),
        SecretString::from("not-the-secret"),
        Arc::new(env.clock.clone()),
    );
    let err = mgr.component().start_push_ticket().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Business, "{err}");
    assert!(err.errcode().is_some());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(env.sim.current_ticket(), None);
}
