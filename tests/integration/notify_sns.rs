//! The `sns` notification channel against moto's SNS: a notification is published to the
//! stack's topic; a topic that does not exist is a failed delivery, not a panic.

use crate::helpers;
use wxopen::domain::AppId;
use wxopen::notifications::{Channel, ChannelKind, Event, Sender, SnsTopic};
use wxopen::store::{Notification, NotificationStatus};

fn notification() -> Notification {
    Notification {
        id: "audit:wxf8b4f85f3a794e77:1:rejected".into(),
        event: Event::AuditRejected {
            appid: AppId::parse("wxf8b4f85f3a794e77").unwrap(),
            auditid: 1,
            reason: "小程序名称涉嫌侵权".into(),
        },
        created_at: 1_700_000_000,
        status: NotificationStatus::Pending,
        routed: true,
        deliveries: vec![],
        next_attempt_at: 0,
        retry_until: 0,
        updated_at: 0,
    }
}

fn sns_channel() -> Channel {
    Channel {
        name: "mail".into(),
        kind: ChannelKind::Sns,
        url: None,
        signing_secret: None,
        secret_ref: None,
        url_view: None,
    }
}

#[tokio::test]
async fn a_notification_is_published_to_the_stacks_topic() {
    let Some(endpoint) = helpers::aws_endpoint() else {
        return;
    };
    let conf = helpers::aws_config(&endpoint).await;
    let client = aws_sdk_sns::Client::new(&conf);
    let topic_arn = client
        .create_topic()
        .name(helpers::unique_name("wxopen-alarms").replace('.', "-"))
        .send()
        .await
        .expect("create a topic on moto")
        .topic_arn
        .unwrap();
    let n = notification();
    let sender = Sender::new(Some(SnsTopic {
        client: client.clone(),
        topic_arn: topic_arn.clone(),
    }))
    .unwrap();
    sender
        .send(
            &sns_channel(),
            &n,
            Some("https://wx.example.com/console"),
            1,
        )
        .await
        .expect("published");
    // A topic that is not there: a delivery failure the drainer retries.
    let missing = Sender::new(Some(SnsTopic {
        client,
        topic_arn: format!("{topic_arn}-gone"),
    }))
    .unwrap();
    let err = missing.send(&sns_channel(), &n, None, 1).await.unwrap_err();
    assert!(err.to_string().starts_with("SNS refused"), "{err}");
    // No topic configured at all.
    let none = Sender::new(None).unwrap();
    assert_eq!(
        none.send(&sns_channel(), &n, None, 1).await.unwrap_err(),
        wxopen::notifications::channel::SendError::NoTopic
    );
}
