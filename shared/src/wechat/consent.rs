//! The links to WeChat's consent pages, built in one place.
//!
//! WeChat serves the consent pages from two hosts apart from the API: the PC page (the merchant
//! scans a QR code) on `mp.weixin.qq.com`, the mobile page (opened inside WeChat) on
//! `open.weixin.qq.com`. Both take the same parameters
//! (授权流程技术说明, `Third-party_Platforms/2.0/getting_started/how_to_be_auth.html`):
//! `component_appid`, a fresh single-use `pre_auth_code`, the `redirect_uri` WeChat sends the
//! merchant back to (with `auth_code` and `expires_in` added), `auth_type` (1 official accounts,
//! 2 mini programs, 3 both) and an optional `biz_appid` that limits the choice to one account.
//! The mobile link ends in `#wechat_redirect`. A base URL other than the production API host
//! (a simulator) serves all three, so one setting points everything at it.

use crate::domain::AppId;
use crate::wechat::client::DEFAULT_BASE_URL;

/// Production host of the PC consent page.
pub const PC_BASE_URL: &str = "https://mp.weixin.qq.com";
/// Production host of the mobile consent page.
pub const MOBILE_BASE_URL: &str = "https://open.weixin.qq.com";

/// What one authorization attempt asks WeChat for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRequest<'a> {
    pub component_appid: &'a AppId,
    pub pre_auth_code: &'a str,
    pub redirect_uri: &'a str,
    pub auth_type: u8,
    pub biz_appid: Option<&'a AppId>,
}

/// The two hosts of the consent pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentHosts {
    pc: String,
    mobile: String,
}

impl Default for ConsentHosts {
    fn default() -> Self {
        ConsentHosts {
            pc: PC_BASE_URL.to_owned(),
            mobile: MOBILE_BASE_URL.to_owned(),
        }
    }
}

impl ConsentHosts {
    /// The hosts that go with an API base URL: production's own, or the same base for a
    /// simulator.
    pub fn for_api_base_url(api_base_url: &str) -> Self {
        if api_base_url.trim_end_matches('/') == DEFAULT_BASE_URL {
            ConsentHosts::default()
        } else {
            let base = api_base_url.trim_end_matches('/').to_owned();
            ConsentHosts {
                pc: base.clone(),
                mobile: base,
            }
        }
    }

    /// The PC page: `/cgi-bin/componentloginpage?...` (QR code scanned with WeChat).
    pub fn pc_link(&self, r: &ConsentRequest<'_>) -> String {
        let mut url = format!("{}/cgi-bin/componentloginpage?", self.pc);
        url.push_str(&query(r, &[]));
        url
    }

    /// The mobile page, opened inside WeChat:
    /// `/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&...#wechat_redirect`.
    pub fn mobile_link(&self, r: &ConsentRequest<'_>) -> String {
        let mut url = format!("{}/wxaopen/safe/bindcomponent?", self.mobile);
        url.push_str(&query(r, &[("action", "bindcomponent"), ("no_scan", "1")]));
        url.push_str("#wechat_redirect");
        url
    }
}

fn query(r: &ConsentRequest<'_>, leading: &[(&str, &str)]) -> String {
    let auth_type = r.auth_type.to_string();
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.extend_pairs(leading.iter().copied());
    q.append_pair("component_appid", r.component_appid.as_str())
        .append_pair("pre_auth_code", r.pre_auth_code)
        .append_pair("redirect_uri", r.redirect_uri)
        .append_pair("auth_type", &auth_type);
    if let Some(b) = r.biz_appid {
        q.append_pair("biz_appid", b.as_str());
    }
    q.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(appid: &'a AppId, biz: Option<&'a AppId>) -> ConsentRequest<'a> {
        ConsentRequest {
            component_appid: appid,
            pre_auth_code: "preauthcode@@@abc",
            redirect_uri: "https://ops.example.com/auth/callback?state=s1",
            auth_type: 2,
            biz_appid: biz,
        }
    }

    #[test]
    fn production_links_use_wechats_own_hosts_and_encode_the_redirect() {
        let c = AppId::parse("wx1234567890abcdef").unwrap();
        let hosts = ConsentHosts::for_api_base_url("https://api.weixin.qq.com/");
        assert_eq!(
            hosts.pc_link(&request(&c, None)),
            "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=wx1234567890abcdef\
             &pre_auth_code=preauthcode%40%40%40abc\
             &redirect_uri=https%3A%2F%2Fops.example.com%2Fauth%2Fcallback%3Fstate%3Ds1&auth_type=2"
        );
        let biz = AppId::parse("wx00000000000000bb").unwrap();
        assert_eq!(
            hosts.mobile_link(&request(&c, Some(&biz))),
            "https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1\
             &component_appid=wx1234567890abcdef&pre_auth_code=preauthcode%40%40%40abc\
             &redirect_uri=https%3A%2F%2Fops.example.com%2Fauth%2Fcallback%3Fstate%3Ds1\
             &auth_type=2&biz_appid=wx00000000000000bb#wechat_redirect"
        );
    }

    #[test]
    fn a_simulator_base_url_serves_both_pages() {
        let c = AppId::parse("wx1234567890abcdef").unwrap();
        let hosts = ConsentHosts::for_api_base_url("http://127.0.0.1:4000/");
        assert!(hosts
            .pc_link(&request(&c, None))
            .starts_with("http://127.0.0.1:4000/cgi-bin/componentloginpage?"));
        assert!(hosts
            .mobile_link(&request(&c, None))
            .starts_with("http://127.0.0.1:4000/wxaopen/safe/bindcomponent?"));
    }
}
