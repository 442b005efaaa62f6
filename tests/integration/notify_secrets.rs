//! The notification channels' secret parts in Secrets Manager (moto_server), the rules in
//! DynamoDB with references only: a WeCom robot's key and a webhook's signing secret are in the
//! secret and nowhere in the table; the rules as operators see them show neither; the drainer,
//! reading the secret, still signs its deliveries with the right key.

use crate::{helpers, store_contract};
use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{KeyInit, Mac};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use wxopen::notifications::{
    self, Channel, ChannelKind, Event, NotificationRules, Notifier, Route,
    SecretsManagerChannelSecrets, Sender,
};
use wxopen::store::NotificationStatus;

const ROBOT_KEY: &str = "693a91f6-7a0c-4bc4-97a0-0ec2sim0key1";
const SIGNING_SECRET: &str = "whsec-moto-0123456789abcdef";

type Hits = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver on loopback that records each request and answers 200 `{"errcode":0}`.
async fn receiver() -> (String, Hits) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits: Hits = Arc::default();
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push((headers, body));
            axum::Json(serde_json::json!({ "errcode": 0, "errmsg": "ok" }))
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

fn channel(name: &str, kind: ChannelKind, url: String, secret: Option<&str>) -> Channel {
    Channel {
        name: name.into(),
        kind,
        url: Some(SecretString::from(url)),
        signing_secret: secret.map(|s| SecretString::from(s.to_owned())),
        secret_ref: None,
        url_view: None,
    }
}

#[tokio::test]
async fn channel_secrets_live_in_secrets_manager_and_deliveries_are_still_signed() {
    let Some(store) = store_contract::dynamodb().await else {
        return;
    };
    let endpoint = helpers::aws_endpoint().unwrap();
    let conf = helpers::aws_config(&endpoint).await;
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    // Declared by the stack (template.yaml's NotificationChannelsSecret), empty at first.
    let secret_id = helpers::unique_name("wxopen/notification-channels");
    sm.create_secret()
        .name(&secret_id)
        .secret_string(r#"{"channels":{}}"#)
        .send()
        .await
        .expect("create the secret on moto");
    let secrets = Arc::new(SecretsManagerChannelSecrets::new(sm.clone(), &secret_id));

    let (base, hits) = receiver().await;
    let mut rules = NotificationRules {
        channels: vec![
            channel(
                "ops-group",
                ChannelKind::Wecom,
                format!("{base}/cgi-bin/webhook/send?key={ROBOT_KEY}"),
                None,
            ),
            channel(
                "backend",
                ChannelKind::Webhook,
                format!("{base}/hook"),
                Some(SIGNING_SECRET),
            ),
        ],
        routes: vec![Route {
            channel: "backend".into(),
            events: vec![],
            customer_id: None,
        }],
        operator: "admin".into(),
        updated_at: 1,
    };
    rules.validate().unwrap();
    notifications::save_rules(&store, secrets.as_ref(), &mut rules)
        .await
        .unwrap();

    // In the secret...
    let value = sm
        .get_secret_value()
        .secret_id(&secret_id)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    assert!(value.contains(ROBOT_KEY) && value.contains(SIGNING_SECRET));
    // ...and nowhere in the table: every item, every attribute.
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let items = ddb
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert!(!items.is_empty(), "the rules item is in the table");
    let table = format!("{items:?}");
    for secret in [ROBOT_KEY, SIGNING_SECRET] {
        assert!(!table.contains(secret), "{secret} found in the table");
    }
    assert!(
        table.contains(&format!("{secret_id}#backend")),
        "the item refers to the secret: {table}"
    );

    // The rules as operators read them (GET /ops/notifications/rules shows Channel::view of the
    // stored rules): references and hosts, no secret part.
    let stored = wxopen::store::NotificationStore::get_notification_rules(&store)
        .await
        .unwrap();
    let shown: Vec<_> = stored.channels.iter().map(Channel::view).collect();
    let shown = serde_json::to_string(&shown).unwrap();
    assert!(
        !shown.contains(ROBOT_KEY) && !shown.contains(SIGNING_SECRET),
        "{shown}"
    );
    assert!(shown.contains("\"signing_secret_set\":true"), "{shown}");

    // The drainer reads the secret and signs with it.
    let now = 1_700_000_000;
    let id = "batch:moto-1:finished";
    let event = Event::BatchFinished {
        batch_id: "moto-1".into(),
        operation: "release".into(),
        ok: 2,
        skipped: 0,
        failed: 0,
    };
    notifications::emit(&store, event, id, now).await.unwrap();
    let notifier = Notifier::new(Sender::new(None).unwrap(), None, secrets);
    let report = notifier.drain(&store, now).await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    let got = hits.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    let header = |n: &str| headers[n].to_str().unwrap().to_owned();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("{}.", header("x-wxopen-timestamp")).as_bytes());
    mac.update(body);
    assert_eq!(
        header("x-wxopen-signature"),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    let n = wxopen::store::NotificationStore::get_notification(&store, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.notification.status, NotificationStatus::Delivered);
}
