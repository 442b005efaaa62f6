//! Encrypted pushes to our URLs, built like WeChat's documented examples and delivered with retries.

use crate::state::{random_alnum, HeldPush, PushRecord};
use crate::Inner;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::time::Duration;
use wxopen::domain::UnixTime;

/// Delivery attempts: the first one plus up to 3 retries, as WeChat does.
pub const MAX_ATTEMPTS: u32 = 4;

/// The plaintext of a component_verify_ticket push.
pub fn ticket_xml(component_appid: &str, now: UnixTime, ticket: &str) -> String {
    format!(
        "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>"
    )
}

/// The plaintext of an `authorized` / `updateauthorized` push.
pub fn authorized_xml(
    info_type: &str,
    component_appid: &str,
    now: UnixTime,
    authorizer_appid: &str,
    auth_code: &str,
    expires_at: UnixTime,
    pre_auth_code: &str,
) -> String {
    format!(
        "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[{info_type}]]></InfoType><AuthorizerAppid><![CDATA[{authorizer_appid}]]></AuthorizerAppid><AuthorizationCode><![CDATA[{auth_code}]]></AuthorizationCode><AuthorizationCodeExpiredTime>{expires_at}</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[{pre_auth_code}]]></PreAuthCode></xml>"
    )
}

/// The plaintext of an `unauthorized` push.
pub fn unauthorized_xml(component_appid: &str, now: UnixTime, authorizer_appid: &str) -> String {
    format!(
        "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{authorizer_appid}]]></AuthorizerAppid></xml>"
    )
}

/// The result of a 快速注册 (fastregisterweapp) task, as pushed to the authorization-event URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastRegisterResult {
    /// The new mini program (absent when the task failed).
    #[serde(default)]
    pub appid: Option<String>,
    /// 0 on success; WeChat's codes otherwise (e.g. -1 "open verity failed").
    #[serde(default)]
    pub status: i64,
    /// An authorization code for api_query_auth (absent when the task failed).
    #[serde(default)]
    pub auth_code: Option<String>,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub code_type: i64,
    #[serde(default)]
    pub legal_persona_wechat: String,
    #[serde(default)]
    pub legal_persona_name: String,
    #[serde(default)]
    pub component_phone: String,
}

/// The plaintext of a `notify_third_fasteregister` push (fast_registration.html's example and
/// developers' captures: lowercase children, the applicant's data in `<info>`).
pub fn fast_register_xml(component_appid: &str, now: UnixTime, r: &FastRegisterResult) -> String {
    let opt = |tag: &str, v: &Option<String>| {
        v.as_ref()
            .map(|v| format!("<{tag}><![CDATA[{v}]]></{tag}>"))
            .unwrap_or_default()
    };
    format!(
        "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[notify_third_fasteregister]]></InfoType>{}<status>{}</status>{}<msg><![CDATA[{}]]></msg><info><name><![CDATA[{}]]></name><code><![CDATA[{}]]></code><code_type>{}</code_type><legal_persona_wechat><![CDATA[{}]]></legal_persona_wechat><legal_persona_name><![CDATA[{}]]></legal_persona_name><component_phone><![CDATA[{}]]></component_phone></info></xml>",
        opt("appid", &r.appid),
        r.status,
        opt("auth_code", &r.auth_code),
        r.msg,
        r.name,
        r.code,
        r.code_type,
        r.legal_persona_wechat,
        r.legal_persona_name,
        r.component_phone,
    )
}

/// The system openid WeChat uses as FromUserName of audit events (from the documented example).
pub const SYSTEM_OPENID: &str = "od1P50M-fNQI5Gcq-trm4a7apsU8";

/// The plaintext of a `weapp_audit_*` push. `extra` holds the event-specific elements.
pub fn audit_xml(user_name: &str, now: UnixTime, event: &str, extra: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{user_name}]]></ToUserName><FromUserName><![CDATA[{SYSTEM_OPENID}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}</xml>"
    )
}

