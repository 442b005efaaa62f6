//! The DynamoDB store: one table, `pk`/`sk` strings, production state of every function.
//!
//! Layout (see `template.yaml`, which a test holds equal to [`table_definition`]):
//!
//! | item | pk | sk | extra attributes |
//! |---|---|---|---|
//! | latest ticket | `COMPONENT#{appid}` | `TICKET` | `value`, `received_at` |
//! | component token | `COMPONENT#{appid}` | `TOKEN` | token fields, `version` |
//! | authorizer token | `APP#{appid}` | `TOKEN` | token fields, `version`, `due_pk`/`due_at` when it holds a refresh token |
//! | authorizer profile | `APP#{appid}` | `PROFILE` | `data` (JSON), `status`, `customer_id`, `list_pk`/`list_sk`, `user_name`, `rev` |
//! | audit | `APP#{appid}` | `AUDIT#{auditid:020}` | `data` (JSON), `audit_order`, `rev` |
//! | single use (auth state, code claim, outcomes) | `SINGLE#{kind}#{id}` | `SINGLE` | `payload`, `expires_at`, `consumed_at`, `ttl` |
//! | operator activity | `APP#{appid}` | `ACT#{at:020}#{random}` | `data` (JSON) |
//! | invitation | `INVITATIONS` | `{id}` (sorts by creation) | `data` (JSON), `rev`, `ttl` |
//! | seen push | `PUSH#{digest}` | `PUSH` | `expires_at`, `ttl` |
//! | batch | `BATCHES` | `{id}` (sorts by creation) | `data` (JSON), `open` while unfinished, `ttl` |
//! | one app of a batch | `BATCH#{id}` | `ITEM#{appid}` | `claimed_at`, `lease_until`, `result_data` (JSON), `ttl` |
//! | penalty (pushed) | `APP#{appid}` | `PENALTY#{punish_id}` | `data` (JSON) |
//! | penalised app mark | `PENALISED` | `{appid}` | |
//! | appeal (pushed) | `APP#{appid}` | `APPEAL#{id:020}` | `data` (JSON), `pushed_at` |
//! | quota resets of a month | `QUOTA_RESETS#{account}` | `MONTH#{month_start}` | `data` (JSON ledger), `rev` |
//!
//! Indexes, so that no request path ever scans:
//! - GSI `due` (`due_pk` = `"DUE"`, `due_at`): sparse; only authorizer tokens that hold a refresh
//!   token carry the attributes, so the refresher reads exactly the tokens it can refresh, in
//!   expiry order.
//! - GSI `authorizers` (`list_pk` = `"AUTHORIZERS"`, `list_sk` = appid): every profile, in appid
//!   order; status and customer filters are a `FilterExpression` on that Query.
//! - GSI `user_name` (`user_name`): audit pushes name a mini program by its original id `gh_…`.
//! - LSI `audit_order` (`{submitted_at:020}#{auditid:020}`): an app's audits in submission order,
//!   so the latest is one Query with `ScanIndexForward=false, Limit=1`.
//!
//! Versions and single-use consumes are conditional writes; DynamoDB's TTL (`ttl`) deletes expired
//! items late (up to days), so every read of an expiring item also checks `expires_at` itself.

use super::*;
use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, LocalSecondaryIndex, Projection, ProjectionType, Put, PutRequest,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, SseSpecification,
    TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use base64::Engine as _;
use secrecy::ExposeSecret;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// The TTL attribute (epoch seconds) DynamoDB deletes expired items by.
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Index of authorizer tokens that can be refreshed, keyed by expiry.
pub const DUE_INDEX: &str = "due";
/// Index of all authorizer profiles in appid order.
pub const AUTHORIZERS_INDEX: &str = "authorizers";
/// Index of authorizer profiles by original id (`gh_…`).
pub const USER_NAME_INDEX: &str = "user_name";
/// Local index of an app's audits in submission order.
pub const AUDIT_ORDER_INDEX: &str = "audit_order";

const DUE_PK: &str = "DUE";
const AUTHORIZERS_PK: &str = "AUTHORIZERS";
/// Page size cap: one DynamoDB page is at most 1 MB anyway.
const MAX_PAGE: u32 = 1000;
/// Read-modify-write retries before a contended update gives up with `Conflict`.
const RMW_ATTEMPTS: usize = 8;

/// A secondary index as the table declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: String,
    /// `(attribute, "HASH" | "RANGE")`.
    pub key_schema: Vec<(String, String)>,
    /// `ALL`, `KEYS_ONLY`.
    pub projection: String,
}

/// The table as code declares it; `template.yaml` must declare the same (a test compares them),
/// and tests and `wxopen-local` create their tables from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    pub table_name: String,
    pub billing_mode: String,
    /// `(attribute, "S" | "N")`, only the key attributes of the table and its indexes.
    pub attributes: Vec<(String, String)>,
    pub key_schema: Vec<(String, String)>,
    pub global_indexes: Vec<IndexDefinition>,
    pub local_indexes: Vec<IndexDefinition>,
    pub ttl_attribute: String,
    pub sse_enabled: bool,
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The table definition (key schema, indexes, billing, TTL) under the name `table`.
pub fn table_definition(table: impl Into<String>) -> TableDefinition {
    TableDefinition {
        table_name: table.into(),
        billing_mode: "PAY_PER_REQUEST".into(),
        attributes: pairs(&[
            ("pk", "S"),
            ("sk", "S"),
            ("due_pk", "S"),
            ("due_at", "N"),
            ("list_pk", "S"),
            ("list_sk", "S"),
            ("user_name", "S"),
            ("audit_order", "S"),
        ]),
        key_schema: pairs(&[("pk", "HASH"), ("sk", "RANGE")]),
        global_indexes: vec![
            IndexDefinition {
                name: DUE_INDEX.into(),
                key_schema: pairs(&[("due_pk", "HASH"), ("due_at", "RANGE")]),
                projection: "KEYS_ONLY".into(),
            },
            IndexDefinition {
                name: AUTHORIZERS_INDEX.into(),
                key_schema: pairs(&[("list_pk", "HASH"), ("list_sk", "RANGE")]),
                projection: "ALL".into(),
            },
            IndexDefinition {
                name: USER_NAME_INDEX.into(),
                key_schema: pairs(&[("user_name", "HASH")]),
                projection: "ALL".into(),
            },
        ],
        local_indexes: vec![IndexDefinition {
            name: AUDIT_ORDER_INDEX.into(),
            key_schema: pairs(&[("pk", "HASH"), ("audit_order", "RANGE")]),
            projection: "ALL".into(),
        }],
        ttl_attribute: TTL_ATTRIBUTE.into(),
        sse_enabled: true,
    }
}

fn key_schema(v: &[(String, String)]) -> anyhow::Result<Vec<KeySchemaElement>> {
    v.iter()
        .map(|(name, kind)| {
            Ok(KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()?)
        })
        .collect()
}

/// A DynamoDB client for the store with retries tuned for throttling: adaptive retry mode (client
/// side rate limiting after throttles) and more attempts than the default 3, since a throttled
/// on-demand table recovers within seconds.
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::adaptive()
                .with_max_attempts(6)
                .with_initial_backoff(std::time::Duration::from_millis(50)),
        )
        .build();
    Client::from_conf(conf)
}

/// The production store. Cheap to clone (the SDK client is an `Arc` inside).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(anyhow!("corrupt item: {what}"))
}
fn get_s<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(name)),
    }
}
fn opt_s<'a>(item: &'a Item, name: &str) -> StoreResult<Option<&'a str>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        _ => Err(corrupt(name)),
    }
}
fn opt_n<T: std::str::FromStr>(item: &Item, name: &str) -> StoreResult<Option<T>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}
fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> StoreResult<T> {
    opt_n(item, name)?.ok_or_else(|| corrupt(name))
}
fn get_json<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> StoreResult<T> {
    serde_json::from_str(get_s(item, name)?).map_err(|_| corrupt(name))
}
fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v)
        .context("serialize item")
        .map_err(StoreError::Backend)
}

/// Keys per BatchGetItem request (DynamoDB's limit).
const BATCH_GET_MAX: usize = 100;
/// Tries of a batch request whose items come back unprocessed.
const BATCH_ATTEMPTS: u32 = 4;

/// Whether a conditional write lost its condition (a typed outcome, not a backend failure).
fn is_condition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("ConditionalCheckFailedException"))
}

/// Sends a transaction of conditional writes: `true` once it is committed, `false` when DynamoDB
/// cancelled it (a condition failed or another transaction held an item), for the caller to read
/// again and retry; any other failure is an error.
async fn commit(
    tx: aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder,
    what: &'static str,
) -> StoreResult<bool> {
    match tx.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_transaction_canceled_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(backend(what)(e)),
    }
}

