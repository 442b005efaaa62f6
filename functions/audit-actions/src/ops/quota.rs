//! WeChat's daily API quota (45009) as operators handle it: resetting an app's or the
//! platform's counts, reading one API's count, and reading what WeChat kept of a failed call
//! (its `rid`).
//!
//! A reset is scarce: 10 a month per account, both forms counting against the same 10, then
//! 48006 (clear_quota.html). So wxopen counts them ([`QuotaResetStore`]): a use is reserved
//! before WeChat is asked (none left: 409 with the count, and WeChat is not asked), and settled
//! by WeChat's answer. An error answer spends nothing; 48006 marks the month spent whatever was
//! counted. A lost answer is never repeated (a repeat may spend a second use): the use stays
//! counted as spent, because WeChat reports no count of resets that could prove it was not. When
//! the operator names the API that ran out (`cgi_path`), its count is read before and after:
//! lower after, the reset is known to have happened; otherwise it stays unknown, said so.

use super::OpsError;
use crate::Deps;
use serde::Serialize;
use serde_json::Value;
use wxopen::domain::{beijing_month_start, AppId, UnixTime};
use wxopen::store::{
    QuotaAccount, QuotaReservation, QuotaResetLedger, QuotaResetOutcome, QuotaResetUse,
    QUOTA_RESETS_PER_MONTH,
};
use wxopen::wechat::component::{GetComponentApiQuota, GetComponentRidInfo};
use wxopen::wechat::quota::{ClearQuota, ComponentClearQuota};
use wxopen::wechat::wxa::{GetApiQuota, GetRidInfo, QuotaInfo, RidRequest};
use wxopen::wechat::WechatError;

/// What a reset did, and the month's count after it.
#[derive(Debug, Clone, Serialize)]
pub struct Reset {
    /// `platform` or the appid.
    pub account: String,
    pub outcome: QuotaResetOutcome,
    /// Uses counted this month (Beijing time), this one included.
    pub spent: u32,
    pub limit: u32,
    pub month_start: UnixTime,
    /// After a lost answer: what the API's count read before and after says (`None`: not
    /// read, or it could not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_by_count: Option<CountCheck>,
}

/// The named API's count before and after a reset whose answer was lost.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CountCheck {
    pub cgi_path_used_before: u64,
    pub cgi_path_used_after: u64,
    /// The count went down: the reset happened.
    pub cleared: bool,
}

/// A `cgi_path` as quota/get takes it (`/wxa/get_category`): a path, no host or query.
pub fn parse_cgi_path(raw: &str) -> Result<String, OpsError> {
    let ok = raw.starts_with('/')
        && raw.len() <= 200
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b));
    if !ok {
        return Err(OpsError::invalid(
            "invalid_cgi_path",
            "cgi_path is an API's path without host or query, e.g. /wxa/get_category",
        ));
    }
    Ok(raw.to_owned())
}

/// A rid as WeChat prints it after `rid:` (`64dc7e85-258c9211-2604fd01`).
pub fn parse_rid(raw: &str) -> Result<String, OpsError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ok {
        return Err(OpsError::invalid(
            "invalid_rid",
            "rid is what WeChat's errmsg prints after \"rid:\", e.g. 64dc7e85-258c9211-2604fd01",
        ));
    }
    Ok(raw.to_owned())
}

/// The month's uses of `account`'s resets.
pub async fn ledger(deps: &Deps, account: &QuotaAccount) -> Result<QuotaResetLedger, OpsError> {
    let month = beijing_month_start(deps.clock.now());
    Ok(deps.store.quota_resets(account, month).await?)
}

/// One API's count today, with `account`'s token (the app's, or the platform's).
pub async fn count(
    deps: &Deps,
    account: &QuotaAccount,
    cgi_path: &str,
) -> Result<QuotaInfo, OpsError> {
    let cgi_path = cgi_path.to_owned();
    Ok(match account {
        QuotaAccount::App(appid) => {
            deps.mgr
                .wxa(appid)
                .call(&GetApiQuota { cgi_path })
                .await?
                .quota
        }
        QuotaAccount::Platform => {
            deps.mgr
                .component()
                .call(&GetComponentApiQuota { cgi_path })
                .await?
                .quota
        }
    })
}

