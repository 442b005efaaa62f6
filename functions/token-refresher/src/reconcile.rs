//! The daily reconcile: what WeChat lists as authorizers versus what the store holds.
//!
//! Pushes get lost (an `authorized` push during an outage, a merchant whose browser never came
//! back). Once a day (claimed in the store, so once across all runs) the refresher pages through
//! `api_get_authorizer_list`:
//! - an authorizer WeChat lists that the store lacks is stored: its profile fetched, its refresh
//!   token taken from the list, its customer `unassigned` (an operator assigns it);
//! - one the store holds as authorized that WeChat no longer lists is revoked (as an
//!   `unauthorized` push would have done).

use crate::Deps;
use std::collections::HashMap;
use wxopen::domain::AppId;
use wxopen::store::{Authorizer, AuthorizerFilter, AuthorizerStatus, Revocation};
use wxopen::wechat::component::{AuthorizationInfo, AuthorizerListItem};
use wxopen::wechat::WechatResult;

pub use wxopen::store::UNASSIGNED_CUSTOMER;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub added: u64,
    pub removed: u64,
}

pub async fn reconcile(deps: &Deps) -> WechatResult<Reconciled> {
    let now = deps.clock.now();
    let listed: HashMap<AppId, AuthorizerListItem> = deps
        .mgr
        .all_listed_authorizers()
        .await?
        .into_iter()
        .filter_map(|item| Some((item.appid()?, item)))
        .collect();
    let mut out = Reconciled::default();
    for (appid, item) in &listed {
        if deps.store.get_authorizer(appid).await?.is_some() {
            continue;
        }
        let info = deps.mgr.component().get_authorizer_info(appid).await?;
        let authorizer = info.to_authorizer(
            Some(UNASSIGNED_CUSTOMER.to_owned()),
            item.auth_time.max(0),
            now,
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
            if listed.contains_key(&a.appid) {
                continue;
            }
            if deps.store.revoke_authorization(&a.appid, now).await? == Revocation::Revoked {
                tracing::warn!(authorizer = %a.appid, "reconcile: WeChat no longer lists this authorizer; marked unauthorized");
                out.removed += 1;
            }
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(out)
}