fn backend<E>(what: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| {
        StoreError::Backend(anyhow!(
            "{what}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        ))
    }
}

/// Cursors are the key of the last item returned, JSON in base64url: opaque to callers, checked
/// on the way back in so a forged or foreign cursor is refused rather than sent to DynamoDB.
fn encode_cursor(key: &Item) -> StoreResult<String> {
    let mut m = serde_json::Map::new();
    for (k, v) in key {
        let v = match v {
            AttributeValue::S(x) => serde_json::json!({ "S": x }),
            AttributeValue::N(x) => serde_json::json!({ "N": x }),
            _ => return Err(corrupt(k)),
        };
        m.insert(k.clone(), v);
    }
    let json = serde_json::Value::Object(m).to_string();
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(cursor: &str, key_names: &[&str]) -> StoreResult<Item> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let obj = v.as_object().ok_or(StoreError::InvalidCursor)?;
    if obj.len() != key_names.len() {
        return Err(StoreError::InvalidCursor);
    }
    let mut key = Item::new();
    for name in key_names {
        let tv = obj
            .get(*name)
            .and_then(|x| x.as_object())
            .ok_or(StoreError::InvalidCursor)?;
        let av = match (tv.get("S"), tv.get("N")) {
            (Some(serde_json::Value::String(x)), None) => s(x.clone()),
            (None, Some(serde_json::Value::String(x))) if x.parse::<i64>().is_ok() => n(x.clone()),
            _ => return Err(StoreError::InvalidCursor),
        };
        key.insert((*name).to_owned(), av);
    }
    Ok(key)
}

fn key_of(item: &Item, key_names: &[&str]) -> StoreResult<Item> {
    key_names
        .iter()
        .map(|k| {
            item.get(*k)
                .cloned()
                .map(|v| ((*k).to_owned(), v))
                .ok_or_else(|| corrupt(k))
        })
        .collect()
}

fn clamp_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}

/// A Query to page through: everything but the start key and the limit.
struct QuerySpec<'a> {
    index: Option<&'a str>,
    key_condition: &'a str,
    filter: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    forward: bool,
    /// Key attributes of the table and of the index: what a cursor holds.
    key_names: &'a [&'a str],
    /// The cursor attribute fixed by the key condition and its value placeholder (`pk`, `:pk`):
    /// a cursor of another partition belongs to another query and is refused.
    partition: (&'a str, &'a str),
}

/// The partition holding every invitation.
const INVITATIONS_PK: &str = "INVITATIONS";

fn token_pk(key: &TokenKey) -> String {
    match key {
        TokenKey::Component(a) => format!("COMPONENT#{a}"),
        TokenKey::Authorizer(a) => format!("APP#{a}"),
    }
}
fn kind_str(kind: SingleUseKind) -> &'static str {
    match kind {
        SingleUseKind::AuthState => "STATE",
        SingleUseKind::AuthStateOutcome => "STATE_OUTCOME",
        SingleUseKind::AuthCodeClaim => "CODE",
        SingleUseKind::AuthCodeOutcome => "CODE_OUTCOME",
        SingleUseKind::BatchRequest => "BATCH_REQUEST",
        SingleUseKind::AuditSubmissionInDoubt => "AUDIT_IN_DOUBT",
        SingleUseKind::ReleaseInDoubt => "RELEASE_IN_DOUBT",
        SingleUseKind::AuthCodeState => "CODE_STATE",
        SingleUseKind::AuthStartPage => "START_PAGE",
        SingleUseKind::AuthStartQuota => "START_QUOTA",
        SingleUseKind::IcpApplicationInDoubt => "ICP_APPLICATION_IN_DOUBT",
        SingleUseKind::IcpReferenceTables => "ICP_REFERENCE_TABLES",
        SingleUseKind::SubscribeTemplateInDoubt => "SUBSCRIBE_TEMPLATE_IN_DOUBT",
        SingleUseKind::ProfileChangeInDoubt => "PROFILE_CHANGE_IN_DOUBT",
        SingleUseKind::CategoryTable => "CATEGORY_TABLE",
    }
}
fn audit_sk(id: AuditId) -> String {
    format!("AUDIT#{:020}", id.0)
}
fn audit_order(a: &AuditRecord) -> String {
    // Offset so negative times still sort (they never occur, but the key must not break).
    let t = (a.submitted_at as i128) - (i64::MIN as i128);
    format!("{t:020}#{:020}", a.auditid.0)
}

impl DynamoStore {
    /// A store on `table`. Build `client` with [`client`] for the throttling retry policy.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates this store's table as [`table_definition`] declares it, waits until it is active
    /// and turns TTL on; does nothing if the table exists. For tests and local runs: production
    /// tables come from `template.yaml`.
    pub async fn create_table(&self) -> anyhow::Result<()> {
        let def = table_definition(self.table.clone());
        let attributes = def
            .attributes
            .iter()
            .map(|(name, t)| {
                Ok(AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(t.as_str()))
                    .build()?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let projection = |p: &str| {
            Projection::builder()
                .projection_type(ProjectionType::from(p))
                .build()
        };
        let gsis = def
            .global_indexes
            .iter()
            .map(|i| {
                Ok(GlobalSecondaryIndex::builder()
                    .index_name(&i.name)
                    .set_key_schema(Some(key_schema(&i.key_schema)?))
                    .projection(projection(&i.projection))
                    .build()?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let lsis = def
            .local_indexes
            .iter()
            .map(|i| {
                Ok(LocalSecondaryIndex::builder()
                    .index_name(&i.name)
                    .set_key_schema(Some(key_schema(&i.key_schema)?))
                    .projection(projection(&i.projection))
                    .build()?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let created = self
            .client
            .create_table()
            .table_name(&def.table_name)
            .billing_mode(BillingMode::from(def.billing_mode.as_str()))
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(&def.key_schema)?))
            .set_global_secondary_indexes(Some(gsis))
            .set_local_secondary_indexes(Some(lsis))
            .sse_specification(SseSpecification::builder().enabled(def.sse_enabled).build())
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Already there (a restarted local run): leave it, including its TTL setting.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(e) => {
                return Err(anyhow!(
                    "CreateTable: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ))
            }
        }
        for _ in 0..120 {
            let d = self
                .client
                .describe_table()
                .table_name(&def.table_name)
                .send()
                .await
                .context("DescribeTable")?;
            let active = d
                .table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| s.as_str() == "ACTIVE");
            if active {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        self.client
            .update_time_to_live()
            .table_name(&def.table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&def.ttl_attribute)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "UpdateTimeToLive: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    /// Writes `item` only if no item has its key: `Conflict` if one has.
    async fn put_new(&self, item: Item, what: &'static str) -> StoreResult<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(what)(e)),
        }
    }

    async fn get_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend("GetItem"))?;
        Ok(out.item)
    }

    /// [`Self::page`] of items whose record is their `data` JSON.
    async fn data_page<T: serde::de::DeserializeOwned>(
        &self,
        q: QuerySpec<'_>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<T>> {
        let (items, next) = self.page(q, cursor, limit).await?;
        let items = items
            .iter()
            .map(|i| get_json(i, "data"))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    /// Pages through a Query until `limit` items pass the filter or the query ends. The cursor
    /// is the key of the last item handed out, so pages never repeat or skip an item even when a
    /// DynamoDB page stops mid-way or a filter thins it out.
    async fn page(
        &self,
        q: QuerySpec<'_>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<(Vec<Item>, Option<String>)> {
        let limit = clamp_limit(limit) as usize;
        let mut start = cursor.map(|c| decode_cursor(c, q.key_names)).transpose()?;
        if let Some(start) = &start {
            let (attr, placeholder) = q.partition;
            if start.get(attr) != q.values.get(placeholder) {
                return Err(StoreError::InvalidCursor);
            }
        }
        let mut out: Vec<Item> = Vec::new();
        loop {
            let remaining = (limit - out.len()) as i32;
            // One more than needed tells whether anything follows, sparing an empty last page.
            let chunk = if q.filter.is_some() {
                (remaining + 1).clamp(100, MAX_PAGE as i32)
            } else {
                remaining + 1
            };
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(q.index.map(str::to_owned))
                .key_condition_expression(q.key_condition)
                .set_filter_expression(q.filter.clone())
                .set_expression_attribute_names(if q.names.is_empty() {
                    None
                } else {
                    Some(q.names.clone())
                })
                .set_expression_attribute_values(Some(q.values.clone()))
                .scan_index_forward(q.forward)
                .consistent_read(q.index.is_none() || q.index == Some(AUDIT_ORDER_INDEX))
                .limit(chunk)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend("Query"))?;
            let items = resp.items.unwrap_or_default();
            let more_after_page = resp.last_evaluated_key.is_some();
            let count = items.len();
            for (i, item) in items.into_iter().enumerate() {
                if out.len() == limit {
                    // An item beyond the page exists: the cursor resumes after the last kept one.
                    let last = out.last().ok_or_else(|| corrupt("page"))?;
                    let next = encode_cursor(&key_of(last, q.key_names)?)?;
                    return Ok((out, Some(next)));
                }
                out.push(item);
                if out.len() == limit && i + 1 == count && !more_after_page {
                    return Ok((out, None));
                }
            }
            match resp.last_evaluated_key {
                None => return Ok((out, None)),
                Some(k) if out.len() == limit => {
                    return Ok((out, Some(encode_cursor(&key_of(&k, q.key_names)?)?)));
                }
                Some(k) => start = Some(k),
            }
        }
    }

    /// Read-modify-write of a JSON `data` item under optimistic locking on `rev`: callers update
    /// whole records (audits, profiles) without a version in the interface, and concurrent
    /// updates never lose each other's changes.
    async fn rmw<T, F>(&self, pk: String, sk: String, mut f: F) -> StoreResult<()>
    where
        T: Serialize + serde::de::DeserializeOwned,
        F: FnMut(&mut T, &mut Item) -> StoreResult<()> + Send,
    {
        for _ in 0..RMW_ATTEMPTS {
            let Some(mut item) = self.get_item(pk.clone(), &sk).await? else {
                return Err(StoreError::NotFound);
            };
            let rev: u64 = opt_n(&item, "rev")?.unwrap_or(0);
            let mut data: T = get_json(&item, "data")?;
            f(&mut data, &mut item)?;
            item.insert("data".into(), s(to_json(&data)?));
            item.insert("rev".into(), n(rev + 1));
            let r = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(rev) OR rev = :rev)",
                )
                .expression_attribute_values(":rev", n(rev))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) if is_condition_failed(&e) => continue,
                Err(e) => return Err(backend("PutItem")(e)),
            }
        }
        Err(StoreError::Conflict)
    }

    fn parse_token(item: &Item) -> StoreResult<VersionedToken> {
        let secret = |name| -> StoreResult<Option<SecretString>> {
            Ok(opt_s(item, name)?.map(|v| SecretString::from(v.to_owned())))
        };
        Ok(VersionedToken {
            state: TokenState {
                access_token: secret("access_token")?,
                refresh_token: secret("refresh_token")?,
                expires_at: opt_n(item, "expires_at")?.unwrap_or(0),
                lease_until: opt_n(item, "lease_until")?.unwrap_or(0),
                lease_owner: opt_s(item, "lease_owner")?.map(str::to_owned),
                auth_changed_at: opt_n(item, "auth_changed_at")?.unwrap_or(0),
                refreshed_at: opt_n(item, "refreshed_at")?.unwrap_or(0),
                needs_reauthorization: item
                    .get("needs_reauthorization")
                    .is_some_and(|v| matches!(v, AttributeValue::Bool(true))),
            },
            version: get_n(item, "version")?,
        })
    }

    fn profile_item(a: &Authorizer, rev: u64) -> StoreResult<Item> {
        let mut item = Item::new();
        item.insert("pk".into(), s(format!("APP#{}", a.appid)));
        item.insert("sk".into(), s("PROFILE"));
        item.insert("data".into(), s(to_json(a)?));
        item.insert("status".into(), s(a.status.as_str()));
        if let Some(c) = &a.customer_id {
            item.insert("customer_id".into(), s(c.clone()));
        }
        item.insert("list_pk".into(), s(AUTHORIZERS_PK));
        item.insert("list_sk".into(), s(a.appid.as_str()));
        // Index key attributes must not be empty strings: an account without one stays unindexed.
        if !a.user_name.is_empty() {
            item.insert("user_name".into(), s(a.user_name.clone()));
        }
        item.insert("rev".into(), n(rev));
        Ok(item)
    }

    /// An invitation: one partition for all (a listing is one Query, newest first, since ids
    /// sort by creation time), kept [`INVITATION_RETENTION_SECS`] after it expires.
    fn invitation_item(inv: &Invitation, rev: u64) -> StoreResult<Item> {
        let mut item = Item::new();
        item.insert("pk".into(), s(INVITATIONS_PK));
        item.insert("sk".into(), s(inv.id.clone()));
        item.insert("data".into(), s(to_json(inv)?));
        item.insert("rev".into(), n(rev));
        item.insert(
            TTL_ATTRIBUTE.into(),
            n(inv.expires_at + INVITATION_RETENTION_SECS),
        );
        Ok(item)
    }

    /// Writes items 25 at a time, resending what DynamoDB leaves unprocessed under throttling.
    /// Unconditional: for bulk loads (local seeding, tests), never for versioned state.
    pub async fn batch_put(&self, items: Vec<HashMap<String, AttributeValue>>) -> StoreResult<()> {
        for chunk in items.chunks(25) {
            let mut reqs = chunk
                .iter()
                .map(|i| {
                    Ok(WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(i.clone())).build()?)
                        .build())
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            for attempt in 0..10u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, reqs)
                    .send()
                    .await
                    .map_err(backend("BatchWriteItem"))?;
                reqs = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if reqs.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(5))).await;
            }
            if !reqs.is_empty() {
                return Err(StoreError::Backend(anyhow!(
                    "BatchWriteItem: items left unprocessed after retries"
                )));
            }
        }
        Ok(())
    }

    /// The item [`TokenStore::put_token`] writes, for [`DynamoStore::batch_put`] seeding.
    pub fn token_item(key: &TokenKey, state: &TokenState, version: u64) -> Item {
        let mut item = Item::new();
        item.insert("pk".into(), s(token_pk(key)));
        item.insert("sk".into(), s("TOKEN"));
        if let Some(t) = &state.access_token {
            item.insert("access_token".into(), s(t.expose_secret()));
        }
        if let Some(t) = &state.refresh_token {
            item.insert("refresh_token".into(), s(t.expose_secret()));
        }
        if state.refreshable() && matches!(key, TokenKey::Authorizer(_)) {
            item.insert("due_pk".into(), s(DUE_PK));
            item.insert("due_at".into(), n(state.expires_at));
        }
        item.insert("expires_at".into(), n(state.expires_at));
        item.insert("lease_until".into(), n(state.lease_until));
        if let Some(o) = &state.lease_owner {
            item.insert("lease_owner".into(), s(o.clone()));
        }
        if state.auth_changed_at != 0 {
            item.insert("auth_changed_at".into(), n(state.auth_changed_at));
        }
        if state.needs_reauthorization {
            item.insert("needs_reauthorization".into(), AttributeValue::Bool(true));
        }
        if state.refreshed_at != 0 {
            item.insert("refreshed_at".into(), n(state.refreshed_at));
        }
        item.insert("version".into(), n(version));
        item
    }
}

