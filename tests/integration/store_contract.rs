//! One contract, two stores: every case runs against the embedded store (always) and the
//! DynamoDB store on moto_server (when `WXOPEN_TEST_AWS_ENDPOINT` is set; required in CI).

use crate::helpers;
use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
use wxopen::domain::{AppId, AuditId, AuditStatus, UnixTime};
use wxopen::store::dynamo::{self, DynamoStore};
use wxopen::store::embedded::EmbeddedStore;
use wxopen::store::*;

/// A store under test, plus what a test needs beyond the traits: fast bulk seeding.
#[async_trait]
pub trait Backend: Store {
    /// Writes fresh token items (version 1). Defaults to concurrent `put_token`.
    async fn seed_tokens(&self, tokens: Vec<(TokenKey, TokenState)>) {
        let results: Vec<_> = stream::iter(tokens)
            .map(|(k, s)| async move { self.put_token(&k, &s, None).await })
            .buffer_unordered(32)
            .collect()
            .await;
        for r in results {
            r.expect("seed token");
        }
    }
}

impl Backend for EmbeddedStore {}

#[async_trait]
impl Backend for DynamoStore {
    /// BatchWriteItem, 25 at a time: thousands of items in seconds on moto.
    async fn seed_tokens(&self, tokens: Vec<(TokenKey, TokenState)>) {
        let items = tokens
            .iter()
            .map(|(k, s)| DynamoStore::token_item(k, s, 1))
            .collect();
        self.batch_put(items).await.expect("batch put");
    }
}

/// An embedded store in a temporary directory that lives as long as the store.
pub struct TempEmbedded {
    pub store: EmbeddedStore,
    _dir: tempfile::TempDir,
}

pub fn embedded() -> TempEmbedded {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("open embedded store");
    TempEmbedded { store, _dir: dir }
}

/// A DynamoDB store on its own fresh table on moto, or `None` to skip (see `helpers`).
pub async fn dynamodb() -> Option<DynamoStore> {
    let endpoint = helpers::aws_endpoint()?;
    let conf = helpers::aws_config(&endpoint).await;
    let store = DynamoStore::new(dynamo::client(&conf), helpers::unique_name("wxopen"));
    store.create_table().await.expect("create table on moto");
    Some(store)
}

/// Generates `embedded::<case>` and `dynamodb::<case>` tests for each generic case.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let s = super::embedded();
                    super::$case(&s.store).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(s) = super::dynamodb().await else { return };
                    super::$case(&s).await;
                }
            )*
        }
    };
}

contract!(
    two_writers_with_the_same_version_exactly_one_wins,
    twenty_concurrent_consumers_of_one_auth_state_exactly_one_wins,
    the_due_token_query_returns_exactly_the_due_tokens_across_pages,
    expired_items_are_invisible,
    unauthorized_keeps_audit_history,
    long_lists_paginate_completely_and_without_repeats,
    cursors_the_store_did_not_issue_are_refused,
    a_ticket_is_replaced_only_by_a_newer_one,
    an_authorizer_is_found_by_its_original_id,
    audits_move_through_their_statuses_and_unknown_ones_are_not_found,
    batches_record_progress_per_app,
    a_batch_item_is_claimed_by_one_runner_and_taken_over_only_after_its_lease,
    batches_are_listed_newest_first_and_open_ones_until_finished,
    a_revocation_is_one_transaction_and_a_stale_one_changes_nothing,
    tokens_that_need_reauthorization_leave_the_due_index,
    a_refusal_marks_the_token_and_the_profile_of_the_judged_grant_only,
    a_periodic_job_is_claimed_once_per_period_by_racing_callers,
    single_use_items_are_peeked_deleted_and_replaced_once_expired,
    invitations_list_newest_first_and_change_atomically,
    concurrent_authorizer_updates_keep_both_changes,
    an_authorization_through_another_customers_invitation_moves_it_and_records_the_move,
    activity_is_kept_per_app_newest_first_even_within_one_second,
    template_requirements_are_set_replaced_and_removed,
    tokens_are_read_many_at_once_in_order,
    racing_delay_and_success_deliveries_never_regress_an_approved_audit,
    a_batch_result_is_written_only_by_the_runner_holding_the_claim,
    an_invitation_binds_one_app_in_the_write_that_binds_it,
    a_refused_invitation_writes_nothing,
    subscribe_templates_are_named_per_app_and_a_name_is_taken_once,
    a_penalty_is_recorded_once_and_marks_its_app_penalised,
    an_appeal_is_replaced_only_by_a_later_push,
    quota_resets_are_reserved_until_the_limit_by_racing_callers_and_settled,
    a_filing_learned_earlier_never_replaces_one_learned_later,
    a_notification_is_written_once_per_event_id_and_changes_by_version,
    due_notifications_are_listed_by_next_attempt_and_only_while_pending,
    notifications_list_newest_first_filtered_by_status_across_pages,
    notification_rules_are_kept_with_references_not_secrets,
    registrations_change_by_version_are_found_by_subject_and_listed_by_state,
    a_profile_state_is_written_by_version_and_racing_updates_keep_both,
);

fn app(i: usize) -> AppId {
    AppId::parse(&format!("wx{i:016x}")).expect("appid")
}

fn secret(s: &str) -> Option<SecretString> {
    Some(SecretString::from(s.to_owned()))
}

fn token(access: Option<&str>, refresh: Option<&str>, expires_at: UnixTime) -> TokenState {
    TokenState {
        access_token: access.and_then(secret),
        refresh_token: refresh.and_then(secret),
        expires_at,
        lease_until: 0,
        lease_owner: None,
        ..TokenState::default()
    }
}

fn authorizer(i: usize, status: AuthorizerStatus, customer: Option<&str>) -> Authorizer {
    Authorizer {
        appid: app(i),
        status,
        customer_id: customer.map(str::to_owned),
        nick_name: format!("shop {i}"),
        user_name: format!("gh_{i:012x}"),
        principal_name: "Example Co.".into(),
        is_mini_program: true,
        func_info: vec![17, 18, 25],
        profile: serde_json::json!({ "nick_name": format!("shop {i}") }),
        authorized_at: 1_700_000_000,
        updated_at: 1_700_000_000,
        customer_moves: Vec::new(),
    }
}

fn audit(appid: &AppId, id: u64, submitted_at: UnixTime) -> AuditRecord {
    AuditRecord {
        appid: appid.clone(),
        auditid: AuditId(id),
        status: AuditStatus::Auditing,
        reason: None,
        screenshots: vec![],
        template_id: Some(7),
        user_version: Some("1.0.0".into()),
        user_desc: Some("first".into()),
        submitted_at,
        updated_at: submitted_at,
        released_at: None,
    }
}

async fn two_writers_with_the_same_version_exactly_one_wins<S: Backend>(s: &S) {
    let key = TokenKey::Authorizer(app(1));
    let v1 = s
        .put_token(&key, &token(None, Some("refresh-1"), 0), None)
        .await
        .unwrap();
    assert_eq!(v1, 1);
    // A second "create" conflicts: the item exists.
    assert!(matches!(
        s.put_token(&key, &token(None, None, 0), None).await,
        Err(StoreError::Conflict)
    ));

    let a = token(Some("access-a"), Some("refresh-a"), 1_000);
    let b = token(Some("access-b"), Some("refresh-b"), 2_000);
    let (ra, rb) = tokio::join!(
        s.put_token(&key, &a, Some(v1)),
        s.put_token(&key, &b, Some(v1))
    );
    let (winner, loser) = match (&ra, &rb) {
        (Ok(2), Err(StoreError::Conflict)) => ("access-a", rb),
        (Err(StoreError::Conflict), Ok(2)) => ("access-b", ra),
        other => panic!("expected exactly one winner, got {other:?}"),
    };
    assert!(matches!(loser, Err(StoreError::Conflict)));
    let got = s.get_token(&key).await.unwrap().unwrap();
    assert_eq!(got.version, 2);
    assert_eq!(
        got.state.access_token.as_ref().unwrap().expose_secret(),
        winner
    );

    // The loser retries on the version it now reads, and a stale version keeps losing.
    let leased = TokenState {
        lease_until: 5_000,
        lease_owner: Some("refresher-1".into()),
        ..got.state.clone()
    };
    assert_eq!(s.put_token(&key, &leased, Some(2)).await.unwrap(), 3);
    assert!(matches!(
        s.put_token(&key, &leased, Some(2)).await,
        Err(StoreError::Conflict)
    ));
    let got = s.get_token(&key).await.unwrap().unwrap();
    assert_eq!(got.state.lease_until, 5_000);
    assert_eq!(got.state.lease_owner.as_deref(), Some("refresher-1"));

    // Component tokens have their own item.
    let ckey = TokenKey::Component(app(1));
    assert!(s.get_token(&ckey).await.unwrap().is_none());
    assert_eq!(
        s.put_token(&ckey, &token(Some("c"), None, 7_200), None)
            .await
            .unwrap(),
        1
    );
    // Revoking leaves a tombstone whose version counts on: a writer holding version 3 (a stale
    // lease) can never match the item again, even after a new authorization (the ABA of a
    // delete that let versions restart at 1).
    s.delete_token(&key).await.unwrap();
    s.delete_token(&key).await.unwrap();
    let tomb = s.get_token(&key).await.unwrap().unwrap();
    assert!(tomb.state.is_tombstone(), "{tomb:?}");
    assert_eq!(tomb.version, 5);
    assert!(s.get_token(&ckey).await.unwrap().is_some());
    let reauthorized = token(Some("a2"), Some("r2"), 9_000);
    assert!(matches!(
        s.put_token(&key, &reauthorized, None).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.put_token(&key, &reauthorized, Some(5)).await.unwrap(), 6);
    for stale in [Some(1), Some(2), Some(3), None] {
        assert!(matches!(
            s.put_token(&key, &token(Some("old"), Some("r0"), 1), stale)
                .await,
            Err(StoreError::Conflict)
        ));
    }
    let got = s.get_token(&key).await.unwrap().unwrap();
    assert_eq!(got.state.refresh_token.unwrap().expose_secret(), "r2");
    // A deleted item that never existed stays absent.
    s.delete_token(&TokenKey::Authorizer(app(99)))
        .await
        .unwrap();
    assert!(s
        .get_token(&TokenKey::Authorizer(app(99)))
        .await
        .unwrap()
        .is_none());
}

async fn twenty_concurrent_consumers_of_one_auth_state_exactly_one_wins<S: Backend>(s: &S) {
    let payload = serde_json::json!({ "customer_id": "cust-42" });
    s.create_single_use(SingleUseKind::AuthState, "inv-1", &payload, 0, 10_000)
        .await
        .unwrap();
    assert!(matches!(
        s.create_single_use(SingleUseKind::AuthState, "inv-1", &payload, 0, 10_000)
            .await,
        Err(StoreError::Conflict)
    ));
    let results = futures::future::join_all(
        (0..20).map(|_| s.consume_single_use(SingleUseKind::AuthState, "inv-1", 5_000)),
    )
    .await;
    let wins: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(wins, vec![&payload], "exactly one consumer wins");
    let consumed = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::AlreadyConsumed)))
        .count();
    assert_eq!(consumed, 19, "{results:?}");
    assert!(matches!(
        s.consume_single_use(SingleUseKind::AuthState, "inv-1", 5_001)
            .await,
        Err(StoreError::AlreadyConsumed)
    ));
    // Kinds are separate namespaces; unknown ids are not found.
    assert!(matches!(
        s.consume_single_use(SingleUseKind::AuthCodeClaim, "inv-1", 5_000)
            .await,
        Err(StoreError::NotFound)
    ));
    s.create_single_use(SingleUseKind::AuthCodeClaim, "inv-1", &payload, 0, 10_000)
        .await
        .unwrap();
    assert_eq!(
        s.consume_single_use(SingleUseKind::AuthCodeClaim, "inv-1", 5_000)
            .await
            .unwrap(),
        payload
    );
}

