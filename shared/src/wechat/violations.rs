//! A mini program's violation records (违规处罚记录) and its appeals (申诉记录), read with the
//! authorizer's token (permission sets 18 and 76). The pushes of the same facts
//! (`wxa_punish_event`, `wxa_appeal_record`) are [`crate::events`]'; what wxopen stores of them,
//! [`crate::store::violation`].
//!
//! Sources: Third-party_Platforms/2.0/api/records/getillegalrecords.html and
//! getappealrecords.html (also openApi/miniprogram-management/record-management/).

use crate::domain::UnixTime;
use serde::{Deserialize, Serialize};

/// `wxa/getillegalrecords`: the penalties between `start_time` and `end_time`. Either may be
/// left out: 90 days before `end_time` / after `start_time`; both: the last 90 days.
#[derive(Debug, Default, Serialize)]
pub struct GetIllegalRecords {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<UnixTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IllegalRecords {
    #[serde(default)]
    pub records: Vec<IllegalRecord>,
}

/// One penalty record. Developers' captures show `illegal_content` left out at times: every
/// field but the id defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IllegalRecord {
    pub illegal_record_id: String,
    #[serde(default)]
    pub create_time: UnixTime,
    #[serde(default)]
    pub illegal_reason: String,
    #[serde(default)]
    pub illegal_content: String,
    #[serde(default)]
    pub rule_url: String,
    #[serde(default)]
    pub rule_name: String,
}

/// `wxa/getappealrecords`: the appeals of one penalty record.
#[derive(Debug, Serialize)]
pub struct GetAppealRecords {
    pub illegal_record_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AppealRecords {
    #[serde(default)]
    pub records: Vec<AppealRecordInfo>,
}

/// One appeal (getappealrecords.html): `appeal_status` 1 正在处理, 2 申诉通过, 3 申诉不通过,
/// 4 申诉已撤销; `appeal_from` 0 the merchant, 1 the platform.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AppealRecordInfo {
    pub appeal_record_id: u64,
    #[serde(default)]
    pub appeal_time: UnixTime,
    #[serde(default)]
    pub appeal_count: i64,
    #[serde(default)]
    pub appeal_from: i64,
    #[serde(default)]
    pub appeal_status: i64,
    #[serde(default)]
    pub audit_time: Option<UnixTime>,
    #[serde(default)]
    pub audit_reason: String,
    #[serde(default)]
    pub punish_description: String,
    #[serde(default)]
    pub materials: Vec<AppealMaterials>,
}

/// The penalised material and what the appeal brought against it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct AppealMaterials {
    #[serde(default)]
    pub illegal_material: Option<IllegalMaterial>,
    #[serde(default)]
    pub appeal_material: Option<AppealMaterial>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct IllegalMaterial {
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub content_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct AppealMaterial {
    #[serde(default)]
    pub reason: String,
    /// Temporary media ids (获取临时素材).
    #[serde(default)]
    pub proof_material_ids: Vec<String>,
}