/// Turns a token item into a tombstone: tokens, lease and due-index keys go, the version counts on.
const TOMBSTONE_UPDATE: &str =
    "SET version = version + :one, expires_at = :zero, lease_until = :zero \
     REMOVE access_token, refresh_token, due_pk, due_at, lease_owner, needs_reauthorization, refreshed_at";

#[async_trait]
impl TicketStore for DynamoStore {
    async fn save_ticket(&self, component: &AppId, ticket: &Ticket) -> StoreResult<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("COMPONENT#{component}")))
            .item("sk", s("TICKET"))
            .item("value", s(ticket.value.expose_secret()))
            .item("received_at", n(ticket.received_at))
            .item("created_at", n(ticket.created_at))
            .condition_expression(
                "attribute_not_exists(pk) OR created_at <= :c \
                 OR (attribute_not_exists(created_at) AND received_at <= :c)",
            )
            .expression_attribute_values(":c", n(ticket.created_at))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // A newer ticket is already stored: keeping it is the point.
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(backend("PutItem ticket")(e)),
        }
    }

    async fn latest_ticket(&self, component: &AppId) -> StoreResult<Option<Ticket>> {
        let Some(item) = self
            .get_item(format!("COMPONENT#{component}"), "TICKET")
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Ticket {
            value: SecretString::from(get_s(&item, "value")?.to_owned()),
            received_at: get_n(&item, "received_at")?,
            created_at: match opt_n(&item, "created_at")? {
                Some(c) => c,
                None => get_n(&item, "received_at")?,
            },
        }))
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn get_token(&self, key: &TokenKey) -> StoreResult<Option<VersionedToken>> {
        match self.get_item(token_pk(key), "TOKEN").await? {
            None => Ok(None),
            Some(item) => Self::parse_token(&item).map(Some),
        }
    }

    async fn put_token(
        &self,
        key: &TokenKey,
        state: &TokenState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        let version = expected.map_or(1, |v| v + 1);
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::token_item(key, state, version)));
        let req = match expected {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(v) => req
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        match req.send().await {
            Ok(_) => Ok(version),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend("PutItem token")(e)),
        }
    }

    async fn get_tokens(&self, keys: &[TokenKey]) -> StoreResult<Vec<Option<VersionedToken>>> {
        let mut found: HashMap<String, VersionedToken> = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|k| Item::from([("pk".into(), s(token_pk(k))), ("sk".into(), s("TOKEN"))]))
                .collect();
            // BatchGetItem may leave keys unprocessed under load: asked again, a few times.
            for attempt in 0.. {
                if pending.is_empty() {
                    break;
                }
                if attempt == BATCH_ATTEMPTS {
                    return Err(StoreError::Backend(anyhow!(
                        "BatchGetItem tokens: {} keys still unprocessed",
                        pending.len()
                    )));
                }
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(backend("KeysAndAttributes tokens"))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(backend("BatchGetItem tokens"))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let pk = get_s(&item, "pk")?.to_owned();
                    found.insert(pk, Self::parse_token(&item)?);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|ka| ka.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
            }
        }
        Ok(keys.iter().map(|k| found.remove(&token_pk(k))).collect())
    }

    async fn delete_token(&self, key: &TokenKey) -> StoreResult<()> {
        // A tombstone, in one UpdateItem: the version goes on counting (never back to 1).
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(token_pk(key)))
            .key("sk", s("TOKEN"))
            .update_expression(TOMBSTONE_UPDATE)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // Nothing to revoke.
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(backend("UpdateItem token tombstone")(e)),
        }
    }

    async fn due_authorizer_tokens(
        &self,
        before: UnixTime,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<DueToken>> {
        let q = QuerySpec {
            index: Some(DUE_INDEX),
            key_condition: "due_pk = :due AND due_at < :before",
            filter: None,
            names: HashMap::new(),
            values: HashMap::from([(":due".into(), s(DUE_PK)), (":before".into(), n(before))]),
            forward: true,
            key_names: &["pk", "sk", "due_pk", "due_at"],
            partition: ("due_pk", ":due"),
        };
        let (items, next) = self.page(q, cursor, limit).await?;
        let items = items
            .iter()
            .map(|item| {
                let pk = get_s(item, "pk")?;
                let appid = pk
                    .strip_prefix("APP#")
                    .and_then(|a| AppId::parse(a).ok())
                    .ok_or_else(|| corrupt("pk"))?;
                Ok(DueToken {
                    appid,
                    expires_at: get_n(item, "due_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }
}

#[async_trait]
impl AuthorizerStore for DynamoStore {
    async fn upsert_authorizer(&self, a: &Authorizer) -> StoreResult<()> {
        // Replaces the whole profile, conditional on the `rev` it read, so that it and a
        // concurrent status change (also conditional on `rev`) never overwrite each other blindly.
        let pk = format!("APP#{}", a.appid);
        for _ in 0..RMW_ATTEMPTS {
            let current = match self.get_item(pk.clone(), "PROFILE").await? {
                Some(item) => Some(opt_n::<u64>(&item, "rev")?.unwrap_or(0)),
                None => None,
            };
            let req = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::profile_item(a, current.map_or(1, |r| r + 1))?));
            let req = match current {
                None => req.condition_expression("attribute_not_exists(pk)"),
                Some(r) => req
                    .condition_expression("attribute_not_exists(rev) OR rev = :rev")
                    .expression_attribute_values(":rev", n(r)),
            };
            match req.send().await {
                Ok(_) => return Ok(()),
                Err(e) if is_condition_failed(&e) => continue,
                Err(e) => return Err(backend("PutItem profile")(e)),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn set_authorizer_status(
        &self,
        appid: &AppId,
        status: AuthorizerStatus,
        at: UnixTime,
    ) -> StoreResult<()> {
        self.rmw(
            format!("APP#{appid}"),
            "PROFILE".into(),
            |a: &mut Authorizer, item| {
                a.status = status;
                a.updated_at = at;
                item.insert("status".into(), s(status.as_str()));
                Ok(())
            },
        )
        .await
    }

    async fn revoke_authorization(
        &self,
        appid: &AppId,
        event_time: UnixTime,
    ) -> StoreResult<Revocation> {
        let key = TokenKey::Authorizer(appid.clone());
        let pk = format!("APP#{appid}");
        for _ in 0..RMW_ATTEMPTS {
            let token = match self.get_item(pk.clone(), "TOKEN").await? {
                Some(item) => Some(Self::parse_token(&item)?),
                None => None,
            };
            let profile = match self.get_item(pk.clone(), "PROFILE").await? {
                Some(item) => Some((
                    get_json::<Authorizer>(&item, "data")?,
                    opt_n::<u64>(&item, "rev")?.unwrap_or(0),
                )),
                None => None,
            };
            let changed_at = token.as_ref().map(|t| t.state.auth_changed_at);
            if revocation_is_stale(changed_at, profile.as_ref().map(|(p, _)| p), event_time) {
                return Ok(Revocation::Stale);
            }
            // The token becomes a tombstone conditioned on the version read ...
            let tomb = TokenState {
                auth_changed_at: token
                    .as_ref()
                    .map_or(event_time, |t| t.state.auth_changed_at.max(event_time)),
                ..TokenState::default()
            };
            let token_put =
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Self::token_item(
                        &key,
                        &tomb,
                        token.as_ref().map_or(1, |t| t.version + 1),
                    )));
            let token_put = match &token {
                None => token_put.condition_expression("attribute_not_exists(pk)"),
                Some(t) => token_put
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(t.version)),
            };
            let mut tx = self.client.transact_write_items().transact_items(
                TransactWriteItem::builder()
                    .put(token_put.build().map_err(backend("Put token"))?)
                    .build(),
            );
            // ... and the profile changes status conditioned on its rev, in the same transaction.
            if let Some((mut p, rev)) = profile {
                p.revoke(event_time);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Self::profile_item(&p, rev + 1)?))
                    .condition_expression("attribute_not_exists(rev) OR rev = :rev")
                    .expression_attribute_values(":rev", n(rev))
                    .build()
                    .map_err(backend("Put profile"))?;
                tx = tx.transact_items(TransactWriteItem::builder().put(put).build());
            }
            if commit(tx, "TransactWriteItems revoke").await? {
                return Ok(Revocation::Revoked);
            }
        }
        Err(StoreError::Conflict)
    }

    async fn mark_needs_reauthorization(
        &self,
        appid: &AppId,
        marked: &TokenState,
        token_version: u64,
        at: UnixTime,
    ) -> StoreResult<u64> {
        let key = TokenKey::Authorizer(appid.clone());
        let pk = format!("APP#{appid}");
        for _ in 0..RMW_ATTEMPTS {
            let profile = match self.get_item(pk.clone(), "PROFILE").await? {
                Some(item) => Some((
                    get_json::<Authorizer>(&item, "data")?,
                    opt_n::<u64>(&item, "rev")?.unwrap_or(0),
                )),
                None => None,
            };
            // The token is marked conditioned on the version the caller judged ...
            let token_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(Self::token_item(&key, marked, token_version + 1)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(token_version))
                .build()
                .map_err(backend("Put token"))?;
            let mut tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(token_put).build());
            // ... and the profile of that grant with it, conditioned on its rev, in the same
            // transaction.
            let marks_profile = profile
                .as_ref()
                .filter(|(p, _)| reauthorization_marks_profile(p, marked.auth_changed_at));
            if let Some((p, rev)) = marks_profile {
                let mut p = p.clone();
                p.status = AuthorizerStatus::NeedsReauthorization;
                p.updated_at = p.updated_at.max(at);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Self::profile_item(&p, rev + 1)?))
                    .condition_expression("attribute_not_exists(rev) OR rev = :rev")
                    .expression_attribute_values(":rev", n(*rev))
                    .build()
                    .map_err(backend("Put profile"))?;
                tx = tx.transact_items(TransactWriteItem::builder().put(put).build());
            }
            if commit(tx, "TransactWriteItems reauthorization").await? {
                return Ok(token_version + 1);
            }
            // The token changed (our judgment is stale) or the profile did (judge it again).
            let token = self.get_item(pk.clone(), "TOKEN").await?;
            let version = token.as_ref().map(Self::parse_token).transpose()?;
            if version.map(|t| t.version) != Some(token_version) {
                return Err(StoreError::Conflict);
            }
        }
        Err(StoreError::Conflict)
    }

    async fn get_authorizer(&self, appid: &AppId) -> StoreResult<Option<Authorizer>> {
        match self.get_item(format!("APP#{appid}"), "PROFILE").await? {
            None => Ok(None),
            Some(item) => get_json(&item, "data").map(Some),
        }
    }

    async fn update_authorizer(
        &self,
        appid: &AppId,
        change: AuthorizerChange<'_>,
    ) -> StoreResult<Option<Authorizer>> {
        // Conditional on the `rev` read (or on absence), as `upsert_authorizer`.
        let pk = format!("APP#{appid}");
        for _ in 0..RMW_ATTEMPTS {
            let item = self.get_item(pk.clone(), "PROFILE").await?;
            let (current, rev) = match &item {
                Some(i) => (
                    Some(get_json::<Authorizer>(i, "data")?),
                    Some(opt_n::<u64>(i, "rev")?.unwrap_or(0)),
                ),
                None => (None, None),
            };
            let Some(new) = change(current.as_ref()) else {
                return Ok(current);
            };
            let req = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::profile_item(&new, rev.map_or(1, |r| r + 1))?));
            let req = match rev {
                None => req.condition_expression("attribute_not_exists(pk)"),
                Some(r) => req
                    .condition_expression("attribute_not_exists(rev) OR rev = :rev")
                    .expression_attribute_values(":rev", n(r)),
            };
            match req.send().await {
                Ok(_) => return Ok(Some(new)),
                Err(e) if is_condition_failed(&e) => continue,
                Err(e) => return Err(backend("PutItem profile")(e)),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn authorizer_by_user_name(&self, user_name: &str) -> StoreResult<Option<Authorizer>> {
        if user_name.is_empty() {
            return Ok(None);
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(USER_NAME_INDEX)
            .key_condition_expression("user_name = :u")
            .expression_attribute_values(":u", s(user_name))
            .limit(1)
            .send()
            .await
            .map_err(backend("Query user_name"))?;
        match out.items.unwrap_or_default().first() {
            None => Ok(None),
            Some(item) => get_json(item, "data").map(Some),
        }
    }

    async fn list_authorizers(
        &self,
        filter: &AuthorizerFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>> {
        let mut values = HashMap::from([(":l".to_owned(), s(AUTHORIZERS_PK))]);
        let mut names = HashMap::new();
        let mut conds = Vec::new();
        if let Some(st) = filter.status {
            names.insert("#status".to_owned(), "status".to_owned());
            values.insert(":status".into(), s(st.as_str()));
            conds.push("#status = :status");
        }
        if let Some(c) = &filter.customer_id {
            values.insert(":customer".into(), s(c.clone()));
            conds.push("customer_id = :customer");
        }
        let q = QuerySpec {
            index: Some(AUTHORIZERS_INDEX),
            key_condition: "list_pk = :l",
            filter: (!conds.is_empty()).then(|| conds.join(" AND ")),
            names,
            values,
            forward: true,
            key_names: &["pk", "sk", "list_pk", "list_sk"],
            partition: ("list_pk", ":l"),
        };
        self.data_page(q, cursor, limit).await
    }
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn record_audit(&self, audit: &AuditRecord) -> StoreResult<()> {
        let item = Item::from([
            ("pk".to_owned(), s(format!("APP#{}", audit.appid))),
            ("sk".to_owned(), s(audit_sk(audit.auditid))),
            ("audit_order".to_owned(), s(audit_order(audit))),
            ("data".to_owned(), s(to_json(audit)?)),
            ("rev".to_owned(), n(1)),
        ]);
        self.put_new(item, "PutItem audit").await
    }

    async fn update_audit(
        &self,
        appid: &AppId,
        auditid: AuditId,
        update: &AuditUpdate,
    ) -> StoreResult<()> {
        self.rmw(
            format!("APP#{appid}"),
            audit_sk(auditid),
            |a: &mut AuditRecord, _| a.apply(update),
        )
        .await
    }

    async fn mark_released(
        &self,
        appid: &AppId,
        auditid: AuditId,
        at: UnixTime,
    ) -> StoreResult<()> {
        self.rmw(
            format!("APP#{appid}"),
            audit_sk(auditid),
            |a: &mut AuditRecord, _| {
                a.release(at);
                Ok(())
            },
        )
        .await
    }

    async fn list_audits(
        &self,
        appid: &AppId,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<AuditRecord>> {
        let q = QuerySpec {
            index: Some(AUDIT_ORDER_INDEX),
            key_condition: "pk = :pk",
            filter: None,
            names: HashMap::new(),
            values: HashMap::from([(":pk".into(), s(format!("APP#{appid}")))]),
            forward: false,
            key_names: &["pk", "sk", "audit_order"],
            partition: ("pk", ":pk"),
        };
        self.data_page(q, cursor, limit).await
    }
}

#[async_trait]
impl InvitationStore for DynamoStore {
    async fn create_invitation(&self, invitation: &Invitation) -> StoreResult<()> {
        self.put_new(Self::invitation_item(invitation, 1)?, "PutItem invitation")
            .await
    }

    async fn get_invitation(&self, id: &str) -> StoreResult<Option<Invitation>> {
        self.get_item(INVITATIONS_PK.into(), id)
            .await?
            .map(|item| get_json(&item, "data"))
            .transpose()
    }

    async fn update_invitation(
        &self,
        id: &str,
        change: InvitationChange<'_>,
    ) -> StoreResult<Invitation> {
        for _ in 0..RMW_ATTEMPTS {
            let Some(item) = self.get_item(INVITATIONS_PK.into(), id).await? else {
                return Err(StoreError::NotFound);
            };
            let rev: u64 = opt_n(&item, "rev")?.unwrap_or(0);
            let mut inv: Invitation = get_json(&item, "data")?;
            change(&mut inv)?;
            let r = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::invitation_item(&inv, rev + 1)?))
                .condition_expression("rev = :rev")
                .expression_attribute_values(":rev", n(rev))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(inv),
                Err(e) if is_condition_failed(&e) => continue,
                Err(e) => return Err(backend("PutItem invitation")(e)),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn bind_invitation(
        &self,
        id: &str,
        appid: &AppId,
        is_mini_program: Option<bool>,
        now: UnixTime,
        change: AuthorizerChange<'_>,
    ) -> StoreResult<InvitationBinding> {
        let pk = format!("APP#{appid}");
        for _ in 0..RMW_ATTEMPTS {
            let Some(item) = self.get_item(INVITATIONS_PK.into(), id).await? else {
                return Ok(InvitationBinding::Refused(InvitationRefusal::Unknown));
            };
            let inv_rev: u64 = opt_n(&item, "rev")?.unwrap_or(0);
            let mut inv: Invitation = get_json(&item, "data")?;
            if let Err(why) = inv.admits(appid, is_mini_program, now) {
                return Ok(InvitationBinding::Refused(why));
            }
            let profile = self.get_item(pk.clone(), "PROFILE").await?;
            let (current, rev) = match &profile {
                Some(i) => (
                    Some(get_json::<Authorizer>(i, "data")?),
                    Some(opt_n::<u64>(i, "rev")?.unwrap_or(0)),
                ),
                None => (None, None),
            };
            let new = change(current.as_ref());
            let already_used = inv.used_by.as_ref() == Some(appid);
            if already_used && new.is_none() {
                return Ok(InvitationBinding::Bound(current));
            }
            inv.mark_used(appid, now);
            // The invitation, conditioned on the rev it was checked at ...
            let inv_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(Self::invitation_item(&inv, inv_rev + 1)?))
                .condition_expression("rev = :rev")
                .expression_attribute_values(":rev", n(inv_rev))
                .build()
                .map_err(backend("Put invitation"))?;
            let mut tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(inv_put).build());
            // ... and the profile, conditioned on its own, in the same transaction.
            if let Some(new) = &new {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Self::profile_item(new, rev.map_or(1, |r| r + 1))?));
                let put = match rev {
                    None => put.condition_expression("attribute_not_exists(pk)"),
                    Some(r) => put
                        .condition_expression("attribute_not_exists(rev) OR rev = :rev")
                        .expression_attribute_values(":rev", n(r)),
                };
                tx = tx.transact_items(
                    TransactWriteItem::builder()
                        .put(put.build().map_err(backend("Put profile"))?)
                        .build(),
                );
            }
            if commit(tx, "TransactWriteItems bind invitation").await? {
                return Ok(InvitationBinding::Bound(new.or(current)));
            }
        }
        Err(StoreError::Conflict)
    }

    async fn list_invitations(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Invitation>> {
        let q = QuerySpec {
            index: None,
            key_condition: "pk = :pk",
            filter: None,
            names: HashMap::new(),
            values: HashMap::from([(":pk".into(), s(INVITATIONS_PK))]),
            forward: false,
            key_names: &["pk", "sk"],
            partition: ("pk", ":pk"),
        };
        self.data_page(q, cursor, limit).await
    }
}