async fn the_due_token_query_returns_exactly_the_due_tokens_across_pages<S: Backend>(s: &S) {
    const BEFORE: UnixTime = 1_000_000;
    let mut seed = Vec::new();
    let mut due = Vec::new();
    // 2,500 due tokens with a refresh token, some never fetched (expires_at 0), many sharing
    // an expiry (so page boundaries fall inside runs of equal `expires_at`).
    for i in 0..2_500 {
        let exp = if i % 10 == 0 {
            0
        } else {
            (i as i64 % 500) * 1_000
        };
        seed.push((
            TokenKey::Authorizer(app(i)),
            token(Some("a"), Some("r"), exp),
        ));
        due.push((exp, app(i)));
    }
    // Not due: expiring at or after BEFORE.
    for i in 2_500..2_800 {
        seed.push((
            TokenKey::Authorizer(app(i)),
            token(Some("a"), Some("r"), BEFORE + i as i64 - 2_500),
        ));
    }
    // Due but without a refresh token (nothing to refresh with), and component tokens.
    for i in 2_800..3_000 {
        seed.push((TokenKey::Authorizer(app(i)), token(Some("a"), None, 5)));
        seed.push((TokenKey::Component(app(i)), token(Some("a"), None, 5)));
    }
    s.seed_tokens(seed).await;

    // Moving a token's expiry moves it in the index: one due token becomes not due, one
    // not-due token becomes due.
    let moved_out = app(1);
    let v = s
        .get_token(&TokenKey::Authorizer(moved_out.clone()))
        .await
        .unwrap()
        .unwrap();
    s.put_token(
        &TokenKey::Authorizer(moved_out.clone()),
        &token(Some("a2"), Some("r2"), BEFORE + 7_200),
        Some(v.version),
    )
    .await
    .unwrap();
    due.retain(|(_, a)| *a != moved_out);
    let moved_in = app(2_500);
    s.put_token(
        &TokenKey::Authorizer(moved_in.clone()),
        &token(Some("a2"), Some("r2"), 123),
        Some(1),
    )
    .await
    .unwrap();
    due.push((123, moved_in));
    due.sort();

    let mut got: Vec<DueToken> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s
            .due_authorizer_tokens(BEFORE, cursor.as_deref(), 700)
            .await
            .unwrap();
        assert!(page.items.len() <= 700);
        pages += 1;
        got.extend(page.items);
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert!(pages >= 4, "2,500 tokens in pages of 700: {pages} pages");
    let mut seen = HashSet::new();
    for d in &got {
        assert!(seen.insert(d.appid.clone()), "repeated {:?}", d.appid);
    }
    assert!(
        got.windows(2).all(|w| w[0].expires_at <= w[1].expires_at),
        "ascending expires_at"
    );
    let mut got_set: Vec<(UnixTime, AppId)> =
        got.into_iter().map(|d| (d.expires_at, d.appid)).collect();
    got_set.sort();
    assert_eq!(got_set.len(), due.len());
    assert_eq!(got_set, due);

    // A narrower window is a prefix of the same order.
    let first = s.due_authorizer_tokens(1, None, 1_000).await.unwrap();
    assert_eq!(first.items.len(), 250, "the never-fetched tokens");
    assert!(first.items.iter().all(|d| d.expires_at == 0));
    assert!(first.next.is_none());
}

async fn expired_items_are_invisible<S: Backend>(s: &S) {
    let p = serde_json::json!({ "n": 1 });
    s.create_single_use(SingleUseKind::AuthState, "st-1", &p, 0, 1_000)
        .await
        .unwrap();
    // At or after expires_at the item is gone, even though no one deleted it yet.
    assert!(matches!(
        s.consume_single_use(SingleUseKind::AuthState, "st-1", 1_000)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.consume_single_use(SingleUseKind::AuthState, "st-1", 5_000)
            .await,
        Err(StoreError::NotFound)
    ));
    s.create_single_use(SingleUseKind::AuthState, "st-2", &p, 0, 1_000)
        .await
        .unwrap();
    assert_eq!(
        s.consume_single_use(SingleUseKind::AuthState, "st-2", 999)
            .await
            .unwrap(),
        p
    );

    // A seen push is recognised until it expires, then counts as new again.
    assert!(s.record_push_if_new("digest-1", 100, 400).await.unwrap());
    assert!(!s.record_push_if_new("digest-1", 200, 500).await.unwrap());
    assert!(!s.record_push_if_new("digest-1", 399, 700).await.unwrap());
    assert!(s.record_push_if_new("digest-1", 400, 700).await.unwrap());
    assert!(!s.record_push_if_new("digest-1", 600, 900).await.unwrap());
    assert!(s.record_push_if_new("digest-2", 600, 900).await.unwrap());
}

