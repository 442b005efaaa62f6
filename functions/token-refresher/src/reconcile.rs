//! The daily reconcile: what WeChat lists as authorizers versus what the store holds.
//!
//! Pushes get lost (an `authorized` push during an outage, a merchant whose browser never came
//! back, an `unauthorized` push). Once a day (claimed in the store, so once across all runs) the
//! refresher walks `api_get_authorizer_list` (again when it changed during the walk, see
//! [`wxopen::wechat::TokenManager::all_listed_authorizers`]):
//! - an authorizer WeChat lists that the store lacks is stored: its profile fetched, its refresh
//!   token taken from the list, its customer `unassigned` (an operator assigns it);
//! - one WeChat lists that the store holds as `unauthorized` or `needs_reauthorization`, or whose
//!   token has no live refresh token (a lost re-authorization push, a refusal marked too
//!   eagerly), is restored from what `api_get_authorizer_info` reports now, each write
//!   conditioned on what was read before asking: never over a newer grant or revocation;
//! - one the store holds as authorized that the walk did not see is asked about with
//!   `api_get_authorizer_info`: a paged list shifts while it is read, so absence from it is no
//!   proof. Only WeChat's answer that the account no longer authorizes the platform (61003)
//!   revokes it (as an `unauthorized` push would have done).
//!
//! A WeChat read that fails leaves its authorizer as it is (counted as unconfirmed); the next
//! reconcile asks again.

use crate::Deps;
use std::collections::HashMap;
use wxopen::domain::AppId;
use wxopen::store::{
    Authorizer, AuthorizerFilter, AuthorizerStatus, Revocation, StoreError, TokenKey, TokenState,
};
use wxopen::wechat::component::{AuthorizationInfo, AuthorizerListItem};
use wxopen::wechat::WechatResult;

pub use wxopen::store::UNASSIGNED_CUSTOMER;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub added: u64,
    pub removed: u64,
    /// Held as not authorized (or without a live refresh token), authorized at WeChat: restored.
    pub restored: u64,
    /// Would have been added, restored or revoked, but WeChat's read failed: left as they are.
    pub unconfirmed: u64,
}