#[async_trait]
impl ActivityLog for DynamoStore {
    async fn record_activity(&self, activity: &Activity) -> StoreResult<()> {
        // Sorted by time; the random tail keeps two entries of one second apart.
        let sk = format!(
            "ACT#{:020}#{:016x}",
            activity.at.max(0),
            rand::random::<u64>()
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("APP#{}", activity.appid)))
            .item("sk", s(sk))
            .item("data", s(to_json(activity)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(backend("PutItem activity"))?;
        Ok(())
    }

    async fn list_activity(
        &self,
        appid: &AppId,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Activity>> {
        let q = QuerySpec {
            index: None,
            key_condition: "pk = :pk AND begins_with(sk, :act)",
            filter: None,
            names: HashMap::new(),
            values: HashMap::from([
                (":pk".into(), s(format!("APP#{appid}"))),
                (":act".into(), s("ACT#")),
            ]),
            forward: false,
            key_names: &["pk", "sk"],
            partition: ("pk", ":pk"),
        };
        self.data_page(q, cursor, limit).await
    }
}

#[async_trait]
impl SingleUseStore for DynamoStore {
    async fn create_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        payload: &serde_json::Value,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("SINGLE#{}#{id}", kind_str(kind))))
            .item("sk", s("SINGLE"))
            .item("payload", s(payload.to_string()))
            .item("expires_at", n(expires_at))
            .item(TTL_ATTRIBUTE, n(expires_at))
            // An expired item DynamoDB has not deleted yet is no obstacle.
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend("PutItem single use")(e)),
        }
    }

    async fn peek_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<SingleUseItem>> {
        let pk = format!("SINGLE#{}#{id}", kind_str(kind));
        match self.get_item(pk, "SINGLE").await? {
            Some(item) if get_n::<i64>(&item, "expires_at")? > now => Ok(Some(SingleUseItem {
                payload: get_json(&item, "payload")?,
                consumed: item.contains_key("consumed_at"),
            })),
            _ => Ok(None),
        }
    }

    async fn delete_single_use(&self, kind: SingleUseKind, id: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("SINGLE#{}#{id}", kind_str(kind))))
            .key("sk", s("SINGLE"))
            .send()
            .await
            .map_err(backend("DeleteItem single use"))?;
        Ok(())
    }

    async fn consume_single_use(
        &self,
        kind: SingleUseKind,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<serde_json::Value> {
        let pk = format!("SINGLE#{}#{id}", kind_str(kind));
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s("SINGLE"))
            .update_expression("SET consumed_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(consumed_at) AND expires_at > :now",
            )
            .expression_attribute_values(":now", n(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let failed_item = match r {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| corrupt("attributes"))?;
                return get_json(&item, "payload");
            }
            Err(e) if is_condition_failed(&e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item,
                _ => None,
            },
            Err(e) => return Err(backend("UpdateItem single use")(e)),
        };
        // The condition failed: tell "consumed" from "never existed / expired".
        let item = match failed_item {
            Some(item) => Some(item),
            None => self.get_item(pk, "SINGLE").await?,
        };
        match item {
            None => Err(StoreError::NotFound),
            Some(item) if get_n::<i64>(&item, "expires_at")? <= now => Err(StoreError::NotFound),
            Some(item) if item.contains_key("consumed_at") => Err(StoreError::AlreadyConsumed),
            // Present, unexpired and unconsumed now, yet absent when the condition was checked:
            // it was created after this consume began, so this consume found nothing.
            Some(_) => Err(StoreError::NotFound),
        }
    }
}

