//! What a commit's `ext_json` may hold, checked before WeChat sees it. Each rule is one WeChat
//! refuses only later (at commit with a vague 85048 "ext_json 不符合规范", or at submit with
//! 61040 after the privacy detection), when a batch of 500 has already spent its calls:
//!
//! - location APIs are declared in `requiredPrivateInfos`, by their exact (case-sensitive)
//!   names, and never the fuzzy one beside a precise one (apply_privacy_api.html; the 2022-07-14
//!   notice 《地理位置接口新增与相关流程调整》: "模糊位置信息和精确位置信息是互斥的");
//! - an ext_json that asks for the location permission (`permission.scope.userLocation` or
//!   `scope.userFuzzyLocation`) declares the APIs it will call, or the code's calls fail at run
//!   time and the audit answers 61040;
//! - a template of the standard library takes only `extAppid`, `ext` and `window`
//!   (Third-party_Platforms/2.0/operation/thirdparty/template.html: "如果是标准模板库，则 ext.json
//!   文件仅支持的参数 extAppid / ext / window").

use super::OpsError;
use serde_json::{Map, Value};

/// The location APIs `requiredPrivateInfos` declares (table 1 of the notice): the fuzzy one,
/// the four precise ones, and the three choosers.
pub const LOCATION_APIS: [&str; 8] = [
    "getFuzzyLocation",
    "getLocation",
    "onLocationChange",
    "startLocationUpdate",
    "startLocationUpdateBackground",
    "chooseLocation",
    "choosePoi",
    "chooseAddress",
];

/// Declaring the fuzzy location excludes these.
const PRECISE_LOCATION_APIS: [&str; 4] = [
    "getLocation",
    "onLocationChange",
    "startLocationUpdate",
    "startLocationUpdateBackground",
];

/// The keys a standard template's ext_json may hold.
pub const STANDARD_TEMPLATE_KEYS: [&str; 3] = ["extAppid", "ext", "window"];

/// Checks `ext_json` for any template: the location declarations.
pub fn check(ext: &Map<String, Value>) -> Result<(), OpsError> {
    let declared = match ext.get("requiredPrivateInfos") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                match item.as_str() {
                    Some(name) if LOCATION_APIS.contains(&name) => names.push(name),
                    Some(name) => {
                        let hint = LOCATION_APIS
                            .iter()
                            .find(|api| api.eq_ignore_ascii_case(name))
                            .map(|api| format!(" (names are case-sensitive: {api})"))
                            .unwrap_or_default();
                        return Err(OpsError::InvalidExtJson {
                            message: format!(
                                "ext_json.requiredPrivateInfos: {name:?} is not a location API{hint}; it takes {}",
                                LOCATION_APIS.join(", ")
                            ),
                        });
                    }
                    None => {
                        return Err(OpsError::InvalidExtJson {
                            message: "ext_json.requiredPrivateInfos holds API names (strings)"
                                .to_owned(),
                        })
                    }
                }
            }
            names
        }
        Some(_) => {
            return Err(OpsError::InvalidExtJson {
                message:
                    "ext_json.requiredPrivateInfos is a list of API names, e.g. [\"getLocation\"]"
                        .to_owned(),
            })
        }
    };
    if declared.contains(&"getFuzzyLocation") {
        let precise: Vec<&str> = declared
            .iter()
            .copied()
            .filter(|d| PRECISE_LOCATION_APIS.contains(d))
            .collect();
        if !precise.is_empty() {
            return Err(OpsError::InvalidExtJson {
                message: format!(
                    "ext_json.requiredPrivateInfos declares getFuzzyLocation beside the precise {}: WeChat takes one or the other",
                    precise.join(", ")
                ),
            });
        }
    }
    let scope = ext
        .get("permission")
        .and_then(Value::as_object)
        .and_then(|p| {
            ["scope.userLocation", "scope.userFuzzyLocation"]
                .into_iter()
                .find(|s| p.contains_key(*s))
        });
    if let Some(scope) = scope.filter(|_| declared.is_empty()) {
        return Err(OpsError::LocationApisUndeclared { scope });
    }
    Ok(())
}

/// Checks `ext_json` for a template of the standard library: only its three keys.
pub fn check_standard(ext: &Map<String, Value>) -> Result<(), OpsError> {
    let extra: Vec<String> = ext
        .keys()
        .filter(|k| !STANDARD_TEMPLATE_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    Err(OpsError::StandardTemplateExtJson { extra })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn code(r: Result<(), OpsError>) -> String {
        wxopen::failure::Classify::classify(&r.unwrap_err())
            .code
            .to_owned()
    }

    #[test]
    fn declared_location_apis_pass() {
        check(&obj(json!({
            "extAppid": "wx1234567890abcdef",
            "requiredPrivateInfos": ["getLocation", "chooseAddress"],
            "permission": { "scope.userLocation": { "desc": "找附近门店" } },
        })))
        .unwrap();
        check(&obj(
            json!({ "requiredPrivateInfos": ["getFuzzyLocation", "chooseLocation"] }),
        ))
        .unwrap();
        check(&obj(json!({}))).unwrap();
    }

    #[test]
    fn a_location_permission_without_declared_apis_is_refused() {
        for scope in ["scope.userLocation", "scope.userFuzzyLocation"] {
            let e = check(&obj(json!({ "permission": { scope: { "desc": "x" } } })));
            assert_eq!(code(e), "location_apis_undeclared", "{scope}");
        }
        let e = check(&obj(json!({
            "permission": { "scope.userLocation": { "desc": "x" } },
            "requiredPrivateInfos": [],
        })));
        assert_eq!(code(e), "location_apis_undeclared");
    }

    #[test]
    fn misspelt_unknown_and_mistyped_declarations_are_refused_by_name() {
        let e = check(&obj(json!({ "requiredPrivateInfos": ["getlocation"] }))).unwrap_err();
        assert!(e.to_string().contains("case-sensitive: getLocation"), "{e}");
        let e = check(&obj(json!({ "requiredPrivateInfos": ["getUserProfile"] })));
        assert_eq!(code(e), "invalid_ext_json");
        let e = check(&obj(json!({ "requiredPrivateInfos": "getLocation" })));
        assert_eq!(code(e), "invalid_ext_json");
        let e = check(&obj(json!({ "requiredPrivateInfos": [1] })));
        assert_eq!(code(e), "invalid_ext_json");
    }

    #[test]
    fn fuzzy_beside_precise_location_is_refused() {
        let e = check(&obj(json!({
            "requiredPrivateInfos": ["getFuzzyLocation", "onLocationChange"]
        })))
        .unwrap_err();
        assert!(e.to_string().contains("onLocationChange"), "{e}");
    }

    #[test]
    fn a_standard_template_takes_only_its_three_keys() {
        check_standard(&obj(json!({ "extAppid": "wx1", "ext": {}, "window": {} }))).unwrap();
        let e = check_standard(&obj(
            json!({ "extAppid": "wx1", "extEnable": true, "tabBar": {} }),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("extEnable, tabBar"), "{e}");
    }
}
