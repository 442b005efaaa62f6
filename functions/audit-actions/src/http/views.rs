//! What operators see of stored records: JSON views that never carry a token value.

use serde_json::{json, Value};
use wxopen::domain::{AppId, UnixTime};
use wxopen::store::{
    AuditRecord, Authorizer, Invitation, StoreResult, TokenKey, TokenState, TokenStore,
};

pub fn invitation(i: &Invitation, base_url: &str, now: UnixTime) -> Value {
    let url = format!("{base_url}/auth/start?invite={}", i.id);
    json!({
        "invitation_id": i.id,
        "url": url,
        "customer_id": i.customer_id,
        "auth_type": i.auth_type,
        "biz_appid": i.biz_appid,
        "state": i.state(now).as_str(),
        "created_at": i.created_at,
        "expires_at": i.expires_at,
        "revoked_at": i.revoked_at,
        "used_at": i.used_at,
        "used_by": i.used_by,
    })
}

/// Token health without any token value.
#[derive(Debug, Clone, Default)]
pub struct TokenHealth {
    pub access_expires_at: Option<UnixTime>,
    pub refreshed_at: Option<UnixTime>,
    pub has_refresh_token: bool,
    pub needs_reauthorization: bool,
}

impl From<&TokenState> for TokenHealth {
    fn from(s: &TokenState) -> Self {
        TokenHealth {
            access_expires_at: s.access_token.as_ref().map(|_| s.expires_at),
            refreshed_at: (s.refreshed_at != 0).then_some(s.refreshed_at),
            has_refresh_token: s.refresh_token.is_some(),
            needs_reauthorization: s.needs_reauthorization,
        }
    }
}

pub async fn token_health(store: &dyn TokenStore, appid: &AppId) -> StoreResult<TokenHealth> {
    Ok(store
        .get_token(&TokenKey::Authorizer(appid.clone()))
        .await?
        .map(|t| TokenHealth::from(&t.state))
        .unwrap_or_default())
}

/// `detail`: the whole WeChat profile and the customer moves too.
pub fn authorizer(a: &Authorizer, t: TokenHealth, detail: bool) -> Value {
    let mut v = json!({
        "appid": a.appid,
        "status": a.status.as_str(),
        "customer_id": a.customer_id,
        "func_info": a.func_info,
        "development_permission": a.func_info.contains(&18),
        "nick_name": a.nick_name,
        "user_name": a.user_name,
        "principal_name": a.principal_name,
        "is_mini_program": a.is_mini_program,
        "authorized_at": a.authorized_at,
        "updated_at": a.updated_at,
        "token": {
            "access_expires_at": t.access_expires_at,
            "refreshed_at": t.refreshed_at,
            "has_refresh_token": t.has_refresh_token,
            "needs_reauthorization": t.needs_reauthorization,
        },
        "access_expires_at": t.access_expires_at,
        "refreshed_at": t.refreshed_at,
    });
    if detail {
        v["profile"] = a.profile.clone();
        v["customer_moves"] = json!(a.customer_moves);
    }
    v
}

/// An audit as operators see it: its status word, the rejection reason and screenshots.
pub fn audit(r: &AuditRecord) -> Value {
    json!({
        "auditid": r.auditid,
        "status": r.status.as_str(),
        "reason": r.reason,
        "screenshots": r.screenshots,
        "template_id": r.template_id,
        "user_version": r.user_version,
        "user_desc": r.user_desc,
        "submitted_at": r.submitted_at,
        "updated_at": r.updated_at,
        "released_at": r.released_at,
    })
}
