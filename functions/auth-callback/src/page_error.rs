//! The one table of the authorization pages' failures: each refusal of the start page and the
//! callback, and each failure of what they call, with its status, code, title (Chinese and
//! English) and what the merchant can do. [`PageError`] classifies into a [`Failure`] like every
//! function's failures do; [`pages::failure`] renders it.

use crate::pages::{self, Title};
use axum::response::{IntoResponse, Response};
use std::fmt;
use wxopen::failure::{Classify, Failure, Hint, StatusCode, OPEN_LINK_AGAIN, TRY_LATER};
use wxopen::onboarding::OnboardingError;
use wxopen::store::{InvitationRefusal, StoreError};
use wxopen::wechat::WechatError;

/// The merchant needs a new invitation: this one cannot be used (any more).
pub const ASK_FOR_NEW_LINK: Hint = Hint::new(
    "Please ask your service provider for a new authorization link.",
    "请联系服务商获取新的授权链接。",
);

/// Why an authorization page is not the one asked for.
#[derive(Debug)]
pub enum PageError {
    /// `/auth/start` without an invitation id (or an absurd one).
    MissingInvitation,
    /// The invitation does not admit a new authorization (`/auth/start`): unknown, expired or
    /// revoked.
    Invitation(InvitationRefusal),
    /// The invitation was used (`/auth/start`): its authorization is complete.
    InvitationUsed,
    /// The request names no host to build the `redirect_uri` from.
    NoHost,
    /// WeChat gave no `pre_auth_code`.
    PreAuthCode(WechatError),
    /// The invitation minted its new consent pages of this hour; the next hour starts in
    /// `retry_after` seconds.
    TooManyOpenings {
        retry_after: u64,
    },
    /// The callback's `state` is missing or malformed.
    BadState,
    /// The callback has no `auth_code`: the merchant cancelled, most likely.
    MissingAuthCode,
    /// The state was consumed with another code.
    StateUsed,
    /// The state was never issued, or expired.
    UnknownState,
    /// The code first came with another state.
    CodeUsed,
    /// The account is authorized but the invitation does not bind it to its customer.
    NotBound(InvitationRefusal),
    Onboarding(OnboardingError),
    Store(StoreError),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Store(e)
    }
}

impl From<OnboardingError> for PageError {
    fn from(e: OnboardingError) -> Self {
        PageError::Onboarding(e)
    }
}

/// Said after each refusal of the invitation at the callback: the account is authorized all the
/// same.
const NOT_BOUND_ZH: &str = "，本次授权未关联到服务商的客户";
const NOT_BOUND_EN: &str = "; this authorization was not linked to the provider's customer.";

fn t(zh: impl Into<String>, en: impl Into<String>) -> Title {
    Title {
        zh: zh.into(),
        en: en.into(),
    }
}

impl PageError {
    /// The title: what went wrong, for the merchant.
    pub fn title(&self) -> Title {
        match self {
            PageError::MissingInvitation => t(
                "链接不完整：缺少邀请码",
                "The link is incomplete: the invitation is missing.",
            ),
            PageError::Invitation(why) => {
                let (zh, en) = refusal_text(why);
                t(zh, format!("{en}."))
            }
            PageError::InvitationUsed => t(
                "邀请链接已被使用：授权已完成",
                "This invitation link was already used: the authorization is complete.",
            ),
            PageError::NoHost => t("无法确定本站地址", "The request names no host."),
            PageError::PreAuthCode(_) => t("暂时无法连接微信", "WeChat could not be reached."),
            PageError::TooManyOpenings { .. } => t(
                "此邀请链接打开次数过多",
                "This invitation link was opened too many times.",
            ),
            PageError::BadState => t(
                "链接无效：缺少或无法识别的 state",
                "The link is not valid: its state is missing or malformed.",
            ),
            PageError::MissingAuthCode => t(
                "微信未返回授权码：授权可能已取消",
                "WeChat returned no authorization code: the authorization may have been cancelled.",
            ),
            PageError::StateUsed => t(
                "此授权链接已被使用",
                "This authorization link was already used.",
            ),
            PageError::UnknownState => {
                t("链接无效或已过期", "The link is not valid or has expired.")
            }
            PageError::CodeUsed => t(
                "此授权码已被使用",
                "This authorization code was already used.",
            ),
            PageError::NotBound(why) => {
                let (zh, en) = refusal_text(why);
                t(zh + NOT_BOUND_ZH, en + NOT_BOUND_EN)
            }
            PageError::Onboarding(OnboardingError::Unfinished) => {
                t("授权未能完成", "The authorization could not be completed.")
            }
            PageError::Onboarding(OnboardingError::InProgress) => t(
                "授权已收到，正在处理",
                "Authorization received and being processed.",
            ),
            PageError::Onboarding(OnboardingError::Wechat(WechatError::Store(_))) => unavailable(),
            PageError::Onboarding(OnboardingError::Wechat(_)) => t(
                "微信未能完成授权",
                "WeChat could not complete the authorization.",
            ),
            PageError::Onboarding(OnboardingError::Store(_)) | PageError::Store(_) => unavailable(),
        }
    }
}

