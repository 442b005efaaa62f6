//! `wxopen`: the shared core of a WeChat third-party platform (第三方平台) backend.
//!
//! One concept per module:
//! - [`crypto`]: WXBizMsgCrypt (msg_signature, AES-256-CBC, PKCS#7 with block 32, envelope XML).
//! - [`events`]: typed pushes (component events on the authorization-event URL, authorizer events
//!   on the message URL), parsed with quick-xml.
//! - [`domain`]: `AppId`, `AuditId`, `AuditStatus`, clocks.
//! - [`store`]: state traits with a DynamoDB and an embedded (redb) implementation.
//! - [`secrets`]: platform secrets from Secrets Manager (cached) or local configuration.
//! - [`wechat`]: the WeChat API client and the token manager.
//! - [`http`]: JSON responses shared by the `lambda_http` functions.
//! - [`https`]: the HTTPS clients (rustls on *ring*) for WeChat and AWS.
//! - [`onboarding`]: completing an authorization (callback or push, whichever comes first).
//! - [`push_apply`]: what a verified push changes in the store, applied once.
//! - [`runtime`]: what every Lambda builds from its environment at start.
//! - [`notifications`]: events operators are told about: the outbox, its drainer, the channels.
//! - [`operator_auth`]: the `/ops/*` bearer-key check against SHA-256 digests in the platform secret.

pub mod crypto;
pub mod domain;
pub mod events;
pub mod failure;
pub mod filing;
pub mod http;
pub mod https;
pub mod lifecycle;
pub mod notifications;
pub mod onboarding;
pub mod operator_auth;
pub mod push_apply;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod wechat;