#[async_trait]
impl PushLog for DynamoStore {
    async fn record_push_if_new(
        &self,
        digest: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("PUSH#{digest}")))
            .item("sk", s("PUSH"))
            .item("expires_at", n(expires_at))
            .item(TTL_ATTRIBUTE, n(expires_at))
            // An expired record that TTL has not deleted yet counts as absent.
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(backend("PutItem push")(e)),
        }
    }
}

const BATCHES_PK: &str = "BATCHES";
/// How long a batch and its results are kept (DynamoDB's TTL deletes them after).
const BATCH_RETENTION_SECS: i64 = 90 * 86_400;

#[async_trait]
impl BatchStore for DynamoStore {
    async fn create_batch(&self, batch: &Batch) -> StoreResult<()> {
        let mut item = Item::from([
            ("pk".to_owned(), s(BATCHES_PK)),
            ("sk".to_owned(), s(batch.id.clone())),
            ("data".to_owned(), s(to_json(batch)?)),
            (
                TTL_ATTRIBUTE.to_owned(),
                n(batch.created_at + BATCH_RETENTION_SECS),
            ),
        ]);
        if batch.finished_at.is_none() {
            item.insert("open".to_owned(), s("1"));
        }
        self.put_new(item, "PutItem batch").await
    }

    async fn claim_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        claimer: &str,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> StoreResult<BatchClaim> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("BATCH#{batch_id}")))
            .key("sk", s(format!("ITEM#{appid}")))
            .update_expression(
                "SET claimed_at = :now, lease_until = :lease, claimer = :me, #ttl = :ttl",
            )
            // The SDK resends a request whose answer timed out: our own first write must not
            // refuse it (`claimer = :me`).
            .condition_expression(
                "attribute_not_exists(result_data) AND (attribute_not_exists(lease_until) OR lease_until <= :now OR claimer = :me)",
            )
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":me", s(claimer))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":lease", n(lease_until))
            .expression_attribute_values(":ttl", n(now + BATCH_RETENTION_SECS))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => {
                let since = match out.attributes {
                    Some(old) if opt_s(&old, "claimer")? != Some(claimer) => {
                        opt_n::<i64>(&old, "claimed_at")?
                    }
                    _ => None,
                };
                Ok(match since {
                    Some(since) => BatchClaim::TakenOver { since },
                    None => BatchClaim::Fresh,
                })
            }
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend("UpdateItem batch claim")(e)),
        }
    }

    async fn record_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        result: &BatchItemResult,
    ) -> StoreResult<()> {
        let Some(meta) = self.get_item(BATCHES_PK.into(), batch_id).await? else {
            return Err(StoreError::NotFound);
        };
        let batch: Batch = get_json(&meta, "data")?;
        if !batch.appids.contains(appid) {
            return Err(StoreError::NotFound);
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("BATCH#{batch_id}")))
            .key("sk", s(format!("ITEM#{appid}")))
            .update_expression("SET result_data = :r, #ttl = :ttl REMOVE lease_until")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":r", s(to_json(result)?))
            .expression_attribute_values(":ttl", n(batch.created_at + BATCH_RETENTION_SECS))
            .send()
            .await
            .map_err(backend("UpdateItem batch item"))?;
        Ok(())
    }

    async fn record_claimed_batch_item(
        &self,
        batch_id: &str,
        appid: &AppId,
        claimer: &str,
        result: &BatchItemResult,
    ) -> StoreResult<()> {
        let Some(meta) = self.get_item(BATCHES_PK.into(), batch_id).await? else {
            return Err(StoreError::NotFound);
        };
        let batch: Batch = get_json(&meta, "data")?;
        if !batch.appids.contains(appid) {
            return Err(StoreError::NotFound);
        }
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("BATCH#{batch_id}")))
            .key("sk", s(format!("ITEM#{appid}")))
            .update_expression("SET result_data = :r, #ttl = :ttl REMOVE lease_until")
            .condition_expression("claimer = :me")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":me", s(claimer))
            .expression_attribute_values(":r", s(to_json(result)?))
            .expression_attribute_values(":ttl", n(batch.created_at + BATCH_RETENTION_SECS))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend("UpdateItem claimed batch item")(e)),
        }
    }

    async fn get_batch(&self, batch_id: &str) -> StoreResult<Option<BatchProgress>> {
        let Some(meta) = self.get_item(BATCHES_PK.into(), batch_id).await? else {
            return Ok(None);
        };
        let batch: Batch = get_json(&meta, "data")?;
        let mut rows: HashMap<AppId, (Option<UnixTime>, Option<BatchItemResult>)> = HashMap::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("BATCH#{batch_id}")))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend("Query batch"))?;
            for item in out.items.unwrap_or_default() {
                let sk = get_s(&item, "sk")?;
                if let Some(a) = sk.strip_prefix("ITEM#") {
                    let appid = AppId::parse(a).map_err(|_| corrupt("sk"))?;
                    let result = match opt_s(&item, "result_data")? {
                        Some(j) => {
                            Some(serde_json::from_str(j).map_err(|_| corrupt("result_data"))?)
                        }
                        None => None,
                    };
                    rows.insert(appid, (opt_n(&item, "claimed_at")?, result));
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        let items = batch
            .appids
            .iter()
            .map(|a| {
                let (claimed_at, result) = rows.remove(a).unwrap_or_default();
                BatchItem {
                    appid: a.clone(),
                    claimed_at,
                    result,
                }
            })
            .collect();
        Ok(Some(BatchProgress { batch, items }))
    }

    async fn finish_batch(&self, batch_id: &str, at: UnixTime) -> StoreResult<()> {
        let Some(meta) = self.get_item(BATCHES_PK.into(), batch_id).await? else {
            return Err(StoreError::NotFound);
        };
        let mut batch: Batch = get_json(&meta, "data")?;
        if batch.finished_at.is_some() {
            return Ok(());
        }
        batch.finished_at = Some(at);
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BATCHES_PK))
            .key("sk", s(batch_id))
            .update_expression("SET #data = :d REMOVE #open")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":d", s(to_json(&batch)?))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::NotFound),
            Err(e) => Err(backend("UpdateItem batch finish")(e)),
        }
    }

    async fn list_batches(
        &self,
        open_only: bool,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Batch>> {
        let q = QuerySpec {
            index: None,
            key_condition: "pk = :pk",
            filter: open_only.then(|| "attribute_exists(#open)".to_owned()),
            names: if open_only {
                HashMap::from([("#open".into(), "open".into())])
            } else {
                HashMap::new()
            },
            values: HashMap::from([(":pk".into(), s(BATCHES_PK))]),
            forward: false,
            key_names: &["pk", "sk"],
            partition: ("pk", ":pk"),
        };
        self.data_page(q, cursor, limit).await
    }
}

