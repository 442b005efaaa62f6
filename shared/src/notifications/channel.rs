//! Sending one notification to one channel: a WeCom group robot (markdown), a signed webhook
//! (JSON), the stack's SNS topic. A channel's URL is never logged nor put in an error: a
//! transport failure is reported by its kind only.

use super::event::Event;
use super::rules::{Channel, ChannelKind};
use crate::store::Notification;
use hmac::{KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The webhook's signature header: `sha256=` and the lowercase hex HMAC-SHA256, keyed with the
/// channel's signing secret, over `{timestamp}.{body}`.
pub const SIGNATURE_HEADER: &str = "X-Wxopen-Signature";
/// The Unix time the signature was made at (receivers refuse old ones: replay).
pub const TIMESTAMP_HEADER: &str = "X-Wxopen-Timestamp";
/// The same for every attempt of one notification to one channel: receivers de-duplicate on it.
pub const DELIVERY_HEADER: &str = "X-Wxopen-Delivery";

/// How long one send may take: the drainer's run and WeCom's answer are both short.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a send failed. Its text is kept on the notification and shown to operators, so it holds
/// no URL and no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    /// WeCom answers HTTP 200 with its own code (45009: over 20 messages a minute; 93000: the
    /// robot's URL is invalid).
    #[error("WeCom answered errcode {errcode}: {errmsg}")]
    Wecom { errcode: i64, errmsg: String },
    #[error("the receiver could not be reached ({0})")]
    Transport(&'static str),
    #[error("the channel has no url")]
    NoUrl,
    #[error("no SNS topic is configured (WXOPEN_NOTIFY_TOPIC_ARN)")]
    NoTopic,
    #[error("SNS refused the message: {0}")]
    Sns(String),
    #[error("channel {0:?} is no longer defined")]
    UnknownChannel(String),
}

/// The HMAC-SHA256 signature of a webhook body, as the [`SIGNATURE_HEADER`] carries it.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The delivery id of `notification_id` to `channel`: stable across attempts.
pub fn delivery_id(notification_id: &str, channel: &str) -> String {
    hex::encode(&Sha256::digest(format!("{notification_id}|{channel}").as_bytes())[..16])
}

/// The stack's SNS topic and a client for it.
#[derive(Clone)]
pub struct SnsTopic {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

/// Sends to channels: one HTTP client for the webhooks, the SNS topic when configured.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    sns: Option<SnsTopic>,
}

impl Sender {
    pub fn new(sns: Option<SnsTopic>) -> anyhow::Result<Sender> {
        let http = crate::https::reqwest_builder()
            .timeout(SEND_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Sender { http, sns })
    }

    /// Sends `n` to `channel` at `now`; `console_url` links the app.
    pub async fn send(
        &self,
        channel: &Channel,
        n: &Notification,
        console_url: Option<&str>,
        now: i64,
    ) -> Result<(), SendError> {
        match channel.kind {
            ChannelKind::Wecom => {
                let url = channel.url.as_ref().ok_or(SendError::NoUrl)?;
                let body = serde_json::json!({
                    "msgtype": "markdown",
                    "markdown": { "content": n.event.wecom_markdown(console_url) },
                });
                let resp = self
                    .http
                    .post(url.expose_secret())
                    .json(&body)
                    .send()
                    .await
                    .map_err(transport)?;
                let status = resp.status();
                if !status.is_success() {
                    return Err(SendError::Status(status.as_u16()));
                }
                let answer: serde_json::Value = resp.json().await.map_err(transport)?;
                match answer["errcode"].as_i64() {
                    Some(0) => Ok(()),
                    code => Err(SendError::Wecom {
                        errcode: code.unwrap_or(-1),
                        errmsg: answer["errmsg"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(200)
                            .collect(),
                    }),
                }
            }
            ChannelKind::Webhook => {
                let url = channel.url.as_ref().ok_or(SendError::NoUrl)?;
                let body = serde_json::to_vec(&n.event.json(&n.id, n.created_at, console_url))
                    .unwrap_or_default();
                let secret = channel
                    .signing_secret
                    .as_ref()
                    .map(|s| s.expose_secret().as_bytes().to_vec())
                    .unwrap_or_default();
                let resp = self
                    .http
                    .post(url.expose_secret())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(SIGNATURE_HEADER, sign(&secret, now, &body))
                    .header(TIMESTAMP_HEADER, now.to_string())
                    .header(DELIVERY_HEADER, delivery_id(&n.id, &channel.name))
                    .body(body)
                    .send()
                    .await
                    .map_err(transport)?;
                match resp.status() {
                    s if s.is_success() => Ok(()),
                    s => Err(SendError::Status(s.as_u16())),
                }
            }
            ChannelKind::Sns => {
                let topic = self.sns.as_ref().ok_or(SendError::NoTopic)?;
                let (subject, body) = n.event.plain_text(console_url);
                topic
                    .client
                    .publish()
                    .topic_arn(&topic.topic_arn)
                    .subject(sns_subject(&subject))
                    .message(body)
                    .message_attributes(
                        "event",
                        aws_sdk_sns::types::MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(n.event.kind().as_str())
                            .build()
                            .map_err(|e| SendError::Sns(e.to_string()))?,
                    )
                    .send()
                    .await
                    .map_err(|e| {
                        SendError::Sns(
                            aws_sdk_sns::error::DisplayErrorContext(&e)
                                .to_string()
                                .chars()
                                .take(200)
                                .collect(),
                        )
                    })?;
                Ok(())
            }
        }
    }
}

/// SNS takes a subject under 100 characters, on one line.
fn sns_subject(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(99).collect()
}

/// A transport failure by its kind: reqwest's own text names the URL, which holds the key.
fn transport(e: reqwest::Error) -> SendError {
    SendError::Transport(if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else if e.is_decode() {
        "unreadable answer"
    } else {
        "request failed"
    })
}

/// An event the test send renders, for `POST /ops/notifications/test`.
pub fn test_event(operator: &str) -> Event {
    Event::Test {
        operator: operator.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231-style check through an independent construction: HMAC(k, m) with the
        // message built by hand.
        let sig = sign(b"key", 1_700_000_000, b"{\"a\":1}");
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert_ne!(sig, sign(b"key", 1_700_000_001, b"{\"a\":1}"));
        assert_ne!(sig, sign(b"other", 1_700_000_000, b"{\"a\":1}"));
    }

    #[test]
    fn a_delivery_id_is_stable_per_notification_and_channel() {
        assert_eq!(delivery_id("a", "x"), delivery_id("a", "x"));
        assert_ne!(delivery_id("a", "x"), delivery_id("a", "y"));
        assert_eq!(delivery_id("a", "x").len(), 32);
    }

    #[test]
    fn a_long_subject_is_cut_for_sns() {
        assert_eq!(sns_subject(&"审".repeat(300)).chars().count(), 99);
        assert_eq!(sns_subject("a\nb"), "ab");
    }
}
