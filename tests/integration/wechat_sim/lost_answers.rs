//! Lost answers: WeChat applied a call whose answer never arrived (the simulator's `lose_answer`
//! fault), with strict refresh-token rotation (a rotated refresh token dies at once). A refresh
//! token, a single-use code or an auditid is never lost, and no refresh token is presented twice.

use super::*;
use wechat_sim::Fault;
use wxopen::domain::AuditStatus;
use wxopen::store::{AuditStore, StoreError, StoreResult, TokenKey, TokenState, TokenStore};
use wxopen::wechat::reconcile::{self, Submission};
use wxopen::wechat::wxa::{Commit, SubmitAudit};
use wxopen::wechat::WechatError;

const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";
const SUBMIT_AUDIT: &str = "/wxa/submit_audit";

/// Strict rotation, a ticket stored, one mini program authorized and stored.
async fn strict_env() -> Env {
    let env = Env::cold_with(|c| c.rotate_refresh_tokens = true).await;
    env.store_new_ticket().await;
    env
}

/// A client whose timeout is far below the simulator's 60 s hold of a lost answer.
fn impatient(env: &Env) -> WechatClient {
    WechatClient::new(ClientConfig {
        timeout: Duration::from_millis(400),
        ..env.client_config()
    })
    .unwrap()
}