async fn unauthorized_keeps_audit_history<S: Backend>(s: &S) {
    let a = app(7);
    s.upsert_authorizer(&authorizer(7, AuthorizerStatus::Authorized, Some("c1")))
        .await
        .unwrap();
    s.put_token(
        &TokenKey::Authorizer(a.clone()),
        &token(Some("at"), Some("rt"), 10),
        None,
    )
    .await
    .unwrap();
    // Audit ids do not follow submission order; submission time does.
    for (id, t) in [(900, 100), (300, 200), (500, 300)] {
        s.record_audit(&audit(&a, id, t)).await.unwrap();
    }
    // The `unauthorized` push: status changes, token goes, history stays.
    s.set_authorizer_status(&a, AuthorizerStatus::Unauthorized, 400)
        .await
        .unwrap();
    s.delete_token(&TokenKey::Authorizer(a.clone()))
        .await
        .unwrap();

    let got = s.get_authorizer(&a).await.unwrap().unwrap();
    assert_eq!(got.status, AuthorizerStatus::Unauthorized);
    assert_eq!(got.updated_at, 400);
    assert_eq!(got.customer_id.as_deref(), Some("c1"));
    assert_eq!(got.nick_name, "shop 7");
    let audits = s.list_audits(&a, None, 10).await.unwrap();
    let ids: Vec<u64> = audits.items.iter().map(|x| x.auditid.0).collect();
    assert_eq!(ids, vec![500, 300, 900], "newest submission first");
    assert!(audits.next.is_none());
    assert_eq!(
        s.latest_audit(&a).await.unwrap().unwrap().auditid,
        AuditId(500)
    );
    let due = s.due_authorizer_tokens(i64::MAX, None, 100).await.unwrap();
    assert!(due.items.iter().all(|d| d.appid != a));
    let unauthorized = s
        .list_authorizers(
            &AuthorizerFilter {
                status: Some(AuthorizerStatus::Unauthorized),
                customer_id: None,
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(unauthorized.items, vec![got.clone()]);

    // Authorizing again replaces the profile; the audits are still there.
    s.upsert_authorizer(&authorizer(7, AuthorizerStatus::Authorized, Some("c1")))
        .await
        .unwrap();
    assert_eq!(s.list_audits(&a, None, 10).await.unwrap().items.len(), 3);
    assert!(matches!(
        s.set_authorizer_status(&app(999), AuthorizerStatus::Unauthorized, 1)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(s.latest_audit(&app(999)).await.unwrap().is_none());
}

/// Collects every page of a listing; asserts no page exceeds `limit` and no item repeats.
async fn collect_all<T, K: std::hash::Hash + Eq + std::fmt::Debug, F, Fut>(
    limit: u32,
    key: impl Fn(&T) -> K,
    mut fetch: F,
) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Page<T>>>,
{
    let mut all = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor = None;
    for _ in 0..1_000 {
        let page = fetch(cursor.take()).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        for item in page.items {
            assert!(seen.insert(key(&item)), "repeated {:?}", key(&item));
            all.push(item);
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => return all,
        }
    }
    panic!("pagination does not end");
}

async fn long_lists_paginate_completely_and_without_repeats<S: Backend>(s: &S) {
    let statuses = [
        AuthorizerStatus::Authorized,
        AuthorizerStatus::Unauthorized,
        AuthorizerStatus::NeedsReauthorization,
    ];
    let all: Vec<Authorizer> = (0..230)
        .map(|i| {
            let customer = match i % 4 {
                0 => None,
                1 => Some("acme"),
                _ => Some("globex"),
            };
            authorizer(i * 7919 % 1_000, statuses[i % 3], customer)
        })
        .collect();
    stream::iter(&all)
        .for_each_concurrent(16, |a| async move { s.upsert_authorizer(a).await.unwrap() })
        .await;
    let mut expected = all.clone();
    expected.sort_by(|a, b| a.appid.cmp(&b.appid));

    let listed = collect_all(
        7,
        |a: &Authorizer| a.appid.clone(),
        |c| {
            let f = AuthorizerFilter::default();
            async move { s.list_authorizers(&f, c.as_deref(), 7).await }
        },
    )
    .await;
    assert_eq!(listed, expected, "all authorizers in appid order");
    // The page walk the refresher's census, batches and the stale-audit check use.
    let pages: Vec<Vec<Authorizer>> =
        wxopen::store::authorizer_pages(s, &AuthorizerFilter::default())
            .try_collect()
            .await
            .unwrap();
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 30],
        "pages of 100"
    );
    assert_eq!(
        pages.concat(),
        expected,
        "authorizer_pages: every one, once, in order"
    );

    for filter in [
        AuthorizerFilter {
            status: Some(AuthorizerStatus::NeedsReauthorization),
            customer_id: None,
        },
        AuthorizerFilter {
            status: None,
            customer_id: Some("acme".into()),
        },
        AuthorizerFilter {
            status: Some(AuthorizerStatus::Authorized),
            customer_id: Some("globex".into()),
        },
        AuthorizerFilter {
            status: None,
            customer_id: Some("nobody".into()),
        },
    ] {
        let want: Vec<Authorizer> = expected
            .iter()
            .filter(|a| filter.status.is_none_or(|s| s == a.status))
            .filter(|a| {
                filter
                    .customer_id
                    .as_ref()
                    .is_none_or(|c| a.customer_id.as_ref() == Some(c))
            })
            .cloned()
            .collect();
        let got = collect_all(
            10,
            |a: &Authorizer| a.appid.clone(),
            |c| {
                let f = filter.clone();
                async move { s.list_authorizers(&f, c.as_deref(), 10).await }
            },
        )
        .await;
        assert_eq!(got, want, "{filter:?}");
        let paged: Vec<Vec<Authorizer>> = wxopen::store::authorizer_pages(s, &filter)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(paged.concat(), want, "authorizer_pages {filter:?}");
    }

    let a = app(1);
    let audits: Vec<AuditRecord> = (0..120u64)
        .map(|i| audit(&a, 1_000 + (i * 37) % 120, 10_000 + i as i64))
        .collect();
    stream::iter(&audits)
        .for_each_concurrent(16, |x| async move { s.record_audit(x).await.unwrap() })
        .await;
    let a = &a;
    let got = collect_all(
        25,
        |x: &AuditRecord| x.auditid,
        |c| async move { s.list_audits(a, c.as_deref(), 25).await },
    )
    .await;
    let mut want = audits.clone();
    want.reverse();
    assert_eq!(got, want, "every audit, newest first");
}

async fn cursors_the_store_did_not_issue_are_refused<S: Backend>(s: &S) {
    for bad in ["garbage", "", "e30", "%%%", "eyJrIjoiRHVlIn0"] {
        assert!(
            matches!(
                s.due_authorizer_tokens(10, Some(bad), 10).await,
                Err(StoreError::InvalidCursor)
            ),
            "due {bad:?}"
        );
        assert!(
            matches!(
                s.list_authorizers(&AuthorizerFilter::default(), Some(bad), 10)
                    .await,
                Err(StoreError::InvalidCursor)
            ),
            "authorizers {bad:?}"
        );
        assert!(
            matches!(
                s.list_audits(&app(1), Some(bad), 10).await,
                Err(StoreError::InvalidCursor)
            ),
            "audits {bad:?}"
        );
    }
    // A cursor from one listing is refused by another.
    for i in 0..3 {
        s.upsert_authorizer(&authorizer(i, AuthorizerStatus::Authorized, None))
            .await
            .unwrap();
    }
    let page = s
        .list_authorizers(&AuthorizerFilter::default(), None, 1)
        .await
        .unwrap();
    let c = page.next.expect("more than one page");
    assert!(matches!(
        s.due_authorizer_tokens(10, Some(&c), 10).await,
        Err(StoreError::InvalidCursor)
    ));
    // A cursor of one app's audits is refused for another app's (a 400 for the caller, never a
    // backend error and never a page of the wrong app).
    for id in 0..3 {
        s.record_audit(&audit(&app(1), id, 100 + id as i64))
            .await
            .unwrap();
    }
    let page = s.list_audits(&app(1), None, 1).await.unwrap();
    let c = page.next.expect("more than one page");
    let r = s.list_audits(&app(2), Some(&c), 10).await;
    assert!(matches!(r, Err(StoreError::InvalidCursor)), "{r:?}");
}

async fn a_ticket_is_replaced_only_by_a_newer_one<S: Backend>(s: &S) {
    let c = app(3);
    assert!(s.latest_ticket(&c).await.unwrap().is_none());
    let t = |v: &str, at| Ticket {
        value: SecretString::from(v.to_owned()),
        received_at: at,
        created_at: at,
    };
    s.save_ticket(&c, &t("ticket@@@100", 100)).await.unwrap();
    s.save_ticket(&c, &t("ticket@@@50", 50)).await.unwrap();
    let got = s.latest_ticket(&c).await.unwrap().unwrap();
    assert_eq!(
        (got.value.expose_secret(), got.received_at),
        ("ticket@@@100", 100)
    );
    s.save_ticket(&c, &t("ticket@@@700", 700)).await.unwrap();
    let got = s.latest_ticket(&c).await.unwrap().unwrap();
    assert_eq!(got.value.expose_secret(), "ticket@@@700");
    // Order is WeChat's CreateTime, not arrival: a retried push created earlier but delivered
    // later does not replace the newer ticket.
    let late_retry = Ticket {
        value: SecretString::from("ticket@@@600".to_owned()),
        received_at: 900,
        created_at: 600,
    };
    s.save_ticket(&c, &late_retry).await.unwrap();
    let got = s.latest_ticket(&c).await.unwrap().unwrap();
    assert_eq!(
        (got.value.expose_secret(), got.created_at),
        ("ticket@@@700", 700)
    );
    assert!(s.latest_ticket(&app(4)).await.unwrap().is_none());
}

async fn an_authorizer_is_found_by_its_original_id<S: Backend>(s: &S) {
    let mut a = authorizer(11, AuthorizerStatus::Authorized, None);
    s.upsert_authorizer(&a).await.unwrap();
    s.upsert_authorizer(&authorizer(12, AuthorizerStatus::Authorized, None))
        .await
        .unwrap();
    assert_eq!(
        s.authorizer_by_user_name(&a.user_name).await.unwrap(),
        Some(a.clone())
    );
    assert!(s
        .authorizer_by_user_name("gh_000000000000")
        .await
        .unwrap()
        .is_none());
    assert!(s.authorizer_by_user_name("").await.unwrap().is_none());
    // A renamed original id (it happens on account migration) follows the profile.
    let old = a.user_name.clone();
    a.user_name = "gh_renamed00001".into();
    s.upsert_authorizer(&a).await.unwrap();
    assert!(s.authorizer_by_user_name(&old).await.unwrap().is_none());
    assert_eq!(
        s.authorizer_by_user_name("gh_renamed00001").await.unwrap(),
        Some(a)
    );
}

async fn audits_move_through_their_statuses_and_unknown_ones_are_not_found<S: Backend>(s: &S) {
    let a = app(5);
    s.record_audit(&audit(&a, 42, 1_000)).await.unwrap();
    assert!(matches!(
        s.record_audit(&audit(&a, 42, 2_000)).await,
        Err(StoreError::Conflict)
    ));
    let rejected = AuditUpdate {
        status: AuditStatus::Rejected,
        reason: Some("<b>incomplete</b>".into()),
        screenshots: vec!["media1".into(), "media2".into()],
        at: 1_500,
    };
    s.update_audit(&a, AuditId(42), &rejected).await.unwrap();
    let got = s.latest_audit(&a).await.unwrap().unwrap();
    assert_eq!(got.status, AuditStatus::Rejected);
    assert_eq!(got.reason.as_deref(), Some("<b>incomplete</b>"));
    assert_eq!(got.screenshots, vec!["media1", "media2"]);
    assert_eq!((got.submitted_at, got.updated_at), (1_000, 1_500));

    s.record_audit(&audit(&a, 43, 2_000)).await.unwrap();
    let approved = AuditUpdate {
        status: AuditStatus::Approved,
        reason: None,
        screenshots: vec![],
        at: 2_500,
    };
    s.update_audit(&a, AuditId(43), &approved).await.unwrap();
    s.mark_released(&a, AuditId(43), 3_000).await.unwrap();
    let got = s.latest_audit(&a).await.unwrap().unwrap();
    assert_eq!(
        (got.auditid, got.status, got.released_at),
        (AuditId(43), AuditStatus::Approved, Some(3_000))
    );

    // Concurrent writers of one audit, each with a distinct change to a distinct field: a status
    // push and a release mark race on each of 8 audits. Last-writer-wins of a whole record would
    // lose one of the two; both must survive on every audit.
    let b = app(7);
    for id in 100..108u64 {
        s.record_audit(&audit(&b, id, 5_000 + id as i64))
            .await
            .unwrap();
    }
    futures::future::join_all((100..108u64).map(|id| {
        let b = b.clone();
        async move {
            let push = AuditUpdate {
                status: AuditStatus::Approved,
                reason: Some(format!("r{id}")),
                screenshots: vec![format!("shot{id}")],
                at: 6_000 + id as i64,
            };
            let (u, r) = tokio::join!(
                s.update_audit(&b, AuditId(id), &push),
                s.mark_released(&b, AuditId(id), 7_000 + id as i64)
            );
            u.unwrap();
            r.unwrap();
        }
    }))
    .await;
    let got = s.list_audits(&b, None, 10).await.unwrap().items;
    assert_eq!(got.len(), 8);
    for x in got {
        let id = x.auditid.0;
        assert_eq!(x.status, AuditStatus::Approved, "{id}");
        assert_eq!(x.reason.as_deref(), Some(format!("r{id}").as_str()), "{id}");
        assert_eq!(x.screenshots, vec![format!("shot{id}")], "{id}");
        assert_eq!(x.released_at, Some(7_000 + id as i64), "{id}");
    }

    assert!(matches!(
        s.update_audit(&a, AuditId(44), &approved).await,
        Err(StoreError::NotFound)
    ));
    // A result dated before the audit's submission belongs to an older audit: refused inside
    // the write, the audit unchanged.
    s.record_audit(&audit(&a, 45, 9_000)).await.unwrap();
    let before = s.list_audits(&a, None, 1).await.unwrap().items[0].clone();
    let early = AuditUpdate {
        at: 8_999,
        ..approved.clone()
    };
    assert!(matches!(
        s.update_audit(&a, AuditId(45), &early).await,
        Err(StoreError::OutOfOrder)
    ));
    assert_eq!(s.list_audits(&a, None, 1).await.unwrap().items[0], before);
    assert!(matches!(
        s.mark_released(&app(6), AuditId(43), 1).await,
        Err(StoreError::NotFound)
    ));
}

async fn batches_record_progress_per_app<S: Backend>(s: &S) {
    let appids: Vec<AppId> = (0..1_000).map(app).collect();
    let batch = Batch {
        id: "batch-1".into(),
        operation: "submit_audit".into(),
        params: serde_json::json!({ "template_id": 7 }),
        appids: appids.clone(),
        created_at: 100,
        operator: "key-0123abcd".into(),
        finished_at: None,
    };
    s.create_batch(&batch).await.unwrap();
    assert!(matches!(
        s.create_batch(&batch).await,
        Err(StoreError::Conflict)
    ));
    let ok = BatchItemResult {
        outcome: BatchOutcome::Ok,
        detail: serde_json::json!({ "auditid": 1 }),
        at: 200,
    };
    let failed = BatchItemResult {
        outcome: BatchOutcome::Failed,
        detail: serde_json::json!({ "errcode": 85009 }),
        at: 201,
    };
    stream::iter(0..150usize)
        .for_each_concurrent(16, |i| {
            let r = if i % 3 == 0 { &failed } else { &ok };
            let a = appids[i].clone();
            async move { s.record_batch_item("batch-1", &a, r).await.unwrap() }
        })
        .await;
    s.record_batch_item("batch-1", &appids[0], &ok)
        .await
        .unwrap();
    assert!(matches!(
        s.record_batch_item("batch-1", &app(5_000), &ok).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.record_batch_item("batch-2", &appids[0], &ok).await,
        Err(StoreError::NotFound)
    ));
    let p = s.get_batch("batch-1").await.unwrap().unwrap();
    assert_eq!(p.batch, batch);
    assert_eq!(p.items.len(), 1_000);
    for (i, item) in p.items.iter().enumerate() {
        assert_eq!(item.appid, appids[i]);
        let want = match i {
            0 => Some(&ok),
            i if i < 150 && i % 3 == 0 => Some(&failed),
            i if i < 150 => Some(&ok),
            _ => None,
        };
        assert_eq!(item.result.as_ref(), want, "app {i}");
    }
    assert!(s.get_batch("batch-2").await.unwrap().is_none());
}

async fn a_batch_item_is_claimed_by_one_runner_and_taken_over_only_after_its_lease<S: Backend>(
    s: &S,
) {
    let appids: Vec<AppId> = (0..3).map(app).collect();
    let batch = Batch {
        id: "batch-claims".into(),
        operation: "release".into(),
        params: serde_json::json!({}),
        appids: appids.clone(),
        created_at: 1_000,
        operator: "key-1".into(),
        finished_at: None,
    };
    s.create_batch(&batch).await.unwrap();
    // Sixteen runners race for one app: exactly one wins.
    let runners: Vec<String> = (0..16).map(|i| format!("runner-{i}")).collect();
    let first = &appids[0];
    let wins = stream::iter(runners.iter())
        .map(|r| async move {
            (
                r.clone(),
                s.claim_batch_item("batch-claims", first, r, 1_000, 1_180)
                    .await,
            )
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let winners: Vec<&String> = wins
        .iter()
        .filter(|(_, r)| matches!(r, Ok(BatchClaim::Fresh)))
        .map(|(who, _)| who)
        .collect();
    assert_eq!(winners.len(), 1, "{wins:?}");
    assert!(wins
        .iter()
        .all(|(_, r)| matches!(r, Ok(BatchClaim::Fresh) | Err(StoreError::Conflict))));
    // The winner's claim sent again (its answer lost) is not refused by its own first write;
    // a loser's is.
    let winner = winners[0].clone();
    assert_eq!(
        s.claim_batch_item("batch-claims", &appids[0], &winner, 1_001, 1_180)
            .await
            .unwrap(),
        BatchClaim::Fresh
    );
    let loser = runners.iter().find(|r| **r != winner).unwrap();
    assert!(matches!(
        s.claim_batch_item("batch-claims", &appids[0], loser, 1_001, 1_180)
            .await,
        Err(StoreError::Conflict)
    ));
    // Held until the lease runs out, then taken over, naming when the first claim began.
    assert!(matches!(
        s.claim_batch_item("batch-claims", &appids[0], "late", 1_179, 1_400)
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        s.claim_batch_item("batch-claims", &appids[0], "late", 1_180, 1_400)
            .await
            .unwrap(),
        BatchClaim::TakenOver { since: 1_001 }
    );
    // A result ends claiming for good.
    let done = BatchItemResult {
        outcome: BatchOutcome::Skipped,
        detail: serde_json::json!({ "error": "not_approved" }),
        at: 1_200,
    };
    s.record_batch_item("batch-claims", &appids[0], &done)
        .await
        .unwrap();
    assert!(matches!(
        s.claim_batch_item("batch-claims", &appids[0], "late", 9_999, 10_000)
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        s.claim_batch_item("batch-claims", &appids[1], "other", 1_300, 1_480)
            .await
            .unwrap(),
        BatchClaim::Fresh
    );
    let p = s.get_batch("batch-claims").await.unwrap().unwrap();
    assert_eq!(p.items[0].claimed_at, Some(1_180));
    assert_eq!(p.items[0].result.as_ref(), Some(&done));
    assert_eq!(
        (p.items[1].claimed_at, p.items[1].result.as_ref()),
        (Some(1_300), None)
    );
    assert_eq!(
        (p.items[2].claimed_at, p.items[2].result.as_ref()),
        (None, None)
    );
}

async fn batches_are_listed_newest_first_and_open_ones_until_finished<S: Backend>(s: &S) {
    let mk = |n: u64| Batch {
        id: format!("{:012x}list{n}", 2_000 + n),
        operation: "commit".into(),
        params: serde_json::json!({}),
        appids: vec![app(n as usize)],
        created_at: 2_000 + n as i64,
        operator: "key-1".into(),
        finished_at: None,
    };
    for n in 0..5 {
        s.create_batch(&mk(n)).await.unwrap();
    }
    s.finish_batch(&mk(1).id, 3_000).await.unwrap();
    s.finish_batch(&mk(3).id, 3_001).await.unwrap();
    s.finish_batch(&mk(3).id, 9_999).await.unwrap();
    assert!(matches!(
        s.finish_batch("no-such-batch", 1).await,
        Err(StoreError::NotFound)
    ));
    let collect = |open_only: bool| async move {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = s
                .list_batches(open_only, cursor.as_deref(), 2)
                .await
                .unwrap();
            ids.extend(
                page.items
                    .iter()
                    .filter(|b| b.id.contains("list"))
                    .map(|b| b.id.clone()),
            );
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        ids
    };
    let ids = |ns: &[u64]| ns.iter().map(|n| mk(*n).id).collect::<Vec<_>>();
    assert_eq!(collect(false).await, ids(&[4, 3, 2, 1, 0]));
    assert_eq!(collect(true).await, ids(&[4, 2, 0]));
    let finished = s.get_batch(&mk(3).id).await.unwrap().unwrap();
    assert_eq!(
        finished.batch.finished_at,
        Some(3_001),
        "the first finish stands"
    );
}

// ---- not per backend ----

fn yaml_str(v: &serde_norway::Value, what: &str) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("template.yaml: {what} is not a string"))
        .to_owned()
}

fn yaml_pairs(v: &serde_norway::Value, a: &str, b: &str) -> Vec<(String, String)> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("template.yaml: expected a list of {a}/{b}"))
        .iter()
        .map(|e| (yaml_str(&e[a], a), yaml_str(&e[b], b)))
        .collect()
}

fn yaml_indexes(v: &serde_norway::Value) -> Vec<dynamo::IndexDefinition> {
    v.as_sequence()
        .map(|s| s.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|i| dynamo::IndexDefinition {
            name: yaml_str(&i["IndexName"], "IndexName"),
            key_schema: yaml_pairs(&i["KeySchema"], "AttributeName", "KeyType"),
            projection: yaml_str(&i["Projection"]["ProjectionType"], "ProjectionType"),
        })
        .collect()
}

#[test]
fn the_table_in_template_yaml_equals_the_table_the_code_creates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    let doc: serde_norway::Value = serde_norway::from_str(&text).expect("parse template.yaml");
    let table = &doc["Resources"]["Table"];
    assert_eq!(table["Type"].as_str(), Some("AWS::DynamoDB::Table"));
    let p = &table["Properties"];
    let ttl = &p["TimeToLiveSpecification"];
    assert_eq!(ttl["Enabled"].as_bool(), Some(true), "TTL is enabled");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true),
        "point-in-time recovery is on"
    );
    let from_template = dynamo::TableDefinition {
        table_name: String::new(),
        billing_mode: yaml_str(&p["BillingMode"], "BillingMode"),
        attributes: yaml_pairs(&p["AttributeDefinitions"], "AttributeName", "AttributeType"),
        key_schema: yaml_pairs(&p["KeySchema"], "AttributeName", "KeyType"),
        global_indexes: yaml_indexes(&p["GlobalSecondaryIndexes"]),
        local_indexes: yaml_indexes(&p["LocalSecondaryIndexes"]),
        ttl_attribute: yaml_str(
            &ttl["AttributeName"],
            "TimeToLiveSpecification.AttributeName",
        ),
        sse_enabled: p["SSESpecification"]["SSEEnabled"].as_bool() == Some(true),
    };
    assert_eq!(from_template, dynamo::table_definition(""));
}

