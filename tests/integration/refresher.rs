//! The token refresher against the simulator, every case on both stores (embedded redb and
//! DynamoDB on moto_server), with strict refresh-token rotation.

use crate::store_contract::{self, Backend};
use crate::wechat_sim::{client_config_for, manager_for, AUTHORIZER_TOKEN, T0, TOKEN_TTL};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use token_refresher::summary::RunSummary;
use token_refresher::{run, Deps, RefresherConfig};
use wechat_sim::{AccountSpec, Fault, Simulator};
use wxopen::domain::{AppId, Clock, ManualClock};
use wxopen::store::{Authorizer, AuthorizerStatus, Store, Ticket, TokenKey, TokenState};
use wxopen::wechat::{ClientConfig, TokenBackend, TokenManager, WechatClient};
use wxopen_local::testing::{spawn_app_with, App};

const LIST: &str = "/cgi-bin/component/api_get_authorizer_list";
const START_PUSH: &str = "/cgi-bin/component/api_start_push_ticket";

/// Generates `embedded::<case>` and `dynamodb::<case>` for each case.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let s = store_contract::embedded();
                    let s = Arc::new(s.store);
                    super::$case(Stores::of(s, Seeder::Embedded)).await;
                }
            )*
        }
        mod dynamodb {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(s) = store_contract::dynamodb().await else { return };
                    let s = Arc::new(s);
                    super::$case(Stores::of(s.clone(), Seeder::Dynamo(s))).await;
                }
            )*
        }
    };
}
/// For the other refresher-side suites (`second_faults_tokens`).
pub(crate) use on_both_stores;

on_both_stores!(
    two_refreshers_at_once_refresh_each_of_1000_due_tokens_exactly_once,
    faults_and_lost_answers_heal_within_three_runs_and_lose_no_token,
    a_superseded_refresh_token_still_known_to_wechat_is_recovered,
    a_revoked_authorization_is_marked_and_left_out_of_later_runs,
    the_deadline_stops_new_refreshes_and_the_next_run_takes_the_rest,
    the_daily_reconcile_adds_and_removes_both_ways_once_a_day,
    the_ticket_watchdog_asks_for_a_ticket_at_most_once_per_ten_minutes,
    a_run_with_nothing_due_makes_no_wechat_call,
    the_daily_quota_or_an_unlisted_ip_stops_the_run_and_fails_it,
);

/// One store seen as the refresher's `Store` and as the token manager's backend.
pub(crate) struct Stores {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) backend: Arc<dyn TokenBackend>,
    pub(crate) authorizers: Arc<dyn wxopen::store::AuthorizerStore>,
    pub(crate) seed: Seeder,
}

impl Stores {
    pub(crate) fn of<S: Store + 'static>(s: Arc<S>, seed: Seeder) -> Stores {
        Stores {
            store: s.clone(),
            backend: s.clone(),
            authorizers: s,
            seed,
        }
    }
}

/// Bulk token seeding, fast on each store.
pub(crate) enum Seeder {
    Embedded,
    Dynamo(Arc<wxopen::store::dynamo::DynamoStore>),
}

impl Seeder {
    pub(crate) async fn tokens(&self, store: &Arc<dyn Store>, tokens: Vec<(TokenKey, TokenState)>) {
        match self {
            Seeder::Dynamo(d) => d.seed_tokens(tokens).await,
            Seeder::Embedded => {
                for (k, s) in tokens {
                    store.put_token(&k, &s, None).await.unwrap();
                }
            }
        }
    }
}

/// The whole system as every test runs it (`wxopen_local::testing::spawn_app_with`), on the
/// store under test and a manual clock; its simulator rotates refresh tokens strictly and has
/// no push URLs (these suites store each ticket themselves, as ticket-push would have). The
/// refresher's processes are the tests' own: [`deps`] makes one per call, each with its own
/// token manager, on the system's store, simulator and clock.
pub(crate) struct RefresherEnv {
    pub(crate) app: App,
    pub(crate) clock: ManualClock,
    pub(crate) component: AppId,
}

impl RefresherEnv {
    pub(crate) fn sim(&self) -> &Simulator {
        &self.app.local.sim
    }

    pub(crate) fn calls(&self, path: &str) -> u64 {
        self.sim().calls(path)
    }

    pub(crate) fn client_config(&self) -> ClientConfig {
        client_config_for(self.sim())
    }

