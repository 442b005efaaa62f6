//! The merchant-facing pages: small, readable on a phone, Chinese with English beneath, no
//! script and no asset from elsewhere (the CSS is inline; the pages' Content-Security-Policy
//! forbids everything else). `maud` escapes every value.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use wxopen::failure::Failure;
use wxopen::store::Authorizer;
use wxopen::wechat::component::permission_set_name;

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:16px/1.6 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f5f6f7;color:#1f2329}
main{max-width:34rem;margin:0 auto;padding:1.5rem 1rem}
.card{background:#fff;border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 .25rem}
.en{color:#646a73;font-size:.9em;margin:0 0 .75rem}
h1+.en{margin-bottom:1.25rem}
.btn{display:block;text-align:center;text-decoration:none;padding:.85rem 1rem;border-radius:8px;margin:.75rem 0;font-weight:600}
.btn .en{display:block;font-weight:400;margin:0;color:inherit;opacity:.85}
.primary{background:#07c160;color:#fff}
.secondary{background:#fff;color:#07c160;border:1px solid #07c160}
.warn{background:#fff7e6;border:1px solid #ffd591;border-radius:8px;padding:.75rem 1rem;margin:1rem 0}
.err{color:#d4380d}
dl{margin:0}dt{color:#646a73;font-size:.9em;margin-top:.75rem}dd{margin:0;word-break:break-all}
ul{padding-left:1.2rem;margin:.25rem 0}
footer{color:#8f959e;font-size:.8em;text-align:center;margin-top:1.5rem}
"#;

/// Forbids scripts, frames and any resource from elsewhere; the inline style is the only one.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { main { div.card { (body) } footer { "wxopen" } } }
        }
    }
}

/// A page with its status and the headers every page carries (no caching: links are single use).
pub fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    let mut resp = (status, layout(title, body).into_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// What went wrong, in Chinese and in English: a failure page's heading.
pub struct Title {
    pub zh: String,
    pub en: String,
}

/// A failure's page: what went wrong (the title), what the merchant can do (the hint), Chinese
/// first with English beneath, and the code; `Retry-After` when waiting helps.
pub fn failure(f: &Failure, title: &Title) -> Response {
    let mut resp = page(
        f.status,
        "授权未完成 / Authorization not completed",
        html! {
            h1.err { (title.zh) }
            p.en { (title.en) }
            @if let Some(hint) = f.hint {
                p { (hint.zh) }
                p.en { (hint.en) }
            }
            p.en { "错误代码 / Error code: " code #error-code { (f.code) } }
        },
    );
    if let Some(secs) = f.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `/auth/start`: one button for a computer (scan a QR code), one link for a phone (inside
/// WeChat). WeChat refuses a direct redirect: the link must be clicked on our page.
pub fn start(pc_link: &str, mobile_link: &str, auth_type: u8) -> Response {
    let (what_zh, what_en) = match auth_type {
        1 => ("公众号", "official account"),
        3 => ("公众号或小程序", "official account or mini program"),
        _ => ("小程序", "mini program"),
    };
    page(
        StatusCode::OK,
        "授权给服务商 / Authorize your service provider",
        html! {
            h1 { "授权" (what_zh) "给服务商" }
            p.en { "Authorize your service provider to manage your " (what_en) }
            p { "授权后，服务商可以代您提交代码、提交审核和发布版本。您可以随时在微信公众平台取消授权。" }
            p.en { "Once authorized, the provider can upload code, submit audits and release versions for you. You can revoke it at any time on the WeChat Official Accounts Platform." }
            a.btn.primary #pc-link href=(pc_link) {
                "电脑上授权（微信扫码）"
                span.en { "On a computer: scan a QR code with WeChat" }
            }
            a.btn.secondary #mobile-link href=(mobile_link) {
                "在微信中授权（手机）"
                span.en { "On a phone: open inside WeChat" }
            }
            p.en { "本页链接仅可使用一次，约 30 分钟内有效。 / These links work once, for about 30 minutes." }
        },
    )
}

/// The result after the callback (and after any reload of it).
pub fn success(a: &Authorizer) -> Response {
    let name = if a.nick_name.is_empty() {
        a.appid.as_str()
    } else {
        a.nick_name.as_str()
    };
    let missing_dev = !a.func_info.contains(&18);
    page(
        StatusCode::OK,
        "授权成功 / Authorized",
        html! {
            h1 #result { "授权成功" }
            p.en { "Authorization complete" }
            dl {
                dt { "帐号 / Account" }
                dd #account-name { (name) }
                dt { "AppID" }
                dd #account-appid { (a.appid.as_str()) }
                @if !a.principal_name.is_empty() {
                    dt { "主体 / Owner" }
                    dd { (a.principal_name) }
                }
                dt { "已授权的权限集 / Permission sets granted" }
                dd {
                    ul #permission-sets {
                        @for id in &a.func_info {
                            li data-id=(id) {
                                (id) " " (permission_set_name(*id).map_or("权限集", |n| n.0))
                                @if let Some((_, en)) = permission_set_name(*id) { span.en { " / " (en) } }
                            }
                        }
                    }
                }
            }
            @if missing_dev {
                div.warn #missing-18 {
                    "未授权「开发管理与数据分析权限」（权限集 18）：服务商无法代您提交代码、审核和发布。请重新打开授权链接并勾选该权限。"
                    p.en { "Permission set 18 (development management: code, audits, releases) was not granted, so the provider cannot upload code, submit audits or release for you. Please open the link again and tick it." }
                }
            }
            p { "您可以关闭此页面。" }
            p.en { "You can close this page." }
        },
    )
}

/// The other path (WeChat's push) is storing this authorization right now; reloading is safe.
pub fn pending() -> Response {
    let mut resp = page(
        StatusCode::ACCEPTED,
        "正在处理 / Processing",
        html! {
            h1 #result { "授权已收到，正在处理" }
            p.en { "Authorization received and being processed" }
            p { "请稍候几秒后刷新本页面。" }
            p.en { "Please reload this page in a few seconds." }
        },
    );
    resp.headers_mut()
        .insert(header::REFRESH, HeaderValue::from_static("3"));
    resp
}
