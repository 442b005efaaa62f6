//! The WeChat API client and the race-free token manager.
//!
//! - [`client`]: [`WechatClient`], the low-level HTTP client (base URL, timeouts, `errcode`
//!   parsing, bounded retries with jitter, URL-free errors).
//! - [`component`]: component endpoints (`api_component_token`, `api_query_auth`, ...) and the
//!   template library, called with the component token.
//! - [`wxa`]: mini-program code management (`/wxa/*`), called with the authorizer token.
//! - [`services`]: calls for the provider's own backends (user login, phone numbers, the
//!   subscribe-message template library and sends), with the component or authorizer token.
//! - [`token`]: [`TokenManager`], which hands out cached tokens, refreshes them under a lease held
//!   in the store (one WeChat call per token lifetime however many callers ask), and wraps the
//!   endpoints so a rejected token is refreshed once and the call retried once.
//! - [`consent`]: the links to WeChat's consent pages (PC and mobile), hosts apart from the API.
//! - [`endpoint`]: the [`endpoint::Endpoint`] declaration every call is (method, path, token,
//!   repeat-safety, request and response types), sent by one generic `call`.
//! - [`account`]: registering mini programs for merchants (快速注册) and their profile (name,
//!   avatar, signature, search status, categories).
//! - [`icp`]: ICP filing (小程序备案) and the combined verification + filing flow.
//! - [`quota`]: resetting an account's daily API quota (`clear_quota`, `clear_quota/v2`).
//! - [`violations`]: a mini program's violation and appeal records (`getillegalrecords`,
//!   `getappealrecords`).
//! - [`error`]: [`WechatError`] and its [`ErrorKind`] classification.
//!
//! Tokens are [`secrecy::SecretString`]s, exposed only while the request URL is built; no error
//! or log line carries a URL's query string.

pub mod account;
pub mod client;
pub mod component;
pub mod consent;
pub mod endpoint;
pub mod error;
pub mod icp;
pub mod quota;
pub mod reconcile;
pub mod services;
pub mod token;
pub mod violations;
pub mod wxa;

pub use client::{Auth, Binary, ClientConfig, WechatClient, DEFAULT_BASE_URL};
pub use error::{classify_errcode, ErrorKind, WechatError, WechatResult};
pub use token::{
    ComponentApi, TokenBackend, TokenManager, TokenPolicy, WxaApi, TICKET_VALIDITY_SECS,
};