    pub(crate) fn client(&self) -> WechatClient {
        WechatClient::new(self.client_config()).unwrap()
    }

    /// One more process's token manager on `store`.
    pub(crate) fn manager_on(
        &self,
        store: Arc<dyn TokenBackend>,
        client: WechatClient,
    ) -> TokenManager {
        manager_for(self.sim(), &self.clock, store, client)
    }
}

/// The system on `store` with a fresh ticket stored, and the daily reconcile already claimed
/// (tests that want it un-claim by advancing the clock a day).
pub(crate) async fn env_on(store: &Arc<dyn Store>) -> RefresherEnv {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with(|c| {
        c.clock = Arc::new(clock.clone());
        c.store = Some(store.clone());
        c.adjust_sim = Box::new(|sim| {
            sim.rotate_refresh_tokens = true;
            sim.auth_event_url = None;
            sim.message_url = None;
            sim.ticket_interval = None;
        });
    })
    .await;
    let component = AppId::parse(&app.local.sim.config().component_appid).unwrap();
    let env = RefresherEnv {
        app,
        clock,
        component,
    };
    fresh_ticket(&env, store).await;
    assert!(store
        .claim_run("reconcile", env.clock.now(), 86_400)
        .await
        .unwrap());
    env
}

/// WeChat pushes a ticket and ticket-push stores it.
pub(crate) async fn fresh_ticket(env: &RefresherEnv, store: &Arc<dyn Store>) {
    let ticket = env.sim().push_ticket().await.unwrap();
    store
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
}

pub(crate) fn deps(env: &RefresherEnv, st: &Stores, client: WechatClient) -> Deps {
    Deps {
        mgr: Arc::new(
            env.manager_on(st.backend.clone(), client)
                .with_authorizers(st.authorizers.clone()),
        ),
        store: st.store.clone(),
        clock: Arc::new(env.clock.clone()),
        config: RefresherConfig {
            retry_base: Duration::from_millis(5),
            ..RefresherConfig::default()
        },
    }
}

pub(crate) fn impatient(env: &RefresherEnv) -> WechatClient {
    WechatClient::new(ClientConfig {
        timeout: Duration::from_millis(400),
        ..env.client_config()
    })
    .unwrap()
}

/// `n` mini programs authorized at the simulator, their refresh tokens stored as due, and their
/// profiles stored (authorized).
pub(crate) async fn authorized(env: &RefresherEnv, st: &Stores, n: usize) -> Vec<AppId> {
    let store = &st.store;
    let mut apps = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let appid = env.sim().add_account(AccountSpec::mini_program());
        env.sim().authorize(&appid, &[17, 18]).await.unwrap();
        tokens.push((
            TokenKey::Authorizer(appid.clone()),
            TokenState {
                refresh_token: Some(SecretString::from(live(env, &appid))),
                auth_changed_at: env.clock.now(),
                ..TokenState::default()
            },
        ));
        apps.push(appid);
    }
    st.seed.tokens(store, tokens).await;
    for appid in apps.iter().take(20) {
        store.upsert_authorizer(&profile(env, appid)).await.unwrap();
    }
    apps
}

pub(crate) fn profile(env: &RefresherEnv, appid: &AppId) -> Authorizer {
    let acc = env.sim().account(appid).unwrap();
    Authorizer {
        appid: appid.clone(),
        status: AuthorizerStatus::Authorized,
        customer_id: Some("c-1".into()),
        nick_name: acc.nick_name,
        user_name: acc.user_name,
        principal_name: acc.principal_name,
        is_mini_program: true,
        func_info: vec![17, 18],
        profile: serde_json::json!({}),
        authorized_at: env.clock.now(),
        updated_at: env.clock.now(),
        customer_moves: Vec::new(),
    }
}

pub(crate) fn live(env: &RefresherEnv, appid: &AppId) -> String {
    env.sim()
        .account(appid)
        .unwrap()
        .authorization
        .unwrap()
        .refresh_token
}

/// Every stored refresh token is the one WeChat holds now: none lost.
pub(crate) async fn assert_no_token_lost(
    env: &RefresherEnv,
    store: &Arc<dyn Store>,
    apps: &[AppId],
) {
    for appid in apps {
        let s = store
            .get_token(&TokenKey::Authorizer(appid.clone()))
            .await
            .unwrap()
            .unwrap()
            .state;
        assert_eq!(
            s.refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_owned()),
            Some(live(env, appid)),
            "{appid}"
        );
        assert!(!s.needs_reauthorization, "{appid}");
        assert!(s.expires_at > env.clock.now() + 1800, "{appid} is fresh");
    }
    assert_eq!(
        env.sim().refresh_token_reuses(),
        0,
        "no refresh token presented twice"
    );
}

