//! The operations layer: what audit-actions does and refuses, with no HTTP in it. One module
//! per concern; each takes the store traits it needs (or [`crate::Deps`] where WeChat's
//! reconciliation needs the whole store) and returns a typed outcome or an [`OpsError`].
//!
//! The layers import one way: `http` calls `ops`; `ops` never calls `http`. Within `ops`:
//! `batches` and `stale_audits` call `code`, `audits` and `app`; `code` calls `audits`, `app`,
//! `requirements`, `filing` and `ext_json`.

pub mod app;
pub mod audits;
pub mod batches;
pub mod code;
pub mod error;
pub mod ext_json;
pub mod field_error;
pub mod filing;
pub mod filing_application;
pub mod notifications;
pub mod profile;
pub mod quota;
pub mod registration;
pub mod requirements;
pub mod services;
pub mod stale_audits;
pub mod violations;

pub use error::OpsError;