#[async_trait]
impl ScheduleStore for DynamoStore {
    async fn claim_run(&self, name: &str, now: UnixTime, every_secs: i64) -> StoreResult<bool> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("RUN#{name}")))
            .item("sk", s("RUN"))
            .item("last_run", n(now))
            .condition_expression("attribute_not_exists(pk) OR last_run <= :cutoff")
            .expression_attribute_values(":cutoff", n(now - every_secs))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(backend("PutItem run")(e)),
        }
    }
}

/// `TEMPLATE#{id}` / `REQUIREMENTS`, the requirements as one JSON attribute.
#[async_trait]
impl TemplateRequirementsStore for DynamoStore {
    async fn put_template_requirements(&self, r: &TemplateRequirements) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("TEMPLATE#{}", r.template_id)))
            .item("sk", s("REQUIREMENTS"))
            .item("data", s(to_json(r)?))
            .send()
            .await
            .map_err(backend("PutItem template requirements"))?;
        Ok(())
    }

    async fn get_template_requirements(
        &self,
        template_id: u64,
    ) -> StoreResult<Option<TemplateRequirements>> {
        self.get_item(format!("TEMPLATE#{template_id}"), "REQUIREMENTS")
            .await?
            .map(|item| get_json(&item, "data"))
            .transpose()
    }

    async fn delete_template_requirements(&self, template_id: u64) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("TEMPLATE#{template_id}")))
            .key("sk", s("REQUIREMENTS"))
            .send()
            .await
            .map_err(backend("DeleteItem template requirements"))?;
        Ok(())
    }
}

/// `SUBSCRIBE#{appid}` / `NAME#{name}`, the template as one JSON attribute: one Query lists an
/// app's.
#[async_trait]
impl SubscribeTemplateStore for DynamoStore {
    async fn create_subscribe_template(&self, t: &NamedSubscribeTemplate) -> StoreResult<()> {
        let item = HashMap::from([
            ("pk".to_owned(), s(format!("SUBSCRIBE#{}", t.appid))),
            ("sk".to_owned(), s(format!("NAME#{}", t.name))),
            ("data".to_owned(), s(to_json(t)?)),
        ]);
        self.put_new(item, "PutItem subscribe template").await
    }

    async fn get_subscribe_template(
        &self,
        appid: &AppId,
        name: &str,
    ) -> StoreResult<Option<NamedSubscribeTemplate>> {
        self.get_item(format!("SUBSCRIBE#{appid}"), &format!("NAME#{name}"))
            .await?
            .map(|item| get_json(&item, "data"))
            .transpose()
    }

    async fn list_subscribe_templates(
        &self,
        appid: &AppId,
    ) -> StoreResult<Vec<NamedSubscribeTemplate>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(format!("SUBSCRIBE#{appid}")))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend("Query subscribe templates"))?;
            for item in resp.items.unwrap_or_default() {
                out.push(get_json(&item, "data")?);
            }
            match resp.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    async fn delete_subscribe_template(&self, appid: &AppId, name: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("SUBSCRIBE#{appid}")))
            .key("sk", s(format!("NAME#{name}")))
            .send()
            .await
            .map_err(backend("DeleteItem subscribe template"))?;
        Ok(())
    }
}

// --- Violations and quota resets (issue 27) ---

/// `APP#{appid}` / `PENALTY#{punish_id}` and `APP#{appid}` / `APPEAL#{id:020}`, each its record
/// as one JSON attribute (one Query lists an app's); `PENALISED` / `{appid}` marks an app with a
/// penalty, so the penalised apps are one Query, in appid order.
const PENALISED_PK: &str = "PENALISED";

