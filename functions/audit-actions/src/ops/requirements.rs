//! What a template needs of the apps it is released to, and the check before a release.
//!
//! A version whose code calls `https://api.shop.example` fails in every user's hands if that
//! domain is not on the app's server domain list, and WeChat does not check this at audit or
//! at release. So operators name each template's domains once (`PUT
//! /ops/templates/{template_id}/requirements`), and a release (single or batch) of a version
//! built from that template first reads the app's server and web-view domains and refuses
//! with the missing ones named (409 `domains_missing`) before WeChat is asked to release.

use super::OpsError;
use crate::Deps;
use serde::Deserialize;
use std::collections::BTreeMap;
use wxopen::domain::AppId;
use wxopen::store::TemplateRequirements;
use wxopen::wechat::wxa::{
    DomainAction, ModifyDomain, ServerDomains, SetWebviewDomain, WebviewDomains,
};

/// At most this many domains per list (WeChat's own lists are far shorter).
const MAX_PER_LIST: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementsBody {
    #[serde(default)]
    requestdomain: Vec<String>,
    #[serde(default)]
    wsrequestdomain: Vec<String>,
    #[serde(default)]
    uploaddomain: Vec<String>,
    #[serde(default)]
    downloaddomain: Vec<String>,
    #[serde(default)]
    webviewdomain: Vec<String>,
}

/// A domain as WeChat lists it: scheme and host, no path, no trailing slash.
fn normalized(list: &str, d: &str) -> Result<String, OpsError> {
    let d = d.trim().trim_end_matches('/').to_ascii_lowercase();
    let scheme_ok = match list {
        "wsrequestdomain" => d.starts_with("wss://"),
        _ => d.starts_with("https://"),
    };
    let host = d.split_once("://").map_or("", |(_, h)| h);
    if !scheme_ok || host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        let scheme = if list == "wsrequestdomain" {
            "wss"
        } else {
            "https"
        };
        return Err(OpsError::invalid(
            "invalid_domain",
            format!("{list}: {d:?} is not a domain as WeChat lists it ({scheme}://host, no path)"),
        ));
    }
    Ok(d)
}

impl RequirementsBody {
    /// The requirements as stored: every domain normalized, each list sorted, no repeats.
    pub fn into_requirements(
        self,
        template_id: u64,
        operator: &str,
        at: i64,
    ) -> Result<TemplateRequirements, OpsError> {
        let check = |name: &str, v: Vec<String>| -> Result<Vec<String>, OpsError> {
            if v.len() > MAX_PER_LIST {
                return Err(OpsError::invalid(
                    "invalid_domain",
                    format!("{name}: at most {MAX_PER_LIST} domains"),
                ));
            }
            let mut out = v
                .iter()
                .map(|d| normalized(name, d))
                .collect::<Result<Vec<_>, _>>()?;
            out.sort();
            out.dedup();
            Ok(out)
        };
        Ok(TemplateRequirements {
            template_id,
            requestdomain: check("requestdomain", self.requestdomain)?,
            wsrequestdomain: check("wsrequestdomain", self.wsrequestdomain)?,
            uploaddomain: check("uploaddomain", self.uploaddomain)?,
            downloaddomain: check("downloaddomain", self.downloaddomain)?,
            webviewdomain: check("webviewdomain", self.webviewdomain)?,
            operator: operator.to_owned(),
            updated_at: at,
        })
    }
}

/// A template id from a path, or 400 `invalid_template_id`.
pub fn template_id(raw: &str) -> Result<u64, OpsError> {
    raw.parse()
        .map_err(|_| OpsError::invalid("invalid_template_id", "template_id is a number"))
}

