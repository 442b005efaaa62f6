//! Second faults on the token paths, each on both stores: a recovery that meets a failure of its
//! own (a list that shifts while it is paged, a confirming read that fails, a recovery read
//! that fails after 61023, a merchant who authorizes again while a refusal is being marked)
//! loses no refresh token and leaves no authorizer wrongly marked.

use crate::refresher::RefresherEnv;
use crate::refresher::{
    assert_no_token_lost, authorized, deps, env_on, far, fresh_ticket, live, on_both_stores,
    profile, Seeder, Stores,
};
use crate::store_contract;
use crate::wechat_sim::GET_AUTHORIZER_INFO;
use futures::StreamExt;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use token_refresher::reconcile::reconcile;
use token_refresher::{run, Deps};
use wechat_sim::{Fault, Meanwhile};
use wxopen::domain::{AppId, Clock, UnixTime};
use wxopen::store::{
    Authorizer, AuthorizerChange, AuthorizerFilter, AuthorizerStatus, AuthorizerStore, Page,
    Revocation, Store, StoreResult, TokenKey, TokenState,
};
use wxopen::wechat::{ClientConfig, TokenManager, WechatClient};

const LIST: &str = "/cgi-bin/component/api_get_authorizer_list";

on_both_stores!(
    a_merchant_revoking_between_two_list_pages_gets_no_other_merchant_revoked,
    a_reauthorization_during_the_walk_gets_the_entry_it_shifted_out_of_view_kept,
    an_absent_authorizer_whose_confirmation_fails_is_kept_until_wechat_answers,
    authorizers_held_as_revoked_or_awaiting_that_wechat_lists_are_restored,
    a_failed_recovery_read_after_61023_leaves_the_token_due_for_the_next_run,
    a_refusal_never_marks_a_merchant_who_authorized_again_meanwhile,
    a_refresh_token_wechat_refuses_and_still_reports_is_marked_with_its_profile,
    an_authorization_stored_after_a_refusal_was_marked_clears_the_mark_on_both,
);

/// `n` mini programs authorized at WeChat in the same second, tokens and profiles stored, in the
/// order `api_get_authorizer_list` lists them (auth_time, then appid).
async fn listed(env: &RefresherEnv, st: &Stores, n: usize) -> Vec<AppId> {
    let mut apps = authorized(env, st, n).await;
    // `authorized` stores the first 20 profiles; the walk needs them all.
    futures::stream::iter(apps.iter().skip(20))
        .for_each_concurrent(16, |appid| async move {
            st.store
                .upsert_authorizer(&profile(env, appid))
                .await
                .unwrap();
        })
        .await;
    apps.sort();
    apps
}