#[async_trait]
impl ViolationStore for DynamoStore {
    async fn record_penalty(&self, p: &Penalty) -> StoreResult<bool> {
        let pk = format!("APP#{}", p.appid);
        let sk = format!("PENALTY#{}", p.punish_id);
        for _ in 0..RMW_ATTEMPTS {
            let penalty = Put::builder()
                .table_name(&self.table)
                .item("pk", s(pk.clone()))
                .item("sk", s(sk.clone()))
                .item("data", s(to_json(p)?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(backend("Put penalty"))?;
            let mark = Put::builder()
                .table_name(&self.table)
                .item("pk", s(PENALISED_PK))
                .item("sk", s(p.appid.to_string()))
                .build()
                .map_err(backend("Put penalised"))?;
            let tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(penalty).build())
                .transact_items(TransactWriteItem::builder().put(mark).build());
            if commit(tx, "TransactWriteItems penalty").await? {
                return Ok(true);
            }
            // Cancelled: recorded already, or another transaction held an item (read again).
            if self.get_item(pk.clone(), &sk).await?.is_some() {
                return Ok(false);
            }
        }
        Err(StoreError::Conflict)
    }

    async fn list_penalties(&self, appid: &AppId) -> StoreResult<Vec<Penalty>> {
        let mut out: Vec<Penalty> = self.app_records(appid, "PENALTY#").await?;
        violation::newest_first(&mut out);
        Ok(out)
    }

    async fn record_appeal(&self, a: &Appeal) -> StoreResult<bool> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("APP#{}", a.appid)))
            .item("sk", s(format!("APPEAL#{:020}", a.appeal_record_id)))
            .item("data", s(to_json(a)?))
            .item("pushed_at", n(a.pushed_at))
            .condition_expression("attribute_not_exists(pk) OR pushed_at < :t")
            .expression_attribute_values(":t", n(a.pushed_at))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(backend("PutItem appeal")(e)),
        }
    }

    async fn list_appeals(&self, appid: &AppId) -> StoreResult<Vec<Appeal>> {
        self.app_records(appid, "APPEAL#").await
    }

    async fn penalised_apps(&self, cursor: Option<&str>, limit: u32) -> StoreResult<Page<AppId>> {
        let start = cursor
            .map(|c| decode_cursor(c, &["pk", "sk"]))
            .transpose()?;
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(PENALISED_PK))
            .consistent_read(true)
            .limit(i32::try_from(clamp_limit(limit)).unwrap_or(100))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(backend("Query penalised"))?;
        let items = resp
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| AppId::parse(get_s(i, "sk")?).map_err(|_| corrupt("penalised appid")))
            .collect::<StoreResult<Vec<_>>>()?;
        let next = resp
            .last_evaluated_key
            .map(|k| encode_cursor(&k))
            .transpose()?;
        Ok(Page { items, next })
    }
}

impl DynamoStore {
    /// Every record of `appid` whose sort key starts with `prefix`, its `data` JSON.
    async fn app_records<T: serde::de::DeserializeOwned>(
        &self,
        appid: &AppId,
        prefix: &str,
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :s)")
                .expression_attribute_values(":p", s(format!("APP#{appid}")))
                .expression_attribute_values(":s", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend("Query app records"))?;
            for item in resp.items.unwrap_or_default() {
                out.push(get_json(&item, "data")?);
            }
            match resp.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }
}

/// `QUOTA_RESETS#{account}` / `MONTH#{month_start}`: the month's ledger as one JSON attribute,
/// written conditioned on its `rev` (read, change, write; retried on a concurrent write).
#[async_trait]
impl QuotaResetStore for DynamoStore {
    async fn reserve_quota_reset(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
        limit: u32,
        u: &QuotaResetUse,
    ) -> StoreResult<QuotaReservation> {
        self.change_ledger(account, month_start, |l| {
            let r = l.reserve(limit, u);
            (matches!(r, QuotaReservation::Reserved { .. }), r)
        })
        .await
    }

    async fn settle_quota_reset(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
        id: &str,
        outcome: QuotaResetOutcome,
        errcode: Option<i64>,
    ) -> StoreResult<()> {
        self.change_ledger(account, month_start, |l| {
            l.settle(id, outcome, errcode);
            (true, ())
        })
        .await
    }

    async fn quota_resets(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
    ) -> StoreResult<QuotaResetLedger> {
        Ok(self.read_ledger(account, month_start).await?.0)
    }
}

/// Tries of a ledger change that loses its condition to a concurrent writer.
const LEDGER_ATTEMPTS: usize = 32;

impl DynamoStore {
    fn ledger_key(account: &QuotaAccount, month_start: UnixTime) -> (String, String) {
        (
            format!("QUOTA_RESETS#{}", account.key()),
            format!("MONTH#{month_start}"),
        )
    }

    /// The ledger and its `rev` (0: none stored).
    async fn read_ledger(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
    ) -> StoreResult<(QuotaResetLedger, u64)> {
        let (pk, sk) = Self::ledger_key(account, month_start);
        match self.get_item(pk, &sk).await? {
            Some(item) => Ok((get_json(&item, "data")?, get_n(&item, "rev")?)),
            None => Ok((QuotaResetLedger::default(), 0)),
        }
    }

    /// Applies `change` (which answers whether to write, and its result) to the ledger.
    async fn change_ledger<T>(
        &self,
        account: &QuotaAccount,
        month_start: UnixTime,
        change: impl Fn(&mut QuotaResetLedger) -> (bool, T),
    ) -> StoreResult<T> {
        let (pk, sk) = Self::ledger_key(account, month_start);
        // A month's resets are few, but operators may race for the last one: more tries than
        // other read-modify-writes, each after a short random pause.
        for attempt in 0..LEDGER_ATTEMPTS {
            if attempt > 0 {
                let pause = 5 + rand::random::<u64>() % 20;
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            let (mut ledger, rev) = self.read_ledger(account, month_start).await?;
            let (write, out) = change(&mut ledger);
            if !write {
                return Ok(out);
            }
            let r = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(pk.clone()))
                .item("sk", s(sk.clone()))
                .item("data", s(to_json(&ledger)?))
                .item("rev", n(rev + 1))
                .condition_expression("attribute_not_exists(pk) OR rev = :r")
                .expression_attribute_values(":r", n(rev))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(out),
                Err(e) if is_condition_failed(&e) => continue,
                Err(e) => return Err(backend("PutItem quota resets")(e)),
            }
        }
        Err(StoreError::Conflict)
    }
}

/// `FILING#{appid}` / `STATE`: the state as one JSON attribute beside `checked_at` as a number,
/// which the write's condition compares (a state learned earlier never lands on a later one).
#[async_trait]
impl FilingStore for DynamoStore {
    async fn get_filing(&self, appid: &AppId) -> StoreResult<Option<FilingState>> {
        self.get_item(format!("FILING#{appid}"), "STATE")
            .await?
            .map(|item| get_json(&item, "data"))
            .transpose()
    }

    async fn get_filings(&self, appids: &[AppId]) -> StoreResult<Vec<Option<FilingState>>> {
        let mut found: HashMap<String, FilingState> = HashMap::with_capacity(appids.len());
        for chunk in appids.chunks(BATCH_GET_MAX) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|a| {
                    Item::from([
                        ("pk".into(), s(format!("FILING#{a}"))),
                        ("sk".into(), s("STATE")),
                    ])
                })
                .collect();
            // BatchGetItem may leave keys unprocessed under load: asked again, a few times.
            for attempt in 0.. {
                if pending.is_empty() {
                    break;
                }
                if attempt == BATCH_ATTEMPTS {
                    return Err(StoreError::Backend(anyhow!(
                        "BatchGetItem filings: {} keys still unprocessed",
                        pending.len()
                    )));
                }
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(backend("KeysAndAttributes filings"))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(backend("BatchGetItem filings"))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let state: FilingState = get_json(&item, "data")?;
                    found.insert(state.appid.to_string(), state);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
            }
        }
        Ok(appids.iter().map(|a| found.remove(a.as_str())).collect())
    }

    async fn record_filing(&self, state: &FilingState) -> StoreResult<bool> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("FILING#{}", state.appid)))
            .item("sk", s("STATE"))
            .item("checked_at", n(state.checked_at))
            .item("data", s(to_json(state)?))
            .condition_expression("attribute_not_exists(pk) OR checked_at <= :at")
            .expression_attribute_values(":at", n(state.checked_at))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(backend("PutItem filing")(e)),
        }
    }
}

// ---- notifications (the outbox and its rules) ----
//
// | notification | `NOTIFY#{id}` | `NOTIFICATION` | `data` (JSON), `rev`, `nstatus`, `list_pk` = `"NOTIFICATIONS"` / `list_sk` = `{created_at:020}#{id}` (GSI `authorizers`: listings newest first), `due_pk` = `"NOTIFY_DUE"` / `due_at` = next attempt while pending (GSI `due`), `ttl` |
// | routing rules | `NOTIFY_RULES` | `RULES` | `data` (stored JSON, secrets in clear: the table is encrypted at rest; never returned by the API) |

const NOTIFY_LIST_PK: &str = "NOTIFICATIONS";
const NOTIFY_DUE_PK: &str = "NOTIFY_DUE";

impl DynamoStore {
    fn notification_item(rec: &Notification, version: u64) -> StoreResult<Item> {
        let mut item = HashMap::from([
            ("pk".to_owned(), s(format!("NOTIFY#{}", rec.id))),
            ("sk".to_owned(), s("NOTIFICATION")),
            ("data".to_owned(), s(to_json(rec)?)),
            ("rev".to_owned(), n(version)),
            ("nstatus".to_owned(), s(rec.status.as_str())),
            ("list_pk".to_owned(), s(NOTIFY_LIST_PK)),
            (
                "list_sk".to_owned(),
                s(format!("{:020}#{}", rec.created_at.max(0), rec.id)),
            ),
            (
                TTL_ATTRIBUTE.to_owned(),
                n(rec.created_at + NOTIFICATION_RETENTION_SECS),
            ),
        ]);
        if rec.status == NotificationStatus::Pending {
            item.insert("due_pk".into(), s(NOTIFY_DUE_PK));
            item.insert("due_at".into(), n(rec.next_attempt_at));
        }
        Ok(item)
    }
}