/// What the app lacks of the template's requirements, per list; empty when nothing.
fn missing(
    req: &TemplateRequirements,
    server: &ServerDomains,
    webview: &WebviewDomains,
) -> BTreeMap<&'static str, Vec<String>> {
    let has = |list: &[String], d: &str| {
        list.iter()
            .any(|x| x.trim().trim_end_matches('/').eq_ignore_ascii_case(d))
    };
    let mut out = BTreeMap::new();
    for (name, needed, present) in [
        (
            "requestdomain",
            &req.requestdomain,
            server.requestdomain.as_slice(),
        ),
        (
            "wsrequestdomain",
            &req.wsrequestdomain,
            &server.wsrequestdomain,
        ),
        ("uploaddomain", &req.uploaddomain, &server.uploaddomain),
        (
            "downloaddomain",
            &req.downloaddomain,
            &server.downloaddomain,
        ),
        ("webviewdomain", &req.webviewdomain, &webview.webviewdomain),
    ] {
        let lacking: Vec<String> = needed
            .iter()
            .filter(|d| !has(present, d))
            .cloned()
            .collect();
        if !lacking.is_empty() {
            out.insert(name, lacking);
        }
    }
    out
}

/// Before releasing a version of `template_id` to `appid`: the app holds every domain the
/// template needs, or [`OpsError::DomainsMissing`] naming them. No requirements set: nothing
/// is asked.
pub async fn check_before_release(
    deps: &Deps,
    appid: &AppId,
    template_id: Option<u64>,
) -> Result<(), OpsError> {
    let Some(template_id) = template_id else {
        return Ok(());
    };
    let Some(req) = deps.store.get_template_requirements(template_id).await? else {
        return Ok(());
    };
    let needs_server = !(req.requestdomain.is_empty()
        && req.wsrequestdomain.is_empty()
        && req.uploaddomain.is_empty()
        && req.downloaddomain.is_empty());
    let wxa = deps.mgr.wxa(appid);
    let server = if needs_server {
        let read = ModifyDomain {
            action: DomainAction::Get,
            domains: None,
        };
        wxa.call(&read).await?.domains
    } else {
        ServerDomains::default()
    };
    let webview = if req.webviewdomain.is_empty() {
        WebviewDomains::default()
    } else {
        let read = SetWebviewDomain {
            action: DomainAction::Get,
            webviewdomain: None,
        };
        wxa.call(&read).await?
    };
    let missing = missing(&req, &server, &webview);
    if missing.is_empty() {
        return Ok(());
    }
    Err(OpsError::DomainsMissing {
        template_id,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn body(v: Value) -> RequirementsBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn domains_are_normalized_and_bad_ones_refused() {
        let r = body(json!({
            "requestdomain": ["https://API.shop.example/", "https://api.shop.example"],
            "wsrequestdomain": ["wss://ws.shop.example"],
        }))
        .into_requirements(7, "ops", 1)
        .unwrap();
        assert_eq!(r.requestdomain, vec!["https://api.shop.example"]);
        for bad in [
            json!({ "requestdomain": ["http://api.shop.example"] }),
            json!({ "requestdomain": ["https://api.shop.example/v1"] }),
            json!({ "wsrequestdomain": ["https://ws.shop.example"] }),
            json!({ "webviewdomain": ["https://"] }),
        ] {
            let e = body(bad.clone()).into_requirements(7, "ops", 1);
            assert!(e.is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_names_only_what_the_app_lacks() {
        let req = body(json!({
            "requestdomain": ["https://api.shop.example", "https://pay.shop.example"],
            "webviewdomain": ["https://h5.shop.example"],
        }))
        .into_requirements(7, "ops", 1)
        .unwrap();
        let server = ServerDomains {
            requestdomain: vec!["https://API.shop.example".into()],
            ..Default::default()
        };
        let m = missing(&req, &server, &WebviewDomains::default());
        assert_eq!(
            json!(m),
            json!({
                "requestdomain": ["https://pay.shop.example"],
                "webviewdomain": ["https://h5.shop.example"],
            })
        );
        let server = ServerDomains {
            requestdomain: vec![
                "https://api.shop.example".into(),
                "https://pay.shop.example".into(),
            ],
            ..Default::default()
        };
        let webview = WebviewDomains {
            webviewdomain: vec!["https://h5.shop.example".into()],
        };
        assert!(missing(&req, &server, &webview).is_empty());
    }
}