fn unavailable() -> Title {
    t("服务暂时不可用", "The service is temporarily unavailable.")
}

/// Why the invitation does not admit this authorization, without a final stop (the start page
/// ends it, the callback adds that the account is not linked).
fn refusal_text(why: &InvitationRefusal) -> (String, String) {
    match why {
        InvitationRefusal::UsedByAnother(_) => (
            "此邀请链接已被另一个帐号使用".to_owned(),
            "This invitation link was already used by another account".to_owned(),
        ),
        InvitationRefusal::ForAnotherApp(only) => (
            format!("此邀请链接仅用于帐号 {only}"),
            format!("This invitation link is for account {only} only"),
        ),
        InvitationRefusal::WrongKind { auth_type } => {
            let (zh, en) = if *auth_type == 1 {
                ("公众号", "official accounts")
            } else {
                ("小程序", "mini programs")
            };
            (
                format!("此邀请链接仅用于{zh}"),
                format!("This invitation link is for {en} only"),
            )
        }
        InvitationRefusal::Revoked => (
            "邀请链接已被服务商撤销".to_owned(),
            "This invitation link was revoked by the service provider".to_owned(),
        ),
        InvitationRefusal::Expired => (
            "邀请链接已过期".to_owned(),
            "This invitation link has expired".to_owned(),
        ),
        InvitationRefusal::Unknown => (
            "邀请链接无效".to_owned(),
            "This invitation link is not valid".to_owned(),
        ),
    }
}

/// The status and code of the invitation's refusal, at the start page and at the callback alike.
fn invitation_failure(why: &InvitationRefusal) -> Failure {
    let (status, code) = match why {
        InvitationRefusal::UsedByAnother(_) => (StatusCode::CONFLICT, "invitation_used"),
        InvitationRefusal::ForAnotherApp(_) => (StatusCode::CONFLICT, "invitation_for_another_app"),
        InvitationRefusal::WrongKind { .. } => (StatusCode::CONFLICT, "invitation_wrong_kind"),
        InvitationRefusal::Revoked => (StatusCode::GONE, "invitation_revoked"),
        InvitationRefusal::Expired => (StatusCode::GONE, "invitation_expired"),
        InvitationRefusal::Unknown => (StatusCode::NOT_FOUND, "unknown_invitation"),
    };
    Failure::new(status, code).hint(Some(ASK_FOR_NEW_LINK))
}

impl fmt::Display for PageError {
    /// The English title (for logs; the page shows both languages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title().en)
    }
}

impl Classify for PageError {
    fn classify(&self) -> Failure {
        use StatusCode as S;
        let f = |status, code, hint| Failure::new(status, code).hint(Some(hint));
        match self {
            PageError::MissingInvitation => {
                f(S::BAD_REQUEST, "missing_invitation", OPEN_LINK_AGAIN)
            }
            PageError::Invitation(why) | PageError::NotBound(why) => invitation_failure(why),
            PageError::InvitationUsed => f(S::CONFLICT, "invitation_used", ASK_FOR_NEW_LINK),
            PageError::NoHost => f(S::BAD_REQUEST, "no_host", TRY_LATER),
            PageError::PreAuthCode(e) => {
                tracing::error!(error = %e, "api_create_preauthcode failed");
                f(S::BAD_GATEWAY, "wechat_unavailable", TRY_LATER)
            }
            PageError::TooManyOpenings { retry_after } => {
                f(S::TOO_MANY_REQUESTS, "too_many_openings", TRY_LATER).retry_after(*retry_after)
            }
            PageError::BadState => f(S::BAD_REQUEST, "bad_state", OPEN_LINK_AGAIN),
            PageError::MissingAuthCode => f(S::BAD_REQUEST, "missing_auth_code", OPEN_LINK_AGAIN),
            PageError::StateUsed => f(S::CONFLICT, "state_used", OPEN_LINK_AGAIN),
            PageError::UnknownState => f(S::BAD_REQUEST, "unknown_state", OPEN_LINK_AGAIN),
            PageError::CodeUsed => f(S::CONFLICT, "code_used", OPEN_LINK_AGAIN),
            PageError::Onboarding(e) => e.classify(),
            PageError::Store(e) => e.classify().hint(Some(TRY_LATER)),
        }
    }
}

