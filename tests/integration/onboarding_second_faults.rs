//! A claimed authorization code whose first path never finished is recovered, and the recovery
//! survives a failure of its own: a lost `api_query_auth` answer whose read-back fails, a path
//! killed after the exchange (its claim left behind), and store errors after the exchange.
//! Both paths call [`Onboarding::complete`] (the callback with its invitation, the `authorized`
//! push with the appid), against the simulator on one manual clock and the embedded store.

use crate::wechat_sim::{expose, Env, GET_AUTHORIZER_INFO};
use secrecy::SecretString;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wechat_sim::{AccountSpec, Fault};
use wxopen::domain::{AppId, Clock};
use wxopen::onboarding::{code_id, Onboarding, OnboardingError, CLAIM_DEADLINE_SECS};
use wxopen::store::embedded::EmbeddedStore;
use wxopen::store::{
    AuthorizerStore, CustomerBinding, Invitation, InvitationStore, SingleUseKind, SingleUseStore,
    StoreError, StoreResult, TicketStore, TokenKey, TokenState, TokenStore,
};
use wxopen::wechat::{ClientConfig, TokenBackend, TokenManager, WechatClient};

const QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";

/// A manager whose client gives up on a lost answer quickly (the simulator holds it 60 s).
fn manager(env: &Env, tokens: Arc<dyn TokenBackend>) -> Arc<TokenManager> {
    let client = WechatClient::new(ClientConfig {
        timeout: Duration::from_millis(400),
        ..env.client_config()
    })
    .unwrap();
    Arc::new(env.manager_on(tokens, client))
}

fn onboarding(env: &Env, mgr: Arc<TokenManager>) -> Onboarding {
    Onboarding::new(mgr, env.store.clone(), Arc::new(env.clock.clone())).with_wait(Duration::ZERO)
}

/// An invitation for `customer`, stored, and the binding the callback brings from its state.
async fn invitation(env: &Env, customer: &str) -> CustomerBinding {
    let now = env.clock.now();
    let inv = Invitation {
        id: format!("{now:012x}{:032x}", customer.len()),
        customer_id: customer.to_owned(),
        auth_type: 2,
        biz_appid: None,
        created_at: now,
        expires_at: now + 86_400,
        revoked_at: None,
        used_at: None,
        used_by: None,
    };
    env.store.create_invitation(&inv).await.unwrap();
    CustomerBinding {
        customer_id: customer.to_owned(),
        invitation_id: inv.id,
    }
}

/// A merchant approved on the consent page: the account and its single-use code.
async fn consented(env: &Env) -> (AppId, SecretString) {
    let appid = env.sim.add_account(AccountSpec::mini_program());
    let code = env.sim.authorize(&appid, &[17, 18]).await.unwrap();
    (appid, SecretString::from(code))
}