pub(crate) fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(600)
}

async fn two_refreshers_at_once_refresh_each_of_1000_due_tokens_exactly_once(st: Stores) {
    let env = env_on(&st.store).await;
    let store = &st.store;
    let apps = authorized(&env, &st, 1000).await;
    let (a, b) = (deps(&env, &st, env.client()), deps(&env, &st, env.client()));
    env.sim().reset_calls();
    let (ra, rb) = tokio::join!(run(&a, far()), run(&b, far()));
    let (ra, rb): (RunSummary, RunSummary) = (ra.unwrap(), rb.unwrap());
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1000, "{ra:?} {rb:?}");
    assert!(ra.due <= 1000 && rb.due <= 1000 && ra.due.max(rb.due) >= 500);
    assert_eq!(ra.refreshed + rb.refreshed, 1000, "{ra:?} {rb:?}");
    assert_eq!(ra.failed + rb.failed, 0);
    assert_no_token_lost(&env, store, &apps).await;
}

async fn faults_and_lost_answers_heal_within_three_runs_and_lose_no_token(st: Stores) {
    let env = env_on(&st.store).await;
    let store = &st.store;
    let apps = authorized(&env, &st, 150).await;
    // 20% of calls fail: the first 15 lose their answer after WeChat applied them, then a 10%
    // rate of -1 answers.
    env.sim().set_fault(Fault {
        endpoint: Some(AUTHORIZER_TOKEN.into()),
        lose_answer: true,
        times: Some(15),
        ..Fault::default()
    });
    env.sim().set_fault(Fault {
        endpoint: Some(AUTHORIZER_TOKEN.into()),
        error_rate: 0.1,
        ..Fault::default()
    });
    let d = deps(&env, &st, impatient(&env));
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(run(&d, far()).await.unwrap());
        env.clock.advance(61); // any lease a lost answer left behind has run out
    }
    env.sim().clear_faults();
    let last = runs.last().unwrap();
    assert_eq!(last.failed, 0, "{runs:?}");
    assert_eq!(runs.iter().map(|r| r.needs_reauthorization).sum::<u64>(), 0);
    assert!(
        runs[0].recovered > 0,
        "lost answers were recovered: {runs:?}"
    );
    assert_no_token_lost(&env, store, &apps).await;
}

async fn a_superseded_refresh_token_still_known_to_wechat_is_recovered(st: Stores) {
    let env = env_on(&st.store).await;
    let store = &st.store;
    let apps = authorized(&env, &st, 2).await;
    // The merchant authorized again elsewhere: the stored token answers 61023.
    env.sim().authorize(&apps[0], &[17, 18]).await.unwrap();
    let s = run(&deps(&env, &st, env.client()), far()).await.unwrap();
    assert_eq!(
        (s.refreshed, s.recovered, s.needs_reauthorization),
        (2, 1, 0),
        "{s:?}"
    );
    assert_no_token_lost(&env, store, &apps).await;
    let p = store.get_authorizer(&apps[0]).await.unwrap().unwrap();
    assert_eq!(p.status, AuthorizerStatus::Authorized);
}

async fn a_revoked_authorization_is_marked_and_left_out_of_later_runs(st: Stores) {
    let env = env_on(&st.store).await;
    let store = &st.store;
    let apps = authorized(&env, &st, 2).await;
    env.sim().unauthorize(&apps[0]).await.unwrap();
    let d = deps(&env, &st, env.client());
    let s = run(&d, far()).await.unwrap();
    assert_eq!((s.refreshed, s.needs_reauthorization), (1, 1), "{s:?}");
    // The hourly census counts it (not the authorized one) in the run that marked it.
    assert_eq!(s.awaiting_reauthorization, Some(1), "{s:?}");
    let p = store.get_authorizer(&apps[0]).await.unwrap().unwrap();
    assert_eq!(p.status, AuthorizerStatus::NeedsReauthorization);
    // Later runs leave it out: no call for it, ever, until it authorizes again.
    env.clock.advance(TOKEN_TTL);
    env.sim().reset_calls();
    let s = run(&d, far()).await.unwrap();
    assert_eq!(
        (s.due, s.refreshed, s.needs_reauthorization),
        (1, 1, 0),
        "{s:?}"
    );
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 1);
    // Marked two hours ago, still waiting: the gauge says so while the per-run count is 0.
    assert_eq!(s.awaiting_reauthorization, Some(1), "{s:?}");
    // Within the hour another run does not count again.
    let s = run(&d, far()).await.unwrap();
    assert_eq!(s.awaiting_reauthorization, None, "{s:?}");
}

