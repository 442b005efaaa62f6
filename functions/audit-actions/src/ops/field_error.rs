//! A field of a request body that breaks a rule.

use serde::Serialize;

/// One field of a request that breaks a rule, said in English and Chinese (filing, profile and
/// registration bodies list every such field at once, before WeChat is asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's path in the body, e.g. `icp_subject.principal_info.mobile`.
    pub field: String,
    pub en: String,
    pub zh: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, en: impl Into<String>, zh: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            en: en.into(),
            zh: zh.into(),
        }
    }
}