fn lose_next(env: &Env, endpoint: &str) {
    env.sim.set_fault(Fault {
        endpoint: Some(endpoint.to_owned()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
}

fn live_refresh_token(env: &Env, appid: &AppId) -> String {
    env.sim
        .account(appid)
        .unwrap()
        .authorization
        .unwrap()
        .refresh_token
}

async fn stored(store: &dyn TokenStore, appid: &AppId) -> TokenState {
    store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .unwrap()
        .state
}

/// WeChat rotated R0 -> R1 but the answer was lost. Today's retry presented R0 again, got 61023
/// and kept the dead R0. Now the live token is read back from WeChat and the refresh completes.
async fn lost_authorizer_token_answer(env: &Env, store: Arc<dyn TokenBackend>) {
    let mgr = env.manager_on(store.clone(), impatient(env));
    let appid = env.authorized_mini_program(&mgr).await;
    env.clock.advance(TOKEN_TTL);
    env.sim.reset_calls();
    lose_next(env, AUTHORIZER_TOKEN);

    mgr.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();

    let state = stored(store.as_ref(), &appid).await;
    assert_eq!(
        expose(state.refresh_token.as_ref().unwrap()),
        live_refresh_token(env, &appid),
        "the live refresh token is stored"
    );
    assert!(!state.needs_reauthorization);
    assert_eq!(
        env.sim.refresh_token_reuses(),
        0,
        "R0 was never presented twice"
    );
    assert_eq!(
        env.calls(AUTHORIZER_TOKEN),
        2,
        "the lost one, then one with the live token"
    );
    assert_eq!(env.calls(GET_AUTHORIZER_INFO), 1);
}

#[tokio::test]
async fn a_lost_authorizer_token_answer_keeps_the_live_refresh_token_embedded() {
    let env = strict_env().await;
    lost_authorizer_token_answer(&env, env.store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_authorizer_token_answer_keeps_the_live_refresh_token_dynamodb() {
    let Some(store) = crate::store_contract::dynamodb().await else {
        return;
    };
    let env = strict_env().await;
    let store = Arc::new(store);
    let ticket = env.sim.current_ticket().unwrap();
    wxopen::store::TicketStore::save_ticket(
        store.as_ref(),
        &env.component,
        &wxopen::store::Ticket {
            value: SecretString::from(ticket),
            received_at: env.clock.now(),
            created_at: env.clock.now(),
        },
    )
    .await
    .unwrap();
    lost_authorizer_token_answer(&env, store).await;
}

/// A store whose writes of a refreshed token fail while armed (a DynamoDB throttle, a Lambda
/// killed between WeChat's answer and the write).
struct FailingWrites {
    inner: Arc<wxopen::store::embedded::EmbeddedStore>,
    armed: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl TokenStore for FailingWrites {
    async fn get_token(
        &self,
        key: &TokenKey,
    ) -> StoreResult<Option<wxopen::store::VersionedToken>> {
        self.inner.get_token(key).await
    }
    async fn put_token(
        &self,
        key: &TokenKey,
        state: &TokenState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        let refreshed = state.access_token.is_some() && state.lease_until == 0;
        if refreshed
            && matches!(key, TokenKey::Authorizer(_))
            && self
                .armed
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok()
        {
            return Err(StoreError::Backend(anyhow::anyhow!("throttled")));
        }
        self.inner.put_token(key, state, expected).await
    }
    async fn delete_token(&self, key: &TokenKey) -> StoreResult<()> {
        self.inner.delete_token(key).await
    }
    async fn due_authorizer_tokens(
        &self,
        before: i64,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<wxopen::store::Page<wxopen::store::DueToken>> {
        self.inner
            .due_authorizer_tokens(before, cursor, limit)
            .await
    }
}

#[async_trait::async_trait]
impl wxopen::store::TicketStore for FailingWrites {
    async fn save_ticket(&self, c: &AppId, t: &wxopen::store::Ticket) -> StoreResult<()> {
        self.inner.save_ticket(c, t).await
    }
    async fn latest_ticket(&self, c: &AppId) -> StoreResult<Option<wxopen::store::Ticket>> {
        self.inner.latest_ticket(c).await
    }
}

/// The rotation happened at WeChat but every write of its result failed: the next run (after the
/// lease runs out) learns the token is in doubt, reads the live one from WeChat and carries on.
#[tokio::test]
async fn a_failed_write_after_rotation_is_recovered_by_the_next_run() {
    let env = strict_env().await;
    let failing = Arc::new(FailingWrites {
        inner: env.store.clone(),
        armed: std::sync::atomic::AtomicU32::new(0),
    });
    let mgr = env.manager_on(failing.clone(), env.client());
    let appid = env.authorized_mini_program(&mgr).await;
    let r0 = live_refresh_token(&env, &appid);
    env.clock.advance(TOKEN_TTL);
    failing
        .armed
        .store(100, std::sync::atomic::Ordering::SeqCst);
    let err = mgr.authorizer_access_token(&appid).await.unwrap_err();
    assert!(matches!(err, WechatError::Store(_)), "{err:?}");
    assert_ne!(live_refresh_token(&env, &appid), r0, "WeChat rotated it");
    assert_eq!(
        expose(
            stored(env.store.as_ref(), &appid)
                .await
                .refresh_token
                .as_ref()
                .unwrap()
        ),
        r0,
        "only the dead R0 is stored"
    );

    failing.armed.store(0, std::sync::atomic::Ordering::SeqCst);
    env.clock.advance(fast_policy().lease_secs + 1);
    let next_run = env.manager();
    assert!(next_run.refresh_authorizer_if_due(&appid).await.unwrap());
    let state = stored(env.store.as_ref(), &appid).await;
    assert_eq!(
        expose(state.refresh_token.as_ref().unwrap()),
        live_refresh_token(&env, &appid)
    );
    assert!(!state.needs_reauthorization);
    assert_eq!(env.sim.refresh_token_reuses(), 0);
    next_run
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
}

/// A call outlives the lease that guards it (WeChat slow): the holder gives up before its lease
/// ends, WeChat applies the call after that (the simulator's `apply_late`: R0 rotated, the answer
/// gone with its caller), and whoever takes the lease next asks WeChat for the live refresh token
/// first. No refresh token is ever presented twice.
#[tokio::test]
async fn a_lease_that_runs_out_mid_call_never_lets_one_refresh_token_be_presented_twice() {
    let env = strict_env().await;
    let policy = TokenPolicy {
        lease_secs: 3,
        call_margin_secs: 2,
        ..fast_policy()
    };
    let a = env.manager().with_policy(policy.clone());
    let appid = env.authorized_mini_program(&a).await;
    let r0 = live_refresh_token(&env, &appid);
    env.clock.advance(TOKEN_TTL);
    env.sim.set_fault(Fault {
        endpoint: Some(AUTHORIZER_TOKEN.to_owned()),
        latency: Duration::from_millis(1_200),
        apply_late: true,
        times: Some(1),
        ..Fault::default()
    });
    // A's lease allows 1 s of calls; WeChat takes 1.2 s, and applies the call all the same.
    let err = a.authorizer_access_token(&appid).await.unwrap_err();
    assert!(
        matches!(err, WechatError::LeaseWaitTimeout { .. }),
        "{err:?}"
    );
    env.sim.settle_late_calls().await;
    assert_ne!(
        live_refresh_token(&env, &appid),
        r0,
        "WeChat rotated R0 after A gave up"
    );
    // A's lease runs out; B takes over.
    env.clock.advance(4);
    let b = env.manager().with_policy(policy);
    b.authorizer_access_token(&appid).await.unwrap();
    assert_eq!(env.sim.refresh_token_reuses(), 0, "R0 was presented once");
    assert_eq!(
        expose(
            stored(env.store.as_ref(), &appid)
                .await
                .refresh_token
                .as_ref()
                .unwrap()
        ),
        live_refresh_token(&env, &appid)
    );
    assert_eq!(
        env.calls(AUTHORIZER_TOKEN),
        2,
        "A's, then B's with the live token"
    );
    b.wxa(&appid)
        .call(&wxopen::wechat::wxa::GetCategory)
        .await
        .unwrap();
}

/// The merchant's browser reached the callback, api_query_auth consumed the single-use code,
/// and the answer was lost. The tokens are read back from WeChat and stored.
#[tokio::test]
async fn a_lost_query_auth_answer_still_stores_the_tokens() {
    let env = strict_env().await;
    let mgr = env.manager_with(impatient(&env));
    // Without a hint first: the only account authorized since the call began is the one.
    for hint in [false, true] {
        env.clock.advance(3_600);
        let appid = env.sim.add_account(AccountSpec::mini_program());
        let code = env.sim.authorize(&appid, &[17, 18]).await.unwrap();
        lose_next(&env, QUERY_AUTH);
        let before = env.calls(QUERY_AUTH);
        let info = mgr
            .exchange_auth_code(&SecretString::from(code), hint.then_some(&appid))
            .await
            .unwrap();
        assert_eq!(info.authorizer_appid, appid);
        assert_eq!(
            env.calls(QUERY_AUTH),
            before + 1,
            "a spent code is never sent again"
        );
        assert_eq!(
            expose(
                stored(env.store.as_ref(), &appid)
                    .await
                    .refresh_token
                    .as_ref()
                    .unwrap()
            ),
            live_refresh_token(&env, &appid),
            "hint: {hint}"
        );
        // And the token works.
        mgr.wxa(&appid)
            .call(&wxopen::wechat::wxa::GetCategory)
            .await
            .unwrap();
    }

    // Two merchants authorized at once and no hint: no guess (the `authorized` push, which names
    // the appid, settles it); the answer-lost error is returned and nothing is stored.
    env.clock.advance(3_600);
    let a = env.sim.add_account(AccountSpec::mini_program());
    let b = env.sim.add_account(AccountSpec::mini_program());
    let code = env.sim.authorize(&a, &[17, 18]).await.unwrap();
    env.sim.authorize(&b, &[17, 18]).await.unwrap();
    lose_next(&env, QUERY_AUTH);
    let err = mgr
        .exchange_auth_code(&SecretString::from(code), None)
        .await
        .unwrap_err();
    assert!(err.outcome_unknown(), "{err:?}");
    assert!(env
        .store
        .get_token(&TokenKey::Authorizer(a))
        .await
        .unwrap()
        .is_none());
}

/// A mini program authorized and stored, with template 7 committed as version 1.0.0.
async fn committed() -> (Env, wxopen::wechat::TokenManager, AppId) {
    let env = strict_env().await;
    let mgr = env.manager_with(impatient(&env));
    let appid = env.authorized_mini_program(&mgr).await;
    env.sim.add_template(7, "1.0.0");
    mgr.wxa(&appid)
        .call(&Commit::new(7, &serde_json::json!({}), "1.0.0", "first"))
        .await
        .unwrap();
    (env, mgr, appid)
}

fn first_submission() -> Submission {
    Submission {
        template_id: Some(7),
        user_version: Some("1.0.0".into()),
        user_desc: Some("first".into()),
    }
}

/// submit_audit was applied but its answer lost: the auditid is found through
/// get_latest_auditstatus and recorded; no second submission (which would be 85009).
#[tokio::test]
async fn a_lost_submit_audit_answer_still_records_the_auditid() {
    let (env, mgr, appid) = committed().await;
    lose_next(&env, SUBMIT_AUDIT);
    let submission = first_submission();
    let record = reconcile::submit_audit(
        &mgr,
        env.store.as_ref(),
        &env.clock,
        &appid,
        &SubmitAudit::default(),
        &submission,
    )
    .await
    .unwrap();
    assert_eq!(env.calls(SUBMIT_AUDIT), 1, "never submitted twice");
    let sim_audit = env.sim.account(&appid).unwrap().code;
    let latest = env.store.latest_audit(&appid).await.unwrap().unwrap();
    assert_eq!(latest.auditid, record.auditid);
    assert_eq!(latest.status, AuditStatus::Auditing);
    assert_eq!(latest.user_version.as_deref(), Some("1.0.0"));
    let wechat_latest = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetLatestAuditstatus)
        .await
        .unwrap();
    assert_eq!(wechat_latest.auditid, record.auditid, "{sim_audit:?}");

    // Without a lost answer, nothing is reconciled and a second submit is WeChat's 85009.
    let err = reconcile::submit_audit(
        &mgr,
        env.store.as_ref(),
        &env.clock,
        &appid,
        &SubmitAudit::default(),
        &submission,
    )
    .await
    .unwrap_err();
    assert_eq!(err.errcode(), Some(85009));
}

/// release was applied but its answer lost: getversioninfo shows the version online, so the
/// audit is marked released; no second release (which WeChat refuses).
#[tokio::test]
async fn a_lost_release_answer_still_marks_the_audit_released() {
    let (env, mgr, appid) = committed().await;
    let submission = first_submission();
    let audit = reconcile::submit_audit(
        &mgr,
        env.store.as_ref(),
        &env.clock,
        &appid,
        &SubmitAudit::default(),
        &submission,
    )
    .await
    .unwrap();
    env.sim
        .decide_audit(&appid, wechat_sim::AuditOutcome::Success)
        .await
        .unwrap();
    lose_next(&env, "/wxa/release");
    let before = env.calls("/wxa/release");
    reconcile::release(
        &mgr,
        env.store.as_ref(),
        &env.clock,
        &appid,
        audit.auditid,
        Some("1.0.0"),
    )
    .await
    .unwrap();
    assert_eq!(
        env.calls("/wxa/release"),
        before + 1,
        "never released twice"
    );
    let got = env.store.latest_audit(&appid).await.unwrap().unwrap();
    assert_eq!(got.released_at, Some(env.clock.now()));
    let online = mgr
        .wxa(&appid)
        .call(&wxopen::wechat::wxa::GetVersionInfo {})
        .await
        .unwrap();
    assert_eq!(online.release_info.unwrap().release_version, "1.0.0");
}