pub async fn reconcile(deps: &Deps) -> WechatResult<Reconciled> {
    let listed: HashMap<AppId, AuthorizerListItem> = deps
        .mgr
        .all_listed_authorizers()
        .await?
        .into_iter()
        .filter_map(|item| Some((item.appid()?, item)))
        .collect();
    let mut out = Reconciled::default();
    for (appid, item) in &listed {
        match deps.store.get_authorizer(appid).await? {
            None => add(deps, appid, item, &mut out).await?,
            Some(profile) => restore(deps, appid, item, profile, &mut out).await?,
        }
    }
    let mut cursor: Option<String> = None;
    let filter = AuthorizerFilter {
        status: Some(AuthorizerStatus::Authorized),
        customer_id: None,
    };
    loop {
        let page = deps
            .store
            .list_authorizers(&filter, cursor.as_deref(), 500)
            .await?;
        for a in page.items {
            if !listed.contains_key(&a.appid) {
                confirm_absent(deps, &a.appid, &mut out).await?;
            }
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(out)
}

/// Listed, and the store has no profile: stored as unassigned.
async fn add(
    deps: &Deps,
    appid: &AppId,
    item: &AuthorizerListItem,
    out: &mut Reconciled,
) -> WechatResult<()> {
    let info = match deps
        .mgr
        .component()
        .call(&wxopen::wechat::component::ApiGetAuthorizerInfo {
            component_appid: deps.mgr.component_appid(),
            authorizer_appid: appid,
        })
        .await
    {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(authorizer = %appid, error = %e, "reconcile: a listed authorizer the store lacks could not be read; left for the next reconcile");
            out.unconfirmed += 1;
            return Ok(());
        }
    };
    let authorizer = info.to_authorizer(
        Some(UNASSIGNED_CUSTOMER.to_owned()),
        item.auth_time.max(0),
        deps.clock.now(),
    );
    // Merged, not replaced: a callback binding a customer meanwhile keeps its customer.
    deps.store
        .update_authorizer(appid, &|cur| {
            Some(Authorizer::merge_authorization(
                cur,
                authorizer.clone(),
                None,
            ))
        })
        .await?;
    let auth = AuthorizationInfo {
        authorizer_refresh_token: item
            .refresh_token
            .clone()
            .or(info.authorization_info.authorizer_refresh_token.clone()),
        ..info.authorization_info.clone()
    };
    deps.mgr
        .save_authorization_at(&auth, item.auth_time)
        .await?;
    tracing::warn!(authorizer = %appid, "reconcile: WeChat lists an authorizer the store lacked; stored as unassigned");
    out.added += 1;
    Ok(())
}

/// Listed, and the store holds a profile: restored from what WeChat reports now when the store
/// holds it as not authorized or its token has no live refresh token.
async fn restore(
    deps: &Deps,
    appid: &AppId,
    item: &AuthorizerListItem,
    profile: Authorizer,
    out: &mut Reconciled,
) -> WechatResult<()> {
    let key = TokenKey::Authorizer(appid.clone());
    let token = deps.store.get_token(&key).await?;
    let token_live = token.as_ref().is_some_and(|t| t.state.refreshable());
    if profile.status == AuthorizerStatus::Authorized && token_live {
        return Ok(());
    }
    // The list was read a while ago: ask what WeChat holds now.
    let asked_at = deps.clock.now();
    let info = match deps.mgr.authorization_status(appid).await {
        Ok(Some(info)) => info,
        // Revoked since the list was read: the store already says so, or the `unauthorized`
        // push will.
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::warn!(authorizer = %appid, error = %e, "reconcile: a listed authorizer held as not authorized could not be read; left for the next reconcile");
            out.unconfirmed += 1;
            return Ok(());
        }
    };
    let Some(refresh) = info.authorization_info.authorizer_refresh_token.clone() else {
        // Authorized without API permissions: nothing to refresh, nothing to restore.
        return Ok(());
    };
    if !token_live {
        // WeChat's refresh token as of `asked_at`, written only over the item read before asking:
        // a grant or revocation stored since then is newer and wins.
        let state = TokenState {
            refresh_token: Some(refresh),
            auth_changed_at: token
                .as_ref()
                .map_or(asked_at, |t| t.state.auth_changed_at.max(asked_at)),
            ..TokenState::default()
        };
        match deps
            .store
            .put_token(&key, &state, token.as_ref().map(|t| t.version))
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict) => {
                tracing::info!(authorizer = %appid, "reconcile: the token changed while WeChat was asked; left to what changed it");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut fresh = info.to_authorizer(
        profile.customer_id.clone(),
        profile.authorized_at.max(item.auth_time),
        asked_at.max(profile.updated_at),
    );
    fresh.customer_moves = profile.customer_moves.clone();
    // Only over the profile as it was read: a change since (a revocation, a new grant) wins.
    let stored = deps
        .store
        .update_authorizer(appid, &|cur| (cur == Some(&profile)).then(|| fresh.clone()))
        .await?;
    if stored.as_ref() == Some(&fresh) {
        tracing::warn!(authorizer = %appid, was = profile.status.as_str(), "reconcile: WeChat has this authorizer authorized; restored");
        out.restored += 1;
    }
    Ok(())
}

/// Held as authorized, not seen in the walk: revoked only on WeChat's word.
async fn confirm_absent(deps: &Deps, appid: &AppId, out: &mut Reconciled) -> WechatResult<()> {
    let asked_at = deps.clock.now();
    match deps.mgr.authorization_status(appid).await {
        Ok(Some(_)) => {
            tracing::info!(authorizer = %appid, "reconcile: not seen in the list, but WeChat has it authorized; kept");
        }
        Ok(None) => {
            // Dated before the question: a grant stored after WeChat's answer is newer and wins.
            if deps.store.revoke_authorization(appid, asked_at).await? == Revocation::Revoked {
                tracing::warn!(authorizer = %appid, "reconcile: WeChat says this authorizer no longer authorizes the platform; marked unauthorized");
                out.removed += 1;
            }
        }
        Err(e) => {
            tracing::warn!(authorizer = %appid, error = %e, "reconcile: not seen in the list and WeChat could not be asked; kept until the next reconcile");
            out.unconfirmed += 1;
        }
    }
    Ok(())
}