async fn status(st: &Stores, appid: &AppId) -> AuthorizerStatus {
    st.store
        .get_authorizer(appid)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn token(st: &Stores, appid: &AppId) -> TokenState {
    st.store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap()
        .state
}

fn stored_refresh(t: &TokenState) -> Option<String> {
    use secrecy::ExposeSecret;
    t.refresh_token
        .as_ref()
        .map(|r| r.expose_secret().to_owned())
}

/// WeChat answers -1 to every `api_get_authorizer_info` until cleared.
fn info_fails(env: &RefresherEnv) {
    env.sim().set_fault(Fault {
        endpoint: Some(GET_AUTHORIZER_INFO.into()),
        forced_errcode: Some((-1, "system error".into())),
        ..Fault::default()
    });
}

/// 520 authorizers; the merchant at index 3 revokes between the reads of page 1 and page 2, so
/// the one at index 500 moves onto page 1, already read. The walk sees the total change and
/// walks again; only the merchant who revoked is asked about, and only it is revoked.
async fn a_merchant_revoking_between_two_list_pages_gets_no_other_merchant_revoked(st: Stores) {
    let env = env_on(&st.store).await;
    let apps = listed(&env, &st, 520).await;
    let (revoking, shifted) = (apps[3].clone(), apps[500].clone());
    env.sim().set_fault(Fault {
        endpoint: Some(LIST.into()),
        after: 1,
        times: Some(1),
        meanwhile: Some(Meanwhile::Unauthorize(revoking.clone())),
        ..Fault::default()
    });
    env.sim().reset_calls();
    let d = deps(&env, &st, env.client());
    let r = reconcile(&d).await.unwrap();
    assert_eq!((r.removed, r.unconfirmed, r.added), (1, 0, 0), "{r:?}");
    assert_eq!(status(&st, &revoking).await, AuthorizerStatus::Unauthorized);
    assert!(token(&st, &revoking).await.is_tombstone());
    assert_eq!(status(&st, &shifted).await, AuthorizerStatus::Authorized);
    assert_eq!(
        stored_refresh(&token(&st, &shifted).await),
        Some(live(&env, &shifted))
    );
    assert_eq!(env.calls(LIST), 4, "the total changed: walked twice");
    assert_eq!(
        env.calls(GET_AUTHORIZER_INFO),
        1,
        "the second walk saw the shifted one: only the revoked one was asked about"
    );
}

/// 520 authorizers; the merchant at index 3 authorizes again between the two page reads: it
/// moves to the end of the list (a later auth_time), the total stays 520, and the one at index
/// 500 slips onto page 1, already read. Absent from the walk, it is asked about and kept.
async fn a_reauthorization_during_the_walk_gets_the_entry_it_shifted_out_of_view_kept(st: Stores) {
    let env = env_on(&st.store).await;
    let apps = listed(&env, &st, 520).await;
    env.clock.advance(10);
    let (moving, shifted) = (apps[3].clone(), apps[500].clone());
    env.sim().set_fault(Fault {
        endpoint: Some(LIST.into()),
        after: 1,
        times: Some(1),
        meanwhile: Some(Meanwhile::Authorize(moving.clone())),
        ..Fault::default()
    });
    env.sim().reset_calls();
    let d = deps(&env, &st, env.client());
    let r = reconcile(&d).await.unwrap();
    assert_eq!((r.removed, r.unconfirmed), (0, 0), "{r:?}");
    assert_eq!(env.calls(LIST), 2, "the total held: one walk");
    assert_eq!(
        env.calls(GET_AUTHORIZER_INFO),
        1,
        "the unseen one was asked about"
    );
    for appid in [&shifted, &moving] {
        assert_eq!(
            status(&st, appid).await,
            AuthorizerStatus::Authorized,
            "{appid}"
        );
    }
    let t = token(&st, &shifted).await;
    assert_eq!(stored_refresh(&t), Some(live(&env, &shifted)));
    assert!(!t.needs_reauthorization);
}

/// A merchant revoked and the `unauthorized` push was lost; the daily walk misses it and the
/// read that would confirm it fails: it is kept (counted), and revoked once WeChat answers.
async fn an_absent_authorizer_whose_confirmation_fails_is_kept_until_wechat_answers(st: Stores) {
    let env = env_on(&st.store).await;
    let apps = listed(&env, &st, 3).await;
    env.sim().unauthorize(&apps[1]).await.unwrap();
    info_fails(&env);
    let d = deps(&env, &st, env.client());
    let r = reconcile(&d).await.unwrap();
    assert_eq!((r.removed, r.unconfirmed), (0, 1), "{r:?}");
    assert_eq!(status(&st, &apps[1]).await, AuthorizerStatus::Authorized);
    assert!(token(&st, &apps[1]).await.refresh_token.is_some());

    env.sim().clear_faults();
    let r = reconcile(&d).await.unwrap();
    assert_eq!((r.removed, r.unconfirmed), (1, 0), "{r:?}");
    assert_eq!(status(&st, &apps[1]).await, AuthorizerStatus::Unauthorized);
    for appid in [&apps[0], &apps[2]] {
        assert_eq!(status(&st, appid).await, AuthorizerStatus::Authorized);
    }
}

/// Two authorizers WeChat has authorized that the store holds wrongly: one revoked (the merchant
/// authorized again and that push was lost), one marked `needs_reauthorization` with the refresh
/// token WeChat still holds. The first daily reconcile cannot read them from WeChat (its read
/// fails): nothing is written, both counted; the next day's restores both, and the same run
/// refreshes them.
async fn authorizers_held_as_revoked_or_awaiting_that_wechat_lists_are_restored(st: Stores) {
    let env = env_on(&st.store).await;
    let apps = authorized(&env, &st, 3).await;
    let (revoked, marked) = (apps[0].clone(), apps[1].clone());
    assert_eq!(
        st.store
            .revoke_authorization(&revoked, env.clock.now())
            .await
            .unwrap(),
        Revocation::Revoked
    );
    env.clock.advance(10);
    env.sim().authorize(&revoked, &[17, 18]).await.unwrap();
    let key = TokenKey::Authorizer(marked.clone());
    let cur = st.store.get_token(&key).await.unwrap().unwrap();
    let judged = TokenState {
        needs_reauthorization: true,
        ..cur.state.clone()
    };
    st.store
        .mark_needs_reauthorization(&marked, &judged, cur.version, env.clock.now())
        .await
        .unwrap();
    assert_eq!(
        status(&st, &marked).await,
        AuthorizerStatus::NeedsReauthorization
    );

    env.clock.advance(86_400);
    fresh_ticket(&env, &st.store).await;
    info_fails(&env);
    let d = deps(&env, &st, env.client());
    let s = run(&d, far()).await.unwrap();
    assert_eq!(
        (s.reconciled_restored, s.reconcile_unconfirmed),
        (0, 2),
        "{s:?}"
    );
    assert_eq!(status(&st, &revoked).await, AuthorizerStatus::Unauthorized);
    assert!(token(&st, &revoked).await.is_tombstone());
    assert!(token(&st, &marked).await.needs_reauthorization);

    env.sim().clear_faults();
    env.clock.advance(86_400);
    fresh_ticket(&env, &st.store).await;
    let s = run(&d, far()).await.unwrap();
    assert_eq!(
        (s.reconciled_restored, s.reconcile_unconfirmed, s.failed),
        (2, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.emf(0)["ReconciledRestored"], 2);
    for appid in &apps {
        let p = st.store.get_authorizer(appid).await.unwrap().unwrap();
        assert_eq!(p.status, AuthorizerStatus::Authorized, "{appid}");
        assert_eq!(p.customer_id.as_deref(), Some("c-1"), "customer kept");
    }
    assert_no_token_lost(&env, &st.store, &apps).await;
}

/// A client that tries once and gives up after 300 ms.
fn one_shot(env: &RefresherEnv) -> WechatClient {
    WechatClient::new(ClientConfig {
        timeout: Duration::from_millis(300),
        max_attempts: 1,
        ..env.client_config()
    })
    .unwrap()
}

/// The stored refresh token answers 61023 (the merchant authorized again elsewhere) and the read
/// of the live one fails: by a transport error (WeChat does not answer in time), or by -1.
/// Neither marks anything: the token stays due, the run counts it apart, and once WeChat
/// answers the next run recovers the live token.
async fn a_failed_recovery_read_after_61023_leaves_the_token_due_for_the_next_run(st: Stores) {
    let env = env_on(&st.store).await;
    let apps = authorized(&env, &st, 2).await;
    let superseded = apps[0].clone();
    let d = deps(&env, &st, one_shot(&env));
    let transport = Fault {
        endpoint: Some(GET_AUTHORIZER_INFO.into()),
        timeout: true,
        ..Fault::default()
    };
    let minus_one = Fault {
        endpoint: Some(GET_AUTHORIZER_INFO.into()),
        forced_errcode: Some((-1, "system error".into())),
        ..Fault::default()
    };
    for (what, fault) in [("transport", transport), ("-1", minus_one)] {
        // The stored refresh token dies: 61023 on its next use.
        env.sim().authorize(&superseded, &[17, 18]).await.unwrap();
        env.sim().set_fault(fault);
        let s = run(&d, far()).await.unwrap();
        assert_eq!(
            (s.refusals_unconfirmed, s.needs_reauthorization, s.failed),
            (1, 0, 0),
            "{what}: {s:?}"
        );
        assert_eq!(s.emf(0)["RefusalsUnconfirmed"], 1);
        env.sim().clear_faults();
        let t = token(&st, &superseded).await;
        assert!(!t.needs_reauthorization, "{what}: not marked");
        assert_eq!(
            status(&st, &superseded).await,
            AuthorizerStatus::Authorized,
            "{what}"
        );
        let due = st
            .store
            .due_authorizer_tokens(env.clock.now() + 1800, None, 100)
            .await
            .unwrap();
        assert!(
            due.items.iter().any(|d| d.appid == superseded),
            "{what}: still due"
        );

        let s = run(&d, far()).await.unwrap();
        assert_eq!(
            (s.refreshed, s.recovered, s.refusals_unconfirmed, s.failed),
            (1, 1, 0, 0),
            "{what}: {s:?}"
        );
        assert_no_token_lost(&env, &st.store, &apps).await;
        env.clock.advance(crate::wechat_sim::TOKEN_TTL);
        fresh_ticket(&env, &st.store).await;
    }
}

/// An authorizer store on which, when a refusal is about to be marked, the merchant has just
/// authorized again and the callback has stored the new grant (the race the mark must lose).
struct ReauthorizedBeforeTheMark {
    inner: Arc<dyn Store>,
    /// The callback's process: exchanges the new code and stores token and profile.
    callback: TokenManager,
    clock: Arc<dyn Clock>,
    sim_url: String,
    fired: std::sync::atomic::AtomicBool,
}

impl ReauthorizedBeforeTheMark {
    async fn authorize_again(&self, appid: &AppId) {
        let v: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/_sim/accounts/{appid}/authorize", self.sim_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let code = SecretString::from(v["auth_code"].as_str().unwrap().to_owned());
        let info = self
            .callback
            .exchange_auth_code(&code, Some(appid))
            .await
            .unwrap();
        assert_eq!(&info.authorizer_appid, appid);
        let at = self.clock.now();
        self.inner
            .update_authorizer(appid, &|cur| {
                let mut fresh = cur?.clone();
                fresh.status = AuthorizerStatus::Authorized;
                fresh.authorized_at = at;
                fresh.updated_at = at;
                Some(fresh)
            })
            .await
            .unwrap();
    }
}

#[async_trait::async_trait]
impl AuthorizerStore for ReauthorizedBeforeTheMark {
    async fn upsert_authorizer(&self, a: &Authorizer) -> StoreResult<()> {
        self.inner.upsert_authorizer(a).await
    }
    async fn set_authorizer_status(
        &self,
        appid: &AppId,
        status: AuthorizerStatus,
        at: UnixTime,
    ) -> StoreResult<()> {
        self.inner.set_authorizer_status(appid, status, at).await
    }
    async fn get_authorizer(&self, appid: &AppId) -> StoreResult<Option<Authorizer>> {
        self.inner.get_authorizer(appid).await
    }
    async fn update_authorizer(
        &self,
        appid: &AppId,
        change: AuthorizerChange<'_>,
    ) -> StoreResult<Option<Authorizer>> {
        self.inner.update_authorizer(appid, change).await
    }
    async fn revoke_authorization(
        &self,
        appid: &AppId,
        event_time: UnixTime,
    ) -> StoreResult<Revocation> {
        self.inner.revoke_authorization(appid, event_time).await
    }
    async fn mark_needs_reauthorization(
        &self,
        appid: &AppId,
        marked: &TokenState,
        token_version: u64,
        at: UnixTime,
    ) -> StoreResult<u64> {
        if !self.fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.authorize_again(appid).await;
        }
        self.inner
            .mark_needs_reauthorization(appid, marked, token_version, at)
            .await
    }
    async fn authorizer_by_user_name(&self, user_name: &str) -> StoreResult<Option<Authorizer>> {
        self.inner.authorizer_by_user_name(user_name).await
    }
    async fn list_authorizers(
        &self,
        filter: &AuthorizerFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        self.inner.list_authorizers(filter, cursor, limit).await
    }
}

/// The merchant revoked (the push was lost): the refresher's token answers 61023 and WeChat
/// confirms the account no longer authorizes us (61003). Just before the mark, the merchant
/// authorizes again and the callback stores the new grant. The refusal judged the old grant:
/// neither the new token nor the profile is marked, and the run counts nobody as needing to
/// authorize again.
async fn a_refusal_never_marks_a_merchant_who_authorized_again_meanwhile(st: Stores) {
    let env = env_on(&st.store).await;
    let apps = authorized(&env, &st, 1).await;
    let appid = apps[0].clone();
    env.sim().unauthorize(&appid).await.unwrap();
    env.clock.advance(10);
    let racing = Arc::new(ReauthorizedBeforeTheMark {
        inner: st.store.clone(),
        callback: env
            .manager_on(st.backend.clone(), env.client())
            .with_authorizers(st.authorizers.clone()),
        clock: Arc::new(env.clock.clone()),
        sim_url: env.sim().base_url(),
        fired: std::sync::atomic::AtomicBool::new(false),
    });
    let d = Deps {
        mgr: Arc::new(
            env.manager_on(st.backend.clone(), env.client())
                .with_authorizers(racing.clone()),
        ),
        ..deps(&env, &st, env.client())
    };
    let s = run(&d, far()).await.unwrap();
    assert!(
        racing.fired.load(std::sync::atomic::Ordering::SeqCst),
        "the refusal reached the mark"
    );
    assert_eq!((s.needs_reauthorization, s.failed), (0, 0), "{s:?}");
    let p = st.store.get_authorizer(&appid).await.unwrap().unwrap();
    assert_eq!(p.status, AuthorizerStatus::Authorized);
    assert_no_token_lost(&env, &st.store, &apps).await;
}

/// The baseline the cases above depart from: WeChat refuses the stored refresh token (61023) and
/// reports that very token as the live one. That is WeChat's definite answer: token and profile
/// are marked together, counted once, and the token leaves the due index.
async fn a_refresh_token_wechat_refuses_and_still_reports_is_marked_with_its_profile(st: Stores) {
    let env = env_on(&st.store).await;
    let apps = authorized(&env, &st, 2).await;
    env.sim().set_fault(Fault {
        endpoint: Some(crate::wechat_sim::AUTHORIZER_TOKEN.into()),
        forced_errcode: Some((61023, "refresh_token is invalid".into())),
        times: Some(1),
        ..Fault::default()
    });
    let d = deps(&env, &st, env.client());
    let s = run(&d, far()).await.unwrap();
    assert_eq!(
        (s.needs_reauthorization, s.refreshed, s.failed),
        (1, 1, 0),
        "{s:?}"
    );
    let mut marked = Vec::new();
    for appid in &apps {
        if token(&st, appid).await.needs_reauthorization {
            marked.push(appid.clone());
        }
    }
    assert_eq!(marked.len(), 1);
    assert_eq!(
        status(&st, &marked[0]).await,
        AuthorizerStatus::NeedsReauthorization
    );
    let due = st
        .store
        .due_authorizer_tokens(i64::MAX, None, 100)
        .await
        .unwrap();
    assert!(!due.items.iter().any(|d| d.appid == marked[0]));
}

/// The other order of the race above: the refusal of the old grant is marked first (token and
/// profile), then the `authorized` push of the merchant's new authorization, created before the
/// mark, is processed. The new grant clears the mark on the token and on the profile alike.
async fn an_authorization_stored_after_a_refusal_was_marked_clears_the_mark_on_both(st: Stores) {
    let env = env_on(&st.store).await;
    let apps = authorized(&env, &st, 1).await;
    let appid = apps[0].clone();
    env.clock.advance(10);
    let created = env.clock.now();
    let code = env.sim().authorize(&appid, &[17, 18]).await.unwrap();
    env.clock.advance(5);
    let key = TokenKey::Authorizer(appid.clone());
    let cur = st.store.get_token(&key).await.unwrap().unwrap();
    let judged = TokenState {
        needs_reauthorization: true,
        ..cur.state.clone()
    };
    st.store
        .mark_needs_reauthorization(&appid, &judged, cur.version, env.clock.now())
        .await
        .unwrap();
    let mgr = Arc::new(
        env.manager_on(st.backend.clone(), env.client())
            .with_authorizers(st.authorizers.clone()),
    );
    let onboarding =
        wxopen::onboarding::Onboarding::new(mgr, st.store.clone(), Arc::new(env.clock.clone()));
    onboarding
        .complete(&SecretString::from(code), Some(&appid), None, created)
        .await
        .unwrap();
    let t = token(&st, &appid).await;
    assert!(!t.needs_reauthorization);
    assert_eq!(stored_refresh(&t), Some(live(&env, &appid)));
    assert_eq!(status(&st, &appid).await, AuthorizerStatus::Authorized);
}