async fn the_deadline_stops_new_refreshes_and_the_next_run_takes_the_rest(st: Stores) {
    let env = env_on(&st.store).await;
    let store = &st.store;
    let apps = authorized(&env, &st, 40).await;
    let d = deps(&env, &st, env.client());
    // Less time left than the margin: nothing starts.
    let nearly_over = tokio::time::Instant::now() + d.config.deadline_margin / 2;
    let s = run(&d, nearly_over).await.unwrap();
    assert_eq!((s.due, s.refreshed, s.deferred), (40, 0, 40), "{s:?}");
    assert_eq!(env.calls(AUTHORIZER_TOKEN), 0);
    let s = run(&d, far()).await.unwrap();
    assert_eq!((s.refreshed, s.deferred), (40, 0), "{s:?}");
    assert_no_token_lost(&env, store, &apps).await;
}

async fn the_daily_reconcile_adds_and_removes_both_ways_once_a_day(st: Stores) {
    let env = env_on(&st.store).await;
    let store = &st.store;
    let kept = authorized(&env, &st, 1).await;
    // WeChat lists one the store lacks (its push was lost) ...
    let missed = env.sim().add_account(AccountSpec::mini_program());
    env.sim().authorize(&missed, &[17, 18]).await.unwrap();
    // ... and no longer lists one the store holds as authorized (the `unauthorized` was lost).
    let gone = authorized(&env, &st, 1).await.remove(0);
    env.sim().unauthorize(&gone).await.unwrap();
    env.clock.advance(86_400);
    fresh_ticket(&env, store).await;
    let d = deps(&env, &st, env.client());
    let s = run(&d, far()).await.unwrap();
    assert_eq!((s.reconciled_added, s.reconciled_removed), (1, 1), "{s:?}");
    let added = store.get_authorizer(&missed).await.unwrap().unwrap();
    assert_eq!(added.customer_id.as_deref(), Some("unassigned"));
    assert_eq!(added.status, AuthorizerStatus::Authorized);
    let removed = store.get_authorizer(&gone).await.unwrap().unwrap();
    assert_eq!(removed.status, AuthorizerStatus::Unauthorized);
    assert_no_token_lost(&env, store, &[kept[0].clone(), missed]).await;
    // Once a day: the next run does not page the list again.
    let listed = env.calls(LIST);
    run(&d, far()).await.unwrap();
    assert_eq!(env.calls(LIST), listed);
}

async fn the_ticket_watchdog_asks_for_a_ticket_at_most_once_per_ten_minutes(st: Stores) {
    let env = env_on(&st.store).await;
    let d = deps(&env, &st, env.client());
    let s = run(&d, far()).await.unwrap();
    assert_eq!((s.ticket_age_secs, s.ticket_stale), (Some(0), false));
    assert_eq!(env.calls(START_PUSH), 0);
    // 25 minutes without a ticket: WeChat is asked for one, once per 10 minutes.
    env.clock.advance(25 * 60);
    let s = run(&d, far()).await.unwrap();
    assert!(s.ticket_push_requested && !s.ticket_stale, "{s:?}");
    run(&d, far()).await.unwrap();
    assert_eq!(env.calls(START_PUSH), 1, "at most once per 10 minutes");
    // Over 30 minutes: the stale-ticket metric fires.
    env.clock.advance(6 * 60);
    let s = run(&d, far()).await.unwrap();
    assert!(s.ticket_stale, "{s:?}");
    assert_eq!(s.emf(0)["StaleTicket"], 1);
    env.clock.advance(5 * 60);
    run(&d, far()).await.unwrap();
    assert_eq!(env.calls(START_PUSH), 2);
}

async fn a_run_with_nothing_due_makes_no_wechat_call(st: Stores) {
    let env = env_on(&st.store).await;
    authorized(&env, &st, 5).await;
    let d = deps(&env, &st, env.client());
    run(&d, far()).await.unwrap();
    env.sim().reset_calls();
    let s = run(&d, far()).await.unwrap();
    assert_eq!((s.due, s.refreshed), (0, 0), "{s:?}");
    assert!(
        env.sim().all_calls().values().all(|n| *n == 0),
        "{:?}",
        env.sim().all_calls()
    );
}