fn fail_next(env: &Env, endpoint: &str, times: u32) {
    env.sim.set_fault(Fault {
        endpoint: Some(endpoint.to_owned()),
        forced_errcode: Some((-1, "system error".into())),
        times: Some(times),
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

async fn assert_on_board(env: &Env, appid: &AppId, customer: &str, binding: &CustomerBinding) {
    let token = env
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .expect("tokens stored");
    assert_eq!(
        expose(token.state.refresh_token.as_ref().unwrap()),
        live_refresh_token(env, appid),
        "the live refresh token is stored"
    );
    let a = env.store.get_authorizer(appid).await.unwrap().unwrap();
    assert_eq!(a.customer_id.as_deref(), Some(customer));
    assert_eq!(a.func_info, vec![17, 18]);
    let inv = env
        .store
        .get_invitation(&binding.invitation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv.used_by.as_ref(), Some(appid));
}

/// The callback's exchange answer is lost and its read-back fails too: the push, which names
/// the appid, recovers the authorization once the claim's deadline has passed, for the claim's
/// customer; the code is never presented twice.
#[tokio::test]
async fn a_lost_exchange_answer_whose_read_back_fails_is_recovered_after_the_claims_deadline() {
    let env = Env::with_ticket().await;
    let mgr = manager(&env, env.store.clone());
    let ob = onboarding(&env, mgr.clone());
    let binding = invitation(&env, "cust-lost").await;
    let (appid, code) = consented(&env).await;
    env.sim.reset_calls();
    env.sim.set_fault(Fault {
        endpoint: Some(QUERY_AUTH.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    fail_next(&env, GET_AUTHORIZER_INFO, 3);
    let now = env.clock.now();
    let first = ob.complete(&code, None, Some(&binding), now).await;
    assert!(
        matches!(first, Err(OnboardingError::Wechat(_))),
        "{first:?}"
    );
    assert!(env.store.get_authorizer(&appid).await.unwrap().is_none());

    // The push comes while the claim is within its deadline: in progress (WeChat retries).
    let early = ob.complete(&code, Some(&appid), None, now).await;
    assert!(
        matches!(early, Err(OnboardingError::InProgress)),
        "{early:?}"
    );
    env.clock.advance(CLAIM_DEADLINE_SECS + 1);
    let done = ob.complete(&code, Some(&appid), None, now).await.unwrap();
    assert!(!done.exchanged);
    assert_on_board(&env, &appid, "cust-lost", &binding).await;
    assert_eq!(env.calls(QUERY_AUTH), 1, "the code was presented once");

    // The merchant's reload finds the outcome and is bound, not refused.
    let reload = ob
        .complete(&code, None, Some(&binding), env.clock.now())
        .await
        .unwrap();
    assert_eq!(reload.refusal, None);
    assert_eq!(reload.authorizer.customer_id.as_deref(), Some("cust-lost"));
}

/// The push took the code, lost the exchange's answer and failed its read-back: the merchant's
/// reload after the claim's deadline recovers it by the appid the push's claim recorded, for the
/// reload's invitation.
#[tokio::test]
async fn a_push_that_lost_its_exchange_and_its_read_back_is_recovered_by_the_callback() {
    let env = Env::with_ticket().await;
    let mgr = manager(&env, env.store.clone());
    let ob = onboarding(&env, mgr.clone());
    let binding = invitation(&env, "cust-push").await;
    let (appid, code) = consented(&env).await;
    // A second account authorized at the same time: the listing cannot tell them apart.
    consented(&env).await;
    env.sim.reset_calls();
    env.sim.set_fault(Fault {
        endpoint: Some(QUERY_AUTH.into()),
        lose_answer: true,
        times: Some(1),
        ..Fault::default()
    });
    fail_next(&env, GET_AUTHORIZER_INFO, 3);
    let now = env.clock.now();
    let first = ob.complete(&code, Some(&appid), None, now).await;
    assert!(
        matches!(first, Err(OnboardingError::Wechat(_))),
        "{first:?}"
    );
    let early = ob.complete(&code, None, Some(&binding), now).await;
    assert!(
        matches!(early, Err(OnboardingError::InProgress)),
        "{early:?}"
    );
    env.clock.advance(CLAIM_DEADLINE_SECS + 1);
    let done = ob
        .complete(&code, None, Some(&binding), env.clock.now())
        .await
        .unwrap();
    assert_eq!(done.refusal, None);
    assert_on_board(&env, &appid, "cust-push", &binding).await;
    assert_eq!(env.calls(QUERY_AUTH), 1, "the code was presented once");
}

/// The callback exchanged the code at WeChat and was killed before storing anything (its claim
/// is left). Its reload waits for the claim's deadline, then recovers from WeChat; the first
/// recovery's read fails too, and the next reload recovers.
#[tokio::test]
async fn a_callback_killed_after_the_exchange_is_recovered_even_when_a_recovery_read_fails() {
    let env = Env::with_ticket().await;
    let mgr = manager(&env, env.store.clone());
    let ob = onboarding(&env, mgr.clone());
    let binding = invitation(&env, "cust-killed").await;
    let (appid, code) = consented(&env).await;
    let now = env.clock.now();
    // The dead path's claim, as it wrote it, and its exchange, applied at WeChat.
    let claim = serde_json::json!({
        "owner": "a-killed-lambda",
        "claimed_at": now,
        "deadline": now + CLAIM_DEADLINE_SECS,
        "binding": binding,
    });
    env.store
        .create_single_use(
            SingleUseKind::AuthCodeClaim,
            &code_id(&code),
            &claim,
            now,
            now + 3600,
        )
        .await
        .unwrap();
    let _answer_never_stored = mgr
        .component()
        .call(&wxopen::wechat::component::ApiQueryAuth {
            component_appid: mgr.component_appid(),
            authorization_code: secrecy::ExposeSecret::expose_secret(&code),
        })
        .await
        .unwrap();
    env.sim.reset_calls();

    let early = ob.complete(&code, None, Some(&binding), now).await;
    assert!(
        matches!(early, Err(OnboardingError::InProgress)),
        "{early:?}"
    );
    env.clock.advance(CLAIM_DEADLINE_SECS);
    fail_next(&env, GET_AUTHORIZER_INFO, 3);
    let failed = ob
        .complete(&code, None, Some(&binding), env.clock.now())
        .await;
    assert!(
        matches!(failed, Err(OnboardingError::Wechat(_))),
        "{failed:?}"
    );
    assert!(env.store.get_authorizer(&appid).await.unwrap().is_none());

    let done = ob
        .complete(&code, None, Some(&binding), env.clock.now())
        .await
        .unwrap();
    assert_eq!(done.refusal, None);
    assert_on_board(&env, &appid, "cust-killed", &binding).await;
    assert_eq!(
        env.calls(QUERY_AUTH),
        0,
        "the spent code was never presented again"
    );
}

/// A token store whose writes of tokens fail while armed (a DynamoDB outage after WeChat
/// answered the exchange).
struct FailingTokenWrites {
    inner: Arc<EmbeddedStore>,
    armed: AtomicU32,
}

impl FailingTokenWrites {
    fn arm(&self, n: u32) {
        self.armed.store(n, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl TokenStore for FailingTokenWrites {
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
        if matches!(key, TokenKey::Authorizer(_))
            && self
                .armed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
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
impl TicketStore for FailingTokenWrites {
    async fn save_ticket(&self, c: &AppId, t: &wxopen::store::Ticket) -> StoreResult<()> {
        self.inner.save_ticket(c, t).await
    }
    async fn latest_ticket(&self, c: &AppId) -> StoreResult<Option<wxopen::store::Ticket>> {
        self.inner.latest_ticket(c).await
    }
}

/// Two store errors after the exchange: retried within the claim's time, nothing lost.
#[tokio::test]
async fn store_errors_after_the_exchange_are_retried_within_the_claims_time() {
    let env = Env::with_ticket().await;
    let failing = Arc::new(FailingTokenWrites {
        inner: env.store.clone(),
        armed: AtomicU32::new(0),
    });
    let ob = onboarding(&env, manager(&env, failing.clone()));
    let binding = invitation(&env, "cust-retry").await;
    let (appid, code) = consented(&env).await;
    env.sim.reset_calls();
    failing.arm(2);
    let done = ob
        .complete(&code, None, Some(&binding), env.clock.now())
        .await
        .unwrap();
    assert!(done.exchanged);
    assert_eq!(failing.armed.load(Ordering::SeqCst), 0, "both failures met");
    assert_on_board(&env, &appid, "cust-retry", &binding).await;
    assert_eq!(env.calls(QUERY_AUTH), 1);
}

/// The store fails for the whole of the callback's claim; the push after the deadline meets
/// the outage too, and the next delivery recovers the tokens from WeChat.
#[tokio::test]
async fn a_store_outage_past_the_claims_deadline_is_recovered_from_wechat_by_a_later_path() {
    let env = Env::with_ticket().await;
    let failing = Arc::new(FailingTokenWrites {
        inner: env.store.clone(),
        armed: AtomicU32::new(0),
    });
    let ob = onboarding(&env, manager(&env, failing.clone())).with_deadline(Duration::from_secs(1));
    let binding = invitation(&env, "cust-outage").await;
    let (appid, code) = consented(&env).await;
    env.sim.reset_calls();
    failing.arm(u32::MAX);
    let now = env.clock.now();
    let first = ob.complete(&code, None, Some(&binding), now).await;
    assert!(first.is_err(), "{first:?}");
    assert!(env
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .is_none());

    env.clock.advance(2);
    let second_fault = ob.complete(&code, Some(&appid), None, now).await;
    assert!(second_fault.is_err(), "{second_fault:?}");
    assert!(env
        .store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await
        .unwrap()
        .is_none());
    failing.arm(0);
    let done = ob.complete(&code, Some(&appid), None, now).await.unwrap();
    assert!(!done.exchanged);
    assert_on_board(&env, &appid, "cust-outage", &binding).await;
    assert_eq!(env.calls(QUERY_AUTH), 1, "the code was presented once");
}

/// The three numbers that keep a claim honest, held together: one WeChat call and the read that
/// recovers it fit inside a claim's deadline, and the deadline inside the timeout of both
/// functions that take claims (template.yaml), so a claim's owner stops before it is killed.
#[test]
fn a_call_and_its_recovery_fit_in_a_claims_deadline_and_that_in_the_functions_timeout() {
    let budget = ClientConfig::default().call_budget();
    let deadline = Duration::from_secs(CLAIM_DEADLINE_SECS as u64);
    assert!(
        budget * 2 <= deadline,
        "two calls of {budget:?} exceed the claim deadline {deadline:?}"
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for function in ["TicketPushFunction", "AuthCallbackFunction"] {
        let timeout = doc["Resources"][function]["Properties"]["Timeout"]
            .as_u64()
            .or_else(|| doc["Globals"]["Function"]["Timeout"].as_u64())
            .unwrap_or_else(|| panic!("{function} has no Timeout"));
        assert!(
            deadline < Duration::from_secs(timeout),
            "{function}: the claim deadline {deadline:?} must be shorter than its timeout {timeout} s"
        );
    }
}