/// The 3-field URL `signature`: sha1 of sort(token, timestamp, nonce).
pub fn url_signature(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    let mut h = Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Where a push goes and what its outer envelope carries.
pub enum Target {
    /// 授权事件接收URL: `<AppId>` envelope.
    AuthEvent,
    /// 消息与事件接收URL for one account: `<ToUserName>` envelope, `$APPID$` replaced.
    Message { appid: String, user_name: String },
}

impl Inner {
    /// Encrypts, records and delivers one push. Returns the record id (None when no URL is set).
    pub(crate) async fn deliver(
        &self,
        target: Target,
        kind: &str,
        plaintext: String,
    ) -> Option<u64> {
        let (url, outer, appid) = match &target {
            Target::AuthEvent => (
                self.config.auth_event_url.clone()?,
                "AppId",
                self.config.component_appid.clone(),
            ),
            Target::Message { appid, user_name } => (
                self.config.message_url.clone()?.replace("$APPID$", appid),
                "ToUserName",
                user_name.clone(),
            ),
        };
        let now = self.now();
        let timestamp = now.to_string();
        let nonce = random_alnum(10);
        let sealed = self.crypt.seal(&plaintext, &timestamp, &nonce);
        let body = format!(
            "<xml><{outer}><![CDATA[{appid}]]></{outer}><Encrypt><![CDATA[{}]]></Encrypt></xml>",
            sealed.encrypt
        );
        let signature = url_signature(&self.config.token, &timestamp, &nonce);
        let mut query: Vec<(&str, String)> = vec![
            ("signature", signature),
            ("timestamp", timestamp),
            ("nonce", nonce),
        ];
        if let Target::Message { .. } = target {
            query.push(("openid", crate::push::SYSTEM_OPENID.to_owned()));
        }
        query.push(("encrypt_type", "aes".to_owned()));
        query.push(("msg_signature", sealed.msg_signature));

        let id = {
            let mut st = self.lock();
            st.next_push_id += 1;
            let id = st.next_push_id;
            st.pushes.push(PushRecord {
                id,
                kind: kind.to_owned(),
                appid: match &target {
                    Target::AuthEvent => None,
                    Target::Message { appid, .. } => Some(appid.clone()),
                },
                url: url.clone(),
                plaintext,
                attempts: 0,
                delivered: false,
                last_error: None,
                time: now,
            });
            id
        };
        let query: Vec<(String, String)> =
            query.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let push = HeldPush {
            id,
            kind: kind.to_owned(),
            url,
            query,
            body,
        };
        {
            let mut st = self.lock();
            if st.held_kinds.contains(kind) {
                // Held back (a push delayed or lost in transit): delivered by `release_held`.
                st.held_pushes.push(push);
                return Some(id);
            }
        }
        self.send_until_accepted(push).await;
        Some(id)
    }

    /// Delivers every held push, oldest first.
    pub(crate) async fn release_held(&self) -> usize {
        let held = std::mem::take(&mut self.lock().held_pushes);
        let n = held.len();
        for push in held {
            self.send_until_accepted(push).await;
        }
        n
    }

    async fn send_until_accepted(&self, push: HeldPush) {
        let HeldPush {
            id,
            kind,
            url,
            query,
            body,
        } = push;
        let kind = kind.as_str();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .http
                .post(&url)
                .query(&query)
                .header("content-type", "text/xml")
                .body(body.clone())
                .send()
                .await;
            let outcome: Result<(), String> = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() && (text.trim() == "success" || text.is_empty()) {
                        Ok(())
                    } else {
                        Err(format!("HTTP {status}: {}", truncate(&text, 200)))
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let done = {
                let mut st = self.lock();
                if let Some(rec) = st.pushes.iter_mut().find(|r| r.id == id) {
                    rec.attempts = attempt;
                    match &outcome {
                        Ok(()) => {
                            rec.delivered = true;
                            rec.last_error = None;
                        }
                        Err(e) => rec.last_error = Some(e.clone()),
                    }
                }
                outcome.is_ok() || attempt >= MAX_ATTEMPTS
            };
            if let Err(e) = &outcome {
                tracing::warn!(kind, url, attempt, error = %e, "push not accepted");
            }
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