async fn the_daily_quota_or_an_unlisted_ip_stops_the_run_and_fails_it(st: Stores) {
    let env = env_on(&st.store).await;
    authorized(&env, &st, 60).await;
    let d = Deps {
        config: RefresherConfig {
            concurrency: 4,
            ..deps(&env, &st, env.client()).config
        },
        ..deps(&env, &st, env.client())
    };
    // 45009: nothing more is started once WeChat says the day's quota is gone.
    env.sim().set_fault(Fault {
        endpoint: Some(AUTHORIZER_TOKEN.into()),
        forced_errcode: Some((45009, "reach max api daily quota limit".into())),
        ..Fault::default()
    });
    env.sim().reset_calls();
    let err = run(&d, far()).await.unwrap_err();
    assert!(
        matches!(err, token_refresher::RunError::Quota { refreshed: 0 }),
        "{err}"
    );
    assert!(
        env.calls(AUTHORIZER_TOKEN) <= 4,
        "stopped at once: {} calls",
        env.calls(AUTHORIZER_TOKEN)
    );
    // 61004: the error names the address to whitelist, read from WeChat's errmsg.
    env.sim().clear_faults();
    env.sim().set_fault(Fault {
        endpoint: Some(AUTHORIZER_TOKEN.into()),
        forced_errcode: Some((
            61004,
            "access clientip is not registered, invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist".into(),
        )),
        ..Fault::default()
    });
    let err = run(&d, far()).await.unwrap_err();
    assert!(err.to_string().contains("203.0.113.7"), "{err}");
    // Once WeChat answers again, the next run refreshes everything.
    env.sim().clear_faults();
    let s = run(&d, far()).await.unwrap();
    assert_eq!((s.refreshed, s.failed), (60, 0), "{s:?}");
}

/// Every alarm in `template.yaml` on the `wxopen` namespace watches a metric that a function's
/// Embedded Metric Format document declares (the refresher's run summary, audit-actions'
/// refused-request line), with that function's `Function` dimension: an alarm on a name nobody
/// emits would sit in INSUFFICIENT_DATA and never fire.
#[test]
fn every_wxopen_alarm_in_the_template_watches_a_metric_the_refresher_emits() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    let doc: serde_norway::Value = serde_norway::from_str(&text).expect("parse template.yaml");
    // Every optional figure present, so the document declares all it can.
    let refresher = RunSummary {
        awaiting_reauthorization: Some(0),
        ticket_age_secs: Some(0),
        ..RunSummary::default()
    }
    .emf(0);
    let audit_actions = audit_actions::access::auth_failure_emf("wrong_key", 0);
    let batch_runner = wxopen::notifications::DrainReport::default().emf("batch-runner", 0);
    // (function, metric) for every metric each document declares.
    let mut declared: Vec<(String, String)> = Vec::new();
    for emf in [&refresher, &audit_actions, &batch_runner] {
        let cw = &emf["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], token_refresher::summary::METRIC_NAMESPACE);
        for m in cw["Metrics"].as_array().unwrap() {
            declared.push((
                emf["Function"].as_str().unwrap().to_owned(),
                m["Name"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let mut watched = Vec::new();
    for (name, r) in doc["Resources"].as_mapping().unwrap() {
        let p = &r["Properties"];
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm")
            || p["Namespace"].as_str() != Some(token_refresher::summary::METRIC_NAMESPACE)
        {
            continue;
        }
        let metric = p["MetricName"].as_str().unwrap();
        assert_eq!(p["Dimensions"][0]["Name"].as_str(), Some("Function"));
        let function = p["Dimensions"][0]["Value"].as_str().unwrap();
        assert!(
            declared.contains(&(function.to_owned(), metric.to_owned())),
            "{name:?} watches {metric} of {function}, which no function emits ({declared:?})"
        );
        watched.push(metric.to_owned());
    }
    watched.sort();
    assert_eq!(
        watched,
        [
            "AwaitingReauthorization",
            "NeedsReauthorization",
            "NotificationsFailed",
            "OperatorAuthFailures",
            "RefreshFailures",
            "RefusalsUnconfirmed",
            "StaleTicket"
        ]
    );
}