#[async_trait]
impl NotificationStore for DynamoStore {
    async fn create_notification(&self, rec: &Notification) -> StoreResult<bool> {
        match self
            .put_new(Self::notification_item(rec, 1)?, "PutItem notification")
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn get_notification(&self, id: &str) -> StoreResult<Option<VersionedNotification>> {
        let Some(item) = self
            .get_item(format!("NOTIFY#{id}"), "NOTIFICATION")
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(VersionedNotification {
            notification: get_json(&item, "data")?,
            version: get_n(&item, "rev")?,
        }))
    }

    async fn put_notification(&self, rec: &Notification, expected: u64) -> StoreResult<u64> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::notification_item(rec, expected + 1)?))
            .condition_expression("rev = :expected")
            .expression_attribute_values(":expected", n(expected))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match r {
            Ok(_) => Ok(expected + 1),
            Err(e) if is_condition_failed(&e) => {
                let exists = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item.as_ref(),
                        _ => None,
                    })
                    .is_some();
                Err(if exists {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                })
            }
            Err(e) => Err(backend("PutItem notification")(e)),
        }
    }

    async fn due_notifications(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<String>> {
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("due_pk = :d AND due_at <= :now")
            .expression_attribute_values(":d", s(NOTIFY_DUE_PK))
            .expression_attribute_values(":now", n(now))
            .limit(clamp_limit(limit) as i32)
            .send()
            .await
            .map_err(backend("Query due notifications"))?;
        resp.items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                get_s(i, "pk")?
                    .strip_prefix("NOTIFY#")
                    .map(str::to_owned)
                    .ok_or_else(|| corrupt("notification key"))
            })
            .collect()
    }

    async fn list_notifications(
        &self,
        status: Option<NotificationStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Notification>> {
        let mut values = HashMap::from([(":l".to_owned(), s(NOTIFY_LIST_PK))]);
        let filter = status.map(|st| {
            values.insert(":st".into(), s(st.as_str()));
            "nstatus = :st".to_owned()
        });
        let q = QuerySpec {
            index: Some(AUTHORIZERS_INDEX),
            key_condition: "list_pk = :l",
            filter,
            names: HashMap::new(),
            values,
            forward: false,
            key_names: &["pk", "sk", "list_pk", "list_sk"],
            partition: ("list_pk", ":l"),
        };
        self.data_page(q, cursor, limit).await
    }

    async fn get_notification_rules(&self) -> StoreResult<crate::notifications::NotificationRules> {
        match self.get_item("NOTIFY_RULES".to_owned(), "RULES").await? {
            Some(item) => {
                crate::notifications::NotificationRules::from_stored_json(get_s(&item, "data")?)
                    .map_err(|_| corrupt("notification rules"))
            }
            None => Ok(Default::default()),
        }
    }

    async fn put_notification_rules(
        &self,
        rules: &crate::notifications::NotificationRules,
    ) -> StoreResult<()> {
        let json = rules
            .to_stored_json()
            .map_err(|_| corrupt("notification rules"))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s("NOTIFY_RULES"))
            .item("sk", s("RULES"))
            .item("data", s(json))
            .send()
            .await
            .map_err(backend("PutItem notification rules"))?;
        Ok(())
    }
}

// ---- registrations (mini programs registered for merchants) ----
//
// | registration | `REGISTRATION#{id}` | `REGISTRATION` | `data` (JSON), `rev`, `rstate`, `list_pk` = `"REGISTRATIONS"` / `list_sk` = `{created_at:020}#{id}` (GSI `authorizers`: listings newest first) |
// | subject pointer | `REGSUBJECT#{digest}` | `{created_at:020}#{id}` | `registration_id`: the push's way in (newest first) |
//
// A registration and its subject's pointer are written in one transaction.

const REGISTRATION_LIST_PK: &str = "REGISTRATIONS";

impl DynamoStore {
    fn registration_item(r: &Registration, version: u64) -> StoreResult<Item> {
        Ok(HashMap::from([
            (
                "pk".to_owned(),
                s(format!("REGISTRATION#{}", r.registration_id)),
            ),
            ("sk".to_owned(), s("REGISTRATION")),
            ("data".to_owned(), s(to_json(r)?)),
            ("rev".to_owned(), n(version)),
            ("rstate".to_owned(), s(r.status.state().as_str())),
            ("list_pk".to_owned(), s(REGISTRATION_LIST_PK)),
            (
                "list_sk".to_owned(),
                s(format!("{:020}#{}", r.created_at.max(0), r.registration_id)),
            ),
        ]))
    }

    /// Writes `r` at `version` (new, or still at `expected`) with its subject's pointer, in one
    /// transaction; `false` when it was cancelled.
    async fn write_registration(
        &self,
        r: &Registration,
        version: u64,
        expected: Option<u64>,
    ) -> StoreResult<bool> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::registration_item(r, version)?));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("rev = :expected")
                .expression_attribute_values(":expected", n(v)),
        };
        let mut tx = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .put(put.build().map_err(backend("Put registration"))?)
                .build(),
        );
        if let Some(subject) = &r.subject {
            let pointer = Put::builder()
                .table_name(&self.table)
                .item("pk", s(format!("REGSUBJECT#{subject}")))
                .item(
                    "sk",
                    s(format!("{:020}#{}", r.created_at.max(0), r.registration_id)),
                )
                .item("registration_id", s(&r.registration_id))
                .build()
                .map_err(backend("Put registration subject"))?;
            tx = tx.transact_items(TransactWriteItem::builder().put(pointer).build());
        }
        commit(tx, "TransactWriteItems registration").await
    }
}

#[async_trait]
impl RegistrationStore for DynamoStore {
    async fn create_registration(&self, r: &Registration) -> StoreResult<()> {
        if self.write_registration(r, 1, None).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn get_registration(&self, id: &str) -> StoreResult<Option<VersionedRegistration>> {
        let Some(item) = self
            .get_item(format!("REGISTRATION#{id}"), "REGISTRATION")
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(VersionedRegistration {
            registration: get_json(&item, "data")?,
            version: get_n(&item, "rev")?,
        }))
    }

    async fn put_registration(&self, r: &Registration, expected: u64) -> StoreResult<u64> {
        if self
            .write_registration(r, expected + 1, Some(expected))
            .await?
        {
            return Ok(expected + 1);
        }
        match self.get_registration(&r.registration_id).await? {
            None => Err(StoreError::NotFound),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    async fn find_registration_by_subject(
        &self,
        subject: &str,
    ) -> StoreResult<Option<VersionedRegistration>> {
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(format!("REGSUBJECT#{subject}")))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(backend("Query registration subject"))?;
        let Some(item) = resp.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        self.get_registration(get_s(&item, "registration_id")?)
            .await
    }

    async fn list_registrations(
        &self,
        state: Option<RegistrationState>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Registration>> {
        let mut values = HashMap::from([(":l".to_owned(), s(REGISTRATION_LIST_PK))]);
        let filter = state.map(|st| {
            values.insert(":st".into(), s(st.as_str()));
            "rstate = :st".to_owned()
        });
        let q = QuerySpec {
            index: Some(AUTHORIZERS_INDEX),
            key_condition: "list_pk = :l",
            filter,
            names: HashMap::new(),
            values,
            forward: false,
            key_names: &["pk", "sk", "list_pk", "list_sk"],
            partition: ("list_pk", ":l"),
        };
        self.data_page(q, cursor, limit).await
    }
}

// ---- profile reviews and snapshot (store/profile.rs) ----

/// `PROFILE#{appid}` / `STATE`: the whole [`ProfileState`] as JSON in `data`, `version` beside
/// it for the put's condition.
#[async_trait]
impl ProfileStore for DynamoStore {
    async fn get_profile_state(&self, appid: &AppId) -> StoreResult<Option<ProfileState>> {
        let Some(item) = self.get_item(format!("PROFILE#{appid}"), "STATE").await? else {
            return Ok(None);
        };
        let mut state: ProfileState = get_json(&item, "data")?;
        state.version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Some(state))
    }

    async fn put_profile_state(&self, state: &ProfileState) -> StoreResult<()> {
        let next = state.version + 1;
        let mut stored = state.clone();
        stored.version = next;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("PROFILE#{}", state.appid)))
            .item("sk", s("STATE"))
            .item("version", n(next as i64))
            .item("data", s(to_json(&stored)?));
        let put = if state.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", n(state.version as i64))
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend("PutItem profile state")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let key = Item::from([
            ("pk".to_owned(), s("APP#wx0000000000000001")),
            ("sk".to_owned(), s("TOKEN")),
            ("due_pk".to_owned(), s("DUE")),
            ("due_at".to_owned(), n(42)),
        ]);
        let names = ["pk", "sk", "due_pk", "due_at"];
        let c = encode_cursor(&key).unwrap();
        assert_eq!(decode_cursor(&c, &names).unwrap(), key);
        for bad in ["", "!!", "bm90IGpzb24", "e30"] {
            assert!(matches!(
                decode_cursor(bad, &names),
                Err(StoreError::InvalidCursor)
            ));
        }
        // A cursor from another listing has other key attributes.
        assert!(matches!(
            decode_cursor(&c, &["pk", "sk", "list_pk", "list_sk"]),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn audit_order_sorts_by_submission_time_then_auditid() {
        let rec = |t, id| AuditRecord {
            appid: AppId::parse("wx0000000000000001").unwrap(),
            auditid: AuditId(id),
            status: AuditStatus::Auditing,
            reason: None,
            screenshots: vec![],
            template_id: None,
            user_version: None,
            user_desc: None,
            submitted_at: t,
            updated_at: t,
            released_at: None,
        };
        assert!(audit_order(&rec(-5, 9)) < audit_order(&rec(0, 1)));
        assert!(audit_order(&rec(100, 9)) < audit_order(&rec(1000, 1)));
        assert!(audit_order(&rec(100, 1)) < audit_order(&rec(100, 2)));
    }
}