/// Resets `account`'s daily counts, once, if a use is left this month ([`self`]).
pub async fn clear(
    deps: &Deps,
    operator: &str,
    account: &QuotaAccount,
    cgi_path: Option<&str>,
) -> Result<Reset, OpsError> {
    let now = deps.clock.now();
    let month_start = beijing_month_start(now);
    let limit = QUOTA_RESETS_PER_MONTH;
    let u = QuotaResetUse {
        id: hex::encode(rand::random::<[u8; 8]>()),
        at: now,
        operator: operator.to_owned(),
        outcome: QuotaResetOutcome::Pending,
        errcode: None,
    };
    let spent = match deps
        .store
        .reserve_quota_reset(account, month_start, limit, &u)
        .await?
    {
        QuotaReservation::Reserved { spent } => spent,
        QuotaReservation::LimitReached { spent } => {
            return Err(OpsError::QuotaResetLimit {
                spent,
                limit,
                at_wechat: false,
            })
        }
    };
    // The named API's count before: what a lost answer is settled against.
    let before = match cgi_path {
        Some(p) => count(deps, account, p).await.ok().map(|q| q.used),
        None => None,
    };
    let sent = send_reset(deps, account).await;
    let settle = |outcome, errcode| async move {
        deps.store
            .settle_quota_reset(account, month_start, &u.id, outcome, errcode)
            .await
    };
    let reset = |outcome, settled_by_count| Reset {
        account: account.key(),
        outcome,
        spent,
        limit,
        month_start,
        settled_by_count,
    };
    match sent {
        Ok(()) => {
            settle(QuotaResetOutcome::Cleared, None).await?;
            tracing::info!(account = %account.key(), spent, "daily API quota cleared");
            Ok(reset(QuotaResetOutcome::Cleared, None))
        }
        Err(e) if e.outcome_unknown() => {
            // Not repeated: a repeat may spend a second use. Counted as spent either way.
            let check = match (cgi_path, before) {
                (Some(p), Some(before)) => count(deps, account, p).await.ok().map(|q| CountCheck {
                    cgi_path_used_before: before,
                    cgi_path_used_after: q.used,
                    cleared: q.used < before,
                }),
                _ => None,
            };
            let outcome = if check.is_some_and(|c| c.cleared) {
                QuotaResetOutcome::Cleared
            } else {
                QuotaResetOutcome::Unknown
            };
            settle(outcome, None).await?;
            tracing::warn!(account = %account.key(), spent, outcome = outcome.as_str(), error = %e, "a quota reset's answer was lost; counted as spent");
            match outcome {
                QuotaResetOutcome::Cleared => Ok(reset(outcome, check)),
                _ => Err(OpsError::QuotaResetUnknown {
                    spent,
                    limit,
                    check,
                }),
            }
        }
        Err(e) => {
            let errcode = e.errcode();
            settle(QuotaResetOutcome::NotSpent, errcode).await?;
            if errcode == Some(wxopen::store::quota_reset::LIMIT_REACHED_ERRCODE) {
                return Err(OpsError::QuotaResetLimit {
                    spent: limit,
                    limit,
                    at_wechat: true,
                });
            }
            Err(e.into())
        }
    }
}

/// The one request a reset is.
async fn send_reset(deps: &Deps, account: &QuotaAccount) -> Result<(), WechatError> {
    match account {
        QuotaAccount::App(appid) => {
            deps.mgr.wxa(appid).call(&ClearQuota { appid }).await?;
        }
        QuotaAccount::Platform => {
            let secrets = deps
                .secrets
                .load()
                .await
                .map_err(|e| WechatError::InvalidRequest {
                    endpoint: "/cgi-bin/component/clear_quota/v2",
                    detail: format!("the platform's secrets could not be read: {e}"),
                })?;
            deps.mgr
                .client()
                .call(
                    None,
                    &ComponentClearQuota {
                        component_appid: deps.mgr.component_appid(),
                        appsecret: &secrets.component_appsecret,
                        appid: None,
                    },
                )
                .await?;
        }
    }
    Ok(())
}

/// What WeChat kept of a failed call, by its rid: with an app's token for the app's calls,
/// with the platform's for the platform's (76003 for another account's rid). The request's URL
/// (it carries the token) is left out, and secrets in its body are hidden.
pub async fn rid(deps: &Deps, rid: &str, appid: Option<&AppId>) -> Result<Value, OpsError> {
    let rid = rid.to_owned();
    let r = match appid {
        Some(a) => deps.mgr.wxa(a).call(&GetRidInfo { rid }).await?.request,
        None => {
            deps.mgr
                .component()
                .call(&GetComponentRidInfo { rid })
                .await?
                .request
        }
    };
    Ok(shown_rid(&r))
}

/// The rid's request as operators see it: no URL (its query holds the token), no secret of
/// the body.
fn shown_rid(r: &RidRequest) -> Value {
    serde_json::json!({
        "invoke_time": r.invoke_time,
        "cost_in_ms": r.cost_in_ms,
        "request_body": hide_secrets(&r.request_body),
        "response_body": r.response_body,
        "client_ip": r.client_ip,
    })
}

/// A request body with the values of secret-looking keys replaced (`appsecret`, tokens, codes).
fn hide_secrets(body: &str) -> String {
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(body) else {
        return if body.is_empty() {
            String::new()
        } else {
            "<not JSON: hidden>".to_owned()
        };
    };
    for (k, v) in m.iter_mut() {
        let k = k.to_ascii_lowercase();
        if ["secret", "token", "code", "ticket", "key"]
            .iter()
            .any(|w| k.contains(w))
        {
            *v = Value::String("<hidden>".to_owned());
        }
    }
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rid_body_shows_no_secret() {
        let shown = hide_secrets(r#"{"component_appid":"wx1","appsecret":"s3cr3t","js_code":"c"}"#);
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("\"c\""),
            "{shown}"
        );
        assert!(shown.contains("wx1"));
        assert_eq!(hide_secrets("appsecret=s3cr3t"), "<not JSON: hidden>");
    }

    #[test]
    fn cgi_paths_and_rids_are_checked() {
        assert!(parse_cgi_path("/wxa/get_category").is_ok());
        for bad in [
            "wxa/x",
            "/wxa/x?access_token=1",
            "https://api.weixin.qq.com/wxa/x",
            "",
        ] {
            assert!(parse_cgi_path(bad).is_err(), "{bad}");
        }
        assert!(parse_rid("64dc7e85-258c9211-2604fd01").is_ok());
        assert!(parse_rid("a b").is_err() && parse_rid("").is_err());
    }
}