impl IntoResponse for PageError {
    /// The failure's page; an authorization the other path is completing is the pending page
    /// (it reloads itself), not a failure for the merchant.
    fn into_response(self) -> Response {
        match self {
            PageError::Onboarding(OnboardingError::InProgress) => pages::pending(),
            e => pages::failure(&e.classify(), &e.title()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;
    use wxopen::domain::AppId;

    fn every_page_error() -> Vec<(PageError, u16, &'static str)> {
        let app = || AppId::parse("wxf8b4f85f3a794e77").unwrap();
        let refusals = || {
            [
                (
                    InvitationRefusal::UsedByAnother(app()),
                    409,
                    "invitation_used",
                ),
                (
                    InvitationRefusal::ForAnotherApp(app()),
                    409,
                    "invitation_for_another_app",
                ),
                (
                    InvitationRefusal::WrongKind { auth_type: 1 },
                    409,
                    "invitation_wrong_kind",
                ),
                (
                    InvitationRefusal::WrongKind { auth_type: 2 },
                    409,
                    "invitation_wrong_kind",
                ),
                (InvitationRefusal::Revoked, 410, "invitation_revoked"),
                (InvitationRefusal::Expired, 410, "invitation_expired"),
                (InvitationRefusal::Unknown, 404, "unknown_invitation"),
            ]
        };
        let wechat = || WechatError::Http {
            endpoint: "/cgi-bin/component/api_create_preauthcode",
            status: 404,
        };
        let mut all = vec![
            (PageError::MissingInvitation, 400, "missing_invitation"),
            (PageError::InvitationUsed, 409, "invitation_used"),
            (PageError::NoHost, 400, "no_host"),
            (PageError::PreAuthCode(wechat()), 502, "wechat_unavailable"),
            (
                PageError::TooManyOpenings { retry_after: 7 },
                429,
                "too_many_openings",
            ),
            (PageError::BadState, 400, "bad_state"),
            (PageError::MissingAuthCode, 400, "missing_auth_code"),
            (PageError::StateUsed, 409, "state_used"),
            (PageError::UnknownState, 400, "unknown_state"),
            (PageError::CodeUsed, 409, "code_used"),
            (
                OnboardingError::Unfinished.into(),
                409,
                "authorization_unfinished",
            ),
            (
                OnboardingError::Wechat(wechat()).into(),
                502,
                "wechat_failed",
            ),
            (
                OnboardingError::Store(StoreError::Conflict).into(),
                503,
                "store_unavailable",
            ),
            (StoreError::NotFound.into(), 503, "store_unavailable"),
        ];
        for (why, status, code) in refusals() {
            if !matches!(
                why,
                InvitationRefusal::UsedByAnother(_)
                    | InvitationRefusal::ForAnotherApp(_)
                    | InvitationRefusal::WrongKind { .. }
            ) {
                all.push((PageError::Invitation(why.clone()), status, code));
            }
            all.push((PageError::NotBound(why), status, code));
        }
        all
    }

    fn has_chinese(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn each_page_error_has_its_status_code_and_both_languages() {
        for (e, status, code) in every_page_error() {
            let f = e.classify();
            assert_eq!((f.status.as_u16(), f.code), (status, code), "{e}");
            let title = e.title();
            assert!(has_chinese(&title.zh), "{}", title.zh);
            assert!(
                !has_chinese(&title.en) && title.en.ends_with('.'),
                "{}",
                title.en
            );
            let hint = f.hint.unwrap_or_else(|| panic!("no hint for {e}"));
            assert!(has_chinese(hint.zh) && !has_chinese(hint.en), "{hint:?}");
        }
    }

    #[test]
    fn a_refusal_at_the_callback_says_the_account_was_not_linked() {
        for (e, ..) in every_page_error() {
            let title = e.title();
            let not_bound = matches!(e, PageError::NotBound(_));
            assert_eq!(title.zh.ends_with(NOT_BOUND_ZH), not_bound, "{}", title.zh);
            assert_eq!(title.en.ends_with(NOT_BOUND_EN), not_bound, "{}", title.en);
        }
        let e = PageError::NotBound(InvitationRefusal::ForAnotherApp(
            AppId::parse("wxf8b4f85f3a794e77").unwrap(),
        ));
        assert!(e.title().zh.contains("wxf8b4f85f3a794e77"));
    }

    async fn body(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_page_shows_the_title_and_hint_chinese_first_and_the_code() {
        let resp = PageError::TooManyOpenings { retry_after: 7 }.into_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        let page = body(resp).await;
        let at = |s: &str| {
            page.find(s)
                .unwrap_or_else(|| panic!("{s} missing: {page}"))
        };
        assert!(
            at("此邀请链接打开次数过多") < at("This invitation link was opened too many times.")
        );
        assert!(at(TRY_LATER.zh) < at(TRY_LATER.en));
        assert!(
            page.contains(r#"id="error-code">too_many_openings<"#),
            "{page}"
        );
        // A store failure asks to come back (after the store's Retry-After).
        let resp = PageError::Store(StoreError::Conflict).into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
        // The other path is completing the authorization: the pending page, not a failure.
        let resp = PageError::Onboarding(OnboardingError::InProgress).into_response();
        assert_eq!(resp.status(), 202);
        assert!(resp.headers().get(header::RETRY_AFTER).is_none());
    }
}