#[test]
fn no_store_code_calls_scan() {
    // The refresher and every listing go through indexes: a Scan would read the whole table
    // on a schedule or per request.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/src");
    let mut files = vec![std::path::PathBuf::from(dir)];
    let mut checked = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                files.push(e.unwrap().path());
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            for bad in [".scan()", "operation::scan", "ScanInput", "ScanOutput"] {
                assert!(!text.contains(bad), "{} contains {bad}", p.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[tokio::test]
async fn the_table_on_moto_has_the_declared_indexes() {
    let Some(s) = dynamodb().await else { return };
    // Creating it again (a restarted local run) is not an error.
    s.create_table().await.unwrap();
    let conf = helpers::aws_config(&helpers::aws_endpoint().unwrap()).await;
    let d = aws_sdk_dynamodb::Client::new(&conf)
        .describe_table()
        .table_name(s.table())
        .send()
        .await
        .unwrap();
    let t = d.table().unwrap();
    let def = dynamo::table_definition(s.table());
    let mut gsis: Vec<&str> = t
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name())
        .collect();
    gsis.sort();
    let mut want: Vec<&str> = def.global_indexes.iter().map(|i| i.name.as_str()).collect();
    want.sort();
    assert_eq!(gsis, want);
    assert_eq!(t.local_secondary_indexes().len(), def.local_indexes.len());
}

async fn a_revocation_is_one_transaction_and_a_stale_one_changes_nothing<S: Backend>(s: &S) {
    let a = app(3);
    let key = TokenKey::Authorizer(a.clone());
    let mut profile = authorizer(3, AuthorizerStatus::Authorized, Some("c3"));
    profile.authorized_at = 1_000;
    s.upsert_authorizer(&profile).await.unwrap();
    let granted = TokenState {
        auth_changed_at: 1_000,
        ..token(Some("at1"), Some("rt1"), 9_000)
    };
    let v = s.put_token(&key, &granted, None).await.unwrap();
    s.record_audit(&audit(&a, 77, 1_100)).await.unwrap();

    // An `unauthorized` created before the authorization: nothing changes.
    assert_eq!(
        s.revoke_authorization(&a, 999).await.unwrap(),
        Revocation::Stale
    );
    let tok = s.get_token(&key).await.unwrap().unwrap();
    assert_eq!(tok.version, v);
    assert_eq!(tok.state.refresh_token.unwrap().expose_secret(), "rt1");
    assert_eq!(
        s.get_authorizer(&a).await.unwrap().unwrap().status,
        AuthorizerStatus::Authorized
    );

    // A current one: status and token change together; audits stay.
    assert_eq!(
        s.revoke_authorization(&a, 2_000).await.unwrap(),
        Revocation::Revoked
    );
    let got = s.get_authorizer(&a).await.unwrap().unwrap();
    assert_eq!(got.status, AuthorizerStatus::Unauthorized);
    assert_eq!(got.customer_id.as_deref(), Some("c3"));
    let tomb = s.get_token(&key).await.unwrap().unwrap();
    assert!(tomb.state.is_tombstone());
    assert_eq!(tomb.state.auth_changed_at, 2_000);
    assert!(tomb.version > v);
    assert_eq!(s.list_audits(&a, None, 10).await.unwrap().items.len(), 1);
    let due = s.due_authorizer_tokens(i64::MAX, None, 100).await.unwrap();
    assert!(!due.items.iter().any(|d| d.appid == a), "revoked: not due");

    // The merchant authorizes again at 3,000; WeChat then retries the old push (created 2,000).
    let again = TokenState {
        auth_changed_at: 3_000,
        ..token(Some("at2"), Some("rt2"), 9_500)
    };
    let v2 = s.put_token(&key, &again, Some(tomb.version)).await.unwrap();
    assert_eq!(
        s.revoke_authorization(&a, 2_000).await.unwrap(),
        Revocation::Stale
    );
    let tok = s.get_token(&key).await.unwrap().unwrap();
    assert_eq!(tok.version, v2);
    assert_eq!(tok.state.refresh_token.unwrap().expose_secret(), "rt2");

    // An authorizer we never stored: the tombstone still records the time, so an older
    // authorization arriving later cannot be taken for a newer one.
    let b = app(4);
    assert_eq!(
        s.revoke_authorization(&b, 5_000).await.unwrap(),
        Revocation::Revoked
    );
    let tomb = s
        .get_token(&TokenKey::Authorizer(b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tomb.state.auth_changed_at, 5_000);
}

async fn tokens_that_need_reauthorization_leave_the_due_index<S: Backend>(s: &S) {
    let a = app(5);
    let key = TokenKey::Authorizer(a.clone());
    async fn due<S: Backend>(s: &S) -> bool {
        s.due_authorizer_tokens(10_000, None, 100)
            .await
            .unwrap()
            .items
            .iter()
            .any(|d| d.appid == app(5))
    }
    let v = s
        .put_token(&key, &token(Some("at"), Some("rt"), 5_000), None)
        .await
        .unwrap();
    assert!(due(s).await);
    let marked = TokenState {
        needs_reauthorization: true,
        ..token(Some("at"), Some("rt"), 5_000)
    };
    let v = s.put_token(&key, &marked, Some(v)).await.unwrap();
    assert!(
        !due(s).await,
        "a refused refresh token is not refreshed again"
    );
    let got = s.get_token(&key).await.unwrap().unwrap();
    assert!(got.state.needs_reauthorization);
    assert_eq!(
        got.state.refresh_token.unwrap().expose_secret(),
        "rt",
        "kept for the record, never presented again"
    );
    s.put_token(&key, &token(Some("at2"), Some("rt2"), 6_000), Some(v))
        .await
        .unwrap();
    assert!(due(s).await, "a new authorization is refreshed again");
}

/// `mark_needs_reauthorization`: token and profile in one write, only on the grant judged.
async fn a_refusal_marks_the_token_and_the_profile_of_the_judged_grant_only<S: Backend>(s: &S) {
    let a = app(6);
    let key = TokenKey::Authorizer(a.clone());
    let mut profile = authorizer(6, AuthorizerStatus::Authorized, Some("c6"));
    profile.authorized_at = 1_000;
    profile.updated_at = 1_000;
    s.upsert_authorizer(&profile).await.unwrap();
    let granted = TokenState {
        auth_changed_at: 1_000,
        ..token(Some("at1"), Some("rt1"), 9_000)
    };
    let v = s.put_token(&key, &granted, None).await.unwrap();
    let marked = TokenState {
        needs_reauthorization: true,
        ..granted.clone()
    };

    // The token moved on since it was judged (a new grant stored): nothing changes.
    let again = TokenState {
        auth_changed_at: 3_000,
        ..token(Some("at2"), Some("rt2"), 9_500)
    };
    let v2 = s.put_token(&key, &again, Some(v)).await.unwrap();
    assert!(matches!(
        s.mark_needs_reauthorization(&a, &marked, v, 3_100).await,
        Err(StoreError::Conflict)
    ));
    let tok = s.get_token(&key).await.unwrap().unwrap();
    assert_eq!((tok.version, tok.state.needs_reauthorization), (v2, false));
    assert_eq!(
        s.get_authorizer(&a).await.unwrap().unwrap().status,
        AuthorizerStatus::Authorized
    );

    // The judged token is current: both change together, and the token leaves the due index.
    let judged = TokenState {
        needs_reauthorization: true,
        ..again.clone()
    };
    let v3 = s
        .mark_needs_reauthorization(&a, &judged, v2, 3_200)
        .await
        .unwrap();
    let tok = s.get_token(&key).await.unwrap().unwrap();
    assert_eq!((tok.version, tok.state.needs_reauthorization), (v3, true));
    let due = s.due_authorizer_tokens(i64::MAX, None, 100).await.unwrap();
    assert!(!due.items.iter().any(|d| d.appid == a), "marked: not due");
    let got = s.get_authorizer(&a).await.unwrap().unwrap();
    assert_eq!(got.status, AuthorizerStatus::NeedsReauthorization);
    assert_eq!(got.updated_at, 3_200);

    // The profile records a later authorization than the token judged (stored first by the
    // path that saw it): the token is marked, the profile is left as it is.
    let b = app(7);
    let key_b = TokenKey::Authorizer(b.clone());
    let mut newer = authorizer(7, AuthorizerStatus::Authorized, Some("c7"));
    newer.authorized_at = 5_000;
    s.upsert_authorizer(&newer).await.unwrap();
    let old_grant = TokenState {
        auth_changed_at: 4_000,
        ..token(Some("at"), Some("rt"), 9_000)
    };
    let vb = s.put_token(&key_b, &old_grant, None).await.unwrap();
    let marked_b = TokenState {
        needs_reauthorization: true,
        ..old_grant
    };
    s.mark_needs_reauthorization(&b, &marked_b, vb, 5_100)
        .await
        .unwrap();
    assert!(
        s.get_token(&key_b)
            .await
            .unwrap()
            .unwrap()
            .state
            .needs_reauthorization
    );
    assert_eq!(s.get_authorizer(&b).await.unwrap().unwrap(), newer);

    // A revoked profile says more than a refusal: kept; no profile at all: the token alone.
    let c = app(8);
    let key_c = TokenKey::Authorizer(c.clone());
    let revoked = authorizer(8, AuthorizerStatus::Unauthorized, Some("c8"));
    s.upsert_authorizer(&revoked).await.unwrap();
    let vc = s
        .put_token(&key_c, &token(None, Some("rt"), 0), None)
        .await
        .unwrap();
    let marked_c = TokenState {
        needs_reauthorization: true,
        ..token(None, Some("rt"), 0)
    };
    s.mark_needs_reauthorization(&c, &marked_c, vc, 6_000)
        .await
        .unwrap();
    assert_eq!(s.get_authorizer(&c).await.unwrap().unwrap(), revoked);
    let d = app(9);
    let key_d = TokenKey::Authorizer(d.clone());
    let vd = s
        .put_token(&key_d, &token(None, Some("rt"), 0), None)
        .await
        .unwrap();
    s.mark_needs_reauthorization(&d, &marked_c, vd, 6_000)
        .await
        .unwrap();
    assert!(s.get_authorizer(&d).await.unwrap().is_none());
    assert!(
        s.get_token(&key_d)
            .await
            .unwrap()
            .unwrap()
            .state
            .needs_reauthorization
    );
}

async fn a_periodic_job_is_claimed_once_per_period_by_racing_callers<S: Backend>(s: &S) {
    let claims =
        futures::future::join_all((0..10).map(|_| s.claim_run("reconcile", 1_000, 86_400))).await;
    let won = claims.iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(won, 1, "{claims:?}");
    assert!(!s
        .claim_run("reconcile", 1_000 + 86_399, 86_400)
        .await
        .unwrap());
    assert!(
        s.claim_run("watchdog", 1_000, 600).await.unwrap(),
        "jobs are apart"
    );
    assert!(s
        .claim_run("reconcile", 1_000 + 86_400, 86_400)
        .await
        .unwrap());
    assert!(!s
        .claim_run("reconcile", 1_000 + 86_401, 86_400)
        .await
        .unwrap());
}

async fn single_use_items_are_peeked_deleted_and_replaced_once_expired<S: Backend>(s: &S) {
    let p = serde_json::json!({ "appid": "wx0000000000000001" });
    let k = SingleUseKind::AuthCodeClaim;
    assert_eq!(s.peek_single_use(k, "c1", 100).await.unwrap(), None);
    s.create_single_use(k, "c1", &p, 100, 1_000).await.unwrap();
    let peeked = s.peek_single_use(k, "c1", 100).await.unwrap().unwrap();
    assert_eq!((peeked.payload, peeked.consumed), (p.clone(), false));
    // Peeking consumes nothing.
    assert_eq!(s.consume_single_use(k, "c1", 200).await.unwrap(), p);
    assert!(
        s.peek_single_use(k, "c1", 300)
            .await
            .unwrap()
            .unwrap()
            .consumed
    );
    // Live: a second create conflicts; expired but not yet purged: it is replaced.
    assert!(matches!(
        s.create_single_use(k, "c1", &p, 999, 5_000).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.peek_single_use(k, "c1", 1_000).await.unwrap(), None);
    let fresh = serde_json::json!({ "n": 2 });
    s.create_single_use(k, "c1", &fresh, 1_000, 5_000)
        .await
        .unwrap();
    let again = s.peek_single_use(k, "c1", 1_001).await.unwrap().unwrap();
    assert_eq!((again.payload, again.consumed), (fresh, false));
    // Deleting gives the id back at once; deleting nothing is fine.
    s.delete_single_use(k, "c1").await.unwrap();
    assert_eq!(s.peek_single_use(k, "c1", 1_001).await.unwrap(), None);
    s.delete_single_use(k, "c1").await.unwrap();
    s.create_single_use(k, "c1", &p, 1_001, 5_000)
        .await
        .unwrap();
    // Another kind with the same id is another item.
    assert_eq!(
        s.peek_single_use(SingleUseKind::AuthCodeOutcome, "c1", 1_001)
            .await
            .unwrap(),
        None
    );
}

fn invitation(n: u32, created_at: UnixTime) -> Invitation {
    Invitation {
        id: format!("{created_at:012x}{n:032x}"),
        customer_id: format!("cust-{n}"),
        auth_type: 2,
        biz_appid: None,
        created_at,
        expires_at: created_at + 604_800,
        revoked_at: None,
        used_at: None,
        used_by: None,
    }
}

async fn invitations_list_newest_first_and_change_atomically<S: Backend>(s: &S) {
    for n in 0..7u32 {
        s.create_invitation(&invitation(n, 1_000 + i64::from(n)))
            .await
            .unwrap();
    }
    assert!(matches!(
        s.create_invitation(&invitation(3, 1_003)).await,
        Err(StoreError::Conflict)
    ));
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.list_invitations(cursor.as_deref(), 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|i| i.customer_id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|n| format!("cust-{n}")).collect();
    assert_eq!(seen, expected, "newest first, no repeats, no gaps");

    let id = invitation(4, 1_004).id;
    // Two writers with distinct changes: both land.
    let (a, b) = tokio::join!(
        s.update_invitation(&id, &|i| {
            i.revoked_at = Some(2_000);
            Ok(())
        }),
        s.update_invitation(&id, &|i| {
            i.used_at = Some(1_500);
            Ok(())
        }),
    );
    a.unwrap();
    b.unwrap();
    let stored = s.get_invitation(&id).await.unwrap().unwrap();
    assert_eq!(
        (stored.revoked_at, stored.used_at),
        (Some(2_000), Some(1_500))
    );
    assert_eq!(stored.state(1_600), InvitationState::Revoked);
    // A refused change writes nothing.
    let refused = s
        .update_invitation(&id, &|i| {
            i.customer_id = "someone-else".into();
            Err(StoreError::Conflict)
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict)));
    assert_eq!(s.get_invitation(&id).await.unwrap().unwrap(), stored);
    assert!(matches!(
        s.update_invitation("nope", &|_| Ok(())).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.get_invitation("nope").await.unwrap(), None);
}

async fn concurrent_authorizer_updates_keep_both_changes<S: Backend>(s: &S) {
    let a = authorizer(1, AuthorizerStatus::Authorized, None);
    s.upsert_authorizer(&a).await.unwrap();
    let (x, y) = tokio::join!(
        s.update_authorizer(&a.appid, &|cur| {
            let mut n = cur?.clone();
            n.func_info.push(30);
            Some(n)
        }),
        s.update_authorizer(&a.appid, &|cur| {
            let mut n = cur?.clone();
            n.nick_name = "renamed".into();
            Some(n)
        }),
    );
    x.unwrap();
    y.unwrap();
    let stored = s.get_authorizer(&a.appid).await.unwrap().unwrap();
    assert_eq!(stored.nick_name, "renamed");
    assert_eq!(stored.func_info, vec![17, 18, 25, 30]);
    // `None` leaves it as it is and answers what is stored; an absent profile can be created.
    assert_eq!(
        s.update_authorizer(&a.appid, &|_| None).await.unwrap(),
        Some(stored)
    );
    let b = authorizer(2, AuthorizerStatus::Authorized, Some("c"));
    let created = s
        .update_authorizer(&b.appid, &|cur| cur.is_none().then(|| b.clone()))
        .await
        .unwrap();
    assert_eq!(created, Some(b.clone()));
    assert_eq!(
        s.authorizer_by_user_name(&b.user_name).await.unwrap(),
        Some(b)
    );
}

async fn an_authorization_through_another_customers_invitation_moves_it_and_records_the_move<
    S: Backend,
>(
    s: &S,
) {
    let first = authorizer(5, AuthorizerStatus::Authorized, None);
    let bind = |c: &str, inv: &str| CustomerBinding {
        customer_id: c.into(),
        invitation_id: inv.into(),
    };
    // The push came first (no customer), then the callback with the invitation's customer.
    let record = |fresh: Authorizer, binding: Option<CustomerBinding>| async move {
        s.update_authorizer(&fresh.appid.clone(), &move |cur| {
            Some(Authorizer::merge_authorization(
                cur,
                fresh.clone(),
                binding.as_ref(),
            ))
        })
        .await
        .unwrap()
        .unwrap()
    };
    let a = record(first.clone(), None).await;
    assert_eq!(a.customer_id, None);
    let a = record(first.clone(), Some(bind("alice", "inv-a"))).await;
    assert_eq!(a.customer_id.as_deref(), Some("alice"));
    assert!(a.customer_moves.is_empty(), "a first binding is no move");
    // The push again (a retry): the customer stays.
    let a = record(first.clone(), None).await;
    assert_eq!(a.customer_id.as_deref(), Some("alice"));
    // Authorized again through Bob's invitation: moved, and the move recorded.
    let mut again = first.clone();
    again.authorized_at += 100;
    again.updated_at += 100;
    again.nick_name = "new name".into();
    let a = record(again, Some(bind("bob", "inv-b"))).await;
    assert_eq!(a.customer_id.as_deref(), Some("bob"));
    assert_eq!(a.nick_name, "new name");
    assert_eq!(
        a.customer_moves,
        vec![CustomerMove {
            from: Some("alice".into()),
            to: "bob".into(),
            invitation_id: "inv-b".into(),
            at: first.updated_at + 100,
        }]
    );
    let listed = s
        .list_authorizers(
            &AuthorizerFilter {
                customer_id: Some("bob".into()),
                ..AuthorizerFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(listed.items, vec![a]);
}

async fn activity_is_kept_per_app_newest_first_even_within_one_second<S: Backend>(s: &S) {
    let a = app(1);
    let act = |n: u64, at: UnixTime, appid: &AppId| Activity {
        appid: appid.clone(),
        at,
        operator: "key-0123abcd".into(),
        action: format!("action-{n}"),
        template_id: Some(n),
        user_version: None,
        auditid: None,
        details: serde_json::Value::Null,
    };
    // Five in one second, two later; another app's in between.
    for n in 0..5 {
        s.record_activity(&act(n, 1_000, &a)).await.unwrap();
    }
    s.record_activity(&act(9, 1_500, &app(2))).await.unwrap();
    for n in 5..7 {
        s.record_activity(&act(n, 2_000 + n as i64, &a))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.list_activity(&a, cursor.as_deref(), 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(
            page.items
                .into_iter()
                .map(|x| (x.at, x.template_id.unwrap())),
        );
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(&seen[..2], &[(2_006, 6), (2_005, 5)]);
    let mut same_second: Vec<u64> = seen[2..].iter().map(|x| x.1).collect();
    same_second.sort();
    assert_eq!(
        same_second,
        vec![0, 1, 2, 3, 4],
        "none lost within one second"
    );
    assert!(seen[2..].iter().all(|x| x.0 == 1_000));
    // A cursor of one app's listing is refused for another's.
    let first = s.list_activity(&a, None, 1).await.unwrap();
    assert!(matches!(
        s.list_activity(&app(2), first.next.as_deref(), 1).await,
        Err(StoreError::InvalidCursor)
    ));
}

async fn template_requirements_are_set_replaced_and_removed<S: Backend>(s: &S) {
    assert_eq!(s.get_template_requirements(7).await.unwrap(), None);
    let first = TemplateRequirements {
        template_id: 7,
        requestdomain: vec!["https://api.shop.example".into()],
        webviewdomain: vec!["https://h5.shop.example".into()],
        operator: "ops".into(),
        updated_at: 100,
        ..Default::default()
    };
    let other = TemplateRequirements {
        template_id: 8,
        downloaddomain: vec!["https://cdn.example".into()],
        ..Default::default()
    };
    s.put_template_requirements(&first).await.unwrap();
    s.put_template_requirements(&other).await.unwrap();
    assert_eq!(
        s.get_template_requirements(7).await.unwrap().as_ref(),
        Some(&first)
    );
    let second = TemplateRequirements {
        requestdomain: vec!["https://api2.shop.example".into()],
        webviewdomain: vec![],
        updated_at: 200,
        ..first.clone()
    };
    s.put_template_requirements(&second).await.unwrap();
    assert_eq!(
        s.get_template_requirements(7).await.unwrap(),
        Some(second),
        "replaced whole"
    );
    s.delete_template_requirements(7).await.unwrap();
    s.delete_template_requirements(7).await.unwrap();
    assert_eq!(s.get_template_requirements(7).await.unwrap(), None);
    assert_eq!(
        s.get_template_requirements(8).await.unwrap(),
        Some(other),
        "others untouched"
    );
}

fn rt(state: &TokenState) -> String {
    state
        .refresh_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default()
}

async fn tokens_are_read_many_at_once_in_order<S: Backend>(s: &S) {
    // 150 items: more than one request's worth (100) on DynamoDB.
    let keys: Vec<TokenKey> = (0..150).map(|i| TokenKey::Authorizer(app(i))).collect();
    for (i, k) in keys.iter().enumerate() {
        s.put_token(k, &token(Some("at"), Some(&format!("rt{i}")), 1_000), None)
            .await
            .unwrap();
    }
    // Every 7th was written again: the read sees its latest version.
    for i in (0..150).step_by(7) {
        s.put_token(
            &keys[i],
            &token(Some("at"), Some(&format!("new{i}")), 2_000),
            Some(1),
        )
        .await
        .unwrap();
    }
    let mut asked = keys.clone();
    asked.insert(70, TokenKey::Authorizer(app(9_999)));
    let got = s.get_tokens(&asked).await.unwrap();
    assert_eq!(got.len(), 151);
    assert!(
        got[70].is_none(),
        "an unknown key reads as None, in its place"
    );
    for (i, g) in got.iter().enumerate().filter(|(i, _)| *i != 70) {
        let n = if i < 70 { i } else { i - 1 };
        let g = g.as_ref().unwrap();
        let want = if n % 7 == 0 {
            (format!("new{n}"), 2)
        } else {
            (format!("rt{n}"), 1)
        };
        assert_eq!((rt(&g.state), g.version), want, "item {n}");
    }
    assert!(s.get_tokens(&[]).await.unwrap().is_empty());
}

/// WeChat's news of an audit only moves forward, judged inside the write: 40 audits each get a
/// "delayed" (older) and a "success" (newer) delivery at once, as racing pushes and polls do;
/// every one ends approved with the success's time. A late delay alone, and a pending status
/// over a decided one, are refused with the audit unchanged.
async fn racing_delay_and_success_deliveries_never_regress_an_approved_audit<S: Backend>(s: &S) {
    let a = app(41);
    for id in 0..40u64 {
        s.record_audit(&audit(&a, 500 + id, 1_000)).await.unwrap();
    }
    futures::future::join_all((0..40u64).map(|id| {
        let a = a.clone();
        async move {
            let delay = AuditUpdate {
                status: AuditStatus::Delayed,
                reason: Some(format!("slow {id}")),
                screenshots: vec![],
                at: 2_000 + id as i64,
            };
            let success = AuditUpdate {
                status: AuditStatus::Approved,
                reason: None,
                screenshots: vec![],
                at: 3_000 + id as i64,
            };
            // Either may land first; one of them is refused when it would go backwards.
            let (d, ok) = tokio::join!(
                s.update_audit(&a, AuditId(500 + id), &delay),
                s.update_audit(&a, AuditId(500 + id), &success)
            );
            assert!(matches!(d, Ok(()) | Err(StoreError::OutOfOrder)), "{d:?}");
            ok.unwrap();
        }
    }))
    .await;
    let got = s.list_audits(&a, None, 100).await.unwrap().items;
    assert_eq!(got.len(), 40);
    for r in &got {
        let id = r.auditid.0 - 500;
        assert_eq!(
            (r.status, r.reason.as_deref(), r.updated_at),
            (AuditStatus::Approved, None, 3_000 + id as i64),
            "audit {id}"
        );
    }
    // In order of arrival, not of time: the success first, then the older delay.
    let b = app(42);
    s.record_audit(&audit(&b, 900, 1_000)).await.unwrap();
    let approved = AuditUpdate {
        status: AuditStatus::Approved,
        reason: None,
        screenshots: vec![],
        at: 3_000,
    };
    s.update_audit(&b, AuditId(900), &approved).await.unwrap();
    let before = s.latest_audit(&b).await.unwrap().unwrap();
    for late in [
        AuditUpdate {
            status: AuditStatus::Delayed,
            reason: Some("slow".into()),
            screenshots: vec![],
            at: 2_000,
        },
        // A pending status never follows a decided one, whatever its time.
        AuditUpdate {
            status: AuditStatus::Auditing,
            reason: None,
            screenshots: vec![],
            at: 4_000,
        },
        // Older news of the same kind (decided) loses too.
        AuditUpdate {
            status: AuditStatus::Rejected,
            reason: Some("old".into()),
            screenshots: vec![],
            at: 2_500,
        },
    ] {
        assert!(
            matches!(
                s.update_audit(&b, AuditId(900), &late).await,
                Err(StoreError::OutOfOrder)
            ),
            "{late:?}"
        );
        assert_eq!(s.latest_audit(&b).await.unwrap().unwrap(), before);
    }
}

/// A runner that outlived its lease never writes over the runner that took the app over: the
/// result is written in one conditional write on the claim. The first runner's result is
/// refused both after the new runner's result and while the new runner still works.
async fn a_batch_result_is_written_only_by_the_runner_holding_the_claim<S: Backend>(s: &S) {
    let appids: Vec<AppId> = (0..2).map(|i| app(60 + i)).collect();
    let batch = Batch {
        id: "batch-owners".into(),
        operation: "submit_audit".into(),
        params: serde_json::json!({}),
        appids: appids.clone(),
        created_at: 1_000,
        operator: "key-1".into(),
        finished_at: None,
    };
    s.create_batch(&batch).await.unwrap();
    let result = |outcome, detail: &str, at| BatchItemResult {
        outcome,
        detail: serde_json::json!({ "by": detail }),
        at,
    };
    // The first app: taken over, the new runner records, then the late first runner tries.
    let (x, y) = (&appids[0], &appids[1]);
    s.claim_batch_item("batch-owners", x, "first", 1_000, 1_180)
        .await
        .unwrap();
    assert_eq!(
        s.claim_batch_item("batch-owners", x, "second", 1_200, 1_380)
            .await
            .unwrap(),
        BatchClaim::TakenOver { since: 1_000 }
    );
    let second = result(BatchOutcome::Ok, "second", 1_210);
    s.record_claimed_batch_item("batch-owners", x, "second", &second)
        .await
        .unwrap();
    assert!(matches!(
        s.record_claimed_batch_item(
            "batch-owners",
            x,
            "first",
            &result(BatchOutcome::Failed, "first", 1_220)
        )
        .await,
        Err(StoreError::Conflict)
    ));
    // The second app: taken over, the late first runner's result comes while the new runner
    // works; the new runner's result then lands.
    s.claim_batch_item("batch-owners", y, "first", 1_000, 1_180)
        .await
        .unwrap();
    s.claim_batch_item("batch-owners", y, "second", 1_200, 1_380)
        .await
        .unwrap();
    assert!(matches!(
        s.record_claimed_batch_item(
            "batch-owners",
            y,
            "first",
            &result(BatchOutcome::Failed, "first", 1_220)
        )
        .await,
        Err(StoreError::Conflict)
    ));
    let p = s.get_batch("batch-owners").await.unwrap().unwrap();
    assert_eq!(p.items[1].result, None, "the late runner wrote nothing");
    let second_y = result(BatchOutcome::Ok, "second", 1_230);
    s.record_claimed_batch_item("batch-owners", y, "second", &second_y)
        .await
        .unwrap();
    let p = s.get_batch("batch-owners").await.unwrap().unwrap();
    assert_eq!(p.items[0].result.as_ref(), Some(&second));
    assert_eq!(p.items[1].result.as_ref(), Some(&second_y));
    // Not part of the batch: NotFound, as for an unconditional result.
    assert!(matches!(
        s.record_claimed_batch_item("batch-owners", &app(99), "second", &second)
            .await,
        Err(StoreError::NotFound)
    ));
}

/// The binding change the callback makes: the invitation's customer on the stored profile.
fn bind_to(customer: &str) -> impl Fn(Option<&Authorizer>) -> Option<Authorizer> + Send + Sync {
    let customer = customer.to_owned();
    move |cur| {
        let mut a = cur?.clone();
        a.customer_id = Some(customer.clone());
        Some(a)
    }
}

async fn an_invitation_binds_one_app_in_the_write_that_binds_it<S: Backend>(s: &S) {
    let inv = invitation(1, 1_000);
    s.create_invitation(&inv).await.unwrap();
    for i in [1, 2] {
        s.upsert_authorizer(&authorizer(
            i,
            AuthorizerStatus::Authorized,
            Some(UNASSIGNED_CUSTOMER),
        ))
        .await
        .unwrap();
    }
    let (one, two) = (app(1), app(2));
    let change = bind_to("cust-1");
    // Two apps race through one invitation: exactly one is bound, the other refused.
    let (r1, r2) = tokio::join!(
        s.bind_invitation(&inv.id, &one, Some(true), 1_010, &change),
        s.bind_invitation(&inv.id, &two, Some(true), 1_011, &change),
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    let (winner, loser, refusal) = match (&r1, &r2) {
        (InvitationBinding::Bound(_), InvitationBinding::Refused(why)) => (&one, &two, why),
        (InvitationBinding::Refused(why), InvitationBinding::Bound(_)) => (&two, &one, why),
        other => panic!("exactly one binds: {other:?}"),
    };
    assert_eq!(refusal, &InvitationRefusal::UsedByAnother(winner.clone()));
    let stored = s.get_invitation(&inv.id).await.unwrap().unwrap();
    assert_eq!(stored.used_by.as_ref(), Some(winner));
    assert_eq!(stored.state(1_020), InvitationState::Used);
    let won = s.get_authorizer(winner).await.unwrap().unwrap();
    assert_eq!(won.customer_id.as_deref(), Some("cust-1"));
    let lost = s.get_authorizer(loser).await.unwrap().unwrap();
    assert_eq!(lost.customer_id.as_deref(), Some(UNASSIGNED_CUSTOMER));
    // The winner again (a reload): still bound, the invitation unchanged.
    let again = s
        .bind_invitation(&inv.id, winner, Some(true), 1_030, &change)
        .await
        .unwrap();
    assert_eq!(again, InvitationBinding::Bound(Some(won.clone())));
    assert_eq!(s.get_invitation(&inv.id).await.unwrap().unwrap(), stored);
    // A first authorization (no profile yet) is created in the same write.
    let inv2 = invitation(2, 1_000);
    s.create_invitation(&inv2).await.unwrap();
    let fresh = authorizer(3, AuthorizerStatus::Authorized, Some("cust-2"));
    let made = s
        .bind_invitation(&inv2.id, &app(3), None, 1_040, &|cur| {
            assert!(cur.is_none());
            Some(fresh.clone())
        })
        .await
        .unwrap();
    assert_eq!(made, InvitationBinding::Bound(Some(fresh.clone())));
    assert_eq!(s.get_authorizer(&app(3)).await.unwrap(), Some(fresh));
    assert_eq!(
        s.get_invitation(&inv2.id).await.unwrap().unwrap().used_by,
        Some(app(3))
    );
}

async fn a_refused_invitation_writes_nothing<S: Backend>(s: &S) {
    let profile = authorizer(1, AuthorizerStatus::Authorized, Some(UNASSIGNED_CUSTOMER));
    s.upsert_authorizer(&profile).await.unwrap();
    let change = bind_to("cust-x");
    let now = 1_010;
    let revoked = invitation(1, 1_000);
    let expired = Invitation {
        expires_at: now,
        ..invitation(2, 1_000)
    };
    let for_other = Invitation {
        biz_appid: Some(app(9)),
        ..invitation(3, 1_000)
    };
    let accounts_only = Invitation {
        auth_type: 1,
        ..invitation(4, 1_000)
    };
    for inv in [&revoked, &expired, &for_other, &accounts_only] {
        s.create_invitation(inv).await.unwrap();
    }
    s.update_invitation(&revoked.id, &|i| {
        i.revoked_at = Some(1_005);
        Ok(())
    })
    .await
    .unwrap();
    let cases = [
        (revoked.id.as_str(), InvitationRefusal::Revoked),
        (expired.id.as_str(), InvitationRefusal::Expired),
        (
            for_other.id.as_str(),
            InvitationRefusal::ForAnotherApp(app(9)),
        ),
        (
            accounts_only.id.as_str(),
            InvitationRefusal::WrongKind { auth_type: 1 },
        ),
        ("nope", InvitationRefusal::Unknown),
    ];
    for (id, why) in cases {
        let before = s.get_invitation(id).await.unwrap();
        let r = s
            .bind_invitation(id, &app(1), Some(true), now, &change)
            .await
            .unwrap();
        assert_eq!(r, InvitationBinding::Refused(why));
        assert_eq!(s.get_invitation(id).await.unwrap(), before, "{id}");
    }
    assert_eq!(s.get_authorizer(&app(1)).await.unwrap(), Some(profile));
}

fn named(appid: &AppId, name: &str, pri: &str) -> NamedSubscribeTemplate {
    NamedSubscribeTemplate {
        appid: appid.clone(),
        name: name.to_owned(),
        pri_tmpl_id: pri.to_owned(),
        tid: 1001,
        kid_list: vec![1, 2, 3],
        added_at: 1_700_000_000,
    }
}

async fn subscribe_templates_are_named_per_app_and_a_name_is_taken_once<S: Backend>(s: &S) {
    let (a, b) = (app(71), app(72));
    assert_eq!(
        s.get_subscribe_template(&a, "order_shipped").await.unwrap(),
        None
    );
    assert!(s.list_subscribe_templates(&a).await.unwrap().is_empty());
    let shipped = named(&a, "order_shipped", "pri-a-1");
    s.create_subscribe_template(&shipped).await.unwrap();
    // The same name for another app is that app's own.
    s.create_subscribe_template(&named(&b, "order_shipped", "pri-b-1"))
        .await
        .unwrap();
    s.create_subscribe_template(&named(&a, "refund_done", "pri-a-2"))
        .await
        .unwrap();
    // A name is taken once per app: concurrent adds keep exactly one.
    let racers: Vec<_> = (0..8)
        .map(|i| named(&a, "coupon", &format!("pri-a-c{i}")))
        .collect();
    let results =
        futures::future::join_all(racers.iter().map(|t| s.create_subscribe_template(t))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, StoreError::Conflict)));
    assert!(matches!(
        s.create_subscribe_template(&named(&a, "order_shipped", "pri-a-9"))
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        s.get_subscribe_template(&a, "order_shipped").await.unwrap(),
        Some(shipped.clone())
    );
    let names: Vec<String> = s
        .list_subscribe_templates(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["coupon", "order_shipped", "refund_done"]);
    assert_eq!(s.list_subscribe_templates(&b).await.unwrap().len(), 1);
    s.delete_subscribe_template(&a, "order_shipped")
        .await
        .unwrap();
    s.delete_subscribe_template(&a, "order_shipped")
        .await
        .unwrap();
    assert_eq!(
        s.get_subscribe_template(&a, "order_shipped").await.unwrap(),
        None
    );
    assert_eq!(
        s.get_subscribe_template(&b, "order_shipped")
            .await
            .unwrap()
            .map(|t| t.pri_tmpl_id),
        Some("pri-b-1".to_owned())
    );
}

// --- Violations and quota resets (issue 27) ---

fn penalty(a: &AppId, id: &str, at: UnixTime) -> Penalty {
    Penalty {
        appid: a.clone(),
        punish_id: id.to_owned(),
        kind: PenaltyKind::FunctionBan,
        event_type: 2,
        punish_time: at,
        illegal_reason: "内容涉嫌欺诈".into(),
        illegal_content: "c".into(),
        rule_name: "r".into(),
        rule_url: "https://example.com/r".into(),
        adjust_guide_url: "https://example.com/g".into(),
        detail: serde_json::json!({ "banned_days": [7] }),
        received_at: at + 5,
    }
}

async fn a_penalty_is_recorded_once_and_marks_its_app_penalised<S: Backend>(s: &S) {
    let (a, b, c) = (app(81), app(82), app(83));
    assert!(s.list_penalties(&a).await.unwrap().is_empty());
    assert!(s.penalised_apps(None, 10).await.unwrap().items.is_empty());
    assert!(s.record_penalty(&penalty(&a, "2_1", 100)).await.unwrap());
    // The same punish_id again (a re-push): nothing written, the first kept.
    let mut again = penalty(&a, "2_1", 100);
    again.illegal_reason = "changed".into();
    assert!(!s.record_penalty(&again).await.unwrap());
    assert!(s.record_penalty(&penalty(&a, "4_2", 300)).await.unwrap());
    assert!(s.record_penalty(&penalty(&c, "1_3", 200)).await.unwrap());
    // Racing deliveries of one new penalty: one records it.
    let racing: Vec<bool> = stream::iter(0..8)
        .map(|_| async { s.record_penalty(&penalty(&b, "3_9", 50)).await })
        .buffer_unordered(8)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(racing.iter().filter(|n| **n).count(), 1, "{racing:?}");
    let listed = s.list_penalties(&a).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|p| p.punish_id.as_str()).collect();
    assert_eq!(ids, ["4_2", "2_1"], "newest first");
    assert_eq!(listed[1], penalty(&a, "2_1", 100));
    assert_eq!(s.list_penalties(&b).await.unwrap().len(), 1);
    // The penalised apps, in appid order, a page at a time.
    let first = s.penalised_apps(None, 2).await.unwrap();
    assert_eq!(first.items, [a, b]);
    let next = first.next.expect("a next page");
    let second = s.penalised_apps(Some(&next), 2).await.unwrap();
    assert_eq!(second.items, [c]);
    assert!(
        second.next.is_none()
            || s.penalised_apps(second.next.as_deref(), 2)
                .await
                .unwrap()
                .items
                .is_empty()
    );
}

fn appeal(a: &AppId, id: u64, status: AppealStatus, pushed_at: UnixTime) -> Appeal {
    Appeal {
        appid: a.clone(),
        appeal_record_id: id,
        status,
        appeal_time: 100,
        appeal_count: 1,
        appeal_from: 1,
        audit_time: None,
        audit_reason: String::new(),
        punish_description: "d".into(),
        pushed_at,
    }
}

async fn an_appeal_is_replaced_only_by_a_later_push<S: Backend>(s: &S) {
    let a = app(84);
    assert!(s.list_appeals(&a).await.unwrap().is_empty());
    assert!(s
        .record_appeal(&appeal(&a, 7, AppealStatus::Processing, 100))
        .await
        .unwrap());
    assert!(s
        .record_appeal(&appeal(&a, 7, AppealStatus::Rejected, 200))
        .await
        .unwrap());
    // A late retry of the older push changes nothing; the same push again neither.
    assert!(!s
        .record_appeal(&appeal(&a, 7, AppealStatus::Processing, 100))
        .await
        .unwrap());
    assert!(!s
        .record_appeal(&appeal(&a, 7, AppealStatus::Rejected, 200))
        .await
        .unwrap());
    assert!(s
        .record_appeal(&appeal(&a, 3, AppealStatus::Approved, 50))
        .await
        .unwrap());
    let listed = s.list_appeals(&a).await.unwrap();
    let got: Vec<(u64, AppealStatus)> = listed
        .iter()
        .map(|x| (x.appeal_record_id, x.status))
        .collect();
    assert_eq!(
        got,
        [(3, AppealStatus::Approved), (7, AppealStatus::Rejected)]
    );
}

async fn quota_resets_are_reserved_until_the_limit_by_racing_callers_and_settled<S: Backend>(
    s: &S,
) {
    let account = QuotaAccount::App(app(85));
    let month = 1_772_294_400;
    let use_of = |i: usize| QuotaResetUse {
        id: format!("use-{i}"),
        at: month + i as i64,
        operator: "op".into(),
        outcome: QuotaResetOutcome::Pending,
        errcode: None,
    };
    assert_eq!(
        s.quota_resets(&account, month).await.unwrap(),
        QuotaResetLedger::default()
    );
    // Twelve callers race for a limit of ten: ten are reserved, two refused with the count.
    let results: Vec<QuotaReservation> = stream::iter(0..12)
        .map(|i| {
            let (account, u) = (account.clone(), use_of(i));
            async move { s.reserve_quota_reset(&account, month, 10, &u).await }
        })
        .buffer_unordered(12)
        .try_collect()
        .await
        .unwrap();
    let reserved = results
        .iter()
        .filter(|r| matches!(r, QuotaReservation::Reserved { .. }))
        .count();
    assert_eq!(reserved, 10, "{results:?}");
    assert!(results
        .iter()
        .all(|r| !matches!(r, QuotaReservation::LimitReached { spent } if *spent != 10)));
    let ledger = s.quota_resets(&account, month).await.unwrap();
    assert_eq!(ledger.spent(10), 10);
    // An error answer spends nothing: one use comes back.
    let first = ledger.uses[0].id.clone();
    s.settle_quota_reset(
        &account,
        month,
        &first,
        QuotaResetOutcome::NotSpent,
        Some(40013),
    )
    .await
    .unwrap();
    let ledger = s.quota_resets(&account, month).await.unwrap();
    assert_eq!(ledger.spent(10), 9);
    assert_eq!(ledger.uses[0].errcode, Some(40013));
    // A lost answer stays counted.
    let second = ledger.uses[1].id.clone();
    s.settle_quota_reset(&account, month, &second, QuotaResetOutcome::Unknown, None)
        .await
        .unwrap();
    assert_eq!(s.quota_resets(&account, month).await.unwrap().spent(10), 9);
    assert!(matches!(
        s.reserve_quota_reset(&account, month, 10, &use_of(20))
            .await
            .unwrap(),
        QuotaReservation::Reserved { spent: 10 }
    ));
    // Another month, another account: their own counts. 48006 marks the month spent.
    let platform = QuotaAccount::Platform;
    assert!(matches!(
        s.reserve_quota_reset(&platform, month, 10, &use_of(30))
            .await
            .unwrap(),
        QuotaReservation::Reserved { spent: 1 }
    ));
    s.settle_quota_reset(
        &platform,
        month,
        "use-30",
        QuotaResetOutcome::NotSpent,
        Some(48006),
    )
    .await
    .unwrap();
    assert!(matches!(
        s.reserve_quota_reset(&platform, month, 10, &use_of(31))
            .await
            .unwrap(),
        QuotaReservation::LimitReached { spent: 10 }
    ));
    assert_eq!(
        s.quota_resets(&account, month + 2_678_400)
            .await
            .unwrap()
            .spent(10),
        0
    );
}

async fn a_filing_learned_earlier_never_replaces_one_learned_later<S: Backend>(s: &S) {
    let state = |i: usize, status: FilingStatus, at: UnixTime| FilingState {
        appid: app(i),
        status,
        wechat_status: match status {
            FilingStatus::Filed => 6,
            FilingStatus::AdministrationRejected => 5,
            _ => 1024,
        },
        reasons: vec![],
        sms_verify: None,
        missing: vec![FilingPrerequisite::Category],
        record_number: None,
        checked_at: at,
    };
    assert_eq!(s.get_filing(&app(1)).await.unwrap(), None);
    assert!(s
        .record_filing(&state(1, FilingStatus::NotFiled, 100))
        .await
        .unwrap());
    let mut filed = state(1, FilingStatus::Filed, 200);
    filed.record_number = Some("京ICP备19000000号-1X".into());
    filed.missing = vec![];
    assert!(s.record_filing(&filed).await.unwrap());
    // A late push (learned at 150) lands on nothing.
    assert!(!s
        .record_filing(&state(1, FilingStatus::AdministrationRejected, 150))
        .await
        .unwrap());
    assert_eq!(s.get_filing(&app(1)).await.unwrap().as_ref(), Some(&filed));
    // The same state again is one state.
    assert!(s.record_filing(&filed).await.unwrap());
    assert_eq!(s.get_filing(&app(1)).await.unwrap().as_ref(), Some(&filed));

    // Many at once, in the order asked, absent ones as None (over one BatchGetItem's 100).
    for i in (10..160).step_by(2) {
        s.record_filing(&state(i, FilingStatus::NotFiled, 1))
            .await
            .unwrap();
    }
    let asked: Vec<AppId> = (10..160).map(app).collect();
    let got = s.get_filings(&asked).await.unwrap();
    assert_eq!(got.len(), asked.len());
    for (i, f) in (10..160).zip(&got) {
        assert_eq!(
            f.as_ref().map(|f| f.appid.clone()),
            (i % 2 == 0).then(|| app(i)),
            "{i}"
        );
    }
}

// ---- notifications (the outbox and its rules) ----

fn notification(id: &str, created_at: UnixTime) -> Notification {
    Notification {
        id: id.to_owned(),
        event: wxopen::notifications::Event::Unauthorized { appid: app(1) },
        created_at,
        status: NotificationStatus::Pending,
        routed: false,
        deliveries: vec![],
        next_attempt_at: created_at,
        retry_until: created_at + 86_400,
        updated_at: created_at,
    }
}

async fn a_notification_is_written_once_per_event_id_and_changes_by_version<S: Backend>(s: &S) {
    let n = notification("unauthorized:wx1:100", 100);
    assert!(s.create_notification(&n).await.unwrap());
    let mut again = n.clone();
    again.created_at = 200;
    assert!(
        !s.create_notification(&again).await.unwrap(),
        "the same id twice is one"
    );
    let read = s.get_notification(&n.id).await.unwrap().unwrap();
    assert_eq!((read.notification.created_at, read.version), (100, 1));
    let mut changed = read.notification.clone();
    changed.status = NotificationStatus::Delivered;
    assert_eq!(s.put_notification(&changed, 1).await.unwrap(), 2);
    assert!(matches!(
        s.put_notification(&changed, 1).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        s.put_notification(&notification("nope", 1), 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.get_notification("nope").await.unwrap().is_none());
    // Two drainers claiming with the version they read: exactly one wins.
    let n = notification("race", 100);
    s.create_notification(&n).await.unwrap();
    let wins = futures::future::join_all((0..8).map(|_| s.put_notification(&n, 1)))
        .await
        .into_iter()
        .filter(|r| r.is_ok())
        .count();
    assert_eq!(wins, 1);
}

async fn due_notifications_are_listed_by_next_attempt_and_only_while_pending<S: Backend>(s: &S) {
    for (id, at) in [("c", 300), ("a", 100), ("b", 200), ("later", 10_000)] {
        s.create_notification(&notification(id, at)).await.unwrap();
    }
    assert_eq!(s.due_notifications(250, 100).await.unwrap(), ["a", "b"]);
    assert_eq!(s.due_notifications(1_000, 2).await.unwrap(), ["a", "b"]);
    // Moved on: out of the due order at its old time, in it at its new one; settled: out.
    let mut a = s.get_notification("a").await.unwrap().unwrap().notification;
    a.next_attempt_at = 500;
    s.put_notification(&a, 1).await.unwrap();
    let mut b = s.get_notification("b").await.unwrap().unwrap().notification;
    b.status = NotificationStatus::Failed;
    s.put_notification(&b, 1).await.unwrap();
    assert_eq!(s.due_notifications(1_000, 100).await.unwrap(), ["c", "a"]);
    assert!(s.due_notifications(50, 100).await.unwrap().is_empty());
}

async fn notifications_list_newest_first_filtered_by_status_across_pages<S: Backend>(s: &S) {
    for i in 0..7i64 {
        let mut n = notification(&format!("n{i}"), 1_000 + i);
        s.create_notification(&n).await.unwrap();
        if i % 2 == 0 {
            n.status = NotificationStatus::Failed;
            s.put_notification(&n, 1).await.unwrap();
        }
    }
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s
            .list_notifications(None, cursor.as_deref(), 3)
            .await
            .unwrap();
        all.extend(page.items.into_iter().map(|n| n.id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all, ["n6", "n5", "n4", "n3", "n2", "n1", "n0"]);
    let first = s
        .list_notifications(Some(NotificationStatus::Failed), None, 2)
        .await
        .unwrap();
    let ids: Vec<_> = first.items.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["n6", "n4"]);
    let rest = s
        .list_notifications(Some(NotificationStatus::Failed), first.next.as_deref(), 10)
        .await
        .unwrap();
    let ids: Vec<_> = rest.items.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["n2", "n0"]);
    assert!(rest.next.is_none());
    assert!(matches!(
        s.list_notifications(None, Some("not-a-cursor"), 2).await,
        Err(StoreError::InvalidCursor)
    ));
}

/// The store keeps the rules and each channel's reference to its secret parts, never the parts
/// (they are in Secrets Manager: `notifications::save_rules`).
async fn notification_rules_are_kept_with_references_not_secrets<S: Backend>(s: &S) {
    use wxopen::notifications::{Channel, ChannelKind, EventKind, NotificationRules, Route};
    assert!(s
        .get_notification_rules()
        .await
        .unwrap()
        .channels
        .is_empty());
    let rules = NotificationRules {
        channels: vec![Channel {
            name: "ops".into(),
            kind: ChannelKind::Webhook,
            url: Some(SecretString::from(
                "https://hooks.example/x?token=t1".to_owned(),
            )),
            signing_secret: Some(SecretString::from("0123456789abcdef".to_owned())),
            secret_ref: Some("wxopen/notification-channels#ops".into()),
            url_view: Some("https://hooks.example/…".into()),
        }],
        routes: vec![Route {
            channel: "ops".into(),
            events: vec![EventKind::AuditRejected],
            customer_id: Some("acme".into()),
        }],
        operator: "key-1".into(),
        updated_at: 5,
    };
    s.put_notification_rules(&rules).await.unwrap();
    let back = s.get_notification_rules().await.unwrap();
    assert_eq!(back.routes, rules.routes);
    let c = &back.channels[0];
    assert!(c.url.is_none() && c.signing_secret.is_none(), "{c:?}");
    assert_eq!(
        (c.secret_ref.as_deref(), c.url_view.as_deref()),
        (
            Some("wxopen/notification-channels#ops"),
            Some("https://hooks.example/…")
        )
    );
    assert_eq!((back.operator.as_str(), back.updated_at), ("key-1", 5));
}

fn registration(id: &str, created_at: UnixTime, name: &str) -> Registration {
    let applicant = Applicant::Enterprise {
        name: name.into(),
        code: Personal::new("91440300MA5XXXXXX1"),
        code_type: 1,
        legal_persona_wechat: Personal::new("legal_wx"),
        legal_persona_name: Personal::new("张三"),
        component_phone: Personal::default(),
    };
    Registration {
        registration_id: id.into(),
        customer_id: "customer-c".into(),
        subject: applicant.subject(),
        applicant,
        status: RegistrationStatus::Submitting { since: created_at },
        authorize_url: None,
        verification: None,
        taken_on: false,
        checked_at: None,
        operator: "ops".into(),
        created_at,
        updated_at: created_at,
    }
}

async fn registrations_change_by_version_are_found_by_subject_and_listed_by_state<S: Backend>(
    s: &S,
) {
    use wxopen::store::registration::{beta_subject, change_registration, enterprise_subject};
    let r = registration("r1", 1_000, "甲公司");
    s.create_registration(&r).await.unwrap();
    assert!(matches!(
        s.create_registration(&r).await,
        Err(StoreError::Conflict)
    ));
    let got = s.get_registration("r1").await.unwrap().unwrap();
    assert_eq!((got.registration.clone(), got.version), (r.clone(), 1));
    assert!(s.get_registration("nope").await.unwrap().is_none());
    // Compare-and-set on the version.
    let mut waiting = r.clone();
    waiting.status = RegistrationStatus::WaitingForConfirmation;
    assert_eq!(s.put_registration(&waiting, 1).await.unwrap(), 2);
    assert!(matches!(
        s.put_registration(&waiting, 1).await,
        Err(StoreError::Conflict)
    ));
    let mut ghost = r.clone();
    ghost.registration_id = "ghost".into();
    assert!(matches!(
        s.put_registration(&ghost, 1).await,
        Err(StoreError::NotFound)
    ));
    // The push finds the newest registration of its subject; another subject finds nothing.
    let subject = enterprise_subject("甲公司", "legal_wx", "张三");
    let found = s
        .find_registration_by_subject(&subject)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.registration.registration_id.as_str(), found.version),
        ("r1", 2)
    );
    s.create_registration(&registration("r2", 2_000, "甲公司"))
        .await
        .unwrap();
    let found = s
        .find_registration_by_subject(&subject)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.registration.registration_id, "r2");
    assert!(s
        .find_registration_by_subject(&enterprise_subject("乙公司", "legal_wx", "张三"))
        .await
        .unwrap()
        .is_none());
    // A subject learned later (a trial's unique_id) points at it too; the first one still does.
    let mut beta = registration("r3", 3_000, "丙公司");
    s.create_registration(&beta).await.unwrap();
    beta.subject = Some(beta_subject("u-123"));
    s.put_registration(&beta, 1).await.unwrap();
    let by_unique = s
        .find_registration_by_subject(&beta_subject("u-123"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_unique.registration.registration_id, "r3");
    // A read-modify-write lands once.
    let changed = change_registration(s, "r2", |cur| {
        (!matches!(cur.status, RegistrationStatus::Failed { .. })).then(|| {
            let mut n = cur.clone();
            n.status = RegistrationStatus::Failed {
                reason: "refused".into(),
                errcode: Some(-1),
            };
            n
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(changed.status.state(), RegistrationState::Failed);
    assert_eq!(s.get_registration("r2").await.unwrap().unwrap().version, 2);
    // Listed newest first, by state, across pages.
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s
            .list_registrations(None, cursor.as_deref(), 2)
            .await
            .unwrap();
        all.extend(page.items.into_iter().map(|r| r.registration_id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all, ["r3", "r2", "r1"]);
    let submitting = s
        .list_registrations(Some(RegistrationState::Submitting), None, 10)
        .await
        .unwrap();
    let ids: Vec<_> = submitting
        .items
        .iter()
        .map(|r| r.registration_id.as_str())
        .collect();
    assert_eq!(ids, ["r3"]);
    let waiting = s
        .list_registrations(Some(RegistrationState::WaitingForConfirmation), None, 10)
        .await
        .unwrap();
    assert_eq!(waiting.items.len(), 1);
    assert_eq!(waiting.items[0].registration_id, "r1");
    assert!(matches!(
        s.list_registrations(None, Some("not-a-cursor"), 2).await,
        Err(StoreError::InvalidCursor)
    ));
}

async fn a_profile_state_is_written_by_version_and_racing_updates_keep_both<S: Backend>(s: &S) {
    assert_eq!(s.get_profile_state(&app(1)).await.unwrap(), None);
    let mut first = ProfileState::new(app(1));
    first.nickname_review = Some(NicknameReview {
        nickname: "模拟小店".into(),
        audit_id: Some(7),
        status: ReviewStatus::Checking,
        reason: String::new(),
        since: 100,
        decided_at: None,
    });
    s.put_profile_state(&first).await.unwrap();
    // A second writer that read nothing (version 0) loses.
    assert!(matches!(
        s.put_profile_state(&ProfileState::new(app(1))).await,
        Err(StoreError::Conflict)
    ));
    let got = s.get_profile_state(&app(1)).await.unwrap().unwrap();
    assert_eq!(got.version, 1);
    assert_eq!(got.nickname_review, first.nickname_review);
    // A writer holding an old version loses; one holding the stored version wins.
    assert!(matches!(
        s.put_profile_state(&first).await,
        Err(StoreError::Conflict)
    ));
    s.put_profile_state(&got).await.unwrap();
    assert_eq!(
        s.get_profile_state(&app(1)).await.unwrap().unwrap().version,
        2
    );
    // Ten racing updates, each adding its own category review: every one is kept.
    let results: Vec<_> = stream::iter(0..10u64)
        .map(|i| async move {
            update_profile_state(s, &app(1), |st| {
                st.set_category_review(CategoryReview {
                    first: 1,
                    second: 100 + i,
                    status: ReviewStatus::Checking,
                    reason: String::new(),
                    at: i as i64,
                });
                true
            })
            .await
        })
        .buffer_unordered(10)
        .collect()
        .await;
    // Racing writers may give up after their retries; none may lose another's change silently.
    let done = results.iter().filter(|r| r.is_ok()).count();
    let stored = s.get_profile_state(&app(1)).await.unwrap().unwrap();
    assert_eq!(stored.category_reviews.len(), done, "{stored:?}");
    assert_eq!(stored.version, 2 + done as u64);
    assert!(done >= 1);
    // Another app's state is apart.
    assert_eq!(s.get_profile_state(&app(2)).await.unwrap(), None);
}
